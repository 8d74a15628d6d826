"""Policies of the attempt loop: error classification, fallback, retries, circuit breaking."""

from __future__ import annotations

from routing_chat_model.policy._budget_settings import TenantBudget
from routing_chat_model.policy.budget import Budget, BudgetExceededError, BudgetStatus
from routing_chat_model.policy.classify import ErrorKind, classify_error, status_code_of
from routing_chat_model.policy.compliance import (
    DEFAULT_DETECTORS,
    Compliance,
    ComplianceError,
    Detector,
    RegexDetector,
)
from routing_chat_model.policy.fallback import (
    DEFAULT_FALLBACK_ON,
    FallbackPolicy,
    Fallbacks,
    fallback_order,
)
from routing_chat_model.policy.gate import Gate, Restriction
from routing_chat_model.policy.health import DEFAULT_TRIP_ON, CircuitBreaker, ModelHealth
from routing_chat_model.policy.latency import LatencyStats, LatencyTarget
from routing_chat_model.policy.ledger import InMemoryLedger, Ledger
from routing_chat_model.policy.retry import DEFAULT_RETRY_ON, RetryPolicy, retry_after_of

__all__ = [
    "Budget",
    "BudgetExceededError",
    "BudgetStatus",
    "CircuitBreaker",
    "Compliance",
    "ComplianceError",
    "DEFAULT_DETECTORS",
    "DEFAULT_FALLBACK_ON",
    "DEFAULT_RETRY_ON",
    "DEFAULT_TRIP_ON",
    "Detector",
    "ErrorKind",
    "FallbackPolicy",
    "Fallbacks",
    "Gate",
    "InMemoryLedger",
    "LatencyStats",
    "LatencyTarget",
    "Ledger",
    "ModelHealth",
    "RegexDetector",
    "Restriction",
    "RetryPolicy",
    "TenantBudget",
    "classify_error",
    "fallback_order",
    "retry_after_of",
    "status_code_of",
]
