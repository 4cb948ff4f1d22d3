"""The note in print: how many A4 pages a quiet day and a crash day take, and chart type size at
the width the charts print at."""
from __future__ import annotations

import re

import pikepdf
import pytest

from nightdesk import __version__
from nightdesk.narrative.compose import compose_notes
from nightdesk.rendering.note_charts import chart_svgs
from nightdesk.rendering.outputs import publish_note

PRINT_SLOT_PT = 0.49 * (210 - 30) / 25.4 * 72  # half the A4 text width (15 mm margins), two charts a row: 250 pt
FONT = re.compile(r"font-size: ([0-9.]+)px")
WIDTH = re.compile(r'<svg[^>]*\swidth="([0-9.]+)pt"')


@pytest.mark.parametrize("lang", ["en", "zh-Hant", "zh-Hans"])
def test_chart_type_is_at_least_7pt_in_print(demo_record, lang):
    for name, svg in chart_svgs(demo_record, [lang])[lang].items():
        scale = min(1.0, PRINT_SLOT_PT / float(WIDTH.search(svg).group(1)))
        smallest = min(float(x) for x in FONT.findall(svg)) * scale
        assert smallest >= 7.0, f"{name}: {smallest:.1f} pt in print"


@pytest.mark.slow  # five PDF layouts
def test_page_counts(tmp_path, story_records, chart_fonts):
    """NOTE_SPEC / issue: a quiet day fits in 3 A4 pages, a crash day in 4 (English, disclaimer included),
    the longest crash stories too: de-grossing, short squeeze and junk rally each took 5 pages before
    the print spacing and the two-column fine print."""
    pages = {}
    for key, limit in (("quiet", 3), ("crash_both_legs", 4), ("crash_de_grossing", 4), ("crash_short_squeeze", 4), ("junk_rally", 4)):
        rec = story_records[key]
        publish_note(rec, compose_notes(rec, ["en"]), tmp_path, version=__version__, fontconfig=chart_fonts)
        pages[key] = len(pikepdf.open(tmp_path / rec.meta.date.isoformat() / "note.en.pdf").pages)
        assert pages[key] <= limit, pages
