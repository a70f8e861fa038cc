"""A page with code gets its notebook and, below each block, the figures it draws, light and dark.
The figures and mkdocs-jupyter's pages are cached in ``.cache/build/`` (``$SELFATTN_BUILD_CACHE``:
another folder, or ``off``)."""

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

ADMONITION = re.compile(r'^(?P<indent> *)(?:!!!|\?\?\?\+?) +(?P<kind>[\w-]+)(?: +"(?P<title>[^"]*)")? *$')
# A figure's collapsed code: the admonition, and the blank or further indented lines below it.
CODE_FOR_FIGURE = re.compile(r'(?m)^(?P<indent> *)\?\?\?\+? [\w-]+ "Code for this figure"\n(?: *\n|(?P=indent) +.*\n)*')
SNIPPET = re.compile(r'^(?P<indent> *)--8<-- "(?P<path>[^"]+)" *$', re.MULTILINE)  # a diagram
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
    """The Python a block runs, doctest prompts and output removed; with ``catch``, an example
    that shows a traceback prints it instead, so that a notebook runs to the end."""
    if not block.startswith(">>>"):
        return block
    show = 'except Exception as error:\n    print(f"{type(error).__name__}: {error}")\n'
    return "".join(
        "try:\n" + textwrap.indent(example.source, "    ") + show if example.exc_msg and catch else example.source
        for example in doctest.DocTestParser().get_examples(block)
    )


def split_page(markdown):
    """The page as ``("markdown" | "code", text)`` pieces, admonitions unwrapped (title in bold,
    body at the margin) so that a solution's code is a cell and its prose is not code."""
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
    """A Markdown cell linking to the published site; a diagram is an image there, its title the alt."""

    def image(match):
        svg = Path(config["docs_dir"], match["path"]).read_text(encoding="utf-8")
        title = re.search(r"<title[^>]*>(.*?)</title>", svg, re.DOTALL)
        src = published(match["path"], "", files, config["site_url"])
        return f'{match["indent"]}<img src="{src}" alt="{html.escape(title[1].strip() if title else "")}">'

    markdown = SNIPPET.sub(image, markdown)
    return LINK.sub(lambda match: published(match[0], page_uri, files, config["site_url"]), markdown)


def install_cell(version):
    """A notebook's first cell: install selfattn if missing; stop if pip fails (``%pip`` would not)."""
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
    """The page as a notebook, its cells' ids the same in every build."""
    intro = f"*This notebook is generated from the page `{page_uri}` of the selfattn docs.*"
    pieces = [("markdown", intro), ("code", install_cell(version)), *pieces]
    new = {"markdown": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    cells = [new[kind](text, id=f"cell-{number}") for number, (kind, text) in enumerate(pieces)]
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    metadata = {"kernelspec": kernel, "language_info": {"name": "python"}}
    return nbformat.writes(nbformat.v4.new_notebook(cells=cells, metadata=metadata))


def cache_folder(config):
    setting = os.environ.get("SELFATTN_BUILD_CACHE", "")
    return None if setting == "off" else Path(setting or Path(config.config_file_path).parent / ".cache" / "build")


def cache_key(code, config):
    """A hash of a page's code, the ``docs/`` files it names, selfattn, and what draws."""
    text = "\n".join(code)
    data = [path for path in Path(config["docs_dir"]).rglob("*") if path.name in text and path.is_file()]
    package = Path(config.config_file_path).parent.glob("selfattn/**/*.py")
    digest = hashlib.sha256(json.dumps([code, sys.version, version("numpy"), version("matplotlib")]).encode())
    for path in sorted([DRAW_FIGURES, *package, *data]):
        digest.update(path.read_bytes())
    return digest.hexdigest()


class Figures:
    """Each page's figures (per block ``[label, light PNG, dark PNG]``), cached or being drawn."""

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
        """Stop the drawing process; cache what this build drew, and nothing else."""
        if self.process:
            with self.process:  # closes its pipes and waits for it
                self.process.kill()
        if self.cache:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            partial = self.cache.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps({self.keys[page]: drawn for page, drawn in self.drawn.items() if drawn}))
            partial.replace(self.cache)  # whole or not at all


def on_config(config):
    """mkdocs-jupyter caches the notebook pages it runs in our cache, or not at all."""
    cache = cache_folder(config)
    config.plugins["mkdocs-jupyter"].config.update(
        cache=cache is not None, cache_dir=str(cache / "mkdocs-jupyter") if cache else ""
    )


def on_files(files, config):
    """Add the notebooks, start drawing, and put the pages that draw last, to be read meanwhile."""
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
    for scheme, png in (("light", light), ("dark", dark)):
        files.append(File.generated(config, f"{name}-{scheme}.png", content=base64.b64decode(png)))
        yield scheme, f"{name}-{scheme}.png"


def figure_place(markdown, start, end):
    """``(indent, offset)`` for a block's figures: below it, or below its collapsed code."""
    for code in CODE_FOR_FIGURE.finditer(markdown):
        if code.start() < start < code.end():
            return code["indent"], code.end()
    return re.match(r" *", markdown[start:])[0], end


def on_page_markdown(markdown, page, config, files):
    """Below each block, the figures it drew; under the title, the link to the notebook."""
    uri = page.file.src_uri
    if not uri.endswith(".md") or files.get_file_from_path(notebook_uri(uri)) is None:
        return markdown
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
                    out.append(f"\n\n{indent}![{alt}]({get_relative_url(image, uri)}#only-{scheme})")
            out.append("\n\n" if place > end else "")  # below collapsed code: a paragraph of its own
            at = place
    markdown = "".join(out) + markdown[at:]
    download = (
        f"\n\n[Download this page as a Jupyter notebook]({get_relative_url(notebook_uri(uri), uri)})"
        f'{{ download="{posixpath.basename(notebook_uri(uri))}" .notebook-download }}\n'
    )
    return TITLE.sub(lambda title: title[0] + download, markdown, count=1)


def on_page_content(content, page, config, files):
    """A notebook page's half megabyte of inline CSS becomes a stylesheet; our figures replace its own."""
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
