"""How long each page's code takes to run, on one core: the pages run in every test run.

Run it with ``make benchmark-pages`` (or ``python benchmarks/pages.py train.md`` for some
pages). Each page runs top to bottom in a fresh process, as the test suite runs it, pinned
to one CPU with one BLAS thread (``OPENBLAS_NUM_THREADS=1`` and the like, and
``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` unset), ``--repeats`` times; it prints, per
page, the median wall-clock and CPU time of the whole page and of its slowest code block.
The target it checks: "Train it" (train.md) trains in under 20 s on one core.
Nothing is written to disk; numbers vary from machine to machine and with the load, so run
it on an otherwise idle machine and compare within one run.
"""

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
ONE_THREAD = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def code_blocks(page):
    """The page's code blocks, as the build and the notebooks run them (doctests as plain code)."""
    sys.path.insert(0, str(DOCS / "hooks"))
    from pages import split_page  # the build hook: one place that turns a page into code

    return [text for kind, text in split_page((DOCS / page).read_text()) if kind == "code"]


def run_page(page):
    """In this process: run every block of ``page`` in one namespace; [wall, cpu] per block."""
    import matplotlib

    matplotlib.use("Agg")
    namespace, times = {"__name__": "__main__"}, []
    for number, block in enumerate(code_blocks(page), start=1):
        wall, cpu = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(block, f"{page}, block {number}", "exec"), namespace)
        times.append([time.perf_counter() - wall, time.process_time() - cpu])
    return times


def timed_runs(page, repeats, cpu):
    """``repeats`` runs of ``page``, each in a fresh one-thread process pinned to ``cpu``."""
    env = {key: value for key, value in os.environ.items() if key not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env |= ONE_THREAD
    runs = []
    for _ in range(repeats):
        result = subprocess.run(
            [sys.executable, __file__, "--child", page],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
        )
        runs.append(json.loads(result.stdout))
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pages", nargs="*", help="pages under docs/ (default: every Markdown page with code)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=min(os.sched_getaffinity(0)), help="the CPU to run on")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_page(args.child)))
        return
    pages = args.pages or sorted(p.name for p in DOCS.glob("*.md") if code_blocks(p.name))
    print(f"{'page':<24} {'wall s':>7} {'cpu s':>7}   slowest block (wall s)")
    totals = {}
    for page in pages:
        runs = timed_runs(page, args.repeats, args.cpu)
        wall = statistics.median(sum(w for w, _ in run) for run in runs)
        cpu = statistics.median(sum(c for _, c in run) for run in runs)
        per_block = [statistics.median(run[i][0] for run in runs) for i in range(len(runs[0]))]
        slowest = max(range(len(per_block)), key=per_block.__getitem__)
        first_line = code_blocks(page)[slowest].splitlines()[0][:40]
        print(f"{page:<24} {wall:7.2f} {cpu:7.2f}   block {slowest + 1} ({per_block[slowest]:.2f}): {first_line}")
        totals[page] = wall
    if "train.md" in totals:
        verdict = "under" if totals["train.md"] < 20 else "NOT under"
        print(f"train.md: the whole page, training included, runs {verdict} the 20 s target on one core")


if __name__ == "__main__":
    main()
