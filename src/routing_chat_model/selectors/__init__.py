"""Selectors: the strategies that pick a route, all behind the `Selector` protocol."""

from __future__ import annotations

from routing_chat_model.selectors.base import CallableSelector, Selection, Selector, as_selector
from routing_chat_model.selectors.classifier import ClassifierSelector
from routing_chat_model.selectors.conversation import (
    EscalateOnlySelector,
    StickySelector,
    escalate_only,
    sticky,
    thread_id_of,
)
from routing_chat_model.selectors.embedding import Aggregation, EmbeddingSelector
from routing_chat_model.selectors.hybrid import (
    ChainSelector,
    WeightedSelector,
    first_of,
    weighted,
)
from routing_chat_model.selectors.learned import LearnedSelector, feedback_id
from routing_chat_model.selectors.rules import Rule, RuleSelector

__all__ = [
    "Aggregation",
    "CallableSelector",
    "ChainSelector",
    "ClassifierSelector",
    "EmbeddingSelector",
    "EscalateOnlySelector",
    "LearnedSelector",
    "Rule",
    "RuleSelector",
    "Selection",
    "Selector",
    "StickySelector",
    "WeightedSelector",
    "as_selector",
    "escalate_only",
    "feedback_id",
    "first_of",
    "sticky",
    "thread_id_of",
    "weighted",
]
