"""``python -m nightdesk.facts``: print the facts record's JSON Schema (committed as facts/schema.json)."""
import json

from nightdesk.facts.record import json_schema

print(json.dumps(json_schema(), indent=1, ensure_ascii=False))
