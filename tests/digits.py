"""Printed digits that hold on any machine.

A BLAS, a CPU's vector units or numpy's own loops may add the same numbers in another
order, and the last bits of a result change with it. A number printed with fewer digits
than it has is safe unless it sits near a rounding boundary of the digits shown; then
another machine prints another last digit. ``checked_print`` prints as ``print`` does,
after checking that every float it prints (arrays, numpy scalars and Python floats, also
inside tuples and lists) prints the same when moved by a few dozen units in the last place
either way. A zero stays exact (masks and ``0 * x`` give exact zeros everywhere), and so
does a lone float that shows 3 digits fewer than its dtype holds (exact, like 0.5, or
rounded on purpose); but a nonzero number far below the others it is printed with is
rounding noise, shown only on this machine.

The docs' conftest hands ``checked_print`` to every page and docstring example as
``print``, so a page whose printed digits could change fails with a message that says which
number and how to fix it: print fewer digits (``with np.printoptions(precision=...)``).
"""

import builtins

import numpy as np

# How far another order of the same additions may move a result, in units in the last place:
# float64 and float32 products go through the BLAS, exp and log through the CPU's own vector
# code; numpy computes float16 one operation at a time in float32 and rounds, the same everywhere.
ULPS = {np.dtype(np.float64): 64, np.dtype(np.float32): 16, np.dtype(np.float16): 0}
NOISE = 1e-9  # nonzero values this far below the largest one printed with them are noise


class FragileDigits(AssertionError):
    pass


def _map(value, f):
    """``value`` with ``f`` applied to every float in it (arrays, numpy and Python floats, in lists and tuples)."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return f(value)
    if isinstance(value, (float, np.floating)):
        if _rounded(value):
            return value
        moved = f(np.asarray(value))[()]
        return moved if isinstance(value, np.floating) else float(moved)
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_map(item, f) for item in value)
    return value


def _rounded(x):
    """Whether a lone float shows 3 digits fewer than its dtype holds: exact, or rounded on
    purpose (``round(x, 3)``); a computed float64 prints with 15 to 17."""
    digits = str(x).lstrip("-").split("e")[0].replace(".", "").strip("0")
    return len(digits) <= np.finfo(type(x) if isinstance(x, np.floating) else np.float64).precision - 3


def _largest(value):
    """The largest finite magnitude among the floats in ``value`` (0 if none)."""
    found = [0.0]
    _map(value, lambda a: found.append(float(np.max(np.abs(a[np.isfinite(a)]), initial=0))) or a)
    return max(found)


def problem(value):
    """Why the printed form of ``value`` could differ on another machine, or None."""
    shown = str(value)
    for direction in (1, -1):
        moved = str(_map(value, lambda a, d=direction: a * (1 + d * ULPS.get(a.dtype, 64) * np.finfo(a.dtype).eps)))
        if moved != shown:
            return f"prints {shown!r} here but {moved!r} if its last bits change"
    cutoff = NOISE * _largest(value)
    cleaned = str(_map(value, lambda a: np.where(np.abs(a) < cutoff, a.dtype.type(0), a)))
    if cleaned != shown:
        return f"prints {shown!r}, whose tiny entries are rounding noise (exactly 0 would print {cleaned!r})"
    return None


def checked_print(*args, **kwargs):
    """``print``, after checking that each argument prints the same on any machine."""
    for arg in args:
        why = problem(arg)
        if why:
            raise FragileDigits(
                f"{why}: print fewer digits, e.g. inside `with np.printoptions(precision=4, suppress=True):`, "
                "or round a float with f'{x:.4f}'"
            )
    builtins.print(*args, **kwargs)
