"""One matplotlib drawing written out as SVG in several languages.

A chart is drawn once, in a base language, into an SVG renderer that keeps text as text
(``svg.fonttype: none``). Each ``<text>`` is placed by its anchor and alignment, so another
language is the same drawing with each label swapped and the font family changed; only the
crop depends on label widths, so it is the union of every language's labels, measured with
that language's font. A language whose labels would move something (a legend entry with
another column to its right getting wider; rotated or multi-line text) is left out, for the
caller to draw on its own.
"""
from __future__ import annotations

import io
import re
from xml.sax.saxutils import escape

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_mixed import MixedModeRenderer  # noqa: E402
from matplotlib.backends.backend_svg import RendererSVG  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.textpath import text_to_path  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

SVG_DPI = 72  # SVG user units are points
_TEXT_NODE = re.compile(r"(<text\b[^>]*>)([^<]*)(</text>)")
_ROOT_ATTR = re.compile(r'\b(width|height|viewBox)="[^"]*"')


class SvgWriter:
    """Writes drawings as SVG in several languages; owns two memos for as long as it lives
    (a note, or a backfill chunk of many notes).

    Attributes
    ----------
    metrics : dict
        (string, font properties, mathtext flag, font settings) -> width, height, descent in
        points. matplotlib caches text metrics per renderer and every chart has a renderer of
        its own; tick labels, titles and legends repeat across charts and dates, and laying out
        CJK text with FreeType was a quarter of the charts' drawing time.
    drawings : dict
        Caller's key (a chart's inputs) -> its SVGs: a chart whose inputs did not change is not
        drawn again.
    """

    def __init__(self) -> None:
        self.metrics: dict[tuple, tuple[float, float, float]] = {}
        self.drawings: dict[str, dict[str, str]] = {}

    def text_metrics(self, s: str, prop: FontProperties, ismath: bool | str, fonts_key: tuple) -> tuple[float, float, float]:
        """Width, height and descent (points) of ``s`` as the SVG renderer measures it.
        ``fonts_key``: the font settings in force, which decide the font a family list resolves to."""
        key = (s, prop, ismath, fonts_key)
        if key not in self.metrics:
            self.metrics[key] = text_to_path.get_text_width_height_descent(s, prop, ismath)
        return self.metrics[key]

    def write(self, fig: Figure, labels: dict[str, dict[str, str]], families: dict[str, list[str]], *, prefix: str, base: str) -> dict[str, str]:
        """SVG text of ``fig`` in each language of ``labels`` that can share the drawing.

        Parameters
        ----------
        labels : dict
            lang -> {base label: label}; ``{}`` for ``base``.
        families : dict
            lang -> font family list of that language.
        prefix : str
            Id prefix (several charts share a page); ``-<lang>`` is appended.

        Returns
        -------
        dict
            lang -> SVG text. No timestamp is written: the same drawing gives the same bytes.
        """
        image_dpi = fig.dpi
        fig.set_dpi(SVG_DPI)
        w_in, h_in = fig.get_size_inches()
        w_pt, h_pt = w_in * SVG_DPI, h_in * SVG_DPI
        buf = io.StringIO()
        svg_renderer = _TextRecordingSVG(w_pt, h_pt, buf, self, image_dpi=image_dpi, metadata={"Date": None})
        renderer = MixedModeRenderer(fig, w_in, h_in, image_dpi, svg_renderer)
        fig.draw(renderer)
        legends = [leg for leg in [*(ax.get_legend() for ax in fig.axes), *fig.legends] if leg is not None]
        texts = list(dict.fromkeys(svg_renderer.texts))  # drawn, in order (a tick label outside the view is not)
        extents = {id(t): t.get_window_extent(renderer) for t in texts if t is not None}
        boxes = [drawn_box(fig, renderer, texts, extents, legends)]
        fixed_width = _entries_with_a_column_to_their_right(legends, extents)
        langs = list(labels)
        for lang in list(langs):
            for t in texts:
                new = None if t is None else labels[lang].get(t.get_text())
                if new is None or new == t.get_text():
                    continue
                box = self._swapped_extent(t, new, families[lang], extents[id(t)], svg_renderer.fonts_key, may_grow=id(t) not in fixed_width)
                if box is None:
                    langs.remove(lang)
                    break
                boxes.append(box)
        renderer.finalize()
        pad_pt = plt.rcParams["savefig.pad_inches"] * SVG_DPI
        svg = _crop(buf.getvalue(), Bbox.union(boxes).padded(pad_pt), h_pt)
        out = {}
        for lang in langs:
            table = {escape(k): escape(v) for k, v in labels[lang].items()}
            text = _TEXT_NODE.sub(lambda m: m.group(1) + table.get(m.group(2), m.group(2)) + m.group(3), svg) if lang != base else svg
            for old, new in zip(families[base], families[lang]):  # every font-family in the SVG, mathtext spans included
                if old != new:
                    text = text.replace(f"'{old}'", f"'{new}'")
            p = f"{prefix}-{lang}"
            out[lang] = text.replace('id="', f'id="{p}-').replace('href="#', f'href="#{p}-').replace("url(#", f"url(#{p}-")
        return out

    def _swapped_extent(self, t: Text, new: str, family: list[str], old: Bbox, fonts_key: tuple, *, may_grow: bool) -> Bbox | None:
        """Display box (points) of text ``t`` (drawn in box ``old``) with its string replaced by
        ``new``, in ``family``; None when the swap would disturb the layout (rotated or
        multi-line text, or a text that may not grow getting wider)."""
        if t.get_rotation() % 360 or "\n" in new or "\n" in t.get_text():
            return None
        prop = t.get_fontproperties().copy()
        prop.set_family(family)
        w, h, _ = self.text_metrics(new, prop, False, fonts_key)
        if not may_grow and w > old.width + 0.5:
            return None
        ha = t.get_horizontalalignment()
        x0 = {"left": old.x0, "right": old.x1 - w, "center": (old.x0 + old.x1 - w) / 2}[ha]
        return Bbox([[x0, old.y0], [x0 + w, old.y0 + max(h, old.height)]])


class _TextRecordingSVG(RendererSVG):
    """matplotlib's SVG renderer, measuring text through the writer's memo and keeping the
    :class:`~matplotlib.text.Text` artists it draws (``None`` for a line of a multi-line text,
    which matplotlib does not pass)."""

    def __init__(self, width, height, svgwriter, writer: SvgWriter, **kwargs):
        super().__init__(width, height, svgwriter, **kwargs)
        self.memo = writer  # not .writer: RendererSVG's XML writer has that name
        self.texts: list[Text | None] = []
        self.fonts_key = tuple((k, str(v)) for k, v in plt.rcParams.items() if k.startswith(("font.", "mathtext.")))

    def get_text_width_height_descent(self, s, prop, ismath):
        return self.memo.text_metrics(s, prop.copy(), ismath, self.fonts_key)

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        self.texts.append(mtext)
        super().draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)


def drawn_box(fig: Figure, renderer, texts: list[Text | None], extents: dict[int, Bbox], legends: list) -> Bbox:
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


def _entries_with_a_column_to_their_right(legends: list, extents: dict[int, Bbox]) -> set[int]:
    """Ids of legend texts with another entry of their legend to their right on the same row
    (the columns are spaced for the drawn labels: such a text may not get wider)."""
    blocked = set()
    for leg in legends:
        boxes = [(t, extents[id(t)]) for t in leg.get_texts() if id(t) in extents]
        for t, b in boxes:
            if any(o is not t and ob.x0 >= b.x1 - 0.5 and ob.y0 < b.y1 and b.y0 < ob.y1 for o, ob in boxes):
                blocked.add(id(t))
    return blocked


def _fmt(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


def _crop(svg: str, box: Bbox, h_pt: float) -> str:
    """Cut the renderer's header off and crop the root element to ``box`` (display points, y up),
    on a white ground."""
    svg = svg[svg.index("<svg") :]
    x0, y0, w, h = box.x0, h_pt - box.y1, box.width, box.height  # SVG's y axis points down
    end = svg.index(">")
    values = {"width": f"{_fmt(w)}pt", "height": f"{_fmt(h)}pt", "viewBox": f"{_fmt(x0)} {_fmt(y0)} {_fmt(w)} {_fmt(h)}"}
    head = _ROOT_ATTR.sub(lambda m: f'{m.group(1)}="{values[m.group(1)]}"', svg[:end])
    # the figure patch covers only the figure, not the source line below it
    ground = f'</defs>\n <rect x="{_fmt(x0)}" y="{_fmt(y0)}" width="{_fmt(w)}" height="{_fmt(h)}" style="fill: #ffffff"/>'
    return head + svg[end:].replace("</defs>", ground, 1)
