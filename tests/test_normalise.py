"""softmax: hand values, stability, dtypes, the axis argument, bad input (its properties: test_properties.py)."""

import numpy as np
import pytest

from selfattn import softmax

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


@pytest.mark.parametrize("axis", [2, 7, -3])
def test_bad_axis_raises(axis):
    with pytest.raises(ValueError, match=rf"axis must be in \[-2, 2\) for x of shape \(3, 5\); got {axis}"):
        softmax(np.zeros((3, 5)), axis=axis)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_raises_naming_x_and_index(bad):
    x = np.zeros((3, 5))
    x[2, 1] = bad
    with pytest.raises(ValueError, match=rf"x must be finite; got {bad} at index \(2, 1\)"):
        softmax(x)


@pytest.mark.parametrize(
    "x, dtype",
    [
        (np.array(["a", "b"]), "<U1"),
        (np.array([1 + 2j, 0j]), "complex128"),
        (np.array([1.0, None], dtype=object), "object"),
    ],
)
def test_non_real_input_raises_type_error(x, dtype):
    with pytest.raises(TypeError, match=rf"x must be a real numeric array; got dtype {dtype}"):
        softmax(x)


def test_scalar_raises():
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., n\); got shape \(\)"):
        softmax(np.float64(3.0))


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 5)])
def test_empty_raises(shape):
    with pytest.raises(
        ValueError, match=rf"x must not be empty; got shape {shape}".replace("(", r"\(").replace(")", r"\)")
    ):
        softmax(np.zeros(shape))
