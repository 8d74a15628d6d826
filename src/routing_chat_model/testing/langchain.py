"""`ScriptedChatModel`: a deterministic, offline LangChain chat model that really answers.

LangChain's own fakes cannot stand in for a provider behind a router: `GenericFakeChatModel`
has no `bind_tools`, streams nothing for a tool-call-only message and never reports usage.
This fake answers like a provider instead, without a network or a model:

- text: `responses` / `respond` when scripted, else `"[<model name>] <last human text>"`, so a
  test can see which model answered; after tool results, `"Tool said: <result>"`;
- tool calls derived from the bound tools' JSON schemas and the prompt (see `bind_tools`);
- structured output by all three `with_structured_output` methods;
- `usage_metadata` (word counts), `response_metadata["model_name"]`, `stop` sequences;
- real token streaming (`tool_call_chunks`, usage on the last chunk only), native async;
- scripted failures (`errors`, `fail_after_chunks`) and a record of every call (`calls`).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Literal, cast

try:
    from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
    from langchain_core.language_models import (
        BaseChatModel,
        LangSmithParams,
        LanguageModelInput,
        ModelProfile,
    )
    from langchain_core.messages import (
        AIMessage,
        AIMessageChunk,
        BaseMessage,
        ToolCall,
        ToolMessage,
    )
    from langchain_core.messages.ai import UsageMetadata
    from langchain_core.messages.tool import tool_call, tool_call_chunk
    from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
    from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
    from langchain_core.tools import BaseTool
    from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
    from langchain_core.utils.pydantic import is_basemodel_subclass
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "routing_chat_model.testing.langchain needs langchain-core; install it with: "
        "pip install 'routing-chat-model[langchain]'"
    ) from exc
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator
from typing_extensions import Self

from routing_chat_model.testing._schema import example_from_schema, pick_tool

__all__ = ["ScriptedCall", "ScriptedChatModel"]

_TOKEN_RE = re.compile(r"\s*\S+\s*|\s+")
_DEFAULT_PROFILE: ModelProfile = {
    "max_input_tokens": 128_000,
    "text_inputs": True,
    "text_outputs": True,
    "image_inputs": False,
    "image_url_inputs": False,
    "pdf_inputs": False,
    "audio_inputs": False,
    "video_inputs": False,
    "tool_calling": True,
    "tool_choice": True,
    "tool_call_streaming": True,
    "structured_output": True,
}


@dataclass(frozen=True)
class ScriptedCall:
    """One call a `ScriptedChatModel` received, as the model saw it."""

    messages: list[BaseMessage]
    """The messages of the call."""
    stop: list[str] | None
    """The `stop` argument of the call (before the model's own `stop` default applies)."""
    kwargs: dict[str, Any]
    """Every other keyword the model received: `tools`, `tool_choice`, `response_format`, ..."""
    stream: bool
    """Whether the call was streamed (`_stream` / `_astream`)."""


class _CallLog:
    """Mutable call history; `bind()` wraps the same instance, so bindings share it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[ScriptedCall] = []
        self.answered = 0
        self.tool_ids = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> _CallLog:
        return _CallLog()  # a deep copy is a fresh model: its script starts over


class ScriptedChatModel(BaseChatModel):
    """A deterministic LangChain chat model for tests and benchmarks.

    Scripting: `responses` are consumed one per answering call and the last one repeats once
    they run out; `respond(messages)` computes the answer instead. `errors` are consumed one
    per call (None = answer normally) and the last entry repeats too, so `errors=[exc]` fails
    every call and `errors=[exc, None]` fails once then answers. Scripted answers are returned
    as given (no automatic tool calls); the automatic answer is, in order: a tool call when
    tools are bound, a JSON answer when `response_format` asks for one, `"Tool said: <result>"`
    after tool results, else `"[<model name>] <last human text>"`.

    Per-call `model=` overrides the reported model name, as providers do. A `profile` given
    merges over the defaults (tool calling and structured output on, images off); calls that
    exceed it (tools to a model without tool calling, images without `image_inputs`, more
    words than `max_input_tokens`) raise `ValueError` like a provider's bad request.

    Example:
        ```python
        fast = ScriptedChatModel(model="fast", errors=[TimeoutError("slow")])
        fast.invoke("hi")  # raises TimeoutError
        ScriptedChatModel(model="strong").invoke("hi").content  # "[strong] hi"
        ```
    """

    model_name: str = Field(default="scripted", alias="model")
    """Reported as `ls_model_name` and `response_metadata["model_name"]`."""
    provider: str = "scripted"
    """Reported as `ls_provider` and `response_metadata["model_provider"]`."""
    responses: Sequence[str | AIMessage] | None = None
    """Answers in order, one per answering call; the last repeats."""
    respond: Callable[[list[BaseMessage]], str | AIMessage] | None = None
    """Computes the answer from the messages (instead of `responses`)."""
    errors: Sequence[BaseException | None] = ()
    """Exceptions raised per call in order (None answers); the last entry repeats."""
    fail_after_chunks: int | None = Field(default=None, ge=0)
    """When streaming, raise the call's scripted error after this many chunks, not before."""
    latency_s: float = Field(default=0.0, ge=0.0)
    """Seconds each call waits before answering (`time.sleep` / `asyncio.sleep`)."""
    temperature: float | None = None
    """Accepted and reported in tracing params; the answers do not depend on it."""
    max_tokens: int | None = None
    """Accepted and reported in tracing params; answers are not truncated by it."""
    stop: list[str] | None = None
    """Default stop sequences: the answer text is cut at the first one found."""
    streaming: bool = False
    """When True, `invoke` goes through `_stream` (LangChain's standard flag)."""

    model_config = ConfigDict(populate_by_name=True)

    _log: _CallLog = PrivateAttr(default_factory=_CallLog)

    @model_validator(mode="after")
    def _check_script(self) -> Self:
        if self.responses is not None and self.respond is not None:
            raise ValueError("set either responses= or respond=, not both")
        if self.responses is not None and not self.responses:
            raise ValueError("responses= is empty: give at least one answer, or None")
        if self.profile is not None:  # keys the user set win; the rest keep the defaults
            self.profile = cast(ModelProfile, {**_DEFAULT_PROFILE, **self.profile})
        return self

    @classmethod
    def failing(
        cls, error: BaseException, *, times: int | None = None, **kwargs: Any
    ) -> ScriptedChatModel:
        """Build a model whose calls raise `error`: every call, or only the first `times`."""
        if times is not None and times < 0:
            raise ValueError(f"times must be >= 0 or None, got {times}")
        errors = [error] if times is None else [*([error] * times), None]
        return cls(errors=errors, **kwargs)

    @property
    def _llm_type(self) -> str:
        return "scripted-chat-model"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "provider": self.provider}

    @property
    def calls(self) -> list[ScriptedCall]:
        """Every call received so far, oldest first (a copy; shared with bound copies)."""
        with self._log.lock:
            return list(self._log.calls)

    def reset(self) -> None:
        """Forget the calls made so far and restart `responses` and `errors` from the top."""
        with self._log.lock:
            self._log.calls.clear()
            self._log.answered = 0
            self._log.tool_ids = 0

    def _resolve_model_profile(self) -> ModelProfile | None:
        return cast(ModelProfile, dict(_DEFAULT_PROFILE))

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        model = kwargs.get("model")
        params = LangSmithParams(
            ls_provider=self.provider,
            ls_model_name=model if isinstance(model, str) else self.model_name,
            ls_model_type="chat",
        )
        if (temperature := kwargs.get("temperature", self.temperature)) is not None:
            params["ls_temperature"] = temperature
        if (max_tokens := kwargs.get("max_tokens", self.max_tokens)) is not None:
            params["ls_max_tokens"] = max_tokens
        if stop := stop or self.stop:
            params["ls_stop"] = stop
        return params

    def bind_tools(
        self,
        tools: Sequence[Mapping[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | bool | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools in OpenAI format; the model then calls them on its own.

        A call happens when `tool_choice` forces it (`"any"`, `"required"`, `True`, a tool
        name or `{"type": "function", "function": {"name": ...}}`) or when the last human
        message mentions a tool (its name, or a distinctive word of it such as "weather" for
        `get_weather`), unless the last message is a tool result. Arguments come from the
        tool's JSON schema and the prompt: numbers in order for integers and numbers, quoted
        text for strings, stand-ins otherwise. Tool call ids are `call_<n>`.
        """
        strict = kwargs.pop("strict", None)
        formatted = [convert_to_openai_tool(t, strict=strict) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: Literal["function_calling", "json_schema", "json_mode"] = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Return a runnable answering instances of `schema`.

        `function_calling` forces a tool call (LangChain's base implementation);
        `json_schema` binds an OpenAI-style `response_format` carrying the schema;
        `json_mode` binds `{"type": "json_object"}`. A real model reads the wanted keys from
        the prompt in JSON mode; this fake cannot, so the schema rides along in
        `response_format["schema"]`. The answer is JSON built from the schema and the prompt.
        """
        if method == "function_calling":
            if schema is None:
                raise ValueError("schema is required for method='function_calling'")
            return super().with_structured_output(schema, include_raw=include_raw, **kwargs)
        if kwargs:
            raise ValueError(f"Received unsupported arguments {kwargs}")
        if method == "json_schema":
            if schema is None:
                raise ValueError("schema is required for method='json_schema'")
            function = convert_to_openai_tool(schema, strict=strict)["function"]
            spec = {"name": function["name"], "schema": function.get("parameters", {})}
            if strict is not None:
                spec["strict"] = strict
            response_format: dict[str, Any] = {"type": "json_schema", "json_schema": spec}
        elif method == "json_mode":
            response_format = {"type": "json_object"}
            if schema is not None:
                response_format["schema"] = convert_to_json_schema(schema)
        else:
            raise ValueError(
                f"method must be 'function_calling', 'json_schema' or 'json_mode', got {method!r}"
            )
        bind_kwargs: dict[str, Any] = {"response_format": response_format}
        if schema is not None:
            bind_kwargs["ls_structured_output_format"] = {
                "kwargs": {"method": method, "strict": strict},
                "schema": schema,
            }
        llm = self.bind(**bind_kwargs)
        parser: Runnable[Any, Any] = (
            PydanticOutputParser(pydantic_object=schema)
            if isinstance(schema, type) and is_basemodel_subclass(schema)
            else JsonOutputParser()
        )
        if not include_raw:
            return llm | parser
        parse = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        )
        no_parse = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parse.with_fallbacks(
            [no_parse], exception_key="parsing_error"
        )

    # --- calls -------------------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency_s:
            time.sleep(self.latency_s)
        message, _ = self._call(messages, stop, kwargs, stream=False)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        message, _ = self._call(messages, stop, kwargs, stream=False)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if self.latency_s:
            time.sleep(self.latency_s)
        chunks, error = self._stream_plan(messages, stop, kwargs)
        for chunk in chunks:
            if run_manager is not None:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk
        if error is not None:
            raise error

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        chunks, error = self._stream_plan(messages, stop, kwargs)
        for chunk in chunks:
            if run_manager is not None:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk
        if error is not None:
            raise error

    def _stream_plan(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[list[ChatGenerationChunk], BaseException | None]:
        """Return the chunks to yield and the error to raise after them (mid-stream failure)."""
        message, error = self._call(messages, stop, kwargs, stream=True)
        chunks = [ChatGenerationChunk(message=c) for c in _to_chunks(message)]
        if error is not None and self.fail_after_chunks is not None:
            chunks = chunks[: min(self.fail_after_chunks, len(chunks) - 1)]
        return chunks, error

    def _call(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        *,
        stream: bool,
    ) -> tuple[AIMessage, BaseException | None]:
        """Record the call, raise its scripted error (unless deferred), build the answer."""
        deferred = stream and self.fail_after_chunks is not None
        log = self._log
        with log.lock:
            index = len(log.calls)
            log.calls.append(ScriptedCall(list(messages), stop, dict(kwargs), stream))
            error = self.errors[min(index, len(self.errors) - 1)] if self.errors else None
            answer_index = log.answered
            if error is None or deferred:
                log.answered += 1
        input_tokens = sum(_word_count(m) for m in messages)
        self._check_capabilities(messages, kwargs, input_tokens)
        if error is not None and not deferred:
            raise error
        return self._reply(messages, stop, kwargs, answer_index, input_tokens), error

    def _check_capabilities(
        self, messages: list[BaseMessage], kwargs: dict[str, Any], input_tokens: int
    ) -> None:
        profile = self.profile or {}
        name = self.model_name
        if kwargs.get("tools") and profile.get("tool_calling") is False:
            raise ValueError(f"model {name!r} does not support tool calling (profile)")
        if kwargs.get("response_format") and profile.get("structured_output") is False:
            raise ValueError(f"model {name!r} does not support response_format (profile)")
        limit = profile.get("max_input_tokens")
        if limit is not None and input_tokens > limit:
            raise ValueError(
                f"model {name!r}: {input_tokens} input tokens exceed max_input_tokens={limit}"
            )
        if not profile.get("image_inputs") and any(_has_image(m) for m in messages):
            raise ValueError(f"model {name!r} does not accept images (profile image_inputs)")

    def _reply(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        answer_index: int,
        input_tokens: int,
    ) -> AIMessage:
        model = kwargs.get("model")
        name = model if isinstance(model, str) else self.model_name
        scripted: str | AIMessage | None = None
        if self.respond is not None:
            scripted = self.respond(messages)
        elif self.responses:
            scripted = self.responses[min(answer_index, len(self.responses) - 1)]
        base = scripted if isinstance(scripted, AIMessage) else None
        content: str | list[str | dict[str, Any]]
        if base is not None:
            content, tool_calls = base.content, base.tool_calls
        elif isinstance(scripted, str):
            content, tool_calls = scripted, []
        else:
            content, tool_calls = self._auto_reply(messages, name, kwargs)
        stops = [s for s in (stop if stop is not None else self.stop) or () if s]
        if stops and isinstance(content, str):
            content = content[
                : min((i for s in stops if (i := content.find(s)) >= 0), default=None)
            ]
        usage = base.usage_metadata if base is not None else None
        if usage is None:
            text = content if isinstance(content, str) else base.text if base else ""
            output_tokens = len(text.split()) + sum(
                1 + len(json.dumps(tc["args"]).split()) for tc in tool_calls
            )
            usage = cast(
                UsageMetadata,
                {
                    "input_tokens": input_tokens,
                    "output_tokens": output_tokens,
                    "total_tokens": input_tokens + output_tokens,
                },
            )
        metadata = {
            "model_name": name,
            "model_provider": self.provider,
            "finish_reason": "tool_calls" if tool_calls else "stop",
            **(base.response_metadata if base is not None else {}),
        }
        if base is None:  # one constructor call: this is the benchmark hot path
            return AIMessage(
                content=content,
                tool_calls=tool_calls,
                usage_metadata=usage,
                response_metadata=metadata,
            )
        update = {"content": content, "usage_metadata": usage, "response_metadata": metadata}
        return base.model_copy(update=update)

    def _auto_reply(
        self, messages: list[BaseMessage], name: str, kwargs: dict[str, Any]
    ) -> tuple[str, list[ToolCall]]:
        """Answer like a model would: call a tool, answer JSON, report tool results, or echo."""
        prompt = _last_human_text(messages)
        after_tool = bool(messages) and isinstance(messages[-1], ToolMessage)
        tools = kwargs.get("tools")
        if tools and not after_tool:
            function = pick_tool(
                [_function_of(t) for t in tools], kwargs.get("tool_choice"), prompt
            )
            if function is not None:
                args = example_from_schema(function.get("parameters") or {}, prompt)
                with self._log.lock:
                    self._log.tool_ids += 1
                    call_id = f"call_{self._log.tool_ids}"
                args = args if isinstance(args, dict) else {}
                return "", [tool_call(name=function["name"], args=args, id=call_id)]
        response_format = kwargs.get("response_format")
        if response_format:
            return _json_answer(response_format, prompt, name), []
        if after_tool:
            results = []
            for message in reversed(messages):
                if not isinstance(message, ToolMessage):
                    break
                results.append(message.text)
            return "Tool said: " + "; ".join(reversed(results)), []
        return f"[{name}] {prompt}", []


# --- helpers ---------------------------------------------------------------------------------


def _word_count(message: BaseMessage) -> int:
    content = message.content
    return len((content if isinstance(content, str) else message.text).split())


def _last_human_text(messages: list[BaseMessage]) -> str:
    for message in reversed(messages):
        if message.type == "human":
            return message.content if isinstance(message.content, str) else message.text
    return ""


def _has_image(message: BaseMessage) -> bool:
    return isinstance(message.content, list) and any(
        isinstance(block, dict) and block.get("type") in ("image", "image_url", "input_image")
        for block in message.content
    )


def _function_of(tool: Any) -> dict[str, Any]:
    """Return `{"name", "description", "parameters"}` for any bound tool format."""
    if isinstance(tool, Mapping):
        if isinstance(tool.get("function"), Mapping):
            return dict(tool["function"])
        if "name" in tool:  # already a function spec, or Anthropic's {"input_schema": ...}
            return {**tool, "parameters": tool.get("parameters", tool.get("input_schema", {}))}
    return cast(dict[str, Any], convert_to_openai_tool(tool)["function"])


def _json_answer(response_format: Any, prompt: str, name: str) -> str:
    """Return JSON text answering an OpenAI-style `response_format` (or a pydantic class)."""
    schema: Any = None
    if isinstance(response_format, type):
        schema = convert_to_json_schema(response_format)
    elif isinstance(response_format, Mapping):
        if response_format.get("type") == "json_schema":
            spec = response_format.get("json_schema") or {}
            schema = spec.get("schema", {}) if isinstance(spec, Mapping) else {}
        else:
            schema = response_format.get("schema")
    if not isinstance(schema, Mapping):
        return json.dumps({"answer": f"[{name}] {prompt}"}, ensure_ascii=False)
    return json.dumps(example_from_schema(schema, prompt), ensure_ascii=False)


def _to_chunks(message: AIMessage) -> list[AIMessageChunk]:
    """Split a full answer into stream chunks: text tokens, tool-call pieces, then the last."""
    chunks: list[AIMessageChunk] = []
    content = message.content
    if isinstance(content, str):
        chunks.extend(AIMessageChunk(content=token) for token in _TOKEN_RE.findall(content))
    elif content:
        chunks.append(AIMessageChunk(content=content))
    empty: str | list[str | dict[str, Any]] = "" if isinstance(content, str) else []
    for index, call in enumerate(message.tool_calls):
        args = json.dumps(call["args"], ensure_ascii=False)
        for i, piece in enumerate(_TOKEN_RE.findall(args)):  # name and id ride on the first
            head: dict[str, str | None] = {"name": call["name"], "id": call["id"]} if i == 0 else {}
            part = tool_call_chunk(args=piece, index=index, **head)
            chunks.append(AIMessageChunk(content=empty, tool_call_chunks=[part]))
    chunks.append(
        AIMessageChunk(
            content=empty,
            additional_kwargs=message.additional_kwargs,
            response_metadata=message.response_metadata,
            usage_metadata=message.usage_metadata,
            chunk_position="last",
        )
    )
    return chunks
