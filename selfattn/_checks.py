"""Input checks shared by every public function: one place for the error messages."""

import numpy as np


def as_float_array(x, name, shape):
    """Return ``x`` as a finite, non-empty float array whose shape matches ``shape``.

    ``shape`` is a tuple of axis names such as ``("...", "n", "d")``: a leading
    ``"..."`` allows any number of batch axes before the named ones. Float dtypes are
    kept; integer and boolean input becomes float64.
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array; got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    named = [s for s in shape if s != "..."]
    batched = shape[:1] == ("...",)
    expected = "(" + ", ".join(shape) + ")"
    if arr.ndim < len(named) or (not batched and arr.ndim != len(named)):
        raise ValueError(f"{name} must have shape {expected}; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    if not np.isfinite(arr).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name} must be finite; got {arr[where]} at index {where}")
    return arr


def positive_int(value, name):
    """Return ``value`` as an int, or raise if it is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int; got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int; got {value}")
    return int(value)
