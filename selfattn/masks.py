"""Boolean masks: ``True`` where a query may attend to a key."""

import numpy as np

from ._checks import as_array, positive_int


def causal_mask(n_q, n_k=None):
    """The mask that lets query ``i`` attend to keys ``j <= i``.

    Aligned at the top left, as PyTorch's ``is_causal``: when ``n_q != n_k`` query
    ``i`` still sees keys ``0..i``.

    Parameters
    ----------
    n_q : int
        Number of queries.
    n_k : int, optional
        Number of keys; defaults to ``n_q``.

    Returns
    -------
    ndarray of bool, shape (n_q, n_k)
        ``True`` on and below the diagonal.

    Examples
    --------
    >>> from selfattn import causal_mask
    >>> print(causal_mask(3, 4).astype(int))
    [[1 0 0 0]
     [1 1 0 0]
     [1 1 1 0]]
    """
    n_q = positive_int(n_q, "n_q")
    n_k = n_q if n_k is None else positive_int(n_k, "n_k")
    return _causal(n_q, n_k)


def padding_mask(lengths, n_k):
    """The mask that hides padding keys, from each sequence's true length.

    Parameters
    ----------
    lengths : array_like of int, shape (batch,)
        The number of real (non-padding) tokens in each sequence, each in ``1..n_k``.
    n_k : int
        The padded length of the key sequences.

    Returns
    -------
    ndarray of bool, shape (batch, 1, n_k)
        ``mask[b, 0, j]`` is ``True`` when ``j < lengths[b]``. The middle axis of size 1
        broadcasts over the queries, so the mask applies as it is to weights of shape
        ``(batch, n_q, n_k)``; for per-head weights ``(batch, n_heads, n_q, n_k)`` add a
        head axis with ``mask[:, None]``.

    Examples
    --------
    >>> from selfattn import padding_mask
    >>> print(padding_mask([3, 1], 4).astype(int))
    [[[1 1 1 0]]
    <BLANKLINE>
     [[1 0 0 0]]]
    """
    n_k = positive_int(n_k, "n_k")
    lengths = as_array(lengths, "lengths")
    if lengths.ndim != 1 or lengths.size == 0 or lengths.dtype.kind not in ("i", "u"):
        raise ValueError(
            f"lengths must be a non-empty 1-D array of ints, shape (batch,); "
            f"got shape {lengths.shape} and dtype {lengths.dtype}"
        )
    if lengths.min() < 1 or lengths.max() > n_k:
        raise ValueError(f"lengths must be in 1..n_k={n_k}; got {lengths.tolist()}")
    return (np.arange(n_k) < lengths[:, None])[:, None, :]


def _causal(n_q, n_k):
    return np.tri(n_q, n_k, dtype=bool)


def _allowed(mask, causal, n_q, n_k):
    """The keys each query may attend to: ``mask`` (None: all), and only the past if ``causal``."""
    if not causal:
        return mask
    return _causal(n_q, n_k) if mask is None else mask & _causal(n_q, n_k)
