"""TeX as MathML, which browsers draw with no script: ``pymdownx.arithmatex``'s on Markdown
pages, in dollars in a notebook page's Markdown cells."""

import html
import re

from latex2mathml.converter import convert
from mkdocs.exceptions import PluginError

ARITHMATEX = re.compile(r'(?s)<(span|div) class="arithmatex">\s*\\(?P<open>[(\[])(?P<tex>.*?)\\[)\]]\s*</\1>')
NOTEBOOK_MARKDOWN = re.compile(r'(<div class="[^"]*jp-RenderedMarkdown[^"]*"[^>]*>)(.*?)(</div>)', re.DOTALL)
DOLLARS = re.compile(r"\$\$(?P<block>.+?)\$\$|\$(?P<inline>[^$\n]+?)\$", re.DOTALL)
MATHJAX = re.compile(r"(?s)<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->")  # nbconvert's
ALIGNED = re.compile(r"\\begin\{aligned\}(?P<rows>.*?)\\end\{aligned\}", re.DOTALL)
# latex2mathml's output browsers cannot lay out: an alignment mark as a letter, a line break.
UNDRAWN = re.compile(r"<mi>&</mi>|linebreak=")


def as_array(match):
    """``aligned`` (which latex2mathml writes on one line) as the ``array`` it lays out."""
    columns = 1 + max(len(re.findall(r"(?<!\\)&", row)) for row in match["rows"].split("\\\\"))
    return "\\begin{array}{" + ("rl" * columns)[:columns] + "}" + match["rows"] + "\\end{array}"


def mathml(tex, display):
    tex = ALIGNED.sub(as_array, html.unescape(tex).strip())
    out = convert(tex, display="block" if display else "inline")
    if UNDRAWN.search(out):
        raise PluginError(f"a formula browsers cannot draw as written (use an array for rows): {tex[:200]}")
    return out


def on_page_content(content, page, config, files):
    def in_dollars(match):
        return DOLLARS.sub(lambda d: mathml(d["block"] or d["inline"], d["block"] is not None), match[2])

    try:
        content = ARITHMATEX.sub(lambda m: mathml(m["tex"], m["open"] == "["), content)
        if page.file.src_uri.endswith(".ipynb"):
            content = MATHJAX.sub("", content)
            content = NOTEBOOK_MARKDOWN.sub(lambda m: m[1] + in_dollars(m) + m[3], content)
    except PluginError as error:
        raise PluginError(f"{page.file.src_uri}: {error}") from None
    return content
