"""Number and date formatting per NOTE_SPEC section 2. Pure functions, registered as Jinja filters."""
from __future__ import annotations

import datetime as dt
import math

MINUS = "\u2212"
WEEKDAYS_ZH = "一二三四五六日"
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]


def _signed(text: str, value: float) -> str:
    if value < 0 and text.strip("0.") != "":
        return MINUS + text
    return ("+" + text) if value > 0 and text.strip("0.") != "" else text


def pct(value: float, *, signed: bool = True, digits: int = 1) -> str:
    """``−3.6%`` / ``+3.6%``; ``signed=False`` gives the absolute value (after fell/rose)."""
    text = f"{abs(value):,.{digits}f}"
    return (_signed(text, value) if signed else text) + "%"


def num(value: float, *, digits: int = 1, signed: bool = True) -> str:
    """Plain number with sign convention (no unit)."""
    text = f"{abs(value):,.{digits}f}"
    return _signed(text, value) if signed else text


def sigma(value: float, *, signed: bool = True) -> str:
    """``−2.8σ``."""
    return num(value, signed=signed) + "σ"


def ordinal(value: float) -> str:
    """Percentile as an English ordinal: 9th, 21st, 100th."""
    n = int(round(value))
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


MONEY_STEPS = {
    # (at least, divide by, format, unit) per language, largest first (NOTE_SPEC section 2)
    "en": [(1e12, 1e12, "{:.1f}", "tn"), (1e9, 1e9, "{:.1f}", "bn"), (1e6, 1e6, "{:,.0f}", "mn"), (0, 1, "{:,.0f}", "")],
    "zh-Hant": [(1e12, 1e12, "{:.1f}", "兆"), (1e9, 1e8, "{:,.0f}", "億"), (1e8, 1e8, "{:.1f}", "億"), (1e4, 1e4, "{:,.0f}", "萬"), (0, 1, "{:,.0f}", "")],
    "zh-Hans": [(1e12, 1e12, "{:.1f}", "万亿"), (1e9, 1e8, "{:,.0f}", "亿"), (1e8, 1e8, "{:.1f}", "亿"), (1e4, 1e4, "{:,.0f}", "万"), (0, 1, "{:,.0f}", "")],
}


def usd(value: float, lang: str = "en", *, signed: bool = False) -> str:
    """Money per language: ``$12.5bn`` / ``125億美元``; absolute unless ``signed``."""
    a = abs(value)
    floor, div, fmt, unit = next(step for step in MONEY_STEPS[lang] if a >= step[0])
    number = fmt.format(a / div) + unit
    text = f"${number}" if lang == "en" else f"{number}美元"
    if signed and value != 0:
        # a line may break between a sign and "$" (both are prefixes to a number in Unicode's
        # line breaking): a word joiner keeps "−$4.9bn" on one line
        return (MINUS if value < 0 else "+") + ("\u2060" if text.startswith("$") else "") + text
    return text


def corr(value: float) -> str:
    """Correlation, two decimals, signed."""
    return num(value, digits=2)


def long_date(day: dt.date, lang: str) -> str:
    """``Wednesday, 4 February 2026`` / ``2026年2月4日（週三）``."""
    if lang == "en":
        return f"{day.strftime('%A')}, {day.day} {MONTHS_EN[day.month - 1]} {day.year}"
    week = "週" if lang == "zh-Hant" else "周"
    return f"{day.year}年{day.month}月{day.day}日（{week}{WEEKDAYS_ZH[day.weekday()]}）"


def short_date(day: dt.date, lang: str) -> str:
    """``4 Feb 2026`` / ``2026年2月4日``."""
    if lang == "en":
        return f"{day.day} {MONTHS_EN[day.month - 1][:3]} {day.year}"
    return f"{day.year}年{day.month}月{day.day}日"


def is_finite(value) -> bool:
    """True for a finite number (None and NaN are not)."""
    return isinstance(value, (int, float)) and math.isfinite(value)
