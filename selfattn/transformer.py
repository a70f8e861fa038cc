"""The Transformer block: layer norm, attention and an MLP, each added to a residual stream."""

from dataclasses import dataclass

import numpy as np

from ._checks import (
    as_float_array,
    flag,
    generator,
    head_size,
    overflow_checked,
    overflow_error,
    positive_int,
    real_number,
)
from .activations import ACTIVATIONS
from .gradients import _sum_rows, _weight_gradient
from .masks import _allowed
from .multihead import MultiHeadAttention

LAYER_NORM_EPS = 1e-5  # torch.nn.TransformerEncoderLayer's default


def layer_norm(x, weight, bias, eps=1e-5):
    """Normalise each vector of ``x`` to mean 0 and variance 1, then scale and shift it.

    ``(x - mean) / sqrt(var + eps) * weight + bias``, with the mean and the (biased)
    variance taken over the last axis: ``torch.nn.LayerNorm(d)``.

    Parameters
    ----------
    x : array_like of real numbers, shape (..., d)
    weight : array_like of real numbers, shape (d,)
        Multiplies each normalised feature (PyTorch's starting point: ones).
    bias : array_like of real numbers, shape (d,)
        Added to each feature (PyTorch's starting point: zeros).
    eps : float, default 1e-5
        Added to the variance, so that a constant vector gives zeros, not a division by zero.

    Returns
    -------
    ndarray, shape (..., d)
        With ``weight`` ones and ``bias`` zeros, each vector has mean 0 and variance
        ``var / (var + eps)``, just under 1.

    Raises
    ------
    TypeError, ValueError
        If an input is not numeric, ``weight`` or ``bias`` is not of shape ``(d,)``,
        ``eps`` is not a positive number within the range of the float the statistics are
        computed in (float32 for float16 and float32 ``x``, else ``x``'s dtype), or the
        output overflows. A large but finite ``x`` is fine: it is scaled before squaring.

    Examples
    --------
    >>> import numpy as np
    >>> from selfattn import layer_norm
    >>> x = np.array([[1.0, 3.0], [5.0, 5.0]])  # mean 2, variance 1; then a constant
    >>> with np.printoptions(precision=4):
    ...     print(layer_norm(x, weight=np.ones(2), bias=np.zeros(2)))
    [[-1.  1.]
     [ 0.  0.]]
    >>> with np.printoptions(precision=4):
    ...     print(layer_norm(x, weight=np.array([2.0, 2.0]), bias=np.array([0.5, 0.5])))
    [[-1.5  2.5]
     [ 0.5  0.5]]
    """
    x = as_float_array(x, "x", ("...", "d"))
    weight, bias = (_vector(value, name, x.shape[-1]) for value, name in ((weight, "weight"), (bias, "bias")))
    eps = real_number(eps, "eps", positive=True)
    stats = _stats_dtype(x.dtype)
    with np.errstate(over="ignore"):  # eps beyond float32 becomes inf: refused just below
        representable = 0 < stats.type(eps) < np.inf
    if not representable:  # a constant vector would divide by zero; or the variance + eps overflow
        info = np.finfo(stats)
        raise ValueError(
            f"eps must be between {info.smallest_subnormal:.3g} and {info.max:.3g}, "
            f"the positive range of {stats} (layer_norm's statistics for x of dtype {x.dtype}); got {eps!r}"
        )
    with np.errstate(over="ignore"):  # reported by name just below
        y = _layer_norm(x, weight, bias, eps)[0]
    if not np.isfinite(y).all():
        raise overflow_error("layer_norm", y.dtype, {"weight": weight, "bias": bias})
    return y


def _vector(value, name, d):
    value = as_float_array(value, name, ("d",))
    if value.shape != (d,):
        raise ValueError(f"{name} must have shape (d,) = ({d},), one entry per feature of x; got shape {value.shape}")
    return value


def _stats_dtype(dtype):
    """The float dtype layer norm's statistics are computed in: at least float32, as in PyTorch."""
    return np.promote_types(dtype, np.float32)


def _layer_norm(x, weight, bias, eps):
    """Layer norm, unchecked; returns the output and what its backward needs: ``(x_hat, 1 / std)``.

    Each vector is first divided by a power of two ``2**shift`` at least its largest entry
    (when that is above 1), which is exact, so that no square can overflow;
    ``std(x) = 2**shift * sqrt(var(x / 2**shift) + eps / 4**shift)``.
    """
    stats = _stats_dtype(x.dtype)
    largest = np.abs(x).max(axis=-1, keepdims=True).astype(stats)
    shift = np.maximum(np.frexp(largest)[1], 0)
    y = np.ldexp(x.astype(stats, copy=False), -shift)
    centred = y - y.mean(axis=-1, keepdims=True)
    var = np.mean(centred * centred, axis=-1, keepdims=True) + np.ldexp(stats.type(eps), -2 * shift)
    # var is 0 only for a constant vector whose eps / 4**shift underflowed: its x_hat is 0 (centred is),
    # and its 1 / std is 1 / sqrt(eps)
    constant = var == 0
    inv_std_y = 1 / np.sqrt(var + constant)
    x_hat = (centred * inv_std_y).astype(x.dtype, copy=False)
    inv_std = np.where(constant, 1 / np.sqrt(stats.type(eps)), np.ldexp(inv_std_y, -shift))  # in stats' dtype
    return x_hat * weight + bias, (x_hat, inv_std)


def _layer_norm_backward(d_y, x_hat, inv_std, weight):
    """``(dx, d_weight, d_bias)`` for ``y = x_hat * weight + bias``, ``x_hat = (x - mean(x)) * inv_std``."""
    d_x_hat = d_y * weight
    dx = inv_std * (
        d_x_hat - d_x_hat.mean(axis=-1, keepdims=True) - x_hat * np.mean(d_x_hat * x_hat, axis=-1, keepdims=True)
    )
    return dx.astype(x_hat.dtype, copy=False), _sum_rows(d_y * x_hat), _sum_rows(d_y)


def _axes(names):
    """``("d_model",)`` -> ``"(d_model,)"``, as a tuple of that length prints."""
    return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"


# name -> axes; d_model comes from attn, d_ff from w_1
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
class TransformerBlock:
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
        arrays = {name: as_float_array(getattr(self, name), name, axes) for name, axes in SHAPES.items()}
        sizes = {"d_model": self.attn.d_model, "d_ff": arrays["w_1"].shape[1]}
        for name, value in arrays.items():
            expected = tuple(sizes[axis] for axis in SHAPES[name])
            if value.shape != expected:
                raise ValueError(
                    f"{name} must have shape {_axes(SHAPES[name])} = {expected} "
                    f"(d_model={sizes['d_model']} from attn, d_ff={sizes['d_ff']} from w_1); got shape {value.shape}"
                )
        dtype = np.result_type(*arrays.values())
        for name, value in arrays.items():
            value = np.array(value, dtype=dtype)  # a copy the caller cannot change
            value.flags.writeable = False
            object.__setattr__(self, name, value)

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        same = (np.array_equal(getattr(self, name), getattr(other, name)) for name in SHAPES)
        return self.attn == other.attn and self.activation == other.activation and all(same)

    __hash__ = None  # equal instances must hash alike, and arrays have no hash

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
        d_model = positive_int(d_model, "d_model")
        n_heads = positive_int(n_heads, "n_heads")
        d_ff = positive_int(d_ff, "d_ff")
        head_size(d_model, n_heads)  # before drawing any weights
        rng = generator(rng)
        attn = MultiHeadAttention.init(d_model, n_heads, rng=rng)
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
        x, allowed = self._inputs(x, mask, causal)
        forward = overflow_checked(
            lambda: self._forward(x, allowed), "the Transformer block", np.result_type(x, self.w_1), {"x": x}
        )
        return forward[0]

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
        x, allowed = self._inputs(x, mask, causal)
        d_out = as_float_array(d_out, "d_out", ("...", "n", "d_model"))
        if d_out.shape != x.shape:
            raise ValueError(f"d_out must have the shape of the output, that of x {x.shape}; got shape {d_out.shape}")
        return overflow_checked(
            lambda: self._backward(x, d_out, allowed),
            "the Transformer block's backward pass",
            np.result_type(x, d_out, self.w_1),
            {"x": x, "d_out": d_out},
        )

    def _inputs(self, x, mask, causal):
        """Checked ``x`` and the keys each token may attend to."""
        x = self.attn._sequence(x, "x", "n")
        n = x.shape[-2]
        mask = self.attn._mask(mask, x.shape[:-2], n, n)
        return x, _allowed(mask, flag(causal, "causal"), n, n)

    def _forward(self, x, allowed, cache=None):
        """The output, and what the backward pass needs; from checked arrays (``cache``: see
        ``MultiHeadAttention._forward``)."""
        a, ln1 = _layer_norm(x, self.ln1_w, self.ln1_b, LAYER_NORM_EPS)
        h = x + self.attn._forward(a, a, allowed, cache)[0]
        c, ln2 = _layer_norm(h, self.ln2_w, self.ln2_b, LAYER_NORM_EPS)
        z = c @ self.w_1 + self.b_1
        r = ACTIVATIONS[self.activation][0](z)
        return h + r @ self.w_2 + self.b_2, (a, ln1, c, ln2, z, r)

    def _backward(self, x, d_out, allowed):
        """``(dx, grads)`` from checked arrays: the forward pass again, then the chain rule backwards."""
        _, (a, ln1, c, ln2, z, r) = self._forward(x, allowed)
        d_z = (d_out @ self.w_2.T) * ACTIVATIONS[self.activation][1](z)
        d_h_norm, d_ln2_w, d_ln2_b = _layer_norm_backward(d_z @ self.w_1.T, *ln2, self.ln2_w)
        d_h = d_out + d_h_norm  # the residual passes d_out on unchanged
        d_a, attn_grads = self.attn._backward(a, d_h, allowed)
        d_x_norm, d_ln1_w, d_ln1_b = _layer_norm_backward(d_a, *ln1, self.ln1_w)
        grads = TransformerBlock(
            attn=attn_grads,
            ln1_w=d_ln1_w,
            ln1_b=d_ln1_b,
            ln2_w=d_ln2_w,
            ln2_b=d_ln2_b,
            w_1=_weight_gradient(c, d_z),
            b_1=_sum_rows(d_z),
            w_2=_weight_gradient(r, d_out),
            b_2=_sum_rows(d_out),
            activation=self.activation,
        )
        return d_h + d_x_norm, grads
