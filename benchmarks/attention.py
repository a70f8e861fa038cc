"""Time and peak memory of every attention in selfattn, and of PyTorch's, from n = 128 to 32768.

Run it with ``make benchmark``: it installs the ``bench`` extra (threadpoolctl) and runs
this script with ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` unset, so that OpenBLAS
picks its kernels for this CPU. It writes ``docs/benchmarks/results.json``, which the page
"Benchmarks" and benchmarks/README.md (our targets) read; they never rerun it.

What it measures, at d = 64, in float32 and float64, for self-attention of one sequence of
n random tokens (q, k and v of shape (n, 64), standard normal):

- ``loops``: ``self_attention_loops``, the seed's Python loops (q = k = v, small n only);
- ``attention``: ``selfattn.attention``, which builds the n x n weights;
- ``flash``: ``selfattn.flash_attention`` with one worker, and ``flash_2`` with two;
- ``torch_fused``: PyTorch's ``scaled_dot_product_attention`` on its fused (flash) CPU
  kernel, with one thread and (``torch_fused_2``) two; ``torch_math``: its unfused math path;
- ``backward``: ``selfattn.attention_backward`` with ``d_out`` all ones (it recomputes the
  forward weights inside), and ``torch_backward``: PyTorch autograd's backward through the
  math path (its forward is run before the clock starts).

Time: one call after a warm-up, repeated, interleaved across the variants so that a burst of
load elsewhere on the machine hits them all alike; the JSON keeps the median of the wall-clock
and of the CPU time of the process, and every call's in the order they ran (``*_calls``, from
which benchmarks/README.md takes the spread of each ratio). One-thread variants share a
process; each two-thread variant has its own (two thread pools in one process fight), driven
in turn by this one. BLAS and PyTorch are held at the stated thread counts with threadpoolctl
and ``torch.set_num_threads``.

Memory: in a fresh process per variant, the peak resident memory a call adds (Linux's VmHWM,
reset before the call), with glibc told to return every block of 64 KiB or more to the system
on free, so that the peak is what the call held at once; for the numpy variants also the peak
that tracemalloc sees (numpy reports its allocations to it). Inputs are allocated before.

Variants that would build an n x n matrix larger than their limit (``VARIANTS``), or whose call
would take more than ``--max-call`` CPU seconds (estimated from the previous n), are skipped, and
the JSON says why.
"""

import argparse
import datetime
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
D = 64
NS = [128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768]
DTYPES = ["float32", "float64"]
# variant -> (the process it runs in, the largest n x n matrix it may build, in bytes, or None if it
# builds none): attention and PyTorch's math path stop at 256 MiB (their peak is several such
# matrices), the backward passes, which hold more of them, at 64 MiB
VARIANTS = {
    "loops": ("one", 2**28),
    "attention": ("one", 2**28),
    "flash": ("one", None),
    "torch_fused": ("one", None),
    "torch_math": ("one", 2**28),
    "flash_2": ("flash_2", None),
    "torch_fused_2": ("torch_2", None),
    "backward": ("one", 2**26),
    "torch_backward": ("one", 2**26),
}
LOOPS_MAX_CALL = 2.0  # seconds: the Python loops are for small n only
OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")  # `make benchmark` unsets them
THREADS = {"one": 1, "flash_2": 2, "torch_2": 2}


# ---- in the measuring processes --------------------------------------------------------------


def setup(process):
    """Hold BLAS (and PyTorch) at this process's thread count; return, for each variant, a function
    that prepares a call on (q, k, v) and returns it, ready to be timed."""
    from threadpoolctl import threadpool_limits

    import selfattn

    threadpool_limits(1)  # BLAS at one thread everywhere: flash_2 makes its own threads

    def backward(q, k, v):
        d_out = np.ones_like(v)  # the gradient of out.sum()
        return lambda: selfattn.attention_backward(q, k, v, d_out)

    prepare = {
        "loops": lambda q, k, v: lambda: selfattn.self_attention_loops(q),
        "attention": lambda q, k, v: lambda: selfattn.attention(q, k, v),
        "flash": lambda q, k, v: lambda: selfattn.flash_attention(q, k, v),
        "flash_2": lambda q, k, v: lambda: selfattn.flash_attention(q, k, v, workers=2),
        "backward": backward,
    }
    if have_torch() and process != "flash_2":
        import torch
        import torch.nn.functional as F
        from torch.nn.attention import SDPBackend, sdpa_kernel

        torch.set_num_threads(THREADS[process])

        def sdpa(backend, *arrays):
            with sdpa_kernel(backend):  # (batch, heads, n, d): 4-D, as the fused kernel needs
                return F.scaled_dot_product_attention(*(a[None, None] for a in arrays))

        def torch_backward(q, k, v):
            arrays = [torch.from_numpy(a).requires_grad_() for a in (q, k, v)]
            out = sdpa(SDPBackend.MATH, *arrays)  # the forward, not timed
            return lambda: out.backward(torch.ones_like(out))

        def forward(backend):
            return lambda q, k, v: lambda: sdpa(backend, *map(torch.from_numpy, (q, k, v)))

        prepare |= {
            "torch_fused": forward(SDPBackend.FLASH_ATTENTION),
            "torch_math": forward(SDPBackend.MATH),
            "torch_fused_2": forward(SDPBackend.FLASH_ATTENTION),
            "torch_backward": torch_backward,
        }
    return prepare


def inputs(n, dtype):
    rng = np.random.default_rng(n)
    return rng.standard_normal((3, n, D)).astype(dtype)


def serve(process):
    """Answer timing requests, one JSON line each way: {"variant", "n", "dtype"} -> seconds."""
    calls = setup(process)
    print(json.dumps(environment(process)), flush=True)
    cached = {}
    for line in sys.stdin:
        request = json.loads(line)
        key = request["n"], request["dtype"]
        if key not in cached:
            cached.clear()
            cached[key] = inputs(*key)
        prepare = calls[request["variant"]]
        if request.get("warm_up"):
            prepare(*cached[key])()
        call = prepare(*cached[key])
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(json.dumps({"wall": wall, "cpu": cpu}), flush=True)


def resident_kib(field):
    return int(re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)[1])


def measure_memory(variant, dtype, ns):
    """Print, for each n, the peak memory one call adds: resident (VmHWM) and, for numpy, tracemalloc."""
    prepare = setup(VARIANTS[variant][0])[variant]
    for n in ns:
        call = prepare(*inputs(n, dtype))
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        before = resident_kib("VmRSS")
        call()
        peak = {"n": n, "rss_bytes": (resident_kib("VmHWM") - before) * 1024}
        if not variant.startswith("torch"):
            call = prepare(*inputs(n, dtype))
            tracemalloc.start()
            call()
            peak["tracemalloc_bytes"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        print(json.dumps(peak), flush=True)


def have_torch():
    return importlib.util.find_spec("torch") is not None


def environment(process):
    """Versions and thread counts as this process sees them."""
    from threadpoolctl import threadpool_info

    found = {
        "process": process,
        "numpy": np.__version__,
        "threadpools": [
            {key: pool.get(key) for key in ("user_api", "internal_api", "version", "num_threads", "architecture")}
            for pool in threadpool_info()
        ],
    }
    if "torch" in sys.modules:
        import torch

        found |= {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    return found


# ---- in the driving process ------------------------------------------------------------------


class Process:
    """A measuring process, driven through its stdin and stdout."""

    def __init__(self, name):
        self.popen = subprocess.Popen(
            [sys.executable, __file__, "--serve", name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.environment = self.receive()

    def receive(self):
        line = self.popen.stdout.readline()
        if not line:
            raise RuntimeError("a measuring process stopped; its error is above")
        return json.loads(line)

    def time(self, variant, n, dtype, warm_up=False):
        self.popen.stdin.write(json.dumps({"variant": variant, "n": n, "dtype": dtype, "warm_up": warm_up}) + "\n")
        self.popen.stdin.flush()
        return self.receive()

    def close(self):
        self.popen.stdin.close()
        self.popen.wait()


def machine():
    cpu = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
    caches = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        level, kind = (index / "level").read_text().strip(), (index / "type").read_text().strip()
        caches[f"L{level} {kind.lower()}"] = (index / "size").read_text().strip()
    memory = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    return {
        "cpu": cpu[1] if cpu else platform.processor(),
        "cores": os.cpu_count(),
        "caches_per_core": caches,
        "memory_gib": round(int(memory[1]) / 2**20, 1) if memory else None,
        "system": platform.platform(),
        "python": platform.python_version(),
    }


def skip_reason(variant, n, dtype, estimate, max_call):
    if variant.startswith("torch") and not have_torch():
        return "PyTorch is not installed: pip install torch==2.13.0"
    matrix, limit = n * n * np.dtype(dtype).itemsize, VARIANTS[variant][1]
    if limit is not None and matrix > limit:
        return f"its n x n matrix would take {matrix / 2**20:g} MiB (over {limit / 2**20:g} MiB)"
    if variant == "loops" and estimate is not None and estimate > LOOPS_MAX_CALL:
        return f"a call would take about {estimate:.0f} s; the Python loops stop at {LOOPS_MAX_CALL:g} s a call"
    if estimate is not None and estimate > max_call:
        return f"a call would take about {estimate:.0f} s (over --max-call {max_call:g} s)"
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ns", type=int, nargs="+", default=NS)
    parser.add_argument("--dtypes", nargs="+", default=DTYPES, choices=DTYPES)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--budget", type=float, default=6.0, help="seconds of timed calls per variant and n")
    parser.add_argument("--max-call", type=float, default=20.0, help="skip calls estimated to take longer (CPU s)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks" / "results.json")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--memory", nargs=2, metavar=("VARIANT", "DTYPE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve)
    if args.memory:
        return measure_memory(*args.memory, args.ns)

    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = os.getloadavg()
    processes = {name: Process(name) for name in THREADS}
    results, skipped = [], []
    for dtype in args.dtypes:
        last = {}  # variant -> (n, median seconds): to estimate the next n
        for n in sorted(args.ns):
            todo = []
            for variant in args.variants:
                estimate = None
                if variant in last:
                    previous_n, seconds = last[variant]
                    estimate = seconds * (n / previous_n) ** 2
                reason = skip_reason(variant, n, dtype, estimate, args.max_call)
                if reason:
                    skipped.append({"variant": variant, "dtype": dtype, "n": n, "reason": reason})
                    print(f"{dtype} n={n:>5} {variant:>14}: skipped, {reason}", flush=True)
                else:
                    todo.append(variant)
            runs = {variant: [] for variant in todo}
            first = {v: processes[VARIANTS[v][0]].time(v, n, dtype, warm_up=True) for v in todo}
            repeats = max(3, min(15, int(args.budget / max(t["wall"] for t in first.values()) + 1)))
            for variant, timing in first.items():
                runs[variant].append(timing)
            for repeat in range(1, repeats):
                turn = repeat % len(todo)  # a new order each time: no variant always follows the same one
                for variant in todo[turn:] + todo[:turn]:
                    runs[variant].append(processes[VARIANTS[variant][0]].time(variant, n, dtype))
            for variant, timings in runs.items():
                wall = float(np.median([t["wall"] for t in timings]))
                cpu = float(np.median([t["cpu"] for t in timings]))
                last[variant] = n, cpu / THREADS[VARIANTS[variant][0]]
                threads = THREADS[VARIANTS[variant][0]]
                results.append(
                    {"variant": variant, "dtype": dtype, "n": n, "threads": threads, "runs": len(timings),
                     "wall_s": wall, "cpu_s": cpu,
                     "wall_s_calls": [t["wall"] for t in timings], "cpu_s_calls": [t["cpu"] for t in timings]}
                )  # fmt: skip
                print(f"{dtype} n={n:>5} {variant:>14}: {1e3 * wall:10.2f} ms wall, {1e3 * cpu:10.2f} ms CPU")
    environments = {name: process.environment for name, process in processes.items()}
    for process in processes.values():
        process.close()

    for dtype in args.dtypes:
        for variant in args.variants:
            ns = sorted(r["n"] for r in results if r["variant"] == variant and r["dtype"] == dtype)
            if not ns:
                continue
            env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
            command = [sys.executable, __file__, "--memory", variant, dtype, "--ns", *map(str, ns)]
            lines = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout.splitlines()
            for peak in map(json.loads, lines):
                result = next(r for r in results if (r["variant"], r["dtype"], r["n"]) == (variant, dtype, peak["n"]))
                result |= {key: value for key, value in peak.items() if key != "n"}
            print(f"{dtype} {variant:>14}: memory measured", flush=True)

    report = {
        "measured": started.isoformat(timespec="seconds"),
        "seconds": round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()),
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "machine": machine(),
        "processes": environments,
        "settings": {"d": D, "ns": sorted(args.ns), "dtypes": args.dtypes, "budget_s": args.budget,
                     "max_call_s": args.max_call, "matrix_limits_bytes": {v: VARIANTS[v][1] for v in args.variants},
                     "openblas_variables_set": [v for v in OPENBLAS_VARIABLES if v in os.environ]},
        "results": results,
        "skipped": skipped,
    }  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
