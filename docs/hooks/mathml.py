"""Render TeX as MathML when the site is built, so formulas need no script, font or CDN.

Markdown pages write ``$...$`` and ``$$...$$``; ``pymdownx.arithmatex`` (generic mode)
wraps them as ``<span class="arithmatex">\\(...\\)</span>`` and
``<div class="arithmatex">\\[...\\]</div>``. Notebook pages reach us as HTML from
mkdocs-jupyter with the dollars still in their Markdown cells. Both become MathML, which
browsers draw natively.
"""

import html
import re

from latex2mathml.converter import convert
from mkdocs.exceptions import PluginError

ARITHMATEX = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">\s*\\(?P<open>[(\[])(?P<tex>.*?)\\[)\]]\s*</(?P=tag)>',
    re.DOTALL,
)
NOTEBOOK_MARKDOWN = re.compile(r'(<div class="[^"]*jp-RenderedMarkdown[^"]*"[^>]*>)(.*?)(</div>)', re.DOTALL)
# mkdocs-jupyter's MathJax loader, whose URL is empty: nothing to load, so drop it.
MATHJAX_LOADER = re.compile(
    r'<!-- Load mathjax -->\s*<script src="">\s*</script>\s*'
    r'<!-- MathJax configuration -->\s*<script type="text/x-mathjax-config">.*?</script>',
    re.DOTALL,
)
DOLLARS = re.compile(r"\$\$(?P<block>.+?)\$\$|\$(?P<inline>[^$\n]+?)\$", re.DOTALL)
ALIGNED = re.compile(r"\\begin\{aligned\}(?P<rows>.*?)\\end\{aligned\}", re.DOTALL)
# What latex2mathml writes for TeX that browsers cannot lay out: an alignment mark left as
# a letter, a line break that MathML Core does not draw.
UNDRAWN = re.compile(r"<mi>&</mi>|linebreak=")


def as_array(match):
    """``aligned`` as the ``array`` it lays out: columns aligned right, left, right, ...
    (latex2mathml writes ``aligned`` on one line with its ``&`` shown)."""
    columns = 1 + max(len(re.findall(r"(?<!\\)&", row)) for row in match["rows"].split("\\\\"))
    return "\\begin{array}{" + ("rl" * columns)[:columns] + "}" + match["rows"] + "\\end{array}"


def mathml(tex, display):
    """MathML for one formula; ``tex`` may hold HTML entities from the page. A formula the
    browser could not draw as written stops the build."""
    tex = ALIGNED.sub(as_array, html.unescape(tex).strip())
    out = convert(tex, display="block" if display else "inline")
    if UNDRAWN.search(out):
        raise PluginError(f"a formula browsers cannot draw as written (use an array for rows): {tex[:200]}")
    return out


def on_page_content(content, page, config, files):
    try:
        content = ARITHMATEX.sub(lambda m: mathml(m["tex"], m["open"] == "["), content)
        if page.file.src_uri.endswith(".ipynb"):
            content = MATHJAX_LOADER.sub("", content)
            content = NOTEBOOK_MARKDOWN.sub(
                lambda m: (
                    m[1] + DOLLARS.sub(lambda d: mathml(d["block"] or d["inline"], d["block"] is not None), m[2]) + m[3]
                ),
                content,
            )
    except PluginError as error:
        raise PluginError(f"{page.file.src_uri}: {error}") from None
    return content
