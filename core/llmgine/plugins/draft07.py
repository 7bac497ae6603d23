"""JSON Schema draft 2020-12, as :func:`~llmgine.messages.conversion.json_schema` writes it,
rewritten as draft-07: the dialect every AsyncAPI 3.0 tool must read.

The two differ, for what message classes need, in three places: ``$defs`` is
``definitions``, a tuple's ``prefixItems`` is an array-valued ``items`` (and the
2020-12 ``items`` after it is ``additionalItems``), and draft-07 ignores the keywords
beside a ``$ref`` (so they go beside an ``allOf`` holding it). A keyword that draft-07
has no equivalent for raises :class:`ValueError` naming it, rather than meaning
something else there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["DRAFT_07", "to_draft07"]

DRAFT_07 = "http://json-schema.org/draft-07/schema#"

#: keywords whose value is a schema
_ONE = frozenset(
    {"additionalProperties", "contains", "else", "if", "items", "not", "propertyNames", "then"}
)
#: keywords whose value maps names to schemas
_MAP = frozenset({"$defs", "definitions", "dependentSchemas", "patternProperties", "properties"})
#: keywords whose value is a list of schemas
_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
#: 2020-12 keywords with no draft-07 meaning
_UNSUPPORTED = frozenset(
    {
        "$anchor",
        "$dynamicAnchor",
        "$dynamicRef",
        "$recursiveAnchor",
        "$recursiveRef",
        "$vocabulary",
        "dependentRequired",
        "dependentSchemas",
        "maxContains",
        "minContains",
        "unevaluatedItems",
        "unevaluatedProperties",
    }
)


def to_draft07(
    schema: Mapping[str, Any], *, refs: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``schema`` (draft 2020-12) as the same constraints in draft-07, with its ``$schema``.

    ``refs`` replaces the ``$ref`` values it has a key for, as draft-07 writes them
    (``#/definitions/Line``, ``#``): where the definitions are moved to.
    Raises :class:`ValueError` naming a keyword draft-07 cannot express, and where it is.
    """
    converted: dict[str, Any] = _convert(schema, "#", refs or {})
    if "$schema" in schema:
        converted["$schema"] = DRAFT_07
    return converted


def _convert(schema: Any, where: str, refs: Mapping[str, str]) -> Any:
    if not isinstance(schema, Mapping):  # true / false
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _UNSUPPORTED:
            raise ValueError(f"{where}: draft-07 has no {key!r} (a draft 2020-12 keyword)")
        if key in _ONE:
            out[key] = _convert(value, f"{where}/{key}", refs)
        elif key in _MAP:
            name = "definitions" if key == "$defs" else key
            out[name] = {k: _convert(v, f"{where}/{key}/{k}", refs) for k, v in value.items()}
        elif key in _LIST:
            out[key] = [_convert(v, f"{where}/{key}/{i}", refs) for i, v in enumerate(value)]
        elif key == "$ref" and isinstance(value, str):
            if value.startswith("#/$defs/"):
                value = "#/definitions/" + value.removeprefix("#/$defs/")
            out[key] = refs.get(value, value)
        else:
            out[key] = value
    if "prefixItems" in out:
        # 2020-12: prefixItems for the positions, items for the rest; draft-07: an
        # array of items for the positions, additionalItems for the rest
        rest = out.pop("items", None)
        out["items"] = out.pop("prefixItems")
        if rest is not None:
            out["additionalItems"] = rest
    if "$ref" in out and len(out) > 1:
        # draft-07 ignores a $ref's siblings: keep them applying through allOf
        out = {"allOf": [{"$ref": out.pop("$ref")}], **out}
    return out
