"""Policies of the attempt loop: error classification and fallback."""

from __future__ import annotations

from routing_chat_model.policy.classify import ErrorKind, classify_error, status_code_of
from routing_chat_model.policy.fallback import (
    DEFAULT_FALLBACK_ON,
    FallbackPolicy,
    Fallbacks,
    fallback_order,
)
from routing_chat_model.policy.gate import Gate, Restriction

__all__ = [
    "DEFAULT_FALLBACK_ON",
    "ErrorKind",
    "FallbackPolicy",
    "Fallbacks",
    "Gate",
    "Restriction",
    "classify_error",
    "fallback_order",
    "status_code_of",
]
