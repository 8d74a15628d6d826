"""Settings checks and message helpers of `Budget` (kept apart so budget.py stays readable)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TypeAlias

from routing_chat_model.errors import RouteConfigError
from routing_chat_model.policy.ledger import Ledger, Period
from routing_chat_model.pricing import ModelPrice, Pricing

__all__ = [
    "TenantBudget",
    "check_limits",
    "check_period",
    "check_retention",
    "cheapest",
    "fits",
    "money",
    "names",
    "one_of",
    "priced",
    "pricing",
    "usd",
]

TenantBudget: TypeAlias = "float | Mapping[str, float] | Callable[[str], float | None]"
"""One budget for every tenant (USD per period), one per tenant (a `"*"` key for the rest), or
a function tenant -> budget (None: that tenant is not budgeted)."""

_DAY = 86_400.0
_LONGEST = {"day": _DAY + 3600.0, "month": 31 * _DAY + 3600.0}
"""The longest a calendar period lasts (a DST hour included)."""


def fits(estimate: float | None, limit: float, *, unknown_fits: bool) -> bool:
    if estimate is None:
        return unknown_fits or limit > 0
    return estimate <= limit


def cheapest(estimates: Mapping[str, float | None]) -> tuple[str | None, float | None]:
    known = [(cost, route) for route, cost in estimates.items() if cost is not None]
    if not known:
        return None, None
    cost, route = min(known)
    return route, cost


def priced(
    allowed: Sequence[str], fits: Sequence[str], estimates: Mapping[str, float | None]
) -> str:
    return ", ".join(f"{r} (~{money(estimates[r])})" for r in allowed if r not in fits)


def money(value: float | None) -> str:
    if value is None:
        return "unknown"
    if abs(value) >= 100:
        return f"${value:,.2f}"
    if 0 < abs(value) < 1e-6:
        return f"${value:.1e}"
    digits = f"{value:.6f}".rstrip("0")
    whole, _, cents = digits.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def pricing(
    prices: Mapping[str, ModelPrice | Mapping[str, float]] | None, pricing: Pricing | None
) -> Pricing:
    if (prices is None) == (pricing is None):
        raise RouteConfigError(
            "Budget needs each route's price, from exactly one of: prices={'<route>': "
            "{'input_per_mtok': 0.15, 'output_per_mtok': 0.6}, ...} or pricing=Pricing(...) "
            "(with model_names={'<route>': '<provider model name>'} for catalogue prices)."
        )
    if pricing is not None:
        if not isinstance(pricing, Pricing):
            raise RouteConfigError(f"Budget.pricing must be a Pricing, got {pricing!r}.")
        return pricing
    try:
        return Pricing(prices, use_genai_prices=False)
    except RouteConfigError as exc:
        raise RouteConfigError(f"Budget.prices: {exc}") from None


def names(what: str, names: Mapping[str, str] | None) -> Mapping[str, str]:
    if names is None:
        return {}
    if not isinstance(names, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in names.items()
    ):
        raise RouteConfigError(f"Budget.{what} must map route names to strings, got {names!r}.")
    return dict(names)


def usd(what: str, value: object, *, positive: bool = False, unit: str = "USD") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RouteConfigError(f"Budget.{what} must be a number ({unit}), got {value!r}.")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        bound = "> 0" if positive else ">= 0"
        raise RouteConfigError(
            f"Budget.{what} must be a finite number {bound} ({unit}), got {value!r}."
        )
    return number


def check_limits(
    limits: TenantBudget | None,
) -> float | Mapping[str, float] | Callable[[str], float | None] | None:
    if limits is None:
        return None
    if isinstance(limits, Mapping):
        checked: dict[str, float] = {}
        for tenant, value in limits.items():
            if not isinstance(tenant, str) or not tenant.strip():
                raise RouteConfigError(
                    f"Budget.tenant_budget keys must be tenant names (str), got {tenant!r}."
                )
            checked[tenant] = usd(f"tenant_budget[{tenant!r}]", value)
        return checked
    if callable(limits):
        return limits
    return usd("tenant_budget", limits)


def check_period(period: object) -> Period:
    if period == "day":
        return "day"
    if period == "month":
        return "month"
    if (
        isinstance(period, (int, float))
        and not isinstance(period, bool)
        and math.isfinite(period)
        and period > 0
    ):
        return float(period)
    raise RouteConfigError(
        f"Budget.period={period!r} is not valid: use 'day', 'month' (calendar, in tz) or a "
        "rolling window in seconds > 0, e.g. period=3600."
    )


def check_retention(period: Period, ledger: Ledger) -> None:
    max_age = getattr(ledger, "max_age", None)
    longest = _LONGEST[period] if isinstance(period, str) else period
    if isinstance(max_age, (int, float)) and max_age < longest:
        raise RouteConfigError(
            f"Budget.period={period!r} is longer than the ledger keeps spend "
            f"(max_age={max_age:g} s): build the ledger with max_age >= {longest:g}."
        )


def one_of(what: str, value: object, accepted: tuple[str, ...]) -> None:
    if value not in accepted:
        raise RouteConfigError(
            f"Budget.{what}={value!r} is not valid: use one of {', '.join(map(repr, accepted))}."
        )
