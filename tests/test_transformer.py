"""TransformerBlock and the backward passes of the block and of MultiHeadAttention.

Hand-worked values, finite differences in float64, construction checks and bad input. The
comparison with torch.nn.TransformerEncoderLayer is in test_torch_backward.py.
"""

import dataclasses

import numpy as np
import pytest
from helpers import normal, numerical_gradient

from selfattn import MultiHeadAttention, TransformerBlock, causal_mask, layer_norm
from selfattn.activations import ACTIVATIONS

FIELDS = ("ln1_w", "ln1_b", "ln2_w", "ln2_b", "w_1", "b_1", "w_2", "b_2")
MHA_FIELDS = ("w_q", "w_k", "w_v", "w_o", "b_q", "b_k", "b_v", "b_o")


def random_block(d_model=6, n_heads=2, d_ff=10, seed=0, bias=True, activation="relu"):
    """A block whose every parameter is random (no ones or zeros that could hide a mistake)."""
    rng = np.random.default_rng(seed)
    attn = MultiHeadAttention.init(d_model, n_heads, rng=rng, bias=bias)
    if bias:
        attn = dataclasses.replace(attn, **{name: rng.normal(size=d_model) for name in MHA_FIELDS[4:]})
    shapes = {"w_1": (d_model, d_ff), "b_1": (d_ff,), "w_2": (d_ff, d_model)}
    params = {name: rng.normal(scale=0.5, size=shapes.get(name, (d_model,))) for name in FIELDS}
    params["ln1_w"] += 1
    params["ln2_w"] += 1
    return TransformerBlock(attn=attn, **params, activation=activation)


def cast(block, dtype, scale=1.0):
    """``block`` with every array in ``dtype``, and the MLP's weights multiplied by ``scale``."""
    attn = dataclasses.replace(block.attn, **{name: getattr(block.attn, name).astype(dtype) for name in MHA_FIELDS})
    arrays = {name: getattr(block, name) * (scale if name in ("w_1", "w_2") else 1) for name in FIELDS}
    return TransformerBlock(attn=attn, **{name: value.astype(dtype) for name, value in arrays.items()})


def assert_close(ours, reference, name):
    assert ours.shape == reference.shape, name
    assert np.max(np.abs(ours - reference)) <= 1e-8 * max(1.0, np.max(np.abs(reference))), name


# TransformerBlock: construction


def test_init_shapes_and_starting_values():
    block = TransformerBlock.init(d_model=6, n_heads=3, d_ff=10, rng=0)
    assert (block.d_model, block.d_ff, block.attn.n_heads) == (6, 10, 3)
    assert block.w_1.shape == (6, 10) and block.w_2.shape == (10, 6) and block.b_1.shape == (10,)
    np.testing.assert_array_equal(block.ln1_w, np.ones(6))
    np.testing.assert_array_equal(block.ln2_b, np.zeros(6))
    assert block == TransformerBlock.init(d_model=6, n_heads=3, d_ff=10, rng=0)
    assert block != TransformerBlock.init(d_model=6, n_heads=3, d_ff=10, rng=1)


def test_equal_only_when_the_attention_and_every_array_are_equal():
    block = TransformerBlock.init(d_model=6, n_heads=3, d_ff=10, rng=0)
    other_attn = dataclasses.replace(block, attn=dataclasses.replace(block.attn, n_heads=2))
    other_array = dataclasses.replace(block, b_2=np.ones(6))
    assert block == dataclasses.replace(block)
    assert block != other_attn and block != other_array
    assert block.__eq__(block.attn) is NotImplemented


def test_init_scales_the_mlp_weights_to_keep_outputs_of_order_one():
    block = TransformerBlock.init(d_model=64, n_heads=4, d_ff=256, rng=0)
    # 16384 draws each: the sample standard deviation is within 2% of the one asked for
    assert abs(block.w_1.std() * np.sqrt(64) - 1) < 0.02
    assert abs(block.w_2.std() * np.sqrt(256) - 1) < 0.02


def test_frozen_and_read_only():
    block = random_block()
    with pytest.raises(dataclasses.FrozenInstanceError):
        block.w_1 = np.zeros((6, 10))
    with pytest.raises(ValueError, match="read-only"):
        block.w_1[0, 0] = 1.0


def test_fields_are_copies():
    w_1 = normal(6, 6, 10)
    block = dataclasses.replace(random_block(), w_1=w_1)
    w_1[0, 0] = 100.0
    assert block.w_1[0, 0] != 100.0


def test_arrays_share_one_dtype():
    """Arrays of mixed float dtypes are stored in their common dtype: one float for the block."""
    block = random_block()
    mixed = dataclasses.replace(block, ln1_w=block.ln1_w.astype(np.float32), w_1=block.w_1.astype(np.float16))
    assert {getattr(mixed, name).dtype for name in FIELDS} == {np.dtype(np.float64)}
    fields32 = {name: getattr(block, name).astype(np.float32) for name in FIELDS}
    block32 = dataclasses.replace(block, **(fields32 | {"b_2": np.zeros(6, np.float16)}))
    assert {getattr(block32, name).dtype for name in FIELDS} == {np.dtype(np.float32)}


# TransformerBlock: forward


def test_forward_by_hand_with_attention_and_mlp_switched_off():
    # w_o = 0, b_o = 0: attention adds nothing; w_2 = 0: the MLP adds b_2. out = x + b_2.
    block = random_block()
    block = dataclasses.replace(
        block, attn=dataclasses.replace(block.attn, w_o=np.zeros((6, 6)), b_o=np.zeros(6)), w_2=np.zeros((10, 6))
    )
    x = normal(7, 2, 4, 6)
    np.testing.assert_array_equal(block(x), x + block.b_2)


def test_forward_by_hand_with_constant_normalised_tokens():
    # ln1_w = 0: every token becomes ln1_b, so attention averages equal values and gives
    # (ln1_b @ w_v + b_v) @ w_o + b_o to every token, whatever the weights or the mask.
    block = dataclasses.replace(random_block(), ln1_w=np.zeros(6))
    attn = block.attn
    x = normal(8, 5, 6)
    h = x + (block.ln1_b @ attn.w_v + attn.b_v) @ attn.w_o + attn.b_o
    expected = (
        h + np.maximum(layer_norm(h, block.ln2_w, block.ln2_b) @ block.w_1 + block.b_1, 0) @ block.w_2 + block.b_2
    )
    np.testing.assert_allclose(block(x, causal=True), expected, rtol=1e-13)


def test_forward_is_the_formula():
    block = random_block()
    x = normal(9, 2, 5, 6)
    h = x + block.attn(layer_norm(x, block.ln1_w, block.ln1_b), causal=True)
    expected = (
        h + np.maximum(layer_norm(h, block.ln2_w, block.ln2_b) @ block.w_1 + block.b_1, 0) @ block.w_2 + block.b_2
    )
    np.testing.assert_allclose(block(x, causal=True), expected, rtol=1e-13)


def test_causal_block_ignores_the_future():
    block = random_block()
    x = normal(10, 5, 6)
    changed = x.copy()
    changed[3:] += normal(35, 2, 6)  # (a constant would vanish in the layer norm)
    np.testing.assert_allclose(block(changed, causal=True)[:3], block(x, causal=True)[:3], rtol=1e-13)
    assert not np.allclose(block(changed)[:3], block(x)[:3])


def test_each_token_is_independent_without_attention_mixing():
    # A mask that lets each token see only itself: the block acts on each token alone.
    block = random_block()
    x = normal(11, 4, 6)
    own = block(x, np.eye(4, dtype=bool))
    for i in range(4):
        np.testing.assert_allclose(own[i], block(x[i : i + 1])[0], rtol=1e-13)


def test_batched_block_takes_a_mask_per_sequence_and_head():
    block = random_block(seed=36)
    x, d_out = normal(37, 3, 4, 6), normal(38, 3, 4, 6)
    mask = normal(39, 3, 2, 4, 4) > 0  # (batch, n_heads, n, n)
    mask[..., 0] = True
    out = block(x, mask)
    dx, grads = block.backward(x, d_out, mask)
    for i in range(3):
        np.testing.assert_allclose(out[i], block(x[i], mask[i]), rtol=1e-13)
        np.testing.assert_allclose(dx[i], block.backward(x[i], d_out[i], mask[i])[0], rtol=1e-12)
    assert not np.allclose(out, block(x, mask[:1]))  # each sequence's mask counts


# Backward passes against finite differences


def block_gradients_by_finite_differences(block, x, d_out, **masks):
    """dx and every parameter's gradient of sum(block(x) * d_out), by central differences."""

    def loss(b, x_):
        return np.sum(b(x_, **masks) * d_out)

    numerical = {"x": numerical_gradient(lambda x_: loss(block, x_), x)}
    for name in FIELDS:
        numerical[name] = numerical_gradient(
            lambda a, name=name: loss(dataclasses.replace(block, **{name: a}), x), getattr(block, name)
        )
    for name in MHA_FIELDS:
        if getattr(block.attn, name) is not None:
            numerical["attn." + name] = numerical_gradient(
                lambda a, name=name: loss(
                    dataclasses.replace(block, attn=dataclasses.replace(block.attn, **{name: a})), x
                ),
                getattr(block.attn, name),
            )
    return numerical


def assert_matches(dx, grads, numerical):
    """Every gradient of a block's backward pass close to its finite-difference estimate."""
    assert_close(dx, numerical["x"], "x")
    for name, reference in numerical.items():
        if name != "x":
            ours = getattr(grads.attn, name[5:]) if name.startswith("attn.") else getattr(grads, name)
            assert_close(ours, reference, name)


@pytest.mark.parametrize(
    "masks",
    [{}, {"causal": True}, {"mask": np.array([[1, 1, 0, 1], [0, 1, 1, 1], [1, 0, 1, 0], [1, 1, 1, 1]], dtype=bool)}],
)
def test_block_backward_matches_finite_differences(masks):
    block = random_block(seed=12)
    x, d_out = normal(13, 2, 4, 6), normal(14, 2, 4, 6)
    dx, grads = block.backward(x, d_out, **masks)
    numerical = block_gradients_by_finite_differences(block, x, d_out, **masks)
    assert_matches(dx, grads, numerical)


def test_block_backward_without_attention_biases():
    block = random_block(seed=15, bias=False)
    x, d_out = normal(16, 3, 6), normal(17, 3, 6)
    dx, grads = block.backward(x, d_out)
    assert grads.attn.b_q is None and grads.attn.b_o is None
    numerical = block_gradients_by_finite_differences(block, x, d_out)
    assert "attn.b_q" not in numerical
    assert_matches(dx, grads, numerical)


def test_mha_backward_matches_finite_differences():
    mha = random_block(seed=18).attn
    x, d_out = normal(19, 2, 5, 6), normal(20, 2, 5, 6)
    mask = normal(21, 2, 1, 5, 5) > -0.3
    mask[..., 0] = True

    def loss(m, x_):
        return np.sum(m(x_, mask=mask, causal=True) * d_out)

    dx, grads = mha.backward(x, d_out, mask, causal=True)
    assert isinstance(grads, MultiHeadAttention) and grads.n_heads == mha.n_heads
    assert_close(dx, numerical_gradient(lambda x_: loss(mha, x_), x), "x")
    for name in MHA_FIELDS:
        numerical = numerical_gradient(
            lambda a, name=name: loss(dataclasses.replace(mha, **{name: a}), x), getattr(mha, name)
        )
        assert_close(getattr(grads, name), numerical, name)


def test_block_gradients_by_hand_with_everything_switched_off():
    # w_o = 0 and w_2 = 0: nothing but the residual path reaches x, so dx = d_out exactly,
    # d b_2 = d_out summed over the tokens, d b_o as well (b_o is added to every token).
    block = random_block()
    block = dataclasses.replace(
        block, attn=dataclasses.replace(block.attn, w_o=np.zeros((6, 6))), w_2=np.zeros((10, 6))
    )
    x, d_out = normal(22, 2, 4, 6), normal(23, 2, 4, 6)
    dx, grads = block.backward(x, d_out)
    np.testing.assert_array_equal(dx, d_out)
    np.testing.assert_allclose(grads.b_2, d_out.sum(axis=(0, 1)), rtol=1e-14)
    np.testing.assert_allclose(grads.attn.b_o, d_out.sum(axis=(0, 1)), rtol=1e-14)
    assert not grads.b_1.any() and not grads.attn.w_q.any()


def test_fully_masked_token_gets_gradient_only_through_its_own_path():
    # Token 2 may attend to nothing: attention gives it b_o only, so its dx comes from the
    # residual and the MLP, not from the attention weights, and the keys' gradients are as
    # if it were not a query.
    block = random_block(seed=24)
    x, d_out = normal(25, 4, 6), normal(26, 4, 6)
    mask = np.ones((4, 4), dtype=bool)
    mask[2] = False
    dx, grads = block.backward(x, d_out, mask)
    assert np.isfinite(dx).all() and all(np.isfinite(getattr(grads, name)).all() for name in FIELDS)
    numerical = numerical_gradient(lambda x_: np.sum(block(x_, mask) * d_out), x)
    assert_close(dx, numerical, "x")


def test_float32_backward_stays_float32():
    block = random_block()
    block32 = cast(block, np.float32)
    x, d_out = normal(27, 3, 6).astype(np.float32), normal(28, 3, 6).astype(np.float32)
    assert block32(x).dtype == np.float32
    dx, grads = block32.backward(x, d_out, causal=True)
    assert dx.dtype == np.float32 and grads.w_1.dtype == np.float32 and grads.attn.w_q.dtype == np.float32
    dx64, grads64 = block.backward(x.astype(np.float64), d_out.astype(np.float64), causal=True)
    np.testing.assert_allclose(dx, dx64, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grads.w_1, grads64.w_1, rtol=1e-4, atol=1e-4)


def test_backward_batch_gradients_sum_over_sequences():
    block = random_block(seed=29)
    x, d_out = normal(30, 3, 4, 6), normal(31, 3, 4, 6)
    dx, grads = block.backward(x, d_out, causal=True)
    parts = [block.backward(x[i], d_out[i], causal=True) for i in range(3)]
    np.testing.assert_allclose(dx, np.stack([p[0] for p in parts]), rtol=1e-12)
    np.testing.assert_allclose(grads.w_2, sum(p[1].w_2 for p in parts), rtol=1e-12)
    np.testing.assert_allclose(grads.attn.w_v, sum(p[1].attn.w_v for p in parts), rtol=1e-12)


def test_causal_is_the_causal_mask():
    block = random_block(seed=32)
    x, d_out = normal(33, 5, 6), normal(34, 5, 6)
    dx, grads = block.backward(x, d_out, causal=True)
    dx_mask, grads_mask = block.backward(x, d_out, causal_mask(5))
    np.testing.assert_array_equal(dx, dx_mask)
    assert grads == grads_mask


# The activations


def test_activation_hand_values():
    z = np.array([-1.0, 0.0, 1.0, 2.0])
    relu, gelu, gelu_tanh = (ACTIVATIONS[name][0] for name in ("relu", "gelu", "gelu_tanh"))
    assert np.array_equal(relu(z), [0.0, 0.0, 1.0, 2.0])
    phi = np.array([0.15865525393145707, 0.5, 0.8413447460685429, 0.9772498680518208])  # Phi(z), the normal's cdf
    np.testing.assert_allclose(gelu(z), z * phi, rtol=1e-15)
    u = np.sqrt(2 / np.pi) * (z + 0.044715 * z**3)
    np.testing.assert_allclose(gelu_tanh(z), 0.5 * z * (1 + np.tanh(u)), rtol=1e-15)
    assert abs(gelu_tanh(z) - gelu(z)).max() < 1e-3  # an approximation of gelu


@pytest.mark.parametrize("name", ["relu", "gelu", "gelu_tanh"])
def test_activation_derivatives_match_finite_differences(name):
    activation, derivative = ACTIVATIONS[name]
    z = np.concatenate([np.linspace(-6.05, 6.05, 122), normal(42, 30) * 3])  # no z at 0, where relu has a kink
    numerical = (activation(z + 1e-6) - activation(z - 1e-6)) / 2e-6
    np.testing.assert_allclose(derivative(z), numerical, atol=1e-8)


@pytest.mark.parametrize("name", ["relu", "gelu", "gelu_tanh"])
def test_activations_keep_float32(name):
    z = normal(43, 3, 5).astype(np.float32)
    assert all(np.result_type(f(z), np.float32) == np.float32 for f in ACTIVATIONS[name])


@pytest.mark.parametrize("activation", ["gelu", "gelu_tanh"])
def test_block_with_gelu_backward_matches_finite_differences(activation):
    block = random_block(d_model=4, n_heads=2, d_ff=7, seed=44, activation=activation)
    x, d_out = normal(45, 2, 3, 4), normal(46, 2, 3, 4)
    dx, grads = block.backward(x, d_out, causal=True)
    assert grads.activation == activation
    assert_matches(dx, grads, block_gradients_by_finite_differences(block, x, d_out, causal=True))


def test_block_applies_its_activation():
    relu_block = random_block(seed=47)
    x = normal(48, 5, 6)
    for name, (activation, _) in ACTIVATIONS.items():
        block = dataclasses.replace(relu_block, activation=name)
        h = x + block.attn(layer_norm(x, block.ln1_w, block.ln1_b))
        mlp = activation(layer_norm(h, block.ln2_w, block.ln2_b) @ block.w_1 + block.b_1) @ block.w_2 + block.b_2
        np.testing.assert_allclose(block(x), h + mlp, atol=1e-12)
    assert dataclasses.replace(relu_block, activation="gelu") != relu_block


@pytest.mark.parametrize("activation", ["swish", "GELU", None, ("relu",)])
def test_unknown_activation(activation):
    with pytest.raises(ValueError, match=r"activation must be one of 'relu', 'gelu', 'gelu_tanh'; got "):
        random_block(activation=activation)
    with pytest.raises(ValueError, match=r"activation must be one of"):
        TransformerBlock.init(6, 2, 10, activation=activation)


def test_relu_passes_no_gradient_where_its_input_is_exactly_zero():
    # w_1 = 0 and b_1 = 0: every hidden unit's input is exactly 0, where ReLU's gradient is
    # taken as 0 (as in PyTorch): no gradient reaches w_1 or b_1.
    block = dataclasses.replace(random_block(), w_1=np.zeros((6, 10)), b_1=np.zeros(10))
    _, grads = block.backward(normal(40, 4, 6), normal(41, 4, 6))
    assert not grads.w_1.any() and not grads.b_1.any() and not grads.w_2.any()


# The MLP's output is of order scale**2: 1e60 overflows float32, 1e400 float64.
@pytest.mark.parametrize(
    "x_dtype, block_dtype, scale, dtype",
    [(np.float32, np.float32, 1e30, "float32"), (np.float32, np.float64, 1e200, "float64")],
)
def test_overflow_names_the_dtype_of_x_and_the_block_together(x_dtype, block_dtype, scale, dtype):
    block = cast(random_block(), block_dtype, scale)
    with pytest.raises(ValueError, match=f"^TransformerBlock overflowed {dtype} "):
        block(normal(42, 4, 6).astype(x_dtype))


@pytest.mark.parametrize(
    "x_dtype, d_out_dtype, block_dtype, scale, dtype",
    [
        (np.float32, np.float32, np.float32, 1e30, "float32"),
        (np.float64, np.float32, np.float32, 1e30, "float64"),  # in d_out @ w_2.T @ w_1.T
        (np.float32, np.float64, np.float32, 1e30, "float64"),
        (np.float32, np.float32, np.float64, 1e200, "float64"),
    ],
)
def test_backward_overflow_names_the_dtype_of_x_d_out_and_the_block_together(
    x_dtype, d_out_dtype, block_dtype, scale, dtype
):
    block = cast(random_block(), block_dtype, scale)
    x, d_out = normal(43, 4, 6).astype(x_dtype), normal(44, 4, 6).astype(d_out_dtype)
    with pytest.raises(ValueError, match=f"^TransformerBlock.backward overflowed {dtype} "):
        block.backward(x, d_out)


@pytest.mark.parametrize("size", [2.0**600, 2.0**1000])  # powers of two: their mean is exact
def test_a_constant_token_has_the_gradient_of_any_other_constant_token(size):
    """Layer norm maps every constant vector to its bias, and its gradient there is
    (I - 1/n) / sqrt(eps) whatever the constant: with the MLP switched off (w_1 = 0) the
    block's gradient is the same for tokens of ones and of ``size``, although
    var + eps underflows when the vector is scaled down to be squared."""
    block = dataclasses.replace(random_block(), w_1=np.zeros((6, 10)), b_1=np.zeros(10))
    d_out = normal(1, 4, 6)
    dx_ones, grads_ones = block.backward(np.ones((4, 6)), d_out)
    dx_big, grads_big = block.backward(np.full((4, 6), size), d_out)
    np.testing.assert_allclose(dx_big, dx_ones, rtol=1e-12)
    np.testing.assert_allclose(grads_big.attn.w_v, grads_ones.attn.w_v, rtol=1e-12)
    assert np.abs(dx_big - d_out).max() > 1  # the layer norm's path counts: 1 / sqrt(eps) is 316
