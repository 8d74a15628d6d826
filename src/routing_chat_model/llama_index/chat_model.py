"""`RoutingChatModel`: a LlamaIndex `FunctionCallingLLM` that routes each call among LLMs.

The routing itself (candidates, selectors, the fallback loop, the decision, cost) is the
framework-free `Router`; this class turns LlamaIndex calls into `RoutingRequest`s and drives the
chosen child through its own public methods.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM, ToolSelection
from llama_index.core.prompts import BasePromptTemplate
from llama_index.core.tools.types import BaseTool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_serializer
from typing_extensions import Self

from routing_chat_model._copying import deepcopy_model
from routing_chat_model._settings import build_router
from routing_chat_model.errors import RoutingInputError
from routing_chat_model.llama_index import _delegate, _modes
from routing_chat_model.llama_index._callbacks import CallScope, adopt
from routing_chat_model.llama_index._calls import ChatCall, CompletionCall, pop_own
from routing_chat_model.llama_index._convert import route_of
from routing_chat_model.llama_index._settings import (
    check_settings,
    merged_metadata,
    metadata_of,
    model_capabilities,
)
from routing_chat_model.llama_index._tools import TOOLS_KWARG, ToolRequest, ToolRoutes
from routing_chat_model.modes import Cascade, Parallel
from routing_chat_model.request import RouteOn
from routing_chat_model.router import Router

__all__ = ["RoutingChatModel"]


class RoutingChatModel(FunctionCallingLLM):
    """A LlamaIndex LLM that routes each call to one of several LlamaIndex LLMs.

    Setup:
        ```bash
        pip install 'routing-chat-model[llama-index]'
        ```

    Key init args:
        models: Name -> LlamaIndex LLM. The order is the default fallback order.
        selector: `RuleSelector`, `EmbeddingSelector`, any `Selector`, or a function
            `(RoutingRequest) -> name | None`. None: always the default (fallback only).
        default: Model used when the selector abstains (default: the first model).
        fallbacks: Order of models tried after a failure: a list, or route -> list.
        route_on: "last_user" (default), "conversation", or N (the last N turns).
        capabilities: Per-model overrides of what the child's `metadata` says, e.g.
            `{"local": {"tool_calling": False, "max_input_tokens": 8192}}`.
        prices: Per-model prices (USD per million tokens) overriding genai-prices.

    Instantiate:
        ```python
        from llama_index.llms.openai import OpenAI
        from routing_chat_model import EmbeddingSelector
        from routing_chat_model.llama_index import RoutingChatModel

        llm = RoutingChatModel(
            models={"fast": OpenAI(model="gpt-4o-mini", max_retries=0),
                    "strong": OpenAI(model="gpt-4o", max_retries=0)},
            selector=EmbeddingSelector({"fast": ["hi", "thanks"], "strong": ["prove that"]}),
        )
        Settings.llm = llm   # or llm=llm in a query engine, chat engine or agent
        ```

    Chat / complete / stream / async: as any LlamaIndex LLM; async methods await the
    children's native async methods. Per call, `model="strong"` forces a route and
    `routing_metadata={"tenant": ...}` reaches the selector (`RoutingRequest.metadata`); neither
    reaches a child.

    Metadata: merged from the children when built: the largest context window (a prompt too
    long for a child is routed only to children whose window fits), function calling if any
    child can (tool calls go only to those), `is_chat_model` only if every child is one.

    Fallback: a rate limit, timeout, connection error or 5xx moves the call to the next model
    (each tried at most once); other errors propagate at once; when all fail,
    `AllModelsFailedError` holds every attempt's error. A stream falls back only before its
    first chunk; a failure after it raises `StreamInterruptedError`. Turn the children's own
    retries off (`max_retries=0` for llama-index-llms-openai, whose default of 3 retries for
    up to 60 s) so that fallback is not delayed; a child with `max_retries > 0` gets a warning.
    A context-window overflow falls back only to a child with a larger (or unknown) window.

    Retries, cooldowns and time limits (all off by default): `retry=RetryPolicy(max_attempts=2)`
    (backoff with jitter, `Retry-After` honoured up to a cap, never past the deadline; timeouts
    are not retried on the same model), `circuit_breaker=CircuitBreaker(...)` (skips a failing
    child for `cooldown_s`, shared by all calls; `router.health()`), `deadline_s` (one budget
    per call), `attempt_timeout_s`, `first_token_timeout_s`, `idle_timeout_s` (enforced by
    cancelling the attempt on async calls; sync calls check the deadline between attempts),
    `stream_hold_back=N` / `stream_hold_until_tool_call=True` (hold chunks before committing
    a stream to a child, so a failure within them still falls back with nothing shown).

    Watching decisions: `additional_kwargs["routing"]` on every `ChatResponse` /
    `CompletionResponse` (streamed chunks included; the last carries usage and cost), one
    `RoutingDecisionEvent` per call for instrumentation event handlers, the tag
    `routing_route` on the chosen child's own instrumentation events, and the routed response
    in the router's legacy `CBEventType.LLM` payloads. Each child's `callback_manager` is
    wrapped so that, during a routed call, it skips the handlers the router already reports
    to (token counts are not doubled); outside routed calls children report as before.

    Tool calling: `chat_with_tools`, agents and `predict_and_call` route among tool-capable
    children only; the chosen child formats the tools itself and parses its own tool calls;
    tool results go back to the model that called the tools. `structured_predict` runs the
    chosen child's own (native) implementation.
    """

    models: dict[str, LLM]
    """Name -> LlamaIndex LLM; the order is the default fallback order."""
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
    """A `CircuitBreaker` that skips failing children for a while (shared across calls)."""
    deadline_s: float | None = None
    """Time budget of one call, all attempts and backoffs included."""
    attempt_timeout_s: float | None = None
    """Longest time one async attempt may take before it is cancelled (and falls back)."""
    first_token_timeout_s: float | None = None
    """Longest wait for an async stream's first chunk before falling back."""
    idle_timeout_s: float | None = None
    """Longest gap between an async stream's chunks."""
    stream_hold_back: int = 0
    """Chunks held back before a stream commits to a child (fallback stays possible)."""
    stream_hold_until_tool_call: bool = False
    """Hold a stream's chunks until its first tool call (or its end) before committing."""
    mode: Cascade | Parallel | None = None
    """Answer in a mode: `Cascade(...)` escalates on failed checks, `Parallel(...)` asks several
    models at once; None: one routed call."""
    emit_routing_event: bool = True
    """Dispatch one `RoutingDecisionEvent` per routed call."""
    model_name: str = Field(default="routing-chat-model", alias="model")
    """Name in the router's own metadata."""

    model_config = ConfigDict(
        populate_by_name=True, arbitrary_types_allowed=True, protected_namespaces=()
    )

    _router: Router = PrivateAttr()
    _metadata: LLMMetadata = PrivateAttr()
    _model_names: dict[str, str | None] = PrivateAttr(default_factory=dict)
    _tool_routes: ToolRoutes = PrivateAttr(default_factory=ToolRoutes)

    def __init__(self, **kwargs: Any) -> None:
        check_settings(type(self), kwargs)
        super().__init__(**kwargs)
        self._build()

    def _build(self) -> None:
        caps = model_capabilities(self.models, self.capabilities)
        self._router = build_router(self.__dict__, caps)
        self._metadata = merged_metadata(self.models, caps, self.model_name)
        names = {name: metadata_of(name, child).model_name for name, child in self.models.items()}
        self._model_names = {k: (v if v and v != "unknown" else None) for k, v in names.items()}
        for child in self.models.values():
            adopt(child)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy; with `update`, its routing is rebuilt (and checked) from the new settings."""
        if deep:  # pydantic would deep-copy the router's locks; __deepcopy__ rebuilds it
            clone = copy.deepcopy(self)
            return clone.model_copy(update=update) if update else clone
        clone = super().model_copy(update=update)
        if update:
            current = ("models", "route_on", "fallbacks", "capabilities")
            check_settings(type(self), {**{k: getattr(clone, k) for k in current}, **update})
            clone._build()
        return clone

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        """A deep copy whose routing is rebuilt (the router holds locks and caches).

        The selector is shared, not copied: it is configuration (and may hold a loaded encoder).
        """
        shared = (self.selector, *self.gates, self.circuit_breaker, self.mode)
        clone = deepcopy_model(self, memo, share=shared)
        object.__setattr__(clone, "__pydantic_private__", {"_tool_routes": ToolRoutes()})
        clone._build()
        return clone

    @classmethod
    def class_name(cls) -> str:
        """Name used in LlamaIndex serialisation and callback payloads."""
        return "RoutingChatModel"

    @property
    def metadata(self) -> LLMMetadata:
        """The children's metadata merged (see `merged_metadata`); computed when built."""
        return self._metadata

    @field_serializer(
        "selector",
        "gates",
        "retry",
        "circuit_breaker",
        "mode",
        "fallback_exceptions",
    )
    def _as_text(self, value: Any) -> Any:
        """Python objects in settings dump as their repr, so `to_dict`/`to_json` work.

        Reprs of selectors, gates and policies show settings only, never keys or prompt text.
        """
        if value is None:
            return None
        if isinstance(value, list):
            return [v.__qualname__ if isinstance(v, type) else repr(v) for v in value]
        return repr(value)

    def __repr_args__(self) -> Any:
        """Pydantic's repr fields, each child shown by class and model name only.

        Some LlamaIndex integrations keep the API key in a plain str field that their own repr
        shows; the router's repr never passes a child's repr on.
        """
        for key, value in super().__repr_args__():
            if key == "models":
                value = {
                    name: f"{type(child).__name__}(model={self._model_names.get(name)!r})"
                    for name, child in self.models.items()
                }
            yield key, value

    @property
    def router(self) -> Router:
        """The framework-free router behind this LLM."""
        return self._router

    @classmethod
    def from_config(
        cls,
        path: str | os.PathLike[str],
        *,
        models: Mapping[str, LLM] | None = None,
        encoder: object = None,
        **overrides: Any,
    ) -> Self:
        """Build a router from a TOML or YAML file (see `routing_chat_model.config`).

        Models are `provider:model` strings mapped to the provider's LlamaIndex integration
        class; `models=` swaps in ready LLMs, `overrides` win over the file.
        """
        from routing_chat_model.llama_index._config import from_config

        return from_config(cls, path, models=models, encoder=encoder, **overrides)

    def record_feedback(
        self, answer: Any, quality: float, *, cost_usd: float | None = None
    ) -> None:
        """Report how good a routed answer was (0 to 1) to a selector that learns from it.

        `answer` is the `ChatResponse` / `CompletionResponse` the router returned, its
        `additional_kwargs["routing"]`, a `RoutingDecision`, or the instrumentation span id of
        the call (`RoutingDecisionEvent.span_id`). See `Router.record_feedback`.
        """
        extra = getattr(answer, "additional_kwargs", None)
        if isinstance(extra, Mapping):
            answer = extra.get("routing") or {}
        self._router.record_feedback(answer, quality, cost_usd=cost_usd)

    def _child_model_name(self, route: str) -> str | None:
        """The provider model name of a route, from its metadata."""
        return self._model_names.get(route)

    def _scope(self, route: str, span_id: str | None, *, delegated: bool = False) -> CallScope:
        """The callback and instrumentation scope of one child call."""
        adopt(self.models[route])  # frameworks may have reassigned its callback manager
        return CallScope(route, span_id, self.callback_manager.handlers, delegated=delegated)

    # -- chat ---------------------------------------------------------------------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Route, then call the chosen child's `chat` (falling back on provider failures)."""
        call = ChatCall(self, messages, kwargs)
        decision = self._router.decide(call.request)
        return _modes.chat(self, decision, call)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Async `chat`, on the children's native `achat`."""
        call = ChatCall(self, messages, kwargs)
        decision = await self._router.adecide(call.request)
        return await _modes.achat(self, decision, call)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """Route, then stream the chosen child's chunks (fallback only before the first)."""
        call = ChatCall(self, messages, kwargs)
        decision = self._router.decide(call.request)
        return _modes.stream_chat(self, decision, call)

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        """Async `stream_chat`, on the children's native `astream_chat`."""
        call = ChatCall(self, messages, kwargs)
        decision = await self._router.adecide(call.request)
        return _modes.astream_chat(self, decision, call)

    # -- complete -----------------------------------------------------------------------------

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Route on the prompt, then call the chosen child's `complete`."""
        call = CompletionCall(self, prompt, formatted, kwargs)
        return _modes.complete(self, self._router.decide(call.request), call)

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        """Async `complete`, on the children's native `acomplete`."""
        call = CompletionCall(self, prompt, formatted, kwargs)
        decision = await self._router.adecide(call.request)
        return await _modes.acomplete(self, decision, call)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        """Route on the prompt, then stream the chosen child's `stream_complete`."""
        call = CompletionCall(self, prompt, formatted, kwargs)
        return _modes.stream_complete(self, self._router.decide(call.request), call)

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        """Async `stream_complete`, on the children's native `astream_complete`."""
        call = CompletionCall(self, prompt, formatted, kwargs)
        decision = await self._router.adecide(call.request)
        return _modes.astream_complete(self, decision, call)

    # -- tools --------------------------------------------------------------------------------

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Chat kwargs carrying the tools unformatted: the chosen child formats them."""
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            messages.append(ChatMessage(role=MessageRole.USER, content=user_msg))
        elif user_msg is not None:
            messages.append(user_msg)
        own = pop_own(kwargs)
        request = ToolRequest(
            tools,
            verbose=verbose,
            allow_parallel_tool_calls=allow_parallel_tool_calls,
            tool_required=tool_required,
            extra=kwargs,
        )
        return {**own, "messages": messages, TOOLS_KWARG: request}

    def _child_of(self, response: ChatResponse) -> LLM:
        route = route_of(response)
        if route is not None and route in self.models:
            return self.models[route]
        capable = [
            name for name in self.models if self._router.capabilities[name].tool_calling is True
        ]
        if len(capable) == 1:
            return self.models[capable[0]]
        raise RoutingInputError(
            "this response carries no additional_kwargs['routing'] from this router, so the "
            "model that wrote it (and its tool-call format) is unknown; pass the response the "
            "router returned."
        )

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        """Validated by the child that wrote the response."""
        child = self._child_of(response)
        if not isinstance(child, FunctionCallingLLM):
            return response
        pop_own(kwargs)
        return child._validate_chat_with_tools_response(
            response, tools, allow_parallel_tool_calls=allow_parallel_tool_calls, **kwargs
        )

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        """Tool calls parsed by the child that wrote the response (streamed chunks included)."""
        child = self._child_of(response)
        if not isinstance(child, FunctionCallingLLM):
            if error_on_no_tool_call:
                raise ValueError("the model that answered cannot call tools")
            return []
        pop_own(kwargs)
        return child.get_tool_calls_from_response(
            response, error_on_no_tool_call=error_on_no_tool_call, **kwargs
        )

    # -- structured output --------------------------------------------------------------------

    def _structured_call(
        self, prompt: BasePromptTemplate, llm_kwargs: dict[str, Any] | None, prompt_args: Any
    ) -> tuple[ChatCall, dict[str, Any]]:
        """The call to route on, and the `llm_kwargs` for the child (router kwargs removed)."""
        kwargs = dict(llm_kwargs or {})
        messages = self._extend_messages(prompt.format_messages(**prompt_args))
        call = ChatCall(self, messages, kwargs, structured=True)
        pop_own(kwargs)
        return call, kwargs

    def structured_predict(
        self,
        output_cls: type[BaseModel],
        prompt: BasePromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Any:
        """Route on the formatted prompt, then run the chosen child's own `structured_predict`.

        Providers' native structured output (e.g. llama-index-llms-openai's JSON-schema mode)
        is kept. The router's `system_prompt` is not applied here: set it on the children.
        """
        call, kwargs = self._structured_call(prompt, llm_kwargs, prompt_args)

        def invoke(route: str) -> Any:
            return self.models[route].structured_predict(
                output_cls, prompt, llm_kwargs=dict(kwargs) if kwargs else None, **prompt_args
            )

        decision = self._router.decide(call.request)
        return _delegate.run_delegated(self, decision, invoke)

    async def astructured_predict(
        self,
        output_cls: type[BaseModel],
        prompt: BasePromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Any:
        """Async `structured_predict`, on the child's native `astructured_predict`."""
        call, kwargs = self._structured_call(prompt, llm_kwargs, prompt_args)

        async def invoke(route: str) -> Any:
            return await self.models[route].astructured_predict(
                output_cls, prompt, llm_kwargs=dict(kwargs) if kwargs else None, **prompt_args
            )

        decision = await self._router.adecide(call.request)
        return await _delegate.arun_delegated(self, decision, invoke)
