"""Checks for values that end up in a mail header (sender, unsubscribe address and link).

One home for the rule, used twice: when the settings load (a bad value stops the run before
anything starts) and when each message is built (the last line of defence against header
injection: a CR/LF in a value would start a header of its own). It sits in the base package
because the settings use it, and the base package imports no layer.
"""
from __future__ import annotations

import email.utils
from urllib.parse import urlsplit


class HeaderValueError(ValueError):
    """A value that must not go into a mail header; the message names it and says why."""


def single_line(name: str, value: str) -> str:
    """``value`` if it has no line break or other control character, else :class:`HeaderValueError`."""
    bad = next((c for c in value if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise HeaderValueError(f"{name} {value!r}: contains a control character ({bad!r}); mail headers must be one line")
    return value


def check_address(name: str, value: str) -> str:
    """A plain ``user@host`` address (no display name, brackets, commas or spaces)."""
    single_line(name, value)
    local, at, host = value.partition("@")
    if not (local and at and host) or any(c in value for c in ' <>,;"()?') or "@" in host:
        raise HeaderValueError(f"{name} {value!r}: not a plain address like desk@example.com")
    return value


def check_from_addr(name: str, value: str) -> str:
    """``Name <user@host>`` or ``user@host``."""
    single_line(name, value)
    display, addr = email.utils.parseaddr(value)
    if not addr:
        raise HeaderValueError(f"{name} {value!r}: not an address like 'Desk <desk@example.com>'")
    check_address(name, addr)
    return value


def check_url(name: str, value: str) -> str:
    """An absolute http(s) URL with a host and no spaces or angle brackets."""
    single_line(name, value)
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or any(c in value for c in ' <>"\\'):
        raise HeaderValueError(f"{name} {value!r}: not an absolute https:// URL")
    return value
