"""The Transformer block: layer norm, attention and an MLP, each added to a residual stream."""

from dataclasses import dataclass

import numpy as np

from ._checks import generator, overflow_checked, positive_int
from ._frozen import Frozen
from .activations import ACTIVATIONS
from .gradients import _sum_rows, _weight_gradient
from .multihead import MultiHeadAttention, _output_gradient
from .normalise import _layer_norm

LAYER_NORM_EPS = 1e-5  # torch.nn.TransformerEncoderLayer's default


def _layer_norm_backward(d_y, x_hat, std, weight):
    """``(dx, d_weight, d_bias)`` for ``y = x_hat * weight + bias``, ``x_hat = (x - mean(x)) / std``."""
    d_x_hat = d_y * weight
    dx = d_x_hat - d_x_hat.mean(axis=-1, keepdims=True) - x_hat * np.mean(d_x_hat * x_hat, axis=-1, keepdims=True)
    dx /= std
    return dx.astype(x_hat.dtype, copy=False), _sum_rows(d_y * x_hat), _sum_rows(d_y)


# name -> axes; d_model comes from attn
SHAPES = {
    "ln1_w": ("d_model",),
    "ln1_b": ("d_model",),
    "ln2_w": ("d_model",),
    "ln2_b": ("d_model",),
    "w_1": ("d_model", "d_ff"),
    "b_1": ("d_ff",),
    "w_2": ("d_ff", "d_model"),
    "b_2": ("d_model",),
}


@dataclass(frozen=True, kw_only=True, eq=False)
class TransformerBlock(Frozen):
    """A pre-norm Transformer encoder block: attention and an MLP, each added to its input.

    ``h = x + attn(ln1(x))``, then ``out = h + act(ln2(h) @ w_1 + b_1) @ w_2 + b_2``,
    where ``ln1`` and ``ln2`` are `layer_norm` with their own weights and biases (and
    ``eps=1e-5``) and ``act`` is the ``activation``. This is
    ``torch.nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout=0.0,
    activation=..., batch_first=True, norm_first=True)``, and GPT-2's block with
    ``activation="gelu_tanh"`` and ``causal=True``.

    Built from keyword arguments and checked once, at construction; then frozen, its
    arrays read-only copies in their common float dtype, like `MultiHeadAttention`. Two
    blocks are equal (``==``) when their attention and all their arrays are equal.

    Attributes
    ----------
    attn : MultiHeadAttention
        Self-attention of width ``d_model``.
    ln1_w, ln1_b, ln2_w, ln2_b : ndarray, shape (d_model,)
        The weights and biases of the two layer norms.
    w_1 : ndarray, shape (d_model, d_ff)
    b_1 : ndarray, shape (d_ff,)
    w_2 : ndarray, shape (d_ff, d_model)
    b_2 : ndarray, shape (d_model,)
        The MLP: ``act(x @ w_1 + b_1) @ w_2 + b_2``, ``d_ff`` hidden units wide.
    activation : {"relu", "gelu", "gelu_tanh"}, default "relu"
        The MLP's ``act``: ``max(z, 0)``; ``z * Phi(z)``, ``Phi`` the standard normal's
        distribution function (PyTorch's ``F.gelu``); or its tanh approximation,
        ``0.5 * z * (1 + tanh(sqrt(2 / pi) * (z + 0.044715 * z**3)))`` (GPT-2's,
        ``F.gelu(approximate="tanh")``).

    Examples
    --------
    >>> import numpy as np
    >>> from selfattn import TransformerBlock
    >>> block = TransformerBlock.init(d_model=8, n_heads=2, d_ff=32, rng=0)
    >>> x = np.random.default_rng(1).normal(size=(5, 8))
    >>> out = block(x, causal=True)
    >>> print(out.shape)
    (5, 8)
    >>> dx, grads = block.backward(x, d_out=np.ones((5, 8)), causal=True)
    >>> print(dx.shape, grads.w_1.shape, grads.attn.w_q.shape)
    (5, 8) (8, 32) (8, 8)
    """

    attn: MultiHeadAttention
    ln1_w: np.ndarray
    ln1_b: np.ndarray
    ln2_w: np.ndarray
    ln2_b: np.ndarray
    w_1: np.ndarray
    b_1: np.ndarray
    w_2: np.ndarray
    b_2: np.ndarray
    activation: str = "relu"

    def __post_init__(self):
        if not isinstance(self.attn, MultiHeadAttention):
            raise TypeError(f"attn must be a MultiHeadAttention; got {type(self.attn).__name__}")
        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}; got {self.activation!r}")
        self._freeze(SHAPES, d_model=self.attn.d_model)

    @classmethod
    def init(cls, d_model, n_heads, d_ff, *, rng=None, activation="relu"):
        """Random weights, layer norms that start as the identity, biases at zero.

        Parameters
        ----------
        d_model : int
            Width of the model; must be divisible by ``n_heads``.
        n_heads : int
        d_ff : int
            Width of the MLP's hidden layer (4 * d_model in "Attention Is All You Need").
        rng : None, int or numpy.random.Generator
            Seed (a non-negative int) or generator for the weights.
        activation : {"relu", "gelu", "gelu_tanh"}, default "relu"
            The MLP's activation.

        Returns
        -------
        TransformerBlock
            ``attn`` from `MultiHeadAttention.init`; ``w_1`` and ``w_2`` drawn from normal
            distributions with standard deviations ``1 / sqrt(d_model)`` and
            ``1 / sqrt(d_ff)``, so that each product keeps the scale of its input;
            ``ln1_w``, ``ln2_w`` ones; every bias zeros.
        """
        d_ff = positive_int(d_ff, "d_ff")
        rng = generator(rng)
        attn = MultiHeadAttention.init(d_model, n_heads, rng=rng)  # which checks d_model and n_heads
        ones, zeros = np.ones(d_model), np.zeros(d_model)
        return cls(
            attn=attn,
            ln1_w=ones,
            ln1_b=zeros,
            ln2_w=ones,
            ln2_b=zeros,
            w_1=rng.normal(scale=d_model**-0.5, size=(d_model, d_ff)),
            b_1=np.zeros(d_ff),
            w_2=rng.normal(scale=d_ff**-0.5, size=(d_ff, d_model)),
            b_2=zeros,
            activation=activation,
        )

    @property
    def d_model(self):
        """Width of the model: the size of the last axis of ``x`` and of the output."""
        return self.attn.d_model

    @property
    def d_ff(self):
        """Width of the MLP's hidden layer."""
        return self.w_1.shape[1]

    def __call__(self, x, mask=None, *, causal=False):
        """The block applied to each sequence of ``x``.

        Parameters
        ----------
        x : array_like of real numbers, shape (..., n, d_model)
        mask : array_like of bool, shape (n, n) or (..., n_heads, n, n), optional
            ``True`` where a token may attend to another; as in `MultiHeadAttention`.
        causal : bool, default False
            Forbid token ``i`` from attending to tokens ``j > i`` (a decoder-only block).

        Returns
        -------
        ndarray, shape (..., n, d_model)
        """
        x, _, allowed = self.attn._inputs(x, None, mask, causal, "n")
        return overflow_checked("TransformerBlock", {"x": x}, self._forward, x, allowed)[0]

    def backward(self, x, d_out, mask=None, *, causal=False):
        """The gradients of a loss, given its gradient ``d_out`` with respect to ``self(x)``.

        Parameters
        ----------
        x : array_like of real numbers, shape (..., n, d_model)
        d_out : array_like of real numbers, shape (..., n, d_model)
            The gradient of the loss with respect to the block's output; the shape of ``x``.
        mask, causal
            As in ``__call__``.

        Returns
        -------
        dx : ndarray, shape (..., n, d_model)
            The gradient with respect to ``x``.
        grads : TransformerBlock
            The gradient with respect to each parameter, in the field of that parameter
            (``grads.attn`` a `MultiHeadAttention` of gradients), summed over the batch
            and the tokens.
        """
        x, _, allowed = self.attn._inputs(x, None, mask, causal, "n")
        d_out = _output_gradient(d_out, x)
        rescale = {"x": x, "d_out": d_out}
        dx, grads, _ = overflow_checked("TransformerBlock.backward", rescale, self._backward, x, d_out, allowed)
        return dx, self._replaced(grads)

    def _forward(self, x, allowed, cache=None):
        """The output, and what the backward pass needs; from checked arrays (``cache``: see
        ``MultiHeadAttention._forward``)."""
        a, ln1 = _layer_norm(x, self.ln1_w, self.ln1_b, LAYER_NORM_EPS)
        h = x + self.attn._forward(a, a, allowed, cache)[0]
        c, ln2 = _layer_norm(h, self.ln2_w, self.ln2_b, LAYER_NORM_EPS)
        z = c @ self.w_1 + self.b_1
        r = ACTIVATIONS[self.activation][0](z)
        return h + r @ self.w_2 + self.b_2, (a, ln1, c, ln2, z, r)

    def _backward(self, x, d_out, allowed, saved=None):
        """``(dx, grads, statistics)`` from checked arrays: the forward pass again (unless the caller has
        ``saved``, what ``_forward(x, allowed)`` saved), then the chain rule backwards. The layer norms'
        statistics come too, so that an overflow there is refused."""
        a, ln1, c, ln2, z, r = saved or self._forward(x, allowed)[1]
        d_z = (d_out @ self.w_2.T) * ACTIVATIONS[self.activation][1](z)
        d_h_norm, d_ln2_w, d_ln2_b = _layer_norm_backward(d_z @ self.w_1.T, *ln2, self.ln2_w)
        d_h = d_out + d_h_norm  # the residual passes d_out on unchanged
        d_a, attn_grads = self.attn._backward(a, d_h, allowed)
        d_x_norm, d_ln1_w, d_ln1_b = _layer_norm_backward(d_a, *ln1, self.ln1_w)
        grads = {
            "attn": attn_grads,
            "ln1_w": d_ln1_w,
            "ln1_b": d_ln1_b,
            "ln2_w": d_ln2_w,
            "ln2_b": d_ln2_b,
            "w_1": _weight_gradient(c, d_z),
            "b_1": _sum_rows(d_z),
            "w_2": _weight_gradient(r, d_out),
            "b_2": _sum_rows(d_out),
        }
        return d_h + d_x_norm, grads, (ln1, ln2)
