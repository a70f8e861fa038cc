"""A doctest is shown as a Python session (``pycon``) whose copy button copies the code alone,
as Material copies a ``data-copy`` attribute instead of the text shown. Signatures get none."""

import html
import re

from pages import code_of

DOCTEST_FENCE = re.compile(r"^(?P<indent>[ \t]*)```python(?P<rest>[^\n]*\n(?P=indent)>>>)", re.MULTILINE)
CODE_BLOCK = re.compile(r"(?s)<pre(?P<attrs>[^>]*)>(?P<body>(?:<span></span>)?<code[^>]*>(?P<code>.*?)</code>)</pre>")


def on_page_markdown(markdown, page, config, files):
    return DOCTEST_FENCE.sub(r"\g<indent>```pycon\g<rest>", markdown)


def on_page_content(content, page, config, files):
    def with_copy_text(match):
        text = html.unescape(re.sub(r"<[^>]+>", "", match["code"]))
        if not text.startswith(">>>"):
            return match[0]
        copy = html.escape(code_of(text, catch=False).rstrip("\n"), quote=True)
        return f'<pre{match["attrs"]} data-copy="{copy}">{match["body"]}</pre>'

    content = CODE_BLOCK.sub(with_copy_text, content)
    return content.replace(' doc-signature highlight"', ' doc-signature highlight no-copy"')
