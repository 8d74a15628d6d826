"""ClassifierSelector: fitting, calibrated probabilities, abstaining, validation, save/load."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from routing_chat_model import EncoderError, RouteConfigError, Router, RoutingRequest, Turn
from routing_chat_model.selectors import ClassifierSelector

ROUTES = ("billing", "chat")
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "clinc150"


def req(text: str) -> RoutingRequest:
    return RoutingRequest.from_turns([Turn("user", text)])


class BagEncoder:
    """Deterministic encoder: one axis per vocabulary word (unknown words are ignored)."""

    def __init__(self, vocab: Sequence[str], name: str = "bag") -> None:
        self.vocab = list(vocab)
        self.name = name
        self.sync_calls = 0
        self.async_calls = 0

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.vocab)), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                if word in self.vocab:
                    out[i, self.vocab.index(word)] += 1
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.sync_calls += 1
        return self._vectors(texts)

    async def aencode(self, texts: Sequence[str]) -> np.ndarray:
        self.async_calls += 1
        return self._vectors(texts)


VOCAB = ["invoice", "refund", "charge", "card", "bill", "hi", "thanks", "weather", "joke", "day"]
EXAMPLES = {
    "billing": [
        "invoice refund",
        "refund charge",
        "card charge",
        "bill invoice",
        "charge card bill",
        "refund card",
    ],
    "chat": ["hi thanks", "weather day", "joke", "hi joke", "thanks day", "weather hi"],
}


def fitted(**kw: object) -> ClassifierSelector:
    return ClassifierSelector.from_examples(EXAMPLES, BagEncoder(VOCAB), **kw)  # type: ignore[arg-type]


def test_routes_clear_cases_with_a_probability_per_route() -> None:
    sel = fitted()
    billing = sel.select(req("Why is there a refund on my card?"), ROUTES)
    chat = sel.select(req("hi, tell me a joke"), ROUTES)
    assert (billing.route, chat.route) == ("billing", "chat")
    assert set(billing.scores) == set(ROUTES)
    assert math.isclose(sum(billing.scores.values()), 1.0, abs_tol=1e-3)
    assert billing.scores["billing"] > 0.5 > billing.scores["chat"]
    assert billing.reason.startswith("probability ")  # 12 examples: too few to calibrate
    assert sel.route_names == frozenset(ROUTES)


def test_pairs_and_mapping_give_the_same_model() -> None:
    pairs = [(text, label) for label, texts in EXAMPLES.items() for text in texts]
    a = ClassifierSelector.from_examples(pairs, BagEncoder(VOCAB))
    b = fitted()
    vectors = BagEncoder(VOCAB).encode(["refund please", "nice day", "card joke"])
    np.testing.assert_allclose(a.probabilities(vectors), b.probabilities(vectors), atol=1e-6)


def test_threshold_abstains_and_zero_is_a_real_threshold() -> None:
    ambiguous = req("joke about my card")  # one word of each route
    strict = fitted(threshold=0.99)
    selection = strict.select(ambiguous, ROUTES)
    assert selection.route is None
    assert "below threshold 0.990" in selection.reason
    assert set(selection.scores) == set(ROUTES)  # scores are kept when abstaining
    zero = fitted(threshold=0.0)
    assert zero.threshold == 0.0
    assert zero.select(ambiguous, ROUTES).route is not None
    assert fitted(threshold=None).select(ambiguous, ROUTES).route is not None


def test_only_candidates_are_scored_and_probabilities_are_not_renormalised() -> None:
    sel = fitted(threshold=0.5)
    selection = sel.select(req("refund the charge on my card"), ["chat"])
    assert set(selection.scores) == {"chat"}
    # It looks like billing, which a gate excluded: abstain rather than force it onto chat.
    assert selection.route is None
    assert selection.scores["chat"] < 0.5


def test_empty_text_and_unknown_words_abstain() -> None:
    sel = fitted()
    assert sel.select(req("   "), ROUTES).reason == "no text to route on"
    assert sel.select(req("zzz qqq"), ROUTES).reason == "query embedding is all zeros"


async def test_async_select_awaits_the_encoder_and_matches_sync() -> None:
    encoder = BagEncoder(VOCAB)
    sel = ClassifierSelector.from_examples(EXAMPLES, encoder)
    sync_before = encoder.sync_calls
    a = await sel.aselect(req("refund my invoice"), ROUTES)
    assert (encoder.async_calls, encoder.sync_calls) == (1, sync_before)
    assert a == sel.select(req("refund my invoice"), ROUTES)


def test_labels_finer_than_routes_are_summed_per_route() -> None:
    intents = {
        "refund": ["refund card", "refund charge", "refund invoice"],
        "invoice": ["invoice bill", "bill invoice card", "invoice"],
        "smalltalk": ["hi thanks", "hi", "thanks day"],
        "fun": ["joke", "weather joke", "joke day"],
    }
    route_of = {"refund": "billing", "invoice": "billing", "smalltalk": "chat", "fun": "chat"}
    sel = ClassifierSelector.from_examples(intents, BagEncoder(VOCAB), route_of=route_of)
    assert sel.route_names == frozenset(ROUTES)
    assert sel.labels == ("refund", "invoice", "smalltalk", "fun")
    selection = sel.select(req("a refund for that invoice"), ROUTES)
    assert selection.route == "billing"
    assert math.isclose(sum(selection.scores.values()), 1.0, abs_tol=1e-3)


def _gaussian_data(n: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Three overlapping classes in 40 dims: a model fitted on few rows is overconfident."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(3, 40))
    labels = rng.integers(0, 3, size=n)
    x = centres[labels] * 0.35 + rng.normal(size=(n, 40))
    return x.astype(np.float32), [f"c{i}" for i in labels]


def test_temperature_scaling_makes_probabilities_honest() -> None:
    x, labels = _gaussian_data(240, seed=1)
    examples = [(f"row {i}", label) for i, label in enumerate(labels)]
    encoder = BagEncoder(VOCAB, name="gauss")
    raw = ClassifierSelector(encoder, l2=1e-4, calibration=0.0).fit(examples, vectors=x)
    calibrated = ClassifierSelector(encoder, l2=1e-4).fit(examples, vectors=x)
    assert (raw.calibrated, raw.temperature) == (False, 1.0)
    assert calibrated.calibrated and calibrated.temperature > 1.0  # softened

    test_x, test_labels = _gaussian_data(2000, seed=2)
    gold = np.array([calibrated.routes.index(label) for label in test_labels])

    def nll(sel: ClassifierSelector) -> float:
        probs = sel.probabilities(test_x)
        return float(-np.mean(np.log(probs[np.arange(len(gold)), gold] + 1e-12)))

    def gap(sel: ClassifierSelector) -> float:  # mean confidence minus accuracy
        probs = sel.probabilities(test_x)
        return float(probs.max(axis=1).mean() - (probs.argmax(axis=1) == gold).mean())

    assert nll(calibrated) < nll(raw)
    assert abs(gap(calibrated)) < abs(gap(raw))


def test_router_reports_the_classifier_decision() -> None:
    router = Router(["chat", "billing"], selector=fitted(), default="chat")
    decision = router.decide(req("my card was charged twice, refund it"))
    assert (decision.route, decision.selector, decision.abstained) == (
        "billing",
        "classifier",
        False,
    )
    assert set(decision.scores) == set(ROUTES)


def test_unfitted_selector_says_how_to_fit_it() -> None:
    sel = ClassifierSelector(BagEncoder(VOCAB))
    assert sel.route_names is None and not sel.fitted
    with pytest.raises(RouteConfigError, match=r"not fitted: call \.fit\(examples\)"):
        sel.select(req("refund"), ROUTES)
    with pytest.raises(RouteConfigError, match="not fitted"):
        sel.save("/nonexistent/x")


@pytest.mark.parametrize(
    ("examples", "kwargs", "message"),
    [
        ({"billing": ["refund"]}, {}, "at least 2 labels"),
        ({"billing": ["refund"], "chat": []}, {}, "at least 2 labels"),
        ({"billing": ["refund"], "chat": ["  "]}, {}, r"examples\['chat'\]\[0\].*non-empty"),
        ({"billing": "refund", "chat": ["hi"]}, {}, "is one string"),
        ([("refund", "billing"), ("hi", "")], {}, r"examples\[1\]: the label"),
        ([("refund", "billing"), "hi"], {}, r"examples\[1\] must be a \(text, label\) pair"),
        ("refund", {}, "mapping label -> texts"),
        (EXAMPLES, {"route_of": {"billing": "b"}}, r"does not map the label\(s\) \['chat'\]"),
        (EXAMPLES, {"route_of": {"billing": "x", "chat": "x"}}, "at least 2 routes"),
        (EXAMPLES, {"vectors": np.zeros((3, 4))}, "3 vector"),
        (EXAMPLES, {"vectors": np.full((12, 4), np.nan)}, "NaN"),
    ],
)
def test_bad_examples_fail_clearly(
    examples: object, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises((RouteConfigError, EncoderError), match=message):
        ClassifierSelector.from_examples(examples, BagEncoder(VOCAB), **kwargs)  # type: ignore[arg-type]


def test_nan_vectors_from_the_encoder_are_an_encoder_error() -> None:
    class NaNEncoder(BagEncoder):
        def encode(self, texts: Sequence[str]) -> np.ndarray:
            return np.full((len(texts), 3), np.nan, dtype=np.float32)

    with pytest.raises(EncoderError, match="NaN"):
        ClassifierSelector.from_examples(EXAMPLES, NaNEncoder(VOCAB))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 1.5}, "probability in"),
        ({"threshold": float("nan")}, "probability in"),
        ({"threshold": True}, "probability in"),
        ({"l2": 0}, "l2"),
        ({"l2": float("inf")}, "l2"),
        ({"calibration": 0.5}, "calibration"),
        ({"max_iter": 0}, "max_iter"),
        ({"max_chars": 1.5}, "max_chars"),
        ({"encoder": 42}, "encoder"),
    ],
)
def test_bad_settings_fail_when_built(kwargs: dict[str, object], message: str) -> None:
    kwargs.setdefault("encoder", BagEncoder(VOCAB))
    with pytest.raises(RouteConfigError, match=message):
        ClassifierSelector(**kwargs)  # type: ignore[arg-type]


def test_save_and_load_round_trip_without_pickle(tmp_path: Path) -> None:
    sel = fitted(threshold=0.7)
    path = sel.save(tmp_path / "support")
    assert path == tmp_path / "support.json"
    assert (tmp_path / "support.npz").is_file()
    settings = json.loads(path.read_text("utf-8"))
    assert settings["labels"] == ["billing", "chat"] and settings["threshold"] == 0.7
    with np.load(tmp_path / "support.npz", allow_pickle=False) as arrays:
        assert set(arrays.files) == {"weights", "bias", "mean", "scale"}

    loaded = ClassifierSelector.load(tmp_path / "support.json", encoder=BagEncoder(VOCAB))
    assert (loaded.threshold, loaded.route_names) == (0.7, sel.route_names)
    vectors = BagEncoder(VOCAB).encode(["refund card", "hi", "joke card"])
    np.testing.assert_allclose(loaded.probabilities(vectors), sel.probabilities(vectors))
    for text in ("refund card", "hi there", "joke card"):
        assert loaded.select(req(text), ROUTES) == sel.select(req(text), ROUTES)


def test_load_refuses_another_encoder_and_damaged_files(tmp_path: Path) -> None:
    path = fitted().save(tmp_path / "m")
    with pytest.raises(RouteConfigError, match="fitted with encoder 'bag'"):
        ClassifierSelector.load(path, encoder=BagEncoder(VOCAB, name="other"))
    with pytest.raises(RouteConfigError, match="no such file"):
        ClassifierSelector.load(tmp_path / "missing", encoder=BagEncoder(VOCAB))

    settings = json.loads(path.read_text("utf-8"))
    path.write_text(json.dumps({**settings, "version": 99}), "utf-8")
    with pytest.raises(RouteConfigError, match="version 99"):
        ClassifierSelector.load(path, encoder=BagEncoder(VOCAB))
    path.write_text(json.dumps({**settings, "labels": ["billing"]}), "utf-8")
    with pytest.raises(RouteConfigError, match="at least 2 routes"):
        ClassifierSelector.load(path, encoder=BagEncoder(VOCAB))
    path.write_text(json.dumps(settings), "utf-8")

    with np.load(tmp_path / "m.npz") as data:
        arrays = {name: data[name] for name in data.files}
    arrays["bias"] = np.array([np.nan, 0.0])
    np.savez(tmp_path / "m.npz", **arrays)
    with pytest.raises(RouteConfigError, match="NaN"):
        ClassifierSelector.load(path, encoder=BagEncoder(VOCAB))
    (tmp_path / "m.npz").write_bytes(b"not an npz")
    with pytest.raises(RouteConfigError, match="unreadable arrays"):
        ClassifierSelector.load(path, encoder=BagEncoder(VOCAB))


def test_default_encoder_routes_a_support_bot() -> None:
    sel = ClassifierSelector.from_examples(
        {
            "billing": [
                "I was charged twice this month",
                "how do I update my credit card",
                "can I get a refund for my last invoice",
                "why is my bill higher than usual",
                "cancel my subscription and stop the payments",
            ],
            "chat": [
                "hi there, how are you",
                "thanks, have a nice day",
                "tell me a joke",
                "good morning!",
                "what's your favourite movie",
            ],
        }
    )
    assert sel.select(req("There is a charge on my card I don't recognise"), ROUTES).route == (
        "billing"
    )
    assert sel.select(req("hello, how's it going?"), ROUTES).route == "chat"
    assert "wordllama" in repr(sel)


@pytest.mark.skipif(
    not (DATA / "train.jsonl").is_file(),
    reason=f"CLINC150 data not found at {DATA} (the shared data folder is absent)",
)
def test_clinc150_domains_from_a_small_sample() -> None:
    rows = [json.loads(line) for line in (DATA / "train.jsonl").open(encoding="utf-8")]
    val = [json.loads(line) for line in (DATA / "val.jsonl").open(encoding="utf-8")]
    per_domain: dict[str, list[str]] = {}
    per_intent: dict[str, int] = {}
    for row in rows:  # 3 examples of every intent: 45 a domain
        if row["domain"] != "oos" and per_intent.get(row["intent"], 0) < 3:
            per_intent[row["intent"]] = per_intent.get(row["intent"], 0) + 1
            per_domain.setdefault(row["domain"], []).append(row["text"])
    sel = ClassifierSelector.from_examples(per_domain)
    sample = [r for r in val if r["domain"] != "oos"][::6]
    probs = sel.probabilities(sel.encoder.encode([r["text"] for r in sample]))
    predicted = [sel.routes[i] for i in probs.argmax(axis=1)]
    accuracy = np.mean([p == r["domain"] for p, r in zip(predicted, sample, strict=True)])
    assert len(sel.routes) == 10
    assert accuracy > 0.6  # 45 examples a domain (the benchmark fits on all of them)
