"""The built site, as a reader's browser sees it: one test per page, light and dark.

Every page of ``docs/`` and the 404 page, served from 127.0.0.1 under the path of
``site_url``, opens in Chromium (pytest-playwright's ``browser``, one tab per test process)
and is checked in the light scheme and the dark one (``browser.inspect_page``). What
Material does by itself (search, anchors) is Material's to test; the strict build checks
links and anchors. The tests at the end feed the checks a broken page and a missing one.
"""

import ast
import functools
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import browser as checks
import nbformat
import pytest
import yaml
from sitebuild import ROOT, load_hook, page_url

if shutil.which("chromium") is None:  # one line for the whole module, instead of one per test
    reason = "Chromium not found: apt-get install chromium to run the browser tests"
    if os.environ.get("SELFATTN_NO_SKIPS") == "1":
        pytest.fail(f"{reason} (SELFATTN_NO_SKIPS=1: nothing optional is optional)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

DOCS = ROOT / "docs"
CONFIG = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
PREFIX = urlsplit(CONFIG["site_url"]).path
hook = load_hook("pages")  # which blocks are Python blocks, and what their copy buttons copy
HOME_LIMIT = 1_000_000
PAGE_LIMIT = 2_000_000
MISSING_PAGE = "no/such/page/"  # deep: the 404 page finds its styles from anywhere
# axe-core's moderate and minor findings that stay, each with why; any other finding fails.
KNOWN_MINOR = {
    "landmark-unique": "Material's navigation labels a section that has an index page (API reference) by the "
    "button that folds it, which has no text; the fix is a copy of Material's 170-line nav-item.html, which "
    "would drift from Material's",
}


def site_pages():
    """{page: its address in the site} for every page of ``docs/`` (MkDocs' ``File.url``),
    the biggest first (they take longest), then the 404 page."""
    excluded = tuple(line.strip() for line in CONFIG["exclude_docs"].splitlines() if line.strip())
    paths = [p for p in DOCS.rglob("*") if p.suffix in (".md", ".ipynb")]
    paths = [p for p in paths if not p.relative_to(DOCS).as_posix().startswith(excluded)]
    paths.sort(key=lambda p: -p.stat().st_size)
    return {**{p.relative_to(DOCS).as_posix(): page_url(p.relative_to(DOCS)) for p in paths}, "404": MISSING_PAGE}


PAGES = site_pages()


def expected_copies(page):
    """What the copy buttons of ``page`` copy, in order: the code of its Python blocks, a
    doctest without its prompts and output, or a notebook's code cells. None for an API page."""
    if page.endswith(".ipynb"):
        cells = nbformat.reads((DOCS / page).read_text(), as_version=4).cells
        return [cell.source for cell in cells if cell.cell_type == "code"]
    if page.startswith("api/"):
        return None
    if page == "404":
        return []
    return [hook.code_of(block, catch=False) for _, _, block in hook.python_blocks((DOCS / page).read_text())]


@functools.cache  # read once, for all the API pages
def docstring_examples():
    """The code of every example of every docstring of ``selfattn/``, as its copy button copies it."""
    examples = set()
    for module in (ROOT / "selfattn").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Module) and ast.get_docstring(node):
                for paragraph in ast.get_docstring(node).split("\n\n"):  # a block of examples each
                    if ">>>" in paragraph:
                        examples.add(hook.code_of(paragraph[paragraph.index(">>>") :], catch=False).rstrip("\n"))
    return examples


@pytest.fixture(scope="session")
def server(site):
    with checks.SiteServer(site, PREFIX) as running:
        yield running


@pytest.fixture(scope="session")
def tab(browser):
    """One tab per test process, for each page in turn: a new tab would cost Chromium a
    process of its own and 0.3 CPU-s."""
    context = browser.new_context(viewport=checks.DESKTOP)
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("page", PAGES)
def test_page(page, tab, server):
    """Every check of ``checks.inspect_page`` passes, in light and in dark; the copy buttons
    copy the page's code; a first visit weighs less than the limit."""
    url, status = urljoin(server.base_url, PAGES[page]), 404 if page == "404" else 200
    shots = os.environ.get("SELFATTN_SCREENSHOTS")  # make screenshots
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        shots = Path(shots, page.rsplit(".", 1)[0].replace("/", "-"))
    found = checks.inspect_page(tab, url, status, server.search_index_bytes, screenshots=shots)
    checked = ("network", "math", "images", "dark images", "copy", "fits")
    problems = [f"{check}: {problem}" for check in checked for problem in found[check]]
    for audit in ("axe", "dark axe"):
        for v in found[audit]:
            if v["impact"] in ("critical", "serious") or v["rule"] not in KNOWN_MINOR:
                problems.append(f"{audit}: {v['rule']} ({v['impact']}), {v['nodes']} element(s), e.g. {v['example']}")
    problems += [
        f"code block scrolls sideways at 1280 px (keep lines within 88 characters): {b}" for b in found["scrolling"]
    ]
    assert not problems, "\n".join(problems)
    copied, expected = [text.rstrip("\n") for text in found["copied"]], expected_copies(page)
    if expected is None:
        assert set(copied) <= docstring_examples(), "copy buttons copy other code than the docstrings' examples"
        assert bool(copied) == ("::: selfattn." in (DOCS / page).read_text()), "no copy button for the examples"
    else:
        assert copied == [text.rstrip("\n") for text in expected], "copy buttons copy other code than the page's"
    limit = HOME_LIMIT if page == "index.md" else PAGE_LIMIT
    assert 0 < found["bytes"] < limit, f"{found['bytes']:,} bytes transferred on a first visit (limit {limit:,})"


def test_every_page_of_the_site_is_checked(site):
    """The pages above are the built site's: every page of its sitemap, and no other."""
    root = ET.parse(site / "sitemap.xml").getroot()
    built = {urlsplit(loc.text.strip()).path for loc in root.iter() if loc.tag.endswith("loc")}
    assert built == {urljoin(PREFIX, url) for page, url in PAGES.items() if page != "404"}
    assert len(built) >= 12 and "journey.ipynb" in PAGES and "index.md" in PAGES


def test_the_keyboard_reaches_every_control_and_shows_where_it_is(page, server):
    """Tab through a page with exercises: the palette toggle, search, every link (the
    notebook download too), every copy button, every collapsed solution and every region
    that scrolls take the focus in turn, and each shows it."""
    page.set_viewport_size(checks.DESKTOP)
    page.goto(urljoin(server.base_url, PAGES["kv-cache.md"]))
    walk = checks.tab_walk(page)
    assert not walk["unreached"], f"{len(walk['unreached'])} control(s) the Tab key never reaches: {walk['unreached']}"
    assert not walk["unseen"], f"focused without a visible sign: {walk['unseen']}"
    for kind in ("palette", "search", "notebook", "copy", "solution"):
        assert walk["kinds"].get(kind), f"the walk met no {kind} control: {walk['kinds']}"


# -- the checks can fail ---------------------------------------------------------------

PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
PALETTE = """<div data-md-component="palette"><label onclick="document.body.dataset.mdColorScheme = 'slate'"
  >Dark</label></div>"""  # a toggle that changes no colour
BROKEN = rf"""<!doctype html>
<html><head><meta charset="utf-8"><title>A broken page</title><link rel="icon" href="data:,">
<script src="http://example.invalid/x.js"></script></head>
<body>{PALETTE}<div class="md-content">
<p style="color: #999">Grey on white, too faint to read.</p>
<p>Here <a href="#x" style="color: #222; text-decoration: none">a link</a> looks like the text around it.</p>
<div role="dialog">A dialog without a name</div>
<p>Left as TeX: $\frac{{a}}{{b}}$</p>
<p>A formula nobody can see: <math style="display: none"><mi>x</mi></math></p>
<img src="missing.png" alt="A picture whose file is missing">
<img src="{PIXEL}" alt="image">
<img src="{PIXEL}" alt="No description has been provided for this image">
<img src="{PIXEL}#only-dark" alt="A figure drawn for the dark scheme">
<img src="{PIXEL}#only-light" alt="A figure drawn for the light scheme">
<div class="language-python highlight"><pre><nav class="md-code__nav"><button data-md-type="copy"
  onclick="navigator.clipboard.writeText('>>> print(1 +')">copy</button></nav><code>print(1 +</code></pre></div>
<div style="width: 2000px">A block wider than any phone</div>
<figure class="diagram"><svg viewBox="0 0 1000 100" width="1000" style="max-width: 100%">
  <title>Squeezed</title></svg></figure>
</div>
<script>console.error("boom")</script>
</body></html>
"""


@pytest.fixture(scope="module")
def samples(browser, tmp_path_factory):
    """A broken page (checked twice) and a missing one, from a temporary folder."""
    folder = tmp_path_factory.mktemp("pages")
    for name in ("broken.html", "404.html"):  # "gone" answers 404 with the broken page
        (folder / name).write_text(BROKEN)
    context = browser.new_context(viewport=checks.DESKTOP)
    page = context.new_page()
    with checks.SiteServer(folder) as running:
        found = {name: checks.inspect_page(page, running.base_url + name) for name in ("broken.html", "gone")}
        yield {**found, "broken again": checks.inspect_page(page, running.base_url + "broken.html")}
    context.close()


@pytest.mark.parametrize(
    "check, expected",
    [
        ("network", "console error: boom"),
        ("network", "request to another host: http://example.invalid/x.js"),
        ("network", "request failed: http://example.invalid/x.js"),
        ("network", "HTTP 404: http://127.0.0.1"),  # missing.png
        ("math", "raw TeX in the content: 'Left as TeX: $\\\\frac{a}{b}$'"),
        ("math", "formula not visible"),
        ("images", "image did not load: missing.png"),
        ("images", "image without a meaningful alt text ('image')"),
        ("images", "image without a meaningful alt text ('No description has been provided"),
        ("images", "the dark figure is shown in light"),
        ("dark images", "the light figure is shown in dark"),
        ("copy", "copied text holds '>>>' prompts"),
        ("fits", "page is 2"),
        ("fits", "its text too small to read: 'Squeezed'"),
    ],
)
def test_check_reports_a_broken_page(samples, check, expected):
    assert any(expected in problem for problem in samples["broken.html"][check]), samples["broken.html"][check]


def test_axe_reports_a_broken_page(samples):
    rules = {(v["rule"], v["impact"]) for v in samples["broken.html"]["axe"]}
    expected = {"color-contrast", "link-in-text-block", "aria-dialog-name", "html-has-lang"}
    assert {(rule, "serious") for rule in expected} <= rules, rules
    again = {(v["rule"], v["impact"]) for v in samples["broken again"]["axe"]}
    assert again == rules, "a look that failed was taken as passed the second time"


def test_a_page_missing_from_the_site_fails(samples):
    assert any("answered 404, expected 200" in problem for problem in samples["gone"]["network"])


def test_the_tab_walk_reports_a_hidden_focus_and_a_control_out_of_reach(page, tmp_path):
    (tmp_path / "index.html").write_text(
        '<!doctype html><html lang="en"><title>Keys</title><body><div class="md-content">'
        '<button style="outline: none">A button that hides its focus</button><a href="#">A link</a>'
        '<div inert><a href="#">A link out of reach</a></div>'
        '<pre style="overflow-x: auto; width: 100px">A line far wider than its box</pre>'
        "</div></body></html>"
    )
    with checks.SiteServer(tmp_path) as running:
        page.goto(running.base_url)
        walk = checks.tab_walk(page)
    assert walk["unreached"] == ['<a href="#" data-walk="2">A link out of reach</a>']
    assert [what[:7] for what in walk["unseen"]] == ["<button"]
    assert walk["kinds"] == {"other": 1, "link": 2, "scrolling region": 1}
