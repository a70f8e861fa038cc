"""The built site, as a reader's browser sees it.

Every page of the sitemap (and the 404 page) is served from 127.0.0.1 under the path of
``site_url``, opened once in Chromium at a phone's width with a fresh cache, and checked:
no console error, failed request or request to another host; every formula rendered as
MathML and no TeX left in the text; every image loaded, with an alt text; the first plain
Python block copies as Python that compiles; nothing wider than the phone; and a page
weight. Then, once, on a desktop: the 404 page. What Material does by itself (search, the
palette toggle, scrolling to an anchor) is not tested here; the strict build checks every
link and anchor.

The checks live in ``tests/browser.py``; the tests at the end feed them broken pages and a
missing page, to show that each check can fail.

Without Chromium (or Playwright) the whole module is skipped with one line saying how to
enable it; with ``SELFATTN_NO_SKIPS=1``, as in CI, that is a collection error instead.
"""

import os
from urllib.parse import urljoin, urlsplit

import browser
import pytest

if browser.unavailable():  # one line for the whole module, instead of one per test
    if os.environ.get("SELFATTN_NO_SKIPS") == "1":
        pytest.fail(f"{browser.unavailable()} (SELFATTN_NO_SKIPS=1: nothing optional is optional)", pytrace=False)
    pytest.skip(browser.unavailable(), allow_module_level=True)

HOME_LIMIT = 1_000_000
PAGE_LIMIT = 2_000_000
SHARDS = 2  # the pages are checked in shards, each in one pytest-xdist worker (see conftest.py)


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = browser.launch(playwright)
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def server(site):
    with browser.SiteServer(site, browser.site_prefix(site)) as running:
        yield running


@pytest.fixture(scope="session")
def pages(server, site):
    return browser.discover_pages(site, server.base_url)


@pytest.fixture(scope="session")
def inspector(chromium):
    with browser.Inspector(chromium) as running:
        yield running


@pytest.fixture(
    scope="session",
    params=[pytest.param(shard, marks=pytest.mark.xdist_group(f"browser-shard{shard}")) for shard in range(SHARDS)],
    ids=lambda shard: f"shard{shard}",
)
def reports(request, inspector, pages):
    """Every page of one shard opened once and put through every check: {page name: PageReport}."""
    return {page.name: inspector.inspect(page.url, page.status) for page in pages[request.param :: SHARDS]}


@pytest.fixture(scope="module")
def desktop(chromium, server):
    """One desktop-sized tab, for the tests that look at a page as on a laptop."""
    context = chromium.new_context(viewport=browser.DESKTOP, color_scheme="light")
    yield context.new_page()
    context.close()


def failures(reports, check):
    """The problems ``check`` found, each once, with the pages it was found on."""
    where = {}
    for name, report in reports.items():
        for problem in report.problems[check]:
            where.setdefault(problem, {})[name] = None  # each page once, in order
    every = len(reports)
    lines = [
        f"{problem}  [{'every page' if len(names) == every else ', '.join(names)}]" for problem, names in where.items()
    ]
    return f"{len(lines)} problem(s):\n  " + "\n  ".join(lines)


# -- every page ------------------------------------------------------------------------


def test_sitemap_lists_every_page(pages, server):
    names = [page.name for page in pages]
    assert "index" in names and "journey" in names and names[-1] == "404", names
    assert len(names) >= 12, f"only {len(names)} pages in the sitemap: {names}"
    assert all(page.url.startswith(server.base_url) for page in pages)


def test_no_console_error_failed_request_or_other_host(reports):
    assert not any(r.problems["network"] for r in reports.values()), failures(reports, "network")


def test_every_formula_is_rendered_mathml(reports):
    assert not any(r.problems["math"] for r in reports.values()), failures(reports, "math")
    assert sum(r.formulas for r in reports.values()) > 0, "no <math> element on any page"


def test_every_image_loads_and_has_alt_text(reports):
    assert not any(r.problems["images"] for r in reports.values()), failures(reports, "images")


def test_copied_python_compiles(reports):
    assert not any(r.problems["copied python"] for r in reports.values()), failures(reports, "copied python")
    copied = [name for name, r in reports.items() if r.copied]
    assert len(copied) >= 2, (
        f"a plain Python block was copied only on {copied}: Markdown pages need "
        "`pymdownx.highlight: {pygments_lang_class: true}` so their blocks carry `language-python`"
    )


def test_no_horizontal_scroll_on_a_phone(reports):
    assert not any(r.problems["overflow"] for r in reports.values()), failures(reports, "overflow")


def test_page_weight(reports):
    table = "\n".join(f"{r.bytes:>12,}  {name}" for name, r in reports.items())
    print(f"\nbytes transferred on a first visit (page and everything it loads):\n{table}")
    heavy = [name for name, r in reports.items() if r.bytes > PAGE_LIMIT]
    assert not heavy, f"pages above {PAGE_LIMIT:,} bytes: {heavy}\n{table}"
    if "index" in reports:
        assert reports["index"].bytes < HOME_LIMIT, f"home page above {HOME_LIMIT:,} bytes\n{table}"
    assert all(r.bytes > 0 for r in reports.values()), table


# -- once, on a desktop ----------------------------------------------------------------


def test_404_page_is_served_with_its_styles(desktop, server):
    response = desktop.goto(urljoin(server.base_url, "no/such/page/"))
    assert response.status == 404
    looks = desktop.evaluate(
        """() => ({header: getComputedStyle(document.querySelector(".md-header")).position,
                   title: document.querySelector(".md-content h1")?.textContent || ""})"""
    )
    assert looks["header"] == "sticky", "the 404 page is unstyled: its stylesheets did not load"
    assert "404" in looks["title"]


# -- the checks can fail ---------------------------------------------------------------

PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
BROKEN = rf"""<!doctype html>
<html><head><meta charset="utf-8"><title>A broken page</title><link rel="icon" href="data:,">
<script src="http://example.invalid/x.js"></script></head>
<body><div class="md-content">
<p>Left as TeX: $\frac{{a}}{{b}}$</p>
<p>A formula nobody can see: <math style="display: none"><mi>x</mi></math></p>
<img src="missing.png" alt="A picture whose file is missing">
<img src="{PIXEL}" alt="image">
<img src="{PIXEL}" alt="No description has been provided for this image">
<div class="language-python highlight"><pre><nav class="md-code__nav"><button data-md-type="copy"
  onclick="navigator.clipboard.writeText('>>> print(1 +')">copy</button></nav><code>print(1 +</code></pre></div>
<div style="width: 2000px">A block wider than any phone</div>
</div>
<script>console.error("boom")</script>
</body></html>
"""
GOOD = rf"""<!doctype html>
<html><head><meta charset="utf-8"><title>A good page</title><link rel="icon" href="data:,"></head>
<body><div class="md-content">
<p>A formula: <math><mi>x</mi><mo>=</mo><mn>1</mn></math></p>
<img src="{PIXEL}" alt="A single pixel standing in for a figure" width="20" height="20">
<div class="language-python highlight"><pre><nav class="md-code__nav"><button data-md-type="copy"
  onclick="navigator.clipboard.writeText(this.closest('pre').querySelector('code').textContent)"
  >copy</button></nav><code>x = 1
assert x == 1
</code></pre></div>
<div style="overflow-x: auto"><div style="width: 2000px">A wide block that scrolls inside its box</div></div>
</div></body></html>
"""


@pytest.fixture(scope="module")
def sample_pages(inspector, tmp_path_factory):
    """A broken page and a good one, served from a temporary folder."""
    folder = tmp_path_factory.mktemp("pages")
    (folder / "broken.html").write_text(BROKEN)
    (folder / "good.html").write_text(GOOD)
    with browser.SiteServer(folder) as running:
        yield {
            "broken": inspector.inspect(running.base_url + "broken.html"),
            "good": inspector.inspect(running.base_url + "good.html"),
        }


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
        ("copied python", "copied text holds '>>> ' prompts"),
        ("copied python", "copied text is not valid Python"),
        ("overflow", "page is 2"),
    ],
)
def test_check_reports_a_broken_page(sample_pages, check, expected):
    problems = sample_pages["broken"].problems[check]
    assert any(expected in problem for problem in problems), problems


def test_checks_pass_a_good_page(sample_pages):
    report = sample_pages["good"]
    assert report.problems == {check: [] for check in browser.CHECKS}
    assert report.copied and report.formulas == 1 and report.bytes > 0


def test_a_page_missing_from_the_site_fails(inspector, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gone")
    locs = "".join(f"<url><loc>https://example.org/docs/{p}</loc></url>" for p in ("", "gone/"))
    (folder / "sitemap.xml").write_text(f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>')
    (folder / "index.html").write_text(GOOD)
    (folder / "404.html").write_text(GOOD.replace("A good page", "404 - Not found"))
    with browser.SiteServer(folder, browser.site_prefix(folder)) as running:
        pages = browser.discover_pages(folder, running.base_url)
        assert [(p.name, urlsplit(p.url).path, p.status) for p in pages] == [
            ("index", "/docs/", 200),
            ("gone", "/docs/gone/", 200),
            ("404", "/docs/" + browser.MISSING_PAGE, 404),
        ]
        reports = {p.name: inspector.inspect(p.url, p.status) for p in pages}
    assert reports["index"].problems["network"] == []
    assert reports["404"].problems["network"] == []  # the 404 page, expected as such
    assert any("answered 404, expected 200" in p for p in reports["gone"].problems["network"])
