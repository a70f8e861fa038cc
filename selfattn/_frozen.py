"""What the models' frozen dataclasses share: checked, read-only arrays, kept so by copies too."""

import functools
from collections import Counter
from dataclasses import fields, replace

import numpy as np

from ._checks import as_float_array


class Frozen:
    """A base for frozen, keyword-built dataclasses of arrays: `MultiHeadAttention`, `TransformerBlock`, `GPT`.

    ``_freeze`` checks the arrays and stores them as read-only copies in their common
    float dtype. Two instances are equal (``==``) when all their fields are; copies
    (``copy.deepcopy``, pickle) are built by the constructor, so they are checked and
    frozen again.
    """

    def _freeze(self, axes, **known):
        """Check the fields named in ``axes`` (name -> axis names) against one another, and freeze them.

        The size of each axis is ``known[axis]`` or else the one most of the arrays have,
        so that an error names the odd one out. Returns the sizes.
        """
        arrays = {name: as_float_array(getattr(self, name), name, shape) for name, shape in axes.items()}
        votes = Counter(pair for name, a in arrays.items() for pair in zip(axes[name], a.shape, strict=True))
        sizes = dict(known)
        for (axis, size), _ in votes.most_common():  # the most common size of each axis comes first
            sizes.setdefault(axis, size)
        for name, value in arrays.items():
            expected = tuple(sizes[axis] for axis in axes[name])
            if value.shape != expected:
                shown = ", ".join(f"{axis}={sizes[axis]}" for axis in dict.fromkeys(axes[name]))
                raise ValueError(
                    f"{name} must have shape {_axes(axes[name])} = {expected} "
                    f"({shown}, as the other arguments have it); got shape {value.shape}"
                )
        dtype = np.result_type(*arrays.values())
        for name, value in arrays.items():
            value = np.array(value, dtype=dtype)  # a copy the caller cannot change
            value.flags.writeable = False
            object.__setattr__(self, name, value)
        return sizes

    def _replaced(self, arrays):
        """A copy with ``arrays`` in place of those fields (a dict for a field that is a `Frozen` itself)."""
        changes = {name: getattr(self, name)._replaced(a) if isinstance(a, dict) else a for name, a in arrays.items()}
        return replace(self, **changes)

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        # field by field: numbers, strings, arrays, None (no bias) equals only None, and a Frozen or a
        # tuple of them (which array_equal holds as object arrays) compared with ==
        return all(np.array_equal(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    __hash__ = None  # equal instances must hash alike, and arrays have no hash

    def __reduce__(self):
        return functools.partial(type(self), **{f.name: getattr(self, f.name) for f in fields(self)}), ()


def _axes(names):
    """``("d_model",)`` -> ``"(d_model,)"``, as a tuple of that length prints."""
    return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"
