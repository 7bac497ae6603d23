"""The official AsyncAPI 3.0.0 JSON Schema (tests/data, see its README), as a validator."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

SPEC = Path(__file__).parent / "data" / "asyncapi-3.0.0.json"


@functools.cache
def validator() -> jsonschema.Draft7Validator:
    """A validator of AsyncAPI 3.0.0 documents; it resolves every reference offline."""
    schema = json.loads(SPEC.read_text())
    assert schema["$id"] == "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
    return jsonschema.Draft7Validator(schema)


def problems(document: Any) -> list[str]:
    """Why ``document`` is no valid AsyncAPI 3.0.0 document (empty if it is one)."""
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message[:300]}"
        for error in validator().iter_errors(document)
    ]
