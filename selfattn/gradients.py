"""The backward pass of attention, derived by hand."""

import numpy as np

from ._checks import as_float_array, attention_args, overflow_checked
from .dot_product import _attention_weights
from .masks import _allowed


def attention_backward(q, k, v, d_out, mask=None, *, causal=False, scale=None):
    """The gradients of `attention` with respect to ``q``, ``k`` and ``v``.

    With ``S = scale * q @ k.T``, ``P = softmax(S)`` (masked) and ``O = P @ v``, and
    ``d_out`` the gradient of a loss with respect to ``O``:

    - ``dv = P.T @ d_out``
    - ``dP = d_out @ v.T``
    - ``dS = P * (dP - rowsum(d_out * O))`` (the softmax's backward)
    - ``dq = scale * dS @ k`` and ``dk = scale * dS.T @ q``

    A key a query may not attend to has ``P = 0`` there, so no gradient flows through
    it; a query with no allowed key (an output of zeros) gets ``dq = 0`` and adds
    nothing to ``dk`` or ``dv``.

    Parameters
    ----------
    q : array_like of real numbers, shape (..., n_q, d_k)
    k : array_like of real numbers, shape (..., n_k, d_k)
    v : array_like of real numbers, shape (..., n_k, d_v)
    d_out : array_like of real numbers, shape (..., n_q, d_v)
        The gradient with respect to ``attention(q, k, v, mask, causal=causal, scale=scale)``:
        the shape of that output, its batch axes those of ``q``, ``k`` and ``v`` broadcast.
    mask, causal, scale
        As in `attention`.

    Returns
    -------
    dq : ndarray, the shape of ``q``
    dk : ndarray, the shape of ``k``
    dv : ndarray, the shape of ``v``
        In the float dtype of the output (float32 inputs give float32 gradients). Where
        an input's batch axes were broadcast, its gradient is summed over them.

    Raises
    ------
    TypeError, ValueError
        As in `attention`; also if ``d_out`` does not have the shape of the output, or if
        the gradients overflow their float dtype.

    Examples
    --------
    One query, two keys, and the loss ``out.sum()``, so ``d_out`` is ones. The query
    attends to the keys with weights ``[1, e] / (1 + e)``, and ``dv`` hands each value
    its key's weight:

    >>> import numpy as np
    >>> from selfattn import attention_backward
    >>> q = np.array([[0.0, np.sqrt(2.0)]])
    >>> k = np.eye(2)
    >>> v = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> dq, dk, dv = attention_backward(q, k, v, d_out=np.ones((1, 2)))
    >>> print(dv)
    [[0.26894142 0.26894142]
     [0.73105858 0.73105858]]
    """
    q, k, v, mask, causal, factor = attention_args(q, k, v, mask, causal, scale)
    d_out = _output_gradient(d_out, q, k, v)
    allowed = _allowed(mask, causal, q.shape[-2], k.shape[-2])
    rescale = {"q": q, "k": k, "v": v, "d_out": d_out, "scale": scale}
    return overflow_checked("attention_backward", rescale, _attention_backward_summed, q, k, v, d_out, allowed, factor)


def _output_gradient(d_out, q, k, v):
    """``d_out``, checked to have the shape of attention's output."""
    out_shape = (*np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]), q.shape[-2], v.shape[-1])
    d_out = as_float_array(d_out, "d_out", ("...", "n_q", "d_v"))
    if d_out.shape != out_shape:
        raise ValueError(
            f"d_out must have the shape of attention's output (..., n_q, d_v) = {out_shape}; got shape {d_out.shape}"
        )
    return d_out


def _attention_backward_summed(q, k, v, d_out, allowed, scale):
    """``(dq, dk, dv)``, each summed to the shape of its input."""
    weights = _attention_weights(q, k, allowed, scale)
    dq, dk, dv = _attention_backward(q, k, v, weights, d_out.astype(q.dtype, copy=False), scale)
    return _sum_to(dq, q), _sum_to(dk, k), _sum_to(dv, v)


def _attention_backward(q, k, v, weights, d_out, scale):
    """``(dq, dk, dv)`` for ``out = weights @ v``, ``weights = softmax(scale * q @ k.T)``; unchecked,
    over the broadcast batch axes."""
    dv = np.swapaxes(weights, -1, -2) @ d_out
    d_weights = d_out @ np.swapaxes(v, -1, -2)
    # rowsum(dO * O) = rowsum(P * dP), which needs no n x d_v product
    row_dot = np.einsum("...ij,...ij->...i", weights, d_weights)[..., None]
    d_scores = np.subtract(d_weights, row_dot, out=d_weights)
    d_scores *= weights
    scale = d_scores.dtype.type(scale)  # scale the n x d results, not the n x n d_scores
    dq = (d_scores @ k) * scale
    dk = (np.swapaxes(d_scores, -1, -2) @ q) * scale
    return dq, dk, dv


def _sum_to(grad, like):
    """``grad`` summed over the batch axes that ``like`` was broadcast along, in ``like``'s shape."""
    grad = grad.sum(axis=tuple(range(grad.ndim - like.ndim)))  # the leading axes that like does not have
    return grad.sum(axis=tuple(i for i, n in enumerate(like.shape) if n == 1), keepdims=True)  # its axes of size 1


def _sum_rows(a):
    """Sum over every axis but the last: a bias's gradient."""
    return a.reshape(-1, a.shape[-1]).sum(axis=0)


def _weight_gradient(x, d_y):
    """The gradient of ``w`` in ``y = x @ w``, summed over every row of every batch."""
    return x.reshape(-1, x.shape[-1]).T @ d_y.reshape(-1, d_y.shape[-1])
