"""Pure pandas/numpy analytics: frames in, frames or dataclasses out; no I/O, no other nightdesk package."""
