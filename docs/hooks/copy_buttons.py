"""What the copy buttons copy: code that runs when pasted.

1. A ```python block that is a doctest (its first line starts with ``>>>``) is shown as a
   Python session (the ``pycon`` lexer: prompts and printed output in the output colour)
   instead of as Python, where ``>>>`` would read as an operator. Sybil still reads the
   ```python fence in the source.
2. The copy button of such a block, on Markdown and API pages alike, copies only the code:
   prompts and printed output removed, ``...`` continuation lines kept as code, as
   sphinx-copybutton does on numpy's and scipy's sites. Material copies an ancestor's
   ``data-copy`` attribute, when there is one, instead of the text shown, so the build
   writes the code there and the page needs no script of ours.
3. A function's signature on an API page gets no copy button (Material's ``no-copy``): it
   is not code to run.

``tests/test_browser.py`` clicks every copy button of every page and runs what it copied.
"""

import html
import re

from pages import code_of

DOCTEST_FENCE = re.compile(r"^(?P<indent>[ \t]*)```python(?P<rest>[^\n]*\n(?P=indent)>>>)", re.MULTILINE)
CODE_BLOCK = re.compile(
    r"<pre(?P<attrs>[^>]*)>(?P<body>(?:<span></span>)?<code[^>]*>(?P<code>.*?)</code>)</pre>", re.DOTALL
)
TAG = re.compile(r"<[^>]+>")


def on_page_markdown(markdown, page, config, files):
    return DOCTEST_FENCE.sub(r"\g<indent>```pycon\g<rest>", markdown)


def on_page_content(content, page, config, files):
    def with_copy_text(match):
        text = html.unescape(TAG.sub("", match["code"]))
        if not text.startswith(">>>"):
            return match[0]
        copy = html.escape(code_of(text, catch=False).rstrip("\n"), quote=True)
        return f'<pre{match["attrs"]} data-copy="{copy}">{match["body"]}</pre>'

    content = CODE_BLOCK.sub(with_copy_text, content)
    return content.replace(' doc-signature highlight"', ' doc-signature highlight no-copy"')
