"""sinusoidal_positions, the sin/cos clocks of "Attention Is All You Need", and rotary_embedding (RoFormer)."""

import numpy as np
import pytest
from helpers import normal
from hypothesis import given, settings
from hypothesis import strategies as st

from selfattn import rotary_embedding, sinusoidal_positions


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


# rotary_embedding


def rotation_per_pair(x, positions, base=10000.0):
    """The definition, spelled out: a 2 x 2 rotation matrix for each token and each pair of features."""
    out = np.empty_like(x)
    d = x.shape[-1]
    for index in np.ndindex(x.shape[:-1]):
        p = positions[index]
        for i in range(d // 2):
            angle = p * base ** (-2 * i / d)
            rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            out[index][2 * i : 2 * i + 2] = rotation @ x[index][2 * i : 2 * i + 2]
    return out


@pytest.mark.parametrize(
    "shape, positions, base",
    [
        ((5, 6), None, 10000.0),
        ((3, 5, 6), None, 10000.0),
        ((2, 7, 4), np.array([0.5, -3, 11, 2, 2, 1e4, 7]), 100.0),
        ((3, 1, 5, 10), np.arange(15).reshape(3, 1, 5) * 13, 500000.0),
    ],
)
def test_rotary_matches_a_rotation_matrix_per_pair(shape, positions, base):
    x = np.random.default_rng(0).normal(size=shape)
    out = rotary_embedding(x, positions, base=base)
    full = np.broadcast_to(np.arange(shape[-2]) if positions is None else positions, shape[:-1])
    np.testing.assert_allclose(out, rotation_per_pair(x, full, base), rtol=0, atol=1e-12)
    assert out.shape == shape and out.dtype == np.float64


def test_rotary_hand_values():
    # d = 4: pair 0 turns 1 rad per position, pair 1 turns base**(-1/2) = 0.01 rad per position.
    x = np.array([[1.0, 0.0, 0.0, 2.0]] * 3)
    out = rotary_embedding(x)
    np.testing.assert_array_equal(out[0], x[0])
    np.testing.assert_allclose(out[2], [np.cos(2), np.sin(2), -2 * np.sin(0.02), 2 * np.cos(0.02)], rtol=0, atol=1e-15)


def test_rotary_keeps_float32_and_agrees_with_float64():
    x = np.random.default_rng(1).normal(size=(4, 9, 8))
    out32 = rotary_embedding(x.astype(np.float32), np.arange(9) * 1000)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, rotary_embedding(x, np.arange(9) * 1000), rtol=0, atol=1e-5)


def test_rotary_keeps_each_tokens_length_and_undoes_with_minus_positions():
    x = np.random.default_rng(2).normal(size=(7, 12))
    positions = np.array([3, 1, 4, 1, 5, 9, 2])
    out = rotary_embedding(x, positions)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-14)
    np.testing.assert_allclose(rotary_embedding(out, -positions), x, rtol=0, atol=1e-14)
    assert not np.allclose(out[1:], x[1:])


def test_rotary_positions_per_sequence_in_a_batch():
    x = np.random.default_rng(3).normal(size=(2, 5, 6))
    positions = np.array([np.arange(5), np.arange(5) + 100])
    out = rotary_embedding(x, positions)
    np.testing.assert_array_equal(out[0], rotary_embedding(x[0]))
    np.testing.assert_array_equal(out[1], rotary_embedding(x[1], np.arange(100, 105)))


@settings(max_examples=100, deadline=None)
@given(
    m=st.integers(-1000, 1000),
    n=st.integers(-1000, 1000),
    shift=st.integers(-(10**4), 10**4),  # angles of 10**6 radians lose about 1e-10 to rounding
    seed=st.integers(0, 2**32 - 1),
)
def test_rotary_score_depends_only_on_m_minus_n(m, n, shift, seed):
    q, k = np.random.default_rng(seed).normal(size=(2, 1, 16))
    score = rotary_embedding(q, [m]) @ rotary_embedding(k, [n]).T
    shifted = rotary_embedding(q, [m + shift]) @ rotary_embedding(k, [n + shift]).T
    relative = q @ rotary_embedding(k, [n - m]).T  # the query left at position 0
    np.testing.assert_allclose(score, shifted, rtol=0, atol=1e-9)
    np.testing.assert_allclose(score, relative, rtol=0, atol=1e-9)


def test_rotary_scores_are_constant_along_diagonals():
    rng = np.random.default_rng(4)
    q, k = rng.normal(size=(2, 1, 8))
    scores = rotary_embedding(np.repeat(q, 10, axis=0)) @ rotary_embedding(np.repeat(k, 10, axis=0)).T
    for offset in range(-9, 10):
        along = np.diagonal(scores, offset)
        np.testing.assert_allclose(along, along[0], rtol=0, atol=1e-12)
    assert np.ptp(scores) > 0.1  # but the score does change with the distance


X, X234 = np.ones((3, 4)), np.ones((2, 3, 4))


def test_positions_without_the_head_axis_are_refused():
    """Positions (batch, n) on per-head x (batch, n_heads, n, d) with batch == n_heads would
    broadcast the batch axis against the heads' axis."""
    x = normal(0, 2, 2, 5, 4)
    positions = np.arange(5) + np.array([[0], [10]])
    with pytest.raises(ValueError, match=r"got shape \(2, 5\) .*add the head axis: positions\[:, None\]\)$"):
        rotary_embedding(x, positions)
    out = rotary_embedding(x, positions[:, None])
    np.testing.assert_allclose(out[1, 0], rotary_embedding(x[1, 0], positions[1]), rtol=1e-15)


@pytest.mark.skipif(np.finfo(np.longdouble).maxexp <= 1024, reason="long double is float64 on this machine")
def test_long_double_is_rotated_in_long_double():
    """1e400 is a finite long double: rotated in long double, not float64 (where it is inf)."""
    big = np.longdouble(10) ** 400
    out = rotary_embedding(np.array([[1, 0], [0, 1]], np.longdouble) * big, [0, 1])
    assert out.dtype == np.longdouble
    np.testing.assert_allclose(np.float64(out / big), [[1, 0], [-np.sin(1), np.cos(1)]], rtol=1e-15, atol=1e-16)
