"""Properties that hold for every input, checked with hypothesis on random shapes, float32
and float64, masks and scales.

Kept small so the suite stays fast: at most 6 positions and 6 features, a few dozen
examples per property, no deadline (the machine is shared and its timings are noisy).
Values stay within [-10, 10] unless a property is about large ones.
"""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from selfattn import (
    MultiHeadAttention,
    attention,
    attention_weights,
    causal_mask,
    merge_heads,
    self_attention,
    self_attention_loops,
    softmax,
    split_heads,
)

BOUNDED = settings(max_examples=30, deadline=None)
DTYPES = st.sampled_from([np.float32, np.float64])
SIZES = st.integers(1, 6)
SCALES = st.one_of(st.none(), st.floats(-3, 3, allow_nan=False))


def tolerance(dtype):
    """How close two ways of computing the same float32 or float64 result must be."""
    return {"rtol": 1e-3, "atol": 1e-3} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-11}


def array(draw, dtype, *shape, limit=10):
    elements = st.floats(-limit, limit, allow_nan=False, width=np.finfo(dtype).bits)
    return draw(hnp.arrays(dtype, shape, elements=elements))


@st.composite
def scores(draw, limit=10):
    dtype = draw(DTYPES)
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=6))
    return array(draw, dtype, *shape, limit=limit)


@st.composite
def qkv(draw, batch=()):
    """q, k, v of one dtype, a boolean mask (or None) and a scale (or None)."""
    dtype = draw(DTYPES)
    n_q, n_k, d_k, d_v = draw(SIZES), draw(SIZES), draw(SIZES), draw(SIZES)
    q, k, v = (
        array(draw, dtype, *batch, n_q, d_k),
        array(draw, dtype, *batch, n_k, d_k),
        array(draw, dtype, *batch, n_k, d_v),
    )
    mask = draw(st.one_of(st.none(), hnp.arrays(bool, (n_q, n_k))))
    return q, k, v, mask, draw(SCALES)


# softmax


@BOUNDED
@given(scores(), st.data())
def test_softmax_rows_sum_to_one_along_any_axis(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    result = softmax(x, axis=axis)
    assert result.dtype == x.dtype and result.shape == x.shape
    assert np.all(result >= 0) and np.all(result <= 1)
    np.testing.assert_allclose(result.sum(axis=axis), 1.0, rtol=4 * np.finfo(x.dtype).eps * x.shape[axis])
    np.testing.assert_array_equal(result, np.moveaxis(softmax(np.moveaxis(x, axis, -1)), -1, axis))


@BOUNDED
@given(scores(), st.data())
def test_softmax_ignores_a_constant_added_to_each_row(x, data):
    c = data.draw(hnp.arrays(np.float64, (*x.shape[:-1], 1), elements=st.floats(-100, 100)))
    shifted = (x + c).astype(x.dtype)  # what the reader would type, rounded to x's dtype
    rounding = np.abs(shifted - c - x).max()  # the constant's own rounding error
    np.testing.assert_allclose(softmax(shifted), softmax(x), rtol=0, atol=4 * rounding + 16 * np.finfo(x.dtype).eps)


@BOUNDED
@given(scores(limit=1e4))
def test_logits_of_1e4_give_finite_weights(x):
    result = softmax(x)
    assert np.all(np.isfinite(result))
    largest = x == x.max(axis=-1, keepdims=True)
    assert np.all(result[largest] > 0)  # the largest logit of each row keeps a share


# attention_weights and attention


@BOUNDED
@given(qkv())
def test_weights_rows_sum_to_one_over_allowed_keys_and_fully_masked_rows_are_zero(args):
    q, k, v, mask, scale = args
    weights = attention_weights(q, k, mask, scale=scale)
    out = attention(q, k, v, mask, scale=scale)
    assert weights.dtype == out.dtype == q.dtype  # float32 in, float32 out
    allowed = np.ones(weights.shape, bool) if mask is None else mask
    np.testing.assert_array_equal(weights[~allowed], 0.0)
    alive = allowed.any(axis=-1)
    np.testing.assert_allclose(weights[alive].sum(axis=-1), 1.0, rtol=8 * np.finfo(q.dtype).eps * k.shape[0])
    np.testing.assert_array_equal(weights[~alive], 0.0)
    np.testing.assert_array_equal(out[~alive], 0.0)


@BOUNDED
@given(qkv(), st.data())
def test_masked_keys_values_do_not_matter(args, data):
    q, k, v, mask, scale = args
    mask = np.ones((len(q), len(k)), bool) if mask is None else mask
    hidden = ~mask.any(axis=0)  # keys that no query may attend to
    k2, v2 = k.copy(), v.copy()
    k2[hidden] = array(data.draw, q.dtype, int(hidden.sum()), k.shape[1])
    v2[hidden] = array(data.draw, q.dtype, int(hidden.sum()), v.shape[1])
    np.testing.assert_array_equal(attention(q, k2, v2, mask, scale=scale), attention(q, k, v, mask, scale=scale))


@BOUNDED
@given(qkv(), st.data())
def test_permuting_the_keys_and_values_together_changes_nothing(args, data):
    q, k, v, mask, scale = args
    perm = np.array(data.draw(st.permutations(range(len(k)))))
    mask_p = None if mask is None else mask[:, perm]
    np.testing.assert_allclose(
        attention(q, k[perm], v[perm], mask_p, scale=scale), attention(q, k, v, mask, scale=scale), **tolerance(q.dtype)
    )


@BOUNDED
@given(qkv(), st.data())
def test_permuting_the_queries_permutes_the_output(args, data):
    q, k, v, mask, scale = args
    perm = np.array(data.draw(st.permutations(range(len(q)))))
    mask_p = None if mask is None else mask[perm]
    np.testing.assert_allclose(
        attention(q[perm], k, v, mask_p, scale=scale), attention(q, k, v, mask, scale=scale)[perm], **tolerance(q.dtype)
    )


@BOUNDED
@given(qkv(), st.floats(0.25, 4))
def test_scale_multiplies_the_queries(args, factor):
    q, k, _, mask, _ = args
    q64, k64 = q.astype(np.float64), k.astype(np.float64)
    np.testing.assert_allclose(
        attention_weights(q64, k64, mask, scale=factor),
        attention_weights(q64 * factor, k64, mask, scale=1.0),
        rtol=1e-9,
        atol=1e-12,
    )


@BOUNDED
@given(st.data())
def test_causal_outputs_do_not_depend_on_later_positions(data):
    dtype = data.draw(DTYPES)
    n, d, t = data.draw(st.integers(2, 6)), data.draw(SIZES), data.draw(st.integers(0, 4))
    t = min(t, n - 2)
    x = array(data.draw, dtype, n, d)
    changed = x.copy()
    changed[t + 1 :] = array(data.draw, dtype, n - t - 1, d)
    before = attention(x, x, x, causal=True)
    after = attention(changed, changed, changed, causal=True)
    np.testing.assert_array_equal(after[: t + 1], before[: t + 1])
    np.testing.assert_array_equal(attention(x, x, x, causal_mask(n)), before)


@BOUNDED
@given(qkv(batch=(2, 3)))
def test_batch_axes_are_independent_items(args):
    q, k, v, mask, scale = args
    out = attention(q, k, v, mask, scale=scale)
    for b in range(2):
        for c in range(3):
            np.testing.assert_allclose(
                out[b, c], attention(q[b, c], k[b, c], v[b, c], mask, scale=scale), **tolerance(q.dtype)
            )


@BOUNDED
@given(qkv())
def test_each_output_lies_between_the_smallest_and_largest_value(args):
    q, k, v, mask, scale = args
    out = attention(q, k, v, mask, scale=scale).astype(np.float64)
    slack = 1e-4 if q.dtype == np.float32 else 1e-11
    alive = np.ones(len(q), bool) if mask is None else mask.any(axis=-1)
    assert np.all(out[alive] >= v.min(axis=0) - slack)
    assert np.all(out[alive] <= v.max(axis=0) + slack)


# the seed's versions and multi-head attention


@st.composite
def sequences(draw, batch=()):
    dtype = draw(DTYPES)
    return array(draw, dtype, *batch, draw(SIZES), draw(SIZES))


@BOUNDED
@given(sequences())
def test_loops_vectorised_and_one_head_agree(x):
    out_loops, w_loops = self_attention_loops(x)
    out_vec, w_vec = self_attention(x)
    d = x.shape[-1]
    # one head, d_head = d: w_q = sqrt(d) I cancels the 1/sqrt(d) scale, so the scores are x @ x.T as in the seed
    eye = np.eye(d, dtype=x.dtype)
    one_head = MultiHeadAttention(n_heads=1, w_q=math.sqrt(d) * eye, w_k=eye, w_v=eye, w_o=eye)
    out_mha, w_mha = one_head(x, return_weights=True)
    for out, weights in ((out_vec, w_vec), (out_mha, w_mha[0])):
        assert out.dtype == x.dtype
        np.testing.assert_allclose(weights, w_loops, **tolerance(x.dtype))
        np.testing.assert_allclose(out, out_loops, **tolerance(x.dtype))


@BOUNDED
@given(sequences(), st.data())
def test_self_attention_is_permutation_equivariant(x, data):
    perm = np.array(data.draw(st.permutations(range(len(x)))))
    outputs, weights = self_attention(x)
    outputs_p, weights_p = self_attention(x[perm])
    np.testing.assert_allclose(outputs_p, outputs[perm], **tolerance(x.dtype))
    np.testing.assert_allclose(weights_p, weights[perm][:, perm], **tolerance(x.dtype))


@BOUNDED
@given(st.data())
def test_split_and_merge_heads_are_inverse(data):
    n_heads, d_head = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 3))
    x = array(data.draw, data.draw(DTYPES), data.draw(SIZES), data.draw(SIZES), n_heads * d_head)
    heads = split_heads(x, n_heads)
    assert heads.shape == (x.shape[0], n_heads, x.shape[1], d_head)
    np.testing.assert_array_equal(merge_heads(heads), x)
    np.testing.assert_array_equal(heads[:, -1], x[..., -d_head:])


@BOUNDED
@given(st.integers(1, 3), st.integers(1, 5), st.integers(0, 2**32 - 1), st.data())
def test_multi_head_padding_keys_do_not_reach_the_real_tokens(n_heads, length, seed, data):
    n, d_model = 5, 2 * n_heads
    length = min(length, n)
    mha = MultiHeadAttention.init(d_model, n_heads, rng=seed)
    x = array(data.draw, np.float64, 1, n, d_model)
    padded = x.copy()
    padded[:, length:] = array(data.draw, np.float64, 1, n - length, d_model)
    mask = (np.arange(n) < length)[None, None, None, :]  # (batch, heads, n_q, n_k)
    np.testing.assert_allclose(mha(padded, mask=mask)[:, :length], mha(x[:, :length]), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(mha(padded, mask=mask)[:, :length], mha(x, mask=mask)[:, :length])
