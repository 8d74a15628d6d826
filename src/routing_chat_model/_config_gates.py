"""The `[[gates]]` of a router file: checked with the path to every key, then built.

A file declares budget, compliance and latency gates with their plain settings (see
`routing_chat_model.config`); anything that is a Python object (custom detectors, a shared
ledger, a clock) is passed in code with `from_config(path, gates=[...])` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from routing_chat_model.config import GATE_KINDS, GateSpec, RouterSpec

if TYPE_CHECKING:
    from routing_chat_model._config_check import Parser

__all__ = ["GATE_KEYS", "build_gate", "parse_gates"]

GATE_KEYS: Mapping[str, tuple[str, ...]] = {
    "budget": (
        "max_cost_per_call",
        "tenant_budget",
        "tenant_key",
        "period",
        "tz",
        "expected_output_tokens",
        "unknown_price",
        "missing_tenant",
        "hold_seconds",
        "prices",
    ),
    "compliance": ("local", "detectors", "metadata_key", "roles", "allow_selector"),
    "latency": (
        "max_ms",
        "statistic",
        "min_samples",
        "window",
        "alpha",
        "max_age",
        "count_timeouts",
    ),
}
"""The settings each gate type takes in a file (besides `type` and `name`)."""


def parse_gates(p: Parser, value: object, names: list[str]) -> tuple[GateSpec, ...]:
    """Check the `gates` list: each entry's type and settings, with the path to the bad key."""
    if not isinstance(value, list):
        p.fail("gates", f"expected a list of gate tables ([[gates]]), got {_kind(value)}")
    out = []
    for i, raw in enumerate(value):
        key = f"gates[{i}]"
        table = p.table(raw, key)
        if "type" not in table:
            p.fail(f"{key}.type", f"missing; use one of: {', '.join(GATE_KINDS)}")
        kind = p.string(table.pop("type"), f"{key}.type")
        if kind not in GATE_KINDS:
            p.fail(f"{key}.type", f"unknown gate {kind!r}; use one of: {', '.join(GATE_KINDS)}")
        p.table(table, key, (*GATE_KEYS[kind], "name"))
        options: dict[str, Any] = {}
        if "name" in table:
            options["name"] = p.string(table.pop("name"), f"{key}.name")
        check = {"budget": _budget, "compliance": _compliance, "latency": _latency}[kind]
        options.update(check(p, table, key, names))
        out.append(GateSpec(kind, MappingProxyType(options), key))
    return tuple(out)


def build_gate(router: RouterSpec, gate: GateSpec) -> object:
    """The gate object of one checked entry; its own errors are re-raised naming the entry."""
    options = dict(gate.options)
    with router.blame(gate.key):
        if gate.kind == "budget":
            from routing_chat_model.policy.budget import Budget
            from routing_chat_model.pricing import Pricing

            prices = {**(router.prices or {}), **options.pop("prices", {})}
            if "tz" in options:
                from zoneinfo import ZoneInfo

                options["tz"] = ZoneInfo(options["tz"])
            return Budget(
                pricing=Pricing(prices or None),
                model_names={m.name: m.model for m in router.models},
                providers={m.name: m.provider for m in router.models},
                **options,
            )
        if gate.kind == "compliance":
            from routing_chat_model.policy.compliance import Compliance
            from routing_chat_model.policy.detectors import DEFAULT_DETECTORS

            if "detectors" in options:
                shipped = {d.name: d for d in DEFAULT_DETECTORS}
                options["detectors"] = [shipped[n] for n in options["detectors"]]
            return Compliance(**options)
        from routing_chat_model.policy.latency import LatencyTarget

        return LatencyTarget(**options)


# -- each gate's settings --------------------------------------------------------------------


def _kind(value: object) -> str:
    if isinstance(value, Mapping):
        return "a table"
    return "a list" if isinstance(value, list) else repr(value)


def _at_least(p: Parser, value: object, key: str, *, positive: bool = False) -> float:
    number = p.number(value, key)
    if number < 0 or (positive and number == 0):
        p.fail(key, f"expected a number {'> 0' if positive else '>= 0'}, got {value!r}")
    return number


def _choice(p: Parser, value: object, key: str, accepted: tuple[str, ...]) -> str:
    if value not in accepted:
        p.fail(key, f"expected one of {', '.join(map(repr, accepted))}, got {_kind(value)}")
    return str(value)


def _flag(p: Parser, value: object, key: str) -> bool:
    if not isinstance(value, bool):
        p.fail(key, f"expected true or false, got {_kind(value)}")
    return value


def _budget(p: Parser, table: dict[str, Any], key: str, names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in table.items():
        at = f"{key}.{name}"
        if name == "max_cost_per_call":
            out[name] = _at_least(p, value, at)
        elif name == "hold_seconds":
            out[name] = _at_least(p, value, at, positive=True)
        elif name == "tenant_budget":
            out[name] = _tenant_budget(p, value, at)
        elif name == "tenant_key":
            out[name] = p.string(value, at)
        elif name == "tz":
            out[name] = _zone(p, value, at)
        elif name == "period":
            out[name] = _period(p, value, at)
        elif name == "expected_output_tokens":
            out[name] = p.integer(value, at)
        elif name == "unknown_price":
            out[name] = _choice(p, value, at, ("allow", "deny"))
        elif name == "missing_tenant":
            out[name] = _choice(p, value, at, ("refuse", "allow"))
        elif name == "prices":
            out[name] = p.prices(value, names, at) or {}
    if "max_cost_per_call" not in out and "tenant_budget" not in out:
        p.fail(key, "a budget gate limits nothing: set max_cost_per_call, tenant_budget, or both")
    return out


def _tenant_budget(p: Parser, value: object, key: str) -> float | dict[str, float]:
    if not isinstance(value, Mapping):
        return _at_least(p, value, key)
    limits = p.table(value, key)
    if not limits:
        p.fail(key, "expected at least one tenant (or '*' for every other tenant)")
    return {tenant: _at_least(p, v, f"{key}.{tenant}") for tenant, v in limits.items()}


def _period(p: Parser, value: object, key: str) -> str | float:
    if value in ("day", "month"):
        return str(value)
    if isinstance(value, str):
        p.fail(key, f"expected 'day', 'month' or a number of seconds > 0, got {value!r}")
    return _at_least(p, value, key, positive=True)


def _zone(p: Parser, value: object, key: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    zone = p.string(value, key)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        p.fail(key, f"unknown time zone {zone!r}; use an IANA name such as 'Europe/Paris'")
    return zone


def _compliance(p: Parser, table: dict[str, Any], key: str, names: list[str]) -> dict[str, Any]:
    from routing_chat_model.policy.detectors import DEFAULT_DETECTORS

    if "local" not in table:
        p.fail(f"{key}.local", "missing: the models sensitive requests may go to")
    out: dict[str, Any] = {}
    for name, value in table.items():
        at = f"{key}.{name}"
        if name == "local":
            local = p.strings(value, at)
            out[name] = [p.model_name(m, f"{at}[{i}]", names) for i, m in enumerate(local)]
            if len(set(local)) != len(local):
                p.fail(at, f"lists a model twice: {local}")
        elif name == "detectors":
            shipped = [d.name for d in DEFAULT_DETECTORS]
            chosen = p.strings(value, at, allow_empty=True)
            for i, detector in enumerate(chosen):
                if detector not in shipped:
                    p.fail(
                        f"{at}[{i}]",
                        f"unknown detector {detector!r}; the shipped detectors are: "
                        f"{', '.join(shipped)} (pass your own in code: gates=[Compliance(...)])",
                    )
            if len(set(chosen)) != len(chosen):
                p.fail(at, f"names a detector twice: {chosen}")
            out[name] = tuple(chosen)
        elif name == "metadata_key":
            out[name] = None if value is False else p.string(value, at)
        elif name == "roles":
            out[name] = tuple(p.strings(value, at))
        elif name == "allow_selector":
            out[name] = _flag(p, value, at)
    return out


def _latency(p: Parser, table: dict[str, Any], key: str, names: list[str]) -> dict[str, Any]:
    if "max_ms" not in table:
        p.fail(f"{key}.max_ms", "missing: the latency target in milliseconds")
    out: dict[str, Any] = {}
    for name, value in table.items():
        at = f"{key}.{name}"
        if name == "max_ms":
            out[name] = _at_least(p, value, at, positive=True)
        elif name == "statistic":
            out[name] = _choice(p, value, at, ("p95", "p50", "ewma"))
        elif name in ("min_samples", "window"):
            out[name] = p.integer(value, at, low=1)
        elif name == "alpha":
            alpha = p.number(value, at)
            if not 0 < alpha <= 1:
                p.fail(at, f"expected a number in (0, 1], got {value!r}")
            out[name] = alpha
        elif name == "max_age":
            out[name] = None if value is False else _at_least(p, value, at, positive=True)
        elif name == "count_timeouts":
            out[name] = _flag(p, value, at)
    if out.get("min_samples", 20) > out.get("window", 200):
        p.fail(f"{key}.min_samples", "is larger than window: no model could ever be excluded")
    return out
