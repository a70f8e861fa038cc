"""Build-time extras for every Markdown page that has ```python blocks.

1. A notebook of the page, ``notebooks/<page>.ipynb``, linked at the top of the page:
   prose becomes Markdown cells, each block a code cell (doctest prompts and expected
   output removed), so a reader can run the whole page at once.
2. The page's figures: a page that uses matplotlib is run at build time, block by block
   in a fresh namespace (as Sybil runs it under pytest), and every figure a block leaves
   open is saved as ``figures/<page>-<n>.png`` and shown right below that block. The
   figure's label (``plt.subplots(num="...")``) is the image's alt text. The drawing
   happens in a second Python process (``draw_figures.py``), in parallel with the rest
   of the build.

The pictures on the site are therefore drawn by the code printed above them.
"""

import ast
import base64
import doctest
import hashlib
import json
import os
import posixpath
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from html import escape as html_escape

import nbformat
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.utils import get_relative_url

# A ```python fence, at the margin or indented (inside an admonition, such as an
# exercise's collapsed solution); Sybil collects both.
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```python[ \t]*\n(?P<code>.*?)^(?P=indent)```[ \t]*$\n?", re.MULTILINE | re.DOTALL
)
# An admonition's first line, ``!!! note "Title"`` or ``??? success "Solution"``.
ADMONITION = re.compile(
    r'^(?P<indent>[ \t]*)(?:!!!|\?\?\?\+?)[ \t]+(?P<kind>[\w-]+)(?:[ \t]+"(?P<title>[^"]*)")?[ \t]*$'
)
# A diagram included with pymdownx.snippets: ``--8<-- "assets/name.svg"``.
SNIPPET = re.compile(r'^(?P<indent>[ \t]*)--8<-- "(?P<path>[^"]+)"[ \t]*$', re.MULTILINE)
LINK_TARGET = re.compile(r"(?<=\]\()(?P<target>[^)\s]+)(?=\))")
HEADING = re.compile(r"^# .*$", re.MULTILINE)
DRAW_FIGURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "draw_figures.py")


@dataclass
class Extras:
    """What the build adds to one page."""

    notebook_uri: str
    pieces: list
    draws: bool = False  # whether the page uses matplotlib

    @property
    def code(self):
        return [text for kind, text in self.pieces if kind == "code"]


pages = {}  # src_uri -> Extras, for every Markdown page with code
drawer = None  # the process drawing this build's figures


def code_of(block):
    """The Python a block runs: a doctest's sources without prompts, or the block itself.

    A doctest example that shows a traceback becomes a ``try``/``except`` that prints the
    error, so the notebook still runs from top to bottom.
    """
    if not block.lstrip().startswith(">>>"):
        return block
    sources = []
    for example in doctest.DocTestParser().get_examples(block):
        if example.exc_msg is None:
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
    """The page as a list of ("markdown" | "code", text) pieces, in order."""
    pieces, start = [], 0
    markdown = unwrap_admonitions(markdown)
    for match in FENCE.finditer(markdown):
        pieces.append(("markdown", markdown[start : match.start()]))
        pieces.append(("code", code_of(textwrap.dedent(match["code"]))))
        start = match.end()
    pieces.append(("markdown", markdown[start:]))
    return [(kind, text.strip()) for kind, text in pieces if text.strip()]


def published(target, page_uri, site_url):
    """A link of the page ``page_uri`` as an address on the published site: ``masks.md#x``
    becomes ``<site_url>masks/#x``. Addresses, anchors and paths from the root stay."""
    if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:|[#/]", target):
        return target
    path, hash_, fragment = target.partition("#")
    path = posixpath.normpath(posixpath.join(posixpath.dirname(page_uri), path))
    stem, dot, suffix = path.rpartition(".")
    if dot and suffix in ("md", "ipynb"):  # a page: its directory URL, as MkDocs builds it
        stem = "" if stem == "index" else stem.removesuffix("/index") + "/"
        path = stem
    return site_url + path + hash_ + fragment


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


def notebook_of(pieces, page_uri, site_url=None, docs_dir=None):
    """The page as a notebook; with ``site_url``, its links point at the published site."""
    intro = (
        f"*This notebook is generated from the page `{page_uri}` of the selfattn docs. "
        "Run it where `selfattn` is importable, for example in the project's `.venv` "
        "(`make serve` or `make test` creates it).*"
    )
    cells = [nbformat.v4.new_markdown_cell(intro)]
    for kind, text in pieces:
        if kind == "code":
            cells.append(nbformat.v4.new_code_cell(text))
        else:
            markdown = for_notebook(text, page_uri, site_url, docs_dir) if site_url else text
            cells.append(nbformat.v4.new_markdown_cell(markdown))
    notebook = nbformat.v4.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    for number, cell in enumerate(notebook.cells):  # stable ids: the same page gives the same file
        cell.id = f"cell-{number}"
    nbformat.validate(notebook)
    return nbformat.writes(notebook)


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
        return [[(label, base64.b64decode(png)) for label, png in block] for block in result["figures"]]

    def stop(self):
        self.process.kill()
        self.process.wait()


def on_files(files, config):
    """Add each page's notebook, start drawing the figures, and put the pages with figures
    last: MkDocs reads the pages in this order, so it reads the others while they are drawn."""
    global drawer
    pages.clear()
    for page_file in [f for f in files.documentation_pages() if f.src_uri.endswith(".md")]:
        pieces = split_page(page_file.content_string)
        if any(kind == "code" for kind, _ in pieces):
            notebook_uri = f"notebooks/{page_file.src_uri.removesuffix('.md')}.ipynb"
            notebook = notebook_of(pieces, page_file.src_uri, config["site_url"], config["docs_dir"])
            files.append(File.generated(config, notebook_uri, content=notebook))
            extra = pages[page_file.src_uri] = Extras(notebook_uri, pieces)
            extra.draws = any("matplotlib" in block for block in extra.code)
    drawing = [uri for uri, extra in pages.items() if extra.draws]
    drawer = Drawer([(uri, pages[uri].code) for uri in drawing])
    return Files(sorted(files, key=lambda file: file.src_uri in drawing))


NBCONVERT_ALT = 'alt="No description has been provided for this image"'
FIGURE_LABEL = re.compile(r"""\bnum\s*=\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")


NOTEBOOK_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL)


def on_page_content(html, page, config, files):
    """On a notebook page, each figure's label (``plt.subplots(num="...")``) becomes the alt
    text of its image, as on the Markdown pages (nbconvert leaves a stand-in); and the
    half megabyte of CSS mkdocs-jupyter puts inside the page becomes a stylesheet that
    every notebook page shares and the browser caches."""
    if not page.file.src_uri.endswith(".ipynb"):
        return html
    css = "\n".join(NOTEBOOK_STYLE.findall(html))
    css_uri = f"assets/notebook-{hashlib.sha256(css.encode()).hexdigest()[:12]}.css"
    if files.get_file_from_path(css_uri) is None:
        files.append(File.generated(config, css_uri, content=css))
    stylesheet = f'<link rel="stylesheet" href="{get_relative_url(css_uri, page.url)}">\n'
    html = stylesheet + NOTEBOOK_STYLE.sub("", html)
    cells = json.loads(page.file.content_string)["cells"]
    code = "".join("".join(cell["source"]) + "\n" for cell in cells if cell["cell_type"] == "code")
    labels = [ast.literal_eval(literal) for literal in FIGURE_LABEL.findall(code)]
    if html.count(NBCONVERT_ALT) != len(labels):
        raise PluginError(
            f"{page.file.src_uri} shows {html.count(NBCONVERT_ALT)} figures but labels {len(labels)}: "
            'give each figure a label that describes it (plt.subplots(num="...")), its alt text'
        )
    for label in labels:
        html = html.replace(NBCONVERT_ALT, f'alt="{html_escape(label)}"', 1)
    return html


def on_post_build(config):
    drawer.stop()


def on_build_error(error):
    if drawer is not None:
        drawer.stop()


def escape(alt):
    """Alt text that cannot end the Markdown image early."""
    return alt.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def on_page_markdown(markdown, page, config, files):
    extra = pages.get(page.file.src_uri)
    if extra is None:
        return markdown
    here = posixpath.dirname(page.file.src_uri)

    def link(uri):
        return posixpath.relpath(uri, here or ".")

    stem = page.file.src_uri.removesuffix(".md")
    blocks = enumerate(drawer.figures(page.file.src_uri) if extra.draws else [], start=1)

    def with_figures(match):
        number, block_figures = next(blocks, (0, []))
        images = []
        for index, (label, png) in enumerate(block_figures, start=1):
            uri = f"figures/{stem}-{number}-{index}.png"
            files.append(File.generated(config, uri, content=png))
            images.append(f"\n{match['indent']}![{escape(label)}]({link(uri)})\n")
        return match[0] + "".join(images)

    markdown = FENCE.sub(with_figures, markdown)
    download = (
        f"\n\n[Download this page as a Jupyter notebook]({link(extra.notebook_uri)})"
        f'{{ download="{posixpath.basename(extra.notebook_uri)}" .notebook-download }}\n'
    )
    heading = HEADING.search(markdown)
    at = heading.end() if heading else 0
    return markdown[:at] + download + markdown[at:]
