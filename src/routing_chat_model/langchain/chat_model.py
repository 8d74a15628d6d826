"""`RoutingChatModel`: a LangChain chat model that routes each call to one of several models.

The router is the only chat-model run a call produces: the chosen child is driven inline
through its own `_generate`/`_stream` with the router's run manager, so tokens stream once,
usage is counted once, and callbacks see one start and one end. The decision reaches users
as `response_metadata["routing"]`, one `routing_decision` custom event, and run metadata
(`ls_provider`/`ls_model_name` of the chosen model, `routing_route`, `routing_selector`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.callbacks.manager import adispatch_custom_event, dispatch_custom_event
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.language_models.model_profile import ModelProfile
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig, ensure_config
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_core.utils.uuid import uuid7
from pydantic import ConfigDict, Field, PrivateAttr

from routing_chat_model.decision import RoutingDecision
from routing_chat_model.errors import RouteConfigError, RoutingInputError
from routing_chat_model.langchain._convert import (
    binding_kwargs,
    capabilities_of,
    chunk_of,
    has_images,
    to_turns,
    usage_of,
)
from routing_chat_model.langchain._structured import structured_router
from routing_chat_model.policy import FallbackPolicy
from routing_chat_model.pricing import Pricing
from routing_chat_model.request import RouteOn, RoutingRequest, validate_route_on
from routing_chat_model.router import Router, Usage
from routing_chat_model.selectors.base import CallableSelector

__all__ = ["ROUTE_CONFIG_KEY", "ROUTING_EVENT", "RoutingChatModel"]

ROUTING_EVENT = "routing_decision"
"""Name of the custom event (`on_custom_event`) that carries each decision."""

ROUTE_CONFIG_KEY = "route"
"""`config={"configurable": {"route": "<model>"}}` forces the route of a call."""

_ROUTE_KWARG = "routing_route"
"""Call kwarg carrying the pre-selected route from the public entry points to `_generate`;
it also lands in run metadata and in the cache key, and never reaches a child."""


@dataclass
class _RunCtx:
    """A decision made in a public entry point, handed to `_generate`/`_stream` of that call."""

    owner: int
    config: RunnableConfig
    run_id: UUID
    decision: RoutingDecision


_RUN_CTX: ContextVar[_RunCtx | None] = ContextVar("routing_chat_model_run", default=None)


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

    Tool calling and structured output: `bind_tools` binds each child in its own format at call
    time; `with_structured_output` supports function_calling, json_schema and json_mode.

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

    model_config = ConfigDict(populate_by_name=True, extra="forbid", arbitrary_types_allowed=True)

    _router: Router = PrivateAttr()
    _structured: dict[Any, Runnable[Any, Any]] = PrivateAttr(default_factory=dict)

    def __init__(self, **kwargs: Any) -> None:
        models = kwargs.get("models")
        if isinstance(models, Mapping):
            for name, child in models.items():
                if not isinstance(child, BaseChatModel):
                    raise RouteConfigError(
                        f"models[{name!r}] is a {type(child).__name__}, not a LangChain chat model. "
                        "Pass the chat model itself (configure retries, tools or settings on it, "
                        "not with .bind()/.with_retry(), which return wrappers)."
                    )
        super().__init__(**kwargs)
        self._router = self._build_router()

    def _build_router(self) -> Router:
        validate_route_on(self.route_on)
        overrides = self.capabilities or {}
        unknown = set(overrides) - set(self.models)
        if unknown:
            raise RouteConfigError(
                f"capabilities name unknown model(s) {sorted(unknown)}; models are {list(self.models)}."
            )
        selector = self.selector
        if selector is None:
            selector = CallableSelector(lambda request: None, name="default")
        return Router(
            list(self.models),
            selector=selector,
            default=self.default,
            fallbacks=self.fallbacks,
            capabilities={
                name: capabilities_of(name, child, overrides.get(name))
                for name, child in self.models.items()
            },
            fallback_policy=FallbackPolicy.build(self.fallback_on, self.fallback_exceptions),
            pricing=Pricing(self.prices),
        )

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
            "default": self._router.default,
            "selector": repr(self._router.selector),
            "models": {
                name: {"_type": child._llm_type, **child._identifying_params}
                for name, child in self.models.items()
            },
        }

    def _resolve_model_profile(self) -> ModelProfile | None:
        """The router serves what any child serves: it filters candidates per request."""
        caps = self._router.capabilities.values()
        providers = {child._get_ls_params().get("ls_provider") for child in self.models.values()}
        limits = [c.max_input_tokens for c in caps]
        profile = ModelProfile(
            tool_calling=any(c.tool_calling is not False for c in caps),
            image_inputs=any(c.image_inputs is True for c in caps),
            # Provider-native structured output (e.g. create_agent's ProviderStrategy) sends one
            # provider's response_format to every child, so only claim it for one provider.
            structured_output=len(providers) == 1
            and all(c.structured_output is True for c in caps),
        )
        if limits and all(limit is not None for limit in limits):
            profile["max_input_tokens"] = max(cast("list[int]", limits))
        return profile

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="routing", ls_model_name=self.model_name, ls_model_type="chat"
        )
        route = kwargs.get(_ROUTE_KWARG)
        if isinstance(route, str) and route in self.models:
            child = self.models[route]._get_ls_params(stop=stop)
            params["ls_provider"] = child.get("ls_provider", "routing")
            params["ls_model_name"] = child.get("ls_model_name", route)
            extra = cast("dict[str, Any]", params)
            extra["routing_route"] = route
            ctx = _RUN_CTX.get()
            if ctx is not None and ctx.owner == id(self):
                extra["routing_selector"] = ctx.decision.selector
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

    # -- building the request --------------------------------------------------------------

    def _request(
        self,
        messages: Sequence[BaseMessage],
        kwargs: Mapping[str, Any],
        metadata: Mapping[str, Any],
        forced: Any = None,
        *,
        structured: bool = False,
    ) -> RoutingRequest:
        """The core's view of a call (text, tools, images, metadata, route override)."""
        return RoutingRequest.from_turns(
            to_turns(messages),
            route_on=self.route_on,
            has_tools=bool(kwargs.get("tools")),
            structured_output=structured
            or bool(kwargs.get("ls_structured_output_format") or kwargs.get("response_format")),
            has_images=has_images(messages),
            metadata=metadata,
            forced_route=self._forced_route(kwargs.get("model", forced)),
        )

    def _forced_route(self, forced: Any) -> str | None:
        """A per-call route override (`model=` or the `route` configurable), checked."""
        if forced is None:
            return None
        if not isinstance(forced, str) or forced not in self.models:
            raise RoutingInputError(
                f"route override {forced!r} (model= or configurable['{ROUTE_CONFIG_KEY}']) is not "
                f"one of this router's models {list(self.models)}."
            )
        return forced

    def _prepare(
        self, input: LanguageModelInput, config: RunnableConfig | None, kwargs: dict[str, Any]
    ) -> tuple[RoutingRequest | None, RunnableConfig]:
        config = ensure_config(config)
        if _ROUTE_KWARG in kwargs:  # routed already by an outer entry point of this call
            return None, config
        messages = self._convert_input(input).to_messages()
        forced = (config.get("configurable") or {}).get(ROUTE_CONFIG_KEY)
        request = self._request(messages, kwargs, config.get("metadata") or {}, forced)
        return request, {**config, "run_id": config.get("run_id") or uuid7()}

    def _context(
        self, decision: RoutingDecision, config: RunnableConfig, kwargs: dict[str, Any]
    ) -> _RunCtx:
        kwargs[_ROUTE_KWARG] = decision.route
        return _RunCtx(id(self), config, cast("UUID", config["run_id"]), decision)

    # -- public entry points: route first, so run metadata names the chosen model ----------

    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """Route, then call the chosen model (falling back on provider failures)."""
        request, config = self._prepare(input, config, kwargs)
        if request is None:
            return super().invoke(input, config, stop=stop, **kwargs)
        token = _RUN_CTX.set(self._context(self._router.decide(request), config, kwargs))
        try:
            return super().invoke(input, config, stop=stop, **kwargs)
        finally:
            _RUN_CTX.reset(token)

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """Async `invoke`."""
        request, config = self._prepare(input, config, kwargs)
        if request is None:
            return await super().ainvoke(input, config, stop=stop, **kwargs)
        decision = await self._router.adecide(request)
        token = _RUN_CTX.set(self._context(decision, config, kwargs))
        try:
            return await super().ainvoke(input, config, stop=stop, **kwargs)
        finally:
            _RUN_CTX.reset(token)

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        """Route, then stream the chosen model's tokens (fallback only before the first chunk)."""
        request, config = self._prepare(input, config, kwargs)
        if request is None:
            yield from super().stream(input, config, stop=stop, **kwargs)
            return
        ctx = self._context(self._router.decide(request), config, kwargs)
        stream = super().stream(input, config, stop=stop, **kwargs)
        try:
            # The context is set only while the base opens the stream, never while the
            # consumer's code runs between chunks.
            token = _RUN_CTX.set(ctx)
            try:
                first = next(stream, None)
            finally:
                _RUN_CTX.reset(token)
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
        request, config = self._prepare(input, config, kwargs)
        if request is None:
            async for chunk in super().astream(input, config, stop=stop, **kwargs):
                yield chunk
            return
        ctx = self._context(await self._router.adecide(request), config, kwargs)
        stream = super().astream(input, config, stop=stop, **kwargs)
        try:
            token = _RUN_CTX.set(ctx)
            try:
                first = await anext(stream, None)
            finally:
                _RUN_CTX.reset(token)
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
        run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
    ) -> tuple[RoutingDecision | None, RoutingRequest | None, _RunCtx | None]:
        """The decision made by the entry point, or the request to decide on here."""
        route = kwargs.pop(_ROUTE_KWARG, None)
        ctx = _RUN_CTX.get()
        if ctx is not None and ctx.owner == id(self) and ctx.decision.route == route:
            return ctx.decision, None, ctx
        metadata = run_manager.metadata if run_manager is not None else {}
        return None, self._request(messages, kwargs, metadata, route), None

    def _child_call(
        self, route: str, kwargs: Mapping[str, Any]
    ) -> tuple[BaseChatModel, dict[str, Any]]:
        """The child for `route` and the kwargs to call it with, tools bound its own way."""
        child = self.models[route]
        kw = dict(kwargs)
        for private in ("model", "stream", "ls_structured_output_format"):
            kw.pop(private, None)
        tools = kw.pop("tools", None)
        tool_choice = kw.pop("tool_choice", None)
        extra = kw.pop("tool_bind_kwargs", None) or {}
        if tools:
            choice = {} if tool_choice is None else {"tool_choice": tool_choice}
            kw = {**binding_kwargs(child.bind_tools(tools, **choice, **extra), child), **kw}
        if self.temperature is not None:
            kw.setdefault("temperature", self.temperature)
        if self.max_tokens is not None:
            kw.setdefault("max_tokens", self.max_tokens)
        return child, kw

    def _annotate(self, result: ChatResult, decision: RoutingDecision) -> RoutingDecision:
        message = result.generations[0].message if result.generations else None
        decision = self._with_usage(
            decision,
            usage_of(message) if message is not None else None,
            message.response_metadata.get("model_name") if message is not None else None,
        )
        for generation in result.generations:
            generation.generation_info = {
                **(generation.generation_info or {}),
                "routing": decision.to_dict(),
            }
            if "model_name" not in generation.message.response_metadata:
                generation.message.response_metadata["model_name"] = decision.model_name
        return decision

    def _with_usage(
        self, decision: RoutingDecision, usage: Usage | None, model_name: Any
    ) -> RoutingDecision:
        ls = self.models[decision.route]._get_ls_params()
        name = model_name if isinstance(model_name, str) else ls.get("ls_model_name")
        return self._router.with_usage(
            decision, usage, model_name=name, provider=ls.get("ls_provider")
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        decision, request, ctx = self._take(messages, kwargs, run_manager)
        if decision is None:
            decision = self._router.decide(cast("RoutingRequest", request))
        stop = stop or self.stop

        def call(route: str) -> ChatResult:
            child, child_kwargs = self._child_call(route, kwargs)
            if child.rate_limiter:
                child.rate_limiter.acquire(blocking=True)
            return child._generate(messages, stop=stop, run_manager=run_manager, **child_kwargs)

        result, decision = self._router.run(decision, call)
        decision = self._annotate(result, decision)
        self._emit(decision, run_manager, ctx)
        return result

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        decision, request, ctx = self._take(messages, kwargs, run_manager)
        if decision is None:
            decision = await self._router.adecide(cast("RoutingRequest", request))
        stop = stop or self.stop

        async def call(route: str) -> ChatResult:
            child, child_kwargs = self._child_call(route, kwargs)
            if child.rate_limiter:
                await child.rate_limiter.aacquire(blocking=True)
            return await child._agenerate(
                messages, stop=stop, run_manager=run_manager, **child_kwargs
            )

        result, decision = await self._router.arun(decision, call)
        decision = self._annotate(result, decision)
        await self._aemit(decision, run_manager, ctx)
        return result

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        decision, request, ctx = self._take(messages, kwargs, run_manager)
        if decision is None:
            decision = self._router.decide(cast("RoutingRequest", request))
        stop = stop or self.stop

        def open_stream(route: str) -> Iterator[ChatGenerationChunk]:
            child, child_kwargs = self._child_call(route, kwargs)
            if child.rate_limiter:
                child.rate_limiter.acquire(blocking=True)
            if _cannot_stream(child, child_kwargs):
                result = child._generate(
                    messages, stop=stop, run_manager=run_manager, **child_kwargs
                )
                yield chunk_of(result.generations[0])
                return
            yield from child._stream(messages, stop=stop, run_manager=run_manager, **child_kwargs)

        relay = _Relay(self)
        for chunk, current in self._router.run_stream(decision, open_stream):
            yield from relay.push(chunk, current)
        yield from relay.close()
        if relay.decision is not None:
            self._emit(relay.decision, run_manager, ctx)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        decision, request, ctx = self._take(messages, kwargs, run_manager)
        if decision is None:
            decision = await self._router.adecide(cast("RoutingRequest", request))
        stop = stop or self.stop

        async def open_stream(route: str) -> AsyncIterator[ChatGenerationChunk]:
            child, child_kwargs = self._child_call(route, kwargs)
            if child.rate_limiter:
                await child.rate_limiter.aacquire(blocking=True)
            if _cannot_stream(child, child_kwargs):
                result = await child._agenerate(
                    messages, stop=stop, run_manager=run_manager, **child_kwargs
                )
                yield chunk_of(result.generations[0])
                return
            async for chunk in child._astream(
                messages, stop=stop, run_manager=run_manager, **child_kwargs
            ):
                yield chunk

        relay = _Relay(self)
        async for chunk, current in self._router.arun_stream(decision, open_stream):
            for out in relay.push(chunk, current):
                yield out
        for out in relay.close():
            yield out
        if relay.decision is not None:
            await self._aemit(relay.decision, run_manager, ctx)

    # -- the routing_decision custom event ---------------------------------------------------

    def _event_manager(
        self, ctx: _RunCtx, manager_cls: type[CallbackManager] | type[AsyncCallbackManager]
    ) -> Any:
        manager = manager_cls.configure(
            ctx.config.get("callbacks"),
            self.callbacks,
            self.verbose,
            ctx.config.get("tags"),
            self.tags,
            ctx.config.get("metadata"),
            self.metadata,
        )
        manager.parent_run_id = ctx.run_id
        return manager

    def _emit(
        self,
        decision: RoutingDecision,
        run_manager: CallbackManagerForLLMRun | None,
        ctx: _RunCtx | None,
    ) -> None:
        if not self.emit_routing_event:
            return
        if run_manager is not None:
            manager: CallbackManager = _child_manager(run_manager, CallbackManager)
        elif ctx is not None:
            manager = self._event_manager(ctx, CallbackManager)
        else:
            return
        dispatch_custom_event(ROUTING_EVENT, decision.to_dict(), config={"callbacks": manager})

    async def _aemit(
        self,
        decision: RoutingDecision,
        run_manager: AsyncCallbackManagerForLLMRun | None,
        ctx: _RunCtx | None,
    ) -> None:
        if not self.emit_routing_event:
            return
        if run_manager is not None:
            manager: AsyncCallbackManager = _child_manager(run_manager, AsyncCallbackManager)
        elif ctx is not None:
            manager = self._event_manager(ctx, AsyncCallbackManager)
        else:
            return
        await adispatch_custom_event(
            ROUTING_EVENT, decision.to_dict(), config={"callbacks": manager}
        )

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
        bind: dict[str, Any] = {"tools": [convert_to_openai_tool(tool) for tool in tools]}
        if tool_choice is not None:
            bind["tool_choice"] = tool_choice
        ls_format = kwargs.pop("ls_structured_output_format", None)
        if ls_format is not None:
            bind["ls_structured_output_format"] = ls_format
        if kwargs:
            bind["tool_bind_kwargs"] = kwargs
        return self.bind(**bind)

    def with_structured_output(  # type: ignore[override]
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
            if strict is not None:
                kwargs["strict"] = strict
            return super().with_structured_output(schema, include_raw=include_raw, **kwargs)
        if method not in ("json_schema", "json_mode"):
            raise ValueError(
                f"method={method!r} is not supported: use 'function_calling', 'json_schema' "
                "or 'json_mode'."
            )
        return structured_router(
            self, schema, include_raw=include_raw, method=method, strict=strict, **kwargs
        )


class _Relay:
    """Passes a child's chunks through, adding the decision without disturbing usage.

    The decision goes on the first chunk. Chunks that carry usage are held until the next chunk
    arrives, so the last of them can also carry the answer's usage and cost: chunk metadata is
    merged by concatenating strings and adding ints, so each value must appear exactly once.
    """

    def __init__(self, owner: RoutingChatModel) -> None:
        self.owner = owner
        self.decision: RoutingDecision | None = None
        self.first = True
        self.held: ChatGenerationChunk | None = None
        self.held_is_first = False
        self.input_tokens = 0
        self.output_tokens = 0
        self.cache_read = 0
        self.saw_usage = False
        self.model_name: str | None = None

    def push(
        self, chunk: ChatGenerationChunk, decision: RoutingDecision
    ) -> Iterator[ChatGenerationChunk]:
        self.decision = decision
        is_first = self.first
        if self.first:
            chunk.generation_info = {**(chunk.generation_info or {}), "routing": decision.to_dict()}
            self.first = False
        message = chunk.message
        name = message.response_metadata.get("model_name")
        if isinstance(name, str) and name:
            self.model_name = name
        if self.held is not None:
            yield self.held
            self.held = None
        usage = usage_of(message)
        if usage is not None:
            self.saw_usage = True
            self.input_tokens += usage.input_tokens
            self.output_tokens += usage.output_tokens
            self.cache_read += usage.cache_read_tokens
            self.held, self.held_is_first = chunk, is_first
            return
        yield chunk

    def close(self) -> Iterator[ChatGenerationChunk]:
        if self.decision is None:
            return
        usage = (
            Usage(self.input_tokens, self.output_tokens, self.cache_read)
            if self.saw_usage
            else None
        )
        self.decision = self.owner._with_usage(self.decision, usage, self.model_name)
        if self.held is None:
            return
        final = self.decision
        patch = (
            final.to_dict()
            if self.held_is_first
            else {
                "input_tokens": final.input_tokens,
                "output_tokens": final.output_tokens,
                "cost_usd": final.cost_usd,
                "model_name": final.model_name,
            }
        )
        self.held.generation_info = {**(self.held.generation_info or {}), "routing": patch}
        yield self.held
        self.held = None


def _cannot_stream(child: BaseChatModel, kwargs: Mapping[str, Any]) -> bool:
    if (
        type(child)._stream is BaseChatModel._stream
        and type(child)._astream is BaseChatModel._astream
    ):
        return True
    if child.disable_streaming is True:
        return True
    return child.disable_streaming == "tool_calling" and bool(kwargs.get("tools"))


def _child_manager(run_manager: Any, manager_cls: Callable[..., Any]) -> Any:
    """A callback manager parented to the router's LLM run (LLM run managers have no get_child)."""
    manager = manager_cls(handlers=[], parent_run_id=run_manager.run_id)
    manager.set_handlers(run_manager.inheritable_handlers)
    manager.add_tags(run_manager.inheritable_tags)
    manager.add_metadata(run_manager.inheritable_metadata)
    return manager
