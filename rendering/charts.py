"""House-style charts: one function per chart, each returns a Figure drawn from the facts.

Colour-blind-safe (Okabe-Ito), readable in black and white (hatching / markers carry the
meaning as well as colour); CJK labels via Noto Sans CJK. Draw and save inside ``house_style(lang)``; the caller saves and closes.
"""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

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
    "svg.fonttype": "none",  # text stays text: small, selectable SVG; fonts are embedded (subset) in the PDF
}
SIZE = (6.4, 2.6)
FONTS = {"zh-Hans": ["Noto Sans CJK SC", "DejaVu Sans"]}  # Simplified glyph forms; every other edition uses TC
DEFAULT_FONTS = ["Noto Sans CJK TC", "DejaVu Sans"]


def house_style(lang: str):
    """Context manager with the house style and the edition's fonts; draw and save charts inside it."""
    return plt.rc_context({**STYLE, "font.family": FONTS.get(lang, DEFAULT_FONTS)})



def _fig() -> tuple[Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=SIZE, dpi=100)
    return fig, ax


def _source(fig: Figure, text: str) -> None:
    fig.text(0.0, -0.04, text, fontsize=6.5, color=GREY, ha="left", va="top", transform=fig.transFigure)


def ls_cumulative(dates: list[str], cum_pct: list[float], labels: dict, ax=None) -> Figure:
    """Cumulative L/S with the last day marked."""
    fig, ax = _fig() if ax is None else (ax.figure, ax)
    x = np.array(dates, dtype="datetime64[D]")
    ax.plot(x, cum_pct, color=BLUE, lw=1.3)
    ax.plot(x[-1], cum_pct[-1], marker="o", ms=6, color=RED, mec="black")
    ax.annotate(labels["today"], (x[-1], cum_pct[-1]), xytext=(-30, 10), textcoords="offset points", fontsize=7.5)
    ax.set_title(labels["ls_cum"])
    ax.axhline(0, color=GREY, lw=0.8)
    return fig


def ls_distribution(edges: list[float], counts: list[int], today_pct: float, since: int, labels: dict, ax=None) -> Figure:
    """Histogram of daily L/S moves with today's move marked."""
    fig, ax = _fig() if ax is None else (ax.figure, ax)
    e = np.asarray(edges)
    ax.bar(e[:-1], counts, width=np.diff(e), align="edge", color=BLUE, alpha=0.8, edgecolor="white", lw=0.3)
    ax.set_yscale("log")
    ax.axvline(today_pct, color=RED, lw=1.8, ls="--")
    ax.annotate(labels["today"], (today_pct, max(counts) / 3), xytext=(5, 0), textcoords="offset points", fontsize=7.5)
    ax.set_title(labels["dist"].format(y=since))
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
    bars = ax.barh(y, v, color=[RED if x < 0 else GREEN for x in v], edgecolor="black", lw=0.3)
    ax.set_yticks(y, [names[i] for i in order])
    for bar, x in zip(bars, v):
        if x < 0:
            bar.set_hatch("////")
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
    ax.legend(frameon=False, loc="upper left", ncol=2)
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


def to_svg(fig: Figure, source: str, *, prefix: str) -> str:
    """SVG text of ``fig`` with a source line and ids prefixed (several charts share a page); closes the figure."""
    buf = io.StringIO()
    _source(fig, source)
    # the tight box from text extents alone: savefig(bbox_inches="tight") would draw the figure twice
    tight = fig.get_tightbbox(fig.canvas.get_renderer()).padded(plt.rcParams["savefig.pad_inches"])
    fig.savefig(buf, format="svg", bbox_inches=tight)
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    return svg.replace('id="', f'id="{prefix}-').replace('href="#', f'href="#{prefix}-').replace("url(#", f"url(#{prefix}-")
