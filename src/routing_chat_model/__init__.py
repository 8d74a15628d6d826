"""LLM routing for LangChain and LlamaIndex: one chat model that picks among several per call.

The top-level package is framework-free. The adapters live in `routing_chat_model.langchain`
and `routing_chat_model.llama_index`; scripted fake models for tests in
`routing_chat_model.testing`.
"""

from __future__ import annotations

from routing_chat_model.config import RouterSpec, load_config
from routing_chat_model.decision import Attempt, RoutingDecision
from routing_chat_model.errors import (
    AllModelsFailedError,
    AttemptTimeoutError,
    DeadlineExceededError,
    EncoderError,
    NoCandidateError,
    RouteConfigError,
    RoutingError,
    RoutingInputError,
    StreamInterruptedError,
)
from routing_chat_model.metrics import DecisionLog, RoutingMetrics
from routing_chat_model.policy import (
    DEFAULT_DETECTORS,
    Budget,
    BudgetExceededError,
    BudgetStatus,
    CircuitBreaker,
    Compliance,
    ComplianceError,
    Detector,
    ErrorKind,
    FallbackPolicy,
    Gate,
    InMemoryLedger,
    LatencyStats,
    LatencyTarget,
    Ledger,
    ModelHealth,
    RegexDetector,
    Restriction,
    RetryPolicy,
    TenantBudget,
    classify_error,
    retry_after_of,
)
from routing_chat_model.pricing import ModelPrice, Pricing
from routing_chat_model.request import RouteOn, RoutingRequest, Turn
from routing_chat_model.router import ModelCapabilities, Router, Usage
from routing_chat_model.selectors import (
    CallableSelector,
    ChainSelector,
    ClassifierSelector,
    EmbeddingSelector,
    EscalateOnlySelector,
    LearnedSelector,
    Rule,
    RuleSelector,
    Selection,
    Selector,
    StickySelector,
    WeightedSelector,
    escalate_only,
    first_of,
    sticky,
    thread_id_of,
    weighted,
)
from routing_chat_model.selectors.llm import LLMSelector

__version__ = "0.1.0"

__all__ = [
    "AllModelsFailedError",
    "Attempt",
    "AttemptTimeoutError",
    "Budget",
    "BudgetExceededError",
    "BudgetStatus",
    "CallableSelector",
    "ChainSelector",
    "CircuitBreaker",
    "ClassifierSelector",
    "Compliance",
    "ComplianceError",
    "DEFAULT_DETECTORS",
    "DeadlineExceededError",
    "DecisionLog",
    "Detector",
    "EmbeddingSelector",
    "EncoderError",
    "ErrorKind",
    "EscalateOnlySelector",
    "FallbackPolicy",
    "Gate",
    "InMemoryLedger",
    "LLMSelector",
    "LatencyStats",
    "LatencyTarget",
    "LearnedSelector",
    "Ledger",
    "ModelCapabilities",
    "ModelHealth",
    "ModelPrice",
    "NoCandidateError",
    "Pricing",
    "RegexDetector",
    "Restriction",
    "RetryPolicy",
    "RouteConfigError",
    "RouteOn",
    "Router",
    "RouterSpec",
    "RoutingDecision",
    "RoutingError",
    "RoutingInputError",
    "RoutingMetrics",
    "RoutingRequest",
    "Rule",
    "RuleSelector",
    "Selection",
    "Selector",
    "StickySelector",
    "StreamInterruptedError",
    "TenantBudget",
    "Turn",
    "Usage",
    "WeightedSelector",
    "__version__",
    "classify_error",
    "escalate_only",
    "first_of",
    "load_config",
    "retry_after_of",
    "sticky",
    "thread_id_of",
    "weighted",
]
