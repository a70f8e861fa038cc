"""causal_mask and padding_mask: True where a query may attend to a key."""

import numpy as np
import pytest

from selfattn import attention_weights, causal_mask, padding_mask


def test_causal_mask_square():
    expected = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=bool)
    mask = causal_mask(3)
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, expected)


def test_causal_mask_wide_is_top_left_aligned():
    mask = causal_mask(3, 5)
    assert mask.shape == (3, 5)
    np.testing.assert_array_equal(mask, [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0]])


def test_causal_mask_tall_is_top_left_aligned():
    mask = causal_mask(5, 3)
    assert mask.shape == (5, 3)
    np.testing.assert_array_equal(mask, [[1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1], [1, 1, 1]])


@pytest.mark.parametrize("n_q, n_k", [(1, 1), (3, 5), (5, 3), (7, 7), (11, 2)])
def test_causal_mask_rule(n_q, n_k):
    mask = causal_mask(n_q, n_k)
    i, j = np.indices((n_q, n_k))
    np.testing.assert_array_equal(mask, j <= i)


def test_causal_mask_accepts_numpy_ints():
    np.testing.assert_array_equal(causal_mask(np.int64(3), np.int32(5)), causal_mask(3, 5))


def test_padding_mask_values_and_shape():
    mask = padding_mask([3, 1, 5], 5)
    assert mask.shape == (3, 1, 5)
    assert mask.dtype == bool
    expected = [[[1, 1, 1, 0, 0]], [[1, 0, 0, 0, 0]], [[1, 1, 1, 1, 1]]]
    np.testing.assert_array_equal(mask, np.array(expected, dtype=bool))


def test_padding_mask_broadcasts_over_queries():
    rng = np.random.default_rng(0)
    batch, n_q, n_k, d_k = 2, 3, 5, 7
    q, k = rng.normal(size=(batch, n_q, d_k)), rng.normal(size=(batch, n_k, d_k))
    lengths = [4, 2]
    mask = padding_mask(lengths, n_k)
    weights = attention_weights(q, k, mask)
    assert weights.shape == (batch, n_q, n_k)
    for b, length in enumerate(lengths):
        np.testing.assert_array_equal(weights[b, :, length:], 0.0)
        np.testing.assert_allclose(weights[b, :, :length], attention_weights(q[b], k[b, :length]), rtol=0, atol=1e-15)


def test_padding_mask_with_head_axis_hides_the_padding_from_every_head():
    """Equal scores everywhere (q and k all ones): each real key gets 1 / length, for every head and query."""
    mask = padding_mask([2, 4], 4)[:, None]  # (batch, 1, 1, n_k)
    assert mask.shape == (2, 1, 1, 4)
    weights = attention_weights(np.ones((2, 3, 5, 6)), np.ones((2, 3, 4, 6)), mask)  # 3 heads, 5 queries
    np.testing.assert_array_equal(weights[0], np.broadcast_to([0.5, 0.5, 0, 0], (3, 5, 4)))
    np.testing.assert_array_equal(weights[1], np.full((3, 5, 4), 0.25))
