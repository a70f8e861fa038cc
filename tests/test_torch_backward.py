"""The block and the gradients by hand agree with PyTorch 2.13 in float64.

``attention_backward`` against the backward of ``torch.nn.functional.scaled_dot_product_attention``;
``MultiHeadAttention.backward`` against ``torch.nn.MultiheadAttention``; ``TransformerBlock``
against ``torch.nn.TransformerEncoderLayer(..., dropout=0.0, activation=..., batch_first=True,
norm_first=True)`` with the same weights (and its activations against ``F.relu`` and
``F.gelu``): the output to 1e-12, every gradient to 1e-10. Each test
gives torch tensors that require gradients and calls ``backward(d_out)`` on the output, so torch's
gradients are those of ``sum(output * d_out)``, as ours are. torch computes ``x @ W.T + b``
where we compute ``x @ w + b``: our weights go in transposed. Its modules' boolean masks are
True where a query may *not* attend, so they get ``~mask``.
"""

import dataclasses

import numpy as np
import pytest

from selfattn import MultiHeadAttention, TransformerBlock, attention_backward, causal_mask, padding_mask
from selfattn.activations import ACTIVATIONS

pytestmark = pytest.mark.xdist_group("torch")  # one worker imports PyTorch, once
torch = None  # imported when these tests run, not when pytest collects them


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    global torch
    torch = pytest.importorskip(
        "torch", reason="PyTorch not installed: pip install torch==2.13.0 (CI installs it and fails on a skip)"
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TOLERANCE = 1e-10


def tensor(a):
    return torch.from_numpy(np.array(a))  # a copy: torch warns on read-only arrays (our parameters)


def leaf(a):
    return tensor(a).requires_grad_()


def max_diff(ours, theirs):
    assert theirs is not None
    assert ours.shape == tuple(theirs.shape)
    return float(np.max(np.abs(ours - theirs.numpy())))


def sdpa_gradients(q, k, v, d_out, mask=None, causal=False, scale=None):
    """torch's gradients of sum(sdpa(q, k, v) * d_out). Broadcast batch axes are expanded: autograd sums over them."""
    batch = d_out.shape[:-2]
    Q, K, V = (leaf(a) for a in (q, k, v))
    expanded = (X.expand(*batch, *X.shape[-2:]) for X in (Q, K, V))
    attn_mask = None if mask is None else torch.from_numpy(np.array(mask))
    sdpa = torch.nn.functional.scaled_dot_product_attention
    out = sdpa(*expanded, attn_mask=attn_mask, is_causal=causal, scale=scale)
    out.backward(torch.from_numpy(d_out))
    return Q.grad, K.grad, V.grad


def assert_match(q, k, v, d_out, mask=None, causal=False, scale=None, torch_mask=None):
    ours = attention_backward(q, k, v, d_out, mask, causal=causal, scale=scale)
    if torch_mask is not None:  # SDPA refuses attn_mask with is_causal: torch gets them combined
        mask, causal = torch_mask, False
    theirs = sdpa_gradients(q, k, v, d_out, mask, causal, scale)
    for name, a, b in zip("qkv", ours, theirs, strict=True):
        assert max_diff(a, b) <= TOLERANCE, f"d{name}"


def inputs(seed, batch, n_q, n_k, d_k, d_v):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(*batch, n_q, d_k)),
        rng.normal(size=(*batch, n_k, d_k)),
        rng.normal(size=(*batch, n_k, d_v)),
        rng.normal(size=(*batch, n_q, d_v)),
    )


SIZES = [(3, 5, 7, 11), (5, 3, 2, 4), (4, 4, 6, 6)]  # n_q, n_k, d_k, d_v


@pytest.mark.parametrize("n_q, n_k, d_k, d_v", SIZES)
@pytest.mark.parametrize("batch", [(), (2,), (2, 3)])
@pytest.mark.parametrize("scale", [None, 0.3])
def test_plain_matches_autograd(n_q, n_k, d_k, d_v, batch, scale):
    assert_match(*inputs([n_q, n_k, len(batch)], batch, n_q, n_k, d_k, d_v), scale=scale)


@pytest.mark.parametrize("n_q, n_k, d_k, d_v", SIZES)
def test_causal_matches_autograd(n_q, n_k, d_k, d_v):
    assert_match(*inputs([n_q, n_k, 9], (2,), n_q, n_k, d_k, d_v), causal=True)


@pytest.mark.parametrize("n_q, n_k, d_k, d_v", SIZES)
def test_boolean_mask_matches_autograd(n_q, n_k, d_k, d_v):
    q, k, v, d_out = inputs([n_q, n_k, 10], (2, 3), n_q, n_k, d_k, d_v)
    mask = np.random.default_rng(11).random((2, 3, n_q, n_k)) < 0.6
    mask[..., 0] = True
    assert_match(q, k, v, d_out, mask)
    assert_match(q, k, v, d_out, mask[0, 0])  # one (n_q, n_k) mask for the whole batch


@pytest.mark.parametrize("n_q, n_k, d_k, d_v", SIZES)
def test_mask_and_causal_with_fully_masked_rows_match_autograd(n_q, n_k, d_k, d_v):
    # SDPA refuses attn_mask with is_causal: torch gets mask & causal_mask. Some rows are empty.
    q, k, v, d_out = inputs([n_q, n_k, 12], (2, 3), n_q, n_k, d_k, d_v)
    mask = np.random.default_rng(13).random((2, 3, n_q, n_k)) < 0.5
    mask[..., 1, :] = False
    combined = mask & causal_mask(n_q, n_k)
    assert not combined.any(axis=-1).all()
    assert_match(q, k, v, d_out, mask, causal=True, torch_mask=combined)
    dq, _, _ = attention_backward(q, k, v, d_out, mask, causal=True)
    assert not dq[..., 1, :].any()


def test_broadcast_batch_axes_match_autograd():
    rng = np.random.default_rng(14)
    q, k, v = rng.normal(size=(2, 1, 3, 4)), rng.normal(size=(7, 5, 4)), rng.normal(size=(5, 6))
    d_out = rng.normal(size=(2, 7, 3, 6))
    mask = rng.random((7, 1, 5)) < 0.7
    mask[..., 0] = True
    assert_match(q, k, v, d_out, mask, torch_mask=np.broadcast_to(mask, (2, 7, 3, 5)))


# MultiHeadAttention.backward and TransformerBlock against torch's modules


def random_block(d_model, n_heads, d_ff, seed, bias=True, activation="relu"):
    """Every parameter random, so that a mix-up of two of them cannot pass."""
    rng = np.random.default_rng(seed)
    attn = MultiHeadAttention.init(d_model, n_heads, rng=rng, bias=bias)
    if bias:
        attn = dataclasses.replace(attn, **{name: rng.normal(size=d_model) for name in ("b_q", "b_k", "b_v", "b_o")})
    return TransformerBlock(
        attn=attn,
        ln1_w=1 + rng.normal(scale=0.3, size=d_model),
        ln1_b=rng.normal(scale=0.3, size=d_model),
        ln2_w=1 + rng.normal(scale=0.3, size=d_model),
        ln2_b=rng.normal(scale=0.3, size=d_model),
        w_1=rng.normal(scale=d_model**-0.5, size=(d_model, d_ff)),
        b_1=rng.normal(scale=0.3, size=d_ff),
        w_2=rng.normal(scale=d_ff**-0.5, size=(d_ff, d_model)),
        b_2=rng.normal(scale=0.3, size=d_model),
        activation=activation,
    )


def torch_mha(mha):
    bias = mha.b_q is not None
    torch.manual_seed(0)  # the module draws weights before we overwrite them
    module = torch.nn.MultiheadAttention(mha.d_model, mha.n_heads, batch_first=True, bias=bias, dtype=torch.float64)
    copy_mha(mha, module)
    return module


def copy_mha(mha, module):
    with torch.no_grad():
        module.in_proj_weight.copy_(tensor(np.concatenate([mha.w_q.T, mha.w_k.T, mha.w_v.T])))
        module.out_proj.weight.copy_(tensor(mha.w_o.T))
        if mha.b_q is not None:
            module.in_proj_bias.copy_(tensor(np.concatenate([mha.b_q, mha.b_k, mha.b_v])))
            module.out_proj.bias.copy_(tensor(mha.b_o))


def mha_grads(module):
    """torch's parameter gradients as ours: a MultiHeadAttention of gradients, weights transposed back."""
    g_q, g_k, g_v = (w.T for w in module.in_proj_weight.grad.numpy().reshape(3, module.embed_dim, -1))
    biases = {}
    if module.in_proj_bias is not None:
        b = module.in_proj_bias.grad.numpy().reshape(3, -1)
        biases = {"b_q": b[0], "b_k": b[1], "b_v": b[2], "b_o": module.out_proj.bias.grad.numpy()}
    w_o = module.out_proj.weight.grad.numpy().T
    return MultiHeadAttention(n_heads=module.num_heads, w_q=g_q, w_k=g_k, w_v=g_v, w_o=w_o, **biases)


def torch_activation(name):
    """Our activation's name as TransformerEncoderLayer takes it: "relu", "gelu" or a function."""
    if name == "gelu_tanh":
        return lambda z: torch.nn.functional.gelu(z, approximate="tanh")
    return name


def torch_block(block):
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(
        block.d_model,
        block.attn.n_heads,
        block.d_ff,
        dropout=0.0,
        activation=torch_activation(block.activation),
        batch_first=True,
        norm_first=True,
        dtype=torch.float64,
    )
    copy_mha(block.attn, layer.self_attn)
    with torch.no_grad():
        for ours, theirs in (
            (block.ln1_w, layer.norm1.weight),
            (block.ln1_b, layer.norm1.bias),
            (block.ln2_w, layer.norm2.weight),
            (block.ln2_b, layer.norm2.bias),
            (block.w_1.T, layer.linear1.weight),
            (block.b_1, layer.linear1.bias),
            (block.w_2.T, layer.linear2.weight),
            (block.b_2, layer.linear2.bias),
        ):
            theirs.copy_(tensor(ours))
    return layer


def block_grads(layer, activation="relu"):
    grad = {name: p.grad.numpy() for name, p in layer.named_parameters()}
    return TransformerBlock(
        activation=activation,
        attn=mha_grads(layer.self_attn),
        ln1_w=grad["norm1.weight"],
        ln1_b=grad["norm1.bias"],
        ln2_w=grad["norm2.weight"],
        ln2_b=grad["norm2.bias"],
        w_1=grad["linear1.weight"].T,
        b_1=grad["linear1.bias"],
        w_2=grad["linear2.weight"].T,
        b_2=grad["linear2.bias"],
    )


def max_grad_diff(ours, theirs):
    """The largest difference over every field of two parameter structures (nested for a block)."""
    diffs = []
    for field in dataclasses.fields(ours):
        a, b = getattr(ours, field.name), getattr(theirs, field.name)
        if isinstance(a, MultiHeadAttention):
            diffs.append(max_grad_diff(a, b))
        elif isinstance(a, np.ndarray):
            assert a.shape == b.shape, field.name
            diffs.append(float(np.max(np.abs(a - b))))
        else:
            assert a == b, field.name  # n_heads, activation, or None for both
    return max(diffs)


# (mask kind, our arguments, torch's keyword arguments) for a batch of 3 sequences of 5 tokens
def mask_cases(n_heads, rng):
    hidden = rng.random((5, 5)) < 0.4
    hidden[:, 2] = False  # every query keeps key 2: torch gives NaN for a query with no key
    per_head = rng.random((3, n_heads, 5, 5)) < 0.3
    per_head[..., 0] = False
    keep = padding_mask([5, 3, 4], 5)
    return {
        "none": ({}, {}),
        "causal": ({"causal": True}, {"attn_mask": tensor(~causal_mask(5))}),
        "boolean": ({"mask": ~hidden}, {"attn_mask": tensor(hidden)}),
        "per head and padding": (
            {"mask": ~per_head & keep[:, None]},
            {
                "attn_mask": tensor(per_head.reshape(3 * n_heads, 5, 5)),
                "key_padding_mask": tensor(~keep[:, 0]),
            },
        ),
    }


MASKS = ["none", "causal", "boolean", "per head and padding"]


@pytest.mark.parametrize("d_model, n_heads", [(6, 2), (12, 3)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", MASKS)
def test_mha_backward_matches_autograd(d_model, n_heads, bias, kind):
    rng = np.random.default_rng([d_model, n_heads, bias])
    mha = random_block(d_model, n_heads, 7, seed=d_model, bias=bias).attn
    x, d_out = rng.normal(size=(3, 5, d_model)), rng.normal(size=(3, 5, d_model))
    ours_kwargs, torch_kwargs = mask_cases(n_heads, rng)[kind]
    dx, grads = mha.backward(x, d_out, **ours_kwargs)

    module = torch_mha(mha)
    X = leaf(x)
    out, _ = module(X, X, X, need_weights=False, **torch_kwargs)
    out.backward(tensor(d_out))
    assert max_diff(dx, X.grad) <= TOLERANCE
    assert max_grad_diff(grads, mha_grads(module)) <= TOLERANCE


@pytest.mark.parametrize("d_model, n_heads, d_ff", [(6, 2, 10), (12, 4, 7), (8, 1, 16)])
@pytest.mark.parametrize(
    "kind, activation",
    [(kind, "relu") for kind in MASKS] + [(kind, gelu) for kind in MASKS[1::2] for gelu in ("gelu", "gelu_tanh")],
)
def test_block_matches_transformer_encoder_layer(d_model, n_heads, d_ff, kind, activation):
    rng = np.random.default_rng([d_model, n_heads, d_ff])
    block = random_block(d_model, n_heads, d_ff, seed=d_ff, activation=activation)
    x, d_out = rng.normal(size=(3, 5, d_model)), rng.normal(size=(3, 5, d_model))
    ours_kwargs, torch_kwargs = mask_cases(n_heads, rng)[kind]
    torch_kwargs = {"src_mask" if k == "attn_mask" else "src_key_padding_mask": m for k, m in torch_kwargs.items()}
    layer = torch_block(block)

    out = block(x, **ours_kwargs)
    X = leaf(x)
    theirs = layer(X, **torch_kwargs)
    assert max_diff(out, theirs.detach()) <= 1e-12
    with torch.no_grad():  # in eval mode, torch may take its fused fast path: the same numbers
        assert max_diff(out, layer.eval()(X, **torch_kwargs)) <= 1e-12

    dx, grads = block.backward(x, d_out, **ours_kwargs)
    theirs.backward(tensor(d_out))
    assert max_diff(dx, X.grad) <= TOLERANCE
    assert max_grad_diff(grads, block_grads(layer, activation)) <= TOLERANCE


def test_unbatched_block_matches_transformer_encoder_layer():
    block = random_block(6, 3, 9, seed=40)
    rng = np.random.default_rng(41)
    x, d_out = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    layer = torch_block(block)
    X = leaf(x)
    theirs = layer(X, src_mask=tensor(~causal_mask(4)), is_causal=True)
    assert max_diff(block(x, causal=True), theirs.detach()) <= 1e-12
    dx, grads = block.backward(x, d_out, causal=True)
    theirs.backward(tensor(d_out))
    assert max_diff(dx, X.grad) <= TOLERANCE
    assert max_grad_diff(grads, block_grads(layer)) <= TOLERANCE


@pytest.mark.parametrize("name", ["relu", "gelu", "gelu_tanh"])
def test_activations_and_their_derivatives_match_torch(name):
    z = np.concatenate([np.linspace(-12, 12, 241), np.random.default_rng(5).normal(scale=3, size=50), [-40.0, 40.0]])
    activation, derivative = ACTIVATIONS[name]
    Z = leaf(z)
    F = torch.nn.functional
    theirs = {"relu": F.relu, "gelu": F.gelu, "gelu_tanh": lambda t: F.gelu(t, approximate="tanh")}[name](Z)
    theirs.sum().backward()
    assert max_diff(activation(z), theirs.detach()) <= 1e-15 * 40
    assert max_diff(derivative(z), Z.grad) <= 1e-14
