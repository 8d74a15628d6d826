"""first_of / weighted: who decides, how scores combine, validation, async, feedback."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from routing_chat_model import (
    EmbeddingSelector,
    RouteConfigError,
    Router,
    RoutingInputError,
    RoutingRequest,
    Rule,
    RuleSelector,
    Selection,
    Turn,
)
from routing_chat_model.selectors import (
    ChainSelector,
    WeightedSelector,
    feedback_id,
    first_of,
    weighted,
)

ROUTES = ("fast", "strong", "local")
ID = "0123456789abcdef"


def req(text: str) -> RoutingRequest:
    return RoutingRequest.from_turns([Turn("user", text)])


class Fixed:
    """A selector that always answers the same, and counts how it was asked."""

    def __init__(
        self,
        name: str,
        route: str | None,
        scores: Mapping[str, float] | None = None,
        routes: Sequence[str] | None = ROUTES,
        decision_id: str | None = None,
    ) -> None:
        self.name = name
        self.route = route
        self.scores = dict(scores or {})
        self.route_names = None if routes is None else frozenset(routes)
        self.decision_id = decision_id
        self.sync_calls = 0
        self.async_calls = 0

    def _selection(self, candidates: Sequence[str]) -> Selection:
        return Selection(
            route=self.route,
            scores={r: s for r, s in self.scores.items() if r in candidates},
            reason=f"{self.name} says {self.route}",
            decision_id=self.decision_id,
        )

    def select(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        self.sync_calls += 1
        return self._selection(candidates)

    async def aselect(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        self.async_calls += 1
        return self._selection(candidates)


class Learner(Fixed):
    """A `Fixed` that takes feedback for the ids it issued."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.feedback: list[tuple[object, float]] = []

    def record_feedback(
        self, decision_or_id: object, quality: float, *, cost_usd: float | None = None
    ) -> None:
        token = feedback_id(decision_or_id)
        if token != self.decision_id:
            raise RoutingInputError(f"{self.name}: unknown id")
        self.feedback.append((token, quality))


class AxisEncoder:
    name = "axis"
    vocab = ("hi", "thanks", "prove", "theorem")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.vocab)), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                if word in self.vocab:
                    out[i, self.vocab.index(word)] += 1
        return out

    async def aencode(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts)


def rules() -> RuleSelector:
    return RuleSelector([Rule(route="local", keywords=["password"], name="secrets stay local")])


def embeddings(threshold: float | None = 0.5) -> EmbeddingSelector:
    return EmbeddingSelector(
        {"fast": ["hi", "thanks"], "strong": ["prove theorem"]}, AxisEncoder(), threshold
    )


# -- first_of -------------------------------------------------------------------------------


def test_first_link_that_answers_decides_and_says_so() -> None:
    chain = first_of(rules(), embeddings())
    assert isinstance(chain, ChainSelector)
    assert chain.name == "chain(rules>embedding)"
    local = chain.select(req("my password leaked"), ROUTES)
    assert (local.route, local.reason) == ("local", "rules: secrets stay local")
    strong = chain.select(req("prove this theorem"), ROUTES)
    assert strong.route == "strong"
    assert strong.reason.startswith("embedding: similarity")
    assert set(strong.scores) == {"fast", "strong"}  # the deciding link's scores


def test_chain_abstains_when_every_link_abstains_and_lists_why() -> None:
    selection = first_of(rules(), embeddings()).select(req("what about lunch"), ROUTES)
    assert selection.route is None
    assert selection.reason.startswith("every link abstained (rules: ")
    assert "embedding: selector degraded: query embedding is all zeros" in selection.reason


def test_a_link_picking_a_non_candidate_passes_the_request_on() -> None:
    first, second = Fixed("a", "local"), Fixed("b", "fast")
    selection = first_of(first, second).select(req("x"), ["fast", "strong"])
    assert (selection.route, selection.reason) == ("fast", "b: b says fast")


def test_later_links_are_not_asked_once_one_decides() -> None:
    first, second = Fixed("a", "fast"), Fixed("b", "strong")
    first_of(first, second).select(req("x"), ROUTES)
    assert (first.sync_calls, second.sync_calls) == (1, 0)


def test_router_shows_the_chain_and_the_deciding_link() -> None:
    router = Router(list(ROUTES), selector=first_of(rules(), embeddings()), default="fast")
    decision = router.decide(req("prove the theorem"))
    assert decision.selector == "chain(rules>embedding)"
    assert decision.reason.startswith("embedding: ")
    abstained = router.decide(req("lunch?"))
    assert abstained.abstained and abstained.route == "fast"


def test_route_names_are_the_union_or_unknown() -> None:
    chain = first_of(Fixed("a", "fast", routes=["fast"]), Fixed("b", "x", routes=["x"]))
    assert chain.route_names == frozenset({"fast", "x"})
    assert first_of(Fixed("a", "fast"), lambda r: "fast").route_names is None
    with pytest.raises(RouteConfigError, match="not models"):
        Router(["fast"], selector=chain)


async def test_async_chain_awaits_each_link() -> None:
    first, second = Fixed("a", None), Fixed("b", "strong")
    selection = await first_of(first, second).aselect(req("x"), ROUTES)
    assert selection.route == "strong"
    assert (first.async_calls, second.async_calls, first.sync_calls) == (1, 1, 0)


def test_first_of_needs_selectors() -> None:
    with pytest.raises(RouteConfigError, match="at least one selector"):
        first_of()
    with pytest.raises(RouteConfigError, match="expected a Selector"):
        first_of(42)


def test_feedback_reaches_the_learning_link() -> None:
    learner = Learner("learned", "strong", decision_id=ID)
    chain = first_of(rules(), learner)
    router = Router(list(ROUTES), selector=chain)
    decision = router.decide(req("hard question"))
    assert decision.decision_id == ID
    router.record_feedback(decision, 1.0)
    assert learner.feedback == [(ID, 1.0)]
    with pytest.raises(RoutingInputError, match="unknown id"):
        chain.record_feedback("ffffffffffffffff", 1.0)
    with pytest.raises(RoutingInputError, match="no link that learns"):
        first_of(rules()).record_feedback(ID, 1.0)


# -- weighted -------------------------------------------------------------------------------


def test_weighted_min_max_scales_each_link_then_averages() -> None:
    # a: cosine-like scores; b: utilities on another scale. Both normalised to [0, 1].
    a = Fixed("a", "fast", {"fast": 0.9, "strong": 0.5, "local": 0.1})
    b = Fixed("b", "strong", {"fast": -3.0, "strong": 7.0, "local": 2.0})
    sel = weighted({a: 0.7, b: 0.3})
    assert isinstance(sel, WeightedSelector)
    assert sel.name == "weighted(a*0.7+b*0.3)"
    selection = sel.select(req("x"), ROUTES)
    # fast: 0.7*1 + 0.3*0 = 0.7; strong: 0.7*0.5 + 0.3*1 = 0.65; local: 0 + 0.3*0.5 = 0.15
    assert selection.route == "fast"
    assert selection.scores == {"fast": 0.7, "strong": 0.65, "local": 0.15}
    assert selection.reason == "combined score 0.700 (a->fast, b->strong)"
    # The weights decide: the other way round, strong wins.
    assert weighted({a: 0.3, b: 0.7}).select(req("x"), ROUTES).route == "strong"


def test_weighted_threshold_abstains_on_disagreement() -> None:
    a, b = Fixed("a", "fast"), Fixed("b", "strong")  # no scores: a vote for the choice
    selection = weighted([(a, 0.6), (b, 0.4)], threshold=0.75).select(req("x"), ROUTES)
    assert selection.route is None
    assert selection.scores == {"fast": 0.6, "strong": 0.4, "local": 0.0}
    assert "below threshold 0.750" in selection.reason
    assert weighted([(a, 0.6), (b, 0.4)], threshold=0.0).select(req("x"), ROUTES).route == "fast"


def test_an_abstaining_link_does_not_vote() -> None:
    a = Fixed("a", None, {"fast": 0.9, "strong": 0.1})  # abstained: its scores do not count
    b = Fixed("b", "strong")
    selection = weighted({a: 0.9, b: 0.1}, threshold=0.9).select(req("x"), ROUTES)
    assert selection.route == "strong"
    assert selection.scores["strong"] == 1.0
    assert "a abstained, b->strong" in selection.reason
    nobody = weighted({a: 1.0}).select(req("x"), ROUTES)
    assert nobody.route is None and nobody.reason.startswith("no link voted")


def test_equal_scores_count_as_a_vote_for_the_choice() -> None:
    a = Fixed("a", "strong", {"fast": 0.5, "strong": 0.5})
    assert weighted({a: 1.0}).select(req("x"), ROUTES).scores["strong"] == 1.0


def test_normalize_none_uses_raw_scores() -> None:
    a = Fixed("a", "fast", {"fast": 0.6, "strong": 0.4})
    b = Fixed("b", "strong", {"fast": 0.1, "strong": 0.9})
    selection = weighted({a: 1, b: 1}, normalize="none").select(req("x"), ROUTES)
    assert selection.route == "strong"
    assert selection.scores == {"fast": 0.35, "strong": 0.65, "local": 0.0}


def test_weighted_with_real_selectors_and_nested_in_a_chain() -> None:
    sel = first_of(rules(), weighted({embeddings(None): 0.7, Fixed("prior", "fast"): 0.3}))
    assert sel.name == "chain(rules>weighted(embedding*0.7+prior*0.3))"
    assert sel.select(req("my password"), ROUTES).route == "local"
    proof = sel.select(req("prove the theorem"), ROUTES)
    assert proof.route == "strong"
    assert proof.reason.startswith("weighted(embedding*0.7+prior*0.3): combined score 0.700")


async def test_async_weighted_awaits_every_link() -> None:
    a, b = Fixed("a", "fast"), Fixed("b", "fast")
    selection = await weighted({a: 1, b: 1}).aselect(req("x"), ROUTES)
    assert selection.route == "fast"
    assert (a.async_calls, b.async_calls, a.sync_calls) == (1, 1, 0)


def test_weighted_passes_on_the_feedback_id_of_the_followed_learner() -> None:
    learner = Learner("learned", "strong", decision_id=ID)
    sel = weighted({learner: 0.6, Fixed("a", "fast"): 0.4})
    assert sel.select(req("x"), ROUTES).decision_id == ID
    overruled = weighted({learner: 0.4, Fixed("a", "fast"): 0.6})
    assert overruled.select(req("x"), ROUTES).decision_id is None
    sel.record_feedback(ID, 0.5)
    assert learner.feedback == [(ID, 0.5)]


@pytest.mark.parametrize(
    ("weights", "kwargs", "message"),
    [
        ({"a": -0.1}, {}, r"weight of 'a' is -0\.1"),
        ({"a": math.nan}, {}, "weight of 'a' is nan"),
        ({"a": math.inf}, {}, "finite"),
        ({"a": True}, {}, "finite numbers"),
        ({"a": 0.0}, {}, "every weight is 0"),
        ({}, {}, "at least one selector"),
        ({"a": 1.0}, {"threshold": 1.5}, r"\[0, 1\]"),
        ({"a": 1.0}, {"threshold": math.nan}, "finite"),
        ({"a": 1.0}, {"normalize": "softmax"}, "normalize"),
    ],
)
def test_bad_weights_fail_when_built(
    weights: dict[str, object], kwargs: dict[str, object], message: str
) -> None:
    pairs = [(Fixed(name, "fast"), w) for name, w in weights.items()]
    with pytest.raises(RouteConfigError, match=message):
        weighted(pairs, **kwargs)  # type: ignore[arg-type]


def test_raw_thresholds_may_leave_zero_one_with_normalize_none() -> None:
    sel = weighted({Fixed("a", "fast", {"fast": 3.0}): 1.0}, threshold=2.0, normalize="none")
    assert sel.select(req("x"), ROUTES).route == "fast"
