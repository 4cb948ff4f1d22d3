"""Charts: one drawing per chart serves every language, and matches a drawing of its own."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from nightdesk.narrative.compose import term
from nightdesk.rendering import charts as ch
from nightdesk.rendering.note_charts import chart_specs, chart_svgs, label_pairs
from nightdesk.rendering.svg_i18n import SVG_DPI, SvgWriter, _TextRecordingSVG, drawn_box

TEXT = re.compile(r'<text\b[^>]*?x="([-0-9.]+)" y="([-0-9.]+)"[^>]*>([^<]*)</text>')
VIEWBOX = re.compile(r'viewBox="([-0-9.]+) ([-0-9.]+) ([-0-9.]+) ([-0-9.]+)"')


@pytest.fixture(scope="module")
def facts(demo_record):
    return demo_record


@pytest.fixture(scope="module")
def shared(facts):
    return chart_svgs(facts, ["en", "zh-Hant", "zh-Hans"])


@pytest.mark.parametrize("lang", ["zh-Hant", "zh-Hans"])
def test_relabelled_chart_matches_its_own_drawing(facts, shared, lang):
    """The same labels as when the language is drawn alone (the shared drawing is laid out for the
    base language's labels, so positions may differ; each language's labels lie inside its crop)."""
    own = chart_svgs(facts, [lang])[lang]
    assert own.keys() == shared[lang].keys() and len(own) == 9
    legend = {term("retail", lang, "chart_labels"), term("inst", lang, "chart_labels")}
    for name, svg in own.items():
        mine, theirs = TEXT.findall(shared[lang][name]), TEXT.findall(svg)
        words = lambda texts: Counter(t for *_, t in texts if not re.fullmatch(r"[−+\d.,% -]+", t))  # noqa: E731 - tick numbers follow the axes' width
        assert words(mine) == words(theirs), name
        anchors = lambda texts: Counter((t, round(float(x), 2), round(float(y), 2)) for x, y, t in texts if t not in legend)  # noqa: E731
        x, y, w, h = map(float, VIEWBOX.search(shared[lang][name]).groups())
        assert all(x - 1 <= float(tx) <= x + w + 1 and y - 1 <= float(ty) <= y + h + 1 for tx, ty, _ in mine), name


def test_languages_share_size_and_fonts(shared):
    for name in shared["en"]:
        heights = {lang: VIEWBOX.search(shared[lang][name]).groups()[3] for lang in shared}
        assert len(set(heights.values())) == 1, name  # the bilingual edition's charts line up
    hans = "".join(shared["zh-Hans"].values())
    assert "Noto Sans CJK SC" in hans and "Noto Sans CJK TC" not in hans
    assert "多空动量组合累计收益" in shared["zh-Hans"]["momentum_cum"]
    assert 'id="momentum_cum-zh-Hans-' in shared["zh-Hans"]["momentum_cum"] and "-en-" not in shared["zh-Hans"]["momentum_cum"]


def test_same_facts_same_bytes(facts, shared):
    assert chart_svgs(facts, ["en", "zh-Hant", "zh-Hans"]) == shared  # no timestamp in the SVG


def test_label_pairs_refuse_what_one_drawing_cannot_serve():
    assert label_pairs(("Banks", [1.0, 2.0]), ("銀行", [1.0, 2.0])) == {"Banks": "銀行"}
    assert label_pairs(("Banks", [1.0, 2.0]), ("銀行", [1.0, 2.5])) is None  # different data
    assert label_pairs((["Banks", "Banks"],), (["銀行", "銀行股"],)) is None  # one label, two translations
    assert label_pairs((["a", "b"],), (["x"],)) is None


def test_growing_legend_entry_gets_a_drawing_of_its_own():
    """A two-column legend spaces its columns for the base labels: a longer label would run
    into the next column, so that language is left out (and drawn alone by chart_svgs)."""
    labels = {"retail": "Retail", "inst": "Inst", "flows": "Flows"}
    longer = {"Retail": "Retail investors, all brokers", "Inst": "Inst", "Flows": "Flows"}
    with ch.house_style("en"):
        fig = ch.intensity_history(["2026-02-03", "2026-02-04"], [0.1, 0.2], [0.0, -0.1], labels)
        out = SvgWriter().write(fig, {"en": {}, "xx": longer}, {"en": ch.fonts("en"), "xx": ch.fonts("en")}, prefix="t", base="en")
    assert set(out) == {"en"}
    rightmost = {"Retail": "Retail", "Inst": "Institutional investors, all desks", "Flows": "Flows"}
    with ch.house_style("en"):
        fig = ch.intensity_history(["2026-02-03", "2026-02-04"], [0.1, 0.2], [0.0, -0.1], labels)
        out = SvgWriter().write(fig, {"en": {}, "xx": rightmost}, {"en": ch.fonts("en"), "xx": ch.fonts("en")}, prefix="t", base="en")
    assert set(out) == {"en", "xx"}  # the last column has nothing to its right: it may grow (the crop covers it)


def test_chart_pages_one_per_svg_with_slim_fonts(shared, chart_fonts, tmp_path):
    """librsvg turns every SVG into one page, in order; the CJK fonts cairo embeds are well under
    100 KB each (from the system's Noto Sans CJK cairo keeps about 1 MB of subroutines per font)."""
    import pikepdf

    from nightdesk.rendering.pdf import chart_pages, start_chart_pages

    svgs = []
    for lang in ("en", "zh-Hant"):
        for name in ("momentum_cum", "rotation_groups"):
            svgs.append(tmp_path / f"{name}.{lang}.svg")
            svgs[-1].write_text(shared[lang][name], encoding="utf-8")
    pdf = chart_pages(start_chart_pages(svgs, tmp_path / "charts.pdf", chart_fonts), tmp_path / "charts.pdf")
    assert len(pdf.pages) == 4
    widths = [float(p.mediabox[2]) for p in pdf.pages]
    assert widths[0] == widths[2] and widths[1] == widths[3]  # en and zh-Hant drawings share a size
    fonts = [len(o.read_raw_bytes()) for o in pdf.objects if isinstance(o, pikepdf.Stream) and o.get("/Subtype") == "/CIDFontType0C"]
    assert len(fonts) == 2 and max(fonts) < 100_000  # Noto Sans CJK TC regular (labels) and bold (titles)


def test_chart_fonts_are_the_system_outlines_without_subroutines(shared, chart_fonts, tmp_path):
    """Under the charts' fontconfig, librsvg finds the desubroutinized copies (not the system
    files) and draws every pixel of a Chinese chart exactly as with the system's fonts."""
    import os
    import subprocess

    from fontTools.ttLib import TTFont

    env = {**os.environ, "FONTCONFIG_FILE": str(chart_fonts)}
    for family in ("Noto Sans CJK TC", "Noto Sans CJK SC:weight=bold"):
        path = subprocess.run(["fc-match", "-f", "%{file}", family], env=env, capture_output=True, text=True).stdout
        assert Path(path).parent == chart_fonts.parent, path
        cff = TTFont(path)["CFF "].cff
        assert len(cff.GlobalSubrs) == 0 and not any(hasattr(fd.Private, "Subrs") for fd in cff.topDictIndex[0].FDArray)
    svg = tmp_path / "c.svg"
    svg.write_text(shared["zh-Hant"]["rotation_groups"], encoding="utf-8")
    system = subprocess.run(["rsvg-convert", "--format=png", str(svg)], capture_output=True, check=True).stdout
    ours = subprocess.run(["rsvg-convert", "--format=png", str(svg)], env=env, capture_output=True, check=True).stdout
    assert len(system) > 10_000 and ours == system


def test_broken_svg_is_a_render_error_naming_the_converter(chart_fonts, tmp_path):
    from nightdesk.rendering.pdf import RenderError, chart_pages, start_chart_pages

    bad = tmp_path / "bad.svg"
    bad.write_text("<svg xmlns='http://www.w3.org/2000/svg'><g>", encoding="utf-8")
    with pytest.raises(RenderError, match="rsvg-convert failed"):
        chart_pages(start_chart_pages([bad], tmp_path / "charts.pdf", chart_fonts), tmp_path / "charts.pdf")


def test_unwritable_cache_dir_is_a_render_error_naming_it(tmp_path):
    from nightdesk.rendering.pdf import RenderError, chart_fontconfig

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(RenderError, match=r"cache_dir .*a-file/cache: cannot write .* NIGHTDESK_CACHE_DIR"):
        chart_fontconfig(blocker / "cache")


def test_memo_draws_a_chart_again_only_when_its_inputs_change(facts, shared):
    langs = ["en", "zh-Hant", "zh-Hans"]
    memo = SvgWriter()
    first = chart_svgs(facts, langs, memo)
    assert first == shared
    drawings = len(memo.drawings)
    series = facts.momentum.series
    cum = [*series.ls_cum_pct[:-1], series.ls_cum_pct[-1] + 1.0]  # only the cumulative L/S chart's data
    later = facts.model_copy(update={"momentum": facts.momentum.model_copy(update={"series": series.model_copy(update={"ls_cum_pct": cum})})})
    second = chart_svgs(later, langs, memo)
    assert len(memo.drawings) == drawings + 1
    assert second["zh-Hant"]["momentum_cum"] != first["zh-Hant"]["momentum_cum"]
    assert all(second[lang][name] is first[lang][name] for lang in langs for name in first[lang] if name != "momentum_cum")


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_crop_is_matplotlibs_tight_box(facts, lang):
    """The crop comes from what the draw recorded (texts, axes, legends), not from a second pass
    over the ticks: for every chart of the sample date it equals ``fig.get_tightbbox``."""
    import io

    from matplotlib.backends.backend_mixed import MixedModeRenderer

    for name, (draw, args) in chart_specs(facts, lang).items():
        with ch.house_style(lang):
            fig = draw(*args)
            fig.set_dpi(SVG_DPI)
            w, h = fig.get_size_inches()
            svg = _TextRecordingSVG(w * SVG_DPI, h * SVG_DPI, io.StringIO(), SvgWriter(), image_dpi=100)
            renderer = MixedModeRenderer(fig, w, h, 100, svg)
            fig.draw(renderer)
            assert None not in svg.texts and len(svg.texts) > 5, name
            legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()]
            mine = drawn_box(fig, renderer, svg.texts, {id(t): t.get_window_extent(renderer) for t in svg.texts}, legends)
            tight = fig.get_tightbbox(renderer).get_points() * SVG_DPI
            assert mine.get_points() == pytest.approx(tight, abs=1e-6), name


def test_memoised_text_metrics_follow_the_font_settings():
    """The charts' text metrics are memoised across renderers, keyed by the font settings in
    force: a generic family resolves under the settings of the moment, exactly as matplotlib's
    own renderer measures it."""
    import io

    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_svg import RendererSVG
    from matplotlib.font_manager import FontProperties

    seen = {}
    for face in ("DejaVu Sans", "DejaVu Serif", "DejaVu Sans"):
        with plt.rc_context({"font.sans-serif": [face]}):
            prop = FontProperties(family="sans-serif", size=9)
            ours = _TextRecordingSVG(100, 100, io.StringIO(), SvgWriter()).get_text_width_height_descent("L/S momentum −7.5%", prop, False)
            theirs = RendererSVG(100, 100, io.StringIO()).get_text_width_height_descent("L/S momentum −7.5%", prop, False)
            assert ours == theirs, face
            seen[face] = ours
    assert seen["DejaVu Sans"] != seen["DejaVu Serif"]
