"""Train the GPT of "Train a GPT" (docs/train-gpt.md) for longer than the page can.

The page trains for 400 steps, a few seconds, since pages run in every test run. This
script runs the page's own code up to and including its ``write`` function, on one core
with one BLAS thread, then trains the same model from the same start for ``--steps``
steps (6000 by default: some minutes) and writes the held-out loss every 500 steps,
with a sample, to ``docs/benchmarks/train-gpt.json``, which the page quotes. Run it with
``python benchmarks/train_gpt.py`` and commit the file with the sentence that quotes it
(tests/test_pages.py holds the two together).
"""

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
OUT = DOCS / "benchmarks" / "train-gpt.json"


def page_namespace():
    """The namespace of docs/train-gpt.md after the block that defines ``write``."""
    sys.path.insert(0, str(DOCS / "hooks"))
    import matplotlib
    from pages import split_page  # the build hook: one place that turns a page into code

    matplotlib.use("Agg")
    namespace = {"__name__": "__main__"}
    for kind, text in split_page((DOCS / "train-gpt.md").read_text()):
        if kind == "code":
            exec(compile(text, "train-gpt.md", "exec"), namespace)
            if "def write(" in text:
                return namespace
    raise RuntimeError("train-gpt.md has no block that defines write")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6000)
    steps = parser.parse_args().steps
    page = page_namespace()
    start = time.perf_counter()
    gpt, losses, val_losses = page["train"](page["init"](), steps=steps, every=500)
    seconds = time.perf_counter() - start
    report = {
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds),
        "steps": steps,
        "held_out": [[step, round(loss, 4)] for step, loss in val_losses],
        "bigram": round(page["bigram_val"], 4),
        "sample": page["write"](gpt, "It is a truth", 200, seed=0, temperature=0.5)[0],
    }
    OUT.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"  # before numpy is imported, by the page's first block
    main()
