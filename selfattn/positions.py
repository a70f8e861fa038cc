"""Telling attention where each token is."""

import numpy as np

from ._checks import as_float_array, broadcasts_to, overflow_checked, positive_int, real_number


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


def rotary_embedding(x, positions=None, *, base=10000.0):
    """Rotary position embeddings (RoFormer, Su et al. 2021): rotate each pair of features.

    Features ``(2i, 2i + 1)`` of the token at position ``p`` are turned, as a point in
    the plane, by the angle ``p * theta_i`` with ``theta_i = base**(-2i / d)``:

    - ``out[2i] = x[2i] * cos(p * theta_i) - x[2i + 1] * sin(p * theta_i)``
    - ``out[2i + 1] = x[2i] * sin(p * theta_i) + x[2i + 1] * cos(p * theta_i)``

    Applied to queries and keys (not to values), it makes the score of a query at
    position ``m`` for a key at position ``n`` depend on ``m - n`` only, and not on
    where the two sit. A rotation keeps lengths, so ``|out| == |x|`` token by token.

    Parameters
    ----------
    x : array_like of real numbers, shape (..., n, d)
        Queries or keys (for example one head's, after `split_heads`); ``d`` must be even.
    positions : array_like of real numbers, shape (n,) or (..., n), optional
        The position of each token; defaults to ``0, 1, ..., n - 1``. Batch axes, if
        given, must broadcast to those of ``x`` (e.g. ``(batch, n)`` for a different
        offset per sequence). Positions need not be whole numbers or start at 0.
    base : float, default 10000.0
        Sets the slowest turn: pair ``i`` turns by ``base**(-2i / d)`` radians per
        position, from 1 radian for the first pair down to nearly ``1 / base``.

    Returns
    -------
    ndarray, the shape and dtype of ``x``
        ``x`` with every pair of features rotated by its position's angle.

    Raises
    ------
    ValueError
        If ``d`` is odd, ``positions`` does not have shape ``(n,)`` or ``(..., n)``
        broadcastable to ``x``'s leading axes, or ``base`` is not a positive, finite
        number (also for non-finite values in ``x`` or ``positions``); or if the rotated
        ``x`` overflows its float dtype, or the angles float64.
    TypeError
        If ``x`` or ``positions`` is not real numbers, or ``base`` is not a number.

    Examples
    --------
    Three copies of the same vector at positions 0, 1 and 2: with ``d = 2`` there is a
    single pair, turned by 0, 1 and 2 radians.

    >>> import numpy as np
    >>> from selfattn import rotary_embedding
    >>> x = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    >>> with np.printoptions(precision=4, suppress=True):
    ...     print(rotary_embedding(x))
    [[ 1.      0.    ]
     [ 0.5403  0.8415]
     [-0.4161  0.9093]]

    The score of a rotated query and key depends only on how far apart they are:

    >>> rng = np.random.default_rng(0)
    >>> q, k = rng.normal(size=(2, 1, 8))
    >>> def score(m, n):
    ...     return (rotary_embedding(q, [m]) @ rotary_embedding(k, [n]).T).item()
    >>> print(np.isclose(score(5, 2), score(103, 100)))
    True
    """
    x = as_float_array(x, "x", ("...", "n", "d"))
    if x.shape[-1] % 2:
        raise ValueError(f"x must have an even number of features d (they are rotated in pairs); got shape {x.shape}")
    positions = np.arange(x.shape[-2]) if positions is None else _positions(positions, x.shape)
    base = real_number(base, "base", positive=True)
    rescale = {"x": x, "positions": positions, "base": base}
    return overflow_checked("rotary_embedding", rescale, _rotary, x, positions, base)


def _positions(positions, x_shape):
    """``positions``, checked to have shape ``(n,)`` or the leading axes of ``x``, one for one."""
    positions = as_float_array(positions, "positions", ("...", "n"))
    leading = x_shape[:-1]
    fits = positions.ndim in (1, len(leading)) and broadcasts_to(positions.shape, leading)
    if not fits or positions.shape[-1] != leading[-1]:
        raise ValueError(
            f"positions must have shape (n,) = ({leading[-1]},), or (..., n) with one axis for each of x's leading "
            f"axes {leading} (x has shape {x_shape}); got shape {positions.shape} (for x of shape "
            "(batch, n_heads, n, d) and positions of shape (batch, n), add the head axis: positions[:, None])"
        )
    return positions


def _rotary(x, positions, base):
    """``x`` with features ``(2i, 2i + 1)`` turned by ``positions * base**(-2i / d)``: computed in at
    least float64, then rounded once to ``x``'s dtype."""
    wide = np.result_type(x, positions, np.float64)
    d = x.shape[-1]
    angle = np.multiply.outer(positions.astype(wide), wide.type(base) ** (-np.arange(0, d, 2, dtype=wide) / d))
    cos, sin = np.cos(angle), np.sin(angle)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty(x.shape, wide)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out.astype(x.dtype)
