"""selfattn agrees with PyTorch 2.13 in float64.

``attention`` and ``attention_weights`` against ``torch.nn.functional.scaled_dot_product_attention``
(the weights come from SDPA itself: with ``v`` the identity, its output *is* the weight matrix),
to 1e-12; ``MultiHeadAttention`` against ``torch.nn.MultiheadAttention`` with the same weights,
to 1e-10. Masks: ours and SDPA's are True where a query may attend; ``nn.MultiheadAttention``'s
boolean masks are True where it may *not*, so they are passed as ``~mask``.
"""

import dataclasses

import numpy as np
import pytest

from selfattn import MultiHeadAttention, attention, attention_weights, causal_mask, layer_norm, padding_mask

pytestmark = pytest.mark.xdist_group("torch")  # one worker imports PyTorch, once
torch = None  # imported when these tests run, not when pytest collects them (a second or more)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Import torch. Tiny tensors: one thread is fastest, and spares a busy CI machine the
    thread start-up."""
    global torch
    torch = pytest.importorskip(
        "torch", reason="PyTorch not installed: pip install torch==2.13.0 (CI installs it and fails on a skip)"
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def seeded_torch():
    torch.manual_seed(0)  # nn.MultiheadAttention draws weights before we overwrite them


def tensor(a):
    return torch.from_numpy(np.array(a))  # a copy: torch refuses read-only (broadcast) arrays


def max_diff(ours, theirs):
    assert ours.shape == tuple(theirs.shape)
    return float(np.max(np.abs(ours - theirs.detach().numpy())))


def sdpa(q, k, v, mask=None, causal=False, scale=None):
    """torch's SDPA, with the batch axes broadcast explicitly (ours broadcast them implicitly)."""
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    q, k, v = (np.broadcast_to(a, (*batch, *a.shape[-2:])) for a in (q, k, v))
    attn_mask = None if mask is None else tensor(mask)
    with torch.no_grad():
        return torch.nn.functional.scaled_dot_product_attention(
            tensor(q), tensor(k), tensor(v), attn_mask=attn_mask, is_causal=causal, scale=scale
        )


def sdpa_weights(q, k, mask=None, causal=False, scale=None):
    identity = np.eye(k.shape[-2])
    return sdpa(q, k, identity, mask, causal, scale)


def make_mask(kind, rng, batch, n_q, n_k):
    if kind is None:
        return None
    if kind == "random":
        mask = rng.random((*batch, n_q, n_k)) < 0.6
        mask[..., 0] = True
        return mask
    if kind == "shared":  # (n_q, n_k), broadcast over the batch axes
        mask = rng.random((n_q, n_k)) < 0.6
        mask[:, -1] = True
        return mask
    if kind == "empty rows":  # some queries may attend to nothing: ours and torch's give zeros
        mask = rng.random((*batch, n_q, n_k)) < 0.6
        mask[..., 1, :] = False
        mask[..., -1, :] = False
        return mask
    raise ValueError(kind)


SIZES = [(3, 5, 7, 11), (5, 3, 2, 4), (4, 4, 6, 6)]  # n_q, n_k, d_k, d_v


@pytest.mark.parametrize("n_q, n_k, d_k, d_v", SIZES)
@pytest.mark.parametrize("batch", [(), (2,), (2, 3)])
@pytest.mark.parametrize("mask_kind", [None, "random", "shared", "empty rows"])
def test_attention_matches_sdpa(n_q, n_k, d_k, d_v, batch, mask_kind):
    rng = np.random.default_rng([n_q, n_k, len(batch)])
    q, k, v = (
        rng.normal(size=(*batch, n_q, d_k)),
        rng.normal(size=(*batch, n_k, d_k)),
        rng.normal(size=(*batch, n_k, d_v)),
    )
    mask = make_mask(mask_kind, rng, batch, n_q, n_k)
    for scale in (None, 0.3, 2):
        assert max_diff(attention(q, k, v, mask, scale=scale), sdpa(q, k, v, mask, scale=scale)) <= 1e-12
        assert max_diff(attention_weights(q, k, mask, scale=scale), sdpa_weights(q, k, mask, scale=scale)) <= 1e-12


@pytest.mark.parametrize("n_q, n_k, d_k, d_v", SIZES)
@pytest.mark.parametrize("scale", [None, 2.0])
def test_causal_matches_sdpa_is_causal(n_q, n_k, d_k, d_v, scale):
    rng = np.random.default_rng([n_q, n_k, 1])
    q, k, v = rng.normal(size=(2, n_q, d_k)), rng.normal(size=(2, n_k, d_k)), rng.normal(size=(2, n_k, d_v))
    assert max_diff(attention(q, k, v, causal=True, scale=scale), sdpa(q, k, v, causal=True, scale=scale)) <= 1e-12
    assert (
        max_diff(attention_weights(q, k, causal=True, scale=scale), sdpa_weights(q, k, causal=True, scale=scale))
        <= 1e-12
    )


@pytest.mark.parametrize("n_q, n_k, d_k, d_v", SIZES)
def test_mask_and_causal_match_sdpa_with_the_combined_mask(n_q, n_k, d_k, d_v):
    # SDPA refuses attn_mask together with is_causal, so torch gets mask & causal_mask.
    rng = np.random.default_rng([n_q, n_k, 2])
    q, k, v = rng.normal(size=(2, 3, n_q, d_k)), rng.normal(size=(2, 3, n_k, d_k)), rng.normal(size=(2, 3, n_k, d_v))
    mask = rng.random((2, 3, n_q, n_k)) < 0.5  # with causal, some rows are empty
    combined = mask & causal_mask(n_q, n_k)
    assert not combined.any(axis=-1).all()
    assert max_diff(attention(q, k, v, mask, causal=True), sdpa(q, k, v, combined)) <= 1e-12
    assert max_diff(attention_weights(q, k, mask, causal=True), sdpa_weights(q, k, combined)) <= 1e-12


def test_broadcast_batch_axes_match_sdpa():
    rng = np.random.default_rng(5)
    q, k, v = rng.normal(size=(2, 1, 3, 4)), rng.normal(size=(7, 5, 4)), rng.normal(size=(5, 6))
    mask = rng.random((7, 1, 5)) < 0.7
    ours = attention(q, k, v, mask)
    assert ours.shape == (2, 7, 3, 6)
    assert max_diff(ours, sdpa(q, k, v, np.broadcast_to(mask, (2, 7, 3, 5)))) <= 1e-12


def test_fully_masked_rows_are_zero_in_both():
    rng = np.random.default_rng(6)
    q, k, v = rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), rng.normal(size=(5, 6))
    mask = np.ones((3, 5), dtype=bool)
    mask[1] = False
    theirs = sdpa(q, k, v, mask).numpy()
    np.testing.assert_array_equal(theirs[1], np.zeros(6))
    np.testing.assert_array_equal(attention(q, k, v, mask)[1], theirs[1])


# MultiHeadAttention against torch.nn.MultiheadAttention


def random_mha(d_model, n_heads, bias, seed):
    mha = MultiHeadAttention.init(d_model, n_heads, rng=seed, bias=bias)
    if bias:
        biases = np.random.default_rng(seed + 1).normal(size=(4, d_model))
        mha = dataclasses.replace(mha, **dict(zip(("b_q", "b_k", "b_v", "b_o"), biases, strict=True)))
    return mha


def torch_copy(mha, bias):
    """An nn.MultiheadAttention computing x @ w + b with our weights (torch computes x @ W.T + b)."""
    module = torch.nn.MultiheadAttention(mha.d_model, mha.n_heads, batch_first=True, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        module.in_proj_weight.copy_(tensor(np.concatenate([mha.w_q.T, mha.w_k.T, mha.w_v.T])))
        module.out_proj.weight.copy_(tensor(mha.w_o.T))
        if bias:
            module.in_proj_bias.copy_(tensor(np.concatenate([mha.b_q, mha.b_k, mha.b_v])))
            module.out_proj.bias.copy_(tensor(mha.b_o))
        else:
            assert module.in_proj_bias is None and module.out_proj.bias is None
    return module.eval()


def torch_mha(module, x, context=None, **masks):
    context = x if context is None else context
    with torch.no_grad():
        output, weights = module(
            tensor(x), tensor(context), tensor(context), need_weights=True, average_attn_weights=False, **masks
        )
        fast_output, _ = module(tensor(x), tensor(context), tensor(context), need_weights=False, **masks)
    return output, weights, fast_output


@pytest.mark.parametrize("d_model, n_heads", [(12, 3), (12, 4), (10, 5)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n_q, n_k", [(7, None), (3, 5), (5, 3)])  # None: self-attention
def test_mha_matches_torch(d_model, n_heads, bias, n_q, n_k):
    rng = np.random.default_rng([d_model, n_heads, n_q])
    mha = random_mha(d_model, n_heads, bias, seed=d_model + n_heads)
    x = rng.normal(size=(2, n_q, d_model))
    context = None if n_k is None else rng.normal(size=(2, n_k, d_model))
    output, weights = mha(x, context, return_weights=True)
    their_output, their_weights, their_fast_output = torch_mha(torch_copy(mha, bias), x, context)
    assert max_diff(output, their_output) <= 1e-10
    assert max_diff(output, their_fast_output) <= 1e-10
    assert max_diff(weights, their_weights) <= 1e-10


def test_mha_unbatched_matches_torch():
    mha = random_mha(12, 3, True, seed=1)
    x = np.random.default_rng(2).normal(size=(5, 12))
    output, weights = mha(x, return_weights=True)
    their_output, their_weights, _ = torch_mha(torch_copy(mha, True), x)
    assert max_diff(output, their_output) <= 1e-10
    assert max_diff(weights, their_weights) <= 1e-10


def test_mha_extra_batch_axes_match_torch_on_flattened_batch():
    mha = random_mha(12, 4, True, seed=3)
    x = np.random.default_rng(4).normal(size=(2, 3, 5, 12))
    output, weights = mha(x, return_weights=True)
    their_output, their_weights, _ = torch_mha(torch_copy(mha, True), x.reshape(6, 5, 12))
    assert max_diff(output.reshape(6, 5, 12), their_output) <= 1e-10
    assert max_diff(weights.reshape(6, 4, 5, 5), their_weights) <= 1e-10


@pytest.mark.parametrize("n_q, n_k", [(7, None), (3, 5)])
def test_mha_key_padding_mask_matches_torch(n_q, n_k):
    rng = np.random.default_rng([n_q, 7])
    mha = random_mha(12, 3, True, seed=5)
    x = rng.normal(size=(3, n_q, 12))
    context = None if n_k is None else rng.normal(size=(3, n_k, 12))
    lengths = np.array([n_k or n_q, 2, 1])
    keep = padding_mask(lengths, n_k or n_q)  # (batch, 1, n_k): True = real token
    output, weights = mha(x, context, mask=keep[:, None], return_weights=True)
    their_output, their_weights, their_fast = torch_mha(
        torch_copy(mha, True), x, context, key_padding_mask=tensor(~keep[:, 0])
    )
    assert max_diff(output, their_output) <= 1e-10
    assert max_diff(output, their_fast) <= 1e-10
    assert max_diff(weights, their_weights) <= 1e-10


@pytest.mark.parametrize("n_q, n_k", [(7, None), (5, 3), (3, 5)])
def test_mha_causal_matches_torch_attn_mask(n_q, n_k):
    rng = np.random.default_rng([n_q, 8])
    mha = random_mha(12, 4, True, seed=6)
    x = rng.normal(size=(2, n_q, 12))
    context = None if n_k is None else rng.normal(size=(2, n_k, 12))
    output, weights = mha(x, context, causal=True, return_weights=True)
    hidden = ~causal_mask(n_q, n_k or n_q)
    their_output, their_weights, their_fast = torch_mha(torch_copy(mha, True), x, context, attn_mask=tensor(hidden))
    assert max_diff(output, their_output) <= 1e-10
    assert max_diff(output, their_fast) <= 1e-10
    assert max_diff(weights, their_weights) <= 1e-10


def test_mha_per_head_mask_and_padding_match_torch():
    # torch takes a per-head mask as (batch * n_heads, n_q, n_k), True = hidden
    batch, n_heads, n_q, n_k, d_model = 2, 3, 5, 7, 12
    rng = np.random.default_rng(9)
    mha = random_mha(d_model, n_heads, True, seed=7)
    x, context = rng.normal(size=(batch, n_q, d_model)), rng.normal(size=(batch, n_k, d_model))
    per_head = rng.random((batch, n_heads, n_q, n_k)) < 0.6
    per_head[..., 0] = True
    keep = padding_mask([7, 4], n_k)
    output, weights = mha(x, context, mask=per_head & keep[:, None], return_weights=True)
    their_output, their_weights, _ = torch_mha(
        torch_copy(mha, True),
        x,
        context,
        attn_mask=tensor(~per_head.reshape(batch * n_heads, n_q, n_k)),
        key_padding_mask=tensor(~keep[:, 0]),
    )
    assert max_diff(output, their_output) <= 1e-10
    assert max_diff(weights, their_weights) <= 1e-10


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_layer_norm_of_constant_vectors_is_exactly_zero_where_torch_gives_zero(dtype):
    """Constant vectors normalise to 0 in every dtype at every size; PyTorch's do wherever its
    statistics hold (not in float16, nor in float32 once the squares overflow: NaN)."""
    sizes = [size for size in (0.1, 7e3, 1e4, 3e4, 1e10, 1e30, 1e300) if size < float(np.finfo(dtype).max)]
    x = np.repeat(np.array(sizes, dtype)[:, None], 7, axis=1)
    ours = layer_norm(x, np.ones(7, dtype), np.zeros(7, dtype))
    with torch.no_grad():
        theirs = torch.nn.functional.layer_norm(tensor(x), (7,)).numpy()
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, 0)
    assert (theirs == 0).all(axis=1).sum() >= (0 if dtype == "float16" else 5)
