"""`Cascade`: answer with the cheapest model first, check the answer, escalate when it fails.

Each step asks one model through the router's attempt loop (retries, cooldowns and time limits
apply per step); a provider failure at a step escalates like a rejected answer. The first
answer that passes every check is returned. Every step is recorded: its route, whether it was
accepted and why not, its tokens and cost; the decision's tokens and cost are the totals, so the
rejected answers are paid for in plain sight.

Streaming: the answer is known only once it has passed its checks, so a streamed call in
cascade mode returns the accepted answer as one chunk (see the adapters).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

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
    steps_of,
)
from routing_chat_model.modes._types import Binding, Outcome, Step

if TYPE_CHECKING:
    from routing_chat_model.router import Router

__all__ = ["Cascade"]

R = TypeVar("R")


class Cascade(ModeBase):
    """Ask models from weakest to strongest until an answer passes the checks.

    Args:
        order: Routes from weakest (cheapest) to strongest. Default: the order of `models`.
            Routes the request's gates or capabilities exclude are left out.
        checks: What an answer must pass, in order (the first rejection stops the rest, so
            put cheap checks before a judge): functions `(text) -> bool` (or raising),
            JSON schema dicts, `Confidence(...)`, `Judge(...)`, or any `Check`.
        max_steps: Most models asked per call (default: all of `order`).
        start: "selected" (default) starts at the model the selector chose, never below it,
            so a selector can send hard requests straight to a strong model; "first" always
            starts at the weakest.
        if_none_pass: "best_effort" (default) returns the last answer (marked
            `accepted: False`); "raise" raises `NoAcceptedAnswerError`.

    Example:
        ```python
        Cascade(checks=[passes_tests], max_steps=3)
        ```
    """

    name = "cascade"

    def __init__(
        self,
        order: Sequence[str] | None = None,
        checks: object = (),
        *,
        max_steps: int | None = None,
        start: str = "selected",
        if_none_pass: str = "best_effort",
    ) -> None:
        super().__init__(checks, if_none_pass)
        if order is not None:
            if isinstance(order, str) or not order or len(set(order)) != len(order):
                raise RouteConfigError(
                    f"Cascade(order={order!r}): give a list of distinct route names, weakest "
                    "first, or None for the order of models."
                )
            order = tuple(order)
        self.order: tuple[str, ...] | None = order
        if max_steps is not None and (
            isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1
        ):
            raise RouteConfigError(
                f"Cascade(max_steps={max_steps!r}) must be an int >= 1 (or None for all)."
            )
        self.max_steps = max_steps
        if start not in ("selected", "first"):
            raise RouteConfigError(f"Cascade(start={start!r}): use 'selected' or 'first'.")
        self.start = start

    def validate(self, models: Sequence[str]) -> None:
        """Raise `RouteConfigError` when `order` names a route that is not a model."""
        self._check_names(self.order, models, "order")

    def routes(self, router: Router, decision: RoutingDecision) -> tuple[str, ...]:
        """The routes this call may ask, in order."""
        allowed = set(decision.candidates or (decision.route,))  # never widen: fail closed
        order = [r for r in (self.order or router.models) if r in allowed]
        if self.start == "selected" and decision.route in order:
            order = order[order.index(decision.route) :]
        if not order:
            raise RouteConfigError(
                f"Cascade(order={list(self.order or ())}): none of these routes can serve this "
                f"request (candidates: {list(decision.candidates)})."
            )
        return tuple(order[: self.max_steps])

    def run(self, router: Router, decision: RoutingDecision, bind: Binding[R]) -> Outcome[R]:
        """Run the cascade on the sync path."""
        self.check_confined(decision)
        outcomes: list[Stepped] = []
        steps: list[Step] = []
        for route in self.routes(router, decision):
            outcome = answer(router, decision, route, bind)
            outcomes.append(outcome)
            if not isinstance(outcome, Done):
                steps.extend(steps_of(router, outcome, None))
                continue
            verdicts = check_all(self.checks, bind.question, outcome.answer)
            steps.extend(steps_of(router, outcome, verdicts))
            if all(v.ok for v in verdicts):
                return self._finish(router, decision, outcome, outcomes, steps, accepted=True)
        return self._exhausted(router, decision, outcomes, steps)

    async def arun(self, router: Router, decision: RoutingDecision, bind: Binding[R]) -> Outcome[R]:
        """Run the cascade on the async path (checks' async forms are awaited)."""
        self.check_confined(decision)
        outcomes: list[Stepped] = []
        steps: list[Step] = []
        for route in self.routes(router, decision):
            outcome = await aanswer(router, decision, route, bind)
            outcomes.append(outcome)
            if not isinstance(outcome, Done):
                steps.extend(steps_of(router, outcome, None))
                continue
            verdicts = await acheck_all(self.checks, bind.question, outcome.answer)
            steps.extend(steps_of(router, outcome, verdicts))
            if all(v.ok for v in verdicts):
                return self._finish(router, decision, outcome, outcomes, steps, accepted=True)
        return self._exhausted(router, decision, outcomes, steps)

    def _finish(
        self,
        router: Router,
        decision: RoutingDecision,
        chosen: Done[R],
        outcomes: Sequence[Stepped],
        steps: Sequence[Step],
        *,
        accepted: bool,
    ) -> Outcome[R]:
        return finish(
            router,
            decision,
            self.name,
            chosen.route,
            chosen.result,
            outcomes,
            steps,
            accepted=accepted,
            model_name=chosen.answer.model_name,
        )

    def _exhausted(
        self,
        router: Router,
        decision: RoutingDecision,
        outcomes: Sequence[Stepped],
        steps: Sequence[Step],
    ) -> Outcome[R]:
        answered = [o for o in outcomes if isinstance(o, Done)]
        if not answered:
            raise all_failed(self.name, outcomes)
        last: Done[R] = answered[-1]
        outcome = self._finish(router, decision, last, outcomes, steps, accepted=False)
        if self.if_none_pass == "raise":
            raise none_passed(router, self.name, outcome)
        return outcome

    def __repr__(self) -> str:
        order = list(self.order) if self.order is not None else None
        return f"Cascade(order={order}, checks={list(self.checks)}, max_steps={self.max_steps})"
