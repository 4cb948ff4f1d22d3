"""House-style charts: one function per chart, each returns a Figure drawn from the facts.

Colour-blind-safe (Okabe-Ito), readable in black and white (hatching / markers carry the
meaning as well as colour); CJK labels via Noto Sans CJK. Draw inside ``house_style(lang)`` and write
the SVGs with :func:`to_svgs` (one drawing, every language).
"""
from __future__ import annotations

import functools
import io
import re
from xml.sax.saxutils import escape

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.backends.backend_mixed import MixedModeRenderer  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.backends.backend_svg import RendererSVG  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.textpath import text_to_path  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullLocator  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

BLUE, ORANGE, GREEN, GREY, RED = "#0072B2", "#E69F00", "#009E73", "#7f7f7f", "#D55E00"
STYLE = {
    "font.size": 8.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "axes.titleweight": "bold",
    "axes.titlesize": 9.5,
    "axes.titlelocation": "left",
    "axes.titley": 1.0,  # a fixed title position: no search for overlapping top-axis labels (there are none) on every draw
    "svg.fonttype": "none",  # text stays text: small, selectable SVG; fonts are embedded (subset) in the PDF
    "svg.hashsalt": "nightdesk",  # stable clip-path ids: the same facts give the same SVG bytes
}
SIZE = (6.4, 2.6)
FONTS = {"zh-Hans": ["Noto Sans CJK SC", "DejaVu Sans"]}  # Simplified glyph forms; every other edition uses TC
DEFAULT_FONTS = ["Noto Sans CJK TC", "DejaVu Sans"]


def house_style(lang: str):
    """Context manager with the house style and the edition's fonts; draw and save charts inside it."""
    return plt.rc_context({**STYLE, "font.family": fonts(lang)})



def _fig() -> tuple[Figure, plt.Axes]:
    fig = Figure(figsize=SIZE, dpi=100)  # not pyplot: no figure manager to register and close
    return fig, fig.add_subplot()


def _bars(ax, x0: np.ndarray, x1: np.ndarray, y0: np.ndarray, y1: np.ndarray, *, sticky_x: float | None = None, **style) -> PolyCollection:
    """Rectangles ``[x0, x1] x [y0, y1]`` as one collection (over the grid, as bars are).

    One artist instead of a patch per bar draws in about half the time (60 bars: 0.14 -> 0.07 s).
    ``sticky_x``: an x the autoscaling margin must not pass (the bars' base, as for ``barh``).
    """
    quads = np.stack([np.column_stack([x0, y0]), np.column_stack([x0, y1]), np.column_stack([x1, y1]), np.column_stack([x1, y0])], axis=1)
    coll = PolyCollection(quads, zorder=2, **style)
    if sticky_x is not None:
        coll.sticky_edges.x.append(sticky_x)
    ax.add_collection(coll)
    ax.autoscale_view()
    return coll


def _source(fig: Figure, text: str) -> None:
    fig.text(0.0, -0.04, text, fontsize=6.5, color=GREY, ha="left", va="top", transform=fig.transFigure)


def ls_cumulative(dates: list[str], cum_pct: list[float], labels: dict, ax=None) -> Figure:
    """Cumulative L/S with the last day marked."""
    fig, ax = _fig() if ax is None else (ax.figure, ax)
    x = np.array(dates, dtype="datetime64[D]")
    ax.plot(x, cum_pct, color=BLUE, lw=1.3)
    ax.plot(x[-1], cum_pct[-1], marker="o", ms=6, color=RED, mec="black")
    # right of the marker: the line's last weeks run up to it from the left, so a label above or left of it sits on the line
    ax.annotate(labels["today"], (x[-1], cum_pct[-1]), xytext=(7, -2.5), textcoords="offset points", fontsize=7.5)  # baseline-anchored: the same spot in every language
    ax.set_title(labels["ls_cum"])
    ax.axhline(0, color=GREY, lw=0.8)
    return fig


def ls_distribution(edges: list[float], counts: list[int], today_pct: float, title: str, labels: dict, ax=None) -> Figure:
    """Histogram of daily L/S moves with today's move marked."""
    fig, ax = _fig() if ax is None else (ax.figure, ax)
    e, c = np.asarray(edges, dtype=float), np.asarray(counts, dtype=float)
    _bars(ax, e[:-1], e[1:], 0 * c, c, facecolors=BLUE, alpha=0.8, edgecolors="white", linewidths=0.3)
    ax.set_yscale("log")
    ax.set_ylim(0.7, None)  # counts: nothing below one day
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))  # 1, 10, 1,000: no exponents to typeset
    ax.yaxis.set_minor_locator(NullLocator())
    ax.axvline(today_pct, color=RED, lw=1.8, ls="--")
    ax.annotate(labels["today"], (today_pct, max(counts) / 3), xytext=(5, 0), textcoords="offset points", fontsize=7.5)
    ax.set_title(title)
    return fig


def forward_paths(q25: list[float], med: list[float], q75: list[float], labels: dict, ax=None) -> Figure:
    """Median and inter-quartile band of L/S paths after past events."""
    fig, ax = _fig() if ax is None else (ax.figure, ax)
    x = np.arange(len(med))
    ax.fill_between(x, q25, q75, color=BLUE, alpha=0.2, hatch="///", edgecolor=BLUE, lw=0)
    ax.plot(x, med, color=BLUE, lw=1.6)
    ax.axhline(0, color=GREY, lw=0.8)
    ax.set_xlabel(labels["sessions"])
    ax.set_title(labels["fwd"])
    return fig


def group_bars(names: list[str], values: list[float], title: str, ax=None) -> Figure:
    """Horizontal bars sorted by value; negatives hatched so they read in grey print."""
    fig, ax = _fig() if ax is None else (ax.figure, ax)
    fig.set_size_inches(6.4, 0.22 * len(names) + 0.8)
    order = np.argsort(values)
    v = np.asarray(values)[order]
    y = np.arange(len(v))  # positions, not category strings: two groups with one name must stay two bars
    for sel, style in ((v >= 0, {"facecolors": GREEN}), (v < 0, {"facecolors": RED, "hatch": "////"})):
        if sel.any():
            _bars(ax, 0 * v[sel], v[sel], y[sel] - 0.4, y[sel] + 0.4, edgecolors="black", linewidths=0.3, sticky_x=0.0, **style)
    ax.set_yticks(y, [names[i] for i in order])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_title(title)
    ax.grid(axis="y", visible=False)
    return fig


def scenario_curve(moves_pct: list[float], flow_usd: list[float], labels: dict, ax=None) -> Figure:
    """LETF flow (USD bn) against a uniform underlying move."""
    fig, ax = _fig() if ax is None else (ax.figure, ax)
    ax.plot(moves_pct, np.asarray(flow_usd) / 1e9, color=BLUE, marker="o")
    ax.axhline(0, color=GREY, lw=0.8)
    ax.axvline(0, color=GREY, lw=0.8)
    ax.set_xlabel(labels["move"])
    ax.set_title(labels["scen"])
    return fig


def intensity_history(dates: list[str], retail: list[float], inst: list[float], labels: dict, ax=None) -> Figure:
    """Retail and institutional net intensity over the past year, today marked."""
    fig, ax = _fig() if ax is None else (ax.figure, ax)
    x = np.array(dates, dtype="datetime64[D]")
    ax.plot(x, retail, color=ORANGE, lw=1.0, label=labels["retail"])
    ax.plot(x, inst, color=BLUE, lw=1.0, ls="--", label=labels["inst"])
    ax.plot(x[-1], retail[-1], marker="o", color=ORANGE, mec="black")
    ax.plot(x[-1], inst[-1], marker="s", color=BLUE, mec="black")
    ax.axhline(0, color=GREY, lw=0.8)
    ax.legend(frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, borderaxespad=0.1)  # above the plot: the series fill it
    ax.set_title(labels["flows"])
    return fig


def sector_heatmap(names: list[str], table: list[list[float]], columns: list[str], title: str, ax=None) -> Figure:
    """Sector returns (rows) over day / 5d / 20d (columns), values printed in each cell."""
    fig, ax = _fig() if ax is None else (ax.figure, ax)
    fig.set_size_inches(6.4, 0.24 * len(names) + 0.9)
    data = np.asarray(table, dtype=float)
    lim = np.nanmax(np.abs(data)) or 1.0
    ax.imshow(data, cmap="PuOr", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(columns)), columns)
    ax.set_yticks(range(len(names)), names)
    ax.grid(False)
    for (i, j), v in np.ndenumerate(data):
        ax.text(j, i, f"{v:+.1f}", ha="center", va="center", fontsize=7, color="black" if abs(v) < 0.6 * lim else "white")
    ax.set_title(title)
    return fig


def breadth_history(dates: list[str], breadth_pct: list[float], title: str, ax=None) -> Figure:
    """Share of members beating the index over the past year, 20-day average, today marked."""
    fig, ax = _fig() if ax is None else (ax.figure, ax)
    x = np.array(dates, dtype="datetime64[D]")
    y = np.asarray(breadth_pct, dtype=float)
    avg = np.convolve(y, np.ones(20) / 20, mode="valid")
    ax.plot(x, y, color=GREY, lw=0.6)
    ax.plot(x[19:], avg, color=BLUE, lw=1.4)
    ax.plot(x[-1], y[-1], marker="o", color=RED, mec="black")
    ax.axhline(50, color="black", lw=0.8, ls=":")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    return fig


def timing_bars(buckets: list[str], retail: list[float], inst: list[float], labels: dict, ax=None) -> Figure:
    """Share of the day's net flow per intraday bucket, retail vs institutions (hatched)."""
    fig, ax = _fig() if ax is None else (ax.figure, ax)
    x = np.arange(len(buckets))
    ax.bar(x - 0.2, retail, width=0.4, color=ORANGE, edgecolor="black", lw=0.3, label=labels["retail"])
    ax.bar(x + 0.2, inst, width=0.4, color=BLUE, edgecolor="black", lw=0.3, hatch="///", label=labels["inst"])
    ax.set_xticks(x, buckets)
    ax.legend(frameon=False, ncol=2)
    ax.set_title(labels["timing"])
    return fig


SVG_DPI = 72  # SVG user units are points
_TEXT_NODE = re.compile(r"(<text\b[^>]*>)([^<]*)(</text>)")


def fonts(lang: str) -> list[str]:
    """Font families of an edition's charts."""
    return FONTS.get(lang, DEFAULT_FONTS)


def to_svgs(fig: Figure, sources: dict[str, str], labels: dict[str, dict[str, str]], families: dict[str, list[str]],
            *, prefix: str, base: str) -> dict[str, str]:
    """One drawing of ``fig``, written out in several languages.

    The figure is drawn once, in ``base``'s language, into an SVG renderer. Text stays text
    (``svg.fonttype: none``) and each ``<text>`` is placed by its anchor and alignment, so the
    other languages are the same drawing with each label swapped (``labels[lang]``: base string ->
    string) and the font family changed. Matplotlib's layout does not depend on label widths
    here (fixed axes, no tight layout); what does is the crop, so the viewBox is the union of the
    tight box of every language's labels, measured with that language's font. All languages
    of a chart are therefore the same size, which keeps the bilingual edition aligned.

    A language whose labels would change the layout (a multi-column legend entry growing) is left
    out of the result: draw it on its own.

    Parameters
    ----------
    sources : dict
        lang -> source line under the chart (``base``'s is drawn).
    labels : dict
        lang -> {base label: label}; ``{}`` for ``base``.
    families : dict
        lang -> font family list of that language.
    prefix : str
        Id prefix (several charts share a page); ``-<lang>`` is appended.

    Returns
    -------
    dict
        lang -> SVG text. No timestamp is written: the same facts give the same bytes.
    """
    _source(fig, sources[base])
    image_dpi = fig.dpi
    fig.set_dpi(SVG_DPI)
    w_in, h_in = fig.get_size_inches()
    w_pt, h_pt = w_in * SVG_DPI, h_in * SVG_DPI
    buf = io.StringIO()
    svg_renderer = _TextRecordingSVG(w_pt, h_pt, buf, image_dpi=image_dpi, metadata={"Date": None})
    renderer = MixedModeRenderer(fig, w_in, h_in, image_dpi, svg_renderer)
    fig.draw(renderer)
    legends = [leg for leg in [*(ax.get_legend() for ax in fig.axes), *fig.legends] if leg is not None]
    texts = list(dict.fromkeys(svg_renderer.texts))  # drawn, in order (a tick label outside the view is not)
    extents = {id(t): t.get_window_extent(renderer) for t in texts if t is not None}
    boxes = [_drawn_box(fig, renderer, texts, extents, legends)]
    langs = list(sources)
    tables = {lang: {**labels[lang], sources[base]: sources[lang]} for lang in langs}
    in_columns = {id(t) for leg in legends if getattr(leg, "_ncols", 1) > 1 for t in leg.get_texts()}  # may not grow
    for lang in list(langs):
        for t in texts:
            new = None if t is None else tables[lang].get(t.get_text())
            if new is None or new == t.get_text():
                continue
            box = _swapped_extent(t, new, families[lang], extents[id(t)], svg_renderer.fonts_key, may_grow=id(t) not in in_columns)
            if box is None:
                langs.remove(lang)
                break
            boxes.append(box)
    renderer.finalize()
    pad_pt = plt.rcParams["savefig.pad_inches"] * SVG_DPI
    crop = Bbox.union(boxes).padded(pad_pt)
    svg = _crop(buf.getvalue(), crop, w_pt, h_pt)
    out = {}
    for lang in langs:
        table = {escape(k): escape(v) for k, v in tables[lang].items()}
        text = _TEXT_NODE.sub(lambda m: m.group(1) + table.get(m.group(2), m.group(2)) + m.group(3), svg) if lang != base else svg
        for old, new in zip(families[base], families[lang]):  # every font-family in the SVG, mathtext spans included
            if old != new:
                text = text.replace(f"'{old}'", f"'{new}'")
        p = f"{prefix}-{lang}"
        out[lang] = text.replace('id="', f'id="{p}-').replace('href="#', f'href="#{p}-').replace("url(#", f"url(#{p}-")
    return out


class _TextRecordingSVG(RendererSVG):
    """matplotlib's SVG renderer, keeping the :class:`~matplotlib.text.Text` artists it draws
    (``None`` for a line of a multi-line text, which matplotlib does not pass)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.texts: list[Text | None] = []
        self.fonts_key = tuple((k, str(v)) for k, v in plt.rcParams.items() if k.startswith(("font.", "mathtext.")))

    def get_text_width_height_descent(self, s, prop, ismath):
        # matplotlib caches text metrics per renderer, and every chart has a renderer of its own
        return _text_metrics(s, prop.copy(), ismath, self.fonts_key)

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        self.texts.append(mtext)
        super().draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)


@functools.lru_cache(maxsize=16384)
def _text_metrics(s: str, prop: FontProperties, ismath: bool | str, fonts_key: tuple) -> tuple[float, float, float]:
    """Width, height and descent (points) of ``s`` as the SVG renderer measures it, memoised
    across charts and dates: tick labels, titles and legends repeat, and laying out CJK text
    with FreeType was a quarter of the charts' drawing time. ``fonts_key``: the font settings
    in force, which decide the font a family list resolves to."""
    return text_to_path.get_text_width_height_descent(s, prop, ismath)


def _drawn_box(fig: Figure, renderer, texts: list[Text | None], extents: dict[int, Bbox], legends: list) -> Bbox:
    """Display box (points) of what a draw put on the page: the axes, legends and drawn texts.

    The same box as ``fig.get_tightbbox`` (checked on every chart of the sample) without its
    second pass over the ticks and axis labels, which cost more than the drawing of the text:
    every other artist of the house charts is clipped to its axes. A multi-line text (not
    recorded) falls back to ``fig.get_tightbbox``.
    """
    if None in texts:
        return Bbox(fig.get_tightbbox(renderer).get_points() * SVG_DPI)
    boxes = [ax.bbox for ax in fig.axes if ax.get_visible()] + [leg.get_window_extent(renderer) for leg in legends]
    return Bbox.union(boxes + list(extents.values()))


def _swapped_extent(t: Text, new: str, family: list[str], old: Bbox, fonts_key: tuple, *, may_grow: bool) -> Bbox | None:
    """Display box (points) of text ``t`` (drawn in box ``old``) with its string replaced by
    ``new``, in ``family``; None when the swap would disturb the layout (rotated or multi-line
    text, or a text that may not grow, e.g. a legend entry with another column to its right,
    getting wider)."""
    if t.get_rotation() % 360 or "\n" in new or "\n" in t.get_text():
        return None
    prop = t.get_fontproperties().copy()
    prop.set_family(family)
    w, h, _ = _text_metrics(new, prop, False, fonts_key)
    if not may_grow and w > old.width + 0.5:
        return None
    ha = t.get_horizontalalignment()
    x0 = {"left": old.x0, "right": old.x1 - w, "center": (old.x0 + old.x1 - w) / 2}[ha]
    return Bbox([[x0, old.y0], [x0 + w, old.y0 + max(h, old.height)]])


def _crop(svg: str, box: Bbox, w_pt: float, h_pt: float) -> str:
    """Cut the renderer's header off and crop the viewBox to ``box`` (display points, y up), on a white ground."""
    svg = svg[svg.index("<svg") :]
    x0, y0, w, h = box.x0, h_pt - box.y1, box.width, box.height  # SVG's y axis points down
    end = svg.index(">")
    head = (svg[:end]
            .replace(f'width="{_num(w_pt)}pt"', f'width="{_num(w)}pt"')
            .replace(f'height="{_num(h_pt)}pt"', f'height="{_num(h)}pt"')
            .replace(f'viewBox="0 0 {_num(w_pt)} {_num(h_pt)}"', f'viewBox="{_num(x0)} {_num(y0)} {_num(w)} {_num(h)}"'))
    # the figure patch covers only the figure, not the source line below it
    ground = f'</defs>\n <rect x="{_num(x0)}" y="{_num(y0)}" width="{_num(w)}" height="{_num(h)}" style="fill: #ffffff"/>'
    return head + svg[end:].replace("</defs>", ground, 1)


def _num(x: float) -> str:
    """A coordinate as matplotlib's SVG writer prints it (``%f`` with trailing zeros dropped)."""
    return f"{x:f}".rstrip("0").rstrip(".")
