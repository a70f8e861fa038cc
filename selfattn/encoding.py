"""Turning tokens into vectors."""

import numpy as np


def one_hot(tokens, vocab=None):
    """One-hot encode a sequence of tokens.

    Parameters
    ----------
    tokens : sequence of hashable, length n
        The tokens, e.g. ``"Self Attention is good".split()``.
    vocab : sequence of hashable, length V, optional
        The vocabulary; token ``vocab[j]`` becomes the unit vector ``e_j``.
        Defaults to the distinct tokens in order of first appearance.

    Returns
    -------
    ndarray of float64, shape (n, V)
        Row ``i`` is 1.0 in the column of ``tokens[i]`` and 0.0 elsewhere.

    Raises
    ------
    TypeError
        If ``tokens`` or ``vocab`` is a single string rather than a sequence.
    ValueError
        If ``tokens`` is empty, ``vocab`` repeats a token, or a token is missing from ``vocab``.

    Examples
    --------
    >>> from selfattn import one_hot
    >>> print(one_hot(["to", "be", "or", "not", "to", "be"]))
    [[1. 0. 0. 0.]
     [0. 1. 0. 0.]
     [0. 0. 1. 0.]
     [0. 0. 0. 1.]
     [1. 0. 0. 0.]
     [0. 1. 0. 0.]]
    """
    for name, seq in (("tokens", tokens), ("vocab", vocab)):
        if isinstance(seq, (str, bytes)):
            raise TypeError(
                f"{name} must be a sequence of tokens such as a list of words; "
                f"got the string {seq!r} (split it first)"
            )
    tokens = list(tokens)
    if not tokens:
        raise ValueError("tokens must hold at least one token; got an empty sequence")
    if vocab is None:
        vocab = list(dict.fromkeys(tokens))
    index = {token: j for j, token in enumerate(vocab)}
    if len(index) != len(vocab):
        repeated = next(t for t in vocab if list(vocab).count(t) > 1)
        raise ValueError(f"vocab must list each token once; got {repeated!r} more than once")
    missing = [t for t in tokens if t not in index]
    if missing:
        raise ValueError(f"tokens must all be in vocab; {missing[0]!r} is not in vocab {list(vocab)!r}")
    encoded = np.zeros((len(tokens), len(index)))
    encoded[np.arange(len(tokens)), [index[t] for t in tokens]] = 1.0
    return encoded
