"""Draw the figures of the docs' pages; run by the build hook ``pages.py`` as a process of its own.

Reads a JSON list of ``[page, [code block, ...]]`` on stdin and runs each page's blocks,
in order, in a fresh namespace. For each page it writes one JSON line to stdout: for each
code block, the figures the block left open, as ``[label, light PNG, dark PNG]`` (base64),
or the error that stopped the page.

Each figure is saved twice, for the site's light and dark schemes, on a transparent
background and with the same layout (computed once, for the light one): the dark one has
its titles, labels, ticks, frames and legends recoloured for a dark page, while the data
keep their colours. Lines take colours that a colour-blind reader tells apart and that
stand out on both backgrounds, and a colour map must be one of ``COLOUR_BLIND_SAFE``.
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
from cycler import cycler  # noqa: E402
from matplotlib.colors import same_color  # noqa: E402

# Okabe and Ito's blue, vermillion, bluish green and reddish purple: told apart with any
# colour vision, and at least 3:1 against both the white and the dark page.
plt.rcParams["axes.prop_cycle"] = cycler(color=["#0072B2", "#D55E00", "#009E73", "#CC79A7"])
COLOUR_BLIND_SAFE = {"viridis", "cividis", "magma", "inferno", "plasma", "RdBu", "PuOr", "Greys", "Blues"}
DARK_TEXT = "#dcdfe6"  # close to the dark scheme's text colour
DARK_FRAME = "#1e2129"  # the dark scheme's page colour, behind a legend


def check_colour_maps(figure, where):
    for image in figure.findobj(lambda artist: hasattr(artist, "get_cmap") and artist.get_array() is not None):
        name = image.get_cmap().name.removesuffix("_r")
        if name not in COLOUR_BLIND_SAFE:
            raise RuntimeError(
                f"{where}: the colour map {name!r} is hard to read for colour-blind readers; "
                f"use one of {sorted(COLOUR_BLIND_SAFE)}"
            )


def for_dark_page(figure):
    """Recolour the frame of the data (what matplotlib draws in black by default) for a dark
    page: titles, axis labels, ticks, spines, legends and colorbars. Text drawn on the data
    (``ax.text``) and every colour the page chose keep their colours."""

    def recolour(text):
        if same_color(text.get_color(), "black"):
            text.set_color(DARK_TEXT)

    for text in (figure._suptitle, figure._supxlabel, figure._supylabel):
        if text is not None:
            recolour(text)
    for ax in figure.axes:
        for text in (ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label):
            recolour(text)
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                for line in (tick.tick1line, tick.tick2line):
                    if same_color(line.get_color(), "black"):
                        line.set_color(DARK_TEXT)
                for label in (tick.label1, tick.label2):
                    recolour(label)
            axis.offsetText.set_color(DARK_TEXT)
        for spine in ax.spines.values():
            if same_color(spine.get_edgecolor(), "black"):
                spine.set_edgecolor(DARK_TEXT)
    for legend in [ax.get_legend() for ax in figure.axes] + figure.legends:
        if legend is not None:
            legend.get_frame().set_facecolor(DARK_FRAME)
            legend.get_frame().set_edgecolor(DARK_TEXT)
            for text in [*legend.get_texts(), legend.get_title()]:
                recolour(text)


def png(figure):
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=100, transparent=True, metadata={"Software": None})
    return out.getvalue()


def figures_of(code, page_uri):
    """Run a page's code blocks in a fresh namespace; for each block, its figures as
    (label, light PNG bytes, dark PNG bytes)."""
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
            check_colour_maps(figure, f"{page_uri}, code block {number}")
            light = png(figure)
            figure.set_layout_engine("none")  # the dark copy keeps the light one's layout, computed once
            for_dark_page(figure)
            block_figures.append((figure.get_label(), light, png(figure)))
        plt.close("all")
        figures.append(block_figures)
    return figures


def main():
    for page_uri, code in json.load(sys.stdin):
        try:
            blocks = figures_of(code, page_uri)
            figures = [
                [[label, *(base64.b64encode(image).decode() for image in images)] for label, *images in block]
                for block in blocks
            ]
            print(json.dumps({"page": page_uri, "figures": figures}), flush=True)
        except RuntimeError as error:
            print(json.dumps({"page": page_uri, "error": str(error)}), flush=True)


if __name__ == "__main__":
    main()
