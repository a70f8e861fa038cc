"""tests/digits.py: the check that every page's printed digits hold on any machine."""

import numpy as np
import pytest
from digits import FragileDigits, checked_print, problem


def test_robust_numbers_pass(capsys):
    checked_print(np.array([0.26894142, 0.73105858]), 0.5, np.float32(0.25), "text", 3)
    assert capsys.readouterr().out == "[0.26894142 0.73105858] 0.5 0.25 text 3\n"


def test_a_last_digit_at_a_rounding_boundary_is_caught():
    boundary = np.array([0.123456785])  # numpy prints 8 digits: 0.12345678 or 0.12345679
    with np.printoptions(precision=8):
        assert "0.1234567" in problem(boundary)
    with np.printoptions(precision=4):
        assert problem(boundary) is None


def test_full_precision_floats_are_caught_rounded_ones_pass():
    computed = float(np.sqrt(2.0))
    assert "1.4142135623730951" in problem(computed)
    assert "1.4142135623730951" in problem(np.float64(computed))
    assert problem(round(computed, 4)) is None  # rounded on purpose
    assert problem(1.0) is None


def test_float32_printed_in_full_is_caught():
    assert problem(np.array([0.1, 0.7], dtype=np.float32) / np.float32(3)) is not None
    with np.printoptions(precision=3):
        assert problem(np.array([0.1, 0.7], dtype=np.float32) / np.float32(3)) is None


def test_rounding_noise_is_caught_but_exact_zeros_pass():
    noise = np.array([1.0, 2.0, -1e-17])  # 1 + 1 - 2 on one machine, 0 on another
    assert "noise" in problem(noise)
    with np.printoptions(suppress=True):
        assert "noise" in problem(noise)  # prints -0.
    assert problem(np.array([1.0, 2.0, 0.0])) is None


def test_tuples_and_lists_are_looked_into():
    assert problem((np.float64(np.pi), "rad")) is not None
    assert problem([0.5, 0.25]) is None


def test_checked_print_raises_with_the_fix():
    with pytest.raises(FragileDigits, match=r"print fewer digits, e.g. inside `with np.printoptions\(precision=4"):
        checked_print(float(np.sqrt(2.0)))
