"""self_attention_loops, self_attention, attention_weights and attention."""

import warnings

import numpy as np
import pytest
from helpers import normal

from selfattn import (
    attention,
    attention_weights,
    causal_mask,
    one_hot,
    self_attention,
    self_attention_loops,
)

E = np.e
SQRT2 = np.sqrt(2.0)


def reference_weights(q, k, allowed=None, scale=None):
    """softmax(scale * q @ k.T) over the allowed keys, one query and one key at a time."""
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    n_q, n_k = len(q), len(k)
    allowed = np.ones((n_q, n_k), dtype=bool) if allowed is None else allowed
    weights = np.zeros((n_q, n_k))
    for i in range(n_q):
        js = [j for j in range(n_k) if allowed[i, j]]
        if not js:
            continue
        scores = np.array([scale * float(np.dot(q[i], k[j])) for j in js])
        e = np.exp(scores - scores.max())
        weights[i, js] = e / e.sum()
    return weights


# The seed notebook: self_attention_loops and self_attention.


def test_seed_one_hot_numbers():
    x = one_hot("Self Attention is good".split())
    for outputs, weights in (self_attention_loops(x), self_attention(x)):
        np.testing.assert_allclose(weights[0], [0.47536689, 0.1748777, 0.1748777, 0.1748777], rtol=0, atol=1e-8)
        # by hand: row i scores 1 on itself and 0 elsewhere, so weights[i, i] = e / (e + 3)
        np.testing.assert_allclose(np.diag(weights), [E / (E + 3)] * 4, rtol=1e-15)
        np.testing.assert_allclose(outputs, weights, rtol=1e-15)  # x = I, so outputs = weights @ I


def test_seed_random_numbers():
    np.random.seed(4)
    x = np.random.randn(6, 4)
    for outputs, weights in (self_attention_loops(x), self_attention(x)):
        assert outputs.shape == (6, 4) and weights.shape == (6, 6)
        np.testing.assert_allclose(outputs[0], [0.06830387, 0.27581964, -0.82044034, 0.44218398], rtol=0, atol=1e-8)


def test_loops_hand_values():
    outputs, weights = self_attention_loops(np.array([[0.0, 1.0], [0.0, 0.0]]))
    np.testing.assert_allclose(weights, [[E / (1 + E), 1 / (1 + E)], [0.5, 0.5]], rtol=1e-15)
    np.testing.assert_allclose(outputs, [[0.0, E / (1 + E)], [0.0, 0.5]], rtol=1e-15)


@pytest.mark.parametrize("n, d", [(1, 4), (3, 5), (5, 3), (7, 11), (11, 2)])
def test_loops_equal_vectorised(n, d):
    x = normal(n * d, n, d)
    out_loops, w_loops = self_attention_loops(x)
    out_vec, w_vec = self_attention(x)
    assert out_vec.shape == (n, d) and w_vec.shape == (n, n)
    np.testing.assert_allclose(w_vec, w_loops, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(out_vec, out_loops, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(w_vec.sum(axis=-1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(w_vec, reference_weights(x, x, scale=1.0), rtol=1e-12, atol=1e-15)


def test_self_attention_is_unscaled_attention():
    x = normal(0, 5, 7)
    outputs, weights = self_attention(x)
    np.testing.assert_allclose(weights, attention_weights(x, x, scale=1.0), rtol=1e-15)
    np.testing.assert_allclose(outputs, attention(x, x, x, scale=1.0), rtol=1e-15)
    assert not np.allclose(weights, attention_weights(x, x))  # the default scale 1/sqrt(7) differs


def test_self_attention_batch_axes_equal_per_item():
    x = normal(1, 2, 3, 5, 7)
    outputs, weights = self_attention(x)
    assert outputs.shape == (2, 3, 5, 7)
    assert weights.shape == (2, 3, 5, 5)
    for b in range(2):
        for c in range(3):
            out_item, w_item = self_attention_loops(x[b, c])
            np.testing.assert_allclose(weights[b, c], w_item, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(outputs[b, c], out_item, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("function", [self_attention_loops, self_attention])
def test_float32_is_kept(function):
    x = normal(2, 5, 3).astype(np.float32)
    outputs, weights = function(x)
    assert outputs.dtype == np.float32 and weights.dtype == np.float32
    expected_out, expected_w = function(x.astype(np.float64))
    np.testing.assert_allclose(weights, expected_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outputs, expected_out, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("function", [self_attention_loops, self_attention])
def test_int_input_becomes_float64(function):
    outputs, weights = function([[1, 0], [0, 1], [1, 1]])
    assert outputs.dtype == np.float64 and weights.dtype == np.float64
    np.testing.assert_allclose(weights[0], np.array([E, 1, E]) / (2 * E + 1), rtol=1e-15)


# attention_weights and attention.


def test_hand_values_default_scale():
    # d_k = 2, so the scores q @ k.T = [0, sqrt 2] are scaled by 1/sqrt 2 to [0, 1].
    q, k = np.array([[0.0, SQRT2]]), np.eye(2)
    np.testing.assert_allclose(attention_weights(q, k), [[1 / (1 + E), E / (1 + E)]], rtol=1e-15)
    v = np.array([[10.0, 0.0, 0.0], [0.0, 0.0, 10.0]])
    np.testing.assert_allclose(attention(q, k, v), [[10 / (1 + E), 0.0, 10 * E / (1 + E)]], rtol=1e-15)


def test_hand_values_explicit_scale():
    q, k = np.array([[0.0, SQRT2]]), np.eye(2)
    # scale = sqrt 2 turns the scores [0, sqrt 2] into [0, 2]
    np.testing.assert_allclose(attention_weights(q, k, scale=SQRT2), [[1 / (1 + E**2), E**2 / (1 + E**2)]], rtol=1e-15)
    np.testing.assert_allclose(attention_weights(q, k, scale=0), [[0.5, 0.5]], rtol=1e-15)
    np.testing.assert_allclose(attention_weights(q, k, scale=-SQRT2), [[E**2 / (1 + E**2), 1 / (1 + E**2)]], rtol=1e-15)


@pytest.mark.parametrize("n_q, n_k, d_k", [(3, 5, 7), (5, 3, 2), (1, 11, 4)])
def test_default_scale_is_one_over_sqrt_d_k(n_q, n_k, d_k):
    q, k = normal(1, n_q, d_k), normal(2, n_k, d_k)
    weights = attention_weights(q, k)
    assert weights.shape == (n_q, n_k)
    np.testing.assert_allclose(weights, attention_weights(q, k, scale=1 / np.sqrt(d_k)), rtol=1e-15)
    np.testing.assert_allclose(weights, reference_weights(q, k), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        attention_weights(q, k, scale=0.3), reference_weights(q, k, scale=0.3), rtol=1e-12, atol=1e-15
    )


@pytest.mark.parametrize("scale", [2, np.float32(0.5), np.int64(3), 0.25])
def test_scale_accepts_python_and_numpy_numbers(scale):
    q, k = normal(3, 3, 4), normal(4, 5, 4)
    np.testing.assert_allclose(
        attention_weights(q, k, scale=scale), reference_weights(q, k, scale=float(scale)), rtol=1e-12, atol=1e-15
    )


def test_d_k_differs_from_d_v():
    q, k, v = normal(1, 3, 4), normal(2, 5, 4), normal(3, 5, 7)
    out = attention(q, k, v)
    assert out.shape == (3, 7)
    np.testing.assert_allclose(out, reference_weights(q, k) @ v, rtol=1e-12, atol=1e-14)


def test_mask_hand_values():
    q, k = np.array([[0.0, SQRT2]]), np.eye(2)
    np.testing.assert_array_equal(attention_weights(q, k, mask=np.array([True, False])), [[1.0, 0.0]])
    np.testing.assert_array_equal(attention_weights(q, k, mask=np.array([False, True])), [[0.0, 1.0]])


def test_mask_true_means_may_attend():
    q, k, v = normal(1, 3, 4), normal(2, 5, 4), normal(3, 5, 6)
    mask = np.array([[1, 0, 1, 1, 0], [0, 0, 0, 0, 1], [1, 1, 1, 1, 1]], dtype=bool)
    weights = attention_weights(q, k, mask)
    np.testing.assert_array_equal(weights[~mask], 0.0)
    assert np.all(weights[mask] > 0)
    np.testing.assert_allclose(weights, reference_weights(q, k, mask), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(attention(q, k, v, mask), weights @ v, rtol=1e-15)


def test_mask_hides_even_a_huge_score():
    q = np.array([[1.0, 0.0]])
    k = np.array([[1e4, 0.0], [0.0, 1.0], [0.0, -1.0]])
    weights = attention_weights(q, k, mask=np.array([False, True, True]), scale=1.0)
    np.testing.assert_array_equal(weights, [[0.0, 0.5, 0.5]])


@pytest.mark.parametrize("n", [1, 3, 7])
def test_causal_square_equals_causal_mask(n):
    x = normal(n, n, 5)
    weights = attention_weights(x, x, causal=True)
    np.testing.assert_array_equal(weights, attention_weights(x, x, causal_mask(n)))
    np.testing.assert_array_equal(weights[np.triu_indices(n, 1)], 0.0)
    np.testing.assert_array_equal(weights[0], np.eye(1, n)[0])  # the first query sees only itself


@pytest.mark.parametrize("n_q, n_k", [(3, 5), (5, 3), (2, 11)])
def test_causal_rectangular_is_top_left_aligned(n_q, n_k):
    q, k, v = normal(1, n_q, 4), normal(2, n_k, 4), normal(3, n_k, 6)
    weights = attention_weights(q, k, causal=True)
    assert weights.shape == (n_q, n_k)
    np.testing.assert_array_equal(weights, attention_weights(q, k, causal_mask(n_q, n_k)))
    np.testing.assert_allclose(weights, reference_weights(q, k, np.tri(n_q, n_k, dtype=bool)), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(attention(q, k, v, causal=True), attention(q, k, v, causal_mask(n_q, n_k)))


def test_mask_and_causal_combine():
    q, k = normal(1, 5, 4), normal(2, 5, 4)
    mask = normal(3, 5, 5) > -0.5
    mask[:, 0] = True  # keep every row alive
    weights = attention_weights(q, k, mask, causal=True)
    np.testing.assert_array_equal(weights, attention_weights(q, k, mask & causal_mask(5)))
    np.testing.assert_array_equal(weights[~(mask & causal_mask(5))], 0.0)
    assert not np.array_equal(weights, attention_weights(q, k, mask))
    assert not np.array_equal(weights, attention_weights(q, k, causal=True))


def test_fully_masked_row_gets_zeros_without_warning():
    q, k, v = normal(1, 3, 4), normal(2, 5, 4), normal(3, 5, 6)
    mask = np.ones((3, 5), dtype=bool)
    mask[1] = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        weights = attention_weights(q, k, mask)
        out = attention(q, k, v, mask)
    np.testing.assert_array_equal(weights[1], np.zeros(5))
    np.testing.assert_array_equal(out[1], np.zeros(6))
    assert np.all(np.isfinite(weights)) and np.all(np.isfinite(out))
    np.testing.assert_allclose(weights[[0, 2]], attention_weights(q[[0, 2]], k), rtol=1e-15)
    np.testing.assert_allclose(out[[0, 2]], attention(q[[0, 2]], k, v), rtol=1e-14)


def test_mask_and_causal_can_empty_the_first_row():
    q, k, v = normal(1, 4, 3), normal(2, 4, 3), normal(3, 4, 2)
    mask = np.array([False, True, True, True])  # key 0 hidden; with causal query 0 sees nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = attention(q, k, v, mask, causal=True)
    np.testing.assert_array_equal(out[0], [0.0, 0.0])
    np.testing.assert_allclose(out[1], v[1], rtol=1e-15)  # query 1 sees only key 1


def test_all_keys_masked_everywhere():
    q, k, v = normal(1, 3, 4), normal(2, 5, 4), normal(3, 5, 6)
    out = attention(q, k, v, np.zeros((3, 5), dtype=bool))
    np.testing.assert_array_equal(out, np.zeros((3, 6)))


def test_batch_axes_equal_per_item():
    q, k, v = normal(1, 2, 3, 5, 4), normal(2, 2, 3, 7, 4), normal(3, 2, 3, 7, 6)
    mask = normal(4, 2, 3, 5, 7) > 0
    out = attention(q, k, v, mask)
    weights = attention_weights(q, k, mask)
    assert out.shape == (2, 3, 5, 6) and weights.shape == (2, 3, 5, 7)
    for b in range(2):
        for c in range(3):
            np.testing.assert_allclose(
                weights[b, c], reference_weights(q[b, c], k[b, c], mask[b, c]), rtol=1e-12, atol=1e-15
            )
            np.testing.assert_allclose(
                out[b, c], reference_weights(q[b, c], k[b, c], mask[b, c]) @ v[b, c], rtol=1e-12, atol=1e-14
            )


def test_unbatched_keys_broadcast_over_batched_queries():
    q, k, v = normal(1, 2, 1, 3, 4), normal(2, 5, 4), normal(3, 5, 6)
    weights = attention_weights(q, k)
    out = attention(q, k, v)
    assert weights.shape == (2, 1, 3, 5) and out.shape == (2, 1, 3, 6)
    for b in range(2):
        np.testing.assert_allclose(weights[b, 0], reference_weights(q[b, 0], k), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(out[b, 0], reference_weights(q[b, 0], k) @ v, rtol=1e-12, atol=1e-14)


def test_batch_axes_of_q_and_k_broadcast_against_each_other():
    q, k, v = normal(1, 2, 1, 3, 4), normal(2, 7, 5, 4), normal(3, 7, 5, 6)
    out = attention(q, k, v)
    assert out.shape == (2, 7, 3, 6)
    for b in range(2):
        for c in range(7):
            np.testing.assert_allclose(out[b, c], reference_weights(q[b, 0], k[c]) @ v[c], rtol=1e-12, atol=1e-14)


def test_mask_broadcasts_from_n_q_n_k_and_over_queries():
    q, k = normal(1, 2, 3, 4), normal(2, 2, 5, 4)
    shared = np.array([[1, 1, 0, 0, 1], [0, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(
        attention_weights(q, k, shared), attention_weights(q, k, np.broadcast_to(shared, (2, 3, 5)))
    )
    per_key = np.array([[[1, 1, 1, 0, 0]], [[1, 0, 0, 0, 0]]], dtype=bool)  # (batch, 1, n_k)
    weights = attention_weights(q, k, per_key)
    np.testing.assert_array_equal(weights[1, :, 0], 1.0)
    np.testing.assert_array_equal(weights[0, :, 3:], 0.0)


@pytest.mark.parametrize("function", [attention_weights, attention])
@pytest.mark.parametrize("scale", [None, 0.7, np.float64(0.7)])  # a float64 scale must not promote
def test_float32_in_float32_out(function, scale):
    q, k, v = (a.astype(np.float32) for a in (normal(1, 3, 4), normal(2, 5, 4), normal(3, 5, 6)))
    args = (q, k) if function is attention_weights else (q, k, v)
    result = function(*args, causal=True, scale=scale)
    assert result.dtype == np.float32
    expected = function(*(a.astype(np.float64) for a in args), causal=True, scale=scale)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(5, 3), (3, 4), (2, 3, 5), (1, 1, 3, 5), (4,)])
def test_mask_shape_must_broadcast(shape):
    expected = r"mask must broadcast to \(\.\.\., n_q, n_k\) = \(3, 5\); got shape " + str(shape).replace(
        "(", r"\("
    ).replace(")", r"\)")
    with pytest.raises(ValueError, match=expected):
        attention_weights(np.ones((3, 4)), np.ones((5, 4)), np.ones(shape, dtype=bool))
    with pytest.raises(ValueError, match=expected):
        attention(np.ones((3, 4)), np.ones((5, 4)), np.ones((5, 2)), np.ones(shape, dtype=bool))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scores_that_overflow_raise_instead_of_giving_nan(dtype):
    big = np.finfo(dtype).max ** 0.5 * 4  # finite inputs whose dot product is not
    q = np.full((3, 2), big, dtype=dtype)
    k = np.full((5, 2), big, dtype=dtype)
    with pytest.raises(ValueError, match=f"^attention_weights overflowed {np.dtype(dtype).name}"):
        attention_weights(q, k)


def test_an_overflow_caused_by_scale_names_scale():
    with pytest.raises(ValueError) as info:
        attention(np.ones((2, 4)), np.ones((3, 4)), np.ones((3, 2)), scale=1e308)  # it said: rescale q and k
    assert str(info.value) == (
        "attention overflowed float64 (largest finite value 1.8e+308); "
        "got |q| up to 1, |k| up to 1 and |scale| up to 1e+308: rescale q, k or scale"
    )
