"""The activations of a Transformer block's MLP, each with its derivative, by name.

``"relu"`` is the original Transformer's; ``"gelu"`` is ``x * Phi(x)``, ``Phi`` the standard
normal's distribution function (PyTorch's ``F.gelu``); ``"gelu_tanh"`` is GPT-2's ``gelu_new``,
the tanh approximation of it (``F.gelu(approximate="tanh")``).
"""

import math

import numpy as np

_erf = np.frompyfunc(math.erf, 1, 1)  # numpy has no erf; math.erf is exact to float64
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def _relu(z):
    return np.maximum(z, 0)


def _relu_grad(z):
    return z > 0  # a boolean: multiplying by it keeps the other factor's dtype


def _phi_cdf(z):
    """``Phi(z)``, the standard normal's distribution function, in ``z``'s dtype."""
    return 0.5 * (1 + _erf(z / math.sqrt(2)).astype(z.dtype))


def _gelu(z):
    return z * _phi_cdf(z)


def _gelu_grad(z):
    return _phi_cdf(z) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _tanh_term(z):
    return np.tanh(SQRT_2_OVER_PI * (z + 0.044715 * z * z * z))  # z * z * z: numpy's z**3 is 100x slower


def _gelu_tanh(z):
    return 0.5 * z * (1 + _tanh_term(z))


def _gelu_tanh_grad(z):
    t = _tanh_term(z)
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * z * z)


# name -> (activation, its derivative)
ACTIVATIONS = {
    "relu": (_relu, _relu_grad),
    "gelu": (_gelu, _gelu_grad),
    "gelu_tanh": (_gelu_tanh, _gelu_tanh_grad),
}
