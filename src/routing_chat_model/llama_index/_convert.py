"""LlamaIndex messages and responses, reduced to what the framework-free core needs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    AudioBlock,
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    DocumentBlock,
    ImageBlock,
    MessageRole,
    ToolCallBlock,
    VideoBlock,
)

from routing_chat_model.request import Turn
from routing_chat_model.router import Usage

__all__ = [
    "ROUTING_KEY",
    "has_images",
    "media_kinds",
    "model_name_of",
    "route_of",
    "tool_call_ids",
    "to_turns",
    "usage_of",
]

ROUTING_KEY = "routing"
"""Key of the decision in `ChatResponse.additional_kwargs` / `CompletionResponse.additional_kwargs`."""

_ROLES: Mapping[str, str] = {
    MessageRole.USER.value: "user",
    MessageRole.ASSISTANT.value: "assistant",
    MessageRole.CHATBOT.value: "assistant",
    MessageRole.MODEL.value: "assistant",
    MessageRole.SYSTEM.value: "system",
    MessageRole.DEVELOPER.value: "system",
    MessageRole.TOOL.value: "tool",
    MessageRole.FUNCTION.value: "tool",
}


def _role(message: ChatMessage) -> str:
    role = message.role.value if isinstance(message.role, MessageRole) else str(message.role)
    return _ROLES.get(role, role)


def tool_call_ids(message: ChatMessage) -> Iterator[str]:
    """The ids of the tool calls an assistant message carries, in either LlamaIndex format.

    0.14 integrations put `ToolCallBlock`s in `blocks`; older ones keep provider objects or
    dicts in `additional_kwargs["tool_calls"]`.
    """
    for block in message.blocks:
        if isinstance(block, ToolCallBlock) and block.tool_call_id:
            yield block.tool_call_id
    for call in message.additional_kwargs.get("tool_calls") or ():
        ident = call.get("id") if isinstance(call, Mapping) else getattr(call, "id", None)
        ident = ident or getattr(call, "tool_id", None)
        if isinstance(ident, str) and ident:
            yield ident


def _tool_args(message: ChatMessage) -> str:
    """The tool calls' arguments as text (JSON), in either LlamaIndex format."""
    args: list[Any] = [b.tool_kwargs for b in message.blocks if isinstance(b, ToolCallBlock)]
    for call in message.additional_kwargs.get("tool_calls") or ():
        function = (
            call.get("function") if isinstance(call, Mapping) else getattr(call, "function", None)
        )
        value = (
            function.get("arguments")
            if isinstance(function, Mapping)
            else getattr(function, "arguments", None)
        )
        if value is None:
            value = getattr(call, "tool_kwargs", None)
        if value is not None:
            args.append(value)
    return json.dumps(args, default=str) if args else ""


def _tool_call_count(message: ChatMessage) -> int:
    blocks = sum(isinstance(block, ToolCallBlock) for block in message.blocks)
    return blocks or len(message.additional_kwargs.get("tool_calls") or ())


def to_turns(
    messages: Sequence[ChatMessage], route_of_call: Callable[[str], str | None]
) -> list[Turn]:
    """Reduce messages to `Turn`s: text only, plus which route answered earlier assistant turns.

    Args:
        messages: The conversation.
        route_of_call: The route that issued a tool call, by the call's id (the router keeps
            this: decisions never ride on messages, which providers would receive).
    """
    turns = []
    for message in messages:
        role = _role(message)
        route = None
        calls = 0
        if role == "assistant":
            calls = _tool_call_count(message)
            routing = message.additional_kwargs.get(ROUTING_KEY)
            if isinstance(routing, Mapping) and isinstance(routing.get("route"), str):
                route = routing["route"]
            else:
                route = next(
                    (r for i in tool_call_ids(message) if (r := route_of_call(i)) is not None),
                    None,
                )
        turns.append(
            Turn(
                role=role,
                text=message.content or "",
                route=route,
                tool_calls=calls,
                tool_args=_tool_args(message) if calls else "",
            )
        )
    return turns


def _kind(block: object) -> str | None:
    if isinstance(block, ImageBlock):
        return "image"
    if isinstance(block, AudioBlock):
        return "audio"
    if isinstance(block, VideoBlock):
        return "video"
    if isinstance(block, DocumentBlock):
        mime = block.document_mimetype or ""
        family = mime.split("/", 1)[0]
        if family in ("image", "audio", "video"):
            return family
        return "pdf" if mime in ("", "application/pdf") else "file"
    return None


def media_kinds(messages: Sequence[ChatMessage]) -> frozenset[str]:
    """The kinds of non-text blocks the messages carry.

    Kinds are "image", "audio", "video", "pdf" and "file" (`MEDIA_KINDS`), so the router can
    keep each from models that cannot take it.
    """
    return frozenset(
        kind for m in messages for block in m.blocks if (kind := _kind(block)) is not None
    )


def has_images(messages: Sequence[ChatMessage]) -> bool:
    """Whether any message carries an image block."""
    return any(isinstance(block, ImageBlock) for m in messages for block in m.blocks)


def route_of(response: ChatResponse | CompletionResponse) -> str | None:
    """The route that produced a response of this router, from its `routing` entry."""
    routing = response.additional_kwargs.get(ROUTING_KEY)
    if isinstance(routing, Mapping):
        route = routing.get("route")
        if isinstance(route, str):
            return route
    return None


def _get(holder: Any, key: str) -> Any:
    return holder.get(key) if isinstance(holder, Mapping) else getattr(holder, key, None)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


_INPUT_KEYS = ("prompt_tokens", "input_tokens", "prompt_token_count")
_OUTPUT_KEYS = ("completion_tokens", "output_tokens", "candidates_token_count")


def _usage_block(raw: Any) -> Any:
    if raw is None:
        return None
    if isinstance(raw, Mapping):
        return raw.get("usage") or raw.get("usage_metadata")
    return getattr(raw, "usage", None) or getattr(raw, "usage_metadata", None)


def usage_of(response: ChatResponse | CompletionResponse) -> Usage | None:
    """Token usage a response reports, or None.

    Read from `raw` (OpenAI, Anthropic, Gemini shapes) or, as llama-index-llms-openai also
    reports it, from `prompt_tokens`/`completion_tokens` in `additional_kwargs`.
    """
    usage = _usage_block(response.raw)
    if not usage:
        usage = response.additional_kwargs
        if not any(key in usage for key in _INPUT_KEYS):  # most streamed chunks
            return None
    inp = out = cached = 0
    for key in _INPUT_KEYS:
        if (value := _get(usage, key)) is not None:
            inp = _int(value)
            break
    else:
        return None
    for key in _OUTPUT_KEYS:
        if (value := _get(usage, key)) is not None:
            out = _int(value)
            break
    details = _get(usage, "prompt_tokens_details")
    if details is not None:
        cached = _int(_get(details, "cached_tokens"))
    # Anthropic counts cache reads and writes apart from input_tokens; the core wants every
    # prompt token in input_tokens.
    read = _int(_get(usage, "cache_read_input_tokens"))
    written = _int(_get(usage, "cache_creation_input_tokens"))
    if read or written:
        inp, cached = inp + read + written, read
    return Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=min(cached, inp))


def model_name_of(response: ChatResponse | CompletionResponse) -> str | None:
    """The provider's model name a response reports (`raw.model`), if any."""
    raw = response.raw
    if raw is None:
        return None
    name = _get(raw, "model")
    return name if isinstance(name, str) and name else None
