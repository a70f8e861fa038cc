"""split_heads, merge_heads and MultiHeadAttention."""

import dataclasses

import numpy as np
import pytest
from helpers import normal

from selfattn import MultiHeadAttention, causal_mask, merge_heads, padding_mask, split_heads


def with_random_biases(mha, seed):
    """The same weights with nonzero biases, so a forgotten bias cannot pass."""
    b_q, b_k, b_v, b_o = normal(seed, 4, mha.d_model)
    return dataclasses.replace(mha, b_q=b_q, b_k=b_k, b_v=b_v, b_o=b_o)


def per_head_loop(mha, x, context=None, allowed=None):
    """Multi-head attention for one unbatched sequence, written out head by head."""
    context = x if context is None else context
    d_head = mha.d_model // mha.n_heads
    bias = {name: 0.0 if getattr(mha, name) is None else getattr(mha, name) for name in ("b_q", "b_k", "b_v", "b_o")}
    heads, all_weights = [], []
    for h in range(mha.n_heads):
        cols = slice(h * d_head, (h + 1) * d_head)
        q = x @ mha.w_q[:, cols] + np.broadcast_to(bias["b_q"], mha.d_model)[cols]
        k = context @ mha.w_k[:, cols] + np.broadcast_to(bias["b_k"], mha.d_model)[cols]
        v = context @ mha.w_v[:, cols] + np.broadcast_to(bias["b_v"], mha.d_model)[cols]
        scores = q @ k.T / np.sqrt(d_head)
        mask = np.ones(scores.shape, dtype=bool) if allowed is None else np.broadcast_to(allowed, scores.shape)
        e = np.where(mask, np.exp(scores - scores.max(axis=-1, keepdims=True)), 0.0)
        weights = e / e.sum(axis=-1, keepdims=True)
        heads.append(weights @ v)
        all_weights.append(weights)
    return np.concatenate(heads, axis=-1) @ mha.w_o + bias["b_o"], np.stack(all_weights)


# split_heads and merge_heads


@pytest.mark.parametrize("n_heads", [1, 2, 3, 4, 6, 12])
def test_split_merge_round_trip(n_heads):
    x = normal(0, 2, 3, 5, 12)
    heads = split_heads(x, n_heads)
    assert heads.shape == (2, 3, n_heads, 5, 12 // n_heads)
    np.testing.assert_array_equal(merge_heads(heads), x)


@pytest.mark.parametrize("n_heads", [3, 4])
def test_split_heads_layout(n_heads):
    x = normal(1, 2, 5, 12)
    d_head = 12 // n_heads
    heads = split_heads(x, n_heads)
    for h in range(n_heads):
        np.testing.assert_array_equal(heads[:, h], x[..., h * d_head : (h + 1) * d_head])


def test_split_heads_hand_values():
    x = np.arange(12.0).reshape(2, 6)
    np.testing.assert_array_equal(split_heads(x, 3), [[[0, 1], [6, 7]], [[2, 3], [8, 9]], [[4, 5], [10, 11]]])
    np.testing.assert_array_equal(split_heads(x, 2)[1], [[3, 4, 5], [9, 10, 11]])


def test_merge_heads_hand_values():
    heads = np.arange(12.0).reshape(3, 2, 2)  # 3 heads, 2 tokens, d_head 2
    np.testing.assert_array_equal(merge_heads(heads), [[0, 1, 4, 5, 8, 9], [2, 3, 6, 7, 10, 11]])


# MultiHeadAttention


@pytest.mark.parametrize("d_model, n_heads, n", [(12, 3, 5), (12, 4, 7), (10, 5, 3), (6, 1, 11)])
def test_equals_per_head_loop(d_model, n_heads, n):
    mha = with_random_biases(MultiHeadAttention.init(d_model, n_heads, rng=d_model + n_heads), seed=7)
    x = normal(2, n, d_model)
    output, weights = mha(x, return_weights=True)
    expected_output, expected_weights = per_head_loop(mha, x)
    assert output.shape == (n, d_model)
    assert weights.shape == (n_heads, n, n)
    np.testing.assert_allclose(weights, expected_weights, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(output, expected_output, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(mha(x), output)


def test_batch_axes_equal_per_item():
    mha = with_random_biases(MultiHeadAttention.init(12, 3, rng=0), seed=1)
    x = normal(2, 2, 3, 5, 12)
    output, weights = mha(x, return_weights=True)
    assert output.shape == (2, 3, 5, 12) and weights.shape == (2, 3, 3, 5, 5)
    for b in range(2):
        for c in range(3):
            expected_output, expected_weights = per_head_loop(mha, x[b, c])
            np.testing.assert_allclose(output[b, c], expected_output, rtol=1e-12, atol=1e-13)
            np.testing.assert_allclose(weights[b, c], expected_weights, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("n_q, n_k", [(3, 7), (7, 3), (5, 11)])
def test_cross_attention(n_q, n_k):
    mha = with_random_biases(MultiHeadAttention.init(8, 2, rng=3), seed=4)
    x, context = normal(5, 2, n_q, 8), normal(6, 2, n_k, 8)
    output, weights = mha(x, context, return_weights=True)
    assert output.shape == (2, n_q, 8)
    assert weights.shape == (2, 2, n_q, n_k)
    for b in range(2):
        expected_output, expected_weights = per_head_loop(mha, x[b], context[b])
        np.testing.assert_allclose(output[b], expected_output, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(weights[b], expected_weights, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("d_model, n_heads, n_q, n_k", [(12, 3, 5, 7), (12, 4, 7, 5), (8, 8, 3, 3)])
def test_weights_shape_and_rows_sum_to_one(d_model, n_heads, n_q, n_k):
    mha = MultiHeadAttention.init(d_model, n_heads, rng=0)
    _, weights = mha(normal(1, 2, n_q, d_model), normal(2, 2, n_k, d_model), return_weights=True)
    assert weights.shape == (2, n_heads, n_q, n_k)
    assert np.all(weights >= 0)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-14)


def test_causal_mask_applies_to_every_head():
    mha = with_random_biases(MultiHeadAttention.init(12, 3, rng=0), seed=1)
    x = normal(2, 5, 12)
    output, weights = mha(x, causal=True, return_weights=True)
    for h in range(3):
        np.testing.assert_array_equal(weights[h][~causal_mask(5)], 0.0)
    expected_output, expected_weights = per_head_loop(mha, x, allowed=causal_mask(5))
    np.testing.assert_allclose(output, expected_output, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(weights, expected_weights, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(mha(x, mask=causal_mask(5)), output)
    changed = x.copy()
    changed[3:] += 1.0  # the future changes; outputs up to position 2 do not
    np.testing.assert_allclose(mha(changed, causal=True)[:3], output[:3], rtol=1e-13, atol=1e-14)


def test_padding_mask_with_head_axis():
    mha = with_random_biases(MultiHeadAttention.init(12, 4, rng=0), seed=1)
    x = normal(2, 2, 7, 12)
    lengths = [7, 4]
    output, weights = mha(x, mask=padding_mask(lengths, 7)[:, None], return_weights=True)
    np.testing.assert_array_equal(weights[1, :, :, 4:], 0.0)
    # the real tokens of sequence 1 attend as if the padding were not there
    np.testing.assert_allclose(output[1, :4], mha(x[1, :4]), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(output[0], mha(x[0]), rtol=1e-12, atol=1e-13)


def arange_mha():
    """d_model = 4, n_heads = 2 (d_head = 2), weights you can multiply on paper.

    With x the first two rows of the identity, q = x @ w_q is the first two rows of w_q:
    [[0, 1, 2, 3], [4, 5, 6, 7]], and so is v; the keys are the first two rows of the
    identity. Head 0 (features 0, 1) scores [0, 1] for token 0 and [4, 5] for token 1,
    times 1 / sqrt(2): the same weights for both, [a, 1 - a] with a = 1 / (1 + e^(1/sqrt 2)).
    Head 1 (features 2, 3) meets keys of zeros: weights [1/2, 1/2].
    """
    arange = np.arange(16.0).reshape(4, 4)
    return MultiHeadAttention(n_heads=2, w_q=arange, w_k=np.eye(4), w_v=arange, w_o=arange, b_o=np.arange(4.0))


X_TWO = np.eye(4)[:2]
A = 1 / (1 + np.exp(1 / np.sqrt(2)))


def test_hand_computed_weights_and_output():
    output, weights = arange_mha()(X_TWO, return_weights=True)
    np.testing.assert_allclose(weights, [[[A, 1 - A]] * 2, [[0.5, 0.5]] * 2], rtol=1e-15)
    # head 0 averages v's features 0, 1: A * [0, 1] + (1 - A) * [4, 5]; head 1 averages 2, 3 evenly: [4, 5]
    # merged m = [4 - 4A, 5 - 4A, 4, 5]; with w_o[i, j] = 4 i + j, (m @ w_o)_j = 4 sum_i i m_i + j sum_i m_i;
    # sum_i m_i = 18 - 8A and sum_i i m_i = 28 - 4A; then b_o adds j
    expected = 4 * (28 - 4 * A) + np.arange(4) * (18 - 8 * A) + np.arange(4)
    np.testing.assert_allclose(output, [expected, expected], rtol=1e-14)


def test_hand_computed_per_head_mask():
    """Hide key 1 from head 0 only: head 0 takes token 0's value, [0, 1]; head 1 is unchanged."""
    mask = np.array([[[True, False]] * 2, [[True, True]] * 2])  # (n_heads, n_q, n_k)
    output, weights = arange_mha()(X_TWO, mask=mask, return_weights=True)
    np.testing.assert_array_equal(weights, [[[1, 0]] * 2, [[0.5, 0.5]] * 2])
    # merged = [0, 1, 4, 5]: sum_i m_i = 10, sum_i i m_i = 1 + 8 + 15 = 24
    expected = 4 * 24 + np.arange(4) * 10 + np.arange(4)
    np.testing.assert_array_equal(output, [expected, expected])


def test_hand_computed_cross_attention_and_biases():
    """Keys and values from a context of one token: every query takes its value, whatever the scores."""
    mha = dataclasses.replace(arange_mha(), b_v=np.ones(4), b_q=np.full(4, 7.0))
    context = np.eye(4)[3:]  # v = row 3 of w_v + b_v = [13, 14, 15, 16]
    output = mha(X_TWO, context)
    # merged = [13, 14, 15, 16]: sum_i m_i = 58, sum_i i m_i = 14 + 30 + 48 = 92; b_o adds j
    np.testing.assert_array_equal(output, [4 * 92 + np.arange(4) * 59] * 2)


def test_bias_false_gives_no_biases():
    mha = MultiHeadAttention.init(12, 3, rng=5, bias=False)
    assert (mha.b_q, mha.b_k, mha.b_v, mha.b_o) == (None, None, None, None)
    x = normal(1, 5, 12)
    expected_output, _ = per_head_loop(mha, x)
    np.testing.assert_allclose(mha(x), expected_output, rtol=1e-12, atol=1e-13)
    zero_biases = dataclasses.replace(mha, **dict.fromkeys(("b_q", "b_k", "b_v", "b_o"), np.zeros(12)))
    np.testing.assert_array_equal(mha(x), zero_biases(x))


def test_bias_true_gives_zero_biases():
    mha = MultiHeadAttention.init(12, 3, rng=5)
    for b in (mha.b_q, mha.b_k, mha.b_v, mha.b_o):
        np.testing.assert_array_equal(b, np.zeros(12))


def test_biases_change_the_output():
    mha = MultiHeadAttention.init(12, 3, rng=5)
    x = normal(1, 5, 12)
    assert not np.allclose(mha(x), with_random_biases(mha, seed=2)(x))


def test_rng_int_and_generator_are_reproducible():
    a = MultiHeadAttention.init(12, 3, rng=42)
    b = MultiHeadAttention.init(12, 3, rng=42)
    c = MultiHeadAttention.init(12, 3, rng=np.random.default_rng(42))
    d = MultiHeadAttention.init(12, 3, rng=43)
    for name in ("w_q", "w_k", "w_v", "w_o"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        np.testing.assert_array_equal(getattr(a, name), getattr(c, name))
        assert not np.allclose(getattr(a, name), getattr(d, name))
    assert not np.allclose(a.w_q, a.w_k)  # the four projections are drawn separately


def test_init_scale_keeps_outputs_of_order_one():
    d_model = 64
    mha = MultiHeadAttention.init(d_model, 8, rng=0)
    for w in (mha.w_q, mha.w_k, mha.w_v, mha.w_o):
        assert w.shape == (d_model, d_model)
        assert 0.9 / np.sqrt(d_model) < w.std() < 1.1 / np.sqrt(d_model)
    x = normal(1, 4, 20, d_model)
    assert 0.9 < (x @ mha.w_v).std() < 1.1  # x @ w keeps the scale of x
    output = mha(x)
    assert np.all(np.isfinite(output))
    assert 0.2 <= output.std() <= 5.0


def test_d_model_property():
    assert MultiHeadAttention.init(10, 5, rng=0).d_model == 10


@pytest.mark.parametrize(
    "x, w, d_out_dtype, dtype",
    [
        (np.float32(10), np.float32(1e19), np.float32, "float32"),  # scores of 1e40 and more
        (np.float64(1e200), np.float32(1), np.float32, "float64"),
        (np.float32(10), np.float32(1e19), np.float64, "float64"),
        (np.float32(10), np.float64(1e160), np.float32, "float64"),
    ],
)
def test_backward_overflow_names_the_dtype_of_x_d_out_and_the_weights_together(x, w, d_out_dtype, dtype):
    eye = np.eye(4, dtype=w.dtype) * w
    mha = MultiHeadAttention(n_heads=2, w_q=eye, w_k=eye, w_v=eye, w_o=eye)
    with pytest.raises(ValueError, match=f"MultiHeadAttention.backward overflowed {dtype} "):
        mha.backward(np.full((3, 4), x), np.ones((3, 4), d_out_dtype))


@pytest.mark.parametrize(
    "x, w, dtype",
    [
        (np.float32(10), np.float32(1e19), "float32"),  # scores of 1e40 and more
        (np.float64(1e200), np.float32(1), "float64"),
        (np.float32(10), np.float64(1e160), "float64"),
    ],
)
def test_overflow_names_the_dtype_of_x_and_the_weights_together(x, w, dtype):
    eye = np.eye(4, dtype=w.dtype) * w
    mha = MultiHeadAttention(n_heads=2, w_q=eye, w_k=eye, w_v=eye, w_o=eye)
    with pytest.raises(ValueError, match=f"MultiHeadAttention overflowed {dtype} "):
        mha(np.full((3, 4), x))


def test_causal_cross_attention_is_aligned_at_the_top_left():
    """Query i attends to keys 0..i of the context, whatever the context's length."""
    mha = MultiHeadAttention.init(12, 3, rng=0)
    rng = np.random.default_rng(1)
    _, weights = mha(rng.normal(size=(2, 12)), rng.normal(size=(5, 12)), causal=True, return_weights=True)
    assert weights.shape == (3, 2, 5)
    np.testing.assert_array_equal(weights[:, 0], np.tile([1.0, 0, 0, 0, 0], (3, 1)))
    np.testing.assert_array_equal(weights[:, 1, 2:], 0)
    assert (weights[:, 1, :2] > 0).all()


def test_backward_is_not_causal_unless_asked():
    """A loss on the first token's output reaches the later tokens only if it may attend to them."""
    mha = MultiHeadAttention.init(12, 3, rng=0)
    x = np.random.default_rng(1).normal(size=(4, 12))
    d_out = np.zeros((4, 12))
    d_out[0] = 1.0
    assert np.abs(mha.backward(x, d_out)[0][1:]).min() > 0
    np.testing.assert_array_equal(mha.backward(x, d_out, causal=True)[0][1:], 0)


def test_frozen_and_equal_by_value():
    mha = MultiHeadAttention.init(4, 2, rng=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        mha.b_o = np.ones(4)
    with pytest.raises(ValueError, match="read-only"):
        mha.w_q[0, 0] = 1.0
    copy = dataclasses.replace(mha)
    assert copy == mha and copy is not mha
    changed = dataclasses.replace(mha, b_o=np.ones(4))
    assert changed != mha
    np.testing.assert_array_equal(changed.b_o, np.ones(4))
    assert dataclasses.replace(mha, b_o=None) != mha and mha != dataclasses.replace(mha, b_o=None)
    assert MultiHeadAttention(**{**vars(mha), "n_heads": 1}) != mha
    no_bias = MultiHeadAttention.init(4, 2, rng=0, bias=False)
    assert no_bias == dataclasses.replace(no_bias) and no_bias != mha
    assert (mha == "mha") is False and (mha != "mha") is True
    with pytest.raises(ValueError, match=r"b_o must have shape \(d_model,\); got shape \(3, 4\)"):
        dataclasses.replace(mha, b_o=np.ones((3, 4)))


def test_constructor_copies_its_arrays():
    w = np.eye(4)
    mha = MultiHeadAttention(n_heads=2, w_q=w, w_k=w, w_v=w, w_o=w)
    w[0, 0] = 5.0
    assert mha.w_q[0, 0] == 1.0 and w.flags.writeable


def test_constructor_gives_every_array_the_common_dtype():
    eye16, eye32 = np.eye(4, dtype=np.float16), np.eye(4, dtype=np.float32)
    narrow = MultiHeadAttention(n_heads=2, w_q=eye16, w_k=eye32, w_v=eye16, w_o=eye16, b_v=np.zeros(4, np.float16))
    wide = dataclasses.replace(narrow, b_o=np.zeros(4))  # float64
    assert {getattr(narrow, name).dtype for name in ("w_q", "w_k", "w_v", "w_o", "b_v")} == {np.dtype(np.float32)}
    assert {getattr(wide, name).dtype for name in ("w_q", "w_k", "w_v", "w_o", "b_v", "b_o")} == {np.dtype(np.float64)}
