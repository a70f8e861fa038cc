"""The models' frozen dataclasses (selfattn/_frozen.py): copies stay frozen, the odd array out is blamed."""

import copy
import dataclasses
import pickle

import numpy as np
import pytest

from selfattn import GPT, MultiHeadAttention, TransformerBlock

MODELS = {
    "MultiHeadAttention": lambda: MultiHeadAttention.init(8, 2, rng=0),
    "TransformerBlock": lambda: TransformerBlock.init(8, 2, 16, rng=0),
    "GPT": lambda: GPT.init(vocab=5, n_ctx=4, d_model=8, n_heads=2, n_layers=2, rng=0),
}
COPIES = {"copy": copy.copy, "deepcopy": copy.deepcopy, "pickle": lambda model: pickle.loads(pickle.dumps(model))}


def arrays(model):
    """Every array of ``model`` and of the models in its fields."""
    for value in vars(model).values():
        if isinstance(value, np.ndarray):
            yield value
        for inner in value if isinstance(value, tuple) else [value]:
            if dataclasses.is_dataclass(inner):
                yield from arrays(inner)


@pytest.mark.parametrize("copy_of", COPIES.values(), ids=COPIES)
@pytest.mark.parametrize("make", MODELS.values(), ids=MODELS)
def test_copies_stay_frozen(make, copy_of):
    """A deep copy or an unpickled model had writeable arrays: a NaN written into a weight
    was then blamed on the input."""
    model = make()
    copied = copy_of(model)
    assert copied == model
    found = list(arrays(copied))
    assert len(found) >= 4 and not any(a.flags.writeable for a in found)
    with pytest.raises(ValueError, match="read-only"):
        found[-1][...] = np.nan


def test_the_array_that_differs_from_the_others_is_blamed():
    mha = MODELS["MultiHeadAttention"]()
    with pytest.raises(ValueError) as info:
        dataclasses.replace(mha, w_q=np.ones((6, 6)))  # it blamed w_k
    assert str(info.value) == (
        "w_q must have shape (d_model, d_model) = (8, 8) (d_model=8, as the other arguments have it); got shape (6, 6)"
    )
    with pytest.raises(ValueError) as info:
        dataclasses.replace(MODELS["TransformerBlock"](), w_1=np.ones((8, 20)))  # it blamed b_1
    assert str(info.value) == (
        "w_1 must have shape (d_model, d_ff) = (8, 16) (d_model=8, d_ff=16, as the other arguments have it); "
        "got shape (8, 20)"
    )
