"""Build-time extras for the pages with Python code: each Markdown page's notebook, linked
under its title, and the figures the code draws, below the block that draws them, in a light
and a dark rendering (``draw_figures.py`` draws them in a second process while MkDocs reads
the other pages). Those figures and mkdocs-jupyter's notebook pages are kept in
``.cache/build/`` (``$SELFATTN_BUILD_CACHE``: another folder, or ``off`` as when the tests
build), so that a prose edit runs no code.

``python_blocks`` asks Sybil which blocks count; ``code_of`` turns a doctest into plain code.
"""

import base64
import doctest
import hashlib
import html
import json
import logging
import os
import posixpath
import re
import subprocess
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urljoin

import nbformat
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.utils import get_relative_url
from sybil import Document
from sybil.parsers.markdown import PythonCodeBlockParser

# ``!!! note "Title"``, ``??? success "Solution"``: an admonition's first line.
ADMONITION = re.compile(
    r'^(?P<indent>[ \t]*)(?:!!!|\?\?\?\+?)[ \t]+(?P<kind>[\w-]+)(?:[ \t]+"(?P<title>[^"]*)")?[ \t]*$'
)
# A figure's collapsed code: the admonition, and the lines below it that are blank or indented further.
CODE_FOR_FIGURE = re.compile(
    r'^(?P<indent>[ \t]*)\?\?\?\+? [\w-]+ "Code for this figure"\n(?:[ \t]*\n|(?P=indent)[ \t]+.*\n)*', re.MULTILINE
)
SNIPPET = re.compile(r'^(?P<indent>[ \t]*)--8<-- "(?P<path>[^"]+)"[ \t]*$', re.MULTILINE)  # a diagram
LINK = re.compile(r"(?<=\]\()[^)\s]+(?=\))")
TITLE = re.compile(r"^# .*$", re.MULTILINE)
KERNEL_FIGURE = re.compile(r'<img alt="[^"]*" class="[^"]*" src="data:image/png;base64,[^"]*"[^>]*>')
STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL)
DRAW_FIGURES = Path(__file__).with_name("draw_figures.py")
log = logging.getLogger("mkdocs.hooks.pages")
figures = None  # this build's Figures


def python_blocks(markdown):
    """The Python blocks Sybil runs, as ``(start, end, source at the margin)``."""
    regions = PythonCodeBlockParser().codeblock_parser(Document(markdown, "page.md"))
    return [(region.start, region.end, str(region.parsed)) for region in regions]


def code_of(block, catch=True):
    """The Python a block runs: a doctest (``>>>``) without prompts or output. With ``catch``,
    an example that shows a traceback prints it instead, so that a notebook runs to the end."""
    if not block.startswith(">>>"):
        return block
    examples = doctest.DocTestParser().get_examples(block)
    show = 'except Exception as error:\n    print(f"{type(error).__name__}: {error}")\n'
    return "".join(
        "try:\n" + textwrap.indent(example.source, "    ") + show if example.exc_msg and catch else example.source
        for example in examples
    )


def split_page(markdown):
    """The page as ``("markdown" | "code", text)`` pieces, doctests made plain code and
    admonitions unwrapped (the title in bold, the body at the margin): a solution's code is a
    cell, and its prose is not shown as code."""
    lines, body = [], None  # body: the indentation of the admonition being unwrapped
    for line in markdown.split("\n"):
        if body is not None and line.strip() and not line.startswith(body):
            body = None
        match = ADMONITION.match(line) if body is None else None
        if match:
            title = match["kind"].capitalize() if match["title"] is None else match["title"]
            lines.append(f"{match['indent']}**{title}**" if title else "")
            body = match["indent"] + "    "
        else:
            lines.append(line if body is None else line[4:])
    markdown, pieces, at = "\n".join(lines), [], 0
    for start, end, source in python_blocks(markdown):
        pieces += [("markdown", markdown[at:start]), ("code", code_of(source))]
        at = end
    pieces.append(("markdown", markdown[at:]))
    return [(kind, text.strip()) for kind, text in pieces if text.strip()]


def published(target, page_uri, files, site_url):
    """A link of the page ``page_uri`` as an address on the published site (``File.url``)."""
    if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:|[#/]", target):
        return target
    path, hash_, anchor = target.partition("#")
    file = files.get_file_from_path(posixpath.normpath(posixpath.join(posixpath.dirname(page_uri), path)))
    return urljoin(site_url, file.url if file else path) + hash_ + anchor


def for_notebook(markdown, page_uri, files, config):
    """A Markdown cell with links to the published site, and a diagram included from
    ``docs/`` as an image of it there, its ``<title>`` as alt text."""

    def image(match):
        svg = Path(config["docs_dir"], match["path"]).read_text(encoding="utf-8")
        title = re.search(r"<title[^>]*>(.*?)</title>", svg, re.DOTALL)
        src = published(match["path"], "", files, config["site_url"])
        return f'{match["indent"]}<img src="{src}" alt="{html.escape(title[1].strip() if title else "")}">'

    markdown = SNIPPET.sub(image, markdown)
    return LINK.sub(lambda match: published(match[0], page_uri, files, config["site_url"]), markdown)


def install_cell(version):
    """A notebook's first cell: where selfattn is missing (Colab, a bare Jupyter), install
    ``version``; where pip fails, stop there. Plain Python: ``%pip`` does not raise."""
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


def notebook_of(pieces, page_uri, version):
    """The page as a notebook (nbformat 4.5 JSON), its cells' ids stable from build to build."""
    intro = f"*This notebook is generated from the page `{page_uri}` of the selfattn docs.*"
    cells = []
    for number, (kind, text) in enumerate([("markdown", intro), ("code", install_cell(version)), *pieces]):
        cells.append({"cell_type": kind, "id": f"cell-{number}", "metadata": {}, "source": text})
        if kind == "code":
            cells[-1].update(execution_count=None, outputs=[])
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    metadata = {"kernelspec": kernel, "language_info": {"name": "python"}}
    return nbformat.writes(
        nbformat.from_dict({"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": cells})
    )


def cache_folder(config):
    setting = os.environ.get("SELFATTN_BUILD_CACHE", "")
    return None if setting == "off" else Path(setting or Path(config.config_file_path).parent / ".cache" / "build")


def cache_key(code, config):
    """The hash of what makes a page's figures: its code, the files of ``docs/`` it names (its
    data), ``draw_figures.py``, the ``selfattn`` sources and the versions that draw."""
    text = "\n".join(code)
    data = [path for path in Path(config["docs_dir"]).rglob("*") if path.name in text and path.is_file()]
    package = Path(config.config_file_path).parent.glob("selfattn/**/*.py")
    digest = hashlib.sha256(json.dumps([code, sys.version, version("numpy"), version("matplotlib")]).encode())
    for path in sorted([DRAW_FIGURES, *package, *data]):
        digest.update(path.read_bytes())
    return digest.hexdigest()


class Figures:
    """Each page's figures, for each block ``[label, light PNG, dark PNG]`` (base64): from the
    cache, or drawn by ``draw_figures.py`` in a process started here."""

    def __init__(self, code, config):
        folder = cache_folder(config)
        self.cache = folder / "figures.json" if folder else None
        cached = json.loads(self.cache.read_text()) if self.cache and self.cache.is_file() else {}
        self.keys = {page: cache_key(blocks, config) for page, blocks in code.items()}
        self.drawn = {page: cached.get(key) for page, key in self.keys.items()}
        jobs = [(page, code[page]) for page, figures in self.drawn.items() if figures is None]
        self.process = None
        if jobs:
            log.info(f"Drawing the figures of {', '.join(page for page, _ in jobs)} (not in the build cache)")
            command = [sys.executable, "-P", DRAW_FIGURES]
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            self.process.stdin.write(json.dumps(jobs))
            self.process.stdin.close()

    def of(self, page):
        """The page's figures; None for a page that draws none."""
        while page in self.drawn and self.drawn[page] is None:
            line = self.process.stdout.readline()
            if not line:
                raise PluginError(f"the process drawing the figures stopped before {page} (its error is above)")
            drawn = json.loads(line)
            if "error" in drawn:
                raise PluginError(drawn["error"])
            self.drawn[drawn["page"]] = drawn["figures"]
        return self.drawn.get(page)

    def close(self):
        """Stop the drawing process; keep what this build drew, and nothing else, in the cache."""
        if self.process:
            with self.process:  # which closes its pipes and waits for it
                self.process.kill()
        if self.cache:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            partial = self.cache.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps({self.keys[page]: drawn for page, drawn in self.drawn.items() if drawn}))
            partial.replace(self.cache)  # whole or not at all


def on_config(config):
    """mkdocs-jupyter keeps the notebook pages it runs in our cache, and is off with it."""
    cache = cache_folder(config)
    config.plugins["mkdocs-jupyter"].config.update(
        cache=cache is not None, cache_dir=str(cache / "mkdocs-jupyter") if cache else ""
    )


def on_files(files, config):
    """Add each Markdown page's notebook; take each page's figures from the cache or start
    drawing them; and put the Markdown pages that draw last: MkDocs reads the pages in this
    order, so it reads the others while the figures are drawn (in that order too)."""
    global figures
    code = {}  # the code of each page that draws
    for file in files.documentation_pages():
        if file.src_uri.endswith(".ipynb"):
            cells = nbformat.reads(file.content_string, as_version=4).cells
            blocks = [cell.source for cell in cells if cell.cell_type == "code"]
        else:
            pieces = split_page(file.content_string)
            blocks = [text for kind, text in pieces if kind == "code"]
            if blocks:
                cells = [
                    (kind, for_notebook(text, file.src_uri, files, config) if kind == "markdown" else text)
                    for kind, text in pieces
                ]
                notebook = notebook_of(cells, file.src_uri, config.extra.get("version"))
                files.append(File.generated(config, notebook_uri(file.src_uri), content=notebook))
        if any("matplotlib" in block for block in blocks):
            code[file.src_uri] = blocks
    files = Files(sorted(files, key=lambda file: file.src_uri.endswith(".md") and file.src_uri in code))
    figures = Figures({file.src_uri: code[file.src_uri] for file in files if file.src_uri in code}, config)
    return files


def notebook_uri(page_uri):
    return f"notebooks/{page_uri.removesuffix('.md')}.ipynb"


def add_images(name, light, dark, config, files):
    """A figure's two renderings, added to the site as ``<name>-light.png`` and ``-dark.png``."""
    for scheme, png in (("light", light), ("dark", dark)):
        files.append(File.generated(config, f"{name}-{scheme}.png", content=base64.b64decode(png)))
        yield scheme, f"{name}-{scheme}.png"


def figure_place(markdown, start, end):
    """Where the figures of the block at ``markdown[start:end]`` go, as ``(indent, offset)``:
    below the block (in its admonition, if any), or below a collapsed "Code for this figure"."""
    for code in CODE_FOR_FIGURE.finditer(markdown):
        if code.start() < start < code.end():
            return code["indent"], code.end()
    return re.match(r"[ \t]*", markdown[start:])[0], end


def on_page_markdown(markdown, page, config, files):
    """Below each block, the figures it drew; under the title, the link to the notebook."""
    uri = page.file.src_uri
    if not uri.endswith(".md") or files.get_file_from_path(notebook_uri(uri)) is None:
        return markdown

    def link(target):
        return posixpath.relpath(target, posixpath.dirname(uri) or ".")

    blocks = python_blocks(markdown)
    drawn = figures.of(uri) or [[] for _ in blocks]
    out, at = [], 0
    for number, ((start, end, _), block_figures) in enumerate(zip(blocks, drawn, strict=True), start=1):
        if block_figures:
            indent, place = figure_place(markdown, start, end)
            out.append(markdown[at:place])
            for index, (label, light, dark) in enumerate(block_figures, start=1):
                alt = re.sub(r"([\\\[\]])", r"\\\1", label)  # cannot end the Markdown image early
                for scheme, image in add_images(f"figures/{uri[:-3]}-{number}-{index}", light, dark, config, files):
                    out.append(f"\n\n{indent}![{alt}]({link(image)}#only-{scheme})")
            out.append("\n\n" if place > end else "")  # below collapsed code: a paragraph of its own
            at = place
    markdown = "".join(out) + markdown[at:]
    download = (
        f"\n\n[Download this page as a Jupyter notebook]({link(notebook_uri(uri))})"
        f'{{ download="{posixpath.basename(notebook_uri(uri))}" .notebook-download }}\n'
    )
    return TITLE.sub(lambda title: title[0] + download, markdown, count=1)


def on_page_content(content, page, config, files):
    """On a notebook page, the half megabyte of CSS mkdocs-jupyter puts in the page becomes a
    stylesheet (faster to build, index and load), and the kernel's figures give way to ours."""
    uri = page.file.src_uri
    if not uri.endswith(".ipynb"):
        return content
    css = "\n".join(STYLE.findall(content))
    css_uri = f"assets/notebook-{hashlib.sha256(css.encode()).hexdigest()[:12]}.css"
    if files.get_file_from_path(css_uri) is None:
        files.append(File.generated(config, css_uri, content=css))
    content = f'<link rel="stylesheet" href="{get_relative_url(css_uri, page.url)}">\n' + STYLE.sub("", content)
    drawn = [figure for block in figures.of(uri) or [] for figure in block]
    shown = len(KERNEL_FIGURE.findall(content))
    if shown != len(drawn):
        raise PluginError(f"{uri} shows {shown} figures, but its code draws {len(drawn)}")
    numbered = iter(enumerate(drawn, start=1))

    def both_schemes(match):
        number, (label, light, dark) = next(numbered)
        images = add_images(f"figures/{uri.removesuffix('.ipynb')}-{number}", light, dark, config, files)
        return "".join(
            f'<img alt="{html.escape(label)}" src="{get_relative_url(image, page.url)}#only-{scheme}">'
            for scheme, image in images
        )

    return KERNEL_FIGURE.sub(both_schemes, content)


def on_post_build(config):
    figures.close()


def on_build_error(error):
    if figures:
        figures.close()
