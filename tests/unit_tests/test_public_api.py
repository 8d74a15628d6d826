"""The public surface: sorted exports, and a decision that is data."""

from __future__ import annotations

import dataclasses
import json
import types

import pytest

import routing_chat_model
from routing_chat_model import Attempt, RoutingDecision


def test_all_is_sorted_and_complete() -> None:
    exported = routing_chat_model.__all__
    assert exported == sorted(exported)
    public = {
        name
        for name, value in vars(routing_chat_model).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - {"annotations"} == set(exported) - {"__version__"}


def test_decision_is_frozen_and_round_trips_through_json() -> None:
    decision = RoutingDecision(
        route="mid",
        selected="strong",
        selector="rules",
        reason="rule[0]",
        scores={"strong": 0.5},
        candidates=("strong", "mid"),
        plan=("strong", "mid"),
        attempts=(Attempt("strong", "RateLimitError", "rate_limit", 1.0), Attempt("mid")),
        cost_usd=0.001,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.route = "x"  # type: ignore[misc]
    data = json.loads(json.dumps(decision.to_dict()))
    assert data["attempts"] == [
        {
            "route": "strong",
            "error": "RateLimitError",
            "error_kind": "rate_limit",
            "latency_ms": 1.0,
        },
        {"route": "mid", "error": None, "error_kind": None, "latency_ms": None},
    ]
    assert RoutingDecision.from_dict(data) == decision
