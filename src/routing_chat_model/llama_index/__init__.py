"""LlamaIndex adapter: a routing `FunctionCallingLLM`, and a selector for `RouterQueryEngine`.

`RoutingChatModel` routes each LLM call; `RoutingSelector` routes among query engines with no
LLM call; both dispatch one `RoutingDecisionEvent` per routed call.
"""

from __future__ import annotations

try:
    import llama_index.core  # noqa: F401
except ImportError as _import_error:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "routing_chat_model.llama_index needs llama-index-core, which is not installed. "
        "Install it with: pip install 'routing-chat-model[llama-index]'"
    ) from _import_error

from routing_chat_model.llama_index.chat_model import RoutingChatModel
from routing_chat_model.llama_index.events import RoutingDecisionEvent
from routing_chat_model.llama_index.llm_selector import LLMRouterSelector
from routing_chat_model.llama_index.metrics import RoutingMetricsHandler
from routing_chat_model.llama_index.selector import RoutedSelection, RoutingSelector

__all__ = [
    "LLMRouterSelector",
    "RoutedSelection",
    "RoutingChatModel",
    "RoutingDecisionEvent",
    "RoutingMetricsHandler",
    "RoutingSelector",
]
