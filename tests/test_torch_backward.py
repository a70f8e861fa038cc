"""The gradients by hand agree with PyTorch 2.13's autograd in float64, to 1e-10.

``attention_backward`` against the backward of ``torch.nn.functional.scaled_dot_product_attention``.
Each test gives torch leaf tensors that require gradients and calls ``backward(d_out)`` on the
output, so torch's gradients are those of ``sum(output * d_out)``, as ours are.
"""

import numpy as np
import pytest

from selfattn import attention_backward, causal_mask

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


def leaf(a):
    return torch.from_numpy(np.array(a)).requires_grad_()


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
