"""sinusoidal_positions: the sin/cos clocks of "Attention Is All You Need"."""

import numpy as np
import pytest

from selfattn import sinusoidal_positions


@pytest.mark.parametrize("n, d_model", [(1, 2), (3, 4), (7, 10), (11, 6)])
def test_shape_and_dtype(n, d_model):
    encoding = sinusoidal_positions(n, d_model)
    assert encoding.shape == (n, d_model)
    assert encoding.dtype == np.float64


def test_position_zero_is_sin_0_cos_0():
    np.testing.assert_array_equal(sinusoidal_positions(5, 8)[0], [0, 1, 0, 1, 0, 1, 0, 1])


def test_hand_values_at_position_one():
    d_model = 6
    row = sinusoidal_positions(3, d_model)[1]
    assert row[0] == pytest.approx(np.sin(1.0), abs=1e-15)
    assert row[1] == pytest.approx(np.cos(1.0), abs=1e-15)
    assert row[2] == pytest.approx(np.sin(1 / 10000 ** (2 / d_model)), abs=1e-15)
    assert row[3] == pytest.approx(np.cos(1 / 10000 ** (2 / d_model)), abs=1e-15)
    assert row[4] == pytest.approx(np.sin(1 / 10000 ** (4 / d_model)), abs=1e-15)


def test_every_entry_matches_the_formula():
    n, d_model = 7, 10
    encoding = sinusoidal_positions(n, d_model)
    for pos in range(n):
        for i in range(d_model // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            assert encoding[pos, 2 * i] == pytest.approx(np.sin(angle), abs=1e-14)
            assert encoding[pos, 2 * i + 1] == pytest.approx(np.cos(angle), abs=1e-14)


def test_bounded_and_each_pair_on_the_unit_circle():
    encoding = sinusoidal_positions(50, 16)
    assert np.all(np.abs(encoding) <= 1.0)
    np.testing.assert_allclose(encoding[:, 0::2] ** 2 + encoding[:, 1::2] ** 2, 1.0, rtol=0, atol=1e-14)


def test_rows_are_distinct():
    encoding = sinusoidal_positions(11, 4)
    assert len({tuple(row) for row in encoding}) == 11


@pytest.mark.parametrize("d_model", [1, 5, 7])
def test_odd_d_model_raises(d_model):
    with pytest.raises(ValueError, match=rf"d_model must be even.*got {d_model}"):
        sinusoidal_positions(3, d_model)


@pytest.mark.parametrize(
    "n, d_model, error, message",
    [
        (0, 4, ValueError, "n must be a positive int; got 0"),
        (3, -2, ValueError, "d_model must be a positive int"),
        (2.0, 4, TypeError, "n must be a positive int; got float"),
        (3, True, TypeError, "d_model must be a positive int; got bool"),
    ],
)
def test_bad_sizes_raise(n, d_model, error, message):
    with pytest.raises(error, match=message):
        sinusoidal_positions(n, d_model)
