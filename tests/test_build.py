"""The site builds with ``mkdocs build --strict``: no warning, no broken link, every notebook executed."""

import json
import re

from sitebuild import ROOT

DOCS = ROOT / "docs"


def test_strict_build_writes_every_page(site):
    nav_pages = ["index.html", "vectorise/index.html", "journey/index.html", "api/attention/index.html", "404.html"]
    for page in nav_pages:
        assert (site / page).stat().st_size > 0, page
    index = json.loads((site / "search" / "search_index.json").read_text())
    assert any("softmax" in doc["text"].lower() for doc in index["docs"])


def test_the_tests_build_runs_every_page_s_code(site):
    """The build cache is never used here: every figure is drawn, every notebook page run."""
    log = (site.parent / "build.log").read_text()
    drawn = re.search(r"Drawing the figures of (.*) \(not in the build cache\)", log)
    assert drawn, log
    pages = {page.relative_to(DOCS).as_posix(): page.read_text() for page in DOCS.rglob("*.md")}
    pages.update({page.relative_to(DOCS).as_posix(): page.read_text() for page in DOCS.rglob("*.ipynb")})
    uses_matplotlib = {page for page, text in pages.items() if "import matplotlib" in text}
    assert uses_matplotlib and set(drawn[1].split(", ")) == uses_matplotlib
    for notebook in DOCS.rglob("*.ipynb"):  # committed without outputs, shown with them: the build ran it
        assert not any(cell.get("outputs") for cell in json.loads(notebook.read_text())["cells"]), notebook.name
        html = (site / notebook.relative_to(DOCS).with_suffix("") / "index.html").read_text()
        assert "jp-OutputArea-output" in html, f"{notebook.name} shows no output: was it run?"
