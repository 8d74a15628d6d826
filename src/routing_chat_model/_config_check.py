"""The checks behind `routing_chat_model.config`: every value with the path to its key."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

from routing_chat_model.config import (
    _RULE_KEYS,
    _SELECTOR_OPTIONS,
    _TOP_LEVEL,
    SELECTOR_KINDS,
    ModelSpec,
    RouterSpec,
    RouteSpec,
    SelectorSpec,
)
from routing_chat_model.errors import RouteConfigError
from routing_chat_model.request import RouteOn, validate_route_on

__all__ = ["Parser"]


def _describe(value: object) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Parser:
    """Type checks with the path of every value, so errors point at the bad key."""

    def __init__(self, source: Path) -> None:
        self.source = source

    def fail(self, key: str, message: str) -> NoReturn:
        raise RouteConfigError(f"{self.source.name}: {key}: {message}")

    def table(
        self, value: object, key: str, allowed: Collection[str] | None = None
    ) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(key, f"expected a table, got {_describe(value)}")
        for name in value:
            if not isinstance(name, str):
                self.fail(key, f"keys must be strings, got {name!r}")
            if allowed is not None and name not in allowed:
                self.fail(
                    f"{key}.{name}" if key else name,
                    f"unknown key; expected one of: {', '.join(allowed)}",
                )
        return dict(value)

    def string(self, value: object, key: str) -> str:
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {_describe(value)}")
        if not value.strip():
            self.fail(key, "expected a non-empty string")
        return value

    def strings(self, value: object, key: str, *, allow_empty: bool = False) -> list[str]:
        if not isinstance(value, list):
            self.fail(key, f"expected a list of strings, got {_describe(value)}")
        if not value and not allow_empty:
            self.fail(key, "expected at least one string, got an empty list")
        return [self.string(item, f"{key}[{i}]") for i, item in enumerate(value)]

    def number(self, value: object, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"expected a number, got {_describe(value)}")
        if not math.isfinite(value):
            self.fail(key, f"expected a finite number, got {value!r}")
        return float(value)

    def integer(self, value: object, key: str, low: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected an integer, got {_describe(value)}")
        if value < low:
            self.fail(key, f"expected an integer >= {low}, got {value}")
        return value

    def model_name(self, value: object, key: str, models: Collection[str]) -> str:
        name = self.string(value, key)
        if name not in models:
            self.fail(key, f"{name!r} is not one of the models ({', '.join(models)})")
        return name

    # -- sections -------------------------------------------------------------------------------

    def spec(self, data: Mapping[str, Any]) -> RouterSpec:
        data = self.table(data, "")
        if "models" not in data:
            self.fail(
                "models",
                'missing: declare at least one model, e.g. [models] fast = "openai:gpt-4o-mini"',
            )
        models = self.models(data["models"])
        names = [m.name for m in models]
        settings = {k: v for k, v in data.items() if k not in _TOP_LEVEL}
        return RouterSpec(
            source=self.source,
            models=models,
            default=self.model_name(data["default"], "default", names)
            if "default" in data
            else None,
            fallbacks=self.fallbacks(data["fallbacks"], names) if "fallbacks" in data else None,
            route_on=self.route_on(data["route_on"]) if "route_on" in data else None,
            capabilities=self.capabilities(data.get("capabilities"), names),
            prices=self.prices(data.get("prices"), names),
            fallback_on=self.strings(data["fallback_on"], "fallback_on", allow_empty=True)
            if "fallback_on" in data
            else None,
            selector=self.selector(data, names),
            settings=MappingProxyType(settings),
        )

    def models(self, value: object) -> tuple[ModelSpec, ...]:
        table = self.table(value, "models")
        if not table:
            self.fail("models", "expected at least one model")
        return tuple(self.model(spec, f"models.{name}", name) for name, spec in table.items())

    def model(self, value: object, key: str, name: str) -> ModelSpec:
        if isinstance(value, str):
            provider, sep, model = value.partition(":")
            if not sep or not provider.strip() or not model.strip():
                self.fail(
                    key,
                    f"expected 'provider:model' (e.g. 'openai:gpt-4o-mini'), got {value!r}",
                )
            return ModelSpec(name, provider.strip(), model.strip(), key=key)
        if not isinstance(value, Mapping):
            self.fail(key, f"expected 'provider:model' or a table, got {_describe(value)}")
        table = self.table(value, key, ("provider", "model", "kwargs"))
        for required in ("provider", "model"):
            if required not in table:
                self.fail(f"{key}.{required}", "missing")
        kwargs = self.table(table.get("kwargs", {}), f"{key}.kwargs")
        return ModelSpec(
            name,
            self.string(table["provider"], f"{key}.provider"),
            self.string(table["model"], f"{key}.model"),
            MappingProxyType(kwargs),
            key=key,
        )

    def fallbacks(self, value: object, names: list[str]) -> list[str] | dict[str, list[str]]:
        if isinstance(value, list):
            return [self.model_name(v, f"fallbacks[{i}]", names) for i, v in enumerate(value)]
        table = self.table(value, "fallbacks")
        out: dict[str, list[str]] = {}
        for route, order in table.items():
            key = f"fallbacks.{route}"
            self.model_name(route, key, names)
            if not isinstance(order, list):
                self.fail(key, f"expected a list of model names, got {_describe(order)}")
            out[route] = [self.model_name(v, f"{key}[{i}]", names) for i, v in enumerate(order)]
        return out

    def route_on(self, value: object) -> RouteOn:
        try:
            return validate_route_on(value)
        except RouteConfigError as exc:
            self.fail("route_on", str(exc))

    def capabilities(self, value: object, names: list[str]) -> dict[str, dict[str, Any]] | None:
        if value is None:
            return None
        from routing_chat_model.router import ModelCapabilities

        keys = ("tool_calling", "structured_output", "image_inputs", "max_input_tokens")
        out = {}
        for model, caps in self.table(value, "capabilities").items():
            key = f"capabilities.{model}"
            self.model_name(model, key, names)
            table = self.table(caps, key, keys)
            try:
                ModelCapabilities.from_mapping(key, table)
            except RouteConfigError as exc:
                self.fail(key, str(exc))
            out[model] = table
        return out

    def prices(self, value: object, names: list[str]) -> dict[str, dict[str, float]] | None:
        if value is None:
            return None
        keys = ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok")
        out = {}
        for model, price in self.table(value, "prices").items():
            key = f"prices.{model}"
            table = self.table(price, key, keys)
            for required in keys[:2]:
                if required not in table:
                    self.fail(f"{key}.{required}", "missing")
            checked = {k: self.number(v, f"{key}.{k}") for k, v in table.items()}
            for k, v in checked.items():
                if v < 0:
                    self.fail(f"{key}.{k}", f"a price cannot be negative, got {v}")
            out[model] = checked
        return out

    def selector(self, data: Mapping[str, Any], names: list[str]) -> SelectorSpec | None:
        raw = data.get("selector")
        has_rules, has_routes = "rules" in data, "routes" in data
        if raw is None:
            if has_rules and has_routes:
                self.fail(
                    "selector",
                    "missing: the file has both rules and routes; say which "
                    'selector to use, e.g. [selector] type = "embedding"',
                )
            if not has_rules and not has_routes:
                return None
            raw = "rules" if has_rules else "embedding"
        if isinstance(raw, str):
            raw = {"type": raw}
        table = self.table(raw, "selector")
        if "type" not in table:
            self.fail("selector.type", f"missing; use one of: {', '.join(SELECTOR_KINDS)}")
        kind = self.string(table.pop("type"), "selector.type")
        if kind not in SELECTOR_KINDS:
            self.fail(
                "selector.type",
                f"unknown selector {kind!r}; use one of: {', '.join(SELECTOR_KINDS)}",
            )
        self.table(table, "selector", _SELECTOR_OPTIONS[kind])
        options = self.options(kind, table)
        rules = self.rules(data.get("rules"), names) if has_rules else ()
        if has_rules and kind != "rules":
            self.fail(
                "rules",
                f'not used by the {kind!r} selector; remove them or set selector.type = "rules"',
            )
        if kind == "rules" and not rules:
            self.fail("rules", "missing: a rules selector needs at least one [[rules]] entry")
        routes = self.routes(data.get("routes"), names, kind) if has_routes else ()
        model: ModelSpec | str | None = None
        if kind == "llm":
            model = self.llm_model(options.pop("model", None), names)
            described = {r.name for r in routes if r.description is not None}
            if len(described) < 1:
                self.fail(
                    "routes",
                    "the 'llm' selector needs a description for each route it "
                    'may choose, e.g. [routes.billing] description = "refunds, invoices"',
                )
        if kind == "embedding" and not routes:
            self.fail("routes", "missing: an embedding selector needs [routes.<name>] examples")
        return SelectorSpec(kind, MappingProxyType(options), routes, rules, model)

    def options(self, kind: str, table: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in table.items():
            key = f"selector.{name}"
            if name in ("threshold", "encoder_timeout_s"):
                out[name] = self.number(value, key)
            elif name in ("top_k", "max_chars"):
                out[name] = self.integer(value, key, low=1)
            elif name == "cache_size":
                out[name] = self.integer(value, key)
            elif name == "path":
                path = Path(self.string(value, key))
                out[name] = path if path.is_absolute() else self.source.parent / path
            else:  # aggregation, on_encoder_error, instructions, method, model (checked later)
                out[name] = value if name == "model" else self.string(value, key)
        if kind in ("learned", "classifier") and "path" not in out:
            self.fail("selector.path", f"missing: the file a {kind} selector was saved to")
        return out

    def llm_model(self, value: object, names: list[str]) -> ModelSpec | str:
        if value is None:
            self.fail(
                "selector.model",
                "missing: a model name from [models], or "
                "'provider:model' for a separate routing model",
            )
        if isinstance(value, str) and value in names:
            return value
        return self.model(value, "selector.model", "")

    def rules(self, value: object, names: list[str]) -> tuple[Mapping[str, Any], ...]:
        if not isinstance(value, list):
            self.fail(
                "rules", f"expected a list of rule tables ([[rules]]), got {_describe(value)}"
            )
        out = []
        for i, raw in enumerate(value):
            key = f"rules[{i}]"
            table = self.table(raw, key, (*_RULE_KEYS, "name"))
            if "route" not in table:
                self.fail(f"{key}.route", "missing: the model matching requests go to")
            rule: dict[str, Any] = {"route": self.model_name(table["route"], f"{key}.route", names)}
            for name, item in table.items():
                at = f"{key}.{name}"
                if name == "keywords":
                    rule[name] = self.strings(item, at)
                elif name in ("pattern", "name"):
                    rule[name] = self.string(item, at)
                elif name in ("min_tokens", "max_tokens"):
                    rule[name] = self.integer(item, at)
                elif name == "metadata":
                    rule[name] = self.table(item, at)
                elif name == "has_tools":
                    if not isinstance(item, bool):
                        self.fail(at, f"expected true or false, got {_describe(item)}")
                    rule[name] = item
            out.append(MappingProxyType(rule))
        return tuple(out)

    def routes(self, value: object, names: list[str], kind: str) -> tuple[RouteSpec, ...]:
        allowed = ("examples", "description", "threshold")
        out = []
        for name, raw in self.table(value, "routes").items():
            key = f"routes.{name}"
            self.model_name(name, key, names)
            table = self.table(raw, key, allowed)
            examples = (
                self.strings(table["examples"], f"{key}.examples") if "examples" in table else []
            )
            threshold = (
                self.number(table["threshold"], f"{key}.threshold")
                if "threshold" in table
                else None
            )
            description = (
                self.string(table["description"], f"{key}.description")
                if "description" in table
                else None
            )
            if kind != "embedding":
                for unused in ("examples", "threshold"):
                    if unused in table:
                        self.fail(f"{key}.{unused}", f"not used by the {kind!r} selector")
            elif not examples:
                self.fail(f"{key}.examples", "missing: an embedding route needs example requests")
            out.append(RouteSpec(name, tuple(examples), description, threshold))
        return tuple(out)
