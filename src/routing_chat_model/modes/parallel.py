"""`Parallel`: ask several models at once and aggregate their answers.

Each branch asks one model through the router's attempt loop (retries, cooldowns and time
limits apply per branch). Aggregations:

- "first_valid": the first answer to pass the checks wins; the other branches are cancelled
  (async) or abandoned (sync: a running thread cannot be stopped; its answer is dropped and
  its cost, unknown, is not counted; the step says "cancelled").
- "majority": the most frequent answer among those that pass the checks, compared on
  normalised text (case, whitespace and trailing punctuation ignored); ties go to the earlier
  route.
- "judge": a judge scores each passing answer; the best wins (ties: the earlier route).
- "synthesize": a synthesiser model merges the passing answers into one.

Every call is counted: the decision's tokens and cost are totals over every branch, judge and
synthesis. Streaming returns the chosen answer as one chunk once it is chosen.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextvars
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from routing_chat_model.decision import RoutingDecision
from routing_chat_model.errors import RouteConfigError
from routing_chat_model.modes._base import ModeBase, all_failed, none_passed
from routing_chat_model.modes._engine import (
    Done,
    Stepped,
    aanswer,
    acheck_all,
    answer,
    check_all,
    finish,
    price,
    steps_of,
)
from routing_chat_model.modes._types import Binding, Outcome, Step, Verdict
from routing_chat_model.modes.checks import Judge, plain_callable

if TYPE_CHECKING:
    from routing_chat_model.modes._base import JudgeBinder
    from routing_chat_model.router import Router

__all__ = ["AGGREGATES", "Parallel", "normalise"]

R = TypeVar("R")

AGGREGATES = ("first_valid", "majority", "judge", "synthesize")

SYNTHESIZER_ROUTE = "synthesizer"
"""The decision's `route` when a synthesiser that is not one of the models wrote the answer."""


def normalise(text: str) -> str:
    """The form answers are compared in for a majority vote."""
    return " ".join(text.lower().split()).strip(" .!?;:,")


class Parallel(ModeBase):
    """Ask `k` models (or `routes`) concurrently and aggregate their answers.

    Args:
        k: How many models to ask: the selected one, then the next of its fallback plan.
        routes: The routes to ask instead of `k` (those the request cannot use are left out).
        aggregate: "first_valid" (default), "majority", "judge" or "synthesize".
        checks: What an answer must pass to count (as for `Cascade`).
        judge: For "judge": a `Judge`, a function `(question, answer) -> score`, or a chat
            model of your framework (the adapter asks it to rate each answer).
        synthesizer: For "synthesize": a route name, a chat model of your framework, or a
            function `(question, answers: list[str]) -> str`.
        if_none_pass: "best_effort" (default): when no answer passes, aggregate over every
            answer (marked `accepted: False`); "raise": `NoAcceptedAnswerError`.
        max_workers: Threads for sync calls (default: one per branch).
    """

    name = "parallel"

    def __init__(
        self,
        k: int = 2,
        routes: Sequence[str] | None = None,
        aggregate: str = "first_valid",
        checks: object = (),
        *,
        judge: object = None,
        synthesizer: object = None,
        if_none_pass: str = "best_effort",
        max_workers: int | None = None,
    ) -> None:
        super().__init__(checks, if_none_pass)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise RouteConfigError(f"Parallel(k={k!r}) must be an int >= 1.")
        if routes is not None:
            if isinstance(routes, str) or not routes or len(set(routes)) != len(routes):
                raise RouteConfigError(
                    f"Parallel(routes={routes!r}): give a list of distinct route names."
                )
            routes = tuple(routes)
        if aggregate not in AGGREGATES:
            raise RouteConfigError(
                f"Parallel(aggregate={aggregate!r}): use one of {', '.join(AGGREGATES)}."
            )
        if aggregate == "judge" and judge is None:
            raise RouteConfigError(
                "Parallel(aggregate='judge') needs judge=: a chat model, a function "
                "(question, answer) -> score, or Judge(...)."
            )
        if aggregate == "synthesize" and synthesizer is None:
            raise RouteConfigError(
                "Parallel(aggregate='synthesize') needs synthesizer=: a route name, a chat "
                "model, or a function (question, answers) -> text."
            )
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise RouteConfigError(f"Parallel(max_workers={max_workers!r}) must be an int >= 1.")
        self.k = k
        self.routes_ = routes
        self.aggregate = aggregate
        self.judge: Judge | None = None
        if judge is not None:
            self.judge = judge if isinstance(judge, Judge) else Judge(judge, threshold=-1e300)
        self.synthesizer = synthesizer
        self.max_workers = max_workers

    def validate(self, models: Sequence[str]) -> None:
        """Raise `RouteConfigError` when `routes` names a route that is not a model."""
        self._check_names(self.routes_, models, "routes")

    def _judges(self) -> list[tuple[str, Judge]]:
        own = [] if self.judge is None else [("judge", self.judge)]
        return [*super()._judges(), *own]

    def _outside_models(self) -> list[str]:
        name = self.synthesizer
        if name is None or isinstance(name, str) or plain_callable(name):
            return []
        return ["synthesizer"]

    def _bind_own(self, binder: JudgeBinder) -> None:
        if self.judge is not None and not self.judge.resolved:
            fns = binder(self.judge.judge)
            if fns is not None:
                self.judge = self.judge.bound(*fns)

    def synthesizer_route(self, models: Sequence[str]) -> str:
        """The route name a synthesised answer is reported under."""
        name = self.synthesizer
        return name if isinstance(name, str) and name in models else SYNTHESIZER_ROUTE

    def branches(self, router: Router, decision: RoutingDecision) -> tuple[str, ...]:
        """The routes this call asks."""
        if self.routes_ is not None:
            allowed = set(decision.candidates or (decision.route,))  # never widen: fail closed
            out = tuple(r for r in self.routes_ if r in allowed)
        else:
            plan = decision.plan or (decision.route,)
            out = tuple(dict.fromkeys(plan))[: self.k]
        if not out:
            raise RouteConfigError(
                f"Parallel(routes={list(self.routes_ or ())}): none of these routes can serve "
                f"this request (candidates: {list(decision.candidates)})."
            )
        return out

    # -- sync --------------------------------------------------------------------------------

    def run(self, router: Router, decision: RoutingDecision, bind: Binding[R]) -> Outcome[R]:
        """Ask the branches in a thread pool, then aggregate."""
        self.check_confined(decision)
        routes = self.branches(router, decision)
        pool = cf.ThreadPoolExecutor(max_workers=self.max_workers or len(routes))
        futures: dict[cf.Future[Stepped], str] = {}
        results: dict[str, tuple[Stepped, list[Verdict] | None]] = {}
        winner: str | None = None
        try:
            for route in routes:
                ctx = contextvars.copy_context()  # each thread sees the caller's context
                futures[pool.submit(ctx.run, answer, router, decision, route, bind)] = route
            for future in cf.as_completed(futures):
                outcome = future.result()
                verdicts = self._checked(outcome, bind)
                results[outcome.route] = (outcome, verdicts)
                if self.aggregate == "first_valid" and _passed(verdicts):
                    winner = outcome.route
                    break
            for future, route in futures.items():  # answered meanwhile: unchecked, but paid for
                finished = future.done() and not future.cancelled()
                if route not in results and finished and future.exception() is None:
                    results[route] = (future.result(), None)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        final: Outcome[R] = self._aggregate(
            router, decision, bind, routes, results, winner, sync=True
        )
        return final

    def _checked(self, outcome: Stepped, bind: Binding[Any]) -> list[Verdict] | None:
        if not isinstance(outcome, Done):
            return None
        return check_all(self.checks, bind.question, outcome.answer)

    # -- async -------------------------------------------------------------------------------

    async def arun(self, router: Router, decision: RoutingDecision, bind: Binding[R]) -> Outcome[R]:
        """Ask the branches as tasks; "first_valid" cancels the losers."""
        self.check_confined(decision)
        routes = self.branches(router, decision)
        tasks: dict[asyncio.Future[Stepped], str] = {
            asyncio.ensure_future(aanswer(router, decision, r, bind)): r for r in routes
        }
        results: dict[str, tuple[Stepped, list[Verdict] | None]] = {}
        winner: str | None = None
        pending: set[asyncio.Future[Stepped]] = set(tasks)
        try:
            while pending and winner is None:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: routes.index(tasks[t])):
                    outcome = task.result()
                    verdicts = None
                    if isinstance(outcome, Done):
                        verdicts = await acheck_all(self.checks, bind.question, outcome.answer)
                    results[outcome.route] = (outcome, verdicts)
                    if self.aggregate == "first_valid" and _passed(verdicts) and winner is None:
                        winner = outcome.route
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        outcome = self._aggregate(router, decision, bind, routes, results, winner, sync=False)
        final: Outcome[R] = outcome if isinstance(outcome, Outcome) else await outcome
        return final

    # -- aggregation -------------------------------------------------------------------------

    def _aggregate(
        self,
        router: Router,
        decision: RoutingDecision,
        bind: Binding[R],
        routes: Sequence[str],
        results: dict[str, tuple[Stepped, list[Verdict] | None]],
        winner: str | None,
        *,
        sync: bool,
    ) -> Any:
        """The outcome, or (async judge/synthesis) an awaitable of it."""
        outcomes = [results[r][0] for r in routes if r in results]
        per_route: dict[str, list[Step]] = {}
        for route in routes:
            if route in results:
                outcome, verdicts = results[route]
                per_route[route] = steps_of(router, outcome, verdicts)
            else:
                per_route[route] = [_cancelled(route)]
        done = [o for o in outcomes if isinstance(o, Done)]
        if not done:
            raise all_failed(self.name, outcomes)
        valid = [o for o in done if _passed(results[o.route][1])]
        accepted = bool(valid)
        pool = valid or done
        context = (router, decision, bind, routes, outcomes, per_route, accepted)
        if not valid and self.if_none_pass == "raise":
            raise none_passed(router, self.name, self._chose(context, pool[0], ""))
        if self.aggregate == "first_valid":
            chosen = next(o for o in pool if o.route == winner) if winner else pool[0]
            return self._chose(context, chosen, "not chosen: another answer came first")
        if self.aggregate == "majority":
            return self._chose(context, _majority(pool), "not chosen: outvoted")
        if self.aggregate == "judge":
            if not sync:
                return self._ajudged(context, pool)
            judge = self._judge()
            verdicts = [judge.score(bind.question, o.answer) for o in pool]
            return self._judged(context, pool, verdicts)
        excluded = self._synthesizer_excluded(router, decision)
        if excluded is not None:  # a gate (e.g. compliance) keeps the request from it
            return self._chose(context, pool[0], excluded)
        if not sync:
            return self._asynthesized(context, pool)
        assert bind.synthesize is not None, "aggregate='synthesize' needs Binding.synthesize"
        started = time.perf_counter()
        result = bind.synthesize(bind.question, [o.answer for o in pool])
        return self._synthesized(context, result, started)

    def _synthesizer_excluded(self, router: Router, decision: RoutingDecision) -> str | None:
        """Why a synthesiser that is a route may not see this request (None: it may)."""
        name = self.synthesizer
        if not (isinstance(name, str) and name in router.models):
            return None
        if name in (decision.candidates or (decision.route,)):
            return None
        return f"not chosen: synthesizer {name!r} is excluded for this request; first answer used"

    def _judge(self) -> Judge:
        assert self.judge is not None
        return self.judge

    async def _ajudged(self, context: tuple[Any, ...], pool: Sequence[Done[Any]]) -> Outcome[Any]:
        bind: Binding[Any] = context[2]
        judge = self._judge()
        verdicts = await asyncio.gather(*(judge.ascore(bind.question, o.answer) for o in pool))
        return self._judged(context, pool, list(verdicts))

    def _judged(
        self, context: tuple[Any, ...], pool: Sequence[Done[Any]], verdicts: Sequence[Verdict]
    ) -> Outcome[Any]:
        router: Router = context[0]
        per_route: dict[str, list[Step]] = context[5]
        best, best_score = pool[0], float("-inf")
        for outcome, verdict in zip(pool, verdicts, strict=True):
            score = verdict.score if verdict.score is not None else float("-inf")
            per_route[outcome.route].append(
                Step(
                    outcome.route,
                    role="judge",
                    input_tokens=verdict.usage.input_tokens if verdict.usage else None,
                    output_tokens=verdict.usage.output_tokens if verdict.usage else None,
                    cost_usd=price(
                        router, None, verdict.usage, verdict.model_name, verdict.provider
                    ),
                    score=verdict.score,
                )
            )
            if score > best_score:
                best, best_score = outcome, score
        return self._chose(context, best, "not chosen: the judge scored another answer higher")

    async def _asynthesized(
        self, context: tuple[Any, ...], pool: Sequence[Done[Any]]
    ) -> Outcome[Any]:
        bind: Binding[Any] = context[2]
        assert bind.asynthesize is not None, "aggregate='synthesize' needs Binding.asynthesize"
        started = time.perf_counter()
        result = await bind.asynthesize(bind.question, [o.answer for o in pool])
        return self._synthesized(context, result, started)

    def _synthesized(self, context: tuple[Any, ...], result: Any, started: float) -> Outcome[Any]:
        router, decision, bind, routes, outcomes, per_route, accepted = context
        ans = bind.describe(result)
        route = self.synthesizer_route(router.models)
        usage = ans.usage
        step = Step(
            route,
            role="synthesize",
            input_tokens=usage.input_tokens if usage else None,
            output_tokens=usage.output_tokens if usage else None,
            cost_usd=price(router, route, usage, ans.model_name, ans.provider),
            latency_ms=round((time.perf_counter() - started) * 1000, 4),
        )
        steps = [*_flat(per_route, routes), step]
        return finish(
            router,
            decision,
            self.name,
            route,
            result,
            outcomes,
            steps,
            accepted=accepted,
            model_name=ans.model_name,
        )

    def _chose(self, context: tuple[Any, ...], chosen: Done[Any], why: str) -> Outcome[Any]:
        router, decision, _, routes, outcomes, per_route, accepted = context
        for route, steps in per_route.items():
            first = steps[0]
            if route != chosen.route and first.error is None and not first.reason:
                steps[0] = _replace(first, reason=why)
        return finish(
            router,
            decision,
            self.name,
            chosen.route,
            chosen.result,
            outcomes,
            _flat(per_route, routes),
            accepted=accepted,
            model_name=chosen.answer.model_name,
        )

    def __repr__(self) -> str:
        which = list(self.routes_) if self.routes_ is not None else f"k={self.k}"
        return f"Parallel({which}, aggregate={self.aggregate!r}, checks={list(self.checks)})"


def _passed(verdicts: Sequence[Verdict] | None) -> bool:
    return verdicts is not None and all(v.ok for v in verdicts)


def _cancelled(route: str) -> Step:
    return Step(
        route, accepted=None, reason="cancelled: another answer was chosen", error="cancelled"
    )


def _flat(per_route: dict[str, list[Step]], routes: Sequence[str]) -> list[Step]:
    return [s for r in routes for s in per_route.get(r, ())]


def _replace(step: Step, **changes: Any) -> Step:
    return Step(**{**step.to_dict(), **changes})


def _majority(pool: Sequence[Done[Any]]) -> Done[Any]:
    counts: dict[str, int] = {}
    for outcome in pool:
        key = normalise(outcome.answer.text)
        counts[key] = counts.get(key, 0) + 1
    best = max(counts.values())
    return next(o for o in pool if counts[normalise(o.answer.text)] == best)
