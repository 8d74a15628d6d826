"""Modes: ways to answer one call with several models, on top of the routing core.

- `Cascade`: the cheapest model first; escalate while its answer fails the checks.
- `Parallel`: several models at once; keep the first valid answer, the majority, the one a
  judge prefers, or a synthesis.

Both are framework-free: the adapters (`RoutingChatModel(..., mode=Cascade(...))` in either
framework) hand them a `Binding` (how to call a route, how to read its answer), and every
model call goes through the router's attempt loop (retries, cooldowns, time limits). The
decision records each step (`steps`), and its tokens and cost are totals over every call.
"""

from __future__ import annotations

from routing_chat_model.modes._types import (
    Answer,
    Binding,
    NoAcceptedAnswerError,
    Outcome,
    Score,
    Step,
    Verdict,
)
from routing_chat_model.modes.cascade import Cascade
from routing_chat_model.modes.checks import (
    Check,
    Confidence,
    JsonSchema,
    Judge,
    Validator,
    as_check,
    as_checks,
)
from routing_chat_model.modes.parallel import Parallel, normalise

__all__ = [
    "Answer",
    "Binding",
    "Cascade",
    "Check",
    "Confidence",
    "JsonSchema",
    "Judge",
    "Mode",
    "NoAcceptedAnswerError",
    "Outcome",
    "Parallel",
    "Score",
    "Step",
    "Validator",
    "Verdict",
    "as_check",
    "as_checks",
    "normalise",
]

Mode = Cascade | Parallel
"""A mode a `RoutingChatModel` can run in (`mode=` field)."""
