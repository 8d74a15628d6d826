"""Selectors: the strategies that pick a route, all behind the `Selector` protocol."""

from __future__ import annotations

from routing_chat_model.selectors.base import CallableSelector, Selection, Selector, as_selector
from routing_chat_model.selectors.embedding import Aggregation, EmbeddingSelector
from routing_chat_model.selectors.learned import LearnedSelector, feedback_id
from routing_chat_model.selectors.rules import Rule, RuleSelector

__all__ = [
    "Aggregation",
    "CallableSelector",
    "EmbeddingSelector",
    "LearnedSelector",
    "Rule",
    "RuleSelector",
    "Selection",
    "Selector",
    "as_selector",
    "feedback_id",
]
