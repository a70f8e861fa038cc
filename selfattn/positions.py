"""Telling attention where each token is."""

import numpy as np

from ._checks import as_array, as_float_array, overflow_error, positive_int, real_dtype, real_number


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
    with np.errstate(over="ignore", invalid="ignore"):  # reported by name just below
        angle = np.multiply.outer(positions, base ** (-np.arange(0, x.shape[-1], 2) / x.shape[-1]))
        if not np.isfinite(angle).all():
            raise ValueError(
                f"the angles positions * base**(-2i / d) overflowed float64; got positions of magnitude up to "
                f"{np.abs(positions).max():.3g} and base {base!r}: use a base of at least 1 (a smaller base turns "
                "the last pairs fastest) or smaller positions"
            )
        out = _rotate(x, angle)
    if not np.isfinite(out).all():
        raise overflow_error("the rotated x", x.dtype, {"x": x})
    return out


def _rotate(x, angle):
    """``x`` with features ``(2i, 2i + 1)`` rotated by ``angle[..., i]`` (float64), in float64, then
    rounded once to ``x``'s dtype; unchecked."""
    cos, sin = np.cos(angle), np.sin(angle)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty(x.shape)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out.astype(x.dtype)


def _positions(positions, x_shape):
    """``positions`` as a float64 array whose shape broadcasts to ``x_shape[:-1]``, or an error."""
    arr = as_array(positions, "positions")
    if not real_dtype(arr.dtype):
        raise TypeError(f"positions must be real numbers (ints or floats); got dtype {arr.dtype}")
    leading = x_shape[:-1]
    try:
        fits = arr.ndim >= 1 and arr.shape[-1] == leading[-1] and np.broadcast_shapes(arr.shape, leading) == leading
    except ValueError:  # does not broadcast
        fits = False
    if not fits:
        raise ValueError(
            f"positions must have shape (n,) = ({leading[-1]},), or (..., n) broadcastable to x's leading axes "
            f"{leading} (x has shape {x_shape}); got shape {arr.shape}"
        )
    with np.errstate(over="ignore"):  # a long double beyond float64's range becomes inf: refused just below
        values = arr.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"positions must be finite in float64; got {arr[~np.isfinite(values)][0]!s}")
    return values
