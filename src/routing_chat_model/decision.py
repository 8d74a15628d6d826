"""`RoutingDecision`: the one payload every surface (response metadata, events, logs) shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

__all__ = ["Attempt", "RoutingDecision"]


@dataclass(frozen=True)
class Attempt:
    """One model call the router made for a request.

    Attributes:
        route: The model name tried.
        error: The exception's type name, or None for the attempt that answered.
        error_kind: The error's class (rate_limit, timeout, connection, server_error, ...).
        latency_ms: Wall time of the attempt (to the commit point when streaming: the first
            chunk, or the last held-back one).
        retry: 0 for the first attempt on this model, n for its n-th retry.
        retry_after_s: The wait the provider asked for (`Retry-After`), when it sent one.
        backoff_s: How long the router waited after this attempt before retrying the model.
        billing: "unknown" when the request may have been billed although no answer came
            (a timeout after the request was sent), else None.
    """

    route: str
    error: str | None = None
    error_kind: str | None = None
    latency_ms: float | None = None
    retry: int = 0
    retry_after_s: float | None = None
    backoff_s: float | None = None
    billing: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable form.

        `route`, `error`, `error_kind` and `latency_ms` are always there; `retry`,
        `retry_after_s`, `backoff_s` and `billing` only when set (most attempts are a model's
        first, with no hint, no wait and a known bill).
        """
        out: dict[str, Any] = {
            "route": self.route,
            "error": self.error,
            "error_kind": self.error_kind,
            "latency_ms": self.latency_ms,
        }
        if self.retry:
            out["retry"] = self.retry
        if self.retry_after_s is not None:
            out["retry_after_s"] = self.retry_after_s
        if self.backoff_s is not None:
            out["backoff_s"] = self.backoff_s
        if self.billing is not None:
            out["billing"] = self.billing
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Attempt:
        """Rebuild an attempt from `to_dict()` output (missing keys take their defaults)."""
        return cls(
            route=data["route"],
            error=data.get("error"),
            error_kind=data.get("error_kind"),
            latency_ms=data.get("latency_ms"),
            retry=int(data.get("retry") or 0),
            retry_after_s=data.get("retry_after_s"),
            backoff_s=data.get("backoff_s"),
            billing=data.get("billing"),
        )


@dataclass(frozen=True)
class RoutingDecision:
    """What the router decided for one call, and how the call went.

    Built by `Router.decide` before any model is called, then completed (`route`, `attempts`,
    usage, cost) once a model has answered. Frozen: callbacks cannot change it.

    Attributes:
        route: The model that answered (before the call: the one chosen).
        selected: The model the selector (or default, override, tool round) chose first.
        selector: Which selector decided ("rules", "embedding", "override", "tool_round"...).
        reason: Why, in a few words (never prompt text).
        scores: The selector's score per candidate, where it has scores.
        candidates: The models that could serve this request, in fallback order.
        plan: The order the router will try models in.
        abstained: The selector had no confident answer and the default answered.
        latency_ms: Time the decision took (selection only, not the model call).
        attempts: One entry per model called, in order.
        model_name: The provider's model name of the route that answered, where known.
        input_tokens: Prompt tokens of the answer, where the model reported usage.
        output_tokens: Completion tokens of the answer, where reported.
        cost_usd: Cost of the answer in USD, where usage and a price are known.
        decision_id: Id for `record_feedback`, from selectors that learn from outcomes.
        restrictions: The gates that narrowed the candidates and why ("compliance: ..."),
            never the text that triggered them.
        confined: A gate confined the request's text to the allowed models (a sensitive request):
            nothing outside them may see it, not the selector, a judge or a synthesiser.
        skipped: Models of the plan not called, and why ("fast: cooling" while its circuit
            breaker is open, "small: context_window" after a longer-than-window failure).
        mode: "cascade" or "parallel" when a mode answered (None: one routed call); then
            tokens and `cost_usd` are totals over every call, rejected answers included.
        accepted: In a mode, whether the answer passed its checks.
        steps: In a mode, one entry per model call or judge: route, role, accepted, reason,
            tokens, cost_usd, latency_ms, error, score.
    """

    route: str
    selected: str
    selector: str
    reason: str
    scores: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    candidates: tuple[str, ...] = ()
    plan: tuple[str, ...] = ()
    abstained: bool = False
    latency_ms: float = 0.0
    attempts: tuple[Attempt, ...] = ()
    model_name: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    decision_id: str | None = None
    restrictions: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    confined: bool = False
    mode: str | None = None
    accepted: bool | None = None
    steps: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable form: the dict responses and events carry."""
        out = {
            "route": self.route,
            "selected": self.selected,
            "selector": self.selector,
            "reason": self.reason,
            "scores": dict(self.scores),
            "candidates": list(self.candidates),
            "plan": list(self.plan),
            "abstained": self.abstained,
            "latency_ms": self.latency_ms,
            "attempts": [a.to_dict() for a in self.attempts],
            "model_name": self.model_name,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "decision_id": self.decision_id,
            "restrictions": list(self.restrictions),
            "skipped": list(self.skipped),
            "confined": self.confined,
        }
        if self.mode is not None:  # mode keys only when a mode answered
            out["mode"] = self.mode
            out["accepted"] = self.accepted
            out["steps"] = [dict(step) for step in self.steps]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoutingDecision:
        """Rebuild a decision from `to_dict()` output (unknown keys are ignored)."""
        attempts = tuple(Attempt.from_dict(a) for a in data.get("attempts", ()))
        return cls(
            route=data["route"],
            selected=data.get("selected", data["route"]),
            selector=data.get("selector", "unknown"),
            reason=data.get("reason", ""),
            scores=MappingProxyType(dict(data.get("scores") or {})),
            candidates=tuple(data.get("candidates", ())),
            plan=tuple(data.get("plan", ())),
            abstained=bool(data.get("abstained", False)),
            latency_ms=float(data.get("latency_ms", 0.0)),
            attempts=attempts,
            model_name=data.get("model_name"),
            input_tokens=data.get("input_tokens"),
            output_tokens=data.get("output_tokens"),
            cost_usd=data.get("cost_usd"),
            decision_id=data.get("decision_id"),
            restrictions=tuple(data.get("restrictions", ())),
            skipped=tuple(data.get("skipped", ())),
            confined=bool(data.get("confined", False)),
            mode=data.get("mode"),
            accepted=data.get("accepted"),
            steps=tuple(MappingProxyType(dict(step)) for step in data.get("steps", ())),
        )

    def evolve(self, **changes: Any) -> RoutingDecision:
        """A copy with `changes` applied (the decision itself stays frozen).

        Same result as `dataclasses.replace`, which costs ~15 µs a call here: this runs a few
        times on every routed call, so it copies the fields directly.
        """
        unknown = changes.keys() - _FIELDS
        if unknown:
            raise TypeError(f"RoutingDecision has no field(s) {sorted(unknown)}")
        copy = object.__new__(RoutingDecision)
        copy.__dict__.update(self.__dict__)
        copy.__dict__.update(changes)
        return copy


_FIELDS = frozenset(f.name for f in fields(RoutingDecision))
