"""Build-time extras for every Markdown page that has ```python blocks.

1. A notebook of the page, ``notebooks/<page>.ipynb``, linked at the top of the page:
   prose becomes Markdown cells, each block a code cell (doctest prompts and expected
   output removed), so a reader can run the whole page at once.
2. The page's figures: a page that uses matplotlib is run at build time, block by block
   in a fresh namespace (as Sybil runs it under pytest), and every figure a block leaves
   open is saved as ``figures/<page>-<n>.png`` and shown right below that block. The
   figure's label (``plt.subplots(num="...")``) is the image's alt text.

The pictures on the site are therefore drawn by the code printed above them.
"""

import contextlib
import doctest
import io
import posixpath
import re
import traceback

import matplotlib
import nbformat
import numpy as np
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

FENCE = re.compile(r"^```python[ \t]*\n(?P<code>.*?)^```[ \t]*$\n?", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^# .*$", re.MULTILINE)
# Filled in on_files, used in on_page_markdown: src_uri -> (notebook uri, figure uris per block).
extras = {}


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
            sources.append(f'try:\n{body}except Exception as error:\n    print(f"{{type(error).__name__}}: {{error}}")\n')
    return "".join(sources)


def split_page(markdown):
    """The page as a list of ("markdown" | "code", text) pieces, in order."""
    pieces, start = [], 0
    for match in FENCE.finditer(markdown):
        pieces.append(("markdown", markdown[start : match.start()]))
        pieces.append(("code", code_of(match["code"])))
        start = match.end()
    pieces.append(("markdown", markdown[start:]))
    return [(kind, text.strip()) for kind, text in pieces if text.strip()]


def notebook_of(pieces, page_uri):
    intro = (
        f"*This notebook is generated from the page `{page_uri}` of the selfattn docs. "
        "Run it where `selfattn` is importable, for example in the project's `.venv` "
        "(`make serve` or `make test` creates it).*"
    )
    cells = [nbformat.v4.new_markdown_cell(intro)]
    for kind, text in pieces:
        new_cell = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        cells.append(new_cell(text))
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


def figures_of(pieces, page_uri):
    """Run the page's code; return, for each code block, the PNG files of its figures."""
    namespace, figures = {"__name__": "__main__"}, []
    saved_print_options = np.get_printoptions()
    plt.close("all")
    try:
        for number, code in enumerate(text for kind, text in pieces if kind == "code"):
            try:
                with contextlib.redirect_stdout(io.StringIO()):  # the page's prints are for readers
                    exec(compile(code, f"{page_uri}, block {number + 1}", "exec"), namespace)
            except Exception:
                raise PluginError(f"{page_uri}: code block {number + 1} failed:\n{traceback.format_exc()}")
            block_figures = []
            for num in plt.get_fignums():
                figure = plt.figure(num)
                if not figure.get_label().strip():
                    raise PluginError(
                        f"{page_uri}: the figure of code block {number + 1} has no label; give it one "
                        'that describes the picture (plt.subplots(num="...")): it becomes the alt text'
                    )
                png = io.BytesIO()
                figure.savefig(png, format="png", dpi=100, metadata={"Software": None})
                block_figures.append((figure.get_label(), png.getvalue()))
            plt.close("all")
            figures.append(block_figures)
    finally:
        np.set_printoptions(**saved_print_options)
        plt.close("all")
    return figures


def on_files(files, config):
    extras.clear()
    for page_file in [f for f in files.documentation_pages() if f.src_uri.endswith(".md")]:
        pieces = split_page(page_file.content_string)
        if not any(kind == "code" for kind, _ in pieces):
            continue
        stem = page_file.src_uri.removesuffix(".md")
        notebook_uri = f"notebooks/{stem}.ipynb"
        files.append(File.generated(config, notebook_uri, content=notebook_of(pieces, page_file.src_uri)))
        figure_uris = []
        uses_matplotlib = any("matplotlib" in text for kind, text in pieces if kind == "code")
        for number, block_figures in enumerate(figures_of(pieces, page_file.src_uri) if uses_matplotlib else []):
            uris = []
            for index, (label, png) in enumerate(block_figures):
                uri = f"figures/{stem}-{number + 1}-{index + 1}.png"
                files.append(File.generated(config, uri, content=png))
                uris.append((label, uri))
            figure_uris.append(uris)
        extras[page_file.src_uri] = (notebook_uri, figure_uris)
    return files


def escape(alt):
    """Alt text that cannot end the Markdown image early."""
    return alt.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri not in extras:
        return markdown
    notebook_uri, figure_uris = extras[page.file.src_uri]
    here = posixpath.dirname(page.file.src_uri)

    def link(uri):
        return posixpath.relpath(uri, here or ".")

    blocks = iter(figure_uris)

    def with_figures(match):
        shown = next(blocks, [])
        images = "".join(f"\n![{escape(label)}]({link(uri)})\n" for label, uri in shown)
        return match[0] + images

    markdown = FENCE.sub(with_figures, markdown)
    download = (
        f"\n\n[Download this page as a Jupyter notebook]({link(notebook_uri)})"
        f'{{ download="{posixpath.basename(notebook_uri)}" .notebook-download }}\n'
    )
    heading = HEADING.search(markdown)
    at = heading.end() if heading else 0
    return markdown[:at] + download + markdown[at:]
