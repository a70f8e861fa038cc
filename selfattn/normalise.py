"""A softmax that cannot overflow."""

import numpy as np

from ._checks import as_float_array, axis_index


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
    return np.moveaxis(_softmax(np.moveaxis(x, axis, -1)), -1, axis)


def _softmax(scores, allowed=None):
    """Softmax over the last axis of ``scores``, using only the entries where ``allowed``.

    Entries that are not allowed get weight 0. A row with no allowed entry gets all
    zeros, so it contributes nothing downstream instead of turning into NaN (PyTorch's
    ``scaled_dot_product_attention`` does the same). Unchecked: callers pass valid arrays.
    """
    where = True if allowed is None else np.broadcast_to(allowed, scores.shape)
    row_max = scores.max(axis=-1, keepdims=True, initial=-np.inf, where=where)
    with np.errstate(over="ignore"):  # a score far below the maximum may reach -inf: its exp is 0
        shifted = scores - row_max
    e = np.exp(shifted, out=np.zeros_like(scores), where=where)
    total = e.sum(axis=-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)
