"""flash_attention: equal to attention for every tile shape, without the n x n matrix."""

import tracemalloc

import numpy as np
import pytest
from helpers import normal
from hypothesis import given, settings
from hypothesis import strategies as st

import selfattn.flash
from selfattn import attention, flash_attention, padding_mask


@st.composite
def problems(draw):
    """Inputs with distinct small sizes, batch axes that broadcast, masks, and a tile shape."""
    n_q, n_k, d_k, d_v = (draw(st.integers(1, top)) for top in (13, 17, 6, 5))
    batch_q, batch_k = draw(st.sampled_from([((), ()), ((2,), ()), ((2, 1), (3,)), ((1,), (2,))]))
    seed = draw(st.integers(0, 2**32 - 1))
    # small scores take the path without a running maximum, large ones the path with it
    magnitude = draw(st.sampled_from([0.1, 1.0, 30.0]))
    q = normal(seed, *batch_q, n_q, d_k) * magnitude
    k, v = normal(seed + 1, *batch_k, n_k, d_k), normal(seed + 2, *batch_k, n_k, d_v)
    mask = None
    if draw(st.booleans()):
        batch = np.broadcast_shapes(batch_q, batch_k)
        mask_shape = draw(st.sampled_from([(n_q, n_k), (n_k,), (*batch, n_q, n_k), (*batch, 1, n_k)]))
        mask = np.random.default_rng(seed + 3).random(mask_shape) < draw(st.sampled_from([0.2, 0.7]))
    causal = draw(st.booleans())
    sizes = st.integers(1, max(n_q, n_k) + 3)  # blocks that do not divide n, and blocks larger than n
    block_size = draw(st.one_of(sizes, st.tuples(sizes, sizes)))
    return q, k, v, mask, causal, block_size


@settings(max_examples=100, deadline=None)
@given(problems(), st.sampled_from([np.float64, np.float32]))
def test_equals_attention(problem, dtype):
    q, k, v, mask, causal, block_size = problem
    q, k, v = (a.astype(dtype) for a in (q, k, v))
    expected = attention(q, k, v, mask, causal=causal)
    out = flash_attention(q, k, v, mask, causal=causal, block_size=block_size)
    assert out.dtype == dtype and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12 if dtype == np.float64 else 2e-5)


@pytest.mark.parametrize("block_size", [1, 2, 3, 5, 7, 8, 16, 100, (1, 7), (7, 1), (3, 100), (100, 3)])
@pytest.mark.parametrize("causal", [False, True])
def test_every_block_size_float64(block_size, causal):
    q, k, v = normal(0, 2, 11, 5), normal(1, 2, 7, 5), normal(2, 2, 7, 3)  # n_q != n_k: causal is top-left
    out = flash_attention(q, k, v, causal=causal, block_size=block_size)
    np.testing.assert_allclose(out, attention(q, k, v, causal=causal), rtol=0, atol=1e-12)


def test_scale_and_mixed_dtypes():
    q, k, v = normal(0, 6, 4, dtype=np.float32), normal(1, 9, 4), normal(2, 9, 2, dtype=np.int64)
    out = flash_attention(q, k, v, scale=0.3, block_size=4)
    assert out.dtype == np.float64  # as attention: the common float type, integers become float64
    np.testing.assert_allclose(out, attention(q, k, v, scale=0.3), rtol=0, atol=1e-12)


def test_float32_stays_float32_near_the_bounds_of_the_shortcut():
    """Scores up to about 22 (the largest that skip the running maximum in float32), and values
    tiny and huge, still give attention's answer to float32 precision."""
    q, k = normal(0, 40, 16, dtype=np.float32), normal(1, 50, 16, dtype=np.float32)
    for q_scale in (1.0, 4.0, 5.0, 6.0):  # bounds on both sides of the shortcut's limit
        for v_scale in (1e-30, 1.0, 1e25):
            v = normal(2, 50, 3, dtype=np.float32) * np.float32(v_scale)
            expected = attention(q * q_scale, k, v)
            out = flash_attention(q * q_scale, k, v, block_size=(8, 16))
            assert out.dtype == np.float32
            np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5 * v_scale)


def test_large_scores_need_the_running_maximum():
    """Scores near 1e4: exp overflows without the maximum (float64 overflows above 709)."""
    q, k, v = normal(0, 9, 4) * 100, normal(1, 12, 4) * 100, normal(2, 12, 3)
    for block_size in (1, 4, (3, 5), 50):
        out = flash_attention(q, k, v, block_size=block_size)
        assert np.isfinite(out).all()
        np.testing.assert_allclose(out, attention(q, k, v), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "score, values",
    [
        (-170.0, [1e-300, 3e-300]),  # exp(score) * value about 1e-374: below even the subnormals
        (170.0, [1e300, 1e300]),  # exp(score) * value about 1e374: beyond float64
        (0.0, [5e-324, 5e-324]),  # the smallest subnormal: halved, it would be 0
        (700.0, [1e10, 3e10]),  # exp(score) * value about 1e314: scores alone would not overflow
    ],
)
def test_equal_scores_give_the_mean_value_at_the_ends_of_the_range(score, values):
    """Two keys with one score: the output is the mean of their values, however far from 1
    the scores and the values are (so the shortcut without a running maximum must not be
    taken where exp(score) times a value leaves the float's range)."""
    out = flash_attention([[1.0]], [[score], [score]], np.array(values)[:, None], scale=1.0)
    np.testing.assert_allclose(out, [[(values[0] + values[1]) / 2]], rtol=1e-15, atol=0)


@pytest.mark.parametrize("magnitude", [1.0, 100.0])
def test_rows_with_no_allowed_key_give_zeros(magnitude):
    q, k, v = normal(0, 6, 4) * magnitude, normal(1, 8, 4), normal(2, 8, 3)
    mask = np.ones((6, 8), dtype=bool)
    mask[1] = False  # hidden in every key block
    mask[4, :4] = False  # hidden in the first key blocks only: the running maximum starts at -inf
    for block_size in (2, (3, 4), 8):
        out = flash_attention(q, k, v, mask, block_size=block_size)
        assert np.isfinite(out).all()
        np.testing.assert_array_equal(out[1], 0)
        np.testing.assert_allclose(out, attention(q, k, v, mask), rtol=0, atol=1e-12)


def test_causal_skips_the_blocks_in_the_future(monkeypatch):
    """Count the score tiles computed: none lies wholly above the diagonal, and no other is missed."""
    computed = []
    scores = selfattn.flash._Tiles._scores

    def counting(self, b, j0, j1, q_rows, out):
        computed.append((len(q_rows), (j0, j1)))
        return scores(self, b, j0, j1, q_rows, out)

    monkeypatch.setattr(selfattn.flash._Tiles, "_scores", counting)
    q, k, v = normal(0, 10, 3), normal(1, 12, 3), normal(2, 12, 2)
    out = flash_attention(q, k, v, causal=True, block_size=(4, 3))
    np.testing.assert_allclose(out, attention(q, k, v, causal=True), rtol=0, atol=1e-12)
    # query blocks 0-3, 4-7, 8-9 (4, 4 and 2 rows) see keys 0..3, 0..7, 0..9: key blocks 0-2, 3-5, 6-8, 9-11 as needed
    assert computed == [
        (4, (0, 3)), (4, (3, 4)),
        (4, (0, 3)), (4, (3, 6)), (4, (6, 8)),
        (2, (0, 3)), (2, (3, 6)), (2, (6, 9)), (2, (9, 10)),
    ]  # fmt: skip
    computed.clear()
    flash_attention(q, k, v, block_size=(4, 3))  # without causal: every tile, 3 x 4 of them
    assert len(computed) == 12


@pytest.mark.parametrize("causal", [False, True])
def test_memory_stays_far_below_the_n_by_n_matrix(causal):
    n, d = 1024, 4
    q, k, v = normal(0, n, d), normal(1, n, d), normal(2, n, d)
    matrix = n * n * 8  # the float64 weights alone: 8 MiB

    def peak(f):
        tracemalloc.start()
        try:
            f(q, k, v, causal=causal)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert peak(attention) > matrix  # tracemalloc sees numpy's allocations
    assert peak(lambda *a, **kw: flash_attention(*a, **kw, block_size=(64, 256))) < matrix / 16


def test_two_workers_give_the_same_bits():
    q, k, v = normal(0, 2, 37, 8), normal(1, 2, 41, 8), normal(2, 2, 41, 5)
    mask = np.random.default_rng(3).random((37, 41)) < 0.8
    for causal in (False, True):
        one = flash_attention(q, k, v, mask, causal=causal, block_size=(5, 16))
        for workers in (2, 3, 100):  # more workers than query blocks too
            np.testing.assert_array_equal(
                flash_attention(q, k, v, mask, causal=causal, block_size=(5, 16), workers=workers), one
            )


def test_non_contiguous_inputs():
    q, k, v = normal(0, 4, 10).T, normal(1, 12, 8)[::2, ::2], normal(2, 3, 6).T  # (10, 4), (6, 4), (6, 3)
    assert not (q.flags.c_contiguous or k.flags.c_contiguous or v.flags.c_contiguous)
    np.testing.assert_allclose(flash_attention(q, k, v, block_size=3), attention(q, k, v), rtol=0, atol=1e-12)


def test_float16_matches_attention_beyond_4100_keys():
    """Scores of 2.7 take the path without a running maximum; 5000 weights of e**2.7 = 15
    sum to 74000, beyond float16's 65504, so that path must not be taken (it gave zeros)."""
    q, k = (np.full((n, 16), np.sqrt(2.7 / 4), np.float16) for n in (2, 5000))
    v = np.full((5000, 3), 0.01, np.float16)
    out = flash_attention(q, k, v)
    assert out.dtype == np.float16
    np.testing.assert_allclose(out, attention(q, k, v), rtol=1e-3)


def test_float16_beyond_65504_keys():
    """Equal scores: the 70000 weights sum to 70000 before they are divided by it, beyond float16,
    which gave zeros. The sums are taken in float32; the answer is float16, as close as attention's."""
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(n, 4)).astype(np.float16) for n in (2, 70000, 70000))
    exact = attention(*(a.astype(np.float64) for a in (q, k, v)))
    out = flash_attention(q, k, v)
    assert out.dtype == np.float16
    assert np.abs(out - exact).max() <= np.abs(attention(q, k, v) - exact).max() + 1e-5
    np.testing.assert_array_equal(flash_attention(0 * q, k, np.ones_like(v)), np.ones((2, 4), np.float16))


@pytest.mark.parametrize("workers", [1, 2])
def test_no_warning_when_the_bound_is_zero_times_infinity(workers):
    """|q| = 1e-300 and |k|**2 overflows: the bound |q| |k| is 0 * inf, which warned (and the
    suite turns warnings into errors), in the caller's thread and in the workers' alike."""
    q, k, v = np.full((2, 4), 1e-300), np.full((3, 4), 1e300), normal(2, 3, 2)
    out = flash_attention(q, k, v, block_size=1, workers=workers)
    np.testing.assert_allclose(out, attention(q, k, v), rtol=1e-15)


def test_a_mask_with_some_but_not_all_batch_axes_is_refused():
    """A padding mask (batch, 1, n_k) on per-head inputs (batch, n_heads, n, d) with batch ==
    n_heads would have its batch axis read as the heads' axis; as MultiHeadAttention, refuse it."""
    q = normal(0, 2, 2, 3, 4)
    mask = padding_mask([3, 1], 3)
    with pytest.raises(ValueError) as info:
        flash_attention(q, q, q, mask)
    assert str(info.value) == (
        "mask must have shape (n_q, n_k), or all the axes of (..., n_q, n_k) = (2, 2, 3, 3); got shape (2, 1, 3) "
        "(for a padding mask of shape (batch, 1, n_k) and per-head inputs, add the head axis: mask[:, None])"
    )
    np.testing.assert_allclose(flash_attention(q, q, q, mask[:, None]), attention(q, q, q, mask[:, None]), atol=1e-15)
