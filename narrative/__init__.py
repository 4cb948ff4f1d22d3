"""Narrative: the note's words, from the facts record only (EN, zh-Hant, zh-Hans)."""

from nightdesk.narrative.compose import Note, compose_note

__all__ = ["Note", "compose_note"]
