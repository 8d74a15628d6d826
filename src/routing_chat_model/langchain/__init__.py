"""LangChain adapter: `RoutingChatModel`, a `BaseChatModel` that routes among chat models."""

from __future__ import annotations

try:
    import langchain_core  # noqa: F401
except ImportError as _import_error:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "routing_chat_model.langchain needs langchain-core, which is not installed. "
        "Install it with: pip install 'routing-chat-model[langchain]'"
    ) from _import_error

from routing_chat_model.langchain.chat_model import (
    ROUTE_CONFIG_KEY,
    ROUTING_EVENT,
    RoutingChatModel,
)
from routing_chat_model.langchain.llm_selector import LLMRouterSelector
from routing_chat_model.langchain.metrics import RoutingMetricsHandler

__all__ = [
    "ROUTE_CONFIG_KEY",
    "ROUTING_EVENT",
    "LLMRouterSelector",
    "RoutingChatModel",
    "RoutingMetricsHandler",
]
