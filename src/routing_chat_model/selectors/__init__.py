"""Selectors: the strategies that pick a route, all behind the `Selector` protocol."""

from __future__ import annotations

from routing_chat_model.selectors.base import CallableSelector, Selection, Selector, as_selector
from routing_chat_model.selectors.embedding import Aggregation, EmbeddingSelector
from routing_chat_model.selectors.rules import Rule, RuleSelector

__all__ = [
    "Aggregation",
    "CallableSelector",
    "EmbeddingSelector",
    "Rule",
    "RuleSelector",
    "Selection",
    "Selector",
    "as_selector",
]
