"""Argument checks shared by the public functions: one place for the error messages.

Every public function calls these once, on entry, so that an error names the caller's own
argument; the private kernels it then calls trust their arguments.
"""

import math
import operator

import numpy as np


def as_float_array(x, name, shape):
    """Return ``x`` as a finite, non-empty float array whose shape matches ``shape``.

    ``shape`` is a tuple of axis names such as ``("...", "n", "d")``: a leading
    ``"..."`` allows any number of batch axes before the named ones. Float dtypes are
    kept; integer and boolean input becomes float64.
    """
    arr = as_array(x, name)
    if not (arr.dtype == bool or real_dtype(arr.dtype)):
        raise TypeError(f"{name} must be a real numeric array; got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    named = [s for s in shape if s != "..."]
    batched = shape[:1] == ("...",)
    if arr.ndim < len(named) or (not batched and arr.ndim != len(named)):
        expected = f"({shape[0]},)" if len(shape) == 1 else f"({', '.join(shape)})"
        raise ValueError(f"{name} must have shape {expected}; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    if not np.isfinite(arr).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name} must be finite; got {arr[where]} at index {where}")
    return arr


def real_dtype(dtype):
    """Whether ``dtype`` holds real numbers: integers or floats (not bool, complex, strings, dates)."""
    return dtype.kind in ("i", "u", "f")


def as_array(x, name):
    """``np.asarray(x)``, or a ValueError naming ``x`` if it is a ragged nested sequence."""
    try:
        return np.asarray(x)
    except ValueError:
        raise ValueError(f"{name} must be a rectangular array; got a ragged nested sequence") from None


def positive_int(value, name):
    """Return ``value`` as an int, or raise if it is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int; got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int; got {value}")
    return int(value)


def flag(value, name):
    """Return ``value`` as a bool, or raise if it is not ``True`` or ``False``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {type(value).__name__} {value!r}")
    return bool(value)


def axis_index(axis, x, x_name):
    """Return ``axis`` as a non-negative axis of the array ``x`` (named ``x_name``)."""
    try:
        if isinstance(axis, (bool, np.bool_)):
            raise TypeError
        axis = operator.index(axis)
    except TypeError:
        raise TypeError(f"axis must be an int; got {type(axis).__name__} {axis!r}") from None
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis must be in [{-x.ndim}, {x.ndim}) for {x_name} of shape {x.shape}; got {axis}")
    return axis % x.ndim


def generator(rng):
    """``numpy.random.default_rng(rng)``, with an error that names ``rng``."""
    expected = "None, a non-negative int seed or a numpy.random.Generator"
    if rng is not None and not isinstance(rng, np.random.Generator):
        if isinstance(rng, (bool, np.bool_)) or not isinstance(rng, (int, np.integer)):
            raise TypeError(f"rng must be {expected}; got {type(rng).__name__} {rng!r}")
        if rng < 0:
            raise ValueError(f"rng must be {expected}; got {rng}")
    return np.random.default_rng(rng)


def head_size(d_model, n_heads):
    """A ValueError unless ``d_model`` splits into ``n_heads`` heads of equal width."""
    if d_model % n_heads:
        raise ValueError(f"d_model must be divisible by n_heads; got d_model={d_model} and n_heads={n_heads}")


def batch_shape(arrays, core_ndim=2):
    """The broadcast batch shape of named arrays, or a ValueError naming them all."""
    try:
        return np.broadcast_shapes(*(a.shape[:-core_ndim] for a in arrays.values()))
    except ValueError:
        shapes = [f"{name} {a.shape}" for name, a in arrays.items()]
        raise ValueError(f"{_and(list(arrays))} must have broadcastable batch axes; got {_and(shapes)}") from None


def _and(words, conjunction="and"):
    """``["a", "b", "c"]`` -> ``"a, b and c"``."""
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}" if len(words) > 1 else words[0]


def overflow_checked(function, rescale, kernel, *args):
    """``kernel(*args)``, or a ValueError naming ``function`` if an array it returns is not finite.

    The one place that looks for overflow: the kernels trust their checked, finite
    arguments and let an overflow run its course, to inf or NaN, which reaches the result.
    ``rescale`` maps the caller's names to the arguments that can be made smaller (None
    values, such as a default ``scale``, are left out of the message).
    """
    with np.errstate(all="ignore"):  # an overflow shows in the result: reported just below
        result = kernel(*args)
    bad = next((a for a in _arrays(result) if not np.isfinite(a).all()), None)
    if bad is None:
        return result
    rescale = {name: value for name, value in rescale.items() if value is not None}
    sizes = _and([f"|{name}| up to {_shown(np.abs(value).max())}" for name, value in rescale.items()])
    advice = ", or compute in float64" if np.finfo(bad.dtype).bits < 64 else ""
    raise ValueError(
        f"{function} overflowed {bad.dtype} (largest finite value {_shown(np.finfo(bad.dtype).max)}); "
        f"got {sizes}: rescale {_and(list(rescale), 'or')}{advice}"
    )


def _shown(number):
    """``number`` to 3 digits, as ``f"{number:.3g}"``, also beyond float64's range (a long double)."""
    return f"{float(number):.3g}" if abs(float(number)) < math.inf else np.format_float_scientific(number, 2, trim="-")


def _arrays(result):
    """The arrays in a kernel's result: an array or number, or a tuple, list or dict of them, nested."""
    if isinstance(result, (tuple, list, dict)):
        items = result.values() if isinstance(result, dict) else result
        return [a for item in items for a in _arrays(item)]
    return [np.asarray(result)]


def boolean_mask(mask, shape, expected="(..., n_q, n_k)", *, all_axes=False):
    """Return ``mask`` as a boolean array that broadcasts to ``shape``, or None.

    With ``all_axes``, a mask with more axes than ``(n_q, n_k)`` must have all of them: a
    padding mask of shape ``(batch, 1, n_k)`` on per-head scores ``(batch, n_heads, n_q,
    n_k)`` would have its batch axis read as the heads' axis.
    """
    if mask is None:
        return None
    mask = as_array(mask, "mask")
    if mask.dtype != bool:
        raise TypeError(f"mask must be a boolean array (True = may attend); got dtype {mask.dtype}")
    if all_axes and 2 < mask.ndim < len(shape):
        raise ValueError(
            f"mask must have shape (n_q, n_k), or all the axes of {expected} = {shape}; got shape {mask.shape} "
            "(for a padding mask of shape (batch, 1, n_k) and per-head inputs, add the head axis: mask[:, None])"
        )
    if not broadcasts_to(mask.shape, shape):
        raise ValueError(f"mask must broadcast to {expected} = {shape}; got shape {mask.shape}")
    return mask


def broadcasts_to(shape, target):
    """Whether an array of ``shape`` broadcasts to ``target`` (and no larger)."""
    return len(shape) <= len(target) and all(n in (1, m) for n, m in zip(shape[::-1], target[::-1], strict=False))


def real_scale(scale, d_k):
    """The factor that multiplies the scores: ``1 / sqrt(d_k)`` by default."""
    return 1.0 / np.sqrt(d_k) if scale is None else real_number(scale, "scale")


def real_number(value, name, *, positive=False):
    """Return ``value`` as a finite float (a positive one if ``positive``), or raise naming ``name``."""
    kind = "a positive number" if positive else "a real number"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be {kind}; got {type(value).__name__} {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range, such as 10**400
        number = math.inf
    shown = repr(value) if len(repr(value)) <= 30 else f"an int of {len(str(abs(value)))} digits"
    if not (math.isfinite(number) and (number > 0 or not positive)):
        raise ValueError(f"{name} must be {'a positive, finite number' if positive else 'finite'}; got {shown}")
    return number


def attention_args(q, k, v, mask, causal, scale, *, values=True, all_axes=False):
    """Check the arguments of the attention functions; return them ready for the kernels.

    Returns ``(q, k, v, mask, causal, scale)``: ``q``, ``k`` and ``v`` (with
    ``values=False``, for a function that takes no ``v``, pass None) as finite float
    arrays of one common dtype; ``mask`` a boolean array that broadcasts to
    ``(..., n_q, n_k)`` (with all its axes, or only the last two, if ``all_axes``: see
    `boolean_mask`), or None; ``causal`` a bool; ``scale`` a float.
    """
    arrays = {"q": as_float_array(q, "q", ("...", "n_q", "d_k")), "k": as_float_array(k, "k", ("...", "n_k", "d_k"))}
    q, k = arrays["q"], arrays["k"]
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share d_k (the last axis); got q {q.shape} and k {k.shape}")
    if values:
        v = arrays["v"] = as_float_array(v, "v", ("...", "n_k", "d_v"))
        if k.shape[-2] != v.shape[-2]:
            raise ValueError(f"k and v must share n_k (one value per key); got k {k.shape} and v {v.shape}")
    batch = batch_shape(arrays)
    dtype = np.result_type(*arrays.values())
    q, k = q.astype(dtype, copy=False), k.astype(dtype, copy=False)
    v = None if v is None else v.astype(dtype, copy=False)
    mask = boolean_mask(mask, (*batch, q.shape[-2], k.shape[-2]), all_axes=all_axes)
    return q, k, v, mask, flag(causal, "causal"), real_scale(scale, q.shape[-1])
