"""Every code block in the docs, the README and the docstrings is a test.

Sybil collects the ```python blocks of ``docs/*.md`` and ``README.md`` (a block whose
first line starts with ``>>>`` is a doctest: its printed output must match to the
character; any other block just has to run) and the ``Examples`` of every docstring in
``selfattn/``. Each page runs in its own namespace, empty at the start, like a fresh
interpreter.
"""

import os
import re

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


def fresh_interpreter(namespace):
    """Undo process-wide state a page may change, so the next page starts clean."""
    import matplotlib.pyplot as plt

    np.set_printoptions(**PRINT_DEFAULTS)
    plt.close("all")


def machine_independent_digits(namespace):
    """A page's ``print`` first checks that the digits it shows hold on any machine
    (tests/digits.py): no last digit that another BLAS or CPU would print otherwise."""
    namespace["print"] = checked_print


markdown = [PythonCodeBlockParser(), SkipParser()]
runs = {"setup": machine_independent_digits, "teardown": fresh_interpreter}
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


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """Hand out the tests to pytest-xdist's workers a file at a time (a page's blocks share
    a namespace), except the browser checks, handed out a shard of pages at a time so that
    the workers share them."""
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            shard = re.search(r"\[(shard\d+)", nodeid)
            return nodeid.split("::")[0] + (f"::{shard[1]}" if shard else "")

    return ByFile(config, log)


def pytest_collection_modifyitems(items):
    """Run the build test first, so the site is built while the other worker runs the unit
    and page tests, and the other files that need the site last, when it is ready (the
    units are handed out in this order: ``--no-loadscope-reorder``)."""
    need_site = {item.path for item in items if "site" in item.fixturenames}

    def order(item):
        return 0 if item.path.name == "test_build.py" else 2 if item.path in need_site else 1

    items.sort(key=order)
