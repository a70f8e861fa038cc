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
        If ``tokens`` or ``vocab`` is not a sequence (a single string counts as one
        token too many: split it first), or holds a token that cannot be hashed.
    ValueError
        If ``tokens`` is empty or an array of more than one dimension, ``vocab`` repeats
        a token, or a token is missing from ``vocab``.

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
    tokens = _token_list(tokens, "tokens")
    index = _vocab_index(tokens, vocab)
    encoded = np.zeros((len(tokens), len(index)))
    encoded[np.arange(len(tokens)), [index[t] for t in tokens]] = 1.0
    return encoded


def _vocab_index(tokens, vocab):
    """``{token: column}`` for ``vocab`` (by default the distinct ``tokens``), checked against ``tokens``."""
    if not tokens:
        raise ValueError("tokens must hold at least one token; got an empty sequence")
    vocab = list(dict.fromkeys(tokens)) if vocab is None else _token_list(vocab, "vocab")
    index = {token: j for j, token in enumerate(vocab)}
    if len(index) != len(vocab):
        repeated = next(t for t in vocab if vocab.count(t) > 1)
        raise ValueError(f"vocab must list each token once; got {repeated!r} more than once")
    missing = [t for t in tokens if t not in index]
    if missing:
        raise ValueError(f"tokens must all be in vocab; {missing[0]!r} is not in vocab {vocab!r}")
    return index


def _token_list(seq, name):
    """``seq`` as a list of hashable tokens, or an error that says why it is not one."""
    expected = f"{name} must be a sequence of tokens such as a list of words"
    if isinstance(seq, (str, bytes)):
        raise TypeError(f"{expected}; got the string {seq!r} (split it first)")
    if isinstance(seq, np.ndarray):
        if seq.ndim == 0:
            raise TypeError(f"{expected}; got a 0-d array {seq!r}")
        if seq.ndim > 1:
            raise ValueError(
                f"{name} must be one-dimensional, one token per position; got an array of shape {seq.shape}"
            )
        seq = seq.tolist()
    try:
        tokens = list(seq)
    except TypeError:
        raise TypeError(f"{expected}; got {type(seq).__name__} {seq!r}") from None
    for position, token in enumerate(tokens):
        try:
            hash(token)
        except TypeError:
            raise TypeError(
                f"{name} must hold hashable tokens such as strings or ints; "
                f"got {type(token).__name__} {token!r} at position {position}"
            ) from None
    return tokens
