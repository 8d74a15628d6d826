"""Malformed configs (reliability table B6), property-tested: any invalid setting raises
`RouteConfigError` when the object is built, naming the offending key; valid ones build and
decide. Never another exception type, never a failure deferred to the first call."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing_chat_model import (
    EmbeddingSelector,
    RouteConfigError,
    Router,
    RoutingRequest,
    Rule,
    RuleSelector,
    Turn,
)
from routing_chat_model.selectors.hybrid import weighted

NAMES = ["a", "b", "c", "ghost", "", " "]


class Hash3:
    """A tiny deterministic encoder: never all-zero, so valid configs always decide."""

    name = "hash3"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([[1.0, len(t) % 7, t.count("o")] for t in texts], dtype=np.float32)

    async def aencode(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts)


def _bad_threshold(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    return not (math.isfinite(value) and -1.0 <= value <= 1.0)


def embedding_problems(
    routes: dict[str, list[str]], threshold: Any, thresholds: dict[str, Any]
) -> list[str]:
    """Fragments the error message may name, one per problem (empty: the config is valid)."""
    problems = []
    if not routes:
        problems.append("routes")
    for name, examples in routes.items():
        if not name or not examples or any(not e.strip() for e in examples):
            problems.append(repr(name))
    if _bad_threshold(threshold):
        problems.append("threshold=")
    for name, value in thresholds.items():
        if name not in routes:
            problems.append("unknown route")
        if _bad_threshold(value):
            problems.append(f"thresholds[{name!r}]")
    return problems


def router_problems(
    models: list[str], routes: Sequence[str], default: str | None, fallbacks: list[str] | None
) -> list[str]:
    problems = []
    if not models:
        return ["models is empty"]
    if len(set(models)) != len(models):
        problems.append("duplicate")
    if any(not m.strip() for m in models):
        problems.append("model names")
    if default is not None and default not in models:
        problems.append(f"default={default!r}")
    if any(r not in models for r in routes):
        problems.extend(repr(r) for r in routes if r not in models)
    if fallbacks is not None:
        if any(f not in models for f in fallbacks):
            problems.append("unknown model")
        if len(set(fallbacks)) != len(fallbacks):
            problems.append("twice")
    return problems


thresholds_st = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -1.0, 1.0, 1.0000001, -1.0000001, True, "0.5"]),
)
examples_st = st.lists(st.sampled_from(["hi", "prove it", "", "  ", "good morning"]), max_size=3)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,  # the same examples every run: the suite stays deterministic
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    routes=st.dictionaries(st.sampled_from(NAMES), examples_st, max_size=4),
    threshold=thresholds_st,
    thresholds=st.dictionaries(st.sampled_from(NAMES), thresholds_st, max_size=2),
    models=st.lists(st.sampled_from(NAMES), max_size=4),
    default=st.one_of(st.none(), st.sampled_from(NAMES)),
    fallbacks=st.one_of(st.none(), st.lists(st.sampled_from(NAMES), max_size=3)),
)
def test_any_invalid_config_fails_when_built_naming_the_key(
    routes: dict[str, list[str]],
    threshold: Any,
    thresholds: dict[str, Any],
    models: list[str],
    default: str | None,
    fallbacks: list[str] | None,
) -> None:
    problems = embedding_problems(routes, threshold, thresholds)
    try:
        selector = EmbeddingSelector(
            routes, encoder=Hash3(), threshold=threshold, thresholds=thresholds
        )
    except RouteConfigError as exc:
        assert problems, f"valid selector config rejected: {exc}"
        assert any(p in str(exc) for p in problems), (str(exc), problems)
        return
    assert not problems, f"built despite {problems}"
    problems = router_problems(models, list(routes), default, fallbacks)
    try:
        router = Router(models, selector=selector, default=default, fallbacks=fallbacks)
    except RouteConfigError as exc:
        assert problems, f"valid router config rejected: {exc}"
        assert any(p in str(exc) for p in problems), (str(exc), problems)
        return
    assert not problems, f"built despite {problems}"
    decision = router.decide(RoutingRequest.from_turns([Turn("user", "hello world")]))
    assert decision.route in models


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    weights=st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, -1, True])),
        min_size=1,
        max_size=3,
    )
)
def test_weights_must_be_finite_and_non_negative(weights: list[Any]) -> None:
    links = [RuleSelector([Rule(route="a", keywords=[f"k{i}"])]) for i in range(len(weights))]
    valid = all(
        not isinstance(w, bool) and isinstance(w, (int, float)) and math.isfinite(w) and w >= 0
        for w in weights
    ) and any(w > 0 for w in weights)
    try:
        weighted(list(zip(links, weights, strict=True)))
    except RouteConfigError as exc:
        assert not valid, f"valid weights rejected: {exc}"
        assert "weight" in str(exc)
        return
    assert valid, f"built with weights {weights}"


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"models": []}, "models is empty"),
        ({"default": "ghost"}, "default='ghost'"),
        ({"fallbacks": ["ghost"]}, "unknown model"),
        ({"fallbacks": {"a": ["ghost"]}}, "unknown model"),
        ({"selector": RuleSelector([Rule(route="ghost", keywords=["x"])])}, "ghost"),
    ],
)
def test_table_b6_cases_name_the_key(kwargs: dict[str, Any], key: str) -> None:
    with pytest.raises(RouteConfigError, match=key):
        settings_ = {"models": ["a", "b"], "selector": lambda r: None}
        settings_.update(kwargs)
        models = settings_.pop("models")
        Router(models, **settings_)  # type: ignore[arg-type]
