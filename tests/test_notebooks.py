"""Every page with Python code can be downloaded as a notebook, and that notebook runs.

The build (``docs/hooks/pages.py``) writes, for each Markdown page in ``docs/`` with at
least one ```python block, ``notebooks/<page>.ipynb`` into the site: Markdown cells for
the prose, one code cell per Python block (doctests lose their ``>>> ``/``... `` prompts
and their expected output), and a link to it at the top of the page. A reader who
downloads it and runs all cells must see no error.

A notebook's code cells are its page's blocks with the prompts taken off (checked here,
cell by cell), that is the very statements Sybil runs for the page, in the same order, in
a fresh namespace, in an empty folder (``conftest.py``): where the page passes, its
notebook runs. Two things differ, and they are run here. A doctest that shows a traceback
becomes a cell that catches and prints that error (the hook's ``code_of``), so the pages
with one have their notebooks executed, in a fresh namespace in an empty directory, and
must show the reader that same error. And one notebook runs in a real Jupyter kernel, the
reader's way. (Running every notebook again took a tenth of the suite's time for nothing
that Sybil's run does not check.)

Pages that check against PyTorch need torch: without it their notebook is skipped, with
the reason, as Sybil skips their blocks (and with SELFATTN_NO_SKIPS=1, as in CI, the skip
is a failure). With torch installed, as in .venv and CI, they run.
"""

import ast
import contextlib
import doctest
import importlib.util
import io
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from sitebuild import ROOT, load_hook, page_url

import selfattn

DOCS = ROOT / "docs"
hook = load_hook("pages")  # which blocks count and how a doctest becomes code: the hook's, which are Sybil's
# Any base URL works to resolve relative links; the real one also checks absolute ones.
SITE_URL = re.search(r"^site_url:\s*(\S+)", (ROOT / "mkdocs.yml").read_text(), re.MULTILINE)[1].rstrip("/") + "/"
CELL_TIMEOUT = 60  # seconds
HAVE_TORCH = importlib.util.find_spec("torch") is not None
NO_TORCH = "PyTorch is not installed: pip install torch==2.13.0"


def needs_torch(page):
    return bool(re.search(r"^\s*(import|from) torch\b", (DOCS / page).read_text(), re.MULTILINE))


def python_blocks(page):
    """The source of every Python block of ``page`` that Sybil runs."""
    return [source for _, _, source in hook.python_blocks(page.read_text())]


def expected_errors(block):
    """The errors a block's doctest shows, as ``Name: message`` lines."""
    if not block.startswith(">>>"):
        return []
    return [example.exc_msg.strip() for example in doctest.DocTestParser().get_examples(block) if example.exc_msg]


def reads_the_last_shown_value(code):
    """Whether ``code`` reads ``_`` and never sets it: in a doctest, the last value shown."""
    contexts = {type(node.ctx) for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Name) and node.id == "_"}
    return ast.Load in contexts and ast.Store not in contexts


def test_reading_the_last_shown_value_is_found():
    assert reads_the_last_shown_value("1 + 1\nprint(_)")
    assert not reads_the_last_shown_value("for _ in range(2):\n    print(_)")


def shown(cell):
    """What running a cell showed: its printed text and any error, as ``Name: message``."""
    return "".join(
        output.text if output.output_type == "stream" else f"{output.ename}: {output.evalue}\n"
        for output in cell.outputs
        if output.output_type in ("stream", "error")
    )


PAGES = sorted(page.relative_to(DOCS).as_posix() for page in DOCS.rglob("*.md") if python_blocks(page))


def notebook_path(site, page):
    return site / "notebooks" / Path(page).with_suffix(".ipynb")


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        if tag == "a" and dict(attrs).get("href"):
            self.hrefs.append(dict(attrs)["href"])


def read_notebook(site, page):
    path = notebook_path(site, page)
    assert path.is_file(), f"{page} has Python blocks but the site has no {path.relative_to(site)}"
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def test_there_are_pages_with_code():
    assert "vectorise.md" in PAGES


@pytest.mark.parametrize("page", PAGES)
def test_notebook_has_one_code_cell_per_block(site, page):
    notebook = read_notebook(site, page)
    assert notebook.nbformat == 4
    nbformat.validate(notebook)
    cells = code_cells(notebook)[1:]  # after the cell that installs selfattn
    blocks = python_blocks(DOCS / page)
    assert len(cells) == len(blocks)
    for number, (cell, block) in enumerate(zip(cells, blocks, strict=True), start=1):
        assert ">>>" not in cell.source, f"code cell {number} still has a doctest prompt"
        assert cell.source == hook.code_of(block).strip(), f"code cell {number} is not the code of block {number}"
    assert not reads_the_last_shown_value("\n".join(cell.source for cell in cells)), (
        "the code reads `_`, the last value a doctest showed, which plain code never sets"
    )
    title = re.search(r"^# (.+)$", (DOCS / page).read_text(), re.MULTILINE)[1]
    assert any(title in cell.source for cell in notebook.cells if cell.cell_type == "markdown")


@pytest.mark.parametrize("page", PAGES)
def test_page_links_to_its_notebook(site, page):
    links = Links()
    links.feed((site / page_url(page) / "index.html").read_text())
    here = urljoin(SITE_URL, page_url(page))
    targets = {urljoin(here, href) for href in links.hrefs if href.endswith(".ipynb")}
    assert urljoin(SITE_URL, notebook_path(Path(), page).as_posix()) in targets, targets


def run_in_fresh_namespace(notebook, cwd):
    """Run the notebook's code cells in order in one fresh namespace, in ``cwd``, as a kernel
    would; return what each cell printed (errors a cell catches and prints included)."""
    namespace, printed = {"__name__": "__main__"}, []
    print_options = np.get_printoptions()
    try:
        with contextlib.chdir(cwd):
            for number, cell in enumerate(code_cells(notebook), start=1):
                out = io.StringIO()
                with contextlib.redirect_stdout(out):
                    exec(compile(cell.source, f"code cell {number}", "exec"), namespace)
                printed.append(out.getvalue())
    finally:
        np.set_printoptions(**print_options)
        plt.close("all")
    return printed


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


@pytest.mark.parametrize("page", [*PAGES, "journey.ipynb"])
def test_notebook_starts_by_installing_selfattn_where_it_is_missing(site, page):
    """Its first code cell installs the version the site documents (run below, where selfattn
    is importable, it does nothing; tests/test_wheel.py runs it where pip cannot install)."""
    path = site / page_url(page) / page if page.endswith(".ipynb") else notebook_path(site, page)
    first = code_cells(nbformat.read(path, as_version=4))[0]
    assert first.source == hook.install_cell(selfattn.__version__)


def check_errors_are_shown(page, printed):
    """A doctest that shows a traceback must show the reader the same error in the notebook
    (``printed``: what each code cell printed, the one that installs selfattn first)."""
    assert printed[0] == "", f"the first cell installed selfattn, which is importable here: {printed[0]!r}"
    for number, (text, block) in enumerate(zip(printed[1:], python_blocks(DOCS / page), strict=True), start=1):
        for error in expected_errors(block):
            assert error in text, f"code cell {number} should show {error!r}; it showed {text!r}"


# The pages with a doctest that shows a traceback: their notebooks differ from what Sybil runs.
PAGES_SHOWING_ERRORS = [page for page in PAGES if any(map(expected_errors, python_blocks(DOCS / page)))]


def test_some_pages_show_errors():
    assert "errors.md" in PAGES_SHOWING_ERRORS


@pytest.mark.parametrize("page", PAGES_SHOWING_ERRORS)
def test_notebook_runs_top_to_bottom_and_shows_the_errors_of_its_page(site, page, tmp_path):
    if needs_torch(page) and not HAVE_TORCH:
        pytest.skip(NO_TORCH)
    notebook = read_notebook(site, page)
    check_errors_are_shown(page, run_in_fresh_namespace(notebook, tmp_path))


def test_a_notebook_runs_in_a_jupyter_kernel(site, tmp_path):
    """The same, once, the reader's way: a real kernel, in an empty folder (a kernel per
    notebook would triple the suite's time for what the test above already runs)."""
    page = "words-to-vectors.md"
    notebook = read_notebook(site, page)
    resources = {"metadata": {"path": str(tmp_path)}}
    NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3", resources=resources).execute()
    check_errors_are_shown(page, [shown(cell) for cell in code_cells(notebook)])
