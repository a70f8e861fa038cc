"""Draw the figures of the docs' pages; run by the build hook ``pages.py`` as a process of its own.

Reads a JSON list of ``[page, [code block, ...]]`` on stdin and runs each page's blocks,
in order, in a fresh namespace. For each page it writes one JSON line to stdout: for each
code block, the figures the block left open, as ``[label, base64 PNG]``, or the error
that stopped the page.
"""

import base64
import contextlib
import io
import json
import sys
import traceback

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)


def figures_of(code, page_uri):
    """Run a page's code blocks in a fresh namespace; for each block, its figures as
    (label, PNG bytes)."""
    namespace, figures = {"__name__": "__main__"}, []
    plt.close("all")
    for number, block in enumerate(code, start=1):
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the page's prints are for readers
                exec(compile(block, f"{page_uri}, block {number}", "exec"), namespace)
        except Exception:
            raise RuntimeError(f"{page_uri}: code block {number} failed:\n{traceback.format_exc()}") from None
        block_figures = []
        for num in plt.get_fignums():
            figure = plt.figure(num)
            if not figure.get_label().strip():
                raise RuntimeError(
                    f"{page_uri}: the figure of code block {number} has no label; give it one that "
                    'describes the picture (plt.subplots(num="...")): it becomes the alt text'
                )
            png = io.BytesIO()
            figure.savefig(png, format="png", dpi=100, metadata={"Software": None})
            block_figures.append((figure.get_label(), png.getvalue()))
        plt.close("all")
        figures.append(block_figures)
    return figures


def main():
    for page_uri, code in json.load(sys.stdin):
        try:
            blocks = figures_of(code, page_uri)
            figures = [[(label, base64.b64encode(png).decode()) for label, png in block] for block in blocks]
            print(json.dumps({"page": page_uri, "figures": figures}), flush=True)
        except RuntimeError as error:
            print(json.dumps({"page": page_uri, "error": str(error)}), flush=True)


if __name__ == "__main__":
    main()


