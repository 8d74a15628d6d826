"""`ScriptedLLM`: a deterministic, offline LlamaIndex `FunctionCallingLLM` that really answers.

LlamaIndex's own fakes cannot stand in for a provider behind a router: `MockLLM` echoes the
prompt and cannot call tools, `MockFunctionCallingLLM` calls every bound tool with default
arguments, runs `achat` through the sync `chat`, and neither reports usage nor fails on cue.
This fake answers like a provider instead, without a network or a model:

- text: `responses` when scripted, else `"[<model name>] <last user text>"`, so a test can see
  which model answered; after tool results, `"Tool said: <result>"`;
- tool calls (`ToolCallBlock`s, ids `call_<model>_<n>`) chosen from the bound tools and the
  prompt like a model would (see `_prepare_chat_with_tools`), parsed back by
  `get_tool_calls_from_response`, so agents, `predict_and_call` and `structured_predict` work;
- usage in `raw["usage"]` (OpenAI's shape; word counts), on the last streamed chunk only;
- real streaming generators (cumulative chunks, one per word), native async methods;
- scripted failures (`errors`, `fail_after_chunks`) and a record of every call (`calls`).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import AsyncGenerator, Generator, Sequence
from dataclasses import dataclass
from typing import Any

try:
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
        ToolCallBlock,
    )
    from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
    from llama_index.core.llms.function_calling import FunctionCallingLLM
    from llama_index.core.llms.llm import ToolSelection
    from llama_index.core.tools.types import BaseTool
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "routing_chat_model.testing.llama_index needs llama-index-core; install it with: "
        "pip install 'routing-chat-model[llama-index]'"
    ) from exc
from pydantic import ConfigDict, Field, PrivateAttr

from routing_chat_model.testing._schema import example_from_schema, pick_tool

__all__ = ["ScriptedLLM", "ScriptedLLMCall"]

_TOKEN_RE = re.compile(r"\s*\S+\s*|\s+")


@dataclass(frozen=True)
class ScriptedLLMCall:
    """One call a `ScriptedLLM` received, as the model saw it."""

    method: str
    """`chat`, `achat`, `stream_chat`, `astream_chat`, `complete`, `acomplete`, ..."""
    messages: list[ChatMessage]
    """The messages of the call (a completion's prompt as one user message)."""
    kwargs: dict[str, Any]
    """Every other keyword the model received: `tools`, `tool_choice`, ..."""


class _CallLog:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[ScriptedLLMCall] = []
        self.answered = 0
        self.tool_ids = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> _CallLog:
        return _CallLog()  # a deep copy is a fresh model: its script starts over


class ScriptedLLM(FunctionCallingLLM):
    """A deterministic LlamaIndex LLM for tests and benchmarks.

    Scripting: `responses` are consumed one per answering call and the last one repeats;
    `errors` are consumed one per call (None = answer normally) and the last entry repeats, so
    `errors=[exc]` fails every call and `errors=[exc, None]` fails once, then answers. With
    `fail_after_chunks`, a streamed call's error comes after that many chunks, not before.

    Example:
        ```python
        ScriptedLLM(model="fast").complete("hi").text  # "[fast] hi"
        ScriptedLLM(errors=[TimeoutError("slow")]).chat(messages)  # raises TimeoutError
        ```
    """

    model_name: str = Field(default="scripted", alias="model")
    """Reported in `metadata.model_name` and `raw["model"]`."""
    responses: list[str] | None = None
    """Answers in order, one per answering call; the last repeats."""
    errors: list[BaseException | None] = Field(default_factory=list)
    """Exceptions raised per call in order (None answers); the last entry repeats."""
    fail_after_chunks: int | None = Field(default=None, ge=0)
    """When streaming, raise the call's scripted error after this many chunks."""
    context_window: int = 128_000
    """Reported in metadata; longer prompts (in words) raise `ValueError` like a bad request."""
    num_output: int = 256
    """Reported in metadata."""
    is_chat_model: bool = True
    """Reported in metadata."""
    function_calling: bool = True
    """Reported as `is_function_calling_model`; False makes calls with tools raise `ValueError`."""

    model_config = ConfigDict(populate_by_name=True, protected_namespaces=())

    _log: _CallLog = PrivateAttr(default_factory=_CallLog)

    @classmethod
    def class_name(cls) -> str:
        """Name used in callback payloads."""
        return "ScriptedLLM"

    @property
    def metadata(self) -> LLMMetadata:
        """What this fake says it can do."""
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.num_output,
            is_chat_model=self.is_chat_model,
            is_function_calling_model=self.function_calling,
            model_name=self.model_name,
        )

    @property
    def calls(self) -> list[ScriptedLLMCall]:
        """Every call received so far, oldest first (a copy)."""
        with self._log.lock:
            return list(self._log.calls)

    def reset(self) -> None:
        """Forget the calls made so far and restart `responses` and `errors` from the top."""
        with self._log.lock:
            self._log = _CallLog()

    # -- the script ----------------------------------------------------------------------------

    def _answer(
        self, method: str, messages: Sequence[ChatMessage], kwargs: dict[str, Any], stream: bool
    ) -> tuple[ChatMessage, dict[str, Any], BaseException | None]:
        """Record the call, raise its error (unless deferred), build the reply and its raw."""
        deferred = stream and self.fail_after_chunks is not None
        log = self._log
        with log.lock:
            index = len(log.calls)
            log.calls.append(ScriptedLLMCall(method, list(messages), dict(kwargs)))
            error = self.errors[min(index, len(self.errors) - 1)] if self.errors else None
            answer_index = log.answered
            if error is None or deferred:
                log.answered += 1
        prompt_tokens = sum(len((m.content or "").split()) for m in messages)
        if kwargs.get("tools") and not self.function_calling:
            raise ValueError(f"model {self.model_name!r} does not support tool calling")
        if prompt_tokens > self.context_window:
            raise ValueError(
                f"model {self.model_name!r}: {prompt_tokens} tokens exceed {self.context_window}"
            )
        if error is not None and not deferred:
            raise error
        if self.responses:
            reply = ChatMessage(
                role=MessageRole.ASSISTANT,
                content=self.responses[min(answer_index, len(self.responses) - 1)],
            )
        else:
            reply = self._auto_reply(messages, kwargs)
        calls = [b for b in reply.blocks if isinstance(b, ToolCallBlock)]
        output = len((reply.content or "").split()) + sum(
            1 + len(json.dumps(c.tool_kwargs).split()) for c in calls
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": output,
            "total_tokens": prompt_tokens + output,
        }
        return reply, {"model": self.model_name, "usage": usage}, error

    def _auto_reply(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> ChatMessage:
        prompt = next((m.content or "" for m in reversed(messages) if m.role == "user"), "")
        after_tool = bool(messages) and messages[-1].role == MessageRole.TOOL
        tools = kwargs.get("tools")
        if tools and not after_tool:
            functions = [t.get("function", t) for t in tools]
            function = pick_tool(functions, kwargs.get("tool_choice"), prompt)
            if function is not None:
                args = example_from_schema(function.get("parameters") or {}, prompt)
                with self._log.lock:
                    self._log.tool_ids += 1
                    call_id = f"call_{self.model_name}_{self._log.tool_ids}"
                block = ToolCallBlock(
                    tool_call_id=call_id,
                    tool_name=function["name"],
                    tool_kwargs=args if isinstance(args, dict) else {},
                )
                return ChatMessage(role=MessageRole.ASSISTANT, blocks=[block])
        if after_tool:
            results = []
            for message in reversed(messages):
                if message.role != MessageRole.TOOL:
                    break
                results.append(message.content or "")
            text = "Tool said: " + "; ".join(reversed(results))
        else:
            text = f"[{self.model_name}] {prompt}"
        return ChatMessage(role=MessageRole.ASSISTANT, content=text)

    def _chunks(
        self, reply: ChatMessage, raw: dict[str, Any], error: BaseException | None
    ) -> tuple[list[ChatResponse], BaseException | None]:
        """Cumulative chunks, one per word; tool calls and usage on the last one."""
        text = reply.content or ""
        out: list[ChatResponse] = []
        so_far = ""
        for token in _TOKEN_RE.findall(text):
            so_far += token
            message = ChatMessage(role=MessageRole.ASSISTANT, content=so_far)
            out.append(ChatResponse(message=message, delta=token, raw={"model": raw["model"]}))
        out.append(ChatResponse(message=reply, delta="", raw=raw))
        if error is not None and self.fail_after_chunks is not None:
            out = out[: min(self.fail_after_chunks, len(out) - 1)]
        return out, error

    # -- chat -----------------------------------------------------------------------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Answer the conversation."""
        reply, raw, _ = self._answer("chat", messages, kwargs, stream=False)
        return ChatResponse(message=reply, raw=raw)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Answer the conversation (native async)."""
        reply, raw, _ = self._answer("achat", messages, kwargs, stream=False)
        return ChatResponse(message=reply, raw=raw)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """Stream the answer word by word."""

        def gen() -> Generator[ChatResponse, None, None]:
            chunks, error = self._chunks(*self._answer("stream_chat", messages, kwargs, True))
            yield from chunks
            if error is not None:
                raise error

        return gen()

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        """Stream the answer word by word (native async)."""

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            chunks, error = self._chunks(*self._answer("astream_chat", messages, kwargs, True))
            for chunk in chunks:
                yield chunk
            if error is not None:
                raise error

        return gen()

    # -- complete -------------------------------------------------------------------------------

    @staticmethod
    def _prompt(prompt: str) -> list[ChatMessage]:
        return [ChatMessage(role=MessageRole.USER, content=prompt)]

    @staticmethod
    def _completion(chunk: ChatResponse) -> CompletionResponse:
        return CompletionResponse(
            text=chunk.message.content or "", delta=chunk.delta, raw=chunk.raw
        )

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Answer the prompt."""
        reply, raw, _ = self._answer("complete", self._prompt(prompt), kwargs, stream=False)
        return CompletionResponse(text=reply.content or "", raw=raw)

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        """Answer the prompt (native async)."""
        reply, raw, _ = self._answer("acomplete", self._prompt(prompt), kwargs, stream=False)
        return CompletionResponse(text=reply.content or "", raw=raw)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        """Stream the answer word by word."""

        def gen() -> Generator[CompletionResponse, None, None]:
            answer = self._answer("stream_complete", self._prompt(prompt), kwargs, True)
            chunks, error = self._chunks(*answer)
            yield from (self._completion(c) for c in chunks)
            if error is not None:
                raise error

        return gen()

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        """Stream the answer word by word (native async)."""

        async def gen() -> AsyncGenerator[CompletionResponse, None]:
            answer = self._answer("astream_complete", self._prompt(prompt), kwargs, True)
            chunks, error = self._chunks(*answer)
            for chunk in chunks:
                yield self._completion(chunk)
            if error is not None:
                raise error

        return gen()

    # -- tools ----------------------------------------------------------------------------------

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
        """Bind tools as OpenAI-format specs.

        The model then calls a tool when `tool_required` is set or when the last user message
        mentions one (its name, or a distinctive word of it), with arguments taken from the
        prompt (numbers, quoted text) and the tool's schema.
        """
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            messages.append(ChatMessage(role=MessageRole.USER, content=user_msg))
        elif user_msg is not None:
            messages.append(user_msg)
        specs = [tool.metadata.to_openai_tool(skip_length_check=True) for tool in tools]
        return {
            "messages": messages,
            "tools": specs or None,
            "tool_choice": "required" if tool_required else "auto",
            **kwargs,
        }

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        """The tool calls of a response (or of a streamed chunk)."""
        selections = []
        for block in response.message.blocks:
            if isinstance(block, ToolCallBlock):
                args = block.tool_kwargs
                if isinstance(args, str):
                    args = json.loads(args or "{}")
                selections.append(
                    ToolSelection(
                        tool_id=block.tool_call_id or "",
                        tool_name=block.tool_name,
                        tool_kwargs=args,
                    )
                )
        if not selections and error_on_no_tool_call:
            raise ValueError("Expected at least one tool call, but got 0 tool calls.")
        return selections
