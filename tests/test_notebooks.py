"""Every page with Python code can be downloaded as a notebook, and that notebook runs.

The build (``docs/hooks/pages.py``) writes, for each Markdown page in ``docs/`` with at
least one ```python block, ``notebooks/<page>.ipynb`` into the site: Markdown cells for
the prose, one code cell per Python block (doctests lose their ``>>> ``/``... `` prompts
and their expected output), and a link to it at the top of the page. A reader who
downloads it and runs all cells must see no error, so each notebook is executed here in
a fresh kernel, in an empty directory; where a doctest shows a traceback, the notebook
must show the reader that same error (the hook catches and prints it).

Pages that check against PyTorch need torch: without it their notebook is skipped, with
the reason, as Sybil skips their blocks (and with SELFATTN_NO_SKIPS=1, as in CI, the skip
is a failure). With torch installed, as in .venv and CI, they run.
"""

import asyncio
import doctest
import importlib.util
import re
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from sybil import Document
from sybil.parsers.markdown.lexers import FencedCodeBlockLexer

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Any base URL works to resolve relative links; the real one also checks absolute ones.
SITE_URL = re.search(r"^site_url:\s*(\S+)", (ROOT / "mkdocs.yml").read_text(), re.MULTILINE)[1].rstrip("/") + "/"
CELL_TIMEOUT = 60  # seconds
KERNELS_AT_ONCE = 4
HAVE_TORCH = importlib.util.find_spec("torch") is not None
NO_TORCH = "PyTorch is not installed: pip install torch==2.13.0"


def needs_torch(page):
    return bool(re.search(r"^\s*(import|from) torch\b", (DOCS / page).read_text(), re.MULTILINE))


def python_blocks(page):
    """The source of every ```python block of ``page``, found the way Sybil finds them."""
    document = Document(page.read_text(), str(page))
    return [str(region.lexemes["source"]) for region in FencedCodeBlockLexer("python")(document)]


def examples(block):
    """A doctest block's examples; a plain block is a single example with no expected output."""
    if block.lstrip().startswith(">>>"):
        return doctest.DocTestParser().get_examples(block)
    return [doctest.Example(block, "")]


def as_code(block):
    """What a notebook cell should hold for a block: a doctest loses prompts and output."""
    return "".join(example.source for example in examples(block))


def expected_errors(block):
    """The errors a block's doctest shows, as ``Name: message`` lines."""
    return [example.exc_msg.strip() for example in examples(block) if example.exc_msg]


def shown(cell):
    """What running a cell showed: its printed text and any error, as ``Name: message``."""
    return "".join(
        output.text if output.output_type == "stream" else f"{output.ename}: {output.evalue}\n"
        for output in cell.outputs
        if output.output_type in ("stream", "error")
    )


def code_lines(source):
    return [line.strip() for line in source.splitlines() if line.strip()]


def is_subsequence(needles, haystack):
    rest = iter(haystack)
    return all(needle in rest for needle in needles)


PAGES = sorted(page.relative_to(DOCS).as_posix() for page in DOCS.rglob("*.md") if python_blocks(page))


def notebook_path(site, page):
    return site / "notebooks" / Path(page).with_suffix(".ipynb")


def page_url(page):
    """The page's URL relative to the site root (MkDocs' ``use_directory_urls``)."""
    stem = Path(page).with_suffix("")
    return "" if stem.as_posix() == "index" else (stem.parent if stem.name == "index" else stem).as_posix() + "/"


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
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    blocks = python_blocks(DOCS / page)
    assert len(cells) == len(blocks)
    for number, (cell, block) in enumerate(zip(cells, blocks, strict=True), start=1):
        assert ">>>" not in cell.source, f"code cell {number} still has a doctest prompt"
        # Every line of code, in order; a guard around torch-only code may add lines.
        in_order = is_subsequence(code_lines(as_code(block)), code_lines(cell.source))
        assert in_order, f"code cell {number} is not the code of block {number}:\n{cell.source}"
    title = re.search(r"^# (.+)$", (DOCS / page).read_text(), re.MULTILINE)[1]
    assert any(title in cell.source for cell in notebook.cells if cell.cell_type == "markdown")


@pytest.mark.parametrize("page", PAGES)
def test_page_links_to_its_notebook(site, page):
    links = Links()
    links.feed((site / page_url(page) / "index.html").read_text())
    here = urljoin(SITE_URL, page_url(page))
    targets = {urljoin(here, href) for href in links.hrefs if href.endswith(".ipynb")}
    assert urljoin(SITE_URL, notebook_path(Path(), page).as_posix()) in targets, targets


async def run_all(notebooks, workdir):
    """Execute the notebooks concurrently, each in its own kernel; return each one's error, or None."""
    at_once = asyncio.Semaphore(KERNELS_AT_ONCE)

    async def run(page, notebook):
        cwd = workdir / Path(page).with_suffix("")
        cwd.mkdir(parents=True)
        client = NotebookClient(
            notebook,
            timeout=CELL_TIMEOUT,
            kernel_name="python3",
            resources={"metadata": {"path": str(cwd)}},
            # Leave the user's IPython history alone, and let kernels run side by side.
            extra_arguments=["--HistoryManager.enabled=False"],
        )
        async with at_once:
            try:
                await client.async_execute()
            except CellExecutionError as error:
                return page, str(error)
        # A doctest that shows a traceback must show the reader the same error (caught and
        # printed, or raised in a cell tagged raises-exception), not nothing.
        cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
        # (a notebook with the wrong number of cells fails test_notebook_has_one_code_cell_per_block)
        for number, (cell, block) in enumerate(zip(cells, python_blocks(DOCS / page), strict=False), start=1):
            for error in expected_errors(block):
                if error not in shown(cell):
                    return page, f"code cell {number} should show {error!r}; it showed {shown(cell)!r}"
        return page, None

    def cost(item):  # start the slowest first, so none of them is left to run alone at the end
        code = "".join(cell.source for cell in item[1].cells if cell.cell_type == "code")
        return ("torch" in code, len(code))

    ordered = sorted(notebooks.items(), key=cost, reverse=True)
    return dict(await asyncio.gather(*(run(page, notebook) for page, notebook in ordered)))


@pytest.fixture(scope="module")
def executed(site, tmp_path_factory):
    """Run every downloadable notebook once; the page's error, or None, by page."""
    notebooks = {page: notebook_path(site, page) for page in PAGES}
    notebooks = {
        page: nbformat.read(path, as_version=4)
        for page, path in notebooks.items()
        if path.is_file() and (HAVE_TORCH or not needs_torch(page))
    }
    start = time.perf_counter()
    errors = asyncio.run(run_all(notebooks, tmp_path_factory.mktemp("notebooks")))
    print(f"executed {len(notebooks)} notebooks in {time.perf_counter() - start:.1f} s")
    return errors


@pytest.mark.parametrize("page", PAGES)
def test_notebook_runs_top_to_bottom(executed, page):
    if needs_torch(page) and not HAVE_TORCH:
        pytest.skip(NO_TORCH)
    assert page in executed, f"no notebook for {page}"
    assert executed[page] is None, executed[page]
