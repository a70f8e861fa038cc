"""softmax and layer_norm: hand values, stability, dtypes, the axis (softmax's properties: test_properties.py)."""

import numpy as np
import pytest
from helpers import normal

from selfattn import layer_norm, softmax

E = np.e


def test_hand_values():
    np.testing.assert_allclose(softmax(np.array([0.0, 1.0])), [1 / (1 + E), E / (1 + E)], rtol=1e-15)
    np.testing.assert_allclose(softmax(np.array([0.0, np.log(3.0)])), [0.25, 0.75], rtol=1e-15)
    np.testing.assert_allclose(softmax(np.array([2.0, 2.0, 2.0, 2.0])), [0.25] * 4, rtol=1e-15)
    np.testing.assert_array_equal(softmax(np.array([7.0])), [1.0])


def test_rows_are_normalised_separately():
    x = np.array([[0.0, np.log(3.0)], [5.0, 5.0], [np.log(2.0), 0.0]])
    np.testing.assert_allclose(softmax(x), [[0.25, 0.75], [0.5, 0.5], [2 / 3, 1 / 3]], rtol=1e-15)


def test_equal_huge_scores_split_evenly():
    np.testing.assert_array_equal(softmax(np.array([1000.0, 1000.0])), [0.5, 0.5])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_magnitudes_stay_finite(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4 + 1.0, -1e4], [1e4, 1e4, 1e4 - 1.0]], dtype=dtype)
    result = softmax(x)
    assert result.dtype == dtype
    assert np.all(np.isfinite(result))
    np.testing.assert_allclose(result.sum(axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(result[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(result[1], np.array([1.0, E, 1.0]) / (2 + E), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_dtype_is_kept(dtype):
    x = np.array([[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]], dtype=dtype)
    result = softmax(x)
    assert result.dtype == dtype
    np.testing.assert_allclose(result, softmax(x.astype(np.float64)), rtol=np.finfo(dtype).eps * 8)


def test_float16_sums_beyond_65504():
    """70000 weights of 1 sum beyond float16's largest number: the sum is taken in float32."""
    result = softmax(np.zeros(70000, np.float16))
    assert result.dtype == np.float16
    np.testing.assert_array_equal(result, np.float16(1 / 70000))  # the nearest float16


@pytest.mark.parametrize("x", [np.array([0, 1, 2]), [0, 1, 2], np.array([True, False, True])])
def test_ints_lists_and_bools_become_float64(x):
    result = softmax(x)
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, softmax(np.asarray(x, dtype=np.float64)), rtol=1e-15)


def test_axis_zero_normalises_columns():
    x = np.random.default_rng(0).normal(size=(3, 5))
    result = softmax(x, axis=0)
    assert result.shape == (3, 5)
    np.testing.assert_allclose(result.sum(axis=0), np.ones(5), rtol=1e-15)
    assert not np.allclose(result.sum(axis=1), 1.0)
    np.testing.assert_allclose(result, softmax(x.T).T, rtol=1e-15)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3])
def test_every_axis_of_a_3d_array(axis):
    x = np.random.default_rng(1).normal(size=(3, 5, 7))
    result = softmax(x, axis=axis)
    expected = np.exp(x) / np.exp(x).sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(result, expected, rtol=1e-14)


def test_input_is_not_modified():
    x = np.array([[3.0, 1.0], [2.0, 5.0]])
    before = x.copy()
    softmax(x)
    np.testing.assert_array_equal(x, before)


# layer_norm


def test_layer_norm_hand_values():
    x = np.array([[1.0, 3.0], [5.0, 5.0], [0.0, 4.0]])  # mean 2, var 1; constant; mean 2, var 4
    out = layer_norm(x, np.array([2.0, 3.0]), np.array([0.5, -1.0]), eps=1e-5)
    np.testing.assert_allclose(out[0], [2 * -1 / np.sqrt(1 + 1e-5) + 0.5, 3 / np.sqrt(1 + 1e-5) - 1], rtol=1e-15)
    np.testing.assert_array_equal(out[1], [0.5, -1.0])  # a constant vector gives the bias
    np.testing.assert_allclose(out[2], [2 * -2 / np.sqrt(4 + 1e-5) + 0.5, 3 * 2 / np.sqrt(4 + 1e-5) - 1], rtol=1e-15)


def test_layer_norm_mean_zero_variance_one_over_the_last_axis():
    x = normal(1, 2, 3, 7) * 5 + 3
    out = layer_norm(x, np.ones(7), np.zeros(7), eps=1e-12)
    np.testing.assert_allclose(out.mean(axis=-1), 0, atol=1e-14)
    np.testing.assert_allclose(out.var(axis=-1), 1, rtol=1e-10)


def test_layer_norm_ignores_shift_and_scale_of_each_vector():
    x, w, b = normal(2, 4, 5), normal(3, 5), normal(4, 5)
    np.testing.assert_allclose(layer_norm(3 * x + 7, w, b, eps=1e-12), layer_norm(x, w, b, eps=1e-12), rtol=1e-9)


def test_layer_norm_refuses_x_whose_squares_overflow():
    x = np.array([[1e300, -1e300], [1.0, -1.0]])
    with pytest.raises(ValueError) as info:
        layer_norm(x, np.ones(2), np.zeros(2))
    assert str(info.value) == (
        "layer_norm overflowed float64 (largest finite value 1.8e+308); "
        "got |x| up to 1e+300, |weight| up to 1 and |bias| up to 0: rescale x, weight or bias"
    )


@pytest.mark.parametrize(
    "dtype, size",
    [(dtype, size) for dtype in (np.float16, np.float32, np.float64) for size in (0.1, 7e3, 1e4, 3e4, 1e10, 1e30, 1e300)
     if size < float(np.finfo(dtype).max)],
)  # fmt: skip
def test_layer_norm_of_a_constant_vector_is_exactly_its_bias(dtype, size):
    """PyTorch's LayerNorm gives exactly 0 for a constant vector at any finite size; the
    textbook formula, whose mean rounds, gave 0.15 at 7e3 in float32."""
    x = np.full((3, 7), size, dtype)
    out = layer_norm(x, np.ones(7, dtype), np.full(7, 0.5, dtype))
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, 0.5)


def test_layer_norm_float32_stays_float32():
    x = np.random.default_rng(5).normal(size=(3, 4)).astype(np.float32)
    ones, zeros = np.ones(4, np.float32), np.zeros(4, np.float32)
    assert layer_norm(x, ones, zeros).dtype == np.float32
