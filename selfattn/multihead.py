"""Multi-head attention: split, attend, merge, project."""

from dataclasses import dataclass

import numpy as np

from ._checks import (
    as_float_array,
    batch_shape,
    boolean_mask,
    flag,
    generator,
    head_size,
    overflow_checked,
    positive_int,
)
from ._frozen import Frozen
from .dot_product import _attention_weights
from .gradients import _attention_backward, _sum_rows, _weight_gradient
from .masks import _allowed


def split_heads(x, n_heads):
    """Cut the feature axis into ``n_heads`` equal slices, one per head.

    Parameters
    ----------
    x : array_like of real numbers, shape (..., n, d_model)
    n_heads : int
        Must divide ``d_model``.

    Returns
    -------
    ndarray, shape (..., n_heads, n, d_model // n_heads)
        Head ``h`` holds features ``h * d_head`` to ``(h + 1) * d_head - 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from selfattn import split_heads
    >>> x = np.arange(12.0).reshape(2, 6)  # n = 2 tokens, d_model = 6
    >>> print(split_heads(x, 3))
    [[[ 0.  1.]
      [ 6.  7.]]
    <BLANKLINE>
     [[ 2.  3.]
      [ 8.  9.]]
    <BLANKLINE>
     [[ 4.  5.]
      [10. 11.]]]
    """
    x = as_float_array(x, "x", ("...", "n", "d_model"))
    n_heads = positive_int(n_heads, "n_heads")
    head_size(x.shape[-1], n_heads)
    return _split_heads(x, n_heads)


def merge_heads(x):
    """Undo `split_heads`: put the heads' features side by side again.

    Parameters
    ----------
    x : array_like of real numbers, shape (..., n_heads, n, d_head)

    Returns
    -------
    ndarray, shape (..., n, n_heads * d_head)

    Examples
    --------
    >>> import numpy as np
    >>> from selfattn import merge_heads, split_heads
    >>> x = np.arange(12.0).reshape(2, 6)
    >>> print(np.array_equal(merge_heads(split_heads(x, 3)), x))
    True
    """
    return _merge_heads(as_float_array(x, "x", ("...", "n_heads", "n", "d_head")))


WEIGHTS = ("w_q", "w_k", "w_v", "w_o")
BIASES = ("b_q", "b_k", "b_v", "b_o")


@dataclass(frozen=True, kw_only=True, eq=False)
class MultiHeadAttention(Frozen):
    """Multi-head attention with learned projections, as in "Attention Is All You Need".

    Queries come from ``x``; keys and values from ``context`` (``x`` itself for
    self-attention, another sequence for cross-attention). Each projection is
    ``x @ w + b``. The projected queries, keys and values are split into ``n_heads``
    heads, each head attends on its own slice of them, and the heads' outputs are
    merged and projected by ``w_o``, ``b_o``.

    Built from keyword arguments and checked once, at construction; then frozen. The
    arrays are read-only copies, all in the common float dtype of those given, so nothing
    can change an instance after the check:
    ``dataclasses.replace(mha, b_o=...)`` makes a changed (and checked) copy. Two
    instances are equal (``==``) when they have the same ``n_heads`` and equal arrays.

    Attributes
    ----------
    n_heads : int
        Must divide ``d_model``.
    w_q, w_k, w_v, w_o : ndarray, shape (d_model, d_model)
    b_q, b_k, b_v, b_o : ndarray, shape (d_model,), or None for no bias (the default)

    Examples
    --------
    >>> import numpy as np
    >>> from selfattn import MultiHeadAttention
    >>> mha = MultiHeadAttention.init(d_model=8, n_heads=2, rng=0)
    >>> x = np.random.default_rng(1).normal(size=(5, 8))
    >>> out, weights = mha(x, causal=True, return_weights=True)
    >>> print(out.shape, weights.shape)
    (5, 8) (2, 5, 5)
    >>> print(weights.sum(axis=-1))
    [[1. 1. 1. 1. 1.]
     [1. 1. 1. 1. 1.]]
    >>> dx, grads = mha.backward(x, d_out=np.ones((5, 8)), causal=True)
    >>> print(dx.shape, grads.w_q.shape, grads.b_o)  # b_o is added to all 5 tokens
    (5, 8) (8, 8) [5. 5. 5. 5. 5. 5. 5. 5.]
    """

    n_heads: int
    w_q: np.ndarray
    w_k: np.ndarray
    w_v: np.ndarray
    w_o: np.ndarray
    b_q: np.ndarray | None = None
    b_k: np.ndarray | None = None
    b_v: np.ndarray | None = None
    b_o: np.ndarray | None = None

    def __post_init__(self):
        object.__setattr__(self, "n_heads", positive_int(self.n_heads, "n_heads"))
        present = [name for name in BIASES if getattr(self, name) is not None]
        sizes = self._freeze({name: ("d_model", "d_model") for name in WEIGHTS} | dict.fromkeys(present, ("d_model",)))
        head_size(sizes["d_model"], self.n_heads)

    @classmethod
    def init(cls, d_model, n_heads, *, rng=None, bias=True):
        """Random weights, scaled so that outputs stay of order 1.

        Parameters
        ----------
        d_model : int
            Width of the model; must be divisible by ``n_heads``.
        n_heads : int
        rng : None, int or numpy.random.Generator
            Seed (a non-negative int) or generator for the weights.
        bias : bool, default True
            With ``True`` the biases are zeros (PyTorch's starting point); with ``False``
            they are ``None`` and the projections have no bias.

        Returns
        -------
        MultiHeadAttention
            Each weight is drawn from a normal distribution with standard deviation
            ``1 / sqrt(d_model)``, so ``x @ w`` keeps the scale of ``x``.
        """
        d_model = positive_int(d_model, "d_model")
        n_heads = positive_int(n_heads, "n_heads")
        head_size(d_model, n_heads)  # before drawing any weights
        rng = generator(rng)
        bias = flag(bias, "bias")
        w_q, w_k, w_v, w_o = rng.normal(scale=d_model**-0.5, size=(4, d_model, d_model))
        biases = {name: np.zeros(d_model) for name in BIASES} if bias else {}
        return cls(n_heads=n_heads, w_q=w_q, w_k=w_k, w_v=w_v, w_o=w_o, **biases)

    @property
    def d_model(self):
        """Width of the model: the size of the last axis of ``x`` and of the output."""
        return self.w_q.shape[0]

    def __call__(self, x, context=None, mask=None, *, causal=False, return_weights=False):
        """Attend from ``x`` to ``context``.

        Parameters
        ----------
        x : array_like of real numbers, shape (..., n_q, d_model)
            The sequence the queries come from.
        context : array_like of real numbers, shape (..., n_k, d_model), optional
            The sequence the keys and values come from; defaults to ``x``
            (self-attention). Giving another sequence makes it cross-attention.
        mask : array_like of bool, shape (n_q, n_k) or (..., n_heads, n_q, n_k), optional
            ``True`` where a query may attend to a key. A mask of shape ``(n_q, n_k)``
            applies to every head and batch item; any other mask must have the head axis
            (of size ``n_heads``, or 1 for all heads): a padding mask from
            `padding_mask` becomes ``mask[:, None]``. A mask without it is refused,
            since its first axis could be read as batch or as heads.
        causal : bool, default False
            Forbid query ``i`` from attending to keys ``j > i``.
        return_weights : bool, default False
            Also return every head's attention weights.

        Returns
        -------
        output : ndarray, shape (..., n_q, d_model)
        weights : ndarray, shape (..., n_heads, n_q, n_k)
            Only with ``return_weights=True``.
        """
        x, kv, allowed = self._inputs(x, context, mask, causal)
        return_weights = flag(return_weights, "return_weights")
        rescale = {"x": x} if context is None else {"x": x, "context": kv}
        output, weights = overflow_checked("MultiHeadAttention", rescale, self._forward, x, kv, allowed)
        return (output, weights) if return_weights else output

    def _inputs(self, x, context, mask, causal, n="n_q"):
        """Checked ``x``, ``context`` (``x`` by default) and the keys each query may attend to."""
        x = self._sequence(x, "x", n)
        context = x if context is None else self._sequence(context, "context", "n_k")
        n_q, n_k = x.shape[-2], context.shape[-2]
        full = (*batch_shape({"x": x, "context": context}), self.n_heads, n_q, n_k)
        mask = boolean_mask(mask, full, "(..., n_heads, n_q, n_k)", all_axes=True)
        return x, context, _allowed(mask, flag(causal, "causal"), n_q, n_k)

    def _sequence(self, seq, name, n):
        seq = as_float_array(seq, name, ("...", n, "d_model"))
        if seq.shape[-1] != self.d_model:
            raise ValueError(f"{name} must have shape (..., {n}, d_model={self.d_model}); got shape {seq.shape}")
        return seq

    def _qkv(self, x, context):
        """The queries from ``x``, the keys and values from ``context``, each split into heads."""
        projections = ((x, self.w_q, self.b_q), (context, self.w_k, self.b_k), (context, self.w_v, self.b_v))
        return (_split_heads(_project(a, w, b), self.n_heads) for a, w, b in projections)

    def _forward(self, x, context, allowed, cache=None):
        """The output and weights, from checked arrays; with a KV ``cache`` (``selfattn.gpt``),
        ``context``'s keys and values are appended to it and the queries attend to all of them."""
        q, k, v = self._qkv(x, context)
        if cache is not None:
            k, v = cache.append(k, v)
        weights = _attention_weights(q, k, allowed, 1.0 / np.sqrt(q.shape[-1]))
        return _project(_merge_heads(weights @ v), self.w_o, self.b_o), weights

    def backward(self, x, d_out, mask=None, *, causal=False):
        """The gradients of a loss, given its gradient ``d_out`` with respect to ``self(x)``.

        For self-attention (``context`` is ``x``), the case of a Transformer block. The
        chain rule runs backwards through the output projection, every head's attention
        (`attention_backward`'s formulas), the merge and split of the heads and the three
        input projections; ``x`` reaches the output along all three, so ``dx`` is the sum
        ``dq @ w_q.T + dk @ w_k.T + dv @ w_v.T``.

        Parameters
        ----------
        x : array_like of real numbers, shape (..., n, d_model)
        d_out : array_like of real numbers, shape (..., n, d_model)
            The gradient of the loss with respect to the output; the shape of ``x``.
        mask, causal
            As in ``__call__``.

        Returns
        -------
        dx : ndarray, shape (..., n, d_model)
            The gradient with respect to ``x``.
        grads : MultiHeadAttention
            The gradient with respect to each weight and bias, in the field of that
            weight or bias (None where there is no bias), summed over the batch and the
            tokens; ``n_heads`` as here.
        """
        x, _, allowed = self._inputs(x, None, mask, causal, "n")
        d_out = _output_gradient(d_out, x)
        rescale = {"x": x, "d_out": d_out}
        dx, grads = overflow_checked("MultiHeadAttention.backward", rescale, self._backward, x, d_out, allowed)
        return dx, self._replaced(grads)

    def _backward(self, x, d_out, allowed):
        """``dx`` and the gradients (a dict, by field), from checked arrays."""
        q, k, v = self._qkv(x, x)
        scale = 1.0 / np.sqrt(q.shape[-1])
        weights = _attention_weights(q, k, allowed, scale)
        merged = _merge_heads(weights @ v)
        d_heads = _split_heads(d_out @ self.w_o.T, self.n_heads)
        dq, dk, dv = (_merge_heads(d) for d in _attention_backward(q, k, v, weights, d_heads, scale))
        inputs, d_outputs = (x, x, x, merged), (dq, dk, dv, d_out)  # of the four projections
        grads = {w: _weight_gradient(a, d) for w, a, d in zip(WEIGHTS, inputs, d_outputs, strict=True)}
        grads |= {b: _sum_rows(d) for b, d in zip(BIASES, d_outputs, strict=True) if getattr(self, b) is not None}
        return dq @ self.w_q.T + dk @ self.w_k.T + dv @ self.w_v.T, grads


def _output_gradient(d_out, x):
    """``d_out``, checked to have the shape of ``x`` (that of the output)."""
    d_out = as_float_array(d_out, "d_out", ("...", "n", "d_model"))
    if d_out.shape != x.shape:
        raise ValueError(f"d_out must have the shape of the output, that of x {x.shape}; got shape {d_out.shape}")
    return d_out


def _split_heads(x, n_heads):
    *batch, n, d_model = x.shape
    return np.swapaxes(x.reshape(*batch, n, n_heads, d_model // n_heads), -2, -3)


def _merge_heads(x):
    *batch, n_heads, n, d_head = x.shape
    return np.swapaxes(x, -2, -3).reshape(*batch, n, n_heads * d_head)


def _project(x, w, b):
    """The affine map ``x @ w + b`` (``b`` may be None)."""
    return x @ w if b is None else x @ w + b
