"""What both modes share: one answering step through the router's attempt loop, checks, costs.

Each step asks one route through `Router.run`/`Router.arun` with a one-model plan, so retries,
cooldowns and time limits apply to it exactly as to a routed call, and a provider failure ends
the step (the mode moves on) instead of falling back inside it. Errors that must not fall back
(a bad request) propagate at once, as in a routed call.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from routing_chat_model._capabilities import Usage
from routing_chat_model.decision import Attempt, RoutingDecision
from routing_chat_model.errors import AllModelsFailedError
from routing_chat_model.modes._types import Answer, Binding, Outcome, Step, Verdict
from routing_chat_model.modes.checks import Check

if TYPE_CHECKING:
    from routing_chat_model.router import Router

__all__ = ["Done", "Failed", "Stepped", "aanswer", "acheck_all", "answer", "check_all", "finish"]

R = TypeVar("R")


@dataclass
class Done(Generic[R]):
    """A step that answered: the result, its answer, and its sub-decision's attempts."""

    route: str
    result: R
    answer: Answer
    attempts: tuple[Attempt, ...]
    skipped: tuple[str, ...]
    started: float
    cost_usd: float | None


@dataclass
class Failed:
    """A step whose model failed (after the attempt loop's retries)."""

    route: str
    error: AllModelsFailedError
    attempts: tuple[Attempt, ...]
    started: float


Stepped = Done[Any] | Failed


def _sub(decision: RoutingDecision, route: str) -> RoutingDecision:
    return decision.evolve(route=route, plan=(route,), attempts=())


def _failed(route: str, exc: AllModelsFailedError, started: float) -> Failed:
    attempts = getattr(exc, "attempts", None)  # when the attempt loop attaches its records
    if not attempts:
        attempts = tuple(
            Attempt(r, type(e).__name__, None, None)
            for r, e in zip(exc.routes, exc.exceptions, strict=False)
        )
    return Failed(route, exc, tuple(attempts), started)


def price(router: Router, route: str | None, usage: Usage | None, model: str | None,
          provider: str | None) -> float | None:  # fmt: skip
    """Cost of one call from its usage (None when unknown or unpriced)."""
    if usage is None:
        return None
    try:
        return router.pricing.cost_usd(
            route=route,
            model=model,
            provider=provider,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
        )
    except (TypeError, ValueError):  # inconsistent provider usage: cost unknown
        return None


def answer(router: Router, decision: RoutingDecision, route: str, bind: Binding[R]) -> Stepped:
    """Ask `route` through the attempt loop (sync)."""
    assert bind.call is not None, "a sync mode call needs Binding.call"
    started = time.perf_counter()
    try:
        result, sub = router.run(_sub(decision, route), bind.call)
    except AllModelsFailedError as exc:
        return _failed(route, exc, started)
    return _done(router, route, result, sub, bind, started)


async def aanswer(
    router: Router, decision: RoutingDecision, route: str, bind: Binding[R]
) -> Stepped:
    """Ask `route` through the async attempt loop (time limits cancel it)."""
    assert bind.acall is not None, "an async mode call needs Binding.acall"
    started = time.perf_counter()
    try:
        result, sub = await router.arun(_sub(decision, route), bind.acall)
    except AllModelsFailedError as exc:
        return _failed(route, exc, started)
    return _done(router, route, result, sub, bind, started)


def _done(
    router: Router,
    route: str,
    result: R,
    sub: RoutingDecision,
    bind: Binding[R],
    started: float,
) -> Done[R]:
    ans = bind.describe(result)
    cost = price(router, route, ans.usage, ans.model_name, ans.provider)
    return Done(route, result, ans, sub.attempts, sub.skipped, started, cost)


def check_all(checks: Sequence[Check], question: str, ans: Answer) -> list[Verdict]:
    """Run checks in order, stopping at the first rejection (later checks may be costly)."""
    verdicts = []
    for check in checks:
        verdict = check.check(question, ans)
        verdicts.append(verdict)
        if not verdict.ok:
            break
    return verdicts


async def acheck_all(checks: Sequence[Check], question: str, ans: Answer) -> list[Verdict]:
    """Async `check_all`."""
    verdicts = []
    for check in checks:
        verdict = await check.acheck(question, ans)
        verdicts.append(verdict)
        if not verdict.ok:
            break
    return verdicts


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 4)


def steps_of(router: Router, outcome: Stepped, verdicts: Sequence[Verdict] | None) -> list[Step]:
    """The answer step (and any judge step) of one route's outcome."""
    if isinstance(outcome, Failed):
        error = type(outcome.error.exceptions[-1]).__name__ if outcome.error.exceptions else None
        return [
            Step(
                outcome.route,
                accepted=None,
                reason=f"failed: {error}",
                latency_ms=_ms(outcome.started),
                error=error,
            )
        ]
    usage = outcome.answer.usage
    rejected = next((v for v in verdicts or () if not v.ok), None)
    score = next((v.score for v in reversed(verdicts or ()) if v.score is not None), None)
    out = [
        Step(
            outcome.route,
            accepted=None if verdicts is None else rejected is None,
            reason="" if rejected is None else rejected.reason,
            input_tokens=usage.input_tokens if usage else None,
            output_tokens=usage.output_tokens if usage else None,
            cost_usd=outcome.cost_usd,
            latency_ms=_ms(outcome.started),
            score=score,
        )
    ]
    for verdict in verdicts or ():
        if verdict.usage is not None:
            out.append(
                Step(
                    outcome.route,
                    role="judge",
                    input_tokens=verdict.usage.input_tokens,
                    output_tokens=verdict.usage.output_tokens,
                    cost_usd=price(
                        router, None, verdict.usage, verdict.model_name, verdict.provider
                    ),
                    score=verdict.score,
                )
            )
    return out


_DECISION_FIELDS = frozenset(f.name for f in fields(RoutingDecision))


def finish(
    router: Router,
    decision: RoutingDecision,
    mode: str,
    route: str,
    result: R,
    outcomes: Sequence[Stepped],
    steps: Sequence[Step],
    *,
    accepted: bool,
    model_name: str | None,
) -> Outcome[R]:
    """The outcome: `route` answered; totals over every step; every attempt in order.

    Totals: tokens are summed over the steps that report them; the cost is the sum over every
    call, or None when a call that answered has no known cost (a partial sum would understate
    what the call cost).
    """
    attempts: list[Attempt] = []
    skipped: list[str] = []
    for outcome in outcomes:
        attempts.extend(outcome.attempts)
        if isinstance(outcome, Done):
            skipped.extend(outcome.skipped)
    answered = [s for s in steps if s.error is None]  # failed and cancelled calls have no bill
    inp = [s.input_tokens for s in answered if s.input_tokens is not None]
    out = [s.output_tokens for s in answered if s.output_tokens is not None]
    costs = [s.cost_usd for s in answered]
    total = None if not costs or any(c is None for c in costs) else sum(c or 0.0 for c in costs)
    changes: dict[str, Any] = {
        "route": route,
        "attempts": tuple(attempts),
        "skipped": tuple(skipped),
        "model_name": model_name,
        "input_tokens": sum(inp) if inp else None,
        "output_tokens": sum(out) if out else None,
        "cost_usd": total,
    }
    # Forward compatible: once RoutingDecision has these fields, they are filled too.
    if "steps" in _DECISION_FIELDS:
        changes["steps"] = tuple(s.to_dict() for s in steps)
    if "mode" in _DECISION_FIELDS:
        changes["mode"] = mode
    if "accepted" in _DECISION_FIELDS:
        changes["accepted"] = accepted
    final = decision.evolve(**changes)
    return Outcome(result, final, mode, tuple(steps), accepted)
