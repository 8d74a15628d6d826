"""What `Cascade` and `Parallel` share: settings checks, route lists, binding judge models."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from routing_chat_model.decision import RoutingDecision
from routing_chat_model.errors import AllModelsFailedError, NoCandidateError, RouteConfigError
from routing_chat_model.modes._engine import Failed, Stepped
from routing_chat_model.modes._types import NoAcceptedAnswerError, Outcome
from routing_chat_model.modes.checks import AJudgeFn, Check, Judge, JudgeFn, as_checks

__all__ = ["BYPASSED_SELECTORS", "JudgeBinder", "ModeBase", "all_failed", "none_passed"]

if TYPE_CHECKING:
    from routing_chat_model.router import Router

JudgeBinder = Callable[[object], "tuple[JudgeFn, AJudgeFn | None] | None"]
"""Turns a framework chat model into judge callables (None: not a model of that framework)."""

BYPASSED_SELECTORS = frozenset({"override", "tool_round"})
"""Decisions a mode leaves alone: a route forced by the caller, a tool round's model."""

_IF_NONE_PASS = ("best_effort", "raise")


class ModeBase:
    """Settings both modes validate the same way, and the judge binding cache."""

    name = "mode"

    def __init__(self, checks: object, if_none_pass: str) -> None:
        self.checks: tuple[Check, ...] = as_checks(checks, f"{type(self).__name__}(checks)")
        if if_none_pass not in _IF_NONE_PASS:
            raise RouteConfigError(
                f"{type(self).__name__}(if_none_pass={if_none_pass!r}): use 'best_effort' "
                "(return the last/first answer, marked accepted=False) or 'raise' "
                "(NoAcceptedAnswerError)."
            )
        self.if_none_pass = if_none_pass
        self._bound: dict[str, Any] = {}
        self._lock = threading.Lock()

    @staticmethod
    def applies(decision: RoutingDecision) -> bool:
        """Whether a mode runs for `decision` (not for a forced route or a tool round)."""
        return decision.selector not in BYPASSED_SELECTORS

    def _check_names(self, names: Sequence[str] | None, models: Sequence[str], field: str) -> None:
        if names is None:
            return
        unknown = [n for n in names if n not in models]
        if unknown:
            raise RouteConfigError(
                f"{type(self).__name__}({field}=...) names {unknown}, which are not models; "
                f"models are {list(models)}."
            )

    def validate(self, models: Sequence[str]) -> None:
        """Raise `RouteConfigError` when the mode names a route that is not a model."""

    def check_confined(self, decision: RoutingDecision) -> None:
        """Fail closed when a confined request would reach a model outside the router's.

        Such models are judge models and a synthesiser given as a model object; a confined
        (sensitive) request's text may only reach the models its gates allowed.

        Raises:
            NoCandidateError: the request is confined and the mode holds such a model.
        """
        if not decision.confined:
            return
        outside = [path for path, judge in self._judges() if judge.external]
        outside += self._outside_models()
        if outside:
            raise NoCandidateError(
                f"{self.name}: this request is confined to {list(decision.candidates)} by a gate "
                f"({'; '.join(decision.restrictions)}), but {', '.join(outside)} is a model "
                "outside the router's models and would see its text. Give judges as functions "
                "and the synthesiser as a route name, or route such requests without a mode."
            )

    def _outside_models(self) -> list[str]:
        """Models outside the router's, besides judges (Parallel's synthesiser object)."""
        return []

    def _judges(self) -> list[tuple[str, Judge]]:
        """Every judge this mode holds, by the attribute path that holds it."""
        return [(f"checks.{i}", c) for i, c in enumerate(self.checks) if isinstance(c, Judge)]

    def bind_judges(self, key: str, binder: JudgeBinder) -> Any:
        """This mode with every model judge turned into callables by `binder` (cached by key).

        Adapters call it per call with their framework's binder; it is built once.
        """
        bound = self._bound.get(key)
        if bound is not None:
            return bound
        with self._lock:
            if key in self._bound:
                return self._bound[key]
            clone = copy.copy(self)
            clone._bound = {}
            clone._lock = threading.Lock()
            clone.checks = tuple(_bind(c, binder) for c in self.checks)
            clone._bind_own(binder)
            clone._bound[key] = clone
            self._bound[key] = clone
            return clone

    def _bind_own(self, binder: JudgeBinder) -> None:
        """Bind judges held outside `checks` (Parallel's aggregate judge)."""


def _bind(check: Any, binder: JudgeBinder) -> Any:
    if not isinstance(check, Judge) or check.resolved:
        return check
    fns = binder(check.judge)
    if fns is None:
        return check
    return check.bound(*fns)


def all_failed(mode: str, outcomes: Sequence[Stepped]) -> AllModelsFailedError:
    """The error when no step of a mode got an answer at all."""
    failed = [o for o in outcomes if isinstance(o, Failed)]
    errors: list[Exception] = [e for o in failed for e in o.error.exceptions]
    routes: list[str] = [r for o in failed for r in o.error.routes]
    summary = ", ".join(f"{r}: {type(e).__name__}" for r, e in zip(routes, errors, strict=True))
    return AllModelsFailedError(f"{mode}: every model failed ({summary})", errors, routes)


def none_passed(router: Router, mode: str, outcome: Outcome[Any]) -> NoAcceptedAnswerError:
    """The error when no answer passed, after the gates observed the call's totals.

    The rejected answers were paid for, so a budget must record that spend as for a success.
    """
    decision = outcome.decision
    final = router.with_usage(decision, None, model_name=decision.model_name)
    return NoAcceptedAnswerError(mode, outcome.steps, final)
