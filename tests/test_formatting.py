"""Number formats of NOTE_SPEC section 2."""
import datetime as dt

from nightdesk.narrative import formatting as fm


def test_money():
    assert fm.usd(-12.5e9) == "$12.5bn" and fm.usd(850e6) == "$850mn" and fm.usd(1.2e12) == "$1.2tn"
    assert fm.usd(12.5e9, "zh-Hant") == "125億美元" and fm.usd(8.5e8, "zh-Hant") == "8.5億美元"
    assert fm.usd(4.5e7, "zh-Hant") == "4,500萬美元" and fm.usd(1.2e12, "zh-Hans") == "1.2万亿美元"


def test_signs_and_units():
    assert fm.pct(-3.62) == "\u22123.6%" and fm.pct(3.62) == "+3.6%" and fm.pct(-3.62, signed=False) == "3.6%"
    assert fm.sigma(-2.84) == "\u22122.8σ" and fm.ordinal(9) == "9th" and fm.ordinal(21) == "21st" and fm.ordinal(12) == "12th"


def test_dates():
    d = dt.date(2026, 3, 17)
    assert fm.long_date(d, "en") == "Tuesday, 17 March 2026"
    assert fm.long_date(d, "zh-Hant") == "2026年3月17日（週二）" and fm.long_date(d, "zh-Hans") == "2026年3月17日（周二）"


def test_signed_money_stays_on_one_line():
    """Unicode line breaking allows a break between a sign and "$" (both prefix a number); the
    PDF had "(−" at a line end and "$4.9bn)" on the next. Laid out in a box where that break
    happens, the amount now stays whole."""
    from weasyprint import HTML

    assert fm.usd(-4.9e9, signed=True) == "\u2212\u2060$4.9bn" and fm.usd(4.9e9, "zh-Hant", signed=True) == "+49億美元"

    def lines(text: str) -> list[str]:
        doc = HTML(string=f"<p style=\"width: 10em; font: 10pt 'DejaVu Sans'\">{text}</p>").render()
        return [b.text for b in doc.pages[0]._page_box.descendants() if getattr(b, "text", None)]

    assert lines("semiconductors (\u2212$4.9bn) more") == ["semiconductors (\u2212", "$4.9bn) more"]  # the break, without the joiner
    assert lines(f"semiconductors ({fm.usd(-4.9e9, signed=True)}) more") == ["semiconductors", f"({fm.usd(-4.9e9, signed=True)}) more"]
