"""Read a prompt the way a model would: which tool to call, and values valid for a schema.

The scripted fake chat models use this to answer tool calls and structured-output requests
deterministically, the way a real model would: numbers in the prompt become integer and number
fields in order ("add 2 and 3" -> a=2, b=3), quoted text becomes string fields in order
(`named 'ACME'` -> "ACME"), and everything else gets a schema-valid stand-in (first enum value,
`examples[0]`, the default, or "example <field>"). Required properties are always present;
optional ones only when the prompt mentions their name, so answers stay minimal.

`pick_tool` chooses the bound tool to call from `tool_choice` and the tools the prompt
mentions. Framework-free: plain dicts in, plain JSON values out. Handles `$ref` into `$defs` /
`definitions`, `allOf`, `anyOf` / `oneOf` (the first branch that is not null), type lists,
arrays (`minItems`, at least one item), numeric bounds, string lengths and common formats.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["PromptValues", "example_from_schema", "pick_tool"]

_NUMBER_RE = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?!\w)")
_QUOTED_RE = re.compile(
    r"(?<!\w)'([^'\n]+)'(?!\w)|\"([^\"\n]+)\"|\u201c([^\u201d\n]+)\u201d"
    r"|\u2018([^\u2019\n]+)\u2019|\u300c([^\u300d\n]+)\u300d|\u300e([^\u300f\n]+)\u300f"
)
_FORMATS: Mapping[str, str] = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com",
    "url": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_FORCING_CHOICES = ("any", "required")
_GENERIC_WORDS = frozenset({"tool", "tools", "function", "call", "args", "make", "create"})
"""Name parts too common to count as a mention of a tool."""
_MAX_DEPTH = 8
"""Past this nesting depth objects and arrays come out empty (stops recursive schemas)."""


class PromptValues:
    """The numbers and quoted strings of a prompt, handed out one at a time in prompt order."""

    __slots__ = ("_numbers", "_strings", "_text")

    def __init__(self, prompt: str) -> None:
        self._text = prompt.lower()
        self._numbers: list[int | float] = [
            float(raw) if "." in raw else int(raw) for raw in _NUMBER_RE.findall(prompt)
        ]
        self._strings = [next(g for g in groups if g) for groups in _QUOTED_RE.findall(prompt)]
        self._numbers.reverse()
        self._strings.reverse()

    def number(self) -> int | float | None:
        """Return the next number of the prompt, or None when all were used."""
        return self._numbers.pop() if self._numbers else None

    def string(self) -> str | None:
        """Return the next quoted text of the prompt, or None when all were used."""
        return self._strings.pop() if self._strings else None

    def mentions(self, name: str) -> bool:
        """Whether a word of the prompt starts with this name (case-insensitive, `_` as space)."""
        lowered = name.lower()
        return any(
            re.search(rf"\b{re.escape(form)}", self._text)
            for form in {lowered, lowered.replace("_", " ")}
        )


def example_from_schema(schema: Mapping[str, Any], prompt: str | PromptValues = "") -> Any:
    """Return a value valid against `schema`, taking numbers and quoted text from `prompt`.

    Args:
        schema: A JSON schema (an object schema for tool arguments and structured output).
        prompt: The text to take values from, or a `PromptValues` already partly consumed.

    Returns:
        A JSON-compatible value (a dict for object schemas).
    """
    values = prompt if isinstance(prompt, PromptValues) else PromptValues(prompt)
    return _Builder(schema, values).value(schema, "value", 0)


class _Builder:
    """One traversal of a schema; `root` is where `$ref`s are resolved."""

    def __init__(self, root: Mapping[str, Any], values: PromptValues) -> None:
        self.root = root
        self.values = values

    def value(self, schema: Mapping[str, Any], key: str, depth: int) -> Any:
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for combinator in ("anyOf", "oneOf"):
            if schema.get(combinator):
                return self.value(self.first_non_null(schema[combinator]), key, depth)
        kind = _type_of(schema)
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, key, depth)
        if kind in ("integer", "number"):
            return self.number(schema, integer=kind == "integer")
        if kind == "boolean":
            default = schema.get("default")
            return default if isinstance(default, bool) else True
        if kind == "null":
            return None
        return self.string(schema, key)

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        for _ in range(32):  # bounded: a $ref cycle without structure must not hang
            ref = schema.get("$ref")
            if not isinstance(ref, str):
                break
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**self.lookup(ref), **rest}
        if schema.get("allOf"):
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                part = self.resolve(part)
                merged.setdefault("properties", {}).update(part.get("properties", {}))
                merged["required"] = [*merged.get("required", []), *part.get("required", [])]
                for k, v in part.items():
                    merged.setdefault(k, v)
            schema = merged
        return schema

    def lookup(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#"):
            return {}
        node: Any = self.root
        for part in ref.lstrip("#").strip("/").split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or part not in node:
                return {}
            node = node[part]
        return node if isinstance(node, Mapping) else {}

    def first_non_null(self, options: list[Mapping[str, Any]]) -> Mapping[str, Any]:
        for option in options:
            if _type_of(self.resolve(option)) != "null":
                return option
        return {"type": "null"}

    def object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        if depth >= _MAX_DEPTH:
            return {}
        required = set(schema.get("required", ()))
        return {
            name: self.value(sub, name, depth + 1)
            for name, sub in schema.get("properties", {}).items()
            if name in required or self.values.mentions(name)
        }

    def array(self, schema: Mapping[str, Any], key: str, depth: int) -> list[Any]:
        count = max(int(schema.get("minItems", 0)), 1)
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        if depth >= _MAX_DEPTH:
            count = int(schema.get("minItems", 0))
        items = schema.get("items")
        item_schema = items if isinstance(items, Mapping) else {}
        return [self.value(item_schema, key, depth + 1) for _ in range(count)]

    def number(self, schema: Mapping[str, Any], *, integer: bool) -> int | float:
        found = self.values.number()
        if found is None:
            found = _first_of(schema, (int, float)) or 0
        low, high = schema.get("minimum"), schema.get("maximum")
        if isinstance(schema.get("exclusiveMinimum"), (int, float)):
            low = schema["exclusiveMinimum"] + 1
        if isinstance(schema.get("exclusiveMaximum"), (int, float)):
            high = schema["exclusiveMaximum"] - 1
        if low is not None and found < low:
            found = low
        if high is not None and found > high:
            found = high
        return int(found) if integer else found

    def string(self, schema: Mapping[str, Any], key: str) -> str:
        text = _FORMATS.get(str(schema.get("format")))
        if text is None:
            text = self.values.string() or _first_of(schema, (str,)) or f"example {key}"
        if isinstance(schema.get("maxLength"), int):
            text = text[: schema["maxLength"]]
        if isinstance(schema.get("minLength"), int):
            text = text.ljust(schema["minLength"], "x")
        return text


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _first_of(schema: Mapping[str, Any], kinds: tuple[type, ...]) -> Any:
    """Return `examples[0]` or the default when it has the wanted type, else None."""
    examples = schema.get("examples")
    for candidate in (
        examples[0] if isinstance(examples, list) and examples else None,
        schema.get("default"),
    ):
        if isinstance(candidate, kinds) and not isinstance(candidate, bool):
            return candidate
    return None


def pick_tool(
    functions: list[dict[str, Any]], tool_choice: Any, prompt: str
) -> dict[str, Any] | None:
    """Return the function spec a model should call, or None to answer in text.

    Args:
        functions: Bound tools as OpenAI function specs (`name`, `parameters`).
        tool_choice: `None`/`"auto"` (call a tool the prompt mentions), `"any"`,
            `"required"` or `True` (always call one: the mentioned one, else the first),
            `"none"`/`False`, a tool name, or `{"type": "function", "function": {"name": ...}}`.
        prompt: The last human message, searched for mentions of a tool.

    Raises:
        ValueError: `tool_choice` names a tool that is not bound.
    """
    if tool_choice in ("none", False) or not functions:
        return None
    forced = tool_choice in (*_FORCING_CHOICES, True)
    wanted: Any = None
    if isinstance(tool_choice, Mapping):
        inner = tool_choice.get("function")
        wanted = inner.get("name") if isinstance(inner, Mapping) else tool_choice.get("name")
        forced = forced or tool_choice.get("type") in _FORCING_CHOICES
    elif isinstance(tool_choice, str) and tool_choice not in ("auto", *_FORCING_CHOICES):
        wanted = tool_choice
    if wanted is not None:
        for function in functions:
            if function.get("name") == wanted:
                return function
        names = [f.get("name") for f in functions]
        raise ValueError(f"tool_choice names {wanted!r}, which is not a bound tool {names}")
    mentioned = _mentioned_tool(functions, prompt)
    if mentioned is not None:
        return mentioned
    return functions[0] if forced else None


def _mentioned_tool(functions: list[dict[str, Any]], prompt: str) -> dict[str, Any] | None:
    """Return the tool the prompt mentions first: its name or a distinctive word of it."""
    text = prompt.lower()
    best: tuple[int, int] | None = None
    for index, function in enumerate(functions):
        name = str(function.get("name", ""))
        patterns = [rf"\b{re.escape(name.lower())}\b"] if name else []
        for word in re.split(r"[_\-\s]+|(?<=[a-z])(?=[A-Z])", name):
            if len(word) >= 4 and word.lower() not in _GENERIC_WORDS:
                patterns.append(rf"\b{re.escape(word.lower())}")  # "weather" also finds "weathers"
        hits = [found.start() for p in patterns if (found := re.search(p, text))]
        if hits and (best is None or min(hits) < best[0]):
            best = (min(hits), index)
    return functions[best[1]] if best is not None else None
