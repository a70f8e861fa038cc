"""The notebook pages (``docs/*.ipynb``): run in a Jupyter kernel at build time, once per
change of their code, then turned into HTML by mkdocs-jupyter.

mkdocs-jupyter would run every notebook on every build (``execute: true``); it runs none
(``execute: false``) and this hook runs them instead, in the background while MkDocs reads
the other pages, a cell that raises stopping the build. Each notebook's outputs are kept in
the build cache (``build_cache.py``) under the hash of its code cells: a prose edit runs no
code, a code edit runs that notebook again, a change to ``selfattn/`` runs every notebook.
mkdocs-jupyter's own cache of the HTML it makes lives beside ours, and is off when ours is.
"""

import ast
import concurrent.futures
import hashlib
import json
import logging
import re
import shutil
import tempfile
from html import escape
from pathlib import Path

import build_cache
import nbformat
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.utils import get_relative_url
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

log = logging.getLogger("mkdocs.hooks.notebooks")
CELL_TIMEOUT = 120  # seconds
NBCONVERT_ALT = 'alt="No description has been provided for this image"'
FIGURE_LABEL = re.compile(r"""\bnum\s*=\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")
STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL)

cache = None  # build_cache.Results: the outputs of earlier builds
runs = {}  # src_uri -> (its key in the cache, its outputs or the Future of them)
executor = None  # the thread that talks to the kernels
executed = None  # a temporary folder: the notebooks with their outputs, which mkdocs-jupyter reads


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def execute(notebook, cwd):
    """Run every code cell in a fresh kernel, in ``cwd``; return each cell's outputs and
    execution count. A cell that raises stops the build (mkdocs-jupyter's ``allow_errors: false``)."""
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT, allow_errors=False, resources={"metadata": {"path": cwd}})
    try:
        client.execute()
    except CellExecutionError as error:
        raise PluginError(f"a cell of the notebook failed:\n{error}") from None
    return [{"outputs": cell.outputs, "execution_count": cell.execution_count} for cell in code_cells(notebook)]


def stop(wait):
    """Stop the thread that runs the kernels (waiting for it, or not); delete the temporary folder."""
    if executor is not None:
        executor.shutdown(wait=wait, cancel_futures=True)
    if executed is not None:
        shutil.rmtree(executed, ignore_errors=True)


def on_config(config):
    """Point mkdocs-jupyter's cache of the HTML it makes into ours, or turn it off with ours."""
    folder = build_cache.folder(config)
    jupyter = config.plugins["mkdocs-jupyter"].config
    jupyter["cache"] = folder is not None
    if folder is not None:
        jupyter["cache_dir"] = str(folder / "mkdocs-jupyter")
    return config


def on_files(files, config):
    """Start running each notebook page whose outputs the cache lacks, in the background,
    and put the notebook pages last: MkDocs reads the pages in this order, so it reads the
    others while the kernels run."""
    global cache, executor, executed
    cache = build_cache.Results(config, "notebooks")
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="notebooks")
    executed = Path(tempfile.mkdtemp(prefix="selfattn-notebooks-"))
    runs.clear()
    for file in files.documentation_pages():
        if not file.src_uri.endswith(".ipynb"):
            continue
        notebook = nbformat.reads(file.content_string, as_version=4)
        key = cache.key([cell.source for cell in code_cells(notebook)], notebook.metadata.get("kernelspec"))
        outputs = cache.get(key)
        if outputs is None:
            log.info(f"Running {file.src_uri} in a Jupyter kernel (its outputs are not in the build cache)")
            runs[file.src_uri] = (key, executor.submit(execute, notebook, str(Path(file.abs_src_path).parent)))
        else:
            runs[file.src_uri] = (key, outputs)
    return Files(sorted(files, key=lambda file: file.src_uri.endswith(".ipynb")))


@event_priority(50)  # before mkdocs-jupyter, which reads the notebook at page.file.abs_src_path
def on_pre_page(page, config, files):
    """Wait for the page's outputs (and keep them in the cache), write the notebook with
    them into a temporary folder, and have mkdocs-jupyter read that one."""
    if page.file.src_uri not in runs:
        return page
    key, outputs = runs.pop(page.file.src_uri)
    if isinstance(outputs, concurrent.futures.Future):
        try:
            outputs = json.loads(json.dumps(outputs.result()))  # plain data, as stored
        except PluginError as error:
            raise PluginError(f"{page.file.src_uri}: {error}") from None
        cache.put(key, outputs)
    notebook = nbformat.reads(page.file.content_string, as_version=4)
    for cell, run in zip(code_cells(notebook), outputs, strict=True):
        cell.outputs = [nbformat.from_dict(output) for output in run["outputs"]]
        cell.execution_count = run["execution_count"]
    path = executed / page.file.src_uri
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    page.file.abs_src_path = str(path)
    return page


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
    code = "".join(cell.source + "\n" for cell in code_cells(notebook))
    labels = [ast.literal_eval(literal) for literal in FIGURE_LABEL.findall(code)]
    if html.count(NBCONVERT_ALT) != len(labels):
        raise PluginError(
            f"{page.file.src_uri} shows {html.count(NBCONVERT_ALT)} figures but labels {len(labels)}: "
            'give each figure a label that describes it (plt.subplots(num="...")), its alt text'
        )
    for label in labels:
        html = html.replace(NBCONVERT_ALT, f'alt="{escape(label)}"', 1)
    return html


def on_post_build(config):
    """Delete the outputs of the cache this build did not use, and the temporary folder."""
    cache.forget_unused()
    stop(wait=True)


def on_build_error(error):
    stop(wait=False)
