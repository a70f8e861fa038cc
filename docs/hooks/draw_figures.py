"""Reads ``[[page, [code block, ...]], ...]`` (JSON) from ``pages.py``; prints a JSON line for each
page: its error, or for each block the figures it left open as ``[label, light PNG, dark PNG]``."""

import base64
import contextlib
import io
import json
import sys
import traceback

import matplotlib.pyplot as plt
from matplotlib.colors import same_color
from matplotlib.text import Text

plt.switch_backend("Agg")
plt.rcParams["axes.prop_cycle"] = plt.cycler(color=["#0072B2", "#D55E00", "#009E73", "#CC79A7"])  # Okabe-Ito
COLOUR_BLIND_SAFE = {"viridis", "cividis", "magma", "inferno", "plasma", "RdBu", "PuOr", "Greys", "Blues"}
DARK_TEXT = "#dcdfe6"  # close to the dark scheme's text colour
DARK_FRAME = "#1e2129"  # the dark scheme's page colour, behind a legend


def for_dark_page(figure):
    """Recolour what is black around the data (not ``ax.text`` on it) for a dark page."""
    on_data = {id(text) for ax in figure.axes for text in ax.texts}
    frame = [text for text in figure.findobj(Text) if id(text) not in on_data]
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            frame += [*axis.get_ticklines(), *axis.get_ticklines(minor=True)]
        for spine in ax.spines.values():
            if same_color(spine.get_edgecolor(), "black"):
                spine.set_edgecolor(DARK_TEXT)
    for artist in frame:
        if same_color(artist.get_color(), "black"):
            artist.set_color(DARK_TEXT)
    for legend in [ax.get_legend() for ax in figure.axes] + figure.legends:
        if legend is not None:
            legend.get_frame().set(facecolor=DARK_FRAME, edgecolor=DARK_TEXT)


def png(figure):
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=100, transparent=True, metadata={"Software": None})
    return base64.b64encode(out.getvalue()).decode()


def figures_of(page, code):
    namespace, figures = {"__name__": "__main__"}, []
    plt.close("all")
    for number, block in enumerate(code, start=1):
        where = f"{page}, code block {number}"
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the page's prints are for readers
                exec(compile(block, where, "exec"), namespace)
        except Exception:
            raise RuntimeError(f"{where} failed:\n{traceback.format_exc()}") from None
        figures.append([both_schemes(figure, where) for figure in map(plt.figure, plt.get_fignums())])
        plt.close("all")
    return figures


def both_schemes(figure, where):
    """A labelled figure with colour-blind-safe maps as ``[label, light, dark]``, one layout."""
    if not figure.get_label().strip():
        raise RuntimeError(f'{where}: a figure has no label; give it one that describes it (num="..."), its alt text')
    mapped = figure.findobj(lambda artist: hasattr(artist, "get_cmap") and artist.get_array() is not None)
    maps = {artist.get_cmap().name.removesuffix("_r") for artist in mapped}
    if maps - COLOUR_BLIND_SAFE:
        raise RuntimeError(
            f"{where}: the colour map {min(maps - COLOUR_BLIND_SAFE)!r} is hard to read for colour-blind "
            f"readers; use one of {sorted(COLOUR_BLIND_SAFE)}"
        )
    light = png(figure)
    figure.set_layout_engine("none")
    for_dark_page(figure)
    return [figure.get_label(), light, png(figure)]


for page, code in json.load(sys.stdin):
    try:
        print(json.dumps({"page": page, "figures": figures_of(page, code)}), flush=True)
    except RuntimeError as error:
        print(json.dumps({"page": page, "error": str(error)}), flush=True)
