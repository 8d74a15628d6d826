"""`Router`: the framework-free heart: candidates, selection, decision, and the attempt loop.

Adapters own one `Router` each. Per call they build a `RoutingRequest`, ask `decide`/`adecide`
for a `RoutingDecision` (which carries the attempt plan), then drive the chosen model through
`run`/`arun`/`run_stream`/`arun_stream`, which fall back along the plan.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from routing_chat_model.decision import Attempt, RoutingDecision
from routing_chat_model.errors import (
    AllModelsFailedError,
    NoCandidateError,
    RouteConfigError,
    RoutingError,
    RoutingInputError,
    StreamInterruptedError,
)
from routing_chat_model.policy import FallbackPolicy, Fallbacks, Gate, fallback_order
from routing_chat_model.pricing import Pricing
from routing_chat_model.request import RoutingRequest
from routing_chat_model.selectors.base import Selection, Selector, as_selector

__all__ = ["ModelCapabilities", "Router", "Usage", "aclose_stream", "close_stream"]

T = TypeVar("T")

_REMEMBERED = 10_000
"""Decisions kept for `record_feedback` by run id (only those of learning selectors)."""


@dataclass(frozen=True)
class ModelCapabilities:
    """What a model can serve; None means unknown (assumed able).

    Attributes:
        tool_calling: Can call tools.
        structured_output: Can answer in a JSON schema.
        image_inputs: Accepts images.
        max_input_tokens: Context window, in tokens.
    """

    tool_calling: bool | None = None
    structured_output: bool | None = None
    image_inputs: bool | None = None
    max_input_tokens: int | None = None

    @classmethod
    def from_mapping(cls, where: str, data: Mapping[str, Any]) -> ModelCapabilities:
        """Build from a dict such as a LangChain model profile, ignoring unrelated keys."""
        values = {
            k: data[k] for k in ("tool_calling", "structured_output", "image_inputs") if k in data
        }
        for key, value in values.items():
            if value is not None and not isinstance(value, bool):
                raise RouteConfigError(
                    f"{where}[{key!r}] must be True, False or None, got {value!r}."
                )
        limit = data.get("max_input_tokens")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0
        ):
            raise RouteConfigError(
                f"{where}['max_input_tokens'] must be a positive int, got {limit!r}."
            )
        return cls(max_input_tokens=limit, **values)

    def merged(self, override: ModelCapabilities) -> ModelCapabilities:
        """These capabilities with every field `override` sets replacing ours."""
        return ModelCapabilities(
            tool_calling=_pick(override.tool_calling, self.tool_calling),
            structured_output=_pick(override.structured_output, self.structured_output),
            image_inputs=_pick(override.image_inputs, self.image_inputs),
            max_input_tokens=_pick(override.max_input_tokens, self.max_input_tokens),
        )


def _pick(first: Any, second: Any) -> Any:
    return second if first is None else first


@dataclass(frozen=True)
class Usage:
    """Token usage of one answer, as the model reported it."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0


_NEEDS = (
    ("has_tools", "tool_calling", "tool calling"),
    ("structured_output", "structured_output", "structured output"),
    ("has_images", "image_inputs", "image inputs"),
)


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
        self.gates: tuple[Gate, ...] = _check_gates(gates)
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
        return decision.evolve(latency_ms=_ms_since(start), restrictions=restrictions)

    async def adecide(self, request: RoutingRequest) -> RoutingDecision:
        """Async `decide`: selectors with I/O (remote encoders) are awaited."""
        start = time.perf_counter()
        candidates, restrictions, bypass = self._admit(request)
        decision = self._preselect(request, candidates)
        if decision is None:
            selection = _BYPASSED if bypass else await self.selector.aselect(request, candidates)
            decision = self._finish(selection, candidates)
        return decision.evolve(latency_ms=_ms_since(start), restrictions=restrictions)

    # -- calling -----------------------------------------------------------------------------

    def run(self, decision: RoutingDecision, call: Callable[[str], T]) -> tuple[T, RoutingDecision]:
        """Call `call(route)` along the plan until one answers; returns it and the final decision."""
        log = _AttemptLog(self, decision)
        for route in decision.plan:
            start = time.perf_counter()
            try:
                result = call(route)
            except Exception as exc:
                log.failed(route, exc, start)
                continue
            return result, log.succeeded(route, start)
        raise log.all_failed()

    async def arun(
        self, decision: RoutingDecision, call: Callable[[str], Awaitable[T]]
    ) -> tuple[T, RoutingDecision]:
        """Async `run`."""
        log = _AttemptLog(self, decision)
        for route in decision.plan:
            start = time.perf_counter()
            try:
                result = await call(route)
            except Exception as exc:
                log.failed(route, exc, start)
                continue
            return result, log.succeeded(route, start)
        raise log.all_failed()

    def run_stream(
        self, decision: RoutingDecision, open_stream: Callable[[str], Iterator[T]]
    ) -> Iterator[tuple[T, RoutingDecision]]:
        """Stream from the first model of the plan whose stream yields a first chunk.

        Falls back only before the first chunk; a failure after it raises
        `StreamInterruptedError`. Each chunk comes with the final decision.
        """
        log = _AttemptLog(self, decision)
        for route in decision.plan:
            start = time.perf_counter()
            stream = open_stream(route)
            try:
                first = next(stream)
            except StopIteration:
                log.succeeded(route, start)
                return
            except Exception as exc:
                close_stream(stream)
                log.failed(route, exc, start)
                continue
            final = log.succeeded(route, start)
            emitted = 0
            try:
                yield first, final
                emitted = 1
                for chunk in stream:
                    yield chunk, final
                    emitted += 1
            except Exception as exc:
                log.interrupted(route, emitted, exc)
            finally:
                close_stream(stream)
            return
        raise log.all_failed()

    async def arun_stream(
        self, decision: RoutingDecision, open_stream: Callable[[str], AsyncIterator[T]]
    ) -> AsyncIterator[tuple[T, RoutingDecision]]:
        """Async `run_stream`."""
        log = _AttemptLog(self, decision)
        for route in decision.plan:
            start = time.perf_counter()
            stream = open_stream(route)
            try:
                first = await stream.__anext__()
            except StopAsyncIteration:
                log.succeeded(route, start)
                return
            except Exception as exc:
                await aclose_stream(stream)
                log.failed(route, exc, start)
                continue
            final = log.succeeded(route, start)
            emitted = 0
            try:
                yield first, final
                emitted = 1
                async for chunk in stream:
                    yield chunk, final
                    emitted += 1
            except Exception as exc:
                log.interrupted(route, emitted, exc)
            finally:
                await aclose_stream(stream)
            return
        raise log.all_failed()

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


def _check_gates(gates: Sequence[Gate]) -> tuple[Gate, ...]:
    if isinstance(gates, Gate):
        gates = [gates]
    out = tuple(gates)
    for gate in out:
        if not isinstance(gate, Gate):
            raise RouteConfigError(
                f"gates: {gate!r} is not a Gate (an object with name, restrict() and observe()); "
                "use e.g. Compliance(...) or Budget(...)."
            )
    return out


class _AttemptLog:
    """The attempts of one call: records each, and decides whether a failure falls back."""

    __slots__ = ("attempts", "decision", "errors", "router")

    def __init__(self, router: Router, decision: RoutingDecision) -> None:
        self.router = router
        self.decision = decision
        self.attempts: list[Attempt] = []
        self.errors: list[Exception] = []

    def failed(self, route: str, exc: Exception, start: float) -> None:
        """Record a failure, re-raising it when it must not fall back."""
        kind, falls_back = self.router.fallback_policy.classify(exc)
        if not falls_back:
            raise exc
        self.attempts.append(Attempt(route, type(exc).__name__, kind.value, _ms_since(start)))
        self.errors.append(exc)

    def succeeded(self, route: str, start: float) -> RoutingDecision:
        self.attempts.append(Attempt(route, None, None, _ms_since(start)))
        return self.decision.evolve(route=route, attempts=tuple(self.attempts))

    def interrupted(self, route: str, emitted: int, exc: Exception) -> NoReturn:
        """A stream failed after its first chunk: no fallback, never spliced output."""
        _, provider_failure = self.router.fallback_policy.classify(exc)
        if not provider_failure:
            raise exc
        raise StreamInterruptedError(route, emitted, exc) from exc

    def all_failed(self) -> AllModelsFailedError:
        summary = ", ".join(f"{a.route}: {a.error} ({a.error_kind})" for a in self.attempts)
        return AllModelsFailedError(
            f"all {len(self.attempts)} model(s) failed: {summary}",
            self.errors,
            [a.route for a in self.attempts],
        )


def close_stream(stream: Iterator[Any]) -> None:
    """Close a (sync) stream if it can be closed: ends the provider request behind it."""
    close = getattr(stream, "close", None)
    if close is not None:
        close()


async def aclose_stream(stream: AsyncIterator[Any]) -> None:
    """Async `close_stream`."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 4)
