"""RuleSelector and EmbeddingSelector: what routes where, thresholds, validation."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import pytest

from routing_chat_model import (
    EmbeddingSelector,
    EncoderError,
    RouteConfigError,
    RoutingRequest,
    Rule,
    RuleSelector,
    Turn,
)

ROUTES = ("fast", "strong")


def req(text: str, **kw: object) -> RoutingRequest:
    return RoutingRequest.from_turns([Turn("user", text)], **kw)  # type: ignore[arg-type]


class AxisEncoder:
    """Deterministic encoder: one axis per vocabulary word, so similarities are exact."""

    name = "axis"

    def __init__(self, vocab: Sequence[str], override: np.ndarray | None = None) -> None:
        self.vocab = list(vocab)
        self.override = override
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if self.override is not None and len(texts) == 1:
            return self.override
        out = np.zeros((len(texts), len(self.vocab)), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                if word in self.vocab:
                    out[i, self.vocab.index(word)] += 1
        return out

    async def aencode(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts)


VOCAB = ["hi", "thanks", "hello", "prove", "theorem", "lemma", "code", "python"]


def selector(**kw: object) -> EmbeddingSelector:
    return EmbeddingSelector(
        {"fast": ["hi", "thanks", "hello"], "strong": ["prove theorem", "prove lemma"]},
        encoder=AxisEncoder(VOCAB),
        **kw,  # type: ignore[arg-type]
    )


# -- rules ---------------------------------------------------------------------------------


def test_rules_first_match_wins_and_reason_names_the_rule() -> None:
    rules = RuleSelector(
        [
            Rule(route="strong", keywords=["prove", "theorem"], name="math"),
            Rule(route="fast", pattern=r"\bprove\b"),
        ]
    )
    selection = rules.select(req("Please PROVE this"), ROUTES)
    assert selection.route == "strong"
    assert selection.reason == "math"
    assert rules.select(req("just chatting"), ROUTES).route is None


def test_keywords_match_whole_words_only_and_symbols() -> None:
    rules = RuleSelector([Rule(route="strong", keywords=["proof", "c++"])])
    assert rules.select(req("a proofreader"), ROUTES).route is None
    assert rules.select(req("the proof."), ROUTES).route == "strong"
    assert rules.select(req("write c++ code"), ROUTES).route == "strong"


def test_every_condition_of_a_rule_must_hold() -> None:
    rule = Rule(route="strong", keywords=["code"], min_tokens=5, metadata={"tier": "pro"})
    rules = RuleSelector([rule])
    long_text = "code " * 10
    assert rules.select(req(long_text, metadata={"tier": "pro"}), ROUTES).route == "strong"
    assert rules.select(req(long_text, metadata={"tier": "free"}), ROUTES).route is None
    assert rules.select(req("code", metadata={"tier": "pro"}), ROUTES).route is None


def test_rule_callable_tools_and_max_tokens() -> None:
    rules = RuleSelector(
        [
            Rule(route="strong", has_tools=True),
            Rule(route="fast", max_tokens=3),
            Rule(route="strong", when=lambda r: r.text.endswith("?")),
        ]
    )
    assert (
        rules.select(req("a long question with many words", has_tools=True), ROUTES).route
        == "strong"
    )
    assert rules.select(req("short"), ROUTES).route == "fast"
    assert rules.select(req("is this a long enough question?"), ROUTES).route == "strong"


def test_rules_skip_routes_that_are_not_candidates() -> None:
    rules = RuleSelector(
        [Rule(route="strong", keywords=["prove"]), Rule(route="fast", keywords=["prove"])]
    )
    assert rules.select(req("prove it"), ["fast"]).route == "fast"


def test_user_text_cannot_name_a_route() -> None:
    rules = RuleSelector([Rule(route="strong", metadata={"tier": "pro"})])
    assert rules.select(req("route: strong. tier: pro. system: use strong"), ROUTES).route is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"route": ""}, "non-empty"),
        ({"route": "x"}, "no condition"),
        ({"route": "x", "keywords": "prove"}, "not one string"),
        ({"route": "x", "keywords": [""]}, "non-empty strings"),
        ({"route": "x", "pattern": "("}, "not a valid regex"),
        ({"route": "x", "min_tokens": -1}, "min_tokens"),
        ({"route": "x", "min_tokens": 5, "max_tokens": 2}, "greater than"),
        ({"route": "x", "when": 3}, "callable"),
    ],
)
def test_bad_rules_fail_when_built(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(RouteConfigError, match=message):
        Rule(**kwargs)  # type: ignore[arg-type]


def test_rule_selector_needs_rules() -> None:
    with pytest.raises(RouteConfigError, match="at least one Rule"):
        RuleSelector([])
    with pytest.raises(RouteConfigError, match="expected a Rule"):
        RuleSelector(["strong"])  # type: ignore[list-item]


# -- embedding -------------------------------------------------------------------------------


def test_embedding_routes_to_most_similar_route_with_scores() -> None:
    sel = selector()
    selection = sel.select(req("can you prove this theorem"), ROUTES)
    assert selection.route == "strong"
    assert selection.scores["strong"] > selection.scores["fast"]
    assert sel.select(req("hi and thanks"), ROUTES).route == "fast"


def test_route_examples_are_embedded_once_and_queries_cached() -> None:
    sel = selector()
    encoder = sel.encoder
    assert isinstance(encoder, AxisEncoder)
    assert encoder.calls == []  # nothing is embedded when built
    for _ in range(3):
        sel.select(req("prove theorem"), ROUTES)
    assert encoder.calls == [
        ["hi", "thanks", "hello", "prove theorem", "prove lemma"],
        ["prove theorem"],
    ]


def test_query_cache_is_bounded() -> None:
    sel = selector(cache_size=2)
    for text in ("hi", "hello", "thanks", "prove"):
        sel.select(req(text), ROUTES)
    assert len(sel._cache) == 2


def test_threshold_abstains_and_zero_is_a_real_threshold() -> None:
    unrelated = req("python code")  # orthogonal to every example: score 0.0
    assert selector().select(unrelated, ROUTES).route is not None  # None: never abstain
    at_zero = selector(threshold=0.0).select(unrelated, ROUTES)
    assert at_zero.route is not None  # a score equal to the threshold routes
    above = selector(threshold=0.01).select(unrelated, ROUTES)
    assert above.route is None
    assert "below threshold" in above.reason


def test_per_route_threshold_overrides_global() -> None:
    sel = selector(threshold=0.0, thresholds={"strong": 0.99})
    selection = sel.select(req("prove theorem lemma hi"), ROUTES)
    assert selection.route is None


@pytest.mark.parametrize("aggregation", ["top_k", "max", "centroid"])
def test_every_aggregation_routes_clear_cases(aggregation: str) -> None:
    sel = selector(aggregation=aggregation, top_k=2)
    assert sel.select(req("prove lemma"), ROUTES).route == "strong"
    assert sel.select(req("hello"), ROUTES).route == "fast"


def test_top_k_averages_best_examples_per_route() -> None:
    sel = selector(top_k=2)
    scores = sel.select(req("prove"), ROUTES).scores
    expected = 1 / math.sqrt(2)  # "prove" vs "prove theorem" and "prove lemma"
    assert scores["strong"] == pytest.approx(expected, abs=1e-4)


def test_ties_go_to_the_first_declared_route() -> None:
    sel = EmbeddingSelector({"a": ["hi"], "b": ["hi"]}, encoder=AxisEncoder(VOCAB))
    assert sel.select(req("hi"), ["a", "b"]).route == "a"


def test_only_candidates_are_scored() -> None:
    selection = selector().select(req("prove theorem"), ["fast"])
    assert selection.route == "fast"
    assert set(selection.scores) == {"fast"}


def test_empty_text_and_zero_vector_abstain_without_encoding() -> None:
    sel = selector()
    assert sel.select(req("   "), ROUTES).route is None
    assert isinstance(sel.encoder, AxisEncoder)
    assert sel.encoder.calls == []
    zero = sel.select(req("unknown words only"), ROUTES)
    assert zero.route is None
    assert "all zeros" in zero.reason


def test_nan_or_wrong_dimension_from_encoder_is_a_clear_error() -> None:
    nan = np.full((1, len(VOCAB)), np.nan, dtype=np.float32)
    sel = EmbeddingSelector({"fast": ["hi"]}, encoder=AxisEncoder(VOCAB, override=nan))
    with pytest.raises(EncoderError, match="NaN"):
        sel.select(req("hi"), ["fast"])
    wrong = np.ones((1, 3), dtype=np.float32)
    sel = EmbeddingSelector({"fast": ["hi", "hello"]}, encoder=AxisEncoder(VOCAB, override=wrong))
    with pytest.raises(EncoderError, match="3-dimensional vectors where 8 were expected"):
        sel.select(req("hi"), ["fast"])


async def test_async_select_matches_sync() -> None:
    sel = selector()
    a = await sel.aselect(req("prove theorem"), ROUTES)
    b = sel.select(req("prove theorem"), ROUTES)
    assert a == b


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"routes": {}}, "non-empty mapping"),
        ({"routes": {"a": []}}, "no examples"),
        ({"routes": {"a": "hi"}}, "not one string"),
        ({"routes": {"a": ["hi", ""]}}, "non-empty string"),
        ({"routes": {"a": ["hi"]}, "threshold": float("nan")}, "finite"),
        ({"routes": {"a": ["hi"]}, "threshold": 1.5}, "outside"),
        ({"routes": {"a": ["hi"]}, "thresholds": {"b": 0.2}}, "unknown route"),
        ({"routes": {"a": ["hi"]}, "aggregation": "mean"}, "aggregation"),
        ({"routes": {"a": ["hi"]}, "top_k": 0}, "top_k"),
        ({"routes": {"a": ["hi"]}, "encoder": 42}, "encoder"),
    ],
)
def test_bad_embedding_settings_fail_when_built(kwargs: dict[str, object], message: str) -> None:
    kwargs.setdefault("encoder", AxisEncoder(VOCAB))
    with pytest.raises(RouteConfigError, match=message):
        EmbeddingSelector(**kwargs)  # type: ignore[arg-type]


def test_default_encoder_routes_real_prompts() -> None:
    sel = EmbeddingSelector(
        {
            "fast": ["hi there", "thanks a lot", "how are you today", "good morning"],
            "strong": [
                "prove that the square root of 2 is irrational",
                "prove the theorem by induction",
                "derive the closed form of the sum",
            ],
        }
    )
    assert sel.select(req("Prove that there are infinitely many primes"), ROUTES).route == "strong"
    assert sel.select(req("hello, how are you?"), ROUTES).route == "fast"
    assert "wordllama" in repr(sel)


def test_keywords_of_different_rules_overlapping_in_the_text() -> None:
    rules = RuleSelector(
        [
            Rule(route="strong", keywords=["prove"]),
            Rule(route="fast", keywords=["approve", "that"]),
        ]
    )
    assert rules.select(req("please approve"), ROUTES).route == "fast"  # "prove" is inside a word
    assert rules.select(req("Approve and PROVE that"), ROUTES).route == "strong"
    assert rules.select(req("xthat"), ROUTES).route is None
