"""The facts layer: market data in, the typed facts record of each date out.

``compute`` (one date) and ``compute_many`` (many; one date is a list of one) are the entry
points; ``FactsRecord`` is what narrative, rendering, email and archive read; ``inputs_key``
says what a published note was built from.
"""
from nightdesk.facts.build import compute, compute_many
from nightdesk.facts.gate import Gate, gate
from nightdesk.facts.inputs import inputs_key
from nightdesk.facts.record import SCHEMA_VERSION, FactsError, FactsRecord, from_json, to_json

__all__ = ["compute", "compute_many", "gate", "Gate", "inputs_key", "FactsRecord", "FactsError", "SCHEMA_VERSION", "from_json", "to_json"]
