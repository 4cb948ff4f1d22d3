"""The typed facts record: its committed JSON Schema, what it refuses, and reading it back."""
from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest

from nightdesk.facts.record import SCHEMA_VERSION, FactsError, from_json, json_schema, to_json, validate

SCHEMA = Path(__file__).resolve().parents[1] / "facts" / "schema.json"


def test_committed_schema_is_current():
    assert json.loads(SCHEMA.read_text(encoding="utf-8")) == json_schema(), \
        "facts/schema.json is stale: .venv/bin/python -m nightdesk.facts > facts/schema.json"


def test_published_facts_validate_against_the_committed_schema(published):
    out, _ = published
    doc = json.loads((out / "2026-02-04" / "facts.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")), format_checker=jsonschema.FormatChecker()).validate(doc)
    assert doc["meta"]["schema"] == SCHEMA_VERSION and doc["momentum"]["ls_ret_pct"] == pytest.approx(-7.456582)
    broken = {**doc, "momentum": {**doc["momentum"], "ls_z": "big"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, json.loads(SCHEMA.read_text(encoding="utf-8")))


def test_round_trip_is_exact(demo_record):
    text = to_json(demo_record)
    assert from_json(text) == demo_record and to_json(from_json(text)) == text


def test_non_finite_number_refused_with_its_field(demo_record):
    doc = demo_record.model_dump(mode="json")
    doc["letf"]["rebalance_total_usd"] = math.nan
    with pytest.raises(FactsError, match=r"letf\.rebalance_total_usd"):
        validate(doc)


def test_truncated_or_old_facts_file_named(demo_record):
    text = to_json(demo_record)
    with pytest.raises(FactsError, match="2026-02-04/facts.json: not valid JSON"):
        from_json(text[: len(text) // 2], name="2026-02-04/facts.json")
    old = json.loads(text)
    old["meta"]["schema"] = "1.0"
    with pytest.raises(FactsError, match="facts schema '1.0'"):
        from_json(json.dumps(old))
    extra = json.loads(text)
    extra["momentum"]["regime_guess"] = "crash"
    with pytest.raises(FactsError, match="momentum.regime_guess: Extra inputs are not permitted"):
        validate(extra)
