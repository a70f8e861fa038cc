"""The build hooks in docs/hooks/, on small inputs: what a page turns into, which blocks
count, and what the build cache runs again."""

import base64
import contextlib
import io
import json
import logging
import re
import subprocess
import sys
from types import SimpleNamespace

import matplotlib.image
import pytest
from mkdocs.config import load_config
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files, get_files
from mkdocs_jupyter.plugin import NotebookFile
from sitebuild import HOOKS, load_hook
from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser

pages, mathml, copy = load_hook("pages"), load_hook("mathml"), load_hook("copy_buttons")
PAGE = """# A page

Prose with $x$.

```python
import numpy as np
x = np.eye(2)
```

```python
>>> print(x.sum())
2.0
>>> int("two")
Traceback (most recent call last):
...
ValueError: invalid literal for int() with base 10: 'two'

```
"""


def test_a_page_splits_into_prose_and_code_without_prompts():
    pieces = pages.split_page(PAGE)
    assert [kind for kind, _ in pieces] == ["markdown", "code", "code"]
    assert pieces[1][1] == "import numpy as np\nx = np.eye(2)"
    assert ">>>" not in pieces[2][1]
    assert pieces[2][1].startswith('print(x.sum())\ntry:\n    int("two")\n')


def test_a_doctest_that_raises_prints_its_error_in_the_notebook():
    code = pages.code_of(">>> int('two')\nTraceback (most recent call last):\n...\nValueError: nope\n")
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(code, {})
    assert out.getvalue() == "ValueError: invalid literal for int() with base 10: 'two'\n"


def test_the_notebook_installs_selfattn_then_has_one_code_cell_per_block():
    notebook = json.loads(pages.notebook_of(pages.split_page(PAGE), "a-page.md", "1.2.3"))
    kinds = [cell["cell_type"] for cell in notebook["cells"]]
    assert kinds == ["markdown", "code", "markdown", "code", "code"]
    assert '"selfattn==1.2.3"' in "".join(notebook["cells"][1]["source"])
    assert "".join(notebook["cells"][2]["source"]).startswith("# A page")


EXERCISE = """# A page

```python
x = 2
```

**1. Double it.** What does `2 * x` print?

??? success "Solution"

    Four: `x` is 2.

    ```python
    >>> print(2 * x)
    4

    ```

Prose after the exercise.
"""


def test_a_solution_in_a_collapsed_block_becomes_a_cell_and_its_prose_plain_markdown():
    pieces = pages.split_page(EXERCISE)
    assert [kind for kind, _ in pieces] == ["markdown", "code", "markdown", "code", "markdown"]
    assert pieces[3][1] == "print(2 * x)"
    assert "**Solution**\n\nFour: `x` is 2." in pieces[2][1]  # at the margin: not shown as code
    assert "???" not in pieces[2][1] and pieces[4][1] == "Prose after the exercise."


FIGURE_CODE = """Prose.

??? example "Code for this figure"

    ```python
    fig = 1
    ```

    More code prose.

The figure's meaning.

??? success "Solution"

    ```python
    fig = 2
    ```
"""


def test_a_figure_whose_code_is_collapsed_is_shown_below_the_collapsed_code():
    (start, end, _), (start2, end2, _) = pages.python_blocks(FIGURE_CODE)
    indent, at = pages.figure_place(FIGURE_CODE, start, end)
    assert (indent, FIGURE_CODE[at:].splitlines()[0]) == ("", "The figure's meaning.")
    assert "More code prose." in FIGURE_CODE[:at]
    assert pages.figure_place(FIGURE_CODE, start2, end2) == ("    ", end2)  # a solution's: inside


def test_no_hook_shadows_a_module_of_pythons_own():
    """MkDocs puts docs/hooks/ first on sys.path while it loads a hook: a hook named like a
    standard module (``copy.py``) would be imported in its place, by any module that asks."""
    names = {path.stem for path in HOOKS.glob("*.py")}
    assert names and not names & sys.stdlib_module_names, names & sys.stdlib_module_names


BLOCKS = """# Which blocks run

```python
a = 1
```

```pycon
>>> "a pycon block: shown, never run"
```

```py
b = "not python to Sybil either: it wants the word python"
```

1. In a list:

    ```python
    c = 3
    ```

!!! note

    ```python
    >>> print(a + c)
    4

    ```
"""


def test_the_hook_finds_the_blocks_sybil_runs(tmp_path):
    blocks = pages.python_blocks(BLOCKS)
    assert [source for _, _, source in blocks] == ["a = 1\n", "c = 3\n", ">>> print(a + c)\n4\n\n"]
    page = tmp_path / "page.md"
    page.write_text(BLOCKS)
    examples = list(Sybil([PythonCodeBlockParser()]).parse(page))  # as conftest.py collects the docs
    assert [example.start for example in examples] == [start for start, _, _ in blocks[:2]] + [examples[2].start]
    assert blocks[2][0] < examples[2].start < blocks[2][1]  # the doctest's one example is inside the block
    for example in examples:
        example.evaluate()  # and they run, in order, in one namespace


PAGES_TO_DRAW = {
    "good.md": [
        "import matplotlib.pyplot as plt",
        'fig, ax = plt.subplots(num="A diagonal line")\nax.plot([0, 1])',
        "y = 2",
    ],
    "no-label.md": ["import matplotlib.pyplot as plt\nplt.subplots()"],
    "fails.md": ["1 / 0"],
    "jet.md": ["import matplotlib.pyplot as plt", "plt.subplots(num='Jet')[1].imshow([[1]], cmap='jet')"],
}


@pytest.fixture(scope="module")
def drawn():
    """draw_figures.py run on PAGES_TO_DRAW as the build runs it: {page: its line of output}."""
    jobs = json.dumps(list(PAGES_TO_DRAW.items()))
    result = subprocess.run(
        [sys.executable, "-P", HOOKS / "draw_figures.py"], input=jobs, capture_output=True, text=True, check=True
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return {line["page"]: line for line in lines}


def test_a_figure_becomes_a_png_for_each_scheme_with_its_label_as_alt_text(drawn):
    figures = drawn["good.md"]["figures"]
    assert [len(block) for block in figures] == [0, 1, 0]
    label, light, dark = figures[1][0]
    assert label == "A diagonal line"
    light, dark = (matplotlib.image.imread(io.BytesIO(base64.b64decode(png)), format="png") for png in (light, dark))
    assert light.shape == dark.shape and light.shape[0] > 100 and light.shape[1] > 100
    assert light[0, 0, 3] == dark[0, 0, 3] == 0  # transparent: the page shows through
    # the frame (ticks, labels, spines) is dark on the light page and light on the dark page
    drawn_light, drawn_dark = light[..., 3] > 0.5, dark[..., 3] > 0.5
    assert light[drawn_light, :3].mean() < 0.4 < 0.6 < dark[drawn_dark, :3].mean()


def test_a_colour_map_colour_blind_readers_cannot_read_stops_the_page(drawn):
    assert "figures" not in drawn["jet.md"]
    error = drawn["jet.md"]["error"]
    assert "jet.md, code block 2: the colour map 'jet' is hard to read for colour-blind readers" in error


@pytest.mark.parametrize(
    ("page", "error"),
    [("no-label.md", "no-label.md, code block 1: a figure has no label"), ("fails.md", "ZeroDivisionError")],
)
def test_a_figure_without_a_label_or_a_failing_block_stops_the_page(drawn, page, error):
    assert "figures" not in drawn[page]
    assert error in drawn[page]["error"]


def test_a_doctest_is_shown_as_a_session_and_its_copy_button_copies_only_the_code():
    in_a_note = "\n!!! note\n\n    ```python\n    >>> 1\n    1\n    ```\n"
    markdown = copy.on_page_markdown(PAGE + in_a_note, None, None, None)
    assert markdown.count("```pycon\n") == 2 and markdown.count("```python\n") == 1  # the plain block stays Python
    shown = (
        '<div class="language-pycon highlight"><pre><span></span><code><span class="gp">&gt;&gt;&gt; </span>'
        'for i in range(2):\n<span class="gp">... </span>    print(i &lt; 1)\n<span class="gp">...</span>\n'
        "True\nFalse\n</code></pre></div>"
    )
    signature = '<div class="language-python doc-signature highlight"><pre><code>f(x)</code></pre></div>'
    html = copy.on_page_content(shown + signature + "<pre><code>x = 1</code></pre>", None, None, None)
    assert '<pre data-copy="for i in range(2):\n    print(i &lt; 1)">' in html  # prompts and output gone
    assert 'doc-signature highlight no-copy"' in html  # Material draws no copy button there
    assert html.endswith("<pre><code>x = 1</code></pre>")  # what is not a session copies as shown


def test_math_becomes_mathml_on_markdown_and_notebook_pages():
    markdown_page = SimpleNamespace(file=SimpleNamespace(src_uri="page.md"))
    html = '<p>So <span class="arithmatex">\\(a &lt; \\frac{1}{2}\\)</span>.</p><code>$x$</code>'
    out = mathml.on_page_content(html, markdown_page, None, None)
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">' in out
    assert "<mfrac>" in out and "<mo>&#x0003C;</mo>" in out and "\\frac" not in out
    assert out.endswith("<code>$x$</code>")  # dollars outside notebook Markdown are left alone

    notebook_page = SimpleNamespace(file=SimpleNamespace(src_uri="journey.ipynb"))
    html = '<div class="jp-RenderedMarkdown">Inline $x^2$ and $$\\sqrt{y}$$</div><pre>$HOME</pre>'
    out = mathml.on_page_content(html, notebook_page, None, None)
    assert out.count("<math") == 2 and 'display="block"' in out and "<msqrt>" in out
    assert out.endswith("<pre>$HOME</pre>")


def test_aligned_rows_become_a_table_and_math_a_browser_cannot_draw_stops_the_build():
    out = mathml.mathml("\\begin{aligned} a &= b + c \\\\ d &amp;= e \\end{aligned}", display=True)
    assert out.count("<mtr>") == 2 and out.count('<mtd columnalign="right"><mi>') == 2, out
    assert "<mi>&</mi>" not in out and "linebreak" not in out
    page = SimpleNamespace(file=SimpleNamespace(src_uri="page.md"))
    broken = '<div class="arithmatex">\\[a = 1 \\\\ b = 2\\]</div>'  # a line break outside a table
    with pytest.raises(PluginError, match="page.md: a formula browsers cannot draw"):
        mathml.on_page_content(broken, page, None, None)


SITE = "https://example.org/docs/"
FILES = Files([File(uri, "docs", "site", True) for uri in ("index.md", "masks.md", "qkv.md", "assets/d.svg")])
FILES.append(NotebookFile(File("journey.ipynb", "docs", "site", True), use_directory_urls=True, site_dir="site"))


@pytest.mark.parametrize(
    ("target", "page", "address"),
    [
        ("masks.md#4-padding-masks", "qkv.md", SITE + "masks/#4-padding-masks"),
        ("../masks.md", "api/attention.md", SITE + "masks/"),
        ("index.md", "qkv.md", SITE),
        ("journey.ipynb", "qkv.md", SITE + "journey/"),
        ("#exercises", "qkv.md", "#exercises"),
        ("https://arxiv.org/abs/1706.03762", "qkv.md", "https://arxiv.org/abs/1706.03762"),
    ],
)
def test_a_notebook_links_to_the_published_site(target, page, address):
    assert pages.published(target, page, FILES, SITE) == address


def test_a_diagram_becomes_an_image_on_the_published_site_with_its_title_as_alt_text(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "d.svg").write_text('<svg><title id="t">A & B</title></svg>')
    cell = 'See [masks](masks.md).\n\n<figure>\n--8<-- "assets/d.svg"\n</figure>'
    out = pages.for_notebook(cell, "qkv.md", FILES, {"docs_dir": tmp_path, "site_url": SITE})
    assert out == f'See [masks]({SITE}masks/).\n\n<figure>\n<img src="{SITE}assets/d.svg" alt="A &amp; B">\n</figure>'


# -- the build cache -------------------------------------------------------------------

DRAWING_PAGE = """# {title}

```python
import matplotlib.pyplot as plt
{code}
```
"""
FAKE_DRAWING = """import base64, json, sys
png = base64.b64encode(b"png").decode()
for page, code in json.load(sys.stdin):
    print(json.dumps({"page": page, "figures": [[["A figure", png, png]] for _ in code]}))
"""


@pytest.fixture
def build(tmp_path, monkeypatch, caplog):
    """A small site: two pages that draw, the second from a data file, a ``selfattn/`` of its
    own, its build cache in ``cache/``, and a drawing process that draws nothing. Returns a
    function that sends the pages hook MkDocs' events as a build does and returns the pages
    it asked to draw."""
    for path, text in {
        "mkdocs.yml": json.dumps({"site_name": "A small site", "plugins": [], "hooks": [str(HOOKS / "pages.py")]}),
        "selfattn/__init__.py": "ONE = 1\n",
        "docs/a.md": DRAWING_PAGE.format(title="Page a", code="x = 1"),
        "docs/b.md": DRAWING_PAGE.format(title="Page b", code='x = open("data.json").read()'),
        "docs/data.json": "[1]",
        "draw.py": FAKE_DRAWING,
    }.items():
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_text(text)
    monkeypatch.setenv("SELFATTN_BUILD_CACHE", str(tmp_path / "cache"))
    caplog.set_level(logging.INFO, logger="mkdocs.hooks.pages")

    def run():
        config = load_config(str(tmp_path / "mkdocs.yml"))
        monkeypatch.setattr(config.hooks[str(HOOKS / "pages.py")], "DRAW_FIGURES", tmp_path / "draw.py")
        caplog.clear()
        files = config.plugins.on_files(get_files(config), config=config)
        for file in files.documentation_pages():
            page = SimpleNamespace(file=file)
            markdown = config.plugins.on_page_markdown(file.content_string, page=page, config=config, files=files)
            assert "-light.png#only-light)" in markdown and "-dark.png#only-dark)" in markdown
        config.plugins.on_post_build(config=config)
        drawing = re.search(r"Drawing the figures of (.*) \(not in the build cache\)", caplog.text)
        return drawing[1].split(", ") if drawing else []

    return run


def test_figures_are_drawn_again_only_when_the_code_that_draws_them_changes(build, tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    assert build() == ["a.md", "b.md"]
    assert build() == []  # nothing changed
    (docs / "a.md").write_text(DRAWING_PAGE.format(title="Page a, reworded", code="x = 1"))
    assert build() == []  # prose
    (docs / "a.md").write_text(DRAWING_PAGE.format(title="Page a", code="x = 2"))
    assert build() == ["a.md"]  # code: that page only
    (docs / "data.json").write_text("[2]")
    assert build() == ["b.md"]  # the data a page reads
    (tmp_path / "selfattn" / "__init__.py").write_text("ONE = 1.0\n")
    assert build() == ["a.md", "b.md"]  # selfattn: every page
    assert len(json.loads((tmp_path / "cache" / "figures.json").read_text())) == 2  # one result per page
    monkeypatch.setenv("SELFATTN_BUILD_CACHE", "off")  # as the tests build the site
    assert build() == build() == ["a.md", "b.md"]
