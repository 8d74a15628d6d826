"""One routed call: the `RoutingRequest` to decide on, and how each child is called.

The router's own call kwargs (`model=` route override, `routing_metadata=`, the tool request)
are popped here, so they never reach a child, whose provider would receive them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM

from routing_chat_model.errors import RoutingInputError
from routing_chat_model.llama_index._convert import media_kinds, to_turns
from routing_chat_model.llama_index._tools import TOOLS_KWARG, ToolRequest, child_tool_kwargs
from routing_chat_model.request import RoutingRequest, Turn

if TYPE_CHECKING:
    from routing_chat_model.llama_index.chat_model import RoutingChatModel

__all__ = ["METADATA_KWARG", "ROUTE_KWARG", "ROUTER_KWARGS", "ChatCall", "CompletionCall"]

ROUTE_KWARG = "model"
"""`router.chat(messages, model="strong")` forces the route of one call."""

METADATA_KWARG = "routing_metadata"
"""`router.chat(messages, routing_metadata={"tenant": ...})`: caller metadata for selectors."""

ROUTER_KWARGS = (ROUTE_KWARG, METADATA_KWARG, TOOLS_KWARG)
"""Call kwargs meant for the router, never passed to a child."""


def _forced_route(owner: RoutingChatModel, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in owner.models:
        raise RoutingInputError(
            f"route override {ROUTE_KWARG}={value!r} is not one of this router's models "
            f"{list(owner.models)}."
        )
    return value


def _metadata(value: Any) -> Mapping[str, Any] | None:
    if value is None or isinstance(value, Mapping):
        return value
    raise RoutingInputError(
        f"{METADATA_KWARG} must be a dict such as {{'tenant': 'acme'}}, got {type(value).__name__}."
    )


def build_request(
    owner: RoutingChatModel,
    turns: Sequence[Turn],
    own: Mapping[str, Any],
    *,
    tools: bool = False,
    structured: bool = False,
    media: frozenset[str] = frozenset(),
) -> RoutingRequest:
    """The core's view of a call; `own` holds the router's popped call kwargs.

    Raises:
        RoutingInputError: no messages, or an override that names no model.
    """
    request = RoutingRequest.from_turns(
        turns,
        route_on=owner.route_on,
        has_tools=tools,
        structured_output=structured,
        media=media,
        metadata=_metadata(own.get(METADATA_KWARG)),
        forced_route=_forced_route(owner, own.get(ROUTE_KWARG)),
    )
    if owner.route_on == "last_user":
        question = question_of(request.text)
        if question is not None:
            request = dataclasses.replace(request, text=question)
    return request


_TEMPLATED_QUESTION = (
    # The leading greedy `.*` anchors on the template's own (last) "Query:", not on one that
    # happens to appear inside the retrieved context.
    # text_qa templates (prompts/default_prompts.py, chat_prompts.py)
    re.compile(r".*\nQuery: (?P<q>.+?)\nAnswer:\s*\Z", re.DOTALL),
    # chat refine template
    re.compile(r".*\nQuery: (?P<q>.+?)\nOriginal Answer: .*\nNew Answer:\s*\Z", re.DOTALL),
    # completion refine template
    re.compile(
        r".*The original query is as follows: (?P<q>.+?)\nWe have provided an existing answer",
        re.DOTALL,
    ),
    # condense-question templates (chat engines)
    re.compile(r".*Follow Up Input: (?P<q>.+?)\n\s*Standalone question:\s*\Z", re.DOTALL),
)


def question_of(text: str) -> str | None:
    """The user's question inside LlamaIndex's own QA or condense templates, if `text` is one.

    Query engines put the retrieved context and the question in one user message; routing on
    all of it would route on the documents rather than on what was asked.
    """
    for pattern in _TEMPLATED_QUESTION:
        found = pattern.match(text)
        if found is not None and found.group("q").strip():
            return found.group("q").strip()
    return None


def pop_own(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Remove the router's own kwargs from `kwargs`, returning them."""
    return {k: kwargs.pop(k) for k in ROUTER_KWARGS if k in kwargs}


class ChatCall:
    """A routed `chat`/`stream_chat` call (plain, or with tools from `chat_with_tools`)."""

    def __init__(
        self,
        owner: RoutingChatModel,
        messages: Sequence[ChatMessage],
        kwargs: dict[str, Any],
        *,
        structured: bool = False,
    ) -> None:
        self.owner = owner
        self.kwargs = dict(kwargs)
        own = pop_own(self.kwargs)
        self.messages = list(messages)
        tools = own.get(TOOLS_KWARG)
        self.tools: ToolRequest | None = tools if isinstance(tools, ToolRequest) else None
        self.has_tools = bool(self.tools.tools if self.tools else self.kwargs.get("tools"))
        self.request = build_request(
            owner,
            to_turns(self.messages, owner._tool_routes.get),
            own,
            tools=self.has_tools,
            structured=structured,
            media=media_kinds(self.messages),
        )

    def child_args(self, route: str) -> tuple[LLM, list[ChatMessage], dict[str, Any]]:
        """The child for `route`, and the messages and kwargs it is called with."""
        child = self.owner.models[route]
        if self.tools is None or not self.tools.tools:
            return child, self.messages, self.kwargs
        if not isinstance(child, FunctionCallingLLM):  # candidates exclude these: a bug if hit
            raise TypeError(f"model {route!r} cannot call tools")
        prepared = child_tool_kwargs(child, self.tools, self.messages)
        messages = prepared.pop("messages", self.messages)
        return child, messages, {**prepared, **self.kwargs}

    def chat(self, route: str) -> ChatResponse:
        """Call the child's `chat`."""
        child, messages, kwargs = self.child_args(route)
        return child.chat(messages, **kwargs)

    async def achat(self, route: str) -> ChatResponse:
        """Call the child's native `achat`."""
        child, messages, kwargs = self.child_args(route)
        return await child.achat(messages, **kwargs)

    def stream(self, route: str) -> Iterator[ChatResponse]:
        """Open the child's `stream_chat`."""
        child, messages, kwargs = self.child_args(route)
        return child.stream_chat(messages, **kwargs)

    async def astream(self, route: str) -> AsyncIterator[ChatResponse]:
        """Open the child's native `astream_chat`."""
        child, messages, kwargs = self.child_args(route)
        return await child.astream_chat(messages, **kwargs)


class CompletionCall:
    """A routed `complete`/`stream_complete` call: the prompt routes as one user turn."""

    def __init__(
        self, owner: RoutingChatModel, prompt: str, formatted: bool, kwargs: dict[str, Any]
    ) -> None:
        self.owner = owner
        self.prompt = prompt
        self.formatted = formatted
        self.kwargs = dict(kwargs)
        own = pop_own(self.kwargs)
        self.request = build_request(owner, [Turn(role="user", text=prompt)], own)

    def complete(self, route: str) -> CompletionResponse:
        """Call the child's `complete`."""
        return self.owner.models[route].complete(
            self.prompt, formatted=self.formatted, **self.kwargs
        )

    async def acomplete(self, route: str) -> CompletionResponse:
        """Call the child's native `acomplete`."""
        return await self.owner.models[route].acomplete(
            self.prompt, formatted=self.formatted, **self.kwargs
        )

    def stream(self, route: str) -> Iterator[CompletionResponse]:
        """Open the child's `stream_complete`."""
        return self.owner.models[route].stream_complete(
            self.prompt, formatted=self.formatted, **self.kwargs
        )

    async def astream(self, route: str) -> AsyncIterator[CompletionResponse]:
        """Open the child's native `astream_complete`."""
        return await self.owner.models[route].astream_complete(
            self.prompt, formatted=self.formatted, **self.kwargs
        )
