"""Scaled dot-product attention, from the loop version to the batched one."""

import numpy as np

from ._checks import as_float_array, attention_args, overflow_checked
from .masks import _allowed
from .normalise import _softmax


def self_attention_loops(x):
    """The seed notebook's self-attention, one query and one key at a time.

    For each position ``i``: score every position ``j`` by the dot product
    ``x[i] . x[j]``, turn the scores into weights with a softmax, and add up the
    rows of ``x`` weighted by them. Slow and plain; kept as the readable reference
    that `self_attention` must match.

    Parameters
    ----------
    x : array_like of real numbers, shape (n, d)
        One vector per token.

    Returns
    -------
    outputs : ndarray, shape (n, d)
        ``outputs[i] = sum_j weights[i, j] * x[j]``.
    weights : ndarray, shape (n, n)
        ``weights[i] = softmax([x[i] . x[j] for j in range(n)])``; each row sums to 1.

    Examples
    --------
    >>> import numpy as np
    >>> from selfattn import self_attention_loops
    >>> outputs, weights = self_attention_loops(np.array([[0.0, 1.0], [0.0, 0.0]]))
    >>> print(weights)  # row 0: softmax([1, 0]); row 1: softmax([0, 0])
    [[0.73105858 0.26894142]
     [0.5        0.5       ]]
    """
    x = as_float_array(x, "x", ("n", "d"))
    return overflow_checked("self_attention_loops", {"x": x}, _self_attention_loops, x)


def self_attention(x):
    """The seed notebook's self-attention, vectorised and batched.

    The same model as `self_attention_loops` (queries, keys and values are all
    ``x``; no scaling), written as two matrix products:
    ``weights = softmax(x @ x.T)`` row by row, and ``outputs = weights @ x``.
    It is `attention` with ``q = k = v = x`` and ``scale=1``.

    Parameters
    ----------
    x : array_like of real numbers, shape (..., n, d)
        One vector per token; leading axes are batch axes.

    Returns
    -------
    outputs : ndarray, shape (..., n, d)
    weights : ndarray, shape (..., n, n)
        Each row sums to 1.

    Examples
    --------
    >>> import numpy as np
    >>> from selfattn import self_attention
    >>> outputs, weights = self_attention(np.eye(2))
    >>> print(weights)  # row 0: softmax([1, 0])
    [[0.73105858 0.26894142]
     [0.26894142 0.73105858]]
    """
    x = as_float_array(x, "x", ("...", "n", "d"))
    return overflow_checked("self_attention", {"x": x}, _self_attention, x)


def attention_weights(q, k, mask=None, *, causal=False, scale=None):
    """How much each query attends to each key: ``softmax(scale * q @ k.T)``.

    Parameters
    ----------
    q : array_like of real numbers, shape (..., n_q, d_k)
        Queries.
    k : array_like of real numbers, shape (..., n_k, d_k)
        Keys. Batch axes of ``q`` and ``k`` broadcast against each other.
    mask : array_like of bool, broadcastable to (..., n_q, n_k), optional
        ``True`` where a query may attend to a key (PyTorch
        ``scaled_dot_product_attention``'s convention).
    causal : bool, default False
        Also forbid query ``i`` from attending to keys ``j > i``
        (`causal_mask`, aligned at the top left).
    scale : float, optional
        Multiplies the scores; defaults to ``1 / sqrt(d_k)``.

    Returns
    -------
    ndarray, shape (..., n_q, n_k)
        Non-negative weights; each row sums to 1 over its allowed keys. A query with
        no allowed key gets a row of zeros (and so, in `attention`, an output
        of zeros), never NaN: this is what PyTorch 2.13 returns too.

    Raises
    ------
    TypeError
        If ``q`` or ``k`` is not an array of real numbers, ``mask`` is not boolean,
        ``causal`` is not a bool, or ``scale`` is not a real number.
    ValueError
        If shapes do not fit (``q`` and ``k`` must share ``d_k`` and broadcast in their
        batch axes; ``mask`` must broadcast to ``(..., n_q, n_k)``), an input holds NaN
        or inf, or the scores overflow their float dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from selfattn import attention_weights
    >>> q = np.array([[0.0, np.sqrt(2.0)]])
    >>> k = np.eye(2)
    >>> print(attention_weights(q, k))  # softmax([0, 1]) = [1, e] / (1 + e)
    [[0.26894142 0.73105858]]
    >>> print(attention_weights(q, k, mask=np.array([True, False])))
    [[1. 0.]]
    """
    q, k, _, mask, causal, factor = attention_args(q, k, None, mask, causal, scale, values=False)
    allowed = _allowed(mask, causal, q.shape[-2], k.shape[-2])
    rescale = {"q": q, "k": k, "scale": scale}
    return overflow_checked("attention_weights", rescale, _attention_weights, q, k, allowed, factor)


def attention(q, k, v, mask=None, *, causal=False, scale=None):
    """Scaled dot-product attention: ``softmax(q @ k.T / sqrt(d_k)) @ v``.

    Each query's output is the average of the values, weighted by
    `attention_weights`.

    Parameters
    ----------
    q : array_like of real numbers, shape (..., n_q, d_k)
    k : array_like of real numbers, shape (..., n_k, d_k)
    v : array_like of real numbers, shape (..., n_k, d_v)
        Values, one per key.
    mask, causal, scale
        As in `attention_weights`.

    Returns
    -------
    ndarray, shape (..., n_q, d_v)
        A query with no allowed key gets zeros.

    Raises
    ------
    TypeError, ValueError
        As in `attention_weights`; also if ``k`` and ``v`` differ in ``n_k``.

    Examples
    --------
    >>> import numpy as np
    >>> from selfattn import attention
    >>> q = np.array([[0.0, np.sqrt(2.0)]])
    >>> k = np.eye(2)
    >>> v = np.array([[10.0, 0.0, 0.0], [0.0, 0.0, 10.0]])
    >>> print(attention(q, k, v))
    [[2.68941421 0.         7.31058579]]
    """
    q, k, v, mask, causal, factor = attention_args(q, k, v, mask, causal, scale)
    allowed = _allowed(mask, causal, q.shape[-2], k.shape[-2])
    return overflow_checked("attention", {"q": q, "k": k, "scale": scale}, _attention, q, k, v, allowed, factor)


# The kernels below trust their arguments: the public functions above check them first.


def _self_attention_loops(x):
    n = len(x)
    weights = np.zeros((n, n), dtype=x.dtype)
    outputs = np.zeros_like(x)
    for i in range(n):
        weights[i] = _softmax(np.array([np.dot(x[i], x[j]) for j in range(n)]))
        for j in range(n):
            outputs[i] += weights[i, j] * x[j]
    return outputs, weights


def _self_attention(x):
    weights = _softmax(x @ np.swapaxes(x, -1, -2))
    return weights @ x, weights


def _attention(q, k, v, allowed, scale):
    return _attention_weights(q, k, allowed, scale) @ v


def _attention_weights(q, k, allowed, scale):
    """``softmax(scale * q @ k.T)`` over the keys where ``allowed`` (all if None).

    ``q`` is scaled before the product (PyTorch scales ``q`` and ``k`` by ``sqrt(scale)``
    each, also before it), so that float16 scores that fit after scaling do not overflow
    on the way.
    """
    return _softmax((q * q.dtype.type(scale)) @ np.swapaxes(k, -1, -2), allowed)
