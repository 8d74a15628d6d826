"""LangChain messages and bindings, reduced to what the framework-free core needs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk
from langchain_core.runnables import RunnableBinding

from routing_chat_model.request import Turn
from routing_chat_model.router import ModelCapabilities, Usage

__all__ = [
    "binding_kwargs",
    "chunk_of",
    "has_images",
    "media_kinds",
    "profile_capabilities",
    "text_of",
    "to_turns",
    "usage_of",
]

_BLOCK_KINDS: Mapping[str, str] = {
    # LangChain v1 standard blocks, OpenAI chat / responses formats, Anthropic's "document".
    "image": "image",
    "image_url": "image",
    "input_image": "image",
    "audio": "audio",
    "input_audio": "audio",
    "video": "video",
    "file": "file",
    "input_file": "file",
    "document": "pdf",
}


def _role(message: BaseMessage) -> str:
    if isinstance(message, HumanMessage):
        return "user"
    if isinstance(message, AIMessage):
        return "assistant"
    if isinstance(message, ToolMessage):
        return "tool"
    if isinstance(message, SystemMessage):
        return "system"
    role = getattr(message, "role", message.type)
    return {"human": "user", "ai": "assistant", "developer": "system"}.get(str(role), str(role))


def to_turns(messages: Sequence[BaseMessage]) -> list[Turn]:
    """Reduce messages to `Turn`s: text parts only, plus who answered earlier AI turns."""
    turns = []
    for message in messages:
        route = None
        calls = 0
        args = ""
        if isinstance(message, AIMessage):
            calls = len(message.tool_calls)
            if calls:
                args = json.dumps([c["args"] for c in message.tool_calls], default=str)
            routing = message.response_metadata.get("routing")
            if isinstance(routing, Mapping) and isinstance(routing.get("route"), str):
                route = routing["route"]
        turns.append(
            Turn(
                role=_role(message),
                text=text_of(message),
                route=route,
                tool_calls=calls,
                tool_args=args,
            )
        )
    return turns


def text_of(message: BaseMessage) -> str:
    """A message's text parts, one per line; images, audio, files and reasoning are left out.

    `BaseMessage.text` glues parts together with no separator, so "describe" and "this" in two
    parts would route as "describethis".
    """
    content = message.content
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            text = block.get("text")
            if isinstance(text, str):
                parts.append(text)
    return "\n".join(parts)


def _kind(block: Mapping[str, Any]) -> str | None:
    kind = _BLOCK_KINDS.get(str(block.get("type")))
    if kind not in ("file", "pdf"):
        return kind
    mime = str(block.get("mime_type") or block.get("media_type") or "")
    if not mime:
        source = block.get("source")
        mime = str(source.get("media_type", "")) if isinstance(source, Mapping) else ""
    family = mime.split("/", 1)[0]
    if family in ("image", "audio", "video"):
        return family
    return "pdf" if mime == "application/pdf" or kind == "pdf" else "file"


def media_kinds(messages: Sequence[BaseMessage]) -> frozenset[str]:
    """The kinds of non-text content the messages carry, in any of LangChain's formats.

    Kinds are "image", "audio", "video", "pdf" and "file" (`MEDIA_KINDS`), so the router can
    keep each from models that cannot take it.
    """
    kinds: set[str] = set()
    for message in messages:
        if isinstance(message.content, str):
            continue
        for block in message.content:
            if isinstance(block, Mapping) and (kind := _kind(block)) is not None:
                kinds.add(kind)
    return frozenset(kinds)


def has_images(messages: Sequence[BaseMessage]) -> bool:
    """Whether any message carries an image block (any of LangChain's content formats)."""
    return "image" in media_kinds(messages)


def profile_capabilities(name: str, model: BaseChatModel) -> ModelCapabilities:
    """What `model` can serve, from its LangChain profile."""
    return ModelCapabilities.from_mapping(f"models[{name!r}].profile", dict(model.profile or {}))


def binding_kwargs(bound: Any, child: BaseChatModel) -> dict[str, Any]:
    """The call kwargs a child's `bind_tools` result holds, flattening nested bindings."""
    kwargs: dict[str, Any] = {}
    layers = []
    while isinstance(bound, RunnableBinding):
        layers.append(bound.kwargs)
        bound = bound.bound
    if bound is not child:
        raise TypeError(
            f"{type(child).__name__}.bind_tools returned a {type(bound).__name__} that does not "
            "wrap the model itself; the router cannot call it inline."
        )
    for layer in reversed(layers):
        kwargs.update(layer)
    return kwargs


def usage_of(message: BaseMessage) -> Usage | None:
    """Token usage a message reports, if any."""
    usage = getattr(message, "usage_metadata", None)
    if not usage:
        return None
    details = usage.get("input_token_details") or {}
    return Usage(
        input_tokens=int(usage.get("input_tokens", 0)),
        output_tokens=int(usage.get("output_tokens", 0)),
        cache_read_tokens=int(details.get("cache_read", 0) or 0),
    )


def chunk_of(generation: ChatGeneration) -> ChatGenerationChunk:
    """One stream chunk holding a whole answer, for children that cannot stream."""
    message = generation.message
    tool_calls = getattr(message, "tool_calls", None) or []
    chunk = AIMessageChunk(
        content=message.content,
        additional_kwargs=message.additional_kwargs,
        response_metadata=message.response_metadata,
        usage_metadata=getattr(message, "usage_metadata", None),
        id=message.id,
        tool_call_chunks=[
            tool_call_chunk(name=c["name"], args=json.dumps(c["args"]), id=c.get("id"), index=i)
            for i, c in enumerate(tool_calls)
        ],
        chunk_position="last",
    )
    return ChatGenerationChunk(message=chunk, generation_info=generation.generation_info)
