"""Relaying a child's stream: the decision on the first chunk, usage and cost on the last.

Chunk metadata is merged by `langchain_core.utils._merge.merge_dicts`, which concatenates
strings and rejects conflicting scalars, so each value must appear on exactly one chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import ChatGenerationChunk

from routing_chat_model.decision import RoutingDecision
from routing_chat_model.langchain._convert import usage_of
from routing_chat_model.router import Usage

__all__ = ["is_empty_chunk", "StreamRelay", "cannot_stream", "has_tool_call_chunk"]

Complete = Callable[[RoutingDecision, "Usage | None", "str | None"], RoutingDecision]
"""Completes a decision with the answer's usage and the provider's model name (adds cost)."""


class StreamRelay:
    """Passes a child's chunks through, adding the decision without disturbing usage.

    The decision goes on the first chunk. Chunks that carry usage are held until the next chunk
    arrives, so the last of them can also carry the answer's usage and cost (and the model name
    when the child never sent one, which LangChain's usage callback needs).
    """

    def __init__(self, complete: Complete) -> None:
        self._complete = complete
        self.decision: RoutingDecision | None = None
        """The final decision once `close` ran (None if nothing was streamed)."""
        self._first = True
        self._held: ChatGenerationChunk | None = None
        self._held_is_first = False
        self._usage: Usage | None = None
        self._model_name: str | None = None

    def push(
        self, chunk: ChatGenerationChunk, decision: RoutingDecision
    ) -> Iterator[ChatGenerationChunk]:
        """Relay one chunk (or hold it while it may be the one to carry usage)."""
        self.decision = decision
        is_first = self._first
        if is_first:
            chunk.generation_info = {**(chunk.generation_info or {}), "routing": decision.to_dict()}
            self._first = False
        message = chunk.message
        name = message.response_metadata.get("model_name")
        if isinstance(name, str) and name:
            self._model_name = name
        if self._held is not None:
            yield self._held
            self._held = None
        usage = usage_of(message)
        if usage is None:
            yield chunk
            return
        total = self._usage or Usage(0, 0, 0)
        self._usage = Usage(
            total.input_tokens + usage.input_tokens,
            total.output_tokens + usage.output_tokens,
            total.cache_read_tokens + usage.cache_read_tokens,
        )
        self._held, self._held_is_first = chunk, is_first

    def close(self) -> Iterator[ChatGenerationChunk]:
        """Complete the decision and release the held chunk, patched with usage and cost."""
        if self.decision is None:
            return
        final = self._complete(self.decision, self._usage, self._model_name)
        self.decision = final
        held, self._held = self._held, None
        if held is None:
            return
        patch = (
            final.to_dict()
            if self._held_is_first
            else {
                "input_tokens": final.input_tokens,
                "output_tokens": final.output_tokens,
                "cost_usd": final.cost_usd,
                "model_name": final.model_name,
            }
        )
        held.generation_info = {**(held.generation_info or {}), "routing": patch}
        if self._model_name is None and final.model_name is not None:
            held.message.response_metadata["model_name"] = final.model_name
        yield held


def cannot_stream(child: BaseChatModel, kwargs: Mapping[str, Any], *, async_api: bool) -> bool:
    """Whether `child` must answer in one piece (no `_stream`, or streaming turned off)."""
    cls = type(child)
    has_sync = cls._stream is not BaseChatModel._stream
    has_async = cls._astream is not BaseChatModel._astream
    if not (has_sync or (async_api and has_async)):
        return True
    if child.disable_streaming is True:
        return True
    if child.disable_streaming == "tool_calling" and kwargs.get("tools"):
        return True
    # LangChain's own rule: an explicit streaming=False on the model turns streaming off.
    return "streaming" in child.model_fields_set and getattr(child, "streaming", None) is False


def is_empty_chunk(chunk: ChatGenerationChunk) -> bool:
    """Whether a streamed chunk carries nothing of the answer (no text, no tool-call delta).

    OpenAI-style streams open with such a chunk (the role only); it does not commit a stream.
    """
    return not chunk.message.content and not has_tool_call_chunk(chunk)


def has_tool_call_chunk(chunk: ChatGenerationChunk) -> bool:
    """Whether a streamed chunk carries (part of) a tool call.

    The commit point of `stream_hold_until_tool_call`.
    """
    message = chunk.message
    return bool(getattr(message, "tool_call_chunks", None) or getattr(message, "tool_calls", None))
