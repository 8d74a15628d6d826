"""The checks behind `routing_chat_model.config`: every value with the path to its key."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

from routing_chat_model._config_gates import parse_gates
from routing_chat_model.config import (
    _CONVERSATION_KEYS,
    _RULE_KEYS,
    _SELECTOR_OPTIONS,
    _TOP_LEVEL,
    LINK_KINDS,
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
            gates=parse_gates(self, data["gates"], names) if "gates" in data else (),
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

    def prices(
        self, value: object, names: list[str], at: str = "prices"
    ) -> dict[str, dict[str, float]] | None:
        if value is None:
            return None
        keys = ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok")
        out = {}
        for model, price in self.table(value, at).items():
            key = f"{at}.{model}"
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
        wrappers = {k: table.pop(k) for k in _CONVERSATION_KEYS if k in table}
        kind, options = self.kind_and_options(table, "selector", SELECTOR_KINDS)
        links: tuple[SelectorSpec, ...] = ()
        if kind in ("chain", "weighted"):
            links = self.links(kind, options.pop("links", None), names)
            kinds = {link.kind for link in links}
        else:
            kinds = {kind}
        label = kind
        rules = self.rules(data.get("rules"), names) if has_rules else ()
        if has_rules and "rules" not in kinds:
            self.fail(
                "rules",
                f"not used by the {label!r} selector; remove them or use a rules selector "
                '(selector.type = "rules", or a {type = "rules"} link)',
            )
        if "rules" in kinds and not rules:
            self.fail("rules", "missing: a rules selector needs at least one [[rules]] entry")
        routes = self.routes(data.get("routes"), names, kinds, label) if has_routes else ()
        if "llm" in kinds and not any(r.description is not None for r in routes):
            self.fail(
                "routes",
                "the 'llm' selector needs a description for each route it "
                'may choose, e.g. [routes.billing] description = "refunds, invoices"',
            )
        if "embedding" in kinds and not routes:
            self.fail("routes", "missing: an embedding selector needs [routes.<name>] examples")
        model: ModelSpec | str | None = None
        if kind == "llm":
            model = self.llm_model(options.pop("model", None), names, "selector.model")
        links = tuple(replace(link, routes=routes, rules=rules) for link in links)
        return SelectorSpec(
            kind,
            MappingProxyType(options),
            routes,
            rules,
            model,
            links=links,
            **self.conversation(wrappers, names),
        )

    def kind_and_options(
        self, table: dict[str, Any], key: str, kinds: tuple[str, ...], extra: tuple[str, ...] = ()
    ) -> tuple[str, dict[str, Any]]:
        """A selector table's `type` and its other keys, checked for that type."""
        if "type" not in table:
            self.fail(f"{key}.type", f"missing; use one of: {', '.join(kinds)}")
        kind = self.string(table.pop("type"), f"{key}.type")
        if kind not in kinds:
            nested = " (links do not nest)" if kind in ("chain", "weighted") else ""
            self.fail(
                f"{key}.type",
                f"unknown selector {kind!r}{nested}; use one of: {', '.join(kinds)}",
            )
        self.table(table, key, (*_SELECTOR_OPTIONS[kind], *extra))
        return kind, self.options(kind, table, key)

    def links(self, kind: str, value: object, names: list[str]) -> tuple[SelectorSpec, ...]:
        key = "selector.links"
        if value is None:
            self.fail(key, f'missing: a {kind} selector needs links, e.g. [{{type = "rules"}}]')
        if not isinstance(value, list) or not value:
            self.fail(key, f"expected a non-empty list of selector tables, got {_describe(value)}")
        out = []
        for i, raw in enumerate(value):
            at = f"{key}[{i}]"
            table = self.table(raw, at)
            weight: float | None = None
            if kind == "weighted":
                if "weight" not in table:
                    self.fail(f"{at}.weight", "missing: each link of a weighted selector has one")
                weight = self.number(table.pop("weight"), f"{at}.weight")
                if weight < 0:
                    self.fail(f"{at}.weight", f"expected a number >= 0, got {weight:g}")
            link_kind, options = self.kind_and_options(table, at, LINK_KINDS)
            model: ModelSpec | str | None = None
            if link_kind == "llm":
                model = self.llm_model(options.pop("model", None), names, f"{at}.model")
            out.append(
                SelectorSpec(
                    link_kind, MappingProxyType(options), model=model, weight=weight, key=at
                )
            )
        if kind == "weighted" and not any(link.weight for link in out):
            self.fail(f"{key}[0].weight", "every weight is 0; give at least one weight > 0")
        return tuple(out)

    def conversation(self, table: dict[str, Any], names: list[str]) -> dict[str, Any]:
        """`sticky`, `escalate_only`, `thread_keys` and `max_threads` of the selector table."""
        out: dict[str, Any] = {}
        if "sticky" in table:
            if not isinstance(table["sticky"], bool):
                self.fail("selector.sticky", f"expected true or false, got {table['sticky']!r}")
            out["sticky"] = table["sticky"]
        if "escalate_only" in table:
            key = "selector.escalate_only"
            order = self.strings(table["escalate_only"], key)
            for i, name in enumerate(order):
                self.model_name(name, f"{key}[{i}]", names)
            if len(order) < 2 or len(set(order)) != len(order):
                self.fail(
                    key, f"expected 2 or more distinct model names, weakest first, got {order}"
                )
            if out.get("sticky"):
                self.fail(key, "a selector is sticky or escalate_only, not both; keep one")
            out["escalate_only"] = tuple(order)
        settings: dict[str, Any] = {}
        if "thread_keys" in table:
            settings["keys"] = tuple(self.strings(table["thread_keys"], "selector.thread_keys"))
        if "max_threads" in table:
            settings["max_threads"] = self.integer(table["max_threads"], "selector.max_threads", 1)
        if settings and not (out.get("sticky") or "escalate_only" in out):
            which = "thread_keys" if "keys" in settings else "max_threads"
            self.fail(f"selector.{which}", "only used with sticky = true or escalate_only")
        out["conversation"] = MappingProxyType(settings)
        return out

    def options(self, kind: str, table: dict[str, Any], prefix: str = "selector") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in table.items():
            key = f"{prefix}.{name}"
            if name in ("threshold", "encoder_timeout_s"):
                out[name] = self.number(value, key)
            elif name in ("top_k", "max_chars"):
                out[name] = self.integer(value, key, low=1)
            elif name == "cache_size":
                out[name] = self.integer(value, key)
            elif name == "path":
                path = Path(self.string(value, key))
                out[name] = path if path.is_absolute() else self.source.parent / path
            elif name in ("model", "links"):  # checked by the caller
                out[name] = value
            else:  # aggregation, on_encoder_error, instructions, method, normalize
                out[name] = self.string(value, key)
        if kind in ("learned", "classifier") and "path" not in out:
            self.fail(f"{prefix}.path", f"missing: the file a {kind} selector was saved to")
        if kind == "classifier" and "threshold" in out and not 0 <= out["threshold"] <= 1:
            self.fail(
                f"{prefix}.threshold", f"expected a probability in [0, 1], got {out['threshold']:g}"
            )
        return out

    def llm_model(self, value: object, names: list[str], key: str) -> ModelSpec | str:
        if value is None:
            self.fail(
                key,
                "missing: a model name from [models], or "
                "'provider:model' for a separate routing model",
            )
        if isinstance(value, str) and value in names:
            return value
        return self.model(value, key, "")

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

    def routes(
        self, value: object, names: list[str], kinds: Collection[str], label: str
    ) -> tuple[RouteSpec, ...]:
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
            if "embedding" not in kinds:
                for unused in ("examples", "threshold"):
                    if unused in table:
                        self.fail(f"{key}.{unused}", f"not used by the {label!r} selector")
            elif not examples:
                self.fail(f"{key}.examples", "missing: an embedding route needs example requests")
            out.append(RouteSpec(name, tuple(examples), description, threshold))
        return tuple(out)
