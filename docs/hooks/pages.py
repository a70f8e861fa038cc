"""Build-time extras for every Markdown page that has ```python blocks.

1. A notebook of the page, ``notebooks/<page>.ipynb``, linked at the top of the page:
   prose becomes Markdown cells, each block a code cell (doctest prompts and expected
   output removed), so a reader can run the whole page at once.
2. The page's figures: a page that uses matplotlib is run at build time, block by block
   in a fresh namespace (as Sybil runs it under pytest), and every figure a block leaves
   open is saved as ``figures/<page>-<block>-<n>-light.png`` and ``...-dark.png`` and shown
   right below that block, each in its colour scheme (Material's ``#only-light`` and
   ``#only-dark``). The figure's label (``plt.subplots(num="...")``) is the image's alt
   text. The drawing happens in a second Python process (``draw_figures.py``), in parallel
   with the rest of the build, and only for the pages whose figures are not in the build
   cache (``build_cache.py``: a page is drawn again when its code, the drawing script or
   ``selfattn`` changes). A notebook page's figures are drawn the same way from its code
   cells and take the place of the ones its kernel made, which know one scheme only.

The pictures on the site are therefore drawn by the code printed above them.

Which blocks count is Sybil's to say: ``python_blocks`` asks Sybil's own parser for
Markdown Python blocks (the one ``conftest.py`` runs them with), so a block in an
admonition, such as an exercise's collapsed solution, is a cell and is drawn as surely
as it is tested. ``code_of`` is the one place a doctest becomes plain code.
"""

import base64
import doctest
import json
import logging
import os
import posixpath
import re
import subprocess
import sys
from dataclasses import dataclass
from html import escape as html_escape
from pathlib import Path
from urllib.parse import urljoin

import nbformat
from build_cache import Results
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.utils import get_relative_url
from sybil import Document
from sybil.parsers.markdown import PythonCodeBlockParser

# An admonition's first line, ``!!! note "Title"`` or ``??? success "Solution"``.
ADMONITION = re.compile(
    r'^(?P<indent>[ \t]*)(?:!!!|\?\?\?\+?)[ \t]+(?P<kind>[\w-]+)(?:[ \t]+"(?P<title>[^"]*)")?[ \t]*$'
)
# A diagram included with pymdownx.snippets: ``--8<-- "assets/name.svg"``.
SNIPPET = re.compile(r'^(?P<indent>[ \t]*)--8<-- "(?P<path>[^"]+)"[ \t]*$', re.MULTILINE)
LINK_TARGET = re.compile(r"(?<=\]\()(?P<target>[^)\s]+)(?=\))")
HEADING = re.compile(r"^# .*$", re.MULTILINE)
KERNEL_FIGURE = re.compile(r'<img alt="(?P<alt>[^"]*)" class="[^"]*" src="data:image/png;base64,[^"]*"[^>]*>')
log = logging.getLogger("mkdocs.hooks.pages")
DRAW_FIGURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "draw_figures.py")


@dataclass
class Extras:
    """What the build adds to one page."""

    notebook_uri: str
    pieces: list
    draws: bool = False  # whether the page uses matplotlib
    key: str = ""  # of its figures in the cache
    figures: list | None = None  # for each block, [label, base64 PNG] of its figures

    @property
    def code(self):
        return [text for kind, text in self.pieces if kind == "code"]


pages = {}  # src_uri -> Extras, for every Markdown page with code
notebook_figures = {}  # src_uri -> Extras of a notebook page with figures (its code cells)
drawer = None  # the process drawing this build's figures, when the cache lacks some
cache = None  # Results: the figures of earlier builds


def python_blocks(markdown):
    """The Python blocks Sybil runs on a page, in order, as ``(start, end, source)``: where
    the block sits in ``markdown`` and its source, moved back to the margin."""
    regions = PythonCodeBlockParser().codeblock_parser(Document(markdown, "page.md"))
    return [(region.start, region.end, str(region.parsed)) for region in regions]


def code_of(block, catch=True):
    """The Python a block runs: a doctest's sources without prompts, or the block itself.
    (A block is a doctest when it starts with ``>>>``, as Sybil decides.)

    With ``catch``, a doctest example that shows a traceback becomes a ``try``/``except``
    that prints the error, so the notebook still runs from top to bottom; without it (what
    a copy button copies) the example is left to raise.
    """
    if not block.startswith(">>>"):
        return block
    sources = []
    for example in doctest.DocTestParser().get_examples(block):
        if example.exc_msg is None or not catch:
            sources.append(example.source)
        else:
            body = "".join("    " + line for line in example.source.splitlines(keepends=True))
            show = '    print(f"{type(error).__name__}: {error}")\n'
            sources.append(f"try:\n{body}except Exception as error:\n{show}")
    return "".join(sources)


def unwrap_admonitions(markdown):
    """Admonitions as plain Markdown, for notebooks (Jupyter has no ``!!!``/``???``): the
    title in bold, the body moved back to the margin, so that a solution's code is a cell
    and its prose is not shown as code."""
    lines, body = [], None  # body: the indentation of the admonition being unwrapped
    for line in markdown.split("\n"):
        if body is not None and line.strip() and not line.startswith(body):
            body = None
        if body is not None:
            lines.append(line[4:] if line.strip() else "")
            continue
        match = ADMONITION.match(line)
        if match:
            title = match["title"] if match["title"] is not None else match["kind"].capitalize()
            lines.append(f"{match['indent']}**{title}**" if title else "")
            body = match["indent"] + "    "
        else:
            lines.append(line)
    return "\n".join(lines)


def split_page(markdown):
    """The page as a list of ("markdown" | "code", text) pieces, in order, admonitions
    unwrapped and doctests made plain code."""
    pieces, at = [], 0
    markdown = unwrap_admonitions(markdown)
    for start, end, source in python_blocks(markdown):
        pieces.append(("markdown", markdown[at:start]))
        pieces.append(("code", code_of(source)))
        at = end
    pieces.append(("markdown", markdown[at:]))
    return [(kind, text.strip()) for kind, text in pieces if text.strip()]


def published(target, page_uri, site_url):
    """A link of the page ``page_uri`` as an address on the published site: ``masks.md#x``
    becomes ``<site_url>masks/#x``, where MkDocs publishes it (``File.url``; a notebook page
    where a Markdown page of its name would be). Addresses, anchors and paths from the root stay."""
    if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:|[#/]", target):
        return target
    path, hash_, fragment = target.partition("#")
    path = posixpath.normpath(posixpath.join(posixpath.dirname(page_uri), path))
    if path.endswith((".md", ".ipynb")):
        path = File(posixpath.splitext(path)[0] + ".md", "", "", True).url
    return urljoin(site_url, path) + hash_ + fragment


def for_notebook(markdown, page_uri, site_url, docs_dir):
    """A Markdown cell as a downloaded notebook needs it: links and pictures point at the
    published site (relative ones break once the file is saved elsewhere), and a diagram
    included from ``docs/`` becomes an image of it, with its ``<title>`` as alt text."""

    def image(match):
        with open(os.path.join(docs_dir, match["path"]), encoding="utf-8") as file:
            title = re.search(r"<title[^>]*>(.*?)</title>", file.read(), re.DOTALL)
        alt = html_escape(title[1].strip() if title else "", quote=True)
        return f'{match["indent"]}<img src="{published(match["path"], "", site_url)}" alt="{alt}">'

    markdown = SNIPPET.sub(image, markdown)
    return LINK_TARGET.sub(lambda match: published(match["target"], page_uri, site_url), markdown)


def install_cell(version):
    """A notebook's first code cell: where selfattn is missing (Colab, a bare Jupyter), it
    installs ``version``, the one the pages document, and where pip cannot, it stops the
    notebook there, under pip's message. Plain Python rather than ``%pip``, which does not
    raise when pip fails, and which plain Python cannot run."""
    return f"""\
# selfattn {version}, the version these pages document, installed if it is missing
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("selfattn") is None:
    command = [sys.executable, "-m", "pip", "install", "selfattn=={version}"]
    pip = subprocess.run(command, capture_output=True, text=True)
    print(pip.stdout + pip.stderr)
    pip.check_returncode()  # pip failed: the notebook stops here, its message above
    importlib.invalidate_caches()"""


def notebook_of(pieces, page_uri, site_url=None, docs_dir=None, version=None):
    """The page as a notebook (nbformat 4.5, as JSON): an intro, with ``version`` a cell that
    installs selfattn, then a cell per piece; with ``site_url``, its links point at the
    published site."""
    intro = f"*This notebook is generated from the page `{page_uri}` of the selfattn docs.*"
    install = [("markdown", intro), ("code", install_cell(version))] if version else [("markdown", intro)]
    cells = []
    for number, (kind, text) in enumerate([*install, *pieces]):
        if kind == "markdown" and site_url and number > 0:
            text = for_notebook(text, page_uri, site_url, docs_dir)
        cell = {"cell_type": kind, "id": f"cell-{number}", "metadata": {}, "source": text}  # stable ids
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    notebook = nbformat.from_dict({"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": cells})
    invalid = {}  # validated once, here (nbformat.v4.new_*_cell validate every cell: slow)
    text = nbformat.writes(notebook, capture_validation_error=invalid)
    if invalid:
        raise PluginError(f"the notebook of {page_uri} is not valid: {invalid['ValidationError']}")
    return text


class Drawer:
    """Starts the drawing process and hands out each page's figures as they come."""

    def __init__(self, jobs):
        self.process = subprocess.Popen(
            [sys.executable, "-P", DRAW_FIGURES], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.process.stdin.write(json.dumps(jobs))
        self.process.stdin.close()
        self.done = {}

    def figures(self, page_uri):
        while page_uri not in self.done:
            line = self.process.stdout.readline()
            if not line:
                raise PluginError(f"the process drawing the figures stopped before {page_uri} (its error is above)")
            result = json.loads(line)
            self.done[result["page"]] = result
        result = self.done.pop(page_uri)
        if "error" in result:
            raise PluginError(result["error"])
        return result["figures"]

    def stop(self):
        self.process.kill()
        self.process.wait()


def escape(alt):
    """Alt text that cannot end the Markdown image early."""
    return alt.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def on_files(files, config):
    """Add each page's notebook to the site; take each page's figures from the cache or
    start drawing them; and put the pages with figures last: MkDocs reads the pages in this
    order, so it reads the others while the figures are drawn."""
    global drawer, cache
    pages.clear()
    cache = Results(config, "figures")
    drawing_script = Path(DRAW_FIGURES).read_text()
    for page_file in [f for f in files.documentation_pages() if f.src_uri.endswith(".md")]:
        pieces = split_page(page_file.content_string)
        if any(kind == "code" for kind, _ in pieces):
            notebook_uri = f"notebooks/{page_file.src_uri.removesuffix('.md')}.ipynb"
            notebook = notebook_of(
                pieces, page_file.src_uri, config["site_url"], config["docs_dir"], config.extra.get("version")
            )
            files.append(File.generated(config, notebook_uri, content=notebook))
            extra = pages[page_file.src_uri] = Extras(notebook_uri, pieces)
            extra.draws = any("matplotlib" in block for block in extra.code)
    notebook_figures.clear()
    for page_file in [f for f in files.documentation_pages() if f.src_uri.endswith(".ipynb")]:
        cells = nbformat.reads(page_file.content_string, as_version=4).cells
        extra = Extras("", [("code", cell.source) for cell in cells if cell.cell_type == "code"])
        extra.draws = any("matplotlib" in block for block in extra.code)
        if extra.draws:
            notebook_figures[page_file.src_uri] = extra
    drawn = {**pages, **notebook_figures}
    for extra in drawn.values():
        if extra.draws:
            extra.key = cache.key(extra.code, drawing_script)
            extra.figures = cache.get(extra.key)
    drawing = [uri for uri, extra in drawn.items() if extra.draws and extra.figures is None]
    drawer = None
    if drawing:
        log.info(f"Drawing the figures of {', '.join(drawing)} (not in the build cache)")
        drawer = Drawer([(uri, drawn[uri].code) for uri in drawing])
    return Files(sorted(files, key=lambda file: file.src_uri in pages and pages[file.src_uri].draws))


def figures_of(page_uri, extra):
    """The page's figures, from the cache or, once drawn, into it."""
    if extra.draws and extra.figures is None:
        extra.figures = drawer.figures(page_uri)
        cache.put(extra.key, extra.figures)
    return extra.figures


def figure_images(light, dark, uri, config, files):
    """The light and the dark rendering of a figure, added to the site as ``uri`` with
    ``-light.png`` and ``-dark.png``: ``(scheme, address in the site)``."""
    out = []
    for scheme, png in (("light", light), ("dark", dark)):
        files.append(File.generated(config, f"{uri}-{scheme}.png", content=base64.b64decode(png)))
        out.append((scheme, f"{uri}-{scheme}.png"))
    return out


def figure_place(markdown, start, end):
    """Where the figures of the block at ``markdown[start:end]`` go, as ``(indent, offset)``:
    right below the block (in its admonition, if it is in one), or, for a block collapsed
    under ``??? example "Code for this figure"``, right below that admonition, in view."""
    indent = re.match(r"[ \t]*", markdown[start:])[0]
    before = markdown[:start].splitlines()
    heads = [ADMONITION.match(line) for line in reversed(before)]
    head = next((h for h in heads if h and len(h["indent"]) < len(indent)), None)
    if head is None or head["title"] != "Code for this figure":
        return indent, end
    offset = end
    for line in markdown[end:].splitlines(keepends=True):
        if line.strip() and len(line) - len(line.lstrip()) <= len(head["indent"]):
            break
        offset += len(line)
    return head["indent"], offset


def on_page_markdown(markdown, page, config, files):
    """Below each block, the figures it drew (each added to the site as
    ``figures/<page>-<block>-<n>-light.png`` and ``-dark.png``); under the title, the link
    to the page's notebook."""
    extra = pages.get(page.file.src_uri)
    if extra is None:
        return markdown
    figures_of(page.file.src_uri, extra)
    here = posixpath.dirname(page.file.src_uri)

    def link(uri):
        return posixpath.relpath(uri, here or ".")

    stem = page.file.src_uri.removesuffix(".md")
    blocks = python_blocks(markdown)
    figures = extra.figures or [[] for _ in blocks]
    out, at = [], 0
    for number, ((start, end, _), block_figures) in enumerate(zip(blocks, figures, strict=True), start=1):
        indent, place = figure_place(markdown, start, end) if block_figures else ("", end)
        out.append(markdown[at:place])
        for index, (label, light, dark) in enumerate(block_figures, start=1):
            for scheme, uri in figure_images(light, dark, f"figures/{stem}-{number}-{index}", config, files):
                out.append(f"\n\n{indent}![{escape(label)}]({link(uri)}#only-{scheme})")
        if place > end:  # below a collapsed "Code for this figure": a paragraph of its own
            out.append("\n\n")
        at = place
    markdown = "".join(out) + markdown[at:]
    download = (
        f"\n\n[Download this page as a Jupyter notebook]({link(extra.notebook_uri)})"
        f'{{ download="{posixpath.basename(extra.notebook_uri)}" .notebook-download }}\n'
    )
    heading = HEADING.search(markdown)
    at = heading.end() if heading else 0
    return markdown[:at] + download + markdown[at:]


@event_priority(-50)  # after notebooks.py has checked that each figure has a label
def on_page_content(html, page, config, files):
    """On a notebook page, each figure its kernel drew gives way to the two drawn here."""
    extra = notebook_figures.get(page.file.src_uri)
    if extra is None:
        return html
    drawn = [figure for block in figures_of(page.file.src_uri, extra) for figure in block]
    shown = KERNEL_FIGURE.findall(html)
    if len(shown) != len(drawn):
        raise PluginError(f"{page.file.src_uri} shows {len(shown)} figures, but its code draws {len(drawn)}")
    stem = page.file.src_uri.removesuffix(".ipynb")
    numbered = iter(enumerate(drawn, start=1))

    def both_schemes(match):
        number, (_, light, dark) = next(numbered)
        images = figure_images(light, dark, f"figures/{stem}-{number}", config, files)
        address = {scheme: get_relative_url(uri, page.url) for scheme, uri in images}
        return "".join(f'<img alt="{match["alt"]}" src="{src}#only-{scheme}">' for scheme, src in address.items())

    return KERNEL_FIGURE.sub(both_schemes, html)


def on_post_build(config):
    """Stop the drawing process; delete the figures of the cache this build did not use."""
    if drawer is not None:
        drawer.stop()
    cache.forget_unused()


def on_build_error(error):
    if drawer is not None:
        drawer.stop()
