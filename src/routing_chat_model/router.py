"""`Router`: the framework-free heart: candidates, selection, decision, and the attempt loop.

Adapters own one `Router` each. Per call they build a `RoutingRequest`, ask `decide`/`adecide`
for a `RoutingDecision` (which carries the attempt plan), then drive the chosen model through
`run`/`arun`/`run_stream`/`arun_stream`, which fall back along the plan.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TypeVar

from routing_chat_model import _attempts, _streams
from routing_chat_model._attempts import Commit, aclose_stream, check_reliability, close_stream
from routing_chat_model._capabilities import ModelCapabilities, Usage
from routing_chat_model.decision import RoutingDecision
from routing_chat_model.errors import (
    NoCandidateError,
    RouteConfigError,
    RoutingError,
    RoutingInputError,
)
from routing_chat_model.policy import FallbackPolicy, Fallbacks, Gate, fallback_order
from routing_chat_model.policy.health import CircuitBreaker, ModelHealth
from routing_chat_model.policy.retry import RetryPolicy
from routing_chat_model.pricing import Pricing
from routing_chat_model.request import RoutingRequest
from routing_chat_model.selectors.base import Selection, Selector, as_selector

__all__ = [
    "ModelCapabilities",
    "Router",
    "Usage",
    "aclose_stream",
    "check_reliability",
    "close_stream",
]

T = TypeVar("T")

_REMEMBERED = 10_000
"""Decisions kept for `record_feedback` by run id (only those of learning selectors)."""


_NEEDS = (
    ("has_tools", "tool_calling", "tool calling"),
    ("structured_output", "structured_output", "structured output"),
    ("has_images", "image_inputs", "image inputs"),
)

_MEDIA = (("audio", "audio_inputs"), ("video", "video_inputs"), ("pdf", "pdf_inputs"))
"""Non-text kinds (`RoutingRequest.media`) and the capability a model declares for each;
images are checked through `has_images` above."""


class Router:
    """Selection and fallback over named models, independent of any framework.

    Args:
        models: Model names, in the default fallback order.
        selector: A `Selector` or a function `(RoutingRequest) -> name | None`.
        default: The model used when the selector abstains; defaults to the first model.
        fallbacks: The order models are tried in after the chosen one fails: one list for every
            route, or a mapping route -> list. Defaults to the order of `models`.
        capabilities: What each model can serve, for candidate filtering.
        fallback_policy: Which failures fall back (default: rate limits, timeouts, connection
            errors and 5xx).
        pricing: Prices for the cost of each answer.
        gates: Limits on which models may answer a request (compliance, budgets, latency
            targets), applied in order before the selector; see `Gate`.
        retry: Retries on the same model before falling back (default: none; the router is
            the only retry loop, so turn the provider clients' own retries off).
        circuit_breaker: Per-model cooldowns shared by every call of this router (and of any
            router given the same breaker); default: none.
        deadline_s: One time budget per call, shared by all its attempts and backoffs: no
            attempt starts after it, and `DeadlineExceededError` says so. On async calls it
            also cancels the running attempt; sync calls are checked between attempts.
        attempt_timeout_s: Longest time one async attempt may take (a stream: to commit).
        first_token_timeout_s: Longest wait for an async stream's first chunk; exceeding it
            falls back like any timeout (nothing was shown yet).
        idle_timeout_s: Longest gap between an async stream's chunks.
        stream_hold_back: Chunks held back before a stream commits to a model, so a failure
            within them still falls back with nothing shown (0 or 1: commit at the first).
        clock: Monotonic seconds for deadlines (inject a fake one in tests).
        sleep: Sync backoff wait (inject a recorder in tests).
        async_sleep: Async backoff wait.
    """

    def __init__(
        self,
        models: Sequence[str],
        *,
        selector: object,
        default: str | None = None,
        fallbacks: Fallbacks | None = None,
        capabilities: Mapping[str, ModelCapabilities] | None = None,
        fallback_policy: FallbackPolicy | None = None,
        pricing: Pricing | None = None,
        gates: Sequence[Gate] = (),
        retry: RetryPolicy | None = None,
        circuit_breaker: CircuitBreaker | None = None,
        deadline_s: float | None = None,
        attempt_timeout_s: float | None = None,
        first_token_timeout_s: float | None = None,
        idle_timeout_s: float | None = None,
        stream_hold_back: int = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        models = list(models)
        if not models:
            raise RouteConfigError(
                "models is empty: give at least one model, e.g. models={'fast': ..., 'strong': ...}."
            )
        if len(set(models)) != len(models):
            raise RouteConfigError(f"models has duplicate names: {models}.")
        for name in models:
            if not isinstance(name, str) or not name.strip():
                raise RouteConfigError(f"model names must be non-empty strings, got {name!r}.")
        self.models: tuple[str, ...] = tuple(models)
        if default is None:
            default = models[0]
        if default not in models:
            raise RouteConfigError(
                f"default={default!r} is not one of the models {models}; set it to the name of "
                "the model that should answer when the selector abstains."
            )
        self.default = default
        self.selector: Selector = as_selector(selector)
        known = self.selector.route_names
        if known is not None and not known <= set(models):
            raise RouteConfigError(
                f"selector {self.selector.name!r} routes to {sorted(known - set(models))}, which "
                f"are not models; models are {models}. Rename the route or add the model."
            )
        self.fallbacks = fallback_order(models, fallbacks)
        caps = dict(capabilities or {})
        unknown = set(caps) - set(models)
        if unknown:
            raise RouteConfigError(
                f"capabilities name unknown model(s) {sorted(unknown)}; models are {models}."
            )
        self.capabilities: dict[str, ModelCapabilities] = {
            m: caps.get(m, ModelCapabilities()) for m in models
        }
        self.fallback_policy = fallback_policy or FallbackPolicy()
        self.pricing = pricing or Pricing()
        self.gates: tuple[Gate, ...] = _check_gates(gates, self.models)
        check_reliability(
            retry=retry,
            circuit_breaker=circuit_breaker,
            deadline_s=deadline_s,
            attempt_timeout_s=attempt_timeout_s,
            first_token_timeout_s=first_token_timeout_s,
            idle_timeout_s=idle_timeout_s,
            stream_hold_back=stream_hold_back,
        )
        self.retry = None if retry is None or retry.max_attempts == 1 else retry
        self.circuit_breaker = circuit_breaker
        self.deadline_s = deadline_s
        self.attempt_timeout_s = attempt_timeout_s
        self.first_token_timeout_s = first_token_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.stream_hold_back = stream_hold_back
        self.stream_timed = any(
            t is not None
            for t in (deadline_s, attempt_timeout_s, first_token_timeout_s, idle_timeout_s)
        )
        self.clock = clock
        self.sleep = sleep
        self.async_sleep = async_sleep
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, RoutingDecision] = OrderedDict()

    # -- deciding ----------------------------------------------------------------------------

    def candidates(self, request: RoutingRequest) -> tuple[str, ...]:
        """The models that can serve `request` and that its gates allow, in model order.

        Raises:
            NoCandidateError: none can; the message says what the request needs and who lacks it.
            RoutingError: a gate allows none of them (its own error says why).
        """
        return self._admit(request)[0]

    def _admit(self, request: RoutingRequest) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
        """Candidates after capabilities and gates, the gates' reasons, and skip-the-selector."""
        out = []
        missing: dict[str, str] = {}
        for name in self.models:
            why = self._cannot_serve(name, request)
            if why is None:
                out.append(name)
            else:
                missing[name] = why
        if not out:
            lacks = "; ".join(f"{name}: {why}" for name, why in missing.items())
            raise NoCandidateError(
                f"no model can serve this request ({lacks}). Add a model that can, or declare the "
                "capability if the model has it: capabilities={'<model>': {'<capability>': True}}."
            )
        candidates = tuple(out)
        reasons: list[str] = []
        bypass = False
        for gate in self.gates:
            restriction = gate.restrict(request, candidates)
            if restriction is None:
                continue
            allowed = tuple(m for m in candidates if m in restriction.allowed)
            if not allowed:
                raise RoutingError(
                    f"gate {gate.name!r} allowed none of the candidates {list(candidates)} "
                    f"({restriction.reason}); a gate must raise its own error in that case."
                )
            candidates = allowed
            reasons.append(f"{gate.name}: {restriction.reason}")
            bypass = bypass or restriction.bypass_selector
        return candidates, tuple(reasons), bypass

    def _cannot_serve(self, name: str, request: RoutingRequest) -> str | None:
        caps = self.capabilities[name]
        for flag, attr, label in _NEEDS:
            if getattr(request, flag) and getattr(caps, attr) is False:
                return f"the request needs {label}, the model has none"
        if request.media:
            for kind, attr in _MEDIA:
                if kind in request.media and getattr(caps, attr) is False:
                    return f"the request carries {kind} input, the model takes none"
        limit = caps.max_input_tokens
        if limit is not None and request.token_estimate > limit:
            return f"~{request.token_estimate} prompt tokens exceed its {limit}-token window"
        return None

    def _preselect(
        self, request: RoutingRequest, candidates: tuple[str, ...]
    ) -> RoutingDecision | None:
        """Overrides and tool rounds, which bypass the selector."""
        forced = request.forced_route
        if forced is not None:
            if forced not in self.models:
                raise RoutingInputError(
                    f"route override {forced!r} is not a model; use one of {list(self.models)}."
                )
            if forced not in candidates:
                why = self._cannot_serve(forced, request) or (
                    f"the request's gates allow only {list(candidates)}"
                )
                raise NoCandidateError(
                    f"route override {forced!r} cannot serve this request: {why}."
                )
            return self._decision(forced, "override", "route forced by the caller", candidates)
        pinned = request.pinned_route
        if pinned is not None and pinned in candidates:
            return self._decision(
                pinned,
                "tool_round",
                "tool results go back to the model that called the tools",
                candidates,
            )
        return None

    def _finish(self, selection: Selection, candidates: tuple[str, ...]) -> RoutingDecision:
        route = selection.route
        if route is not None and route not in self.models:
            raise RoutingError(
                f"selector {self.selector.name!r} returned {route!r}, which is not a model; "
                f"models are {list(self.models)}."
            )
        if route is not None and route in candidates:
            return self._decision(
                route,
                self.selector.name,
                selection.reason,
                candidates,
                selection.scores,
                decision_id=selection.decision_id,
            )
        fallback = self.default if self.default in candidates else candidates[0]
        reason = selection.reason if route is None else f"{route} cannot serve this request"
        if fallback != self.default:
            reason += f"; default {self.default!r} cannot serve it either"
        return self._decision(
            fallback, self.selector.name, reason, candidates, selection.scores, abstained=True
        )

    def _decision(
        self,
        route: str,
        selector: str,
        reason: str,
        candidates: tuple[str, ...],
        scores: Mapping[str, float] | None = None,
        *,
        abstained: bool = False,
        decision_id: str | None = None,
    ) -> RoutingDecision:
        plan = (route, *(m for m in self.fallbacks[route] if m in candidates))
        return RoutingDecision(
            route=route,
            selected=route,
            selector=selector,
            reason=reason,
            scores=dict(scores or {}),
            candidates=candidates,
            plan=plan,
            abstained=abstained,
            decision_id=decision_id,
        )

    def decide(self, request: RoutingRequest) -> RoutingDecision:
        """Choose a model for `request` (no model is called)."""
        start = time.perf_counter()
        candidates, restrictions, bypass = self._admit(request)
        decision = self._preselect(request, candidates)
        if decision is None:
            selection = _BYPASSED if bypass else self.selector.select(request, candidates)
            decision = self._finish(selection, candidates)
        return decision.evolve(
            latency_ms=_ms_since(start), restrictions=restrictions, confined=bypass
        )

    async def adecide(self, request: RoutingRequest) -> RoutingDecision:
        """Async `decide`: selectors with I/O (remote encoders) are awaited."""
        start = time.perf_counter()
        candidates, restrictions, bypass = self._admit(request)
        decision = self._preselect(request, candidates)
        if decision is None:
            selection = _BYPASSED if bypass else await self.selector.aselect(request, candidates)
            decision = self._finish(selection, candidates)
        return decision.evolve(
            latency_ms=_ms_since(start), restrictions=restrictions, confined=bypass
        )

    # -- calling -----------------------------------------------------------------------------

    def run(self, decision: RoutingDecision, call: Callable[[str], T]) -> tuple[T, RoutingDecision]:
        """Call `call(route)` along the plan until one answers; returns it and the final decision.

        Retries, cooldowns and the deadline apply as configured; a running sync call cannot be
        interrupted, so the deadline is checked between attempts.

        Raises:
            AllModelsFailedError: every model tried failed with an error that falls back.
            DeadlineExceededError: the deadline passed before a model answered.
        """
        return _attempts.run(self, decision, call)

    async def arun(
        self, decision: RoutingDecision, call: Callable[[str], Awaitable[T]]
    ) -> tuple[T, RoutingDecision]:
        """Async `run`; `attempt_timeout_s` and the deadline cancel a running attempt."""
        return await _attempts.arun(self, decision, call)

    def run_stream(
        self,
        decision: RoutingDecision,
        open_stream: Callable[[str], Iterator[T]],
        commit: Commit | None = None,
        empty: Commit | None = None,
    ) -> Iterator[tuple[T, RoutingDecision]]:
        """Stream from the first model of the plan whose stream commits.

        A stream commits at its first chunk, or after `stream_hold_back` chunks, or at the
        first chunk `commit(chunk)` accepts (an adapter passes e.g. "has a tool-call delta";
        with `commit` and no hold-back, chunks are held until it accepts one or the stream
        ends). Chunks `empty(chunk)` accepts (no text, no tool-call delta: the role-only first
        chunk of OpenAI-style streams) never commit and do not count toward the hold-back.
        Falls back only before the commit; a failure after it raises
        `StreamInterruptedError`. Each chunk comes with the final decision.
        """
        return _streams.run_stream(self, decision, open_stream, commit, empty)

    def arun_stream(
        self,
        decision: RoutingDecision,
        open_stream: Callable[[str], AsyncIterator[T]],
        commit: Commit | None = None,
        empty: Commit | None = None,
    ) -> AsyncIterator[tuple[T, RoutingDecision]]:
        """Async `run_stream`, with `first_token_timeout_s` and `idle_timeout_s` enforced."""
        return _streams.arun_stream(self, decision, open_stream, commit, empty)

    def health(self) -> Mapping[str, ModelHealth]:
        """Each model's circuit-breaker state (empty without a breaker)."""
        if self.circuit_breaker is None:
            return {}
        states = self.circuit_breaker.state()
        return {name: states[name] for name in self.models if name in states}

    # -- outcome -----------------------------------------------------------------------------

    def with_usage(
        self,
        decision: RoutingDecision,
        usage: Usage | None,
        *,
        model_name: str | None = None,
        provider: str | None = None,
    ) -> RoutingDecision:
        """Complete a decision with the answer's usage and cost (None where unknown)."""
        if usage is None:
            return self._observe(decision.evolve(model_name=model_name))
        try:
            cost = self.pricing.cost_usd(
                route=decision.route,
                model=model_name,
                provider=provider,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens,
            )
        except (TypeError, ValueError):
            # Inconsistent usage reported by a provider must not fail a call that already
            # succeeded; the cost is then unknown.
            cost = None
        return self._observe(
            decision.evolve(
                model_name=model_name,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cost_usd=cost,
            )
        )

    def _observe(self, decision: RoutingDecision) -> RoutingDecision:
        """Show a completed call's decision to the gates (budgets record spend here)."""
        for gate in self.gates:
            gate.observe(decision)
        return decision

    # -- feedback ----------------------------------------------------------------------------

    def remember(self, key: object, decision: RoutingDecision) -> None:
        """Keep `decision` findable by `key` (a framework run id) for `record_feedback`.

        Only decisions of selectors that learn from feedback are kept, in a bounded LRU.
        """
        if decision.decision_id is None:
            return
        with self._lock:
            self._recent[str(key)] = decision
            self._recent.move_to_end(str(key))
            while len(self._recent) > _REMEMBERED:
                self._recent.popitem(last=False)

    def record_feedback(
        self, decision_or_key: object, quality: float, *, cost_usd: float | None = None
    ) -> None:
        """Report the observed quality (in [0, 1]) of a routed answer to a learning selector.

        Args:
            decision_or_key: The `RoutingDecision`, its dict (`response_metadata["routing"]`),
                its `decision_id`, or the framework run id of the call.
            quality: Observed quality of the answer, 0 (failed) to 1 (perfect).
            cost_usd: The observed cost, when known.

        Raises:
            RoutingInputError: The selector does not learn from feedback, the decision is unknown
                or expired, or the answer came from a fallback model the selector did not choose.
        """
        record = getattr(self.selector, "record_feedback", None)
        if record is None:
            raise RoutingInputError(
                f"selector {self.selector.name!r} does not learn from feedback; use a "
                "LearnedSelector to route on observed outcomes."
            )
        decision = self._find(decision_or_key)
        if decision is not None and decision.route != decision.selected:
            raise RoutingInputError(
                f"this call was answered by fallback model {decision.route!r}, not by "
                f"{decision.selected!r} which the selector chose; its quality says nothing "
                "about that choice."
            )
        record(decision if decision is not None else decision_or_key, quality, cost_usd=cost_usd)

    def _find(self, key: object) -> RoutingDecision | None:
        if isinstance(key, RoutingDecision):
            return key
        if isinstance(key, Mapping):
            return RoutingDecision.from_dict(key)
        with self._lock:
            return self._recent.get(str(key))

    def __repr__(self) -> str:
        return f"Router(models={list(self.models)}, selector={self.selector!r}, default={self.default!r})"


_BYPASSED = Selection(route=None, reason="a gate kept the request from the selector")


def _check_gates(gates: Sequence[Gate], models: tuple[str, ...]) -> tuple[Gate, ...]:
    """Gates as a tuple; each a Gate, and the models it names (`route_names`) all known."""
    if isinstance(gates, Gate):
        gates = [gates]
    out = tuple(gates)
    for gate in out:
        if not isinstance(gate, Gate):
            raise RouteConfigError(
                f"gates: {gate!r} is not a Gate (an object with name, restrict() and observe()); "
                "use e.g. Compliance(...) or Budget(...)."
            )
        names = getattr(gate, "route_names", None)
        if names is not None and not set(names) <= set(models):
            raise RouteConfigError(
                f"gate {gate.name!r} names unknown model(s) {sorted(set(names) - set(models))}; "
                f"models are {list(models)}."
            )
    return out


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 4)
