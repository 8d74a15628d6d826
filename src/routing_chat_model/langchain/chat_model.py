"""`RoutingChatModel`: a LangChain chat model that routes each call to one of several models.

The router is the only chat-model run a call produces: the chosen child is driven inline
through its own `_generate`/`_stream` with the router's run manager, so tokens stream once,
usage is counted once, and callbacks see one start and one end. The decision reaches users
as `response_metadata["routing"]`, one `routing_decision` custom event, and run metadata
(`ls_provider`/`ls_model_name` of the chosen model, `routing_route`, `routing_selector`).

Streaming contract: fallback happens only before the first chunk reaches the caller; a provider
failure after it raises `StreamInterruptedError` (another model's text is never spliced on).
"""

from __future__ import annotations

import copy
import os
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, cast
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.language_models.model_profile import ModelProfile
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr
from typing_extensions import Self

from routing_chat_model._copying import deepcopy_model
from routing_chat_model._settings import build_router
from routing_chat_model.decision import RoutingDecision
from routing_chat_model.langchain import _delegate, _modes
from routing_chat_model.langchain._events import (
    ROUTE_CONFIG_KEY,
    ROUTING_EVENT,
    RUN_CONTEXT,
    RunContext,
    adispatch_decision,
    dispatch_decision,
)
from routing_chat_model.langchain._request import ROUTE_KWARG, prepare
from routing_chat_model.langchain._request import pending as prepared
from routing_chat_model.langchain._settings import (
    check_settings,
    model_capabilities,
    profile_of,
)
from routing_chat_model.langchain._stream import StreamRelay, has_tool_call_chunk
from routing_chat_model.langchain._structured import function_calling, structured_router
from routing_chat_model.modes import Cascade, Parallel
from routing_chat_model.request import RouteOn
from routing_chat_model.router import Router

__all__ = ["ROUTE_CONFIG_KEY", "ROUTING_EVENT", "RoutingChatModel"]


class RoutingChatModel(BaseChatModel):
    """A chat model that routes each call to one of several LangChain chat models.

    Setup:
        ```bash
        pip install 'routing-chat-model[langchain]'
        ```

    Key init args:
        models: Name -> chat model. The order is the default fallback order.
        selector: `RuleSelector`, `EmbeddingSelector`, any `Selector`, or a function
            `(RoutingRequest) -> name | None`. None: always the default (fallback only).
        default: Model used when the selector abstains (default: the first model).
        fallbacks: Order of models tried after a failure: a list, or route -> list.
        route_on: "last_user" (default), "conversation", or N (the last N turns).
        capabilities: Per-model overrides of the LangChain profile, e.g.
            `{"local": {"tool_calling": False}}`.
        prices: Per-model prices (USD per million tokens) overriding genai-prices.

    Instantiate:
        ```python
        from routing_chat_model import EmbeddingSelector
        from routing_chat_model.langchain import RoutingChatModel

        router = RoutingChatModel(
            models={"fast": ChatOpenAI(model="gpt-4o-mini"), "strong": ChatOpenAI(model="gpt-4o")},
            selector=EmbeddingSelector({"fast": ["hi", "thanks"], "strong": ["prove that"]}),
            default="fast",
        )
        ```

    Invoke:
        ```python
        msg = router.invoke("Prove that there are infinitely many primes.")
        msg.response_metadata["routing"]["route"]  # 'strong'
        ```

    Stream / async / batch: as any chat model; tokens stream from the chosen model.

    Fallback: a rate limit, timeout, connection error or 5xx moves the call to the next model
    (each tried at most once); a context-window overflow moves it only to a model with a larger
    (or undeclared) window; other errors propagate at once; when all fail,
    `AllModelsFailedError` holds every attempt's error. A stream falls back only before it
    commits (its first chunk, or `stream_hold_back` chunks); a failure after it raises
    `StreamInterruptedError` (outputs are never spliced).

    Retries, cooldowns and time limits (all off by default):
        ```python
        from routing_chat_model.policy import CircuitBreaker, RetryPolicy

        router = RoutingChatModel(
            models={"fast": ChatOpenAI(model="gpt-4o-mini", max_retries=0),
                    "strong": ChatOpenAI(model="gpt-4o", max_retries=0)},
            retry=RetryPolicy(max_attempts=2),       # 429/5xx/connection: once more, same model
            circuit_breaker=CircuitBreaker(failure_threshold=3, cooldown_s=30),
            deadline_s=20, attempt_timeout_s=8,     # one budget per call; per attempt
            first_token_timeout_s=5, idle_timeout_s=10,
        )
        ```
        The router is the only retry loop: turn the children's own retries off (a child with
        `max_retries > 0` gets a warning). Backoff is jittered and honours `Retry-After`;
        timeouts are not retried on the same model; time limits cancel async attempts, sync
        calls check the deadline between attempts. `stream_hold_back=N` /
        `stream_hold_until_tool_call=True` keep fallback open while chunks are held. See the
        README's "Reliability" section.

    Gates and modes: `gates=[Compliance(...), Budget(...), LatencyTarget(...)]` narrow the models
    each call may use; `mode=Cascade(...)` / `mode=Parallel(...)` answer with several models.

    Watching decisions: `response_metadata["routing"]`, one `routing_decision` custom event per
    call (`astream_events`, `BaseCallbackHandler.on_custom_event`), and run metadata
    (`ls_model_name`/`ls_provider` of the chosen model, `routing_route`, `routing_selector`).

    Tool calling and structured output: `bind_tools` binds each child in its own format at call
    time, and only tool-capable models are candidates; tool results go back to the model that
    called the tools. `with_structured_output` supports function_calling, json_schema and
    json_mode.

    Route override: `router.invoke(..., model="strong")` or
    `config={"configurable": {"route": "strong"}}`.
    """

    models: dict[str, BaseChatModel]
    """Name -> chat model; the order is the default fallback order."""
    selector: Any = None
    """A Selector, a function `(RoutingRequest) -> name | None`, or None (always the default)."""
    default: str | None = None
    """The model that answers when the selector abstains (default: the first model)."""
    fallbacks: list[str] | dict[str, list[str]] | None = None
    """Fallback order: one list for every route, or route -> list (default: `models` order)."""
    route_on: RouteOn = "last_user"
    """What text to route on: 'last_user', 'conversation', or the last N turns."""
    capabilities: dict[str, dict[str, Any]] | None = None
    """Per-model capability overrides (tool_calling, structured_output, image_inputs, max_input_tokens)."""
    prices: dict[str, Any] | None = None
    """Per-model prices, route or provider model name -> ModelPrice or {'input_per_mtok', ...}."""
    fallback_on: list[str] | None = None
    """Error kinds that fall back (default: rate_limit, timeout, connection, server_error)."""
    fallback_exceptions: list[type[BaseException]] = Field(default_factory=list)
    """Extra exception types that always fall back."""
    gates: list[Any] = Field(default_factory=list)
    """Limits on which models may answer each request (`Compliance`, `Budget`...), see `Gate`."""
    retry: Any = None
    """Retries on the same model: a `RetryPolicy`, a dict of its fields, or an int
    (max attempts per model). Default: none (fallback only)."""
    circuit_breaker: Any = None
    """A `CircuitBreaker` that skips failing models for a while (shared across calls)."""
    deadline_s: float | None = None
    """Time budget of one call, all attempts and backoffs included."""
    attempt_timeout_s: float | None = None
    """Longest time one async attempt may take before it is cancelled (and falls back)."""
    first_token_timeout_s: float | None = None
    """Longest wait for an async stream's first chunk before falling back."""
    idle_timeout_s: float | None = None
    """Longest gap between an async stream's chunks."""
    stream_hold_back: int = 0
    """Chunks held back before a stream commits to a model (fallback stays possible)."""
    stream_hold_until_tool_call: bool = False
    """Hold a stream's chunks until its first tool-call chunk (or its end) before committing."""
    mode: Cascade | Parallel | None = None
    """Answer in a mode: `Cascade(...)` escalates on failed checks, `Parallel(...)` asks several
    models at once; None: one routed call."""
    emit_routing_event: bool = True
    """Dispatch one `routing_decision` custom event per routed call."""
    model_name: str = Field(default="routing-chat-model", alias="model")
    """Name reported when no route is known yet."""
    temperature: float | None = None
    """When set, passed to the chosen model on every call."""
    max_tokens: int | None = None
    """When set, passed to the chosen model on every call."""
    stop: list[str] | None = None
    """Default stop sequences for every call."""
    streaming: bool = False
    """When True, `invoke` streams from the chosen model too (LangChain's standard flag)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", arbitrary_types_allowed=True)

    _router: Router = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        check_settings(type(self), kwargs)
        super().__init__(**kwargs)
        self._router = self._build_router()

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy; with `update`, its routing is rebuilt (and checked) from the new settings."""
        if deep:  # pydantic would deep-copy the router's locks; __deepcopy__ rebuilds it
            clone = copy.deepcopy(self)
            return clone.model_copy(update=update) if update else clone
        clone = super().model_copy(update=update)
        if update:
            current = ("models", "route_on", "fallbacks", "capabilities")
            check_settings(type(self), {**{k: getattr(clone, k) for k in current}, **update})
            clone._router = clone._build_router()
        return clone

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        """A deep copy whose routing is rebuilt; the selector is shared (it is configuration)."""
        shared = (self.selector, *self.gates, self.circuit_breaker, self.mode)
        clone = deepcopy_model(self, memo, share=shared)
        clone._router = clone._build_router()
        return clone

    def _build_router(self) -> Router:
        return build_router(self.__dict__, model_capabilities(self.models, self.capabilities))

    @classmethod
    def from_config(
        cls,
        path: str | os.PathLike[str],
        *,
        models: Mapping[str, BaseChatModel] | None = None,
        encoder: object = None,
        **overrides: Any,
    ) -> Self:
        """Build a router from a TOML or YAML file (see `routing_chat_model.config`).

        Models are `provider:model` strings built with LangChain's `init_chat_model` (needs
        `pip install langchain`); `models=` swaps in ready models, `overrides` win over the file.
        """
        from routing_chat_model.langchain._config import from_config

        return from_config(cls, path, models=models, encoder=encoder, **overrides)

    def record_feedback(
        self, answer: Any, quality: float, *, cost_usd: float | None = None
    ) -> None:
        """Report how good a routed answer was (0 to 1) to a selector that learns from it.

        `answer` is the `AIMessage` the router returned, its `response_metadata["routing"]`, a
        `RoutingDecision`, or the LangChain run id of the call (e.g. from a callback handler or
        LangSmith). See `Router.record_feedback`.
        """
        if isinstance(answer, BaseMessage):
            answer = answer.response_metadata.get("routing") or {}
        self._router.record_feedback(answer, quality, cost_usd=cost_usd)

    @property
    def router(self) -> Router:
        """The framework-free router behind this model."""
        return self._router

    @property
    def _llm_type(self) -> str:
        return "routing-chat-model"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "default": self.default,
            "selector": repr(self.selector),
            "models": {
                name: {"_type": child._llm_type, **child._identifying_params}
                for name, child in self.models.items()
            },
        }

    def _resolve_model_profile(self) -> ModelProfile | None:
        """The router serves what any child serves: it filters candidates per request.

        Runs from pydantic validation, before `_router` exists, so it reads the models directly.
        """
        return profile_of(self.models, self.capabilities)

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="routing", ls_model_name=self.model_name, ls_model_type="chat"
        )
        route = kwargs.get(ROUTE_KWARG)
        if isinstance(route, str) and route in self.models:
            ctx = RUN_CONTEXT.get()
            mine = ctx is not None and ctx.owner == id(self) and ctx.decision.route == route
            selector = ctx.decision.selector if ctx is not None and mine else None
            params.update(self._route_metadata(route, stop, selector))  # type: ignore[typeddict-item]
        model = kwargs.get("model")
        if isinstance(model, str) and model not in self.models:
            params["ls_model_name"] = model
        temperature = kwargs.get("temperature", self.temperature)
        if isinstance(temperature, (int, float)):
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if isinstance(max_tokens, int):
            params["ls_max_tokens"] = max_tokens
        if stop or self.stop:
            params["ls_stop"] = stop or self.stop
        return params

    def _route_metadata(
        self, route: str, stop: list[str] | None, selector: str | None
    ) -> dict[str, Any]:
        """Run metadata naming the chosen model (what LangSmith and event metadata show)."""
        child = self.models[route]._get_ls_params(stop=stop)
        metadata: dict[str, Any] = {
            "ls_provider": child.get("ls_provider", "routing"),
            "ls_model_name": child.get("ls_model_name", route),
            "routing_route": route,
        }
        if selector is not None:
            metadata["routing_selector"] = selector
        return metadata

    # -- routing in the public entry points, so run metadata names the chosen model ---------

    def _context(
        self,
        decision: RoutingDecision,
        config: RunnableConfig,
        stop: list[str] | None,
        kwargs: dict[str, Any],
    ) -> RunContext:
        kwargs[ROUTE_KWARG] = decision.route
        metadata = self._route_metadata(decision.route, stop or self.stop, decision.selector)
        return RunContext(id(self), config, cast("UUID", config["run_id"]), decision, metadata)

    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """Route, then call the chosen model (falling back on provider failures)."""
        request, config = prepare(self, input, config, kwargs)
        if request is None:
            return super().invoke(input, config, stop=stop, **kwargs)
        ctx = self._context(self._router.decide(request), config, stop, kwargs)
        token = RUN_CONTEXT.set(ctx)
        try:
            return super().invoke(input, config, stop=stop, **kwargs)
        finally:
            RUN_CONTEXT.reset(token)

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """Async `invoke`."""
        request, config = prepare(self, input, config, kwargs)
        if request is None:
            return await super().ainvoke(input, config, stop=stop, **kwargs)
        ctx = self._context(await self._router.adecide(request), config, stop, kwargs)
        token = RUN_CONTEXT.set(ctx)
        try:
            return await super().ainvoke(input, config, stop=stop, **kwargs)
        finally:
            RUN_CONTEXT.reset(token)

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        """Route, then stream the chosen model's tokens (fallback only before the first chunk)."""
        request, config = prepare(self, input, config, kwargs)
        if request is None:
            yield from super().stream(input, config, stop=stop, **kwargs)
            return
        ctx = self._context(self._router.decide(request), config, stop, kwargs)
        stream = cast(
            "Generator[AIMessageChunk, None, None]",
            super().stream(input, config, stop=stop, **kwargs),
        )
        try:
            # The context is set only while the base opens the stream, never while the
            # consumer's code runs between chunks.
            token = RUN_CONTEXT.set(ctx)
            try:
                first = next(stream, None)
            finally:
                RUN_CONTEXT.reset(token)
            if first is None:
                return
            yield first
            yield from stream
        finally:
            stream.close()

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        """Async `stream`."""
        request, config = prepare(self, input, config, kwargs)
        if request is None:
            async for chunk in super().astream(input, config, stop=stop, **kwargs):
                yield chunk
            return
        ctx = self._context(await self._router.adecide(request), config, stop, kwargs)
        stream = cast(
            "AsyncGenerator[AIMessageChunk, None]",
            super().astream(input, config, stop=stop, **kwargs),
        )
        try:
            token = RUN_CONTEXT.set(ctx)
            try:
                first = await anext(stream, None)
            finally:
                RUN_CONTEXT.reset(token)
            if first is None:
                return
            yield first
            async for chunk in stream:
                yield chunk
        finally:
            await stream.aclose()

    # -- the chat model hooks ----------------------------------------------------------------

    def _take(
        self,
        messages: list[BaseMessage],
        kwargs: dict[str, Any],
        run_manager: CallbackManagerForLLMRun | None,
    ) -> tuple[RoutingDecision, RunContext | None]:
        pending = prepared(self, messages, kwargs, run_manager)
        if isinstance(pending, RoutingDecision):
            return pending, RUN_CONTEXT.get()
        return self._router.decide(pending), None

    async def _atake(
        self,
        messages: list[BaseMessage],
        kwargs: dict[str, Any],
        run_manager: AsyncCallbackManagerForLLMRun | None,
    ) -> tuple[RoutingDecision, RunContext | None]:
        pending = prepared(self, messages, kwargs, run_manager)
        if isinstance(pending, RoutingDecision):
            return pending, RUN_CONTEXT.get()
        return await self._router.adecide(pending), None

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        decision, ctx = self._take(messages, kwargs, run_manager)
        result, decision = _modes.generate(
            self, decision, messages, self._stop(stop), run_manager, kwargs
        )
        if self.emit_routing_event:
            dispatch_decision(self, decision, run_manager, ctx)
        return result

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        decision, ctx = await self._atake(messages, kwargs, run_manager)
        result, decision = await _modes.agenerate(
            self, decision, messages, self._stop(stop), run_manager, kwargs
        )
        if self.emit_routing_event:
            await adispatch_decision(self, decision, run_manager, ctx)
        return result

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        decision, ctx = self._take(messages, kwargs, run_manager)
        relay = self._relay()
        yield from _modes.stream(
            self,
            decision,
            messages,
            self._stop(stop),
            run_manager,
            kwargs,
            relay,
            self._commit(kwargs),
        )
        if relay.decision is not None and self.emit_routing_event:
            dispatch_decision(self, relay.decision, run_manager, ctx)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        decision, ctx = await self._atake(messages, kwargs, run_manager)
        relay = self._relay()
        async for chunk in _modes.astream(
            self,
            decision,
            messages,
            self._stop(stop),
            run_manager,
            kwargs,
            relay,
            self._commit(kwargs),
        ):
            yield chunk
        if relay.decision is not None and self.emit_routing_event:
            await adispatch_decision(self, relay.decision, run_manager, ctx)

    def _stop(self, stop: list[str] | None) -> list[str] | None:
        """The call's stop sequences, else the router's; an empty list means none."""
        return stop or self.stop or None

    def _commit(self, kwargs: Mapping[str, Any]) -> Callable[[Any], bool] | None:
        """The stream commit predicate of `stream_hold_until_tool_call` (calls with tools)."""
        if self.stream_hold_until_tool_call and kwargs.get("tools"):
            return has_tool_call_chunk
        return None

    def _relay(self) -> StreamRelay:
        return StreamRelay(lambda d, usage, name: _delegate.complete(self, d, usage, name))

    # -- tools and structured output ---------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: Any = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; each chosen model re-binds them in its own format at call time.

        Tools are kept as OpenAI-format dicts (what LangGraph inspects and every LangChain
        model's `bind_tools` accepts). Other kwargs (`parallel_tool_calls`, `strict`,
        `response_format`...) are passed to the child's `bind_tools`.
        """
        # `strict` shapes the schema itself, and child `bind_tools` leave OpenAI-format dicts
        # as they are, so it is applied here.
        strict = kwargs.get("strict")
        bind: dict[str, Any] = {
            "tools": [convert_to_openai_tool(tool, strict=strict) for tool in tools]
        }
        if tool_choice is not None:
            bind["tool_choice"] = tool_choice
        ls_format = kwargs.pop("ls_structured_output_format", None)
        if ls_format is not None:
            bind["ls_structured_output_format"] = ls_format
        if kwargs:
            bind["tool_bind_kwargs"] = kwargs
        return self.bind(**bind)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        method: str = "function_calling",
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Structured output through the chosen model.

        `function_calling` binds the schema as a tool on the router (one router run, routing
        metadata and event as usual). `json_schema` and `json_mode` are provider features, so
        each model's own `with_structured_output(method=...)` answers, chosen per call.
        """
        if method == "function_calling":
            if kwargs:
                raise ValueError(f"Received unsupported arguments {kwargs}")
            return function_calling(self, schema, include_raw=include_raw, strict=strict)
        if method not in ("json_schema", "json_mode"):
            raise ValueError(
                f"method={method!r} is not supported: use 'function_calling', 'json_schema' "
                "or 'json_mode'."
            )
        return structured_router(
            self, schema, include_raw=include_raw, method=method, strict=strict, **kwargs
        )
