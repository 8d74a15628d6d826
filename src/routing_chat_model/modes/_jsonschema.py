"""A small JSON Schema validator for answer checks (no third-party dependency).

Covers what structured answers use: `type` (one or a list), `enum`, `const`, `properties`,
`required`, `additionalProperties`, `items`, `minItems`/`maxItems`, `uniqueItems`,
`minLength`/`maxLength`, `pattern`, `minimum`/`maximum`, `exclusiveMinimum`/`exclusiveMaximum`,
`multipleOf`, `anyOf`, `allOf`, `oneOf`, `not`. Annotations (`title`, `description`, `default`,
`examples`, `format`, `$schema`, `$id`) are ignored. Any other keyword (`$ref`,
`patternProperties`, `if`...) is refused when the check is built, rather than silently passed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from routing_chat_model.errors import RouteConfigError

__all__ = ["check_schema", "first_error"]

_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "format", "$schema", "$id", "$comment"}
)
_KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "anyOf",
        "allOf",
        "oneOf",
        "not",
    }
)
_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})


def check_schema(schema: object, where: str = "schema") -> None:
    """Raise `RouteConfigError` when `schema` uses what this validator cannot check."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, Mapping):
        raise RouteConfigError(f"{where} must be a JSON schema dict, got {type(schema).__name__}.")
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key not in _KEYWORDS:
            raise RouteConfigError(
                f"{where} uses {key!r}, which this validator does not support; inline the "
                f"schema without it (supported: {', '.join(sorted(_KEYWORDS))})."
            )
        if key == "type":
            kinds = value if isinstance(value, list) else [value]
            bad = [k for k in kinds if k not in _TYPES]
            if bad:
                raise RouteConfigError(f"{where}['type'] has unknown type(s) {bad}.")
        elif key == "pattern":
            try:
                re.compile(value)
            except (re.error, TypeError) as exc:
                raise RouteConfigError(f"{where}['pattern'] is not a valid regex: {exc}.") from None
        elif key == "properties":
            for name, sub in dict(value).items():
                check_schema(sub, f"{where}['properties'][{name!r}]")
        elif key in ("items", "additionalProperties", "not"):
            check_schema(value, f"{where}[{key!r}]")
        elif key in ("anyOf", "allOf", "oneOf"):
            for i, sub in enumerate(value):
                check_schema(sub, f"{where}[{key!r}][{i}]")


def _is_type(value: Any, kind: str) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    return isinstance(value, dict)  # object


def first_error(value: Any, schema: Any, path: str = "$") -> str | None:
    """The first way `value` breaks `schema` ("$.items[2]: expected integer"), or None."""
    if schema is True:
        return None
    if schema is False:
        return f"{path}: no value is allowed here"
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is_type(value, k) for k in kinds):
            return f"{path}: expected {' or '.join(kinds)}, got {_json_type(value)}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{path}: not one of the allowed values"
    if "const" in schema and value != schema["const"]:
        return f"{path}: not the required constant"
    for check in (_object_error, _array_error, _string_error, _number_error, _combined_error):
        error = check(value, schema, path)
        if error is not None:
            return error
    return None


def _object_error(value: Any, schema: Mapping[str, Any], path: str) -> str | None:
    if not isinstance(value, dict):
        return None
    for name in schema.get("required", ()):
        if name not in value:
            return f"{path}: missing required property {name!r}"
    props: Mapping[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        sub = props.get(name, extra)
        # An extra key is the answer's text: named only when it is a short identifier.
        plain = name in props or (name.isidentifier() and len(name) <= 32)
        error = first_error(item, sub, f"{path}.{name}" if plain else f"{path}.<property>")
        if error is not None:
            return error
    return None


def _array_error(value: Any, schema: Mapping[str, Any], path: str) -> str | None:
    if not isinstance(value, list):
        return None
    if len(value) < schema.get("minItems", 0):
        return f"{path}: fewer than {schema['minItems']} items"
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        return f"{path}: more than {schema['maxItems']} items"
    if schema.get("uniqueItems"):
        seen: list[Any] = []
        for item in value:
            if item in seen:
                return f"{path}: items are not unique"
            seen.append(item)
    items = schema.get("items")
    if items is not None:
        for i, item in enumerate(value):
            error = first_error(item, items, f"{path}[{i}]")
            if error is not None:
                return error
    return None


def _string_error(value: Any, schema: Mapping[str, Any], path: str) -> str | None:
    if not isinstance(value, str):
        return None
    if len(value) < schema.get("minLength", 0):
        return f"{path}: shorter than {schema['minLength']} characters"
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return f"{path}: longer than {schema['maxLength']} characters"
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        return f"{path}: does not match the pattern"
    return None


def _number_error(value: Any, schema: Mapping[str, Any], path: str) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if "minimum" in schema and value < schema["minimum"]:
        return f"{path}: below the minimum {schema['minimum']}"
    if "maximum" in schema and value > schema["maximum"]:
        return f"{path}: above the maximum {schema['maximum']}"
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        return f"{path}: not above {schema['exclusiveMinimum']}"
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        return f"{path}: not below {schema['exclusiveMaximum']}"
    step = schema.get("multipleOf")
    if step is not None and not math.isclose(value / step, round(value / step)):
        return f"{path}: not a multiple of {step}"
    return None


def _combined_error(value: Any, schema: Mapping[str, Any], path: str) -> str | None:
    for sub in schema.get("allOf", ()):
        error = first_error(value, sub, path)
        if error is not None:
            return error
    if "anyOf" in schema and all(first_error(value, s, path) for s in schema["anyOf"]):
        return f"{path}: matches none of anyOf"
    if "oneOf" in schema:
        matches = sum(first_error(value, s, path) is None for s in schema["oneOf"])
        if matches != 1:
            return f"{path}: matches {matches} of oneOf, not exactly one"
    if "not" in schema and first_error(value, schema["not"], path) is None:
        return f"{path}: matches a schema it must not"
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
