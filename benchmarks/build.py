"""The authoring loop's budgets, measured: how long the site takes to build and the suite to run.

Run it with ``make budgets`` (about five minutes). It copies ``mkdocs.yml``, ``docs/`` and
``selfattn/`` into a temporary folder, so the working tree and its build cache are never
touched, and measures there, each case ``--runs`` times (medians of wall-clock and CPU time):

- ``cold build``: ``mkdocs build --strict`` with the build cache off, as on a fresh clone
  (budget: 30 s);
- ``rebuild, nothing changed``: the same with a warm build cache (budget: 8 s);
- ``rebuild, prose edited``: after one more sentence on a page (budget: 8 s);
- ``serve, prose edited``: ``mkdocs serve`` running, the time from saving a sentence on a
  page to the reload of the browsers (about the same as a rebuild);
- ``make test``: the whole suite, as ``make test`` runs it, in the repository (``--suite 0`` leaves it out;
  budget: 75 s with PyTorch and Chromium installed).

The machine may be shared: the CPU time of the build processes is printed beside the
wall-clock, and the load average before each case.
"""

import argparse
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MKDOCS = [sys.executable, "-m", "mkdocs"]
BUDGETS = {"cold build": 30, "rebuild, nothing changed": 8, "rebuild, prose edited": 8, "make test": 75}
PAGE = "masks.md"  # the page whose prose is edited


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command, cwd, env):
    """Run ``command``; return (wall-clock, CPU) seconds. A failure stops the script."""
    wall, cpu = time.monotonic(), children_cpu()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return time.monotonic() - wall, children_cpu() - cpu


def edit(copy, number):
    """Add one sentence to the prose of a page (a new one each time)."""
    page = copy / "docs" / PAGE
    text = page.read_text()
    first_paragraph = text.index("\n\n") + 2  # after the title
    page.write_text(text[:first_paragraph] + f"A sentence added for run {number}. " + text[first_paragraph:])


def serve_reload(copy, env, runs):
    """Start ``mkdocs serve`` in ``copy``; for each run, save an edit and time the wait
    for "Reloading browsers"."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [*MKDOCS, "serve", "--dev-addr", f"127.0.0.1:{port}", "--livereload", "--watch", "selfattn"]
    server = subprocess.Popen(
        command, cwd=copy, env=env, stderr=subprocess.STDOUT, stdout=subprocess.PIPE, text=True, start_new_session=True
    )

    def wait_for(pattern):
        for line in server.stdout:
            if re.search(pattern, line):
                return
            if "ERROR" in line:
                sys.exit(f"mkdocs serve: {line}")
        sys.exit("mkdocs serve stopped")

    try:
        wait_for(r"Serving on")
        times = []
        for number in range(runs):
            time.sleep(1)  # let the watcher settle
            start = time.monotonic()
            edit(copy, 100 + number)
            wait_for(r"Reloading browsers")
            times.append(time.monotonic() - start)
        return times
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()


def report(name, runs):
    """One line: the median of ``runs`` (each wall-clock seconds, or (wall-clock, CPU))."""
    walls = [run[0] if isinstance(run, tuple) else run for run in runs]
    cpus = [run[1] for run in runs if isinstance(run, tuple)]
    wall = statistics.median(walls)
    budget = BUDGETS.get(name)
    verdict = "" if budget is None else f"  budget {budget} s: {'ok' if wall <= budget else 'OVER'}"
    cpu = f", CPU {statistics.median(cpus):5.1f} s" if cpus else ""
    runs = ", ".join(f"{w:.1f}" for w in walls)
    print(f"{name:28} median {wall:5.1f} s{cpu}  (runs: {runs}){verdict}", flush=True)


def load():
    return os.getloadavg()[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each build case (default 3)")
    parser.add_argument("--suite", type=int, default=1, help="runs of make test (default 1; 0 to leave it out)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="selfattn-budgets-") as folder:
        copy = Path(folder) / "repo"
        copy.mkdir()
        shutil.copy2(ROOT / "mkdocs.yml", copy)
        for tree in ("docs", "selfattn"):
            shutil.copytree(ROOT / tree, copy / tree, ignore=shutil.ignore_patterns("__pycache__"))
        build = [*MKDOCS, "build", "--strict", "--site-dir", str(Path(folder) / "site")]
        env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "SELFATTN_BUILD_CACHE": str(Path(folder) / "cache")}
        print(f"{len(list((copy / 'docs').rglob('*.md')))} Markdown pages; load average {load():.1f}", flush=True)

        cold = [timed(build, copy, {**env, "SELFATTN_BUILD_CACHE": "off"}) for _ in range(args.runs)]
        report("cold build", cold)
        timed(build, copy, env)  # fills the cache
        print(f"load average {load():.1f}", flush=True)
        report("rebuild, nothing changed", [timed(build, copy, env) for _ in range(args.runs)])
        print(f"load average {load():.1f}", flush=True)
        prose = []
        for number in range(args.runs):
            edit(copy, number)
            prose.append(timed(build, copy, env))
        report("rebuild, prose edited", prose)
        print(f"load average {load():.1f}", flush=True)
        report("serve, prose edited", serve_reload(copy, env, args.runs))

    if args.suite:
        print(f"load average {load():.1f}", flush=True)
        suite = [timed(["make", "test"], ROOT, os.environ) for _ in range(args.suite)]
        report("make test", suite)


if __name__ == "__main__":
    main()
