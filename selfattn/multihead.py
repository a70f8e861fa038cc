"""Multi-head attention: split, attend, merge, project."""

from dataclasses import dataclass

import numpy as np

from ._checks import as_float_array, positive_int
from .dot_product import attention_weights


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
    *batch, n, d_model = x.shape
    return np.swapaxes(x.reshape(*batch, n, n_heads, head_size(d_model, n_heads)), -2, -3)


def head_size(d_model, n_heads):
    """``d_model // n_heads``, the width of each head, or a ValueError if it does not divide."""
    if d_model % n_heads:
        raise ValueError(f"d_model must be divisible by n_heads; got d_model={d_model} and n_heads={n_heads}")
    return d_model // n_heads


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
    x = as_float_array(x, "x", ("...", "n_heads", "n", "d_head"))
    *batch, n_heads, n, d_head = x.shape
    return np.swapaxes(x, -2, -3).reshape(*batch, n, n_heads * d_head)


@dataclass
class MultiHeadAttention:
    """Multi-head attention with learned projections, as in "Attention Is All You Need".

    Queries come from ``x``; keys and values from ``context`` (``x`` itself for
    self-attention, another sequence for cross-attention). Each projection is
    ``x @ w + b``. The projected queries, keys and values are split into ``n_heads``
    heads, each head runs `attention_weights` on its own slice, and the heads'
    outputs are merged and projected by ``w_o``, ``b_o``.

    Attributes
    ----------
    w_q, w_k, w_v, w_o : ndarray, shape (d_model, d_model)
    b_q, b_k, b_v, b_o : ndarray, shape (d_model,), or None for no bias
    n_heads : int
        Must divide ``d_model``.

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
    """

    w_q: np.ndarray
    w_k: np.ndarray
    w_v: np.ndarray
    w_o: np.ndarray
    b_q: np.ndarray | None
    b_k: np.ndarray | None
    b_v: np.ndarray | None
    b_o: np.ndarray | None
    n_heads: int

    def __post_init__(self):
        self.n_heads = positive_int(self.n_heads, "n_heads")
        self.w_q = as_float_array(self.w_q, "w_q", ("d_model", "d_model"))
        d_model = self.w_q.shape[0]
        for name in ("w_q", "w_k", "w_v", "w_o", "b_q", "b_k", "b_v", "b_o"):
            value = getattr(self, name)
            if value is None and name.startswith("b"):
                continue
            expected = (d_model, d_model) if name.startswith("w") else (d_model,)
            value = as_float_array(value, name, ("d_model", "d_model")[: len(expected)])
            if value.shape != expected:
                raise ValueError(f"{name} must have shape {expected} (d_model={d_model}); got shape {value.shape}")
            setattr(self, name, value)
        head_size(d_model, self.n_heads)

    @classmethod
    def init(cls, d_model, n_heads, *, rng=None, bias=True):
        """Random weights, scaled so that outputs stay of order 1.

        Parameters
        ----------
        d_model : int
            Width of the model; must be divisible by ``n_heads``.
        n_heads : int
        rng : None, int or numpy.random.Generator
            Seed or generator for the weights (``numpy.random.default_rng(rng)``).
        bias : bool, default True
            With ``True`` the biases are zeros (PyTorch's starting point), ready to be
            set; with ``False`` they are ``None`` and the projections have no bias.

        Returns
        -------
        MultiHeadAttention
            Each weight is drawn from a normal distribution with standard deviation
            ``1 / sqrt(d_model)``, so ``x @ w`` keeps the scale of ``x``.
        """
        d_model = positive_int(d_model, "d_model")
        n_heads = positive_int(n_heads, "n_heads")
        head_size(d_model, n_heads)  # before drawing any weights
        rng = np.random.default_rng(rng)
        w_q, w_k, w_v, w_o = rng.normal(scale=d_model**-0.5, size=(4, d_model, d_model))
        b_q, b_k, b_v, b_o = np.zeros((4, d_model)) if bias else (None,) * 4
        return cls(w_q, w_k, w_v, w_o, b_q, b_k, b_v, b_o, n_heads)

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
        mask : array_like of bool, broadcastable to (..., n_heads, n_q, n_k), optional
            ``True`` where a query may attend to a key. A mask of shape ``(n_q, n_k)``
            applies to every head; a padding mask from `padding_mask` needs a head
            axis, ``mask[:, None]``.
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
        x = self._check_input(x, "x", "n_q")
        context = x if context is None else self._check_input(context, "context", "n_k")
        q, k, v = (
            split_heads(project(seq, w, b), self.n_heads)
            for seq, w, b in ((x, self.w_q, self.b_q), (context, self.w_k, self.b_k), (context, self.w_v, self.b_v))
        )
        weights = attention_weights(q, k, mask, causal=causal)
        output = project(merge_heads(weights @ v), self.w_o, self.b_o)
        return (output, weights) if return_weights else output

    def _check_input(self, seq, name, n):
        seq = as_float_array(seq, name, ("...", n, "d_model"))
        if seq.shape[-1] != self.d_model:
            raise ValueError(f"{name} must have shape (..., {n}, d_model={self.d_model}); got shape {seq.shape}")
        return seq


def project(x, w, b):
    """The affine map ``x @ w + b`` (``b`` may be None)."""
    return x @ w if b is None else x @ w + b
