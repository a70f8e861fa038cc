"""The build hooks in docs/hooks/, on small inputs: what a page turns into."""

import base64
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import matplotlib.image
import pytest

HOOKS = Path(__file__).resolve().parent.parent / "docs" / "hooks"


def load(name):
    spec = importlib.util.spec_from_file_location(f"hooks_{name}", HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pages, mathml = load("pages"), load("mathml")
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
    assert pieces[2][1].startswith("print(x.sum())\ntry:\n    int(\"two\")\n")


def test_a_doctest_that_raises_prints_its_error_in_the_notebook():
    code = pages.code_of(">>> int('two')\nTraceback (most recent call last):\n...\nValueError: nope\n")
    out = io.StringIO()
    sys.stdout, saved = out, sys.stdout
    try:
        exec(code, {})
    finally:
        sys.stdout = saved
    assert out.getvalue() == "ValueError: invalid literal for int() with base 10: 'two'\n"


def test_the_notebook_has_one_code_cell_per_block():
    notebook = json.loads(pages.notebook_of(pages.split_page(PAGE), "a-page.md"))
    kinds = [cell["cell_type"] for cell in notebook["cells"]]
    assert kinds == ["markdown", "markdown", "code", "code"]
    assert "".join(notebook["cells"][1]["source"]).startswith("# A page")


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


PAGES_TO_DRAW = {
    "good.md": [
        "import matplotlib.pyplot as plt",
        'fig, ax = plt.subplots(num="A diagonal line")\nax.plot([0, 1])',
        "y = 2",
    ],
    "no-label.md": ["import matplotlib.pyplot as plt\nplt.subplots()"],
    "fails.md": ["1 / 0"],
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


def test_a_figure_becomes_a_png_with_its_label_as_alt_text(drawn):
    figures = drawn["good.md"]["figures"]
    assert [len(block) for block in figures] == [0, 1, 0]
    label, png = figures[1][0]
    assert label == "A diagonal line"
    image = matplotlib.image.imread(io.BytesIO(base64.b64decode(png)), format="png")
    assert image.shape[0] > 100 and image.shape[1] > 100


@pytest.mark.parametrize(
    ("page", "error"),
    [("no-label.md", "no-label.md: the figure of code block 1 has no label"), ("fails.md", "ZeroDivisionError")],
)
def test_a_figure_without_a_label_or_a_failing_block_stops_the_page(drawn, page, error):
    assert "figures" not in drawn[page]
    assert error in drawn[page]["error"]


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


SITE = "https://example.org/docs/"


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
    assert pages.published(target, page, SITE) == address


def test_a_diagram_becomes_an_image_on_the_published_site_with_its_title_as_alt_text(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "d.svg").write_text('<svg><title id="t">A & B</title></svg>')
    cell = 'See [masks](masks.md).\n\n<figure>\n--8<-- "assets/d.svg"\n</figure>'
    out = pages.for_notebook(cell, "qkv.md", SITE, tmp_path)
    assert out == f'See [masks]({SITE}masks/).\n\n<figure>\n<img src="{SITE}assets/d.svg" alt="A &amp; B">\n</figure>'
