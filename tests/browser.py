"""Serve a built site locally and check its pages in Chromium.

Shared by ``tests/test_browser.py`` and ``tests/screenshots.py``. Each check takes an open
Playwright page and returns a list of problems (empty means the page passed), so the tests
can also feed the checks deliberately broken pages and watch them fail. The checks are of
what this project's own hands can break: requests outside the site (a theme override or
a plugin reaching for a CDN), formulas (our MathML hook), images and their alt text (our
figure hook), copied code, sideways scrolling, page weight. Material's own features
(search, the palette toggle, anchors) are Material's to test.

Playwright is imported lazily: without it (or without Chromium) this module still imports,
and ``unavailable()`` says why the browser tests cannot run.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import re
import shutil
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

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


def unavailable():
    """Why the browser tests cannot run here, or None when they can."""
    if shutil.which("chromium") is None:
        return SKIP_REASON
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed: pip install -e '.[test]' to run the browser tests"
    return None


def launch(playwright):
    """Debian's Chromium, headless, with no network beyond 127.0.0.1."""
    return playwright.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=CHROMIUM_ARGS)


# -- serving ---------------------------------------------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serve ``directory`` under ``prefix`` (the path of ``site_url``, as when deployed);
    anything else gets the site's ``404.html`` with status 404, as a static host does."""

    prefix = "/"

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
    """``with SiteServer(site_dir, prefix) as server:`` serves at ``server.base_url``."""

    def __init__(self, directory, prefix="/"):
        handler = type("Handler", (_Handler,), {"prefix": prefix})
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
        )
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
    pages = []
    for loc in locs:
        rel = urlsplit(loc).path[len(prefix) :]
        name = rel.strip("/").replace("/", "-").removesuffix(".html") or "index"
        pages.append(Page(name, urljoin(base_url, rel)))
    pages.append(Page("404", urljoin(base_url, MISSING_PAGE), status=404))
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
    stop: object = None  # stops recording
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
    """Navigate ``page`` to ``url`` and record everything that goes wrong, until
    ``visit.stop()``. A page that cannot be reached at all raises Playwright's error."""
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

    def stop():
        while handlers:
            page.remove_listener(*handlers.popitem())

    record.stop = stop
    try:
        response = page.goto(url, wait_until="load", timeout=15_000)
    except Exception:
        stop()
        raise
    record.document_status = response.status if response else None
    settle(page, record)
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


# Material's copy button: button.md-clipboard up to 9.6, nav.md-code__nav > button[data-md-type=copy] since.
COPY_BUTTON = 'button.md-clipboard, button[data-md-type="copy"]'


# The copy button of the first Python block that is not a >>> session, in a Markdown page
# (needs pymdownx.highlight's pygments_lang_class) or a notebook input cell.
_FIRST_PLAIN_PYTHON_JS = """async ([sentinel, COPY]) => {
  await navigator.clipboard.writeText(sentinel);
  const blocks = [
    ...[...document.querySelectorAll(".md-content :is(.language-python, .language-py).highlight:not(.doc-signature)")]
      .map(b => [b.querySelector("pre > code"), b.querySelector(COPY)]),
    ...[...document.querySelectorAll(".md-content .jp-CodeCell .jp-InputArea")]
      .map(c => [c.querySelector(".highlight-ipynb pre"), c.querySelector("clipboard-copy")]),
  ];
  for (const [code, button] of blocks) {
    if (!code || code.textContent.trimStart().startsWith(">>>")) continue;
    document.querySelectorAll("[data-copy-probe]").forEach(e => e.removeAttribute("data-copy-probe"));
    if (button) button.setAttribute("data-copy-probe", "");
    return {text: code.textContent.slice(0, 60), button: !!button};
  }
  return null;
}"""


_READ_CLIPBOARD_JS = """async before => {
  for (let i = 0; i < 80; i++) {
    const text = await navigator.clipboard.readText();
    if (text !== before) return text;
    await new Promise(resolve => setTimeout(resolve, 25));
  }
  return null;
}"""


def copy_first_plain_python(page):
    """Click the copy button of the page's first plain Python block and return
    ``(block_start, copied_text)``; ``None`` when the page has no such block."""
    sentinel = "# clipboard not written yet"
    block = page.evaluate(_FIRST_PLAIN_PYTHON_JS, [sentinel, COPY_BUTTON])
    if block is None:
        return None
    if not block["button"]:
        return block["text"], None
    page.locator("[data-copy-probe]").click(timeout=5_000)
    return block["text"], page.evaluate(_READ_CLIPBOARD_JS, sentinel)


def check_copied_python(page):
    """What the copy button of the first plain Python block puts on the clipboard is
    Python that compiles, with no ``>>>`` prompts. Returns ``(problems, copied)``."""
    copied = copy_first_plain_python(page)
    if copied is None:
        return [], False
    start, text = copied
    if text is None:
        return [f"copy button put nothing on the clipboard for the block {start!r}"], True
    problems = []
    if ">>> " in text:
        problems.append(f"copied text holds '>>> ' prompts: {text[:60]!r}")
    try:
        compile(text, "<copied>", "exec")
    except SyntaxError as error:
        problems.append(f"copied text is not valid Python ({error.msg}, line {error.lineno}): {text[:80]!r}")
    return problems, True


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


def check_no_overflow(page):
    """Nothing makes the page scroll sideways at the tab's width (wide blocks scroll inside)."""
    width = page.viewport_size["width"]
    result = page.evaluate(_OVERFLOW_JS, width)
    if result["scrollWidth"] <= width:
        return []
    return [
        f"page is {result['scrollWidth']} px wide at a {width}-px viewport; too wide: {', '.join(result['culprits'])}"
    ]


# -- one page, every check -------------------------------------------------------------

CHECKS = ("network", "math", "images", "copied python", "overflow")


@dataclass
class PageReport:
    url: str
    problems: dict = field(default_factory=lambda: {check: [] for check in CHECKS})
    bytes: int = 0
    formulas: int = 0
    copied: bool = False  # a plain Python block was copied and checked


class Inspector:
    """One tab at a phone's width that runs every check on page after page.

    The browser cache is off, so ``PageReport.bytes`` is what a first visit transfers;
    reusing the tab is much cheaper than a new context per page."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": PHONE_WIDTH, "height": 800})
        self.context.grant_permissions(["clipboard-read", "clipboard-write"])
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
            report.problems["copied python"], report.copied = check_copied_python(page)
            report.problems["overflow"] = check_no_overflow(page)
            report.formulas = page.locator("math").count()
        finally:
            record.stop()
            page.evaluate("() => { sessionStorage.clear(); localStorage.clear(); }")  # the next is a first visit too
        report.problems["network"] = record.problems()
        report.bytes = record.bytes
        return report
