"""`Budget`: a gate that keeps calls within a cost per call and a spend per tenant per period.

Before a call, the gate estimates what each candidate model would cost for the request (its
prompt's `token_estimate` plus `expected_output_tokens`, at the route's price) and allows only
the models whose estimate fits: under `max_cost_per_call`, and under what the request's tenant
has left of its budget for the period. As a tenant's budget runs low the expensive models drop
out first, so traffic degrades to cheaper ones; the gate refuses (`BudgetExceededError`) only
when no model fits.

Spend is recorded after the call from the final decision (`observe`), in a `Ledger`.

Concurrency: when a call is admitted the gate holds the largest estimate among the models it
allowed (any of them may answer, fallbacks included) until the call's decision is observed, and
later calls see the tenant's remaining budget net of those holds. So within one process a tenant
overspends only when an answer costs more than estimated (a longer answer than
`expected_output_tokens`), by at most that difference. With a shared ledger used by several
processes, each process only sees its own holds: add the other processes' in-flight estimates.
A call that never completes (it failed, or a framework cache answered) releases its hold after
`hold_seconds`; until then the tenant's remaining budget looks lower than it is (errs on the
safe side).

The tenant of a call reaches `observe` through the decision: the gate's restriction reason ends
with an opaque hold reference, `(hold <id>)`, which the decision records in `restrictions`; the
reference, not the tenant, is what the decision carries.
"""

from __future__ import annotations

import itertools
import math
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Literal

from routing_chat_model.decision import RoutingDecision
from routing_chat_model.errors import NoCandidateError, RouteConfigError, RoutingInputError
from routing_chat_model.policy import _budget_settings as _s
from routing_chat_model.policy._budget_settings import TenantBudget
from routing_chat_model.policy.gate import Restriction
from routing_chat_model.policy.ledger import InMemoryLedger, Ledger, Period, period_bounds
from routing_chat_model.pricing import ModelPrice, Pricing
from routing_chat_model.request import RoutingRequest

__all__ = ["Budget", "BudgetExceededError", "BudgetStatus", "TenantBudget"]

_LATE = 4096
"""Expired holds remembered so that a call slower than `hold_seconds` still records spend."""
_MAX_HOLDS = 100_000


class BudgetExceededError(NoCandidateError):
    """No model fits the request's budget: its tenant's remaining spend or the per-call cap.

    Attributes:
        tenant: The tenant refused, or None when the per-call cap refused.
        budget: The tenant's budget for the period (USD), or the per-call cap.
        spent: What the tenant has spent this period (USD); None for the per-call cap.
        cheapest: The lowest estimate among the candidates for this request (USD), if known.
        resets_at: When the tenant's period ends (seconds since the epoch); None for rolling
            windows and the per-call cap.
    """

    def __init__(
        self,
        message: str,
        *,
        tenant: str | None = None,
        budget: float | None = None,
        spent: float | None = None,
        cheapest: float | None = None,
        resets_at: float | None = None,
    ) -> None:
        super().__init__(message)
        self.tenant = tenant
        self.budget = budget
        self.spent = spent
        self.cheapest = cheapest
        self.resets_at = resets_at


@dataclass(frozen=True)
class BudgetStatus:
    """A tenant's budget right now.

    Attributes:
        tenant: The tenant.
        budget: Its budget for the period (USD), or None when it is not budgeted.
        spent: Recorded spend in the current period (USD).
        held: Estimates held by this process's calls in flight (USD).
        remaining: `budget - spent - held`, or None when not budgeted.
        period_start: Start of the current period (seconds since the epoch).
        resets_at: End of the current period, or None for a rolling window.
    """

    tenant: str
    budget: float | None
    spent: float
    held: float
    remaining: float | None
    period_start: float
    resets_at: float | None


@dataclass
class _Hold:
    key: str
    amount: float
    expires: float
    estimates: dict[str, float | None]


class Budget:
    """A gate keeping calls within a cost per call and a budget per tenant per period.

    Args:
        prices: Each route's price, route -> `ModelPrice` or `{"input_per_mtok": ...,
            "output_per_mtok": ...}` (use the same prices as the router's `prices=`).
        pricing: Instead of `prices`, a `Pricing` (overrides and the genai-prices catalogue);
            give `model_names` (route -> provider model name) and `providers` (route ->
            provider) for catalogue lookups.
        model_names: Route -> provider model name, for `pricing`.
        providers: Route -> provider name ("openai", "anthropic"...), for `pricing`.
        max_cost_per_call: The most one call may cost (USD, estimated); None for no cap.
        tenant_budget: What each tenant may spend per `period` (see `TenantBudget`); None for
            no tenant budgets.
        tenant_key: The request metadata key naming the tenant (or user).
        period: "day", "month" (calendar, in `tz`) or a rolling window in seconds.
        tz: Time zone of calendar periods (UTC by default).
        ledger: Where spend is recorded; an `InMemoryLedger` by default.
        expected_output_tokens: Output length assumed by estimates. Answers longer than this
            cost more than estimated (see the module docstring).
        unknown_price: A route without a known price is "allow"ed (estimated as free, flagged
            in the decision; under a tenant budget only while some budget remains) or "deny"ed.
        missing_tenant: A request without `tenant_key` in its metadata is refused
            ("refuse", a `RoutingInputError`) or let through without a tenant budget ("allow").
        hold_seconds: How long an admitted call's estimate is held before it is released
            unobserved.
        clock: Seconds since the epoch (`time.time`); tests pass a fake.
        name: The gate's name in decisions.

    Raises:
        RouteConfigError: a setting is invalid, naming the field and the fix.

    Recorded spend is the decision's `cost_usd`; when that is unknown (no usage reported, or
    the router has no price for the model) the gate records its own estimate for the route that
    answered, and when that is unknown too, nothing (counted in `unpriced_calls`).
    """

    def __init__(
        self,
        *,
        prices: Mapping[str, ModelPrice | Mapping[str, float]] | None = None,
        pricing: Pricing | None = None,
        model_names: Mapping[str, str] | None = None,
        providers: Mapping[str, str] | None = None,
        max_cost_per_call: float | None = None,
        tenant_budget: TenantBudget | None = None,
        tenant_key: str = "tenant_id",
        period: Period = "month",
        tz: tzinfo = timezone.utc,
        ledger: Ledger | None = None,
        expected_output_tokens: int = 500,
        unknown_price: Literal["allow", "deny"] = "allow",
        missing_tenant: Literal["refuse", "allow"] = "refuse",
        hold_seconds: float = 900.0,
        clock: Callable[[], float] | None = None,
        name: str = "budget",
    ) -> None:
        self._pricing = _s.pricing(prices, pricing)
        self._model_names = _s.names("model_names", model_names)
        self._providers = _s.names("providers", providers)
        self.max_cost_per_call = (
            None if max_cost_per_call is None else _s.usd("max_cost_per_call", max_cost_per_call)
        )
        self._limits = _s.check_limits(tenant_budget)
        if self.max_cost_per_call is None and tenant_budget is None:
            raise RouteConfigError(
                "Budget limits nothing: give max_cost_per_call=<USD per call>, "
                "tenant_budget=<USD per tenant per period>, or both."
            )
        if not isinstance(tenant_key, str) or not tenant_key.strip():
            raise RouteConfigError(
                f"Budget.tenant_key must be a non-empty metadata key, got {tenant_key!r}."
            )
        self.tenant_key = tenant_key
        self.period: Period = _s.check_period(period)
        if not isinstance(tz, tzinfo):
            raise RouteConfigError(f"Budget.tz must be a datetime.tzinfo, got {tz!r}.")
        self.tz = tz
        self.ledger: Ledger = InMemoryLedger() if ledger is None else ledger
        if not isinstance(self.ledger, Ledger):
            raise RouteConfigError(
                f"Budget.ledger {ledger!r} is not a Ledger (spent(key, period_start) and "
                "add(key, amount, at)); use InMemoryLedger() or your shared store's adapter."
            )
        _s.check_retention(self.period, self.ledger)
        if (
            isinstance(expected_output_tokens, bool)
            or not isinstance(expected_output_tokens, int)
            or expected_output_tokens < 0
        ):
            raise RouteConfigError(
                "Budget.expected_output_tokens must be an int >= 0 (tokens an answer is assumed "
                f"to take), got {expected_output_tokens!r}."
            )
        self.expected_output_tokens = expected_output_tokens
        _s.one_of("unknown_price", unknown_price, ("allow", "deny"))
        _s.one_of("missing_tenant", missing_tenant, ("refuse", "allow"))
        self.unknown_price = unknown_price
        self.missing_tenant = missing_tenant
        self.hold_seconds = _s.usd("hold_seconds", hold_seconds, positive=True, unit="seconds")
        if clock is not None and not callable(clock):
            raise RouteConfigError(f"Budget.clock must be callable, got {clock!r}.")
        self._clock: Callable[[], float] = clock or time.time
        if not isinstance(name, str) or not name.strip():
            raise RouteConfigError(f"Budget.name must be a non-empty string, got {name!r}.")
        self._name = name
        self._uid = secrets.token_hex(3)
        self._ref = re.compile(rf"\(hold {self._uid}\.(\d+)\)$")
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._holds: OrderedDict[int, _Hold] = OrderedDict()
        self._late: OrderedDict[int, _Hold] = OrderedDict()
        self._held: dict[str, tuple[float, int]] = {}
        self._unpriced = 0

    @property
    def name(self) -> str:
        """The gate's name in decisions ("budget")."""
        return self._name

    @property
    def unpriced_calls(self) -> int:
        """Observed calls whose cost was unknown and whose route had no price: not recorded."""
        return self._unpriced

    # -- the gate ----------------------------------------------------------------------------

    def estimate(self, route: str, prompt_tokens: int) -> float | None:
        """The estimated cost in USD of `route` for a prompt of `prompt_tokens`, or None."""
        try:
            return self._pricing.cost_usd(
                route=route,
                model=self._model_names.get(route),
                provider=self._providers.get(route),
                input_tokens=prompt_tokens,
                output_tokens=self.expected_output_tokens,
            )
        except (TypeError, ValueError):
            return None

    def restrict(self, request: RoutingRequest, candidates: Sequence[str]) -> Restriction | None:
        """The candidates whose estimate fits the per-call cap and the tenant's remaining budget.

        Raises:
            BudgetExceededError: no candidate fits; the message names the tenant, budget, spend
                and the fix.
            RoutingInputError: the tenant is missing from the request's metadata and
                `missing_tenant="refuse"`.
        """
        tokens = request.token_estimate
        estimates = {route: self.estimate(route, tokens) for route in candidates}
        allowed = list(candidates)
        notes: list[str] = []
        unknown = [r for r in allowed if estimates[r] is None]
        if unknown:
            if self.unknown_price == "deny":
                allowed = [r for r in allowed if estimates[r] is not None]
                if not allowed:
                    raise BudgetExceededError(
                        f"no candidate has a known price ({', '.join(unknown)}) and "
                        "unknown_price='deny'. Give their prices (prices={'<route>': "
                        "{'input_per_mtok': ..., 'output_per_mtok': ...}}) or set "
                        "unknown_price='allow'."
                    )
            notes.append(f"price unknown, {self.unknown_price}ed: {', '.join(unknown)}")
        cap = self.max_cost_per_call
        if cap is not None:
            fits = [r for r in allowed if _s.fits(estimates[r], cap, unknown_fits=True)]
            if not fits:
                raise self._over_cap(cap, estimates, tokens)
            if len(fits) < len(allowed):
                notes.append(f"over {_s.money(cap)} a call: {_s.priced(allowed, fits, estimates)}")
            allowed = fits
        if self._limits is not None:
            tenant = self._tenant_of(request)
            if tenant is not None:
                return self._admit_tenant(tenant, allowed, estimates, notes, tokens)
        if not notes:
            return None
        return Restriction(tuple(allowed), "; ".join(notes))

    def observe(self, decision: RoutingDecision) -> None:
        """Record the spend of a completed call admitted under a tenant budget."""
        hold_id = self._hold_of(decision)
        if hold_id is None:
            return
        now = self._clock()
        with self._lock:
            hold = self._holds.pop(hold_id, None)
            if hold is not None:
                self._release(hold)
            else:
                hold = self._late.pop(hold_id, None)
            if hold is None:
                return  # already observed, or forgotten long ago
            amount = decision.cost_usd
            if amount is None or not math.isfinite(amount) or amount < 0:
                amount = hold.estimates.get(decision.route)
            if amount is None:
                self._unpriced += 1
                return
            self.ledger.add(hold.key, amount, now)

    # -- inspection --------------------------------------------------------------------------

    def status(self, tenant: str) -> BudgetStatus:
        """`tenant`'s budget, spend, holds and remaining budget for the current period."""
        now = self._clock()
        start, end = period_bounds(self.period, now, self.tz)
        limit = self._limit_for(str(tenant), strict=False)
        with self._lock:
            self._expire(now)
            spent = self.ledger.spent(str(tenant), start)
            held = self._held.get(str(tenant), (0.0, 0))[0]
        remaining = None if limit is None else limit - spent - held
        return BudgetStatus(str(tenant), limit, spent, held, remaining, start, end)

    # -- internals ---------------------------------------------------------------------------

    def _admit_tenant(
        self,
        tenant: str,
        allowed: list[str],
        estimates: dict[str, float | None],
        notes: list[str],
        tokens: int,
    ) -> Restriction | None:
        limit = self._limit_for(tenant, strict=True)
        if limit is None:
            return Restriction(tuple(allowed), "; ".join(notes)) if notes else None
        now = self._clock()
        start, end = period_bounds(self.period, now, self.tz)
        with self._lock:
            self._expire(now)
            spent = self.ledger.spent(tenant, start)
            held = self._held.get(tenant, (0.0, 0))[0]
            remaining = limit - spent - held
            fits = [r for r in allowed if _s.fits(estimates[r], remaining, unknown_fits=False)]
            if not fits:
                raise self._exhausted(tenant, limit, spent, held, end, allowed, estimates, tokens)
            amount = max((estimates[r] or 0.0) for r in fits)
            hold_id = next(self._ids)
            self._holds[hold_id] = _Hold(tenant, amount, now + self.hold_seconds, estimates)
            total, count = self._held.get(tenant, (0.0, 0))
            self._held[tenant] = (total + amount, count + 1)
            while len(self._holds) > _MAX_HOLDS:
                self._retire(*self._holds.popitem(last=False))
        note = f"{_s.money(remaining)} of {_s.money(limit)} left {self._period_label()}"
        if len(fits) < len(allowed):
            note += f", too dear now: {_s.priced(allowed, fits, estimates)}"
        reason = "; ".join([*notes, note]) + f" (hold {self._uid}.{hold_id})"
        return Restriction(tuple(fits), reason)

    def _tenant_of(self, request: RoutingRequest) -> str | None:
        value = request.metadata.get(self.tenant_key)
        if value is not None and str(value).strip():
            return str(value)
        if self.missing_tenant == "allow":
            return None
        key = self.tenant_key
        raise RoutingInputError(
            f"budget gate {self._name!r}: the request has no {key!r} in its metadata, so its "
            f"tenant budget cannot be checked. Pass it with each call: LangChain "
            f"config={{'metadata': {{{key!r}: ...}}}}, LlamaIndex routing_metadata={{{key!r}: ...}}"
            "; or build the gate with missing_tenant='allow' to let such calls through "
            "without a tenant budget."
        )

    def _limit_for(self, tenant: str, *, strict: bool) -> float | None:
        limits = self._limits
        if limits is None:
            return None
        if isinstance(limits, float):
            return limits
        if isinstance(limits, Mapping):
            value = limits.get(tenant, limits.get("*"))
            if value is None and strict:
                raise BudgetExceededError(
                    f"tenant {tenant!r} has no budget: it is not in tenant_budget and there is "
                    "no '*' entry for other tenants. Add it (tenant_budget={..., "
                    f"{tenant!r}: <USD per period>}}) or a '*' default.",
                    tenant=tenant,
                    budget=0.0,
                )
            return value
        value = limits(tenant)
        if value is None:
            return None
        return _s.usd(f"tenant_budget({tenant!r})", value)

    def _hold_of(self, decision: RoutingDecision) -> int | None:
        prefix = f"{self._name}: "
        for entry in decision.restrictions:
            if entry.startswith(prefix) and (match := self._ref.search(entry)) is not None:
                return int(match.group(1))
        return None

    def _expire(self, now: float) -> None:
        """Release holds past their time (call with the lock held)."""
        while self._holds:
            hold_id, hold = next(iter(self._holds.items()))
            if hold.expires > now:
                break
            del self._holds[hold_id]
            self._retire(hold_id, hold)

    def _retire(self, hold_id: int, hold: _Hold) -> None:
        self._release(hold)
        self._late[hold_id] = hold
        while len(self._late) > _LATE:
            self._late.popitem(last=False)

    def _release(self, hold: _Hold) -> None:
        total, count = self._held[hold.key]
        if count <= 1:
            del self._held[hold.key]
        else:
            self._held[hold.key] = (total - hold.amount, count - 1)

    def _period_label(self) -> str:
        if self.period == "day":
            return "today"
        if self.period == "month":
            return "this month"
        return f"in the last {self.period:g} s"

    def _over_cap(
        self, cap: float, estimates: Mapping[str, float | None], tokens: int
    ) -> BudgetExceededError:
        route, cheapest = _s.cheapest(estimates)
        return BudgetExceededError(
            f"no model fits max_cost_per_call={_s.money(cap)}: the cheapest, {route!r}, needs "
            f"~{_s.money(cheapest)} for this request (~{tokens} prompt + "
            f"{self.expected_output_tokens} output tokens). Raise max_cost_per_call, shorten "
            "the prompt, lower expected_output_tokens, or add a cheaper model.",
            budget=cap,
            cheapest=cheapest,
        )

    def _exhausted(
        self,
        tenant: str,
        limit: float,
        spent: float,
        held: float,
        end: float | None,
        allowed: Sequence[str],
        estimates: Mapping[str, float | None],
        tokens: int,
    ) -> BudgetExceededError:
        remaining = limit - spent - held
        route, cheapest = _s.cheapest({r: estimates[r] for r in allowed})
        need = (
            "no budget is left"
            if cheapest is None
            else f"the cheapest model allowed, {route!r}, needs ~{_s.money(cheapest)} for this "
            f"request (~{tokens} prompt + {self.expected_output_tokens} output tokens)"
        )
        inflight = f", {_s.money(held)} held by calls in flight" if held > 0 else ""
        when = (
            f"It resets at {datetime.fromtimestamp(end, self.tz).isoformat()}."
            if end is not None
            else f"Spend leaves the rolling {self.period:g} s window as it ages."
        )
        return BudgetExceededError(
            f"tenant {tenant!r} has spent {_s.money(spent)} of its {_s.money(limit)} budget "
            f"{self._period_label()} ({_s.money(max(remaining, 0.0))} left{inflight}); {need}. "
            f"{when} Raise the tenant's budget (tenant_budget=...), shorten the prompt, or add "
            "a cheaper model.",
            tenant=tenant,
            budget=limit,
            spent=spent,
            cheapest=cheapest,
            resets_at=end,
        )

    def __repr__(self) -> str:
        return (
            f"Budget(name={self._name!r}, max_cost_per_call={self.max_cost_per_call!r}, "
            f"tenant_key={self.tenant_key!r}, period={self.period!r})"
        )
