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


def usd(value: float, lang: str = "en", *, signed: bool = False) -> str:
    """Money per language: ``$12.5bn`` / ``125億美元``; absolute unless ``signed``."""
    a = abs(value)
    if lang == "en":
        if a >= 1e12:
            text = f"${a / 1e12:.1f}tn"
        elif a >= 1e9:
            text = f"${a / 1e9:.1f}bn"
        elif a >= 1e6:
            text = f"${a / 1e6:,.0f}mn"
        else:
            text = f"${a:,.0f}"
    else:
        tn = "兆" if lang == "zh-Hant" else "万亿"
        yi, wan = ("億", "萬") if lang == "zh-Hant" else ("亿", "万")
        if a >= 1e12:
            text = f"{a / 1e12:.1f}{tn}美元"
        elif a >= 1e9:
            text = f"{a / 1e8:,.0f}{yi}美元"
        elif a >= 1e8:
            text = f"{a / 1e8:.1f}{yi}美元"
        elif a >= 1e4:
            text = f"{a / 1e4:,.0f}{wan}美元"
        else:
            text = f"{a:,.0f}美元"
    if signed and value < 0:
        return MINUS + text
    if signed and value > 0:
        return "+" + text
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
