"""The site's pages as Chromium shows them, for ``tests/test_browser.py``: a server, a
recorded visit, and the checks. Each check takes an open Playwright page and returns the
problems it found, so a test can also feed it a broken page and watch it fail.
"""

import functools
import http.server
import json
import re
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from axe_playwright_python.sync_playwright import Axe

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 900}
SEARCH_INDEX = "search/search_index.json"  # Material's, loaded by every page


class SiteServer(http.server.ThreadingHTTPServer):
    """``with SiteServer(site, "/selfattn/") as server:`` serves ``site`` at ``server.base_url``
    as a static host does (``404.html`` for an unknown address), but Material's search index
    without its documents: indexing them costs 0.3 CPU-s a page."""

    daemon_threads = True

    def __init__(self, site, prefix="/"):
        self.site, self.prefix = Path(site), prefix
        index = self.site / SEARCH_INDEX
        self.search_index_bytes = index.stat().st_size if index.is_file() else 0
        self.search_index = json.dumps({**json.loads(index.read_text()), "docs": []}) if index.is_file() else None
        super().__init__(("127.0.0.1", 0), functools.partial(_Handler, directory=str(site)))
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}{prefix}"

    def __enter__(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


class _Handler(http.server.SimpleHTTPRequestHandler):
    def send_body(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if urlsplit(self.path).path.endswith(SEARCH_INDEX) and self.server.search_index:
            return self.send_body(200, self.server.search_index.encode(), "application/json")
        return super().do_GET()

    def translate_path(self, path):
        path = urlsplit(path).path
        if not path.startswith(self.server.prefix):
            return str(self.server.site / "\0outside-the-site")  # never exists
        return super().translate_path("/" + path[len(self.server.prefix) :])

    def send_error(self, code, message=None, explain=None):
        page = self.server.site / "404.html"
        if code != 404 or not page.is_file():
            return super().send_error(code, message, explain)
        self.send_body(404, page.read_bytes(), "text/html; charset=utf-8")

    def log_message(self, format, *args):
        pass  # quiet


class Visit:
    """``with Visit(page, url) as visit:`` opens ``url`` and records in ``visit.problems`` what
    goes wrong on the network and in the console until the block ends, and in ``visit.bytes``
    what the page and all it loaded weigh. At the end it forgets the scheme a check chose."""

    def __init__(self, page, url, status=200, search_index_bytes=0):
        self.page, self.url, self.status, self.search_index_bytes = page, url, status, search_index_bytes
        self.problems, self.sizes = [], {}
        self.origin = "{0.scheme}://{0.netloc}/".format(urlsplit(url))
        self.handlers = {
            "request": self.on_request,
            "requestfailed": lambda r: self.problems.append(f"request failed: {r.url} ({r.failure})"),
            "response": self.on_response,
            "console": self.on_console,
            "pageerror": lambda error: self.problems.append(f"uncaught {error}"),
        }

    def on_request(self, request):
        if not request.url.startswith((self.origin, "data:", "blob:", "about:")):
            self.problems.append(f"request to another host: {request.url}")

    def on_response(self, response):
        if response.status >= 400 and response.status != (self.status if response.url == self.url else 200):
            self.problems.append(f"HTTP {response.status}: {response.url}")
        size = int(response.headers.get("content-length", 0))
        self.sizes[response.url] = self.search_index_bytes if response.url.endswith(SEARCH_INDEX) else size

    def on_console(self, message):
        # Chromium logs the intended 404 of the 404 page itself; that one is expected.
        if message.type == "error" and not (message.location.get("url") == self.url and self.status != 200):
            self.problems.append(f"console error: {message.text}")

    def __enter__(self):
        for event, handler in self.handlers.items():
            self.page.on(event, handler)
        response = self.page.goto(self.url, wait_until="load")
        if response.status != self.status:
            self.problems.append(f"{self.url} answered {response.status}, expected {self.status}")
        return self

    def __exit__(self, *exc):
        self.page.wait_for_load_state("networkidle")  # reached already, unless a request is late
        self.page.evaluate("() => localStorage.clear()")
        for event, handler in self.handlers.items():
            self.page.remove_listener(event, handler)

    @property
    def bytes(self):
        return sum(self.sizes.values())


def go_dark(page):
    """Switch the open page to Material's dark scheme (slate) with its palette toggle."""
    page.locator("[data-md-component=palette] label:visible").click()
    page.wait_for_function("() => document.body.dataset.mdColorScheme === 'slate'")


# -- checks: each takes an open page and returns a list of problems --------------------

RAW_TEX = re.compile(
    r"\$\$|\$[^$\n]+\$|\\[()\[\]]"
    r"|\\(?:frac|sqrt|sum|prod|top|cdot|times|mathrm|mathbf|operatorname|left|right|exp|log"
    r"|infty|alpha|beta|sigma|quad|text|begin|end|in)(?![a-zA-Z])"
)
# The text of every shown block of prose (code, scripts and MathML left out), and where it is.
_PROSE_JS = """() => [...document.querySelectorAll("p, li, td, th, h1, h2, h3, h4, h5, h6, dt, dd, figcaption")]
  .filter(e => e.getClientRects().length && !e.closest("pre, code, math")).map(e => {
    const text = [...e.childNodes].filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.data).join(" ");
    return [e.closest(".md-nav, .md-sidebar") ? "navigation" : "content", text];
  })"""
_MATH_JS = """() => [...document.querySelectorAll("math")].map(m => ({
  shown: m.getBoundingClientRect().width > 0 || !!m.closest(".md-nav, .md-sidebar"),
  text: m.textContent.trim().slice(0, 60), errors: m.querySelectorAll("merror").length}))"""


def check_math(page):
    """Every formula is MathML that takes up room, and no TeX is left in the visible text.
    (A heading's formula also sits in the table of contents, hidden on phones.)"""
    problems = []
    for formula in page.evaluate(_MATH_JS):
        if not formula["shown"]:
            problems.append(f"formula not visible (0-size box): {formula['text']!r}")
        if formula["errors"] or "\\" in formula["text"]:
            problems.append(f"formula converted with errors: {formula['text']!r}")
    for where, text in page.evaluate(_PROSE_JS):
        for match in RAW_TEX.finditer(text):
            snippet = " ".join(text[max(0, match.start() - 30) : match.end() + 30].split())
            problems.append(f"raw TeX in the {where}: {snippet!r}")
    return list(dict.fromkeys(problems))


_IMAGES_JS = """() => [...document.querySelectorAll("img")].map(img => ({src: img.getAttribute("src") || "",
  alt: (img.getAttribute("alt") || "").trim(), loaded: img.complete && img.naturalWidth > 0,
  shown: img.getClientRects().length > 0}))"""
GENERIC_ALT = re.compile(
    r"^(image|img|picture|figure|plot|png|output)\b.{0,8}$|\.(png|jpe?g|gif|svg|webp)$"
    r"|^No description has been provided",  # nbconvert's stand-in for a notebook figure's missing alt
    re.I,
)


def check_images(page, scheme="light"):
    """Every image loaded and says what it shows (10 characters or more); a figure drawn for
    one colour scheme (``#only-light``, ``#only-dark``) shows in that scheme only."""
    problems = []
    for img in page.evaluate(_IMAGES_JS):
        src, alt = img["src"][:60] + ("..." if len(img["src"]) > 60 else ""), img["alt"]
        if not img["loaded"]:
            problems.append(f"image did not load: {src}")
        if len(alt) < 10 or GENERIC_ALT.search(alt):
            problems.append(f"image without a meaningful alt text ({alt!r}): {src}")
        drawn_for = re.search(r"#only-(light|dark)$", img["src"])
        if drawn_for and img["shown"] != (drawn_for[1] == scheme):
            problems.append(f"the {drawn_for[1]} figure is {'' if img['shown'] else 'not '}shown in {scheme}: {src}")
    return problems


# Click each copy button of the content (Material's, button.md-clipboard up to 9.6, and a
# notebook cell's) and catch what it copies on its way to the clipboard: Material's copies a
# selection with execCommand("copy"), which fires a copy event; a notebook cell's calls
# navigator.clipboard.writeText. Whether the block is Python (not a shell block, say).
_COPY_JS = """async () => { const copies = [], buttons = ".md-clipboard, [data-md-type=copy], clipboard-copy";
  for (const button of document.querySelectorAll(`.md-content :is(${buttons})`)) {
    let text = null;
    const caught = () => { text = document.getSelection().toString(); };
    document.addEventListener("copy", caught, {once: true});
    navigator.clipboard.writeText = async copied => { text = copied; };
    button.click();
    for (let i = 0; i < 40 && text === null; i++) await new Promise(resolve => setTimeout(resolve, 25));
    document.removeEventListener("copy", caught);
    copies.push([text, !button.closest("[class*=language-]:not(.language-python, .language-pycon)")]);
  }
  return copies; }"""


def copy_every_block(page):
    """``(problems, copied)``: a button that copied nothing or ``>>>`` prompts is a problem;
    ``copied`` is what the buttons of Python code copied, in order."""
    problems, copied = [], []
    for text, python in page.evaluate(_COPY_JS):
        if text is None:
            problems.append("a copy button put nothing on the clipboard")
        elif re.search(r"^>>>( |$)", text, re.MULTILINE):
            problems.append(f"copied text holds '>>>' prompts: {text[:60]!r}")
        elif python:
            copied.append(text)
    return problems, copied


# The first line of each code block (or notebook output) that scrolls sideways, and by how much.
_SCROLLING_CODE_JS = """() => [...document.querySelectorAll(".md-content pre")].flatMap(pre => {
  const box = [pre, pre.querySelector(":scope > code")].find(e => e && e.scrollWidth > e.clientWidth + 1);
  const first = box && box.textContent.trim().split("\\n")[0].slice(0, 50);
  return box ? [`${first} (${box.scrollWidth - box.clientWidth} px)`] : [];
})"""
# What sticks out of the page at its width with no box around it that scrolls (the innermost
# such elements); and each diagram drawn at less than 80% of its size, its text too small.
_WIDE_JS = """width => {
  const scrolls = e => ["auto", "scroll", "hidden", "clip"].includes(getComputedStyle(e).overflowX);
  const wide = [...document.body.querySelectorAll("*")].filter(e => e.getBoundingClientRect().right > width + 1);
  const loose = wide.filter(e => { for (let a = e.parentElement; a && a !== document.body; a = a.parentElement)
    if (scrolls(a)) return false; return true; });
  return loose.filter(e => !loose.some(d => d !== e && e.contains(d))).slice(0, 5)
    .map(e => `${e.tagName.toLowerCase()} ${JSON.stringify(e.textContent.trim().slice(0, 40))}`);
}"""
_SHRUNK_DIAGRAMS_JS = """() => [...document.querySelectorAll(".md-content figure.diagram svg")]
  .map(svg => [svg.getBoundingClientRect().width / svg.viewBox.baseVal.width, svg.querySelector("title")?.textContent])
  .filter(([scale]) => scale < 0.8)"""


def check_fits(page):
    """At a phone's width nothing makes the page scroll sideways (wide blocks scroll inside),
    and no diagram shrinks to less than 80% of its size to fit."""
    page.set_viewport_size(PHONE)
    problems = [
        f"diagram drawn at {scale:.0%} of its size, its text too small to read: {title!r}"
        for scale, title in page.evaluate(_SHRUNK_DIAGRAMS_JS)
    ]
    scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
    if scroll_width > PHONE["width"]:
        culprits = ", ".join(page.evaluate(_WIDE_JS, PHONE["width"]))
        problems.append(f"page is {scroll_width} px wide at a {PHONE['width']}-px viewport; too wide: {culprits}")
    return problems


# -- accessibility: axe-core ---------------------------------------------------------------

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]  # WCAG 2.1 A and AA, as axe tags them
# axe's colour rules cost time in proportion to the whole page for every element they check
# (ten seconds for a page of highlighted code). An element's contrast is a matter of how it
# looks: its text's colour, size and weight, and every background and opacity down to the
# first opaque one (and for a link, the colour of the text around it). So the colour rules
# check one element of each look, fully in view where there is one (marked ``data-look``),
# and only the looks that have not passed already on a page this process checked.
COLOUR_RULES = {"color-contrast": "[data-look]", "link-in-text-block": "a[href][data-look]"}
PASSED_LOOKS = set()
_LOOKS_JS = """passed => {
  const looks = new Map(), inView = e => e.getBoundingClientRect().right <= innerWidth;
  const look = e => { const s = getComputedStyle(e), parts = [e.tagName === "A", s.color, s.fontSize, s.fontWeight];
    for (let a = e; a; a = a.parentElement) { const t = getComputedStyle(a);
      parts.push(t.opacity, t.backgroundImage, t.backgroundColor, t.mixBlendMode, t.filter);
      if (t.backgroundImage === "none" && t.backgroundColor.startsWith("rgb(")) break; }
    return parts.join("|"); };
  const texts = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = texts.nextNode(); n; n = texts.nextNode()) {
    const e = n.parentElement, key = n.data.trim() && e.getClientRects().length && look(e);
    if (key && (!looks.has(key) || (!inView(looks.get(key)) && inView(e)))) looks.set(key, e); }
  document.querySelectorAll("a[href]").forEach(a => a.getClientRects().length
    && looks.set(`a ${look(a)} ${getComputedStyle(a.parentElement).color}`, a));
  document.querySelectorAll("[data-look]").forEach(e => e.removeAttribute("data-look"));
  const known = new Set(passed), fresh = [...looks].filter(([key]) => !known.has(key));
  fresh.forEach(([, e]) => e.setAttribute("data-look", ""));
  return fresh.map(([key]) => key);
}"""
AXE_SCRIPT = Axe().axe_script  # axe-core, as axe-playwright-python ships it
_AXE_SETUP = """rules => { document.querySelectorAll("details:not([open])").forEach(d => { d.open = true; });
  axe.configure({rules: Object.entries(rules).map(([id, selector]) => ({id, selector}))}); }"""


def audit(page, scheme="light"):
    """axe-core's WCAG 2.1 A and AA rules and best practices on the open page, its solutions
    opened: every rule in light, the colour rules only in dark. Returns the violations as
    ``{rule, impact, nodes, example}``. (``Axe().run`` would load axe-core for every run.)"""
    if not page.evaluate("() => 'axe' in window"):
        page.evaluate(AXE_SCRIPT)
        page.evaluate(_AXE_SETUP, COLOUR_RULES)
    looks = page.evaluate(_LOOKS_JS, list(PASSED_LOOKS))
    if scheme == "dark" and not looks:
        return []
    rules = {"type": "tag", "values": AXE_TAGS} if scheme == "light" else {"type": "rule", "values": list(COLOUR_RULES)}
    found = page.evaluate("options => axe.run(document, options)", {"runOnly": rules, "resultTypes": ["violations"]})
    if not any(v["id"] in COLOUR_RULES for v in found["violations"]):
        PASSED_LOOKS.update(looks)
    return [
        {"rule": v["id"], "impact": v["impact"], "nodes": len(v["nodes"]), "example": example(v["nodes"][0])}
        for v in found["violations"]
    ]


def example(node):
    why = [check["message"] for check in node["any"] + node["all"] + node["none"]][:1]
    return f"{' '.join(map(str, node['target']))}: {''.join(why)}"[:300]


def inspect_page(page, url, status=200, search_index_bytes=0, screenshots=None):
    """Open ``url`` in ``page``, run every check above in light, then in dark, and return
    ``{check: problems}``, with the copies and the page's weight. With ``screenshots`` (a
    path), ``<screenshots>-light.png`` and ``-dark.png``: full pages, solutions open."""
    page.set_viewport_size(DESKTOP)
    with Visit(page, url, status, search_index_bytes) as visit:
        found = {"math": check_math(page), "images": check_images(page), "scrolling": page.evaluate(_SCROLLING_CODE_JS)}
        found["axe"] = audit(page)  # it opens the collapsed solutions, after the code was measured closed
        if screenshots:
            page.screenshot(path=f"{screenshots}-light.png", full_page=True)
        go_dark(page)
        found["dark images"], found["dark axe"] = check_images(page, "dark"), audit(page, "dark")
        if screenshots:
            page.screenshot(path=f"{screenshots}-dark.png", full_page=True)
        found["copy"], found["copied"] = copy_every_block(page)  # after axe: the buttons show a toast
        found["fits"] = check_fits(page)
    found["network"], found["bytes"] = visit.problems, visit.bytes
    return found


# -- the keyboard ----------------------------------------------------------------------

# The controls a keyboard must reach, marked with their place (data-walk) and kind; a region
# that scrolls sideways counts as one. Material's palette toggle is a hidden radio button
# whose label (after it) shows, and shows its focus.
_CONTROLS_JS = """() => {
  const shown = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility === "visible";
  const kinds = [["[data-md-component=palette] *", "palette"], [".md-search *", "search"],
    [".notebook-download", "notebook"], ["[data-md-type=copy], clipboard-copy", "copy"], ["summary", "solution"],
    ["a", "link"], ["*", "other"]];
  const folded = e => { const d = e.closest("details:not([open])"); return d && e !== d.querySelector("summary"); };
  const controls = [...document.querySelectorAll("a[href], button, input, summary, [tabindex]")]
    .filter(e => e.tabIndex >= 0 && !e.disabled && !folded(e))
    .filter(e => shown(e.matches(".md-option") ? e.nextElementSibling : e))
    .map(e => [e, kinds.find(([selector]) => e.matches(selector))[1]]);
  for (const e of document.querySelectorAll(".md-content *")) {
    if (["auto", "scroll"].includes(getComputedStyle(e).overflowX) && e.scrollWidth > e.clientWidth + 1 && shown(e)
        && !controls.some(([c]) => c === e || e.contains(c))) controls.push([e, "scrolling region"]);
  }
  controls.forEach(([e], i) => { e.dataset.walk = i; });
  return controls.map(([e, kind]) => ({kind, what: e.outerHTML.slice(0, 80)}));
}"""
# Where the focus is, and whether it (or the label that stands for it) shows a ring.
_FOCUS_JS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const ring = s => (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none";
  const visible = [e, e.matches(".md-option") && e.nextElementSibling].some(x => x && ring(getComputedStyle(x)));
  return {walk: e.dataset.walk ?? null, visible, what: e.outerHTML.slice(0, 80)};
}"""


def tab_walk(page, most=600):
    """Press Tab until the focus comes round again. Returns the controls it never reached,
    those it reached without a visible sign of focus, and how many of each kind there are."""
    controls = page.evaluate(_CONTROLS_JS)
    page.evaluate("() => document.activeElement.blur()")
    reached, unseen = set(), set()
    for _ in range(most):
        page.keyboard.press("Tab")
        focus = page.evaluate(_FOCUS_JS)
        if focus and focus["walk"] in reached:
            break
        if focus and focus["walk"] is not None:
            reached.add(focus["walk"])
        if focus and not focus["visible"]:
            unseen.add(focus["what"])
    unreached = [c["what"] for i, c in enumerate(controls) if str(i) not in reached]
    return {"unreached": unreached, "unseen": sorted(unseen), "kinds": dict(Counter(c["kind"] for c in controls))}
