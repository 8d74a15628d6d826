"""LLM routing for LangChain and LlamaIndex: one chat model that picks among several per call.

The top-level package is framework-free. The adapters live in `routing_chat_model.langchain`
and `routing_chat_model.llama_index`; scripted fake models for tests in
`routing_chat_model.testing`.
"""

from __future__ import annotations

from routing_chat_model.decision import Attempt, RoutingDecision
from routing_chat_model.errors import (
    AllModelsFailedError,
    EncoderError,
    NoCandidateError,
    RouteConfigError,
    RoutingError,
    RoutingInputError,
    StreamInterruptedError,
)
from routing_chat_model.policy import ErrorKind, FallbackPolicy, classify_error
from routing_chat_model.pricing import ModelPrice, Pricing
from routing_chat_model.request import RouteOn, RoutingRequest, Turn
from routing_chat_model.router import ModelCapabilities, Router, Usage
from routing_chat_model.selectors import (
    CallableSelector,
    EmbeddingSelector,
    LearnedSelector,
    Rule,
    RuleSelector,
    Selection,
    Selector,
)

__version__ = "0.1.0"

__all__ = [
    "AllModelsFailedError",
    "Attempt",
    "CallableSelector",
    "EmbeddingSelector",
    "EncoderError",
    "ErrorKind",
    "FallbackPolicy",
    "LearnedSelector",
    "ModelCapabilities",
    "ModelPrice",
    "NoCandidateError",
    "Pricing",
    "RouteConfigError",
    "RouteOn",
    "Router",
    "RoutingDecision",
    "RoutingError",
    "RoutingInputError",
    "RoutingRequest",
    "Rule",
    "RuleSelector",
    "Selection",
    "Selector",
    "StreamInterruptedError",
    "Turn",
    "Usage",
    "__version__",
    "classify_error",
]
