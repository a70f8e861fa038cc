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


def mathml(tex, display):
    """MathML for one formula; ``tex`` may hold HTML entities from the page."""
    return convert(html.unescape(tex).strip(), display="block" if display else "inline")


def on_page_content(content, page, config, files):
    content = ARITHMATEX.sub(lambda m: mathml(m["tex"], m["open"] == "["), content)
    if page.file.src_uri.endswith(".ipynb"):
        content = MATHJAX_LOADER.sub("", content)
        content = NOTEBOOK_MARKDOWN.sub(
            lambda m: (
                m[1] + DOLLARS.sub(lambda d: mathml(d["block"] or d["inline"], d["block"] is not None), m[2]) + m[3]
            ),
            content,
        )
    return content
