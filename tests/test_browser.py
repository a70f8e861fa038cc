"""The built site, as a reader's browser sees it.

Every page of the sitemap (and the 404 page) is served from 127.0.0.1 under the path of
``site_url``, opened once in Chromium with a fresh cache, and checked: no console error,
failed request or request to another host; every formula rendered as MathML and no TeX
left in the text; every image loaded, with an alt text; no critical or serious
accessibility violation (axe-core's WCAG 2.1 A and AA rules) in the light scheme or the
dark one; every copy button copies code without prompts: on a Markdown page the code of
its Python blocks, the statements Sybil runs, elsewhere code that runs when pasted into Python;
code blocks that fit a desktop's width; nothing wider than a phone, and no diagram
shrunk to fit one; and a page weight.
Then, once: a walk with the Tab key through a page, and the 404 page. What Material does
by itself (search, scrolling to an anchor) is not tested here; the strict build checks
every link and anchor.

The checks live in ``tests/browser.py``; the tests at the end feed them broken pages and a
missing page, to show that each check can fail.

Without Chromium (or Playwright) the whole module is skipped with one line saying how to
enable it; with ``SELFATTN_NO_SKIPS=1``, as in CI, that is a collection error instead.
"""

import concurrent.futures
import os
import queue
import re
from urllib.parse import urljoin, urlsplit

import browser
import pytest
from session import Sessions
from sitebuild import ROOT, load_hook, page_name, page_url

if browser.unavailable():  # one line for the whole module, instead of one per test
    if os.environ.get("SELFATTN_NO_SKIPS") == "1":
        pytest.fail(f"{browser.unavailable()} (SELFATTN_NO_SKIPS=1: nothing optional is optional)", pytrace=False)
    pytest.skip(browser.unavailable(), allow_module_level=True)

DOCS = ROOT / "docs"
hook = load_hook("pages")  # which blocks are Python blocks, and what their copy buttons copy


def markdown_code():
    """{page name: its Python blocks} for each Markdown page with Python blocks."""
    code = {}
    for path in sorted(DOCS.rglob("*.md")):
        blocks = [source for _, _, source in hook.python_blocks(path.read_text())]
        if blocks:
            code[page_name(page_url(path.relative_to(DOCS)))] = blocks
    return code


MARKDOWN_CODE = markdown_code()
HOME_LIMIT = 1_000_000
PAGE_LIMIT = 2_000_000
# Tabs that check pages at once, each in a Chromium of its own, taking the next page
# when they finish one: as many as pytest-xdist has workers (one without it).
LANES = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", 1))

# axe-core's moderate and minor findings that stay, each with why. Critical and serious
# ones never do; a finding not listed here fails.
KNOWN_MINOR = {
    "landmark-unique": "Material's navigation labels a section that has an index page (API reference) by the "
    "button that folds it, which has no text; the fix is a copy of Material's 170-line nav-item.html, which "
    "would drift from Material's",
}
# Code blocks that may scroll sideways on a 1280-px desktop (at most 3), as {page: [first
# line]}, each with why; any other that scrolls fails. Lines of 88 characters or fewer fit.
MAY_SCROLL_ON_A_DESKTOP = {}


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = browser.launch(playwright)
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def server(site):
    with browser.SiteServer(site, browser.site_prefix(site), lighter_search=True) as running:
        yield running


@pytest.fixture(scope="session")
def pages(server, site):
    return browser.discover_pages(site, server.base_url)


@pytest.fixture(scope="session")
def inspector(chromium):
    with browser.Inspector(chromium) as running:
        yield running


@pytest.fixture(scope="session")
def reports(chromium, server, pages):
    """Every page opened once and put through every check: {page name: PageReport}, in the
    sitemap's order. ``LANES`` tabs take the pages from one queue, the biggest first, so
    that they end together: this one, in the session's Chromium, and each other in a
    thread with a Playwright and a Chromium of its own. What the copy buttons of a page
    without Markdown code (an API page, a notebook page) copied runs as a pasted session
    while the next pages are checked."""
    from playwright.sync_api import sync_playwright

    todo, done = queue.SimpleQueue(), {}
    for page in sorted(pages, key=lambda page: -page.size):
        todo.put(page)

    def lane(instance):
        with browser.Inspector(instance, server.search_index_bytes) as inspector:
            while True:
                try:
                    page = todo.get_nowait()
                except queue.Empty:
                    return
                report = done[page.name] = inspector.inspect(page.url, page.status)
                if report.copied and page.name not in MARKDOWN_CODE:
                    sessions.run(page.name, "\n".join(report.copied))

    def own_lane():
        with sync_playwright() as playwright:
            instance = browser.launch(playwright)
            lane(instance)
            instance.close()

    with Sessions() as sessions, concurrent.futures.ThreadPoolExecutor(max(1, LANES - 1)) as pool:
        others = [pool.submit(own_lane) for _ in range(LANES - 1)]
        lane(chromium)
        for other in others:
            other.result()  # raises what the lane raised
        for name, errors in sessions.results().items():
            done[name].pasted = errors
    return {page.name: done[page.name] for page in pages}


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


def axe_findings(reports, keep):
    """axe-core's violations that ``keep(violation)`` selects: {(rule, impact, scheme): [(page, nodes, example)]}."""
    found = {}
    for name, report in reports.items():
        for scheme, violations in report.axe.items():
            for v in violations:
                if keep(v):
                    found.setdefault((v["rule"], v["impact"], scheme), []).append((name, v["nodes"], v["example"]))
    return found


def describe(found):
    lines = []
    for (rule, impact, scheme), where in sorted(found.items()):
        nodes = sum(n for _, n, _ in where)
        lines.append(f"{rule} ({impact}, {scheme}): {nodes} element(s) on {', '.join(p for p, _, _ in where)}")
        lines.append(f"    e.g. {where[0][2]}")
    return "\n".join(lines)


def test_every_page_is_audited_in_both_schemes(reports):
    audited = {name: sorted(r.axe) for name, r in reports.items()}
    assert all(schemes == ["dark", "light"] for schemes in audited.values()), audited


def test_no_critical_or_serious_accessibility_violation(reports):
    found = axe_findings(reports, lambda v: v["impact"] in ("critical", "serious"))
    assert not found, "axe-core (WCAG 2.1 A and AA):\n" + describe(found)


def test_moderate_and_minor_accessibility_findings_are_known(reports):
    found = axe_findings(reports, lambda v: v["impact"] not in ("critical", "serious"))
    print("\naxe-core's moderate and minor findings, known:\n" + (describe(found) or "none"))
    new = {key: where for key, where in found.items() if key[0] not in KNOWN_MINOR}
    assert not new, "fix these, or list them in KNOWN_MINOR with the reason:\n" + describe(new)


def test_every_copy_button_copies_code_without_prompts(reports):
    assert not any(r.problems["copy"] for r in reports.values()), failures(reports, "copy")
    assert sum(len(r.copied) for r in reports.values()) > 10, "hardly any copy button on any page"


def test_the_copy_buttons_of_a_page_copy_the_code_of_its_python_blocks(reports):
    """On a Markdown page, button after button copies the code of each Python block: a
    doctest without its prompts and output, left to raise where the page shows an error.
    Those are the statements Sybil runs for the page, in order (and the code of its
    notebook, tests/test_notebooks.py): so what a reader pastes runs too."""
    compared = [name for name in reports if name in MARKDOWN_CODE]
    assert len(compared) > 10, f"hardly any Markdown page with code was checked: {compared}"
    for name in compared:
        expected = [hook.code_of(block, catch=False).rstrip("\n") for block in MARKDOWN_CODE[name]]
        copied = [text.rstrip("\n") for text in reports[name].copied]
        assert copied == expected, f"{name}: the copy buttons copy other code than the page's Python blocks"


def test_what_the_copy_buttons_copy_runs_when_pasted(reports):
    """On a page without Markdown code (an API page, a notebook page), a reader clicks every
    copy button in order and pastes it all into one Python session: no ``SyntaxError`` and
    no ``NameError``; another error only as often as the page shows that error itself."""
    assert sum(r.pasted is not None for r in reports.values()) > 2, "hardly any page was pasted"
    missing, wrong = set(), []
    for name, errors in ((name, r.pasted) for name, r in reports.items() if r.pasted):
        raised = {}
        for line, kind, message in errors:
            raised[kind] = raised.get(kind, 0) + 1
            shown = len(re.findall(rf"^(?:\w+\.)*{kind}:", reports[name].shown, re.MULTILINE))
            if kind == "ModuleNotFoundError" and "torch" in message:
                missing.add(name)
            elif kind in ("SyntaxError", "NameError") or raised[kind] > shown:
                wrong.append(f"{name}, line {line} of what was pasted: {kind}: {message}")
    assert not wrong, "\n".join(wrong)
    if missing:
        pytest.skip(f"PyTorch is not installed: pip install torch==2.13.0 (pasted pages stop at it: {sorted(missing)})")


def test_code_blocks_fit_a_desktop(reports):
    assert len(sum(MAY_SCROLL_ON_A_DESKTOP.values(), [])) <= 3
    scrolling = {
        f"{name}: {block}"
        for name, r in reports.items()
        for block in r.scrolling
        if not any(block.startswith(first) for first in MAY_SCROLL_ON_A_DESKTOP.get(name, []))
    }
    assert not scrolling, (
        f"{len(scrolling)} code block(s) scroll sideways at {browser.DESKTOP['width']} px; keep their lines within "
        "88 characters:\n" + "\n".join(sorted(scrolling))
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


def test_the_keyboard_reaches_every_control_and_shows_where_it_is(desktop, server, pages):
    """Tab through a page with exercises: the palette toggle, search, every link (the
    notebook download too), every copy button, every collapsed solution and every region
    that scrolls take the focus in turn, and each shows it."""
    page = next(p for p in pages if p.name == "kv-cache")
    desktop.goto(page.url)
    walk = browser.tab_walk(desktop)
    assert not walk["unreached"], f"{len(walk['unreached'])} control(s) the Tab key never reaches: {walk['unreached']}"
    assert not walk["unseen"], f"focused without a visible sign: {walk['unseen']}"
    kinds = walk["kinds"]
    for kind in ("palette", "search", "notebook", "copy", "solution"):
        assert kinds.get(kind), f"the walk met no {kind} control: {kinds}"


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
<p style="color: #999">Grey on white, too faint to read.</p>
<div role="dialog">A dialog without a name</div>
<p>Left as TeX: $\frac{{a}}{{b}}$</p>
<p>A formula nobody can see: <math style="display: none"><mi>x</mi></math></p>
<img src="missing.png" alt="A picture whose file is missing">
<img src="{PIXEL}" alt="image">
<img src="{PIXEL}" alt="No description has been provided for this image">
<div class="language-python highlight"><pre><nav class="md-code__nav"><button data-md-type="copy"
  onclick="navigator.clipboard.writeText('>>> print(1 +')">copy</button></nav><code>print(1 +</code></pre></div>
<div style="width: 2000px">A block wider than any phone</div>
<figure class="diagram"><svg viewBox="0 0 1000 100" width="1000" style="max-width: 100%">
  <title>Squeezed</title></svg></figure>
</div>
<script>console.error("boom")</script>
</body></html>
"""
GOOD = rf"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A good page</title><link rel="icon" href="data:,"></head>
<body><main class="md-content">
<h1>A good page</h1>
<p>A formula: <math><mi>x</mi><mo>=</mo><mn>1</mn></math></p>
<img src="{PIXEL}" alt="A single pixel standing in for a figure" width="20" height="20">
<div class="language-python highlight"><pre><nav class="md-code__nav"><button data-md-type="copy"
  onclick="navigator.clipboard.writeText(this.closest('pre').querySelector('code').textContent)"
  >copy</button></nav><code>x = 1
assert x == 1
</code></pre></div>
<div style="overflow-x: auto" tabindex="0"><div style="width: 2000px">A wide block that scrolls in its box</div></div>
<figure class="diagram"><svg viewBox="0 0 300 50" width="300" height="50"><title>Fits</title></svg></figure>
</main></body></html>
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
        ("copy", "copied text holds '>>>' prompts"),
        ("overflow", "page is 2"),
        ("overflow", "its text too small to read: 'Squeezed'"),
    ],
)
def test_check_reports_a_broken_page(sample_pages, check, expected):
    problems = sample_pages["broken"].problems[check]
    assert any(expected in problem for problem in problems), problems


def test_axe_reports_a_broken_page(sample_pages):
    rules = {(v["rule"], v["impact"]) for v in sample_pages["broken"].axe["light"]}
    assert {("color-contrast", "serious"), ("aria-dialog-name", "serious"), ("html-has-lang", "serious")} <= rules


def test_checks_pass_a_good_page(sample_pages):
    report = sample_pages["good"]
    assert report.problems == {check: [] for check in browser.CHECKS}
    assert report.axe == {"light": []}  # no palette, so no dark scheme
    assert report.copied == ["x = 1\nassert x == 1\n"] and report.formulas == 1 and report.bytes > 0


def test_the_tab_walk_reports_a_hidden_focus_and_a_control_out_of_reach(chromium, tmp_path_factory):
    folder = tmp_path_factory.mktemp("keyboard")
    (folder / "index.html").write_text(
        '<!doctype html><html lang="en"><title>Keys</title><body><div class="md-content">'
        '<button style="outline: none">A button that hides its focus</button><a href="#">A link</a>'
        '<div inert><a href="#">A link out of reach</a></div>'
        '<pre style="overflow-x: auto; width: 100px">A line far wider than its box</pre>'
        "</div></body></html>"
    )
    context = chromium.new_context(viewport=browser.DESKTOP)
    with browser.SiteServer(folder) as running:
        page = context.new_page()
        page.goto(running.base_url)
        walk = browser.tab_walk(page)
    context.close()
    assert walk["unreached"] == ['<a href="#" data-walk="2">A link out of reach</a>']
    assert [what[:7] for what in walk["unseen"]] == ["<button"]
    assert walk["kinds"] == {"other": 1, "link": 2, "scrolling region": 1}


def test_a_pasted_session_goes_on_after_an_error_and_names_what_went_wrong():
    with Sessions() as sessions:
        sessions.run("runs", "x = 1\nint('two')\ny = x + 1\nassert y == 2")
        sessions.run("undefined", "print(z)")
        sessions.run("broken", "print(1 +")
        results = sessions.results()
    assert results == {
        "runs": [[2, "ValueError", "invalid literal for int() with base 10: 'two'"]],
        "undefined": [[1, "NameError", "name 'z' is not defined"]],
        "broken": [[1, "SyntaxError", "'(' was never closed"]],
    }


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
