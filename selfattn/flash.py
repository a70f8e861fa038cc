"""Attention without the n x n matrix: blocked, with an online softmax (FlashAttention)."""

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._checks import attention_args, overflow_checked, positive_int


def flash_attention(q, k, v, mask=None, *, causal=False, scale=None, block_size=(512, 1024), workers=1):
    """`attention` computed a tile at a time, never holding the n_q x n_k weights.

    The queries are cut into blocks of ``block_q`` rows and the keys into blocks of
    ``block_k``. For each block of queries the blocks of keys are visited in turn, and an
    online softmax keeps, per query, the running maximum ``m`` of the scores seen so far,
    the running sum ``l`` of their ``exp(score - m)`` and the running sum of the values
    weighted by them; when ``m`` grows, both sums are rescaled by ``exp(m_old - m_new)``,
    which is exact. The output is the weighted sum divided by ``l`` (the algorithm of
    FlashAttention, Dao et al., 2022). With ``causal=True`` the blocks of keys wholly in a
    block of queries' future are skipped. Where the Cauchy-Schwarz bound
    ``|scale q_i| max_j |k_j|`` shows that no score of a block of queries can come near
    overflowing ``exp``, that block skips the maximum and the rescaling: a softmax does not
    change when its scores shift. Extra memory: the output, a copy of ``v`` with a column
    of ones, and one tile of scores per worker; never ``n_q x n_k``.

    Parameters
    ----------
    q : array_like of real numbers, shape (..., n_q, d_k)
    k : array_like of real numbers, shape (..., n_k, d_k)
    v : array_like of real numbers, shape (..., n_k, d_v)
    mask : array_like of bool, shape (n_q, n_k) or (..., n_q, n_k), optional
        ``True`` where a query may attend to a key. A mask with more than two axes must
        have every batch axis of the inputs (of their size, or 1): a padding mask of
        shape ``(batch, 1, n_k)`` on per-head inputs becomes ``mask[:, None]``.
    causal : bool, default False
        Also forbid query ``i`` from attending to keys ``j > i`` (aligned at the top
        left, as `causal_mask`).
    scale : float, optional
        Multiplies the scores; defaults to ``1 / sqrt(d_k)``.
    block_size : int or (int, int), default (512, 1024)
        The tile shape ``(block_q, block_k)``; an int ``b`` means ``(b, b)``. Any
        positive sizes work, including sizes that do not divide ``n`` and blocks larger
        than ``n``. The default tile holds 2 MiB of float32 scores.
    workers : int, default 1
        Threads that share the query blocks. numpy releases the GIL in ``matmul`` and
        ``exp``, so at large n two workers on two cores can take about half the time (the
        benchmarks page, step 5, measures it); keep the BLAS at one thread meanwhile
        (``threadpoolctl`` or ``OPENBLAS_NUM_THREADS=1``).

    Returns
    -------
    ndarray, shape (..., n_q, d_v)
        Equal to ``attention(q, k, v, mask, causal=causal, scale=scale)`` up to
        rounding, in the same float dtype. A query with no allowed key gets zeros.

    Raises
    ------
    TypeError, ValueError
        As `attention`, and if ``block_size`` or ``workers`` is not a positive int.
        Scores are computed, and so checked for overflow, only in the tiles that are
        not skipped.

    Examples
    --------
    >>> import numpy as np
    >>> from selfattn import attention, flash_attention
    >>> rng = np.random.default_rng(0)
    >>> q, k, v = rng.normal(size=(3, 10, 4))
    >>> out = flash_attention(q, k, v, causal=True, block_size=3)
    >>> out.shape
    (10, 4)
    >>> bool(np.abs(out - attention(q, k, v, causal=True)).max() < 1e-14)
    True
    """
    q, k, v, mask, causal, factor = attention_args(q, k, v, mask, causal, scale, all_axes=True)
    block_q, block_k = _block_shape(block_size)
    workers = positive_int(workers, "workers")
    args = q, k, v, mask, causal, factor, block_q, block_k, workers
    return overflow_checked("flash_attention", {"q": q, "k": k, "scale": scale}, _flash, *args)


def _block_shape(block_size):
    """``block_size`` as ``(block_q, block_k)``, checked."""
    if isinstance(block_size, (tuple, list)):
        if len(block_size) != 2:
            raise ValueError(f"block_size must be an int or a pair (block_q, block_k); got {block_size!r}")
        return positive_int(block_size[0], "block_size[0]"), positive_int(block_size[1], "block_size[1]")
    size = positive_int(block_size, "block_size")
    return size, size


# The kernel below trusts its arguments: flash_attention checks them first.


def _flash(q, k, v, mask, causal, scale, block_q, block_k, workers):
    """Blocked attention over validated arrays of one float dtype."""
    tiles = _Tiles(q, k, v, mask, causal, scale, block_q, block_k)
    if workers == 1:
        tiles.run(tiles.jobs)
    else:  # each worker takes the next block of queries when it is free, so a slow one holds no one up
        jobs, lock = iter(tiles.jobs), threading.Lock()

        def next_job():
            while True:
                with lock:
                    job = next(jobs, None)
                if job is None:
                    return
                yield job

        workers = min(workers, len(tiles.jobs))  # no more threads than blocks of queries
        contexts = [contextvars.copy_context() for _ in range(workers)]  # numpy's error state, as the caller's
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda context: context.run(tiles.run, next_job()), contexts))
    return tiles.out


class _Tiles:
    """One call's arrays, tile shape and output; `run` computes query blocks into ``out``."""

    def __init__(self, q, k, v, mask, causal, scale, block_q, block_k):
        n_q, n_k = q.shape[-2], k.shape[-2]
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        info = np.finfo(q.dtype)
        # Softmax does not change when all the scores of a row move by the same amount: the
        # running maximum is there only to keep exp from overflowing. Where Cauchy-Schwarz,
        # |scale q_i . k_j| <= |scale q_i| max_j |k_j|, bounds the scores by a quarter of the log
        # of the largest float (22.2 in float32, 177.4 in float64), and the sum of n_k of them stays
        # finite too, exp(score) can neither overflow nor lose precision, and the sums and products
        # with v keep the rest of the range: those query blocks skip the maximum (see `run`).
        k_norm = np.sqrt(np.einsum("...ij,...ij->...i", k, k).max(axis=-1))  # inf (overflowed): no bound
        self.k_norm = np.broadcast_to(k_norm, batch)
        v_max = max(float(v.max()), -float(v.min()))
        safe_v = v_max == 0 or info.tiny**0.5 <= v_max <= info.max**0.5 / n_k
        self.no_max_below = min(np.log(info.max) / 4, np.log(info.max / n_k)) if safe_v else -np.inf
        self.check_above = info.max / 2  # a larger bound: the scores might overflow
        # v and a column of ones: one matrix product gives the weighted values and the weights' sum,
        # summed in float32 for float16 (as PyTorch does; 65504 keys of weight 1 overflow float16).
        # Each sums n_k numbers, each of v (or 1) times a weight of at most 1: where that could overflow,
        # both are divided by the same power of two, exactly.
        sums = np.promote_types(v.dtype, np.float32)
        shift = max(0, np.frexp(max(v_max, 1.0))[1] + (n_k - 1).bit_length() + 1 - np.frexp(np.finfo(sums).max)[1])
        v_ones = np.empty((*v.shape[:-1], v.shape[-1] + 1), sums)
        v_ones[..., :-1], v_ones[..., -1] = np.ldexp(v, -shift), 2.0**-shift
        self.q, self.k, self.v = (np.broadcast_to(a, (*batch, *a.shape[-2:])) for a in (q, k, v_ones))
        self.mask = None if mask is None else np.broadcast_to(mask, (*batch, n_q, n_k))
        self.causal, self.scale = causal, q.dtype.type(scale)
        self.rows, self.cols = np.arange(n_q)[:, None], np.arange(n_k)  # positions, for the causal tiles
        self.block_q, self.block_k = min(block_q, n_q), min(block_k, n_k)
        self.jobs = [(b, i0) for b in np.ndindex(batch) for i0 in range(0, n_q, self.block_q)]
        self.out = np.zeros((*batch, n_q, v.shape[-1]), q.dtype)

    def _scores(self, b, j0, j1, q_rows, out):
        """The tile ``q_rows @ k[b][j0:j1].T``, into ``out`` (``q_rows`` is already scaled)."""
        return np.matmul(q_rows, self.k[b][j0:j1].T, out=out)

    def run(self, jobs):
        """Compute the query blocks ``(batch index, first row)`` listed in ``jobs``."""
        bq, bk, dtype = self.block_q, self.block_k, self.q.dtype
        (n_q, d_k), n_k, d_v1 = self.q.shape[-2:], self.k.shape[-2], self.v.shape[-1]
        lowest = np.finfo(dtype).min
        # this worker's buffers, allocated once: a tile of scores (and of hidden entries), row statistics
        q_buf, acc_buf, pv_buf = np.empty((bq, d_k), dtype), *(np.empty((bq, d_v1), self.v.dtype) for _ in range(2))
        s_buf = np.empty(bq * bk, dtype)
        hidden_buf = np.empty(bq * bk, bool) if self.mask is not None or self.causal else None
        max_buf, tile_max_buf, norm_buf = (np.empty(bq, dtype) for _ in range(3))
        for b, i0 in jobs:
            i1 = min(i0 + bq, n_q)
            rows = i1 - i0
            q_rows = np.multiply(self.q[b][i0:i1], self.scale, out=q_buf[:rows])  # scale q, not the scores
            bound = np.sqrt(np.einsum("ij,ij->i", q_rows, q_rows, out=norm_buf[:rows]).max()) * self.k_norm[b]
            keep_max, check = not bound < self.no_max_below, not bound < self.check_above
            row_max, tile_max = max_buf[:rows], tile_max_buf[:rows]
            acc = acc_buf[:rows]  # running sums of exp(score - max) times [v, 1]: weighted values, total weight
            stop = min(n_k, i1) if self.causal else n_k  # keys past the last query are all in the future
            for j0 in range(0, stop, bk):
                j1 = min(j0 + bk, stop)
                s = self._scores(b, j0, j1, q_rows, s_buf[: rows * (j1 - j0)].reshape(rows, -1))
                if check:  # a score that overflowed (inf) becomes NaN, which reaches the output and is refused
                    s += s * 0
                if hidden_buf is not None:
                    hidden = hidden_buf[: s.size].reshape(s.shape)
                if self.mask is not None:
                    np.logical_not(self.mask[b][i0:i1, j0:j1], out=hidden)
                    np.copyto(s, -np.inf, where=hidden)
                if self.causal and j1 - 1 > i0:  # the tile crosses the diagonal
                    np.greater(self.cols[j0:j1], self.rows[i0:i1], out=hidden)
                    np.copyto(s, -np.inf, where=hidden)
                if keep_max:
                    np.max(s, axis=1, out=tile_max)
                    if j0 == 0:
                        np.maximum(tile_max, lowest, out=row_max)  # a row hidden so far keeps a finite maximum
                    else:
                        np.maximum(row_max, tile_max, out=tile_max)  # the new running maximum
                        np.subtract(row_max, tile_max, out=row_max)
                        acc *= np.exp(row_max, out=row_max)[:, None]  # rescale by exp(m_old - m_new) <= 1
                        row_max[:] = tile_max
                    np.subtract(s, row_max[:, None], out=s)
                p = np.exp(s, out=s)
                if j0 == 0:
                    np.matmul(p, self.v[b][j0:j1], out=acc)
                else:
                    acc += np.matmul(p, self.v[b][j0:j1], out=pv_buf[:rows])
            total = acc[:, -1:]  # divide the outputs, not the weights; rows with no allowed key stay 0
            np.divide(acc[:, :-1], total, out=self.out[b][i0:i1], where=total != 0)  # NaN passes, to be refused
