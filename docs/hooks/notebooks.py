"""The notebook pages (``docs/*.ipynb``), which mkdocs-jupyter runs in a Jupyter kernel
(``execute: true``; a cell that raises stops the build) and turns into HTML.

mkdocs-jupyter keeps what it made under the hash of the notebook's file, in our build cache
(``build_cache.py``), and is off with it: a prose edit of another page runs no notebook, an
edit of the notebook runs it again. (An edit of ``selfattn/`` does not: delete
``.cache/build/mkdocs-jupyter`` for that; the tests build with the cache off.) This hook
gives each figure its label as alt text and moves mkdocs-jupyter's CSS into a stylesheet.
"""

import ast
import hashlib
import re
from html import escape

import build_cache
import nbformat
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File
from mkdocs.utils import get_relative_url

NBCONVERT_ALT = 'alt="No description has been provided for this image"'
FIGURE_LABEL = re.compile(r"""\bnum\s*=\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")
STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL)


def on_config(config):
    """mkdocs-jupyter's cache of the notebooks it runs and converts lives in ours, and is off with it."""
    folder = build_cache.folder(config)
    jupyter = config.plugins["mkdocs-jupyter"].config
    jupyter["cache"] = folder is not None
    if folder is not None:
        jupyter["cache_dir"] = str(folder / "mkdocs-jupyter")
    return config


def on_page_content(html, page, config, files):
    """Each figure's label (``plt.subplots(num="...")``) becomes the alt text of its image,
    as on the Markdown pages (nbconvert leaves a stand-in); and the half megabyte of CSS
    mkdocs-jupyter puts inside the page becomes a stylesheet that every notebook page
    shares and the browser caches."""
    if not page.file.src_uri.endswith(".ipynb"):
        return html
    css = "\n".join(STYLE.findall(html))
    css_uri = f"assets/notebook-{hashlib.sha256(css.encode()).hexdigest()[:12]}.css"
    if files.get_file_from_path(css_uri) is None:
        files.append(File.generated(config, css_uri, content=css))
    stylesheet = f'<link rel="stylesheet" href="{get_relative_url(css_uri, page.url)}">\n'
    html = stylesheet + STYLE.sub("", html)
    notebook = nbformat.reads(page.file.content_string, as_version=4)
    code = "".join(cell.source + "\n" for cell in notebook.cells if cell.cell_type == "code")
    labels = [ast.literal_eval(literal) for literal in FIGURE_LABEL.findall(code)]
    if html.count(NBCONVERT_ALT) != len(labels):
        raise PluginError(
            f"{page.file.src_uri} shows {html.count(NBCONVERT_ALT)} figures but labels {len(labels)}: "
            'give each figure a label that describes it (plt.subplots(num="...")), its alt text'
        )
    for label in labels:
        html = html.replace(NBCONVERT_ALT, f'alt="{escape(label)}"', 1)
    return html
