"""Helpers shared by the unit tests: random inputs and finite differences."""

import numpy as np


def normal(seed, *shape, dtype=np.float64):
    """Standard normal samples of ``shape`` from the generator seeded with ``seed``, in ``dtype``."""
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def numerical_gradient(f, x, eps=1e-6):
    """Central differences of the scalar ``f`` at ``x``, one entry at a time (float64)."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        grad[i] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad
