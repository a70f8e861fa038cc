"""Telling attention where each token is."""

import numpy as np

from ._checks import positive_int


def sinusoidal_positions(n, d_model):
    """The sinusoidal position encodings of "Attention Is All You Need".

    ``P[pos, 2i] = sin(pos / 10000**(2i / d_model))`` and
    ``P[pos, 2i + 1] = cos(pos / 10000**(2i / d_model))``: each pair of columns is a
    clock turning at its own speed, with wavelengths from ``2 pi`` up to (not quite) ``10000 * 2 pi``.

    Parameters
    ----------
    n : int
        Number of positions (0 to ``n - 1``).
    d_model : int
        Width of the encoding; must be even.

    Returns
    -------
    ndarray of float64, shape (n, d_model)
        Added to token vectors of the same width.

    Examples
    --------
    >>> import numpy as np
    >>> from selfattn import sinusoidal_positions
    >>> with np.printoptions(precision=4, suppress=True):
    ...     print(sinusoidal_positions(3, 4))
    [[ 0.      1.      0.      1.    ]
     [ 0.8415  0.5403  0.01    1.    ]
     [ 0.9093 -0.4161  0.02    0.9998]]
    """
    n = positive_int(n, "n")
    d_model = positive_int(d_model, "d_model")
    if d_model % 2:
        raise ValueError(f"d_model must be even (sin and cos columns come in pairs); got {d_model}")
    angles = np.arange(n)[:, None] / 10000.0 ** (np.arange(0, d_model, 2) / d_model)
    encoding = np.empty((n, d_model))
    encoding[:, 0::2] = np.sin(angles)
    encoding[:, 1::2] = np.cos(angles)
    return encoding
