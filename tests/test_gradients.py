"""attention_backward: hand-worked values, finite differences in float64, masks, broadcasting, bad input.

The comparison with PyTorch's autograd is in test_torch_backward.py.
"""

import numpy as np
import pytest
from helpers import normal, numerical_gradient

from selfattn import attention, attention_backward, causal_mask


def finite_differences(q, k, v, d_out, **kwargs):
    """The gradients of ``sum(attention(q, k, v) * d_out)``, whose gradient with respect to the output is ``d_out``."""

    def loss(q, k, v):
        return np.sum(attention(q, k, v, **kwargs) * d_out)

    return (
        numerical_gradient(lambda q: loss(q, k, v), q),
        numerical_gradient(lambda k: loss(q, k, v), k),
        numerical_gradient(lambda v: loss(q, k, v), v),
    )


def assert_close_to_finite_differences(ours, theirs):
    for name, a, b in zip("qkv", ours, theirs, strict=True):
        assert a.shape == b.shape, name
        assert np.max(np.abs(a - b)) <= 1e-8 * max(1.0, np.max(np.abs(b))), f"d{name}"


def test_hand_values():
    # scores = [0, 1] / 1 after the 1/sqrt(2) scale: weights a = 1/(1+e), b = e/(1+e).
    # dP = [3, 7]; rowsum(dO * O) = 3a + 7b; dS = P * (dP - 3a - 7b) = [-4ab, 4ab].
    q = np.array([[0.0, np.sqrt(2.0)]])
    k = np.eye(2)
    v = np.array([[1.0, 2.0], [3.0, 4.0]])
    dq, dk, dv = attention_backward(q, k, v, np.ones((1, 2)))
    a, b = 1 / (1 + np.e), np.e / (1 + np.e)
    ab = 4 * a * b
    np.testing.assert_allclose(dv, [[a, a], [b, b]], rtol=1e-15)
    np.testing.assert_allclose(dq, [[-ab / np.sqrt(2), ab / np.sqrt(2)]], rtol=1e-15)
    np.testing.assert_allclose(dk, [[0, -ab], [0, ab]], rtol=1e-15, atol=1e-17)


@pytest.mark.parametrize("n_q, n_k, d_k, d_v", [(3, 5, 2, 4), (5, 3, 4, 2), (4, 4, 3, 3)])
@pytest.mark.parametrize("causal", [False, True])
def test_matches_finite_differences(n_q, n_k, d_k, d_v, causal):
    q, k, v = normal(1, n_q, d_k), normal(2, n_k, d_k), normal(3, n_k, d_v)
    d_out = normal(4, n_q, d_v)
    ours = attention_backward(q, k, v, d_out, causal=causal)
    assert_close_to_finite_differences(ours, finite_differences(q, k, v, d_out, causal=causal))


@pytest.mark.parametrize("scale", [0.3, 2])
def test_scale_matches_finite_differences(scale):
    q, k, v, d_out = normal(5, 2, 3, 4), normal(6, 2, 5, 4), normal(7, 2, 5, 2), normal(8, 2, 3, 2)
    ours = attention_backward(q, k, v, d_out, scale=scale)
    assert_close_to_finite_differences(ours, finite_differences(q, k, v, d_out, scale=scale))


def test_mask_matches_finite_differences_and_hidden_keys_get_nothing():
    q, k, v, d_out = normal(9, 2, 3, 4), normal(10, 2, 5, 4), normal(11, 2, 5, 6), normal(12, 2, 3, 6)
    mask = normal(13, 2, 3, 5) > 0
    mask[..., 0] = True
    mask[..., 3] = False  # no query may attend to key 3
    ours = attention_backward(q, k, v, d_out, mask, causal=True)
    assert_close_to_finite_differences(ours, finite_differences(q, k, v, d_out, mask=mask, causal=True))
    _, dk, dv = ours
    assert not dk[:, 3].any() and not dv[:, 3].any()
    assert dk[:, 0].any() and dv[:, 0].any()


def test_fully_masked_rows_give_zero_gradients():
    q, k, v, d_out = normal(14, 4, 3), normal(15, 6, 3), normal(16, 6, 5), normal(17, 4, 5)
    mask = np.ones((4, 6), dtype=bool)
    mask[2] = False
    dq, dk, dv = attention_backward(q, k, v, d_out, mask)
    np.testing.assert_array_equal(dq[2], np.zeros(3))
    assert np.isfinite(dq).all() and np.isfinite(dk).all() and np.isfinite(dv).all()
    # query 2 adds nothing to dk and dv: the same as removing it
    rows = [0, 1, 3]
    _, dk_without, dv_without = attention_backward(q[rows], k, v, d_out[rows])
    np.testing.assert_allclose(dk, dk_without, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(dv, dv_without, rtol=1e-13, atol=1e-15)


def test_every_query_masked_gives_all_zeros():
    q, k, v = normal(18, 3, 2), normal(19, 4, 2), normal(20, 4, 3)
    grads = attention_backward(q, k, v, np.ones((3, 3)), np.zeros((3, 4), dtype=bool))
    for grad, x in zip(grads, (q, k, v), strict=True):
        np.testing.assert_array_equal(grad, np.zeros_like(x))


def test_key_gradients_sum_to_zero():
    # Adding one vector to every key adds a constant to each row of scores: the softmax,
    # and so the loss, does not change. Hence the gradients of the keys sum to zero.
    q, k, v, d_out = normal(21, 2, 5, 4), normal(22, 2, 7, 4), normal(23, 2, 7, 3), normal(24, 2, 5, 3)
    _, dk, _ = attention_backward(q, k, v, d_out)
    assert np.abs(dk).max() > 0.1
    np.testing.assert_allclose(dk.sum(axis=-2), 0, atol=1e-14)


def test_batch_axes_broadcast_and_gradients_are_summed_over_them():
    q, k, v = normal(25, 2, 1, 3, 4), normal(26, 7, 5, 4), normal(27, 5, 6)
    d_out = normal(28, 2, 7, 3, 6)
    mask = normal(29, 7, 1, 5) > -0.5
    dq, dk, dv = attention_backward(q, k, v, d_out, mask)
    assert (dq.shape, dk.shape, dv.shape) == (q.shape, k.shape, v.shape)
    # the same as the gradients of explicitly repeated inputs, summed over the repeats
    full = (2, 7)
    dq_full, dk_full, dv_full = attention_backward(
        np.broadcast_to(q, (*full, 3, 4)),
        np.broadcast_to(k, (*full, 5, 4)),
        np.broadcast_to(v, (*full, 5, 6)),
        d_out,
        mask,
    )
    np.testing.assert_allclose(dq, dq_full.sum(axis=1, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(dk, dk_full.sum(axis=0), rtol=1e-13)
    np.testing.assert_allclose(dv, dv_full.sum(axis=(0, 1)), rtol=1e-13)
    assert_close_to_finite_differences((dq, dk, dv), finite_differences(q, k, v, d_out, mask=mask))


def test_float32_in_float32_out():
    q, k, v, d_out = (normal(30 + i, 2, 3, 4).astype(np.float32) for i in range(4))
    grads = attention_backward(q, k, v, d_out, causal=True)
    grads64 = attention_backward(*(a.astype(np.float64) for a in (q, k, v, d_out)), causal=True)
    for grad, grad64 in zip(grads, grads64, strict=True):
        assert grad.dtype == np.float32
        np.testing.assert_allclose(grad, grad64, rtol=1e-4, atol=1e-5)


def test_integer_input_is_float64():
    grads = attention_backward(np.eye(2, dtype=int), np.eye(2, dtype=int), np.eye(2, dtype=int), np.ones((2, 2)))
    assert all(grad.dtype == np.float64 for grad in grads)


def test_causal_is_the_causal_mask():
    q, k, v, d_out = normal(34, 5, 3), normal(35, 4, 3), normal(36, 4, 2), normal(37, 5, 2)
    for ours, theirs in zip(
        attention_backward(q, k, v, d_out, causal=True),
        attention_backward(q, k, v, d_out, causal_mask(5, 4)),
        strict=True,
    ):
        np.testing.assert_array_equal(ours, theirs)
