"""Bad input, as a new user would give it, to every public function and class.

First the shared checks of ``selfattn/_checks.py``, each with its own table of mistakes
(every dtype that is not a real number, emptiness, NaN, raggedness; every value that is not
a positive int, a bool, a finite number, a seed or an axis). Then one row per public argument
and kind of mistake, which shows that the argument is checked and named.

Each row of the table calls the API once. Either the call is answered correctly (the row
says what the result must be) or it raises a ``ValueError`` or ``TypeError`` whose message
names the argument, says what was expected and shows what arrived: the row lists the three
fragments and all three must be in the message. The error must come from selfattn's own
checks, not from deep inside numpy. No warning may escape on finite input either: the
suite turns every warning into an error (``filterwarnings = ["error"]``).

Sizes are distinct so that a swapped axis cannot pass: n_q = 3, n_k = 5, d_k = 4, d_v = 6;
d_model = 8 with 2 heads for the multi-head rows.
"""

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

import selfattn
from selfattn import (
    GPT,
    MultiHeadAttention,
    TransformerBlock,
    attention,
    attention_backward,
    attention_weights,
    causal_mask,
    flash_attention,
    layer_norm,
    merge_heads,
    one_hot,
    padding_mask,
    rotary_embedding,
    self_attention,
    self_attention_loops,
    sinusoidal_positions,
    softmax,
    split_heads,
)
from selfattn._checks import as_float_array, axis_index, flag, generator, positive_int, real_number

NUMPY = Path(np.__file__).parent


@dataclasses.dataclass
class Raises:
    """The call must raise ``error`` with ``name``, ``expected`` and ``got`` in its message."""

    error: type
    name: str
    expected: str
    got: str


@dataclasses.dataclass
class Returns:
    """The call must return ``value`` with this dtype (to 1e-12, or 4 units in the last place of a narrower float)."""

    value: object
    dtype: object = np.float64


# Inputs that fit, to change one at a time.
Q, K, V = np.ones((3, 4)), np.ones((5, 4)), np.ones((5, 6))
D_OUT = np.ones((3, 6))  # the gradient of attention's output, (n_q, d_v)
UNIFORM = np.full((3, 5), 0.2)  # q and k all ones: equal scores, equal weights
X = np.arange(40.0).reshape(5, 8) / 40
EYE8 = np.eye(8)
MHA = MultiHeadAttention.init(8, 2, rng=0)
BLOCK = TransformerBlock.init(d_model=8, n_heads=2, d_ff=16, rng=0)
ONES8, ZEROS8 = np.ones(8), np.zeros(8)
RAGGED = [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]]
DATES = np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[D]")


def mha(**changes):
    """The constructor with valid keyword arguments (identity weights, no bias) but ``changes``."""
    fields = dict(n_heads=2, w_q=EYE8, w_k=EYE8, w_v=EYE8, w_o=EYE8, b_q=None, b_k=None, b_v=None, b_o=None)
    return MultiHeadAttention(**{**fields, **changes})


def gen(*items):
    return (item for item in items)


def row(call, outcome, id):
    return pytest.param(call, outcome, id=id)


def not_finite(label, function, name, shape, args):
    """The row of an array argument: a NaN in it is refused, by the argument's name.

    ``args(value)`` builds the call's arguments with ``value`` in the place of ``name``. Every
    array argument is checked by ``as_float_array``, whose other refusals (dtypes, emptiness,
    raggedness) are tested once, in ``test_as_float_array_refuses``.
    """
    value = np.ones(shape)
    value[(0,) * len(shape)] = np.nan
    index = (0,) * len(shape)
    return row(
        lambda: function(*args(value)),
        Raises(ValueError, name, "finite", f"nan at index {index}"),
        f"{label}-{name}-nan",
    )


CASES = [
    # softmax(x, axis)
    not_finite("softmax", softmax, "x", (3, 5), lambda x: (x,)),
    row(lambda: softmax(np.float64(3.0)), Raises(ValueError, "x", "(..., n)", "()"), "softmax-x-scalar"),
    row(lambda: softmax(np.zeros((3, 0))), Raises(ValueError, "x", "not be empty", "(3, 0)"), "softmax-x-empty-row"),
    row(lambda: softmax(Q, axis=1.0), Raises(TypeError, "axis", "an int", "float 1.0"), "softmax-axis-float"),
    row(
        lambda: softmax(Q, axis=2),
        Raises(ValueError, "axis", "[-2, 2) for x of shape (3, 4)", "got 2"),
        "softmax-axis-too-big",
    ),
    row(lambda: softmax(Q, axis=np.int64(0)), Returns(np.full((3, 4), 1 / 3)), "softmax-axis-numpy-int"),
    row(lambda: softmax(np.zeros(2, np.float16)), Returns([0.5, 0.5], np.float16), "softmax-x-float16"),
    row(lambda: softmax([1e308, -1e308]), Returns([1.0, 0.0]), "softmax-no-overflow-warning"),
    row(lambda: softmax(np.array([3e38, -3e38], np.float32)), Returns([1, 0], np.float32), "softmax-float32-spread"),
    row(lambda: softmax(np.array([6e4, -6e4], np.float16)), Returns([1, 0], np.float16), "softmax-float16-spread"),
    # one_hot(tokens, vocab)
    row(lambda: one_hot(5), Raises(TypeError, "tokens", "sequence of tokens", "int 5"), "one_hot-tokens-int"),
    row(lambda: one_hot([]), Raises(ValueError, "tokens", "at least one token", "empty"), "one_hot-tokens-empty"),
    row(lambda: one_hot("to be"), Raises(TypeError, "tokens", "split it first", "'to be'"), "one_hot-tokens-str"),
    row(lambda: one_hot(np.array("a")), Raises(TypeError, "tokens", "sequence of tokens", "0-d"), "one_hot-tokens-0d"),
    row(lambda: one_hot([["a"], ["b"]]), Raises(TypeError, "tokens", "hashable", "list ['a']"), "one_hot-tokens-lists"),
    row(
        lambda: one_hot(np.array([["a", "b"]])),
        Raises(ValueError, "tokens", "one-dimensional", "shape (1, 2)"),
        "one_hot-tokens-2d",
    ),
    row(
        lambda: one_hot(["a"], vocab=3), Raises(TypeError, "vocab", "sequence of tokens", "int 3"), "one_hot-vocab-int"
    ),
    row(
        lambda: one_hot(["a"], vocab=[["a"]]),
        Raises(TypeError, "vocab", "hashable", "list ['a']"),
        "one_hot-vocab-lists",
    ),
    row(
        lambda: one_hot(["a"], vocab=["b", "a", "c", "a"]),
        Raises(ValueError, "vocab", "each token once", "'a' more than once"),
        "one_hot-vocab-repeats",
    ),
    row(
        lambda: one_hot(["a", "c"], vocab=["a", "b"]),
        Raises(ValueError, "tokens", "in vocab", "'c' is not in vocab"),
        "one_hot-token-not-in-vocab",
    ),
    row(lambda: one_hot(gen("b", "a"), vocab=gen("a", "b")), Returns([[0, 1], [1, 0]]), "one_hot-generators"),
    row(lambda: one_hot(("b", "a"), vocab=None), Returns([[1, 0], [0, 1]]), "one_hot-tuple"),
    row(lambda: one_hot(np.array(["b", "a", "b"])), Returns([[1, 0], [0, 1], [1, 0]]), "one_hot-numpy-strings"),
    row(lambda: one_hot([3, 1], vocab=range(4)), Returns([[0, 0, 0, 1], [0, 1, 0, 0]]), "one_hot-ints-range"),
    # causal_mask(n_q, n_k)
    row(lambda: causal_mask(0), Raises(ValueError, "n_q", "positive int", "got 0"), "causal_mask-n_q-0"),
    row(lambda: causal_mask(2.0), Raises(TypeError, "n_q", "positive int", "float 2.0"), "causal_mask-n_q-float"),
    row(lambda: causal_mask(3, 0), Raises(ValueError, "n_k", "positive int", "got 0"), "causal_mask-n_k-0"),
    row(lambda: causal_mask(3, 2.5), Raises(TypeError, "n_k", "positive int", "float 2.5"), "causal_mask-n_k-float"),
    row(lambda: causal_mask(np.int8(2), np.uint64(1)), Returns([[1], [1]], bool), "causal_mask-numpy-ints"),
    # padding_mask(lengths, n_k)
    row(lambda: padding_mask([0, 2], 5), Raises(ValueError, "lengths", "1..n_k=5", "[0, 2]"), "padding_mask-zero"),
    row(lambda: padding_mask([3, 6], 5), Raises(ValueError, "lengths", "1..n_k=5", "[3, 6]"), "padding_mask-too-long"),
    row(lambda: padding_mask([[1, 2]], 5), Raises(ValueError, "lengths", "(batch,)", "(1, 2)"), "padding_mask-2d"),
    row(lambda: padding_mask([], 5), Raises(ValueError, "lengths", "non-empty", "(0,)"), "padding_mask-empty"),
    row(lambda: padding_mask([1.0, 2.0], 5), Raises(ValueError, "lengths", "ints", "float64"), "padding_mask-floats"),
    row(
        lambda: padding_mask([[1], [1, 2]], 5),
        Raises(ValueError, "lengths", "rectangular", "ragged"),
        "padding_mask-ragged",
    ),
    row(lambda: padding_mask([1], 0), Raises(ValueError, "n_k", "positive int", "got 0"), "padding_mask-n_k-0"),
    row(lambda: padding_mask([1], 2.0), Raises(TypeError, "n_k", "positive int", "float"), "padding_mask-n_k-float"),
    row(lambda: padding_mask(np.array([2], np.uint8), 3), Returns([[[1, 1, 0]]], bool), "padding_mask-uint8"),
    # sinusoidal_positions(n, d_model)
    row(
        lambda: sinusoidal_positions(0, 4), Raises(ValueError, "n", "positive int", "got 0"), "sinusoidal_positions-n-0"
    ),
    row(
        lambda: sinusoidal_positions(2.0, 4),
        Raises(TypeError, "n", "positive int", "float"),
        "sinusoidal_positions-n-float",
    ),
    row(
        lambda: sinusoidal_positions(3, 5),
        Raises(ValueError, "d_model", "even", "got 5"),
        "sinusoidal_positions-d_model-odd",
    ),
    row(
        lambda: sinusoidal_positions(3, -2),
        Raises(ValueError, "d_model", "positive int", "-2"),
        "sinusoidal_positions-d_model-neg",
    ),
    row(
        lambda: sinusoidal_positions(3, "4"),
        Raises(TypeError, "d_model", "positive int", "str"),
        "sinusoidal_positions-d_model-str",
    ),
    row(
        lambda: sinusoidal_positions(np.int32(1), np.int64(2)), Returns([[0.0, 1.0]]), "sinusoidal_positions-numpy-ints"
    ),
    # self_attention_loops(x) and self_attention(x)
    not_finite("self_attention_loops", self_attention_loops, "x", (3, 4), lambda x: (x,)),
    not_finite("self_attention", self_attention, "x", (3, 4), lambda x: (x,)),
    row(
        lambda: self_attention_loops(np.ones(4)), Raises(ValueError, "x", "(n, d)", "(4,)"), "self_attention_loops-x-1d"
    ),
    row(lambda: self_attention(np.ones(4)), Raises(ValueError, "x", "(..., n, d)", "(4,)"), "self_attention-x-1d"),
    row(
        lambda: self_attention_loops(np.full((2, 2), 1e200)),
        Raises(ValueError, "x", "overflowed float64", "1e+200"),
        "self_attention_loops-scores-overflow",
    ),
    row(
        lambda: self_attention([[1e200, 1e200], [1e200, -1e200]]),
        Raises(ValueError, "x", "overflowed float64", "1e+200"),
        "self_attention-scores-overflow-both-ways",
    ),
    row(
        lambda: attention_weights([[1e200, 1e200]], [[1e200, -1e200]]),
        Raises(ValueError, "k", "overflowed float64", "1e+200"),
        "attention_weights-scores-overflow-both-ways",
    ),
    row(
        lambda: self_attention(np.full((2, 2), 1e30, np.float32)),
        Raises(ValueError, "x", "overflowed float32", "1e+30"),
        "self_attention-scores-overflow-float32",
    ),
    # x[0] . x[1] = 1e400 - 1e400: inf - inf, not a number; still the overflow, by name, and no warning
    *(
        row(
            lambda f=f: f(np.array([[1e200, 1e200], [1e200, -1e200]])),
            Raises(ValueError, "x", f"{f.__name__} overflowed float64", "|x| up to 1e+200"),
            f"{f.__name__}-scores-inf-minus-inf",
        )
        for f in (self_attention, self_attention_loops)
    ),
    # attention_weights(q, k, mask, causal, scale)
    not_finite("attention_weights", attention_weights, "q", (3, 4), lambda q: (q, K)),
    not_finite("attention_weights", attention_weights, "k", (5, 4), lambda k: (Q, k)),
    row(
        lambda: attention_weights(np.ones(4), K),
        Raises(ValueError, "q", "(..., n_q, d_k)", "(4,)"),
        "attention_weights-q-1d",
    ),
    row(
        lambda: attention_weights(Q, np.ones(4)),
        Raises(ValueError, "k", "(..., n_k, d_k)", "(4,)"),
        "attention_weights-k-1d",
    ),
    row(
        lambda: attention_weights(Q, np.ones((5, 7))),
        Raises(ValueError, "k", "share d_k", "(5, 7)"),
        "attention_weights-d_k",
    ),
    row(
        lambda: attention_weights(np.ones((2, 3, 4)), np.ones((7, 5, 4))),
        Raises(ValueError, "k", "q and k must have broadcastable batch axes", "got q (2, 3, 4) and k (7, 5, 4)"),
        "attention_weights-batch",
    ),
    row(
        lambda: attention_weights(Q, K, np.ones((3, 5))),
        Raises(TypeError, "mask", "boolean array (True = may attend)", "got dtype float64"),
        "attention_weights-mask-float",
    ),
    row(
        lambda: attention_weights(Q, K, [[True], [True, False]]),
        Raises(ValueError, "mask", "rectangular", "ragged"),
        "attention_weights-mask-ragged",
    ),
    row(
        lambda: attention_weights(Q, K, np.ones((5, 3), bool)),
        Raises(ValueError, "mask", "(3, 5)", "(5, 3)"),
        "attention_weights-mask-transposed",
    ),
    row(
        lambda: attention_weights(Q, K, np.ones((2, 3, 5), bool)),
        Raises(ValueError, "mask", "(3, 5)", "(2, 3, 5)"),
        "attention_weights-mask-extra-batch",
    ),
    row(lambda: attention_weights(Q, K, [True] * 5), Returns(UNIFORM), "attention_weights-mask-list-of-bools"),
    row(lambda: attention_weights(Q, K, np.True_), Returns(UNIFORM), "attention_weights-mask-0d-bool"),
    row(
        lambda: attention_weights(Q, K, causal="yes"),
        Raises(TypeError, "causal", "True or False", "str"),
        "attention_weights-causal-str",
    ),
    row(
        lambda: attention_weights(Q, K, causal=np.True_),
        Returns(causal_mask(3, 5) / [[1], [2], [3]]),
        "attention_weights-causal-numpy",
    ),
    row(
        lambda: attention_weights(Q, K, scale="0.5"),
        Raises(TypeError, "scale", "real number", "str"),
        "attention_weights-scale-str",
    ),
    row(
        lambda: attention_weights(Q, K, scale=np.inf),
        Raises(ValueError, "scale", "finite", "inf"),
        "attention_weights-scale-inf",
    ),
    row(lambda: attention_weights(Q, K, scale=0), Returns(UNIFORM), "attention_weights-scale-zero"),
    row(lambda: attention_weights(Q, K, scale=-2), Returns(UNIFORM), "attention_weights-scale-negative"),
    row(lambda: attention_weights(Q, K, scale=np.float32(2)), Returns(UNIFORM), "attention_weights-scale-float32"),
    row(
        lambda: attention_weights(Q.astype(np.float16), K.astype(np.float16)),
        Returns(UNIFORM, np.float16),
        "attention_weights-float16",
    ),
    row(
        # q @ k.T = 102400 overflows float16 (max 65504); scaled by 1/8 first, the scores are 12800
        lambda: attention_weights(np.full((1, 64), 40, np.float16), np.full((2, 64), 40, np.float16)),
        Returns([[0.5, 0.5]], np.float16),
        "attention_weights-float16-scaled-before-the-product",
    ),
    row(
        lambda: attention_weights([[1.0]], [[1e308], [-1e308]], [True, True], scale=1),
        Returns([[1.0, 0.0]]),
        "attention_weights-masked-scores-of-large-spread",
    ),
    row(
        lambda: attention_weights(Q, K, np.zeros((3, 5), bool)),
        Returns(np.zeros((3, 5))),
        "attention_weights-fully-masked-rows",
    ),
    row(
        lambda: attention_weights(np.full((1, 2), 1e200), np.full((1, 2), 1e200)),
        Raises(ValueError, "q", "overflowed float64", "1e+200"),
        "attention_weights-scores-overflow",
    ),
    # attention(q, k, v, mask, causal, scale)
    not_finite("attention", attention, "q", (3, 4), lambda q: (q, K, V)),
    not_finite("attention", attention, "k", (5, 4), lambda k: (Q, k, V)),
    not_finite("attention", attention, "v", (5, 6), lambda v: (Q, K, v)),
    row(lambda: attention(Q, K, np.ones(6)), Raises(ValueError, "v", "(..., n_k, d_v)", "(6,)"), "attention-v-1d"),
    row(
        lambda: attention(Q, K, np.ones((7, 6))),
        Raises(ValueError, "v", "k and v must share n_k", "got k (5, 4) and v (7, 6)"),
        "attention-n_k",
    ),
    row(lambda: attention(Q, np.ones((5, 7)), V), Raises(ValueError, "k", "share d_k", "(5, 7)"), "attention-d_k"),
    row(
        lambda: attention(np.ones((2, 3, 4)), K, np.ones((7, 5, 6))),
        Raises(
            ValueError,
            "v",
            "q, k and v must have broadcastable batch axes",
            "got q (2, 3, 4), k (5, 4) and v (7, 5, 6)",
        ),
        "attention-batch",
    ),
    row(
        lambda: attention(Q, K, V, np.ones((3, 5), int)),
        Raises(TypeError, "mask", "boolean", "int64"),
        "attention-mask",
    ),
    row(
        lambda: attention(Q, K, V, np.ones((3, 4), bool)),
        Raises(ValueError, "mask", "(3, 5)", "(3, 4)"),
        "attention-mask-shape",
    ),
    row(
        lambda: attention(Q, K, V, causal="no"), Raises(TypeError, "causal", "True or False", "str"), "attention-causal"
    ),
    row(lambda: attention(Q, K, V, scale="1"), Raises(TypeError, "scale", "real number", "str"), "attention-scale"),
    row(
        lambda: attention(Q, K, V, np.zeros((3, 5), bool), causal=True),
        Returns(np.zeros((3, 6))),
        "attention-fully-masked",
    ),
    # attention_backward(q, k, v, d_out, mask, causal, scale)
    not_finite("attention_backward", attention_backward, "q", (3, 4), lambda q: (q, K, V, D_OUT)),
    not_finite("attention_backward", attention_backward, "k", (5, 4), lambda k: (Q, k, V, D_OUT)),
    not_finite("attention_backward", attention_backward, "v", (5, 6), lambda v: (Q, K, v, D_OUT)),
    not_finite("attention_backward", attention_backward, "d_out", (3, 6), lambda d: (Q, K, V, d)),
    row(
        lambda: attention_backward(Q, K, V, np.ones((6, 3))),
        Raises(ValueError, "d_out", "(3, 6)", "(6, 3)"),
        "attention_backward-d_out-transposed",
    ),
    row(
        lambda: attention_backward(Q, K, V, np.ones(6)),
        Raises(ValueError, "d_out", "(..., n_q, d_v)", "(6,)"),
        "attention_backward-d_out-1d",
    ),
    row(
        lambda: attention_backward(Q, np.ones((5, 7)), V, D_OUT),
        Raises(ValueError, "k", "share d_k", "(5, 7)"),
        "attention_backward-d_k",
    ),
    row(
        lambda: attention_backward(Q, K, np.ones((4, 6)), D_OUT),
        Raises(ValueError, "v", "share n_k", "(4, 6)"),
        "attention_backward-n_k",
    ),
    row(
        lambda: attention_backward(Q, K, V, D_OUT, np.ones((3, 5))),
        Raises(TypeError, "mask", "boolean", "float64"),
        "attention_backward-mask-float",
    ),
    row(
        lambda: attention_backward(Q, K, V, D_OUT, causal="yes"),
        Raises(TypeError, "causal", "True or False", "str"),
        "attention_backward-causal",
    ),
    row(
        lambda: attention_backward(Q, K, V, D_OUT, scale=np.nan),
        Raises(ValueError, "scale", "finite", "nan"),
        "attention_backward-scale",
    ),
    row(
        # equal weights 1/5: dv = P.T @ d_out hands each value a fifth of the three queries' ones
        lambda: attention_backward(Q, K, V, D_OUT)[2],
        Returns(np.full((5, 6), 3 / 5)),
        "attention_backward-hand-value",
    ),
    row(
        lambda: attention_backward(Q, K, np.ones((2, 5, 6)), D_OUT),
        Raises(ValueError, "d_out", "(..., n_q, d_v) = (2, 3, 6)", "(3, 6)"),
        "attention_backward-d_out-without-the-batch-axis-of-v",
    ),
    row(
        # equal weights; dP = d_out @ v.T = 6 * 1e200 * 1e200 overflows
        lambda: attention_backward(Q, K, np.full((5, 6), 1e200), np.full((3, 6), 1e200)),
        Raises(
            ValueError, "d_out", "attention_backward overflowed float64", "|v| up to 1e+200 and |d_out| up to 1e+200"
        ),
        "attention_backward-overflow",
    ),
    # split_heads(x, n_heads) and merge_heads(x)
    not_finite("split_heads", split_heads, "x", (5, 8), lambda x: (x, 2)),
    not_finite("merge_heads", merge_heads, "x", (2, 5, 4), lambda x: (x,)),
    row(lambda: split_heads(np.ones(8), 2), Raises(ValueError, "x", "(..., n, d_model)", "(8,)"), "split_heads-x-1d"),
    row(lambda: split_heads(X, 0), Raises(ValueError, "n_heads", "positive int", "got 0"), "split_heads-n_heads-0"),
    row(
        lambda: split_heads(X, 2.0), Raises(TypeError, "n_heads", "positive int", "float"), "split_heads-n_heads-float"
    ),
    row(
        lambda: split_heads(np.ones((5, 12)), 24),  # more heads than features
        Raises(ValueError, "n_heads", "d_model must be divisible by n_heads", "got d_model=12 and n_heads=24"),
        "split_heads-not-divisible",
    ),
    row(
        lambda: merge_heads(np.ones((5, 8))),
        Raises(ValueError, "x", "(..., n_heads, n, d_head)", "(5, 8)"),
        "merge_heads-2d",
    ),
    # MultiHeadAttention(...): the constructor
    not_finite("MultiHeadAttention", lambda w: mha(w_q=w), "w_q", (8, 8), lambda w: (w,)),
    not_finite("MultiHeadAttention", lambda b: mha(b_v=b), "b_v", (8,), lambda b: (b,)),
    row(lambda: mha(w_k=np.eye(6)), Raises(ValueError, "w_k", "(8, 8)", "(6, 6)"), "MultiHeadAttention-w_k-shape"),
    row(
        lambda: mha(w_o=np.ones((8, 6))), Raises(ValueError, "w_o", "(8, 8)", "(8, 6)"), "MultiHeadAttention-w_o-shape"
    ),
    row(
        lambda: mha(w_q=np.ones((8, 6))),
        Raises(ValueError, "w_q", "(8, 8)", "(8, 6)"),
        "MultiHeadAttention-w_q-not-square",
    ),
    row(
        lambda: mha(w_v=np.ones(8)),
        Raises(ValueError, "w_v", "(d_model, d_model)", "(8,)"),
        "MultiHeadAttention-w_v-1d",
    ),
    row(lambda: mha(b_o=np.zeros(6)), Raises(ValueError, "b_o", "(8,)", "(6,)"), "MultiHeadAttention-b_o-shape"),
    row(
        lambda: mha(b_q=np.zeros((1, 8))),
        Raises(ValueError, "b_q", "(d_model,)", "(1, 8)"),
        "MultiHeadAttention-b_q-2d",
    ),
    row(
        lambda: mha(b_k=np.zeros((5, 8))),
        Raises(ValueError, "b_k", "(d_model,)", "(5, 8)"),
        "MultiHeadAttention-b_k-per-token",
    ),
    row(
        lambda: mha(n_heads="2"), Raises(TypeError, "n_heads", "positive int", "str"), "MultiHeadAttention-n_heads-str"
    ),
    row(lambda: mha(n_heads=0), Raises(ValueError, "n_heads", "positive int", "got 0"), "MultiHeadAttention-n_heads-0"),
    row(
        lambda: mha(n_heads=3),
        Raises(ValueError, "n_heads", "d_model must be divisible by n_heads", "got d_model=8 and n_heads=3"),
        "MultiHeadAttention-not-divisible",
    ),
    row(
        lambda: MultiHeadAttention(2, EYE8, EYE8, EYE8, EYE8),
        Raises(TypeError, "MultiHeadAttention", "positional argument", "were given"),
        "MultiHeadAttention-positional",
    ),
    row(
        lambda: mha(w_o=None),
        Raises(TypeError, "w_o", "real numeric array", "dtype object"),
        "MultiHeadAttention-w_o-None",
    ),
    # MultiHeadAttention.init(d_model, n_heads, rng, bias)
    row(
        lambda: MultiHeadAttention.init(0, 1),
        Raises(ValueError, "d_model", "positive int", "0"),
        "MultiHeadAttention.init-d_model-0",
    ),
    row(
        lambda: MultiHeadAttention.init(8.0, 2),
        Raises(TypeError, "d_model", "positive int", "float"),
        "MultiHeadAttention.init-d_model-f",
    ),
    row(
        lambda: MultiHeadAttention.init(8, 0),
        Raises(ValueError, "n_heads", "positive int", "0"),
        "MultiHeadAttention.init-n_heads-0",
    ),
    row(
        lambda: MultiHeadAttention.init(6, 12),
        Raises(ValueError, "n_heads", "d_model must be divisible by n_heads", "got d_model=6 and n_heads=12"),
        "MultiHeadAttention.init-divisible",
    ),
    row(
        lambda: MultiHeadAttention.init(8, 2, rng=1.5),
        Raises(TypeError, "rng", "seed", "float 1.5"),
        "MultiHeadAttention.init-rng-float",
    ),
    row(
        lambda: MultiHeadAttention.init(8, 2, rng=-1),
        Raises(ValueError, "rng", "must be None, a non-negative int seed or a numpy.random.Generator; got", "-1"),
        "MultiHeadAttention.init-rng-neg",
    ),
    row(
        lambda: MultiHeadAttention.init(8, 2, rng="a"),
        Raises(TypeError, "rng", "Generator", "str 'a'"),
        "MultiHeadAttention.init-rng-str",
    ),
    row(
        lambda: MultiHeadAttention.init(8, 2, bias="no"),
        Raises(TypeError, "bias", "True or False", "str"),
        "MultiHeadAttention.init-bias",
    ),
    row(
        lambda: MultiHeadAttention.init(2, 1, rng=np.uint8(7)).n_heads,
        Returns(1, int),
        "MultiHeadAttention.init-rng-numpy-int",
    ),
    # MultiHeadAttention.__call__(x, context, mask, causal, return_weights)
    not_finite("MultiHeadAttention.__call__", MHA, "x", (5, 8), lambda x: (x,)),
    not_finite("MultiHeadAttention.__call__", lambda c: MHA(X, c), "context", (7, 8), lambda c: (c,)),
    row(lambda: MHA(np.ones((5, 6))), Raises(ValueError, "x", "d_model=8", "(5, 6)"), "MultiHeadAttention-x-d_model"),
    row(
        lambda: MHA(X, np.ones((7, 6))),
        Raises(ValueError, "context", "d_model=8", "(7, 6)"),
        "MultiHeadAttention-context-d_model",
    ),
    row(lambda: MHA(np.ones(8)), Raises(ValueError, "x", "(..., n_q, d_model)", "(8,)"), "MultiHeadAttention-x-1d"),
    row(
        lambda: MHA(X, np.ones(8)),
        Raises(ValueError, "context", "(..., n_k, d_model)", "(8,)"),
        "MultiHeadAttention-context-1d",
    ),
    row(
        lambda: MHA(np.ones((2, 5, 8)), np.ones((3, 7, 8))),
        Raises(ValueError, "context", "broadcastable batch axes", "x (2, 5, 8) and context (3, 7, 8)"),
        "MultiHeadAttention-batch",
    ),
    row(
        lambda: MHA(X, mask=np.ones((5, 5))),
        Raises(TypeError, "mask", "boolean", "float64"),
        "MultiHeadAttention-mask-float",
    ),
    row(
        lambda: MHA(X, np.ones((7, 8)), mask=np.ones((5, 4), bool)),  # n_k is the context's
        Raises(ValueError, "mask", "must broadcast to (..., n_heads, n_q, n_k) = (2, 5, 7)", "got shape (5, 4)"),
        "MultiHeadAttention-mask-shape",
    ),
    row(
        lambda: MHA(np.ones((2, 5, 8)), mask=padding_mask([5, 3], 5)),
        Raises(ValueError, "mask", "n_heads", "(2, 1, 5)"),
        "MultiHeadAttention-padding-mask-without-head-axis",
    ),
    row(  # a mask of shape (n_k,) applies to every query, head and batch item
        lambda: MHA(X, mask=np.ones(5, bool)) - MHA(X),
        Returns(np.zeros((5, 8))),
        "MultiHeadAttention-mask-1d",
    ),
    row(lambda: MHA(X, causal="yes"), Raises(TypeError, "causal", "True or False", "str"), "MultiHeadAttention-causal"),
    row(
        lambda: MHA(X, return_weights="yes"),
        Raises(TypeError, "return_weights", "True or False", "str"),
        "MultiHeadAttention-return_weights",
    ),
    row(
        lambda: MHA(np.full((2, 8), 1e200), np.full((3, 8), 1e200)),
        Raises(ValueError, "context", "overflowed float64", "|x| up to 1e+200 and |context| up to 1e+200"),
        "MultiHeadAttention-scores-overflow",
    ),
    row(
        lambda: mha(w_o=np.full((8, 8), 1e308))(X),
        Raises(ValueError, "x", "MultiHeadAttention overflowed float64", "|x| up to 0.975: rescale x"),
        "MultiHeadAttention-output-overflow",
    ),
    row(lambda: mha()(X, mask=np.eye(5, dtype=bool)), Returns(X), "MultiHeadAttention-identity-eye-mask"),
    row(
        lambda: mha()(X[None], mask=np.ones((1, 2, 5, 5), bool)).shape,
        Returns((1, 5, 8), int),
        "MultiHeadAttention-mask-head-axis",
    ),
    # MultiHeadAttention.backward(x, d_out, mask, causal)
    not_finite("MultiHeadAttention.backward", MHA.backward, "x", (5, 8), lambda x: (x, np.ones((5, 8)))),
    not_finite("MultiHeadAttention.backward", MHA.backward, "d_out", (5, 8), lambda d: (X, d)),
    row(
        lambda: MHA.backward(X, np.ones((4, 8))),
        Raises(ValueError, "d_out", "that of x (5, 8)", "(4, 8)"),
        "MultiHeadAttention.backward-d_out-shape",
    ),
    row(
        lambda: MHA.backward(np.ones(8), np.ones(8)),
        Raises(ValueError, "x", "(..., n, d_model)", "(8,)"),
        "MultiHeadAttention.backward-x-1d",
    ),
    row(
        lambda: MHA.backward(X, np.ones(8)),
        Raises(ValueError, "d_out", "(..., n, d_model)", "(8,)"),
        "MultiHeadAttention.backward-d_out-1d",
    ),
    row(
        lambda: MHA.backward(X, np.ones((5, 8)), np.ones((5, 5))),
        Raises(TypeError, "mask", "boolean", "float64"),
        "MultiHeadAttention.backward-mask",
    ),
    row(
        lambda: MHA.backward(X, np.ones((5, 8)), causal=1),
        Raises(TypeError, "causal", "True or False", "int 1"),
        "MultiHeadAttention.backward-causal",
    ),
    row(
        lambda: MHA.backward(np.ones((2, 5, 8)), np.ones((2, 5, 8)), padding_mask([5, 3], 5)),
        Raises(ValueError, "mask", "n_heads", "(2, 1, 5)"),
        "MultiHeadAttention.backward-padding-mask-without-head-axis",
    ),
    row(
        lambda: MHA.backward(X, np.zeros((5, 8)))[1].w_q,  # no loss, no gradient
        Returns(np.zeros((8, 8))),
        "MultiHeadAttention.backward-zero-d_out",
    ),
    row(
        # identity weights: the scores x . x / 2 of 1e200-sized tokens overflow; the message names x, not q and k
        lambda: mha().backward(np.full((5, 8), 1e200), np.ones((5, 8))),
        Raises(
            ValueError, "x", "MultiHeadAttention.backward overflowed float64", "|x| up to 1e+200 and |d_out| up to 1"
        ),
        "MultiHeadAttention.backward-overflow",
    ),
    row(
        lambda: mha().backward(X, np.full((5, 8), 1.7e308)),
        Raises(ValueError, "d_out", "MultiHeadAttention.backward overflowed float64", "|d_out| up to 1.7e+308"),
        "MultiHeadAttention.backward-gradients-overflow",
    ),
    # layer_norm(x, weight, bias, eps)
    not_finite("layer_norm", layer_norm, "x", (5, 8), lambda x: (x, ONES8, ZEROS8)),
    not_finite("layer_norm", layer_norm, "weight", (8,), lambda w: (X, w, ZEROS8)),
    not_finite("layer_norm", layer_norm, "bias", (8,), lambda b: (X, ONES8, b)),
    row(lambda: layer_norm(3.0, ONES8, ZEROS8), Raises(ValueError, "x", "(..., d)", "()"), "layer_norm-x-scalar"),
    row(lambda: layer_norm(X, np.ones(7), ZEROS8), Raises(ValueError, "weight", "(8,)", "(7,)"), "layer_norm-weight"),
    row(
        lambda: layer_norm(X, ONES8, np.zeros((5, 8))),
        Raises(ValueError, "bias", "(d,)", "(5, 8)"),
        "layer_norm-bias-2d",
    ),
    row(
        lambda: layer_norm(X, ONES8, ZEROS8, eps=0), Raises(ValueError, "eps", "positive", "got 0"), "layer_norm-eps-0"
    ),
    row(
        lambda: layer_norm(X, ONES8, ZEROS8, eps=np.inf),
        Raises(ValueError, "eps", "finite", "inf"),
        "layer_norm-eps-inf",
    ),
    row(
        lambda: layer_norm(X, ONES8, ZEROS8, eps="1e-5"),
        Raises(TypeError, "eps", "positive number", "str"),
        "layer_norm-eps-s",
    ),
    row(lambda: layer_norm([[1, 3]], [1, 1], [0, 0], eps=1e-300), Returns([[-1.0, 1.0]]), "layer_norm-ints"),
    row(
        lambda: layer_norm(X, ONES8, ZEROS8, eps=10**400),
        Raises(ValueError, "eps", "positive, finite", "an int of 401 digits"),
        "layer_norm-eps-huge-int",
    ),
    row(
        lambda: layer_norm(np.float32(X), ONES8, ZEROS8, eps=1e-50),
        Raises(ValueError, "eps", "positive range of float32", "1e-50"),
        "layer_norm-eps-below-float32",
    ),
    row(
        lambda: layer_norm(np.float32(X), ONES8, ZEROS8, eps=1e39),
        Raises(ValueError, "eps", "positive range of float32", "1e+39"),
        "layer_norm-eps-above-float32",
    ),
    # the ends of float32's positive range are accepted: a constant vector gives its bias, 0
    *(
        row(
            lambda eps=eps: layer_norm(np.ones((2, 8), np.float32), ONES8, ZEROS8, eps=eps),
            Returns(np.zeros((2, 8))),
            f"layer_norm-eps-{end}-of-float32",
        )
        for end, eps in (
            ("bottom", float(np.finfo(np.float32).smallest_subnormal)),
            ("top", float(np.finfo(np.float32).max)),
        )
    ),
    # the squares overflow
    row(
        lambda: layer_norm([[3e200, -3e200]], [1, 1], [0, 0]),
        Raises(ValueError, "x", "layer_norm overflowed float64", "|x| up to 3e+200"),
        "layer_norm-x-huge",
    ),
    row(lambda: layer_norm([[1e300, 1e300]], [1, 1], [0, 0]), Returns([[0.0, 0.0]]), "layer_norm-x-huge-constant"),
    row(
        lambda: layer_norm(np.float16([[300, -300]]), np.float16([1, 1]), np.float16([0, 0])),
        Returns([[1, -1]], np.float16),
        "layer_norm-float16-squares-beyond-float16",
    ),
    row(
        lambda: layer_norm([[1.0, -1.0]], [1e308, 1e308], [1e308, 1e308]),
        Raises(ValueError, "weight", "layer_norm overflowed float64", "|weight| up to 1e+308 and |bias| up to 1e+308"),
        "layer_norm-output-overflows",
    ),
    # TransformerBlock(...), TransformerBlock.init, the block and its backward
    row(
        lambda: dataclasses.replace(BLOCK, attn="attention"),
        Raises(TypeError, "attn", "MultiHeadAttention", "str"),
        "TransformerBlock-attn-str",
    ),
    row(
        lambda: dataclasses.replace(BLOCK, w_1=np.ones((7, 16))),
        Raises(ValueError, "w_1", "(8, 16)", "(7, 16)"),
        "TransformerBlock-w_1-shape",
    ),
    row(
        lambda: dataclasses.replace(BLOCK, b_1=np.ones(15)),
        Raises(ValueError, "b_1", "(16,)", "(15,)"),
        "TransformerBlock-b_1-shape",
    ),
    row(
        lambda: dataclasses.replace(BLOCK, w_2=np.ones((16, 7))),
        Raises(ValueError, "w_2", "(16, 8)", "(16, 7)"),
        "TransformerBlock-w_2-shape",
    ),
    row(
        lambda: dataclasses.replace(BLOCK, ln1_w=np.full(8, np.nan)),
        Raises(ValueError, "ln1_w", "finite", "nan"),
        "TransformerBlock-ln1_w-nan",
    ),
    row(
        lambda: dataclasses.replace(BLOCK, ln2_b=np.ones(8, complex)),
        Raises(TypeError, "ln2_b", "real numeric", "complex128"),
        "TransformerBlock-ln2_b-complex",
    ),
    row(
        lambda: TransformerBlock(BLOCK.attn),
        Raises(TypeError, "TransformerBlock", "positional argument", "were given"),
        "TransformerBlock-positional",
    ),
    *(
        row(
            lambda a=a: TransformerBlock.init(*a),
            Raises(ValueError, name, "positive int", "0"),
            f"TransformerBlock.init-{name}",
        )
        for name, a in [("d_model", (0, 2, 16)), ("n_heads", (8, 0, 16)), ("d_ff", (8, 2, 0))]
    ),
    row(
        lambda: TransformerBlock.init(8, 2, 16.0),
        Raises(TypeError, "d_ff", "positive int", "float"),
        "TransformerBlock.init-d_ff-float",
    ),
    row(
        lambda: TransformerBlock.init(8, 3, 16),
        Raises(ValueError, "n_heads", "divisible", "n_heads=3"),
        "TransformerBlock.init-not-divisible",
    ),
    row(
        lambda: TransformerBlock.init(8, 2, 16, rng="seed"),
        Raises(TypeError, "rng", "Generator", "str"),
        "TransformerBlock.init-rng",
    ),
    row(  # the width is attn's: the layer norms and the MLP must follow it
        lambda: dataclasses.replace(BLOCK, attn=MultiHeadAttention.init(6, 2, rng=0)),
        Raises(ValueError, "ln1_w", "d_model=6", "(8,)"),
        "TransformerBlock-attn-d_model",
    ),
    not_finite("TransformerBlock.__call__", BLOCK, "x", (5, 8), lambda x: (x,)),
    row(lambda: BLOCK(np.ones((5, 6))), Raises(ValueError, "x", "d_model=8", "(5, 6)"), "TransformerBlock-x-d_model"),
    row(lambda: BLOCK(np.ones(8)), Raises(ValueError, "x", "(..., n, d_model)", "(8,)"), "TransformerBlock-x-1d"),
    row(lambda: BLOCK(X, np.ones((5, 5))), Raises(TypeError, "mask", "boolean", "float64"), "TransformerBlock-mask"),
    row(
        lambda: BLOCK(np.ones((2, 5, 8)), padding_mask([5, 3], 5)),
        Raises(ValueError, "mask", "n_heads", "(2, 1, 5)"),
        "TransformerBlock-padding-mask-without-head-axis",
    ),
    row(lambda: BLOCK(X, causal="yes"), Raises(TypeError, "causal", "True or False", "str"), "TransformerBlock-causal"),
    not_finite("TransformerBlock.backward", BLOCK.backward, "x", (5, 8), lambda x: (x, np.ones((5, 8)))),
    not_finite("TransformerBlock.backward", BLOCK.backward, "d_out", (5, 8), lambda d: (X, d)),
    row(
        lambda: BLOCK.backward(X, np.ones((4, 8))),
        Raises(ValueError, "d_out", "that of x (5, 8)", "(4, 8)"),
        "TransformerBlock.backward-d_out-shape",
    ),
    row(
        lambda: BLOCK.backward(np.ones(8), np.ones(8)),
        Raises(ValueError, "x", "(..., n, d_model)", "(8,)"),
        "TransformerBlock.backward-x-1d",
    ),
    row(lambda: BLOCK.backward(X, np.zeros((5, 8)))[0], Returns(np.zeros((5, 8))), "TransformerBlock.backward-zero"),
    # the squares of the layer norms overflow
    row(
        lambda: BLOCK(X * 1e300),
        Raises(ValueError, "x", "TransformerBlock overflowed float64", "|x| up to 9.75e+299"),
        "TransformerBlock-x-huge",
    ),
    row(
        lambda: BLOCK.backward(X * 1e300, np.ones((5, 8))),
        Raises(ValueError, "x", "TransformerBlock.backward overflowed float64", "|x| up to 9.75e+299"),
        "TransformerBlock.backward-huge",
    ),
    row(
        lambda: BLOCK.backward(X, np.full((5, 8), 1.7e308)),
        Raises(ValueError, "d_out", "TransformerBlock.backward overflowed float64", "|d_out| up to 1.7e+308"),
        "TransformerBlock.backward-overflow",
    ),
    # rotary_embedding(x, positions, base)
    not_finite("rotary_embedding", rotary_embedding, "x", (5, 4), lambda x: (x,)),
    row(lambda: rotary_embedding(np.ones((5, 3))), Raises(ValueError, "x", "even", "(5, 3)"), "rotary_embedding-odd-d"),
    row(lambda: rotary_embedding(np.ones(4)), Raises(ValueError, "x", "(..., n, d)", "(4,)"), "rotary_embedding-x-1d"),
    row(
        lambda: rotary_embedding(np.ones((5, 4)), np.arange(4)),
        Raises(ValueError, "positions", "(5,)", "(4,)"),
        "rotary_embedding-positions-length",
    ),
    row(
        lambda: rotary_embedding(np.ones((5, 4)), np.ones((3, 5))),
        Raises(ValueError, "positions", "one axis for each of x's leading axes", "(3, 5)"),
        "rotary_embedding-positions-batch",
    ),
    row(
        lambda: rotary_embedding(np.ones((5, 4)), ["a"] * 5),
        Raises(TypeError, "positions", "real numeric array", "<U1"),
        "rotary_embedding-positions-str",
    ),
    row(
        lambda: rotary_embedding(np.ones((5, 4)), 3.0),
        Raises(ValueError, "positions", "(..., n)", "()"),
        "rotary_embedding-positions-scalar",
    ),
    row(
        lambda: rotary_embedding(np.ones((5, 4)), [0, 1, 2, np.nan, 4]),
        Raises(ValueError, "positions", "finite", "nan"),
        "rotary_embedding-positions-nan",
    ),
    row(
        lambda: rotary_embedding(np.ones((5, 4)), base=0),
        Raises(ValueError, "base", "positive", "0"),
        "rotary_embedding-base-0",
    ),
    row(
        lambda: rotary_embedding(np.ones((5, 4)), base=np.inf),
        Raises(ValueError, "base", "finite", "inf"),
        "rotary_embedding-b-inf",
    ),
    row(
        lambda: rotary_embedding(np.ones((5, 4)), base="1e4"),
        Raises(TypeError, "base", "number", "str"),
        "rotary_embedding-base-s",
    ),
    # d = 2: one pair, turned by its position in radians, pi / 2 here
    row(
        lambda: rotary_embedding([[1, 0]], np.array([np.pi / 2])),
        Returns([[np.cos(np.pi / 2), 1.0]]),
        "rotary_embedding-float-position",
    ),
    row(
        lambda: rotary_embedding([[1, 0]], np.array([1], np.uint8)),
        Returns([[np.cos(1), np.sin(1)]]),
        "rotary_embedding-uint8-position",
    ),
    # long doubles are rotated in long double: 1e400 is finite there
    row(
        lambda: rotary_embedding(np.array([[1, 0]], np.longdouble) * np.longdouble(10) ** 400, [0])[0, 0] / 10**300,
        Returns(np.longdouble(10) ** 100, np.longdouble),
        "rotary_embedding-long-double",
    ),
    row(
        lambda: rotary_embedding(np.ones((5, 4)), [[0, 1, 2, 3, 4], [0, 1]]),
        Raises(ValueError, "positions", "rectangular", "ragged"),
        "rotary_embedding-positions-ragged",
    ),
    row(
        lambda: rotary_embedding(np.ones((5, 4)), base=10**400),
        Raises(ValueError, "base", "positive, finite", "an int of 401 digits"),
        "rotary_embedding-base-huge-int",
    ),
    # turned by 1 radian: (6e4 cos 1 - 6e4 sin 1, 6e4 sin 1 + 6e4 cos 1) = (-1.8e4, 8.3e4), beyond float16's 65504
    row(
        lambda: rotary_embedding(np.full((2, 2), 6e4, np.float16)),
        Raises(ValueError, "x", "rotary_embedding overflowed float16", "|x| up to 6e+04"),
        "rotary_embedding-float16-overflow",
    ),
    row(lambda: rotary_embedding([[1.7e308, 0.0]]), Returns([[1.7e308, 0.0]]), "rotary_embedding-x-largest"),
    # pair 1 of d = 4 turns by base**(-1/2) = 1e150 radians per position: 1e300 * 1e150 overflows
    row(
        lambda: rotary_embedding(np.ones((2, 4)), [0, 1e300], base=1e-300),
        Raises(
            ValueError,
            "base",
            "rotary_embedding overflowed float64",
            "|positions| up to 1e+300 and |base| up to 1e-300",
        ),
        "rotary_embedding-angles-overflow",
    ),
    # the last pair of d = 100 turns by (5e-324)**(-98/100) = inf radians per position; at position 0, 0 * inf
    row(
        lambda: rotary_embedding(np.array([[1, 0]], np.float32)),
        Returns([[1, 0]], np.float32),
        "rotary_embedding-float32",
    ),
    # flash_attention(q, k, v, mask, causal, scale, block_size, workers)
    not_finite("flash_attention", flash_attention, "q", (3, 4), lambda q: (q, K, V)),
    not_finite("flash_attention", flash_attention, "k", (5, 4), lambda k: (Q, k, V)),
    not_finite("flash_attention", flash_attention, "v", (5, 6), lambda v: (Q, K, v)),
    row(
        lambda: flash_attention(Q, np.ones((5, 7)), V),
        Raises(ValueError, "k", "share d_k", "(5, 7)"),
        "flash_attention-d_k",
    ),
    row(
        lambda: flash_attention(Q, K, np.ones((4, 6))),
        Raises(ValueError, "v", "share n_k", "(4, 6)"),
        "flash_attention-n_k",
    ),
    row(
        lambda: flash_attention(Q, K, V, np.ones((3, 5))),
        Raises(TypeError, "mask", "boolean", "float64"),
        "flash_attention-mask",
    ),
    row(
        lambda: flash_attention(Q, K, V, causal="no"),
        Raises(TypeError, "causal", "True or False", "str"),
        "flash_attention-causal",
    ),
    row(
        lambda: flash_attention(Q, K, V, scale="1"),
        Raises(TypeError, "scale", "real number", "str"),
        "flash_attention-scale",
    ),
    row(
        lambda: flash_attention(Q, K, V, block_size=0),
        Raises(ValueError, "block_size", "positive int", "0"),
        "flash_attention-bs-0",
    ),
    row(
        lambda: flash_attention(Q, K, V, block_size=2.0),
        Raises(TypeError, "block_size", "positive int", "float 2.0"),
        "flash_attention-block_size-float",
    ),
    row(
        lambda: flash_attention(Q, K, V, block_size=(1, 2, 3)),
        Raises(ValueError, "block_size", "a pair (block_q, block_k)", "(1, 2, 3)"),
        "flash_attention-block_size-triple",
    ),
    row(
        lambda: flash_attention(Q, K, V, block_size=(2, 0)),
        Raises(ValueError, "block_size[1]", "positive int", "got 0"),
        "flash_attention-block_size-pair",
    ),
    row(
        lambda: flash_attention(Q, K, V, block_size=(0, 2)),
        Raises(ValueError, "block_size[0]", "positive int", "got 0"),
        "flash_attention-block_size-first",
    ),
    row(
        lambda: flash_attention(Q, K, V, workers=0),
        Raises(ValueError, "workers", "positive int", "0"),
        "flash_attention-workers-0",
    ),
    row(
        lambda: flash_attention(Q, K, V, workers=None),
        Raises(TypeError, "workers", "positive int", "None"),
        "flash_attention-w-N",
    ),
    row(
        lambda: flash_attention(Q, K, V, block_size=(2, 3), workers=2),
        Returns(np.ones((3, 6))),
        "flash_attention-tiles",
    ),
    row(
        lambda: flash_attention([[1.0]], [[1e308], [-1e308]], [[1.0], [2.0]], scale=1),
        Returns([[1.0]]),
        "flash_attention-scores-of-large-spread",
    ),
    row(
        lambda: flash_attention(
            np.full((1, 64), 40, np.float16), np.full((2, 64), 40, np.float16), np.ones((2, 3), np.float16)
        ),
        Returns(np.ones((1, 3)), np.float16),
        "flash_attention-float16-scaled-before-the-product",
    ),
    row(
        lambda: flash_attention(np.full((2, 2), 1e200), np.full((3, 2), 1e200), np.ones((3, 2))),
        Raises(ValueError, "q", "overflowed float64", "1e+200"),
        "flash_attention-scores-overflow",
    ),
    row(  # scores that overflow to -inf must not read as hidden keys (which would give zeros)
        lambda: flash_attention(np.full((2, 2), 1e200), np.full((3, 2), -1e200), np.ones((3, 2))),
        Raises(ValueError, "q", "overflowed float64", "1e+200"),
        "flash_attention-scores-overflow-negative",
    ),
    row(
        lambda: flash_attention(Q, K, V, np.zeros((3, 5), bool)),
        Returns(np.zeros((3, 6))),
        "flash_attention-fully-masked",
    ),
    # equal weights: the output is the mean of the values, although their sum is beyond float16 (or float64)
    row(
        lambda: flash_attention(
            np.ones((1, 4), np.float16), np.ones((2, 4), np.float16), np.full((2, 3), 6e4, np.float16), block_size=1
        ),
        Returns(np.full((1, 3), 6e4), np.float16),
        "flash_attention-float16-sum-of-values-beyond-float16",
    ),
    row(
        lambda: flash_attention(np.ones((1, 4)), np.ones((3, 4)), [[1.7e308], [-1.7e308], [1.7e308]], block_size=2),
        Returns([[1.7e308 / 3]]),
        "flash_attention-values-largest",
    ),
    row(lambda: flash_attention(Q, K, V, workers=10**6), Returns(np.ones((3, 6))), "flash_attention-workers-many"),
    row(
        lambda: flash_attention(np.ones((1, 4)), np.ones((3, 4)), [[-1.7e308], [-1.7e308], [1.0]], block_size=2),
        Returns([[-1.7e308 / 3 * 2 + 1 / 3]]),
        "flash_attention-values-largest-negative",
    ),
    # the batch axes of the output come from whichever input has them: here k alone, then v alone
    row(lambda: flash_attention(Q, np.ones((2, 5, 4)), V), Returns(np.ones((2, 3, 6))), "flash_attention-batch-of-k"),
    row(lambda: flash_attention(Q, K, np.ones((2, 5, 6))), Returns(np.ones((2, 3, 6))), "flash_attention-batch-of-v"),
]

# GPT(...), GPT.init, the model, its loss and gradients, generate: vocab = 7, n_ctx = 6, d_model = 8
MODEL = GPT.init(vocab=7, n_ctx=6, d_model=8, n_heads=2, n_layers=1, rng=0)
TOKENS = np.array([1, 2, 3])
CASES += [
    row(
        lambda: dataclasses.replace(MODEL, wte=np.ones((7, 5))),
        Raises(ValueError, "wte", "(vocab, d_model) = (7, 8) (vocab=7, d_model=8,", "got shape (7, 5)"),
        "GPT-wte",
    ),
    row(
        lambda: dataclasses.replace(MODEL, wte=np.ones(7)),
        Raises(ValueError, "wte", "must have shape (vocab, d_model);", "got shape (7,)"),
        "GPT-wte-1d",
    ),
    row(
        lambda: dataclasses.replace(MODEL, wte=np.full((7, 8), np.nan)),
        Raises(ValueError, "wte", "must be finite", "nan at index (0, 0)"),
        "GPT-wte-nan",
    ),
    row(
        lambda: dataclasses.replace(MODEL, wpe=np.ones((6, 5))),
        Raises(ValueError, "wpe", "(n_ctx, d_model) = (6, 8)", "got shape (6, 5)"),
        "GPT-wpe",
    ),
    row(
        lambda: dataclasses.replace(MODEL, ln_f_b=np.ones(7)),
        Raises(ValueError, "ln_f_b", "(d_model,) = (8,)", "got shape (7,)"),
        "GPT-ln_f_b",
    ),
    *(
        row(
            lambda blocks=blocks: dataclasses.replace(MODEL, blocks=blocks),
            Raises(TypeError, "blocks", "must be a non-empty tuple of TransformerBlock", f"got {blocks!r}"),
            f"GPT-blocks-{kind}",
        )
        for kind, blocks in (("empty", ()), ("str", "blocks"), ("ints", (1, 2)))
    ),
    row(
        lambda: dataclasses.replace(MODEL, blocks=MODEL.blocks[0]),
        Raises(TypeError, "blocks", "tuple of TransformerBlock", "TransformerBlock("),
        "GPT-blocks-one-block",
    ),
    row(
        lambda: dataclasses.replace(MODEL, blocks=(BLOCK, TransformerBlock.init(6, 2, 4))),
        Raises(ValueError, "blocks[1]", "d_model=8", "d_model=6"),
        "GPT-blocks-d_model",
    ),
    row(
        lambda: GPT.init(7, 6, 8, 3, 1, rng=0),
        Raises(ValueError, "n_heads", "divisible", "n_heads=3"),
        "GPT.init-heads",
    ),
    *(
        row(
            lambda a=a: GPT.init(*a[:5], d_ff=a[5], rng=0),
            Raises(ValueError, name, "positive int", "0"),
            f"GPT.init-{name}",
        )
        for name, a in [
            ("vocab", (0, 6, 8, 2, 1, 32)),
            ("n_ctx", (7, 0, 8, 2, 1, 32)),
            ("d_model", (7, 6, 0, 2, 1, 32)),
            ("n_heads", (7, 6, 8, 0, 1, 32)),
            ("n_layers", (7, 6, 8, 2, 0, 32)),
            ("d_ff", (7, 6, 8, 2, 1, 0)),
        ]
    ),
    row(lambda: GPT.init(7, 6, 8, 2, 1, rng=-1), Raises(ValueError, "rng", "non-negative int", "-1"), "GPT.init-rng"),
    row(lambda: MODEL([1.0, 2.0]), Raises(TypeError, "tokens", "int token ids", "float64"), "GPT-tokens-float"),
    row(lambda: MODEL(TOKENS.astype(np.uint8)) - MODEL(TOKENS), Returns(np.zeros((3, 7))), "GPT-tokens-uint8"),
    row(
        lambda: MODEL([1, 7]), Raises(ValueError, "tokens", "0..vocab-1 = 0..6", "7 at index (1,)"), "GPT-tokens-vocab"
    ),
    row(lambda: MODEL([[1], [-1]]), Raises(ValueError, "tokens", "0..6", "-1 at index (1, 0)"), "GPT-tokens-negative"),
    row(lambda: MODEL(np.zeros(7, int)), Raises(ValueError, "tokens", "n <= n_ctx=6", "(7,)"), "GPT-tokens-n_ctx"),
    row(lambda: MODEL(3), Raises(ValueError, "tokens", "(..., n) with at least one token", "()"), "GPT-tokens-scalar"),
    row(
        lambda: MODEL(np.zeros((2, 0), int)), Raises(ValueError, "tokens", "at least one", "(2, 0)"), "GPT-tokens-empty"
    ),
    row(lambda: MODEL([[1, 2], [3]]), Raises(ValueError, "tokens", "rectangular", "ragged"), "GPT-tokens-ragged"),
    row(
        lambda: MODEL.loss_and_grads([[1, 2, 3]], TOKENS),
        Raises(ValueError, "targets", "the shape of tokens (1, 3)", "(3,)"),
        "GPT.loss_and_grads-targets-shape",
    ),
    row(
        lambda: MODEL.loss_and_grads([1.0, 2.0, 3.0], TOKENS),
        Raises(TypeError, "tokens", "int token ids", "float64"),
        "GPT.loss_and_grads-tokens-float",
    ),
    row(
        lambda: MODEL.generate([1.0, 2.0], 2),
        Raises(TypeError, "tokens", "int token ids", "float64"),
        "GPT.generate-tokens-float",
    ),
    row(
        lambda: MODEL.loss_and_grads(TOKENS, [2, 3, 9]),
        Raises(ValueError, "targets", "0..6", "9 at index (2,)"),
        "GPT.loss_and_grads-targets-vocab",
    ),
    row(
        lambda: MODEL.loss_and_grads(TOKENS, [2.0, 3.0, 4.0]),
        Raises(TypeError, "targets", "int token ids", "float64"),
        "GPT.loss_and_grads-targets-float",
    ),
    row(
        lambda: MODEL.generate(TOKENS, 2, temperature=-0.5),
        Raises(ValueError, "temperature", "0 (greedy) or positive", "-0.5"),
        "GPT.generate-temperature-negative",
    ),
    row(
        lambda: MODEL.generate(TOKENS, 2, temperature="hot"),
        Raises(TypeError, "temperature", "real number", "str 'hot'"),
        "GPT.generate-temperature-str",
    ),
    row(
        lambda: MODEL.generate(TOKENS, 2, temperature=float("nan")),
        Raises(ValueError, "temperature", "finite", "nan"),
        "GPT.generate-temperature-nan",
    ),
    row(
        lambda: MODEL.generate(TOKENS, 2, top_k=0),
        Raises(ValueError, "top_k", "positive int", "0"),
        "GPT.generate-top_k-0",
    ),
    row(
        lambda: MODEL.generate(TOKENS, 2, top_k=8),
        Raises(ValueError, "top_k", "1..vocab=7, or None", "8"),
        "GPT.generate-top_k-beyond-vocab",
    ),
    row(
        lambda: MODEL.generate(TOKENS, 2, top_k=7, rng=0) - MODEL.generate(TOKENS, 2, rng=0),
        Returns(np.zeros(5), np.int64),
        "GPT.generate-top_k-vocab",
    ),
    row(
        lambda: MODEL.generate(TOKENS, 2, top_k=2.0),
        Raises(TypeError, "top_k", "positive int", "float"),
        "GPT.generate-top_k-float",
    ),
    row(
        lambda: MODEL.generate(TOKENS, 0),
        Raises(ValueError, "max_new_tokens", "positive int", "0"),
        "GPT.generate-max_new_tokens-0",
    ),
    row(
        lambda: MODEL.generate(TOKENS, 4),
        Raises(ValueError, "max_new_tokens", "fit in n_ctx=6 positions", "n=3 tokens and max_new_tokens=4"),
        "GPT.generate-max_new_tokens-beyond-n_ctx",
    ),
    row(
        lambda: MODEL.generate(TOKENS, 2, rng="seed"), Raises(TypeError, "rng", "Generator", "str"), "GPT.generate-rng"
    ),
]


# The shared checks, each tested once, directly.


@pytest.mark.parametrize(
    "value, outcome",
    [
        (np.ones((3, 5), complex), Raises(TypeError, "a", "real numeric array", "complex128")),
        (np.full((3, 5), None), Raises(TypeError, "a", "real numeric array", "object")),
        (None, Raises(TypeError, "a", "real numeric array", "dtype object")),
        (np.full((3, 5), "a"), Raises(TypeError, "a", "real numeric array", "<U1")),
        (np.full((3, 5), b"a"), Raises(TypeError, "a", "real numeric array", "|S1")),
        (np.full((3, 5), DATES[0]), Raises(TypeError, "a", "real numeric array", "datetime64")),
        (np.full((3, 5), np.timedelta64(1, "s")), Raises(TypeError, "a", "real numeric array", "timedelta64")),
        (np.zeros((0, 5)), Raises(ValueError, "a", "not be empty", "(0, 5)")),
        (np.zeros((3, 0)), Raises(ValueError, "a", "not be empty", "(3, 0)")),
        (np.array([[1.0, np.nan]]), Raises(ValueError, "a", "finite", "nan at index (0, 1)")),
        (np.array([[1.0], [-np.inf]]), Raises(ValueError, "a", "finite", "-inf at index (1, 0)")),
        (RAGGED, Raises(ValueError, "a", "rectangular", "ragged")),
        (np.ones(5), Raises(ValueError, "a", "(..., n, d)", "(5,)")),
        (np.float64(3.0), Raises(ValueError, "a", "(..., n, d)", "()")),
    ],
)
def test_as_float_array_refuses(value, outcome):
    assert_refused(lambda: as_float_array(value, "a", ("...", "n", "d")), outcome)


@pytest.mark.parametrize(
    "value, dtype",
    [
        ([[1, 2]], np.float64),
        (np.array([[True, False]]), np.float64),
        (np.array([[1, 2]], np.uint8), np.float64),
        (np.array([[1, 2]], np.float16), np.float16),
        (np.array([[1, 2]], np.float32), np.float32),
        (np.array([[1, 2]], np.longdouble), np.longdouble),
        (np.ones((2, 3, 1, 2)), np.float64),  # batch axes
    ],
)
def test_as_float_array_keeps_floats_and_turns_the_rest_into_float64(value, dtype):
    arr = as_float_array(value, "a", ("...", "n", "d"))
    assert arr.dtype == dtype and np.array_equal(arr, value)


def test_as_float_array_without_batch_axes_wants_the_exact_shape():
    assert_refused(
        lambda: as_float_array(np.ones((2, 3, 4)), "w", ("d", "d")), Raises(ValueError, "w", "(d, d)", "(2, 3, 4)")
    )


@pytest.mark.parametrize(
    "value, outcome",
    [
        (0, Raises(ValueError, "n", "positive int", "got 0")),
        (-2, Raises(ValueError, "n", "positive int", "got -2")),
        (2.0, Raises(TypeError, "n", "positive int", "float 2.0")),
        ("3", Raises(TypeError, "n", "positive int", "str '3'")),
        (True, Raises(TypeError, "n", "positive int", "bool True")),
        (None, Raises(TypeError, "n", "positive int", "NoneType")),
        ([4], Raises(TypeError, "n", "positive int", "list [4]")),
    ],
)
def test_positive_int_refuses(value, outcome):
    assert_refused(lambda: positive_int(value, "n"), outcome)


@pytest.mark.parametrize(
    "value, outcome",
    [
        (1, Raises(TypeError, "causal", "True or False", "int 1")),
        ("yes", Raises(TypeError, "causal", "True or False", "str 'yes'")),
        (None, Raises(TypeError, "causal", "True or False", "NoneType")),
    ],
)
def test_flag_refuses(value, outcome):
    assert_refused(lambda: flag(value, "causal"), outcome)


@pytest.mark.parametrize(
    "value, positive, outcome",
    [
        ("1e-5", False, Raises(TypeError, "eps", "must be a real number;", "str '1e-5'")),
        (None, True, Raises(TypeError, "eps", "must be a positive number;", "NoneType None")),
        (True, False, Raises(TypeError, "eps", "a real number", "bool True")),
        (np.nan, False, Raises(ValueError, "eps", "must be finite;", "nan")),
        (np.inf, True, Raises(ValueError, "eps", "positive, finite number", "inf")),
        (0, True, Raises(ValueError, "eps", "positive, finite number", "got 0")),
        (-(10**400), True, Raises(ValueError, "eps", "positive, finite number", "an int of 401 digits")),
    ],
)
def test_real_number_refuses(value, positive, outcome):
    assert_refused(lambda: real_number(value, "eps", positive=positive), outcome)


@pytest.mark.parametrize(
    "value, outcome",
    [
        (-1, Raises(ValueError, "rng", "non-negative int seed", "got -1")),
        ("seed", Raises(TypeError, "rng", "numpy.random.Generator", "str 'seed'")),
        (1.5, Raises(TypeError, "rng", "numpy.random.Generator", "float 1.5")),
        (True, Raises(TypeError, "rng", "numpy.random.Generator", "bool True")),
    ],
)
def test_generator_refuses(value, outcome):
    assert_refused(lambda: generator(value), outcome)


@pytest.mark.parametrize(
    "value, outcome",
    [
        (1.0, Raises(TypeError, "axis", "an int", "float 1.0")),
        (None, Raises(TypeError, "axis", "an int", "NoneType")),
        (True, Raises(TypeError, "axis", "an int", "bool True")),
        (2, Raises(ValueError, "axis", "[-2, 2)", "got 2")),
        (-3, Raises(ValueError, "axis", "[-2, 2)", "got -3")),
    ],
)
def test_axis_index_refuses(value, outcome):
    assert_refused(lambda: axis_index(value, np.ones((3, 4)), "x"), outcome)


# The public functions, one row per argument and kind of mistake.


@pytest.mark.parametrize("call, outcome", CASES)
def test_bad_input(call, outcome):
    if isinstance(outcome, Returns):
        result = call()
        dtype = np.asarray(result).dtype
        assert dtype == outcome.dtype
        tolerance = 4 * np.finfo(dtype).eps if dtype.kind == "f" and dtype != np.float64 else 1e-12
        np.testing.assert_allclose(result, outcome.value, rtol=tolerance, atol=tolerance)
        return
    assert_refused(call, outcome)


def assert_refused(call, outcome):
    """``call()`` raises ``outcome.error`` from selfattn's code, with the name, the expected and the got."""
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    message = str(info.value)
    assert isinstance(info.value, outcome.error), f"{type(info.value).__name__}: {message}"
    assert re.search(rf"(?<!\w){re.escape(outcome.name)}(?!\w)", message), f"the argument is not named: {message}"
    assert outcome.expected in message, f"what was expected is not said: {message}"
    assert outcome.got in message, f"what arrived is not shown: {message}"
    raised_in = Path(info.traceback[-1].path)
    assert NUMPY not in raised_in.parents, f"raised deep inside numpy, at {raised_in}: {message}"


def test_every_public_name_has_rows():
    ids = [case.id for case in CASES]
    assert len(set(ids)) == len(ids)
    for name in selfattn.__all__:
        assert any(re.match(rf"{name}[-.]", id) for id in ids), f"no row calls {name}"


@pytest.mark.parametrize("dtype, advice", [(np.float64, False), (np.float32, True), (np.float16, True)])
def test_overflow_advises_float64_only_to_narrower_floats(dtype, advice):
    big = np.full((2, 4), np.finfo(dtype).max / 2, dtype=dtype)
    for call in (lambda: attention(big, big, big), lambda: self_attention(big), lambda: self_attention_loops(big)):
        with pytest.raises(ValueError, match=f"overflowed {np.dtype(dtype).name}") as info:
            call()
        assert ("compute in float64" in str(info.value)) == advice, str(info.value)


def test_a_number_too_long_to_show_is_counted():
    for base, shown in ((-(10**28), str(-(10**28))), (-(10**29), "an int of 30 digits")):
        with pytest.raises(ValueError) as info:
            rotary_embedding(np.ones((5, 4)), base=base)
        assert str(info.value) == f"base must be a positive, finite number; got {shown}"


def test_overflow_messages_name_the_callers_arguments_in_full():
    big = np.full((2, 4), 1e200)
    largest = "(largest finite value 1.8e+308); got"
    for self_attention_version in (self_attention, self_attention_loops):
        with pytest.raises(ValueError) as info:
            self_attention_version(big)
        name = self_attention_version.__name__
        assert str(info.value) == f"{name} overflowed float64 {largest} |x| up to 1e+200: rescale x"
    with pytest.raises(ValueError) as info:
        attention(big, big, big)
    expected = f"attention overflowed float64 {largest} |q| up to 1e+200 and |k| up to 1e+200: rescale q or k"
    assert str(info.value) == expected
    big32 = np.full((2, 4), 1e20, np.float32)
    with pytest.raises(ValueError) as info:
        attention(big32, big32, big32)
    expected = (
        "attention overflowed float32 (largest finite value 3.4e+38); "
        "got |q| up to 1e+20 and |k| up to 1e+20: rescale q or k, or compute in float64"
    )
    assert str(info.value) == expected


def test_overflow_messages_name_a_given_scale_and_every_argument_that_can_be_rescaled():
    big = np.full((2, 4), 1e200)
    largest = "(largest finite value 1.8e+308); got"
    with_scale = "|q| up to 1e+200, |k| up to 1e+200 and |scale| up to 2: rescale q, k or scale"
    for function, args in ((flash_attention, (big, big, big)), (attention_weights, (big, big))):
        with pytest.raises(ValueError) as info:
            function(*args, scale=2.0)
        assert str(info.value) == f"{function.__name__} overflowed float64 {largest} {with_scale}"
    with pytest.raises(ValueError) as info:
        attention_backward(big, big, big, big, scale=2.0)
    assert str(info.value) == (
        f"attention_backward overflowed float64 {largest} |q| up to 1e+200, |k| up to 1e+200, |v| up to 1e+200, "
        "|d_out| up to 1e+200 and |scale| up to 2: rescale q, k, v, d_out or scale"
    )


@pytest.mark.skipif(np.finfo(np.longdouble).max <= np.finfo(np.float64).max, reason="long double is float64 here")
def test_overflow_message_shows_long_doubles_beyond_float64():
    q, k = np.full((2, 4), np.longdouble("1.234e2500")), np.full((2, 4), np.longdouble("1e2500"))
    with pytest.raises(ValueError) as info:
        attention(q, k, k)
    assert str(info.value) == (
        f"attention overflowed {np.dtype(np.longdouble).name} (largest finite value 1.19e+4932); "
        "got |q| up to 1.23e+2500 and |k| up to 1e+2500: rescale q or k"
    )
