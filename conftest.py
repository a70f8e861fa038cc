"""Every code block in the docs, the README and the docstrings is a test.

Sybil collects the ```python blocks of ``docs/*.md`` and of the READMEs (the project's and
``benchmarks/README.md``; a block whose first line starts with ``>>>`` is a doctest: its
printed output must match to the character; any other block just has to run) and the
``Examples`` of every docstring in ``selfattn/``. Each page runs in its own namespace, empty at the start, like a fresh
interpreter, in an empty folder.
"""

import atexit
import gc
import os
import re
import tempfile

# One BLAS (and OpenMP) thread per process. pytest-xdist already runs a worker per core, and
# the build, Chromium and the kernels run beside them: a second BLAS thread only waits for a
# core, spinning (OpenBLAS's threads busy-wait), and made the whole run 5-10 s slower and the
# build under it twice as slow. Set before numpy loads; the workers and every process the
# tests start (the build, its figures, the kernels) inherit it. Results do not depend on it:
# a page's printed digits hold on any machine (tests/digits.py).
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

# On its way out Python collects every object once more: with PyTorch and matplotlib loaded,
# most of a second per process, and the run waits for its last worker to exit. Freezing the
# heap first (after every other exit handler) skips that; a test cleans up after itself.
atexit.register(gc.freeze)

import matplotlib
import numpy as np
import pytest
from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser
from sybil.parsers.rest import DocTestParser
from sybil.sybil import SybilCollection

from tests.digits import checked_print

matplotlib.use("Agg")  # pages that plot must not need a screen
PRINT_DEFAULTS = np.get_printoptions()


def start_page(namespace):
    """A page runs in an empty folder of its own, as a downloaded notebook may, and its
    ``print`` first checks that the digits it shows hold on any machine (tests/digits.py):
    no last digit that another BLAS or CPU would print otherwise."""
    namespace["print"] = checked_print
    pages.append((os.getcwd(), tempfile.TemporaryDirectory(prefix="page-")))
    os.chdir(pages[-1][1].name)


def end_page(namespace):
    """Undo process-wide state a page may change, so the next page starts clean."""
    import matplotlib.pyplot as plt

    np.set_printoptions(**PRINT_DEFAULTS)
    plt.close("all")
    home, folder = pages.pop()
    os.chdir(home)
    folder.cleanup()


pages = []  # for the page running: the folder the tests run in, and the page's own
markdown = [PythonCodeBlockParser(), SkipParser()]
runs = {"setup": start_page, "teardown": end_page}
pytest_collect_file = SybilCollection(
    [
        Sybil(markdown, path="docs", patterns=["*.md"], name="docs", **runs),
        Sybil(markdown, filenames=["README.md"], name="readme", **runs),
        Sybil([DocTestParser()], path="selfattn", patterns=["*.py"], name="docstrings", **runs),
    ]
).pytest()


def pytest_configure(config):
    """A page's example needs the blocks above it, so asking for one example by its id runs
    its whole page (mutmut, for one, reruns the tests that cover a mutant by id)."""
    config.args[:] = dict.fromkeys(re.sub(r"::sybil:.*", "", arg) for arg in config.args)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With SELFATTN_NO_SKIPS=1 (as in CI) a skipped test fails: nothing optional is optional there."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("SELFATTN_NO_SKIPS") == "1" and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but SELFATTN_NO_SKIPS=1 makes every skip a failure: {reason}"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    """Group the tests for pytest-xdist's workers (``--dist loadgroup``). A page's examples
    share a namespace, so each file outside ``tests/`` (a page, the README, a module's
    docstrings) goes to one worker whole, and so does the build; the other tests in
    ``tests/`` go one by one (the files that import PyTorch mark themselves
    ``xdist_group("torch")``, so one worker imports it once)."""
    root = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        path = os.path.relpath(item.path, root)
        if not path.startswith("tests" + os.sep) or item.path.name == "test_build.py":
            item.add_marker(pytest.mark.xdist_group(path))


@pytest.hookimpl(tryfirst=True)  # after pytest's own order (by fixtures), before pytest-xdist reads it
def pytest_collection_finish(session):
    """Order the tests as the workers get them (``--no-loadscope-reorder``): the build first,
    so the site is built while the other worker runs the unit and page tests; then the tests
    that need the site, and the browser's pages last of all, the biggest first, so that the
    workers end together."""

    def order(item):
        if item.path.name == "test_build.py":
            return 0
        if "site" not in item.fixturenames:
            return 1
        return 3 if "tab" in item.fixturenames else 2

    session.items.sort(key=order)
