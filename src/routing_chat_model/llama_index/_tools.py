"""Tool calling through the router: tools formatted by each child, tool rounds kept together.

`FunctionCallingLLM.chat_with_tools` asks `_prepare_chat_with_tools` for provider-formatted chat
kwargs, then calls `chat(**kwargs)`. The router cannot format tools before it knows the child
(and fallback may move the call to another child), so its `_prepare_chat_with_tools` returns
the tools unformatted in a `ToolRequest`; `chat` pops it and each attempted child formats the
tools its own way with its own `_prepare_chat_with_tools`.

Decisions never ride on messages (providers would receive them), so `ToolRoutes` remembers
which route issued each tool call id; tool results are sent back to that route.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.tools.types import BaseTool

__all__ = ["TOOLS_KWARG", "ToolRequest", "ToolRoutes", "child_tool_kwargs"]

TOOLS_KWARG = "routing_tools"
"""Chat kwarg carrying a `ToolRequest` from `_prepare_chat_with_tools` to `chat()`."""


class ToolRequest(dict[str, Any]):
    """Tools to bind, unformatted, until a child formats them.

    A dict of plain values (tool names and flags) so that callback payloads and instrumentation
    events, which show the router's call kwargs, stay serialisable; the tools themselves and
    the caller's extra kwargs ride as attributes.
    """

    def __init__(
        self,
        tools: Sequence[BaseTool],
        *,
        verbose: bool,
        allow_parallel_tool_calls: bool,
        tool_required: bool,
        extra: Mapping[str, Any],
    ) -> None:
        super().__init__(
            tools=[tool.metadata.name for tool in tools],
            allow_parallel_tool_calls=allow_parallel_tool_calls,
            tool_required=tool_required,
        )
        self.tools = list(tools)
        self.verbose = verbose
        self.allow_parallel_tool_calls = allow_parallel_tool_calls
        self.tool_required = tool_required
        self.extra = dict(extra)


def child_tool_kwargs(
    child: FunctionCallingLLM, request: ToolRequest, messages: Sequence[ChatMessage]
) -> dict[str, Any]:
    """The chat kwargs `child` wants for this conversation with these tools (incl. messages)."""
    return child._prepare_chat_with_tools_compat(
        request.tools,
        chat_history=list(messages),
        verbose=request.verbose,
        allow_parallel_tool_calls=request.allow_parallel_tool_calls,
        tool_required=request.tool_required,
        **request.extra,
    )


class ToolRoutes:
    """Which route issued each tool call id (bounded, oldest forgotten first, thread-safe)."""

    def __init__(self, max_size: int = 4096) -> None:
        self._routes: OrderedDict[str, str] = OrderedDict()
        self._max = max_size
        self._lock = threading.Lock()

    def record(self, child: Any, route: str, response: ChatResponse) -> None:
        """Remember the route of the tool calls in `response`, parsed by the child that made it."""
        if not isinstance(child, FunctionCallingLLM):
            return
        try:
            calls = child.get_tool_calls_from_response(response, error_on_no_tool_call=False)
        except Exception:  # a child that cannot parse its own answer has no tool calls to track
            return
        ids = [i for call in calls or () if isinstance(i := getattr(call, "tool_id", None), str)]
        if not ids:
            return
        with self._lock:
            for ident in ids:
                self._routes[ident] = route
                self._routes.move_to_end(ident)
            while len(self._routes) > self._max:
                self._routes.popitem(last=False)

    def get(self, tool_call_id: str) -> str | None:
        """The route that issued `tool_call_id`, if remembered."""
        return self._routes.get(tool_call_id)
