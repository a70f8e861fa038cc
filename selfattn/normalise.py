"""The two normalisations: softmax (scores to weights) and layer norm (vectors to mean 0, variance 1)."""

import numpy as np

from ._checks import as_float_array, axis_index, overflow_checked, real_number


def softmax(x, axis=-1):
    """Softmax along ``axis``: ``exp(x) / sum(exp(x))``, computed without overflow.

    The maximum along ``axis`` is subtracted before ``exp``; that changes nothing in
    exact arithmetic (the factor ``exp(-max)`` cancels) and keeps every ``exp`` at most 1.

    Parameters
    ----------
    x : array_like of real numbers, shape (..., n)
        Finite scores. Integer input is computed in float64; float dtypes are kept.
    axis : int, default -1
        The axis to normalise.

    Returns
    -------
    ndarray, same shape and float dtype as ``x``
        Positive values that sum to 1 along ``axis``.

    Raises
    ------
    TypeError
        If ``x`` is not an array of real numbers, or ``axis`` is not an int.
    ValueError
        If ``x`` is a scalar, empty or holds NaN or inf, or ``axis`` is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from selfattn import softmax
    >>> print(softmax(np.array([1000.0, 1000.0])))
    [0.5 0.5]
    >>> print(softmax(np.array([[0.0, np.log(3.0)], [5.0, 5.0]])))
    [[0.25 0.75]
     [0.5  0.5 ]]
    """
    x = as_float_array(x, "x", ("...", "n"))
    axis = axis_index(axis, x, "x")
    return np.moveaxis(overflow_checked("softmax", {"x": x}, _softmax, np.moveaxis(x, axis, -1)), -1, axis)


def _softmax(scores, allowed=None):
    """Softmax over the last axis of ``scores``, using only the entries where ``allowed``.

    Entries that are not allowed get weight 0. A row with no allowed entry gets all
    zeros, so it contributes nothing downstream instead of turning into NaN (PyTorch's
    ``scaled_dot_product_attention`` does the same). Unchecked: callers pass valid arrays.
    """
    where = True if allowed is None else np.broadcast_to(allowed, scores.shape)
    row_max = scores.max(axis=-1, keepdims=True, initial=-np.inf, where=where)
    e = np.exp(scores - row_max, out=np.zeros_like(scores), where=where)  # a score far below the maximum: exp(-inf) = 0
    total = e.sum(axis=-1, keepdims=True, dtype=np.promote_types(e.dtype, np.float32))  # float16 ends at 65504
    return np.divide(e, total, out=np.zeros_like(e), where=total != 0)  # NaN (an overflow) passes


def layer_norm(x, weight, bias, eps=1e-5):
    """Normalise each vector of ``x`` to mean 0 and variance 1, then scale and shift it.

    ``(x - mean) / sqrt(var + eps) * weight + bias``, with the mean and the (biased)
    variance taken over the last axis: ``torch.nn.LayerNorm(d)``. The statistics are
    computed in float32 for float16 ``x`` (as PyTorch does), else in ``x``'s dtype.

    Parameters
    ----------
    x : array_like of real numbers, shape (..., d)
    weight : array_like of real numbers, shape (d,)
        Multiplies each normalised feature (PyTorch's starting point: ones).
    bias : array_like of real numbers, shape (d,)
        Added to each feature (PyTorch's starting point: zeros).
    eps : float, default 1e-5
        Added to the variance, so that a constant vector gives zeros, not a division by zero.

    Returns
    -------
    ndarray, shape (..., d)
        With ``weight`` ones and ``bias`` zeros, each vector has mean 0 and variance
        ``var / (var + eps)``, just under 1; a constant vector gives exactly 0.

    Raises
    ------
    TypeError, ValueError
        If an input is not numeric, ``weight`` or ``bias`` is not of shape ``(d,)``,
        ``eps`` is not a positive number within the range of the float the statistics are
        computed in, or the squares of ``x`` or the output overflow.

    Examples
    --------
    >>> import numpy as np
    >>> from selfattn import layer_norm
    >>> x = np.array([[1.0, 3.0], [5.0, 5.0]])  # mean 2, variance 1; then a constant
    >>> with np.printoptions(precision=4):
    ...     print(layer_norm(x, weight=np.ones(2), bias=np.zeros(2)))
    [[-1.  1.]
     [ 0.  0.]]
    >>> with np.printoptions(precision=4):
    ...     print(layer_norm(x, weight=np.array([2.0, 2.0]), bias=np.array([0.5, 0.5])))
    [[-1.5  2.5]
     [ 0.5  0.5]]
    """
    x = as_float_array(x, "x", ("...", "d"))
    weight, bias = (_vector(value, name, x.shape[-1]) for value, name in ((weight, "weight"), (bias, "bias")))
    eps = _eps(eps, x.dtype)
    rescale = {"x": x, "weight": weight, "bias": bias}
    return overflow_checked("layer_norm", rescale, _layer_norm, x, weight, bias, eps)[0]


def _vector(value, name, d):
    value = as_float_array(value, name, ("d",))
    if value.shape != (d,):
        raise ValueError(f"{name} must have shape (d,) = ({d},), one entry per feature of x; got shape {value.shape}")
    return value


def _eps(eps, dtype):
    """``eps`` as a float, refused unless positive and finite in the statistics' dtype."""
    eps = real_number(eps, "eps", positive=True)
    stats = np.promote_types(dtype, np.float32)
    info = np.finfo(stats)
    # below, a constant vector would give 0 / 0; above, var + eps would be inf
    if not float(info.smallest_subnormal) <= eps <= float(info.max):
        raise ValueError(
            f"eps must be between {info.smallest_subnormal:.3g} and {info.max:.3g}, "
            f"the positive range of {stats} (layer_norm's statistics for x of dtype {dtype}); got {eps!r}"
        )
    return eps


def _layer_norm(x, weight, bias, eps):
    """Layer norm; returns the output and what its backward needs, ``(x_hat, std)``.

    The statistics are computed in at least float32. Shifting ``x`` by its first entry changes
    neither the centred vector nor the variance, and makes a constant vector exactly 0 (its
    mean, rounded, need not be the constant).
    """
    wide = x.astype(np.promote_types(x.dtype, np.float32), copy=False)
    shifted = wide - wide[..., :1]
    centred = shifted - shifted.mean(axis=-1, keepdims=True)
    std = np.sqrt(np.mean(centred**2, axis=-1, keepdims=True) + eps)
    x_hat = (centred / std).astype(x.dtype, copy=False)
    return x_hat * weight + bias, (x_hat, std)
