"""Serve a built site locally and check its pages in Chromium.

Shared by ``tests/test_browser.py`` and ``tests/screenshots.py``. Each check takes an open
Playwright page and returns a list of problems (empty means the page passed), so the tests
can also feed the checks deliberately broken pages and watch them fail. The checks are of
what this project's own hands can break: requests outside the site (a theme override or
a plugin reaching for a CDN), formulas (our MathML hook), images and their alt text (our
figure hook), accessibility in both colour schemes (our colours and templates, audited
with axe-core), what the copy buttons copy (our copy hook), code that scrolls sideways,
page weight. Material's own features (search, anchors) are Material's to test.

Playwright is imported lazily: without it (or without Chromium) this module still imports,
and ``unavailable()`` says why the browser tests cannot run.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from sitebuild import page_name

SKIP_REASON = "Chromium not found: apt-get install chromium to run the browser tests"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Every host name but the local server fails at once: no page can reach the network.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE_WIDTH = 375
MISSING_PAGE = "this-page-does-not-exist/"
SEARCH_INDEX = "search/search_index.json"  # Material's, loaded by every page


def unavailable():
    """Why the browser tests cannot run here, or None when they can."""
    if shutil.which("chromium") is None:
        return SKIP_REASON
    for package in ("playwright", "axe_playwright_python"):
        if importlib.util.find_spec(package) is None:
            return f"{package} is not installed: pip install -e '.[test]' to run the browser tests"
    return None


def launch(playwright):
    """Debian's Chromium, headless, with no network beyond 127.0.0.1."""
    return playwright.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=CHROMIUM_ARGS)


# -- serving ---------------------------------------------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serve ``directory`` under ``prefix`` (the path of ``site_url``, as when deployed);
    anything else gets the site's ``404.html`` with status 404, as a static host does."""

    prefix = "/"

    def do_GET(self):
        site = self.server.site
        if urlsplit(self.path).path.endswith(SEARCH_INDEX) and site.lighter_search_index is not None:
            if site.search_index_served:
                body = site.lighter_search_index
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            site.search_index_served = True
        super().do_GET()

    def translate_path(self, path):
        path = urlsplit(path).path
        if not path.startswith(self.prefix):
            return os.path.join(self.directory, "\0outside-the-site")  # never exists
        return super().translate_path("/" + path[len(self.prefix) :])

    def send_error(self, code, message=None, explain=None):
        page = Path(self.directory, "404.html")
        if code != 404 or not page.is_file():
            return super().send_error(code, message, explain)
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format, *args):
        pass  # quiet


class SiteServer:
    """``with SiteServer(site_dir, prefix) as server:`` serves at ``server.base_url``.

    Material's search builds its index anew on every page it opens, which costs more CPU
    than all the checks of a page together (0.4 s a page here). With ``lighter_search``,
    the first request for the index gets the site's real one and later ones the same index
    with no documents; ``search_index_bytes`` is the real one's size, for page weights."""

    def __init__(self, directory, prefix="/", lighter_search=False):
        handler = type("Handler", (_Handler,), {"prefix": prefix})
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
        )
        self.httpd.site = self
        self.search_index_bytes = self.lighter_search_index = None
        self.search_index_served = False
        if lighter_search:
            index = Path(directory, SEARCH_INDEX).read_bytes()
            self.search_index_bytes = len(index)
            self.lighter_search_index = json.dumps({**json.loads(index), "docs": []}).encode()
        self.httpd.daemon_threads = True
        host, port = self.httpd.server_address[:2]
        self.origin = f"http://{host}:{port}"
        self.base_url = self.origin + prefix
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


# -- which pages -----------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    name: str  # "index", "vectorise", "api-attention", "404": also the screenshot name
    url: str
    status: int = 200  # the status the document must arrive with
    size: int = 0  # of its HTML file, which its checks take time in proportion to


def sitemap_locs(site):
    root = ET.parse(Path(site, "sitemap.xml")).getroot()
    return [el.text.strip() for el in root.iter() if el.tag.endswith("}loc") or el.tag == "loc"]


def site_prefix(site):
    """The path of ``site_url`` (e.g. ``/selfattn/``): the common folder of the sitemap."""
    paths = [urlsplit(loc).path for loc in sitemap_locs(site)]
    common = os.path.commonprefix(paths) if paths else "/"
    return common[: common.rfind("/") + 1] or "/"


def discover_pages(site, base_url):
    """Every page of the sitemap, mapped onto ``base_url``, then the 404 page as served
    for an unknown address."""
    locs = sitemap_locs(site)
    prefix = site_prefix(site)

    def size(html):  # a page missing from the site has none (its visit fails)
        return html.stat().st_size if html.is_file() else 0

    pages = []
    for loc in locs:
        rel = urlsplit(loc).path[len(prefix) :]
        html = Path(site, rel, "index.html") if rel.endswith("/") or not rel else Path(site, rel)
        pages.append(Page(page_name(rel), urljoin(base_url, rel), size=size(html)))
    pages.append(Page("404", urljoin(base_url, MISSING_PAGE), status=404, size=size(Path(site, "404.html"))))
    return pages


# -- visiting --------------------------------------------------------------------------


@dataclass
class Visit:
    """What happened on the network and in the console while a page was open."""

    url: str
    status: int = 200
    document_status: int | None = None
    console_errors: list = field(default_factory=list)
    failed_requests: list = field(default_factory=list)
    bad_responses: list = field(default_factory=list)
    outside_requests: list = field(default_factory=list)
    sizes: dict = field(default_factory=dict)  # url -> bytes received
    inflight: int = 0
    stop: object = None  # stops recording, once no request is in flight
    last_activity: float = field(default_factory=time.monotonic)

    @property
    def bytes(self):
        return sum(self.sizes.values())

    def problems(self):
        """Console errors, failed or outside requests, error statuses: none is allowed."""
        out = []
        if self.document_status != self.status:
            out.append(f"{self.url} answered {self.document_status}, expected {self.status}")
        out += [f"console error: {text}" for text in self.console_errors]
        out += [f"request failed: {url} ({why})" for url, why in self.failed_requests]
        out += [f"HTTP {status}: {url}" for url, status in self.bad_responses]
        out += [f"request to another host: {url}" for url in self.outside_requests]
        return out


def _is_local(url, origin):
    scheme = urlsplit(url).scheme
    return scheme in ("data", "blob", "about") or url.startswith(origin + "/")


def visit(page, url, status=200):
    """Navigate ``page`` to ``url`` (until its load event) and record everything that goes
    wrong, until ``visit.stop()``, which first waits for the network to be quiet: the page's
    late requests (Material's search index) finish while it is being checked. A page that
    cannot be reached at all raises Playwright's error."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    record = Visit(url=url, status=status)

    def on_request(request):
        record.inflight += 1
        record.last_activity = time.monotonic()
        if not _is_local(request.url, origin):
            record.outside_requests.append(request.url)

    def on_finished(request):
        record.inflight -= 1
        record.last_activity = time.monotonic()

    def on_failed(request):
        on_finished(request)
        record.failed_requests.append((request.url, request.failure))

    def on_response(response):
        try:
            document = response.request.is_navigation_request() and response.frame == page.main_frame
        except Exception:  # requests of workers have no frame
            document = False
        expected = status if document and response.url == url else 200
        if response.status >= 400 and response.status != expected:
            record.bad_responses.append((response.url, response.status))
        if not response.url.startswith("data:"):
            record.sizes[response.url] = int(response.headers.get("content-length", 0))

    def on_console(message):
        if message.type != "error":
            return
        # Chromium logs the intended 404 of the 404 page itself; that one is expected.
        where = message.location.get("url", "")
        if status != 200 and where == url and f"status of {status}" in message.text:
            return
        record.console_errors.append(message.text)

    def on_pageerror(error):
        record.console_errors.append(f"uncaught {error}")

    handlers = {
        "request": on_request,
        "requestfinished": on_finished,
        "requestfailed": on_failed,
        "response": on_response,
        "console": on_console,
        "pageerror": on_pageerror,
    }
    for event, handler in handlers.items():
        page.on(event, handler)

    def unsubscribe():
        while handlers:
            page.remove_listener(*handlers.popitem())

    def stop():
        settle(page, record)
        unsubscribe()

    record.stop = stop
    try:
        response = page.goto(url, wait_until="load", timeout=15_000)
    except Exception:
        unsubscribe()
        raise
    record.document_status = response.status if response else None
    return record


def settle(page, visit, quiet=0.1, timeout=5.0):
    """Wait until no request has been in flight for ``quiet`` seconds (cheaper than
    Playwright's "networkidle", which always waits half a second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if visit.inflight <= 0 and time.monotonic() - visit.last_activity >= quiet:
            return
        page.wait_for_timeout(30)


# -- checks: each takes an open page and returns a list of problems --------------------

RAW_TEX = re.compile(
    r"\$\$|\$[^$\n]+\$|\\[()\[\]]"
    r"|\\(?:frac|sqrt|sum|prod|top|cdot|times|mathrm|mathbf|operatorname|left|right|exp|log"
    r"|infty|alpha|beta|sigma|quad|text|begin|end|in)(?![a-zA-Z])"
)

_TEXT_BLOCKS_JS = """() => {
  const skip = new Set(["PRE", "CODE", "SCRIPT", "STYLE", "NOSCRIPT", "TEXTAREA", "TEMPLATE", "math"]);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT, {
    acceptNode: n => n.nodeType === Node.TEXT_NODE ? NodeFilter.FILTER_ACCEPT
      : skip.has(n.tagName) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_SKIP,
  });
  const shown = new Map();  // element -> is it rendered?
  const blocks = new Map();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!node.data.trim()) continue;
    if (!shown.has(parent)) shown.set(parent, parent.getClientRects().length > 0);
    if (!shown.get(parent)) continue;
    const block = parent.closest("p, li, td, th, h1, h2, h3, h4, h5, h6, dt, dd, figcaption, blockquote, div")
      || document.body;
    blocks.set(block, (blocks.get(block) || "") + node.data);
  }
  return [...blocks].map(([block, text]) => [
    block.closest(".md-nav, .md-sidebar") ? "navigation" : block.closest(".md-content") ? "content" : "page", text]);
}"""

_MATH_JS = """() => [...document.querySelectorAll("math")].map(m => {
  const r = m.getBoundingClientRect();
  return {width: r.width, height: r.height, text: m.textContent.trim().slice(0, 60),
          navigation: !!m.closest(".md-nav, .md-sidebar"),
          errors: m.querySelectorAll("merror").length};
})"""


def check_math(page):
    """Every formula is MathML that takes up room, and no TeX is left in the visible text."""
    problems = []
    for formula in page.evaluate(_MATH_JS):
        # (a heading's formula also sits in the table of contents, hidden on phones)
        if (formula["width"] <= 0 or formula["height"] <= 0) and not formula["navigation"]:
            problems.append(f"formula not visible (0-size box): {formula['text']!r}")
        if formula["errors"] or "\\" in formula["text"]:
            problems.append(f"formula converted with errors: {formula['text']!r}")
    for where, text in page.evaluate(_TEXT_BLOCKS_JS):
        for match in RAW_TEX.finditer(text):
            snippet = " ".join(text[max(0, match.start() - 30) : match.end() + 30].split())
            problems.append(f"raw TeX in the {where}: {snippet!r}")
    return list(dict.fromkeys(problems))


_IMAGES_JS = """() => [...document.querySelectorAll("img")].map(img => ({
  src: img.getAttribute("src") || "", alt: img.getAttribute("alt"),
  loaded: img.complete && img.naturalWidth > 0,
}))"""

GENERIC_ALT = re.compile(
    r"^(image|img|picture|figure|plot|png|output)\b.{0,8}$|\.(png|jpe?g|gif|svg|webp)$"
    r"|^No description has been provided",  # nbconvert's stand-in for a notebook figure's missing alt
    re.I,
)


def check_images(page):
    """Every image loaded and says what it shows in its alt text (10 characters or more)."""
    problems = []
    for img in page.evaluate(_IMAGES_JS):
        src = img["src"][:60] + ("..." if len(img["src"]) > 60 else "")
        alt = (img["alt"] or "").strip()
        if not img["loaded"]:
            problems.append(f"image did not load: {src}")
        if len(alt) < 10 or GENERIC_ALT.search(alt):
            problems.append(f"image without a meaningful alt text ({alt!r}): {src}")
    return problems


# -- copy buttons ----------------------------------------------------------------------

# Material's copy button (button.md-clipboard up to 9.6), and a notebook cell's.
COPY_BUTTON = 'button.md-clipboard, button[data-md-type="copy"], clipboard-copy'

# Click every copy button of the content, in order, and record what each asks the clipboard
# to hold: Material's buttons copy a selection with execCommand("copy"), which fires a copy
# event; a notebook cell's button calls navigator.clipboard.writeText. Reading the clipboard
# back after each click cost three times as much CPU and checks only the browser's part.
_COPY_EVERY_BLOCK_JS = """async COPY => {
  let text = null;
  const onCopy = () => { text = document.getSelection().toString(); };
  const writeText = navigator.clipboard.writeText;
  navigator.clipboard.writeText = function (copied) { text = copied; return writeText.call(this, copied); };
  document.addEventListener("copy", onCopy);
  const copies = [];
  for (const button of document.querySelectorAll(`.md-content :is(${COPY})`)) {
    text = null;
    button.click();
    for (let i = 0; i < 40 && text === null; i++) await new Promise(resolve => setTimeout(resolve, 25));
    const block = button.closest("pre, .highlight, .jp-InputArea");
    copies.push({text, shown: (block?.querySelector("code, pre") || block)?.textContent.slice(0, 60) || ""});
  }
  document.removeEventListener("copy", onCopy);
  navigator.clipboard.writeText = writeText;
  const shown = [...document.querySelectorAll(".md-content pre")].map(e => e.textContent).join("\\n");
  return {copies, shown};
}"""


def copy_every_block(page):
    """Click every copy button of the page, in order. Returns ``(problems, copied, shown)``:
    a button that copied nothing or copied ``>>>`` prompts is a problem; ``copied`` is what
    the buttons copied, one text per button; ``shown`` is every code block's text as shown,
    errors and all."""
    result = page.evaluate(_COPY_EVERY_BLOCK_JS, COPY_BUTTON)
    problems, copied = [], []
    for copy in result["copies"]:
        if copy["text"] is None:
            problems.append(f"copy button put nothing on the clipboard for the block {copy['shown']!r}")
            continue
        if re.search(r"^>>>( |$)", copy["text"], re.MULTILINE):
            problems.append(f"copied text holds '>>>' prompts: {copy['text'][:60]!r}")
        copied.append(copy["text"])
    return problems, copied, result["shown"]


_SCROLLING_CODE_JS = """() => [...document.querySelectorAll(".md-content pre")].flatMap(pre => {
  const box = [pre, pre.querySelector(":scope > code")].find(e => e && e.scrollWidth > e.clientWidth + 1);
  const first = box && box.textContent.trim().split("\\n")[0].slice(0, 50);
  return box ? [`${first} (${box.scrollWidth - box.clientWidth} px too wide)`] : [];
})"""


def scrolling_code(page):
    """The code blocks (and notebook outputs) that scroll sideways at the tab's width: the
    first line of each and by how much it is too wide."""
    return page.evaluate(_SCROLLING_CODE_JS)


_OVERFLOW_JS = """width => {
  if (document.documentElement.scrollWidth <= width) return {scrollWidth: document.documentElement.scrollWidth};
  const scrolls = e => ["auto", "scroll", "hidden", "clip"].includes(getComputedStyle(e).overflowX);
  const wide = [];
  for (const e of document.body.querySelectorAll("*")) {
    if (e.getBoundingClientRect().right <= width + 1) continue;
    let clipped = false;
    for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
      if (scrolls(a)) { clipped = true; break; }
    }
    if (!clipped) wide.push(e);
  }
  const innermost = wide.filter(e => !wide.some(d => d !== e && e.contains(d)));
  return {
    scrollWidth: document.documentElement.scrollWidth,
    culprits: innermost.slice(0, 5).map(e => {
      const classes = typeof e.className === "string" ? e.className.trim().split(/\\s+/).filter(Boolean) : [];
      const text = JSON.stringify((e.textContent || "").trim().slice(0, 40));
      return [e.tagName.toLowerCase(), ...classes].join(".") + " " + text;
    }),
  };
}"""


# A diagram drawn at less than this share of its own size has text too small to read.
_SHRUNK_DIAGRAMS_JS = """() => [...document.querySelectorAll(".md-content figure.diagram svg")]
  .map(svg => [svg.getBoundingClientRect().width / svg.viewBox.baseVal.width, svg.querySelector("title")?.textContent])
  .filter(([scale]) => scale < 0.8)"""


def check_no_overflow(page):
    """Nothing makes the page scroll sideways at the tab's width (wide blocks scroll
    inside), and no diagram shrinks to less than 80% of its size to fit."""
    width = page.viewport_size["width"]
    result = page.evaluate(_OVERFLOW_JS, width)
    problems = [
        f"diagram drawn at {scale:.0%} of its size, its text too small to read: {title!r}"
        for scale, title in page.evaluate(_SHRUNK_DIAGRAMS_JS)
    ]
    if result["scrollWidth"] > width:
        culprits = ", ".join(result["culprits"])
        problems.append(f"page is {result['scrollWidth']} px wide at a {width}-px viewport; too wide: {culprits}")
    return problems


# -- accessibility: axe-core, in both colour schemes -----------------------------------

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]  # WCAG 2.1 A and AA as axe-core tags them
COLOUR_RULES = ["color-contrast", "link-in-text-block"]  # the rules whose verdict a colour scheme can change
SCHEMES = {"light": "default", "dark": "slate"}  # Material's name for each


@functools.cache
def axe_script():
    """axe-core, as the axe-playwright-python package ships it: nothing is fetched at run time."""
    from importlib.resources import files

    return (files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")


# axe's colour rules cost time in proportion to the whole page (thousands of highlighted
# tokens), on every run and for every element they check. An element's contrast is a
# matter of how it looks: the text's colour, size, weight, decoration and shadow, the
# colour of the text around it, and every background, opacity, blend and filter down to
# the first opaque background; elements that look alike get the same verdict. So the
# colour rules check one element of each look (and one link of each), fully in view where
# there is one, and skip the looks already checked on earlier pages (``seen``); the dark
# scheme, where only they run, is not audited again on a page with no new look. Every
# other rule checks every element of every page.
_AXE_JS = """async ([tags, colourRules, scheme, seen]) => {
  document.querySelectorAll(".md-content details:not([open])").forEach(d => { d.open = true; });
  const look = element => {
    const style = getComputedStyle(element);
    const parts = [style.color, style.fontSize, style.fontWeight, style.textDecorationLine, style.textShadow,
                   element.parentElement && getComputedStyle(element.parentElement).color];
    for (let e = element; e; e = e.parentElement) {
      const s = e === element ? style : getComputedStyle(e);
      parts.push(s.opacity, s.mixBlendMode, s.filter, s.backgroundImage, s.backgroundColor);
      if (s.backgroundImage === "none" && s.backgroundColor.startsWith("rgb(")) break;  // opaque
    }
    return parts.join("|");
  };
  const inView = element => {
    const box = element.getBoundingClientRect(), code = element.closest("pre");
    return box.left >= 0 && box.right <= innerWidth && (!code || box.right <= code.getBoundingClientRect().right);
  };
  const known = new Set(seen), samples = new Map();
  const sample = (element, key) => {
    const now = samples.get(key);
    if (!known.has(key) && (!now || (!inView(now) && inView(element)))) samples.set(key, element);
  };
  const texts = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let text = texts.nextNode(); text; text = texts.nextNode()) {
    const element = text.parentElement;
    if (text.data.trim() && element && element.getClientRects().length) sample(element, look(element));
  }
  for (const link of document.querySelectorAll("a[href]")) {  // a link's text may sit in a <code> inside it
    if (link.getClientRects().length) sample(link, `link ${look(link)}`);
  }
  if (scheme !== "light" && !samples.size) return {violations: [], looks: []};
  document.querySelectorAll("[data-axe-sample]").forEach(e => e.removeAttribute("data-axe-sample"));
  samples.forEach(e => e.setAttribute("data-axe-sample", ""));
  axe.configure({rules: [{id: "color-contrast", selector: "[data-axe-sample]"},
                         {id: "link-in-text-block", selector: ":is(a[href], [role=link])[data-axe-sample]"}]});
  const runOnly = scheme === "light" ? {type: "tag", values: tags} : {type: "rule", values: colourRules};
  const result = await axe.run(document, {runOnly, resultTypes: ["violations"]});
  const violations = result.violations.map(v => {
    const node = v.nodes[0];
    const why = [...node.any, ...node.all, ...node.none].map(check => check.message)[0] || "";
    const example = `${node.target.join(" ")}: ${why}`.slice(0, 300);
    return {rule: v.id, impact: v.impact, nodes: v.nodes.length, example};
  });
  return {violations, looks: [...samples.keys()]};
}"""


def audit(page, scheme, seen=()):
    """axe-core's WCAG 2.1 A and AA rules and its best practices on the open page, in
    ``scheme`` (which the page must show): every rule in light, the colour rules in dark,
    these on the looks not in ``seen``. Returns the violations, as ``{rule, impact,
    nodes, example}``, and the looks checked."""
    if not page.evaluate("() => typeof axe === 'object'"):  # the Inspector's pages have it already
        page.evaluate(axe_script())
    result = page.evaluate(_AXE_JS, [AXE_TAGS, COLOUR_RULES, scheme, list(seen)])
    return result["violations"], result["looks"]


_SWITCH_SCHEME_JS = """async scheme => {
  const shown = () => document.body.getAttribute("data-md-color-scheme");
  if (shown() === null) return scheme === "default";
  for (let i = 0; i < 4 && shown() !== scheme; i++) {
    const before = shown();
    const toggles = document.querySelectorAll("form[data-md-component=palette] label");
    [...toggles].find(label => label.getClientRects().length)?.click();
    for (let wait = 0; wait < 100 && shown() === before; wait++) await new Promise(requestAnimationFrame);
  }
  document.getAnimations().forEach(animation => animation.finish());
  return shown() === scheme;
}"""


def switch_scheme(page, scheme):
    """Switch the page to ``scheme`` ("light" or "dark") with Material's palette toggle, as a
    reader would, and finish the colour transitions at once. False for a page without
    Material's palette, which has its one scheme only (counted as light)."""
    switched = page.evaluate(_SWITCH_SCHEME_JS, SCHEMES[scheme])
    if not switched and page.evaluate("() => document.body.hasAttribute('data-md-color-scheme')"):
        raise AssertionError(f"the palette toggle never switched {page.url} to {scheme}")
    return switched


# -- the keyboard ----------------------------------------------------------------------

# The controls a keyboard must reach on the open page, each marked with its place in the
# list and what it is; then, on every focus, whether the focused element (or the label that
# stands for it) shows it: an outline or a shadow.
_CONTROLS_JS = """() => {
  const shown = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility === "visible";
  const kind = e =>
    e.closest("[data-md-component=palette]") ? "palette"
    : e.closest(".md-search") ? "search"
    : e.matches(".notebook-download") ? "notebook"
    : e.matches("[data-md-type=copy], clipboard-copy") ? "copy"
    : e.matches("summary") ? "solution"
    : e.matches("a") ? "link" : e.dataset.walkKind || "other";
  const folded = e => { const d = e.closest("details:not([open])"); return d && e !== d.querySelector("summary"); };
  const controls = [...document.querySelectorAll("a[href], button, input, summary, [tabindex]")]
    .filter(e => e.tabIndex >= 0 && !e.disabled && !folded(e))
    // Material's palette toggle: a radio button, invisible, with the label after it showing
    // the scheme it switches to; Tab reaches the one whose label is shown.
    .filter(e => e.matches("input.md-option") ? shown(e.nextElementSibling) : shown(e));
  for (const e of document.querySelectorAll(".md-content *")) {
    const style = getComputedStyle(e);
    if (["auto", "scroll"].includes(style.overflowX) && e.scrollWidth > e.clientWidth + 1 && shown(e)) {
      e.dataset.walkKind = "scrolling region";
      if (!controls.includes(e) && !e.querySelector("a[href], button, [tabindex]")) controls.push(e);
    }
  }
  controls.forEach((e, i) => { e.dataset.walk = i; });
  window.walked = [];
  document.addEventListener("focusin", event => {
    const e = event.target;
    const toggle = e.matches("input.md-option") && e.nextElementSibling;
    const ring = s => (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none";
    const visible = [e, toggle].filter(Boolean).some(x => ring(getComputedStyle(x)));
    window.walked.push({walk: e.dataset.walk ?? null, visible, what: e.outerHTML.slice(0, 80)});
  });
  return controls.map(e => ({kind: kind(e), what: e.outerHTML.slice(0, 80)}));
}"""


def tab_walk(page, batch=20, most=600):
    """Press Tab through the open page until the focus comes round again. Returns the
    controls the Tab key never reached, those it reached without a visible sign of focus,
    and how many of each kind of control (palette, search, notebook, copy, solution,
    link, scrolling region) there are."""
    controls = page.evaluate(_CONTROLS_JS)
    page.evaluate("() => document.activeElement.blur()")
    walked = []
    while len(walked) < most:
        for _ in range(batch):
            page.keyboard.press("Tab")
        walked = page.evaluate("() => window.walked")
        reached = [step["walk"] for step in walked if step["walk"] is not None]
        if len(reached) > len(set(reached)):  # round again
            break
    reached = {int(step["walk"]) for step in walked if step["walk"] is not None}
    kinds = {}
    for control in controls:
        kinds[control["kind"]] = kinds.get(control["kind"], 0) + 1
    return {
        "unreached": [c["what"] for i, c in enumerate(controls) if i not in reached],
        "unseen": sorted({step["what"] for step in walked if not step["visible"]}),
        "kinds": kinds,
    }


# -- one page, every check -------------------------------------------------------------

CHECKS = ("network", "math", "images", "copy", "overflow")


@dataclass
class PageReport:
    url: str
    problems: dict = field(default_factory=lambda: {check: [] for check in CHECKS})
    bytes: int = 0
    formulas: int = 0
    axe: dict = field(default_factory=dict)  # scheme -> axe-core's violations
    copied: list = field(default_factory=list)  # what each copy button copied, in order
    shown: str = ""  # the text of the page's code blocks as shown
    pasted: list | None = None  # the errors of what was copied, run as one pasted session (tests/session.py)
    scrolling: list = field(default_factory=list)  # code blocks that scroll sideways on a desktop


class Inspector:
    """One tab that runs every check on page after page: on a desktop (1280 px), in the
    light scheme and then in the dark one, then at a phone's width.

    The browser cache is off, so ``PageReport.bytes`` is what a first visit transfers;
    reusing the tab is much cheaper than a new context per page. Where the server gives a
    page a lighter search index (``SiteServer``'s ``lighter_search``), pass the real one's
    size as ``search_index_bytes``: the page weight counts that."""

    def __init__(self, browser, search_index_bytes=None):
        self.seen = {scheme: set() for scheme in SCHEMES}  # the looks whose colours axe has checked
        self.search_index_bytes = search_index_bytes
        self.context = browser.new_context(viewport=DESKTOP, color_scheme="light")
        self.context.add_init_script(script=axe_script())  # axe-core in every page, for audit()
        self.context.grant_permissions(["clipboard-write"])
        self.page = self.context.new_page()
        cdp = self.context.new_cdp_session(self.page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.context.close()

    def inspect(self, url, status=200):
        page = self.page
        record = visit(page, url, status)
        report = PageReport(url)
        try:
            report.problems["math"] = check_math(page)
            report.problems["images"] = check_images(page)
            report.formulas = page.locator("math").count()
            report.scrolling = scrolling_code(page)
            for scheme in SCHEMES:
                if switch_scheme(page, scheme):
                    report.axe[scheme], looks = audit(page, scheme, self.seen[scheme])
                    self.seen[scheme].update(looks)
            report.problems["copy"], report.copied, report.shown = copy_every_block(page)
            page.set_viewport_size({"width": PHONE_WIDTH, "height": DESKTOP["height"]})
            report.problems["overflow"] = check_no_overflow(page)
        finally:
            record.stop()
            page.evaluate("() => { sessionStorage.clear(); localStorage.clear(); }")  # the next is a first visit too
            page.goto("about:blank")  # then back to a desktop's width, with no page to lay out again
            page.set_viewport_size(DESKTOP)
        report.problems["network"] = record.problems()
        for url in record.sizes:
            if url.endswith(SEARCH_INDEX) and self.search_index_bytes is not None:
                record.sizes[url] = self.search_index_bytes
        report.bytes = record.bytes
        return report
