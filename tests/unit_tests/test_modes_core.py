"""Cascade and parallel modes on the framework-free core, with plain callables as models."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, ClassVar

import pytest

from routing_chat_model._capabilities import Usage
from routing_chat_model.errors import AllModelsFailedError, RouteConfigError
from routing_chat_model.modes import (
    Answer,
    Binding,
    Cascade,
    Confidence,
    JsonSchema,
    Judge,
    NoAcceptedAnswerError,
    Parallel,
    Score,
    normalise,
)
from routing_chat_model.pricing import Pricing
from routing_chat_model.router import Router

MODELS = ["fast", "mid", "strong"]
PRICES = {
    "fast": {"input_per_mtok": 1.0, "output_per_mtok": 2.0},
    "mid": {"input_per_mtok": 10.0, "output_per_mtok": 20.0},
    "strong": {"input_per_mtok": 100.0, "output_per_mtok": 200.0},
    "judge-model": {"input_per_mtok": 5.0, "output_per_mtok": 5.0},
}


def _router(selector: Any = None, **kwargs: Any) -> Router:
    return Router(
        MODELS,
        selector=selector or (lambda request: None),
        pricing=Pricing(PRICES, use_genai_prices=False),
        **kwargs,
    )


def _decide(router: Router, text: str = "write add(a, b)") -> Any:
    from routing_chat_model.request import RoutingRequest, Turn

    return router.decide(RoutingRequest.from_turns([Turn("user", text)]))


class Models:
    """Scripted answers per route, with a call log; a value that is an exception is raised."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def call(self, route: str) -> dict[str, Any]:
        with self.lock:
            self.calls.append(route)
        value = self.answers[route]
        if isinstance(value, BaseException):
            raise value
        return {"route": route, "text": value}

    async def acall(self, route: str) -> dict[str, Any]:
        await asyncio.sleep(0)
        return self.call(route)


def describe(result: dict[str, Any]) -> Answer:
    return Answer(
        text=result["text"],
        usage=Usage(10, 5),
        model_name=result["route"],
        logprob=result.get("logprob"),
    )


def _bind(models: Models, **kwargs: Any) -> Binding[dict[str, Any]]:
    return Binding(
        question="write add(a, b)",
        describe=describe,
        call=models.call,
        acall=models.acall,
        **kwargs,
    )


def _cost(route: str) -> float:
    price = PRICES[route]
    return (10 * price["input_per_mtok"] + 5 * price["output_per_mtok"]) / 1e6


GOOD = "def add(a, b):\n    return a + b"
BAD = "def add(a, b):\n    return a - b"


def passes_tests(code: str) -> bool:
    scope: dict[str, Any] = {}
    exec(code, scope)  # the generated code, checked like a test would
    assert scope["add"](2, 3) == 5
    return True


# -- cascade -------------------------------------------------------------------------------


def test_cascade_escalates_until_the_code_passes_its_tests_and_counts_every_step():
    router = _router()
    models = Models({"fast": BAD, "mid": BAD, "strong": GOOD})
    outcome = Cascade(checks=[passes_tests]).run(router, _decide(router), _bind(models))

    assert outcome.result["text"] == GOOD
    assert outcome.accepted is True
    assert models.calls == ["fast", "mid", "strong"]
    decision = outcome.decision
    assert decision.route == "strong"
    assert decision.selected == "fast"
    assert [a.route for a in decision.attempts] == ["fast", "mid", "strong"]
    assert [(s.route, s.accepted) for s in outcome.steps] == [
        ("fast", False),
        ("mid", False),
        ("strong", True),
    ]
    assert outcome.steps[0].reason == "passes_tests raised AssertionError"
    assert outcome.steps[0].cost_usd == pytest.approx(_cost("fast"))
    total = _cost("fast") + _cost("mid") + _cost("strong")
    assert decision.cost_usd == pytest.approx(total)
    assert decision.input_tokens == 30
    assert decision.output_tokens == 15
    routing = outcome.routing()
    assert routing["mode"] == "cascade"
    assert [s["route"] for s in routing["steps"]] == ["fast", "mid", "strong"]
    json.dumps(routing)  # plain data


def test_cascade_stops_at_the_first_accepted_answer():
    router = _router()
    models = Models({"fast": GOOD, "mid": GOOD, "strong": GOOD})
    outcome = Cascade(checks=[passes_tests]).run(router, _decide(router), _bind(models))
    assert models.calls == ["fast"]
    assert outcome.decision.route == "fast"
    assert outcome.decision.cost_usd == pytest.approx(_cost("fast"))


def test_cascade_escalates_past_a_provider_failure():
    router = _router()
    models = Models({"fast": TimeoutError("slow"), "mid": GOOD, "strong": GOOD})
    outcome = Cascade(checks=[passes_tests]).run(router, _decide(router), _bind(models))
    assert outcome.decision.route == "mid"
    fast = outcome.steps[0]
    assert (fast.route, fast.error, fast.accepted, fast.cost_usd) == (
        "fast",
        "TimeoutError",
        None,
        None,
    )
    assert [a.error for a in outcome.decision.attempts] == ["TimeoutError", None]
    assert outcome.decision.cost_usd == pytest.approx(_cost("mid"))


def test_cascade_propagates_errors_that_do_not_fall_back():
    router = _router()
    models = Models({"fast": ValueError("bad request"), "mid": GOOD, "strong": GOOD})
    with pytest.raises(ValueError, match="bad request"):
        Cascade().run(router, _decide(router), _bind(models))
    assert models.calls == ["fast"]


def test_cascade_best_effort_returns_the_last_answer_unaccepted():
    router = _router()
    models = Models({"fast": BAD, "mid": BAD, "strong": BAD})
    outcome = Cascade(checks=[passes_tests]).run(router, _decide(router), _bind(models))
    assert outcome.accepted is False
    assert outcome.decision.route == "strong"
    assert all(s.accepted is False for s in outcome.steps)


def test_cascade_can_raise_when_nothing_passes():
    router = _router()
    models = Models({"fast": BAD, "mid": BAD, "strong": BAD})
    mode = Cascade(checks=[passes_tests], max_steps=2, if_none_pass="raise")
    with pytest.raises(NoAcceptedAnswerError) as info:
        mode.run(router, _decide(router), _bind(models))
    assert [s.route for s in info.value.steps] == ["fast", "mid"]
    assert models.calls == ["fast", "mid"]


def test_cascade_when_every_model_fails_raises_all_models_failed():
    router = _router()
    boom = ConnectionError("down")
    models = Models({"fast": boom, "mid": boom, "strong": boom})
    with pytest.raises(AllModelsFailedError) as info:
        Cascade().run(router, _decide(router), _bind(models))
    assert info.value.routes == ("fast", "mid", "strong")


def test_cascade_starts_at_the_selected_model_and_honours_order():
    router = _router(selector=lambda request: "mid")
    models = Models({"fast": BAD, "mid": BAD, "strong": GOOD})
    outcome = Cascade(checks=[passes_tests]).run(router, _decide(router), _bind(models))
    assert models.calls == ["mid", "strong"]
    models.calls.clear()
    first = Cascade(["fast", "strong"], checks=[passes_tests], start="first")
    outcome = first.run(router, _decide(router), _bind(models))
    assert models.calls == ["fast", "strong"]
    assert outcome.decision.route == "strong"


def test_cascade_async_path_matches_the_sync_one():
    router = _router()
    models = Models({"fast": BAD, "mid": GOOD, "strong": GOOD})
    outcome = asyncio.run(
        Cascade(checks=[passes_tests]).arun(router, _decide(router), _bind(models))
    )
    assert outcome.decision.route == "mid"
    assert [s.accepted for s in outcome.steps] == [False, True]


def test_retries_of_the_attempt_loop_apply_to_each_step():
    from routing_chat_model.policy.retry import RetryPolicy

    router = _router(retry=RetryPolicy(max_attempts=2), sleep=lambda s: None)
    answers = iter([ConnectionError("once"), GOOD])

    def call(route: str) -> dict[str, Any]:
        value = next(answers)
        if isinstance(value, BaseException):
            raise value
        return {"route": route, "text": value}

    bind = Binding(question="q", describe=describe, call=call)
    outcome = Cascade(checks=[passes_tests]).run(router, _decide(router), bind)
    assert outcome.decision.route == "fast"
    assert [(a.route, a.retry) for a in outcome.decision.attempts] == [("fast", 0), ("fast", 1)]


# -- checks --------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("text", "ok", "reason"),
    [
        ('{"name": "Ada", "age": 36}', True, ""),
        ('```json\n{"name": "Ada", "age": 36}\n```', True, ""),
        ('{"name": "Ada"}', False, "json_schema: $: missing required property 'age'"),
        ('{"name": "Ada", "age": -1}', False, "json_schema: $.age: below the minimum 0"),
        ('{"name": "Ada", "age": 1, "x": 2}', False, "json_schema: $.x: no value is allowed"),
        ("Ada is 36", False, "json_schema: not valid JSON"),
    ],
)
def test_json_schema_check(text, ok, reason):
    verdict = JsonSchema(SCHEMA).check("q", Answer(text))
    assert verdict.ok is ok
    assert verdict.reason.startswith(reason)


def test_json_schema_refuses_keywords_it_cannot_check():
    with pytest.raises(RouteConfigError, match=r"\$ref"):
        JsonSchema({"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}})


def test_confidence_check_reads_the_models_log_probabilities():
    check = Confidence(0.8)
    assert check.check("q", Answer("x", logprob=-0.05)).ok  # exp(-0.05) ~ 0.95
    low = check.check("q", Answer("x", logprob=-1.0))
    assert not low.ok
    assert low.reason == "confidence: 0.368 < 0.8"
    assert not check.check("q", Answer("x")).ok
    assert Confidence(0.8, missing="accept").check("q", Answer("x")).ok


def test_cascade_escalates_on_low_confidence():
    router = _router()

    def call(route: str) -> dict[str, Any]:
        return {"route": route, "text": "Paris", "logprob": -2.0 if route == "fast" else -0.01}

    bind = Binding(question="capital of France?", describe=describe, call=call)
    outcome = Cascade(checks=[Confidence(0.9)]).run(router, _decide(router), bind)
    assert outcome.decision.route == "mid"


def test_judge_check_counts_the_judges_cost():
    router = _router()
    models = Models({"fast": "meh", "mid": "great", "strong": "great"})
    asked: list[tuple[str, str]] = []

    def judge(question: str, answer: str) -> Score:
        asked.append((question, answer))
        return Score(1.0 if answer == "great" else 0.0, Usage(100, 1), model_name="judge-model")

    outcome = Cascade(checks=[Judge(judge)]).run(router, _decide(router), _bind(models))
    assert outcome.decision.route == "mid"
    assert asked == [("write add(a, b)", "meh"), ("write add(a, b)", "great")]
    roles = [(s.route, s.role) for s in outcome.steps]
    assert roles == [("fast", "answer"), ("fast", "judge"), ("mid", "answer"), ("mid", "judge")]
    judge_cost = (100 * 5.0 + 1 * 5.0) / 1e6
    assert outcome.steps[1].cost_usd == pytest.approx(judge_cost)
    expected = _cost("fast") + _cost("mid") + 2 * judge_cost
    assert outcome.decision.cost_usd == pytest.approx(expected)


def test_a_model_judge_must_be_bound_by_an_adapter():
    class FrameworkModel:  # pydantic-like: not taken for a plain callable
        model_fields: ClassVar[dict[str, Any]] = {}

        def __call__(self, *args: Any) -> bool:
            raise AssertionError("never called directly")

    mode = Cascade(checks=[Judge(FrameworkModel())])
    bound = mode.bind_judges("test", lambda model: ((lambda q, a: True), None))
    assert bound is mode.bind_judges("test", lambda model: None)  # cached per framework
    router = _router()
    outcome = bound.run(router, _decide(router), _bind(Models(dict.fromkeys(MODELS, "x"))))
    assert outcome.decision.route == "fast"


def test_mode_settings_are_checked_when_built():
    with pytest.raises(RouteConfigError, match="max_steps"):
        Cascade(max_steps=0)
    with pytest.raises(RouteConfigError, match="not models"):
        Cascade(["fast", "huge"]).validate(MODELS)
    with pytest.raises(RouteConfigError, match="aggregate"):
        Parallel(aggregate="best")
    with pytest.raises(RouteConfigError, match="needs judge"):
        Parallel(aggregate="judge")
    with pytest.raises(RouteConfigError, match="needs synthesizer"):
        Parallel(aggregate="synthesize")
    with pytest.raises(RouteConfigError, match="is not a check"):
        Cascade(checks=[42])
    with pytest.raises(RouteConfigError, match="if_none_pass"):
        Parallel(if_none_pass="never")


# -- parallel ------------------------------------------------------------------------------


def test_parallel_majority_vote_on_normalised_text():
    router = _router()
    models = Models({"fast": "Paris.", "mid": "paris", "strong": "Lyon"})
    outcome = Parallel(k=3, aggregate="majority").run(router, _decide(router), _bind(models))
    assert outcome.decision.route == "fast"
    assert normalise(outcome.result["text"]) == "paris"
    assert sorted(models.calls) == sorted(MODELS)
    assert outcome.decision.cost_usd == pytest.approx(sum(_cost(r) for r in MODELS))
    assert [s.route for s in outcome.steps] == MODELS
    assert outcome.steps[2].reason == "not chosen: outvoted"


def test_parallel_majority_counts_only_answers_that_pass_the_checks():
    router = _router()
    models = Models({"fast": BAD, "mid": BAD, "strong": GOOD})
    mode = Parallel(k=3, aggregate="majority", checks=[passes_tests])
    outcome = mode.run(router, _decide(router), _bind(models))
    assert outcome.decision.route == "strong"
    assert outcome.accepted is True


def test_parallel_judge_picks_the_best_answer():
    router = _router()
    models = Models({"fast": "ok", "mid": "best", "strong": "good"})
    scores = {"ok": 0.2, "best": 0.9, "good": 0.5}
    mode = Parallel(routes=MODELS, aggregate="judge", judge=lambda q, a: scores[a])
    outcome = mode.run(router, _decide(router), _bind(models))
    assert outcome.decision.route == "mid"
    assert [s.score for s in outcome.steps if s.role == "judge"] == [0.2, 0.9, 0.5]
    async_outcome = asyncio.run(mode.arun(router, _decide(router), _bind(models)))
    assert async_outcome.decision.route == "mid"


def test_parallel_synthesis_merges_the_answers():
    router = _router()
    models = Models({"fast": "a", "mid": "b", "strong": "c"})
    seen: list[list[str]] = []

    def synthesize(question: str, answers: Any) -> dict[str, Any]:
        seen.append([a.text for a in answers])
        return {"route": "strong", "text": " + ".join(a.text for a in answers)}

    async def asynthesize(question: str, answers: Any) -> dict[str, Any]:
        return synthesize(question, answers)

    mode = Parallel(k=2, aggregate="synthesize", synthesizer="strong")
    bind = _bind(models, synthesize=synthesize, asynthesize=asynthesize)
    outcome = mode.run(router, _decide(router), bind)
    assert outcome.result["text"] == "a + b"
    assert outcome.decision.route == "strong"
    assert outcome.steps[-1].role == "synthesize"
    total = _cost("fast") + _cost("mid") + _cost("strong")
    assert outcome.decision.cost_usd == pytest.approx(total)
    assert asyncio.run(mode.arun(router, _decide(router), bind)).result["text"] == "a + b"


def test_parallel_first_valid_async_cancels_the_slower_models():
    router = _router()
    cancelled: list[str] = []

    async def acall(route: str) -> dict[str, Any]:
        if route == "fast":
            await asyncio.sleep(0)
            return {"route": route, "text": GOOD}
        try:
            await asyncio.Event().wait()  # never answers on its own
        except asyncio.CancelledError:
            cancelled.append(route)
            raise
        raise AssertionError("unreachable")

    bind = Binding(question="q", describe=describe, acall=acall)
    mode = Parallel(k=3, checks=[passes_tests])
    outcome = asyncio.run(mode.arun(router, _decide(router), bind))
    assert outcome.decision.route == "fast"
    assert sorted(cancelled) == ["mid", "strong"]
    assert [(s.route, s.error) for s in outcome.steps] == [
        ("fast", None),
        ("mid", "cancelled"),
        ("strong", "cancelled"),
    ]
    assert outcome.decision.cost_usd == pytest.approx(_cost("fast"))


def test_parallel_first_valid_skips_invalid_answers():
    router = _router()
    models = Models({"fast": BAD, "mid": GOOD, "strong": BAD})
    outcome = Parallel(k=3, checks=[passes_tests]).run(router, _decide(router), _bind(models))
    assert outcome.decision.route == "mid"
    assert outcome.accepted


def test_parallel_sync_first_valid_does_not_wait_for_a_slow_loser():
    router = _router()
    release = threading.Event()

    def call(route: str) -> dict[str, Any]:
        if route == "mid":
            release.wait(5)  # a slow model; the fast answer must not wait for it
        return {"route": route, "text": GOOD}

    bind = Binding(question="q", describe=describe, call=call)
    try:
        outcome = Parallel(k=2, checks=[passes_tests]).run(router, _decide(router), bind)
    finally:
        release.set()
    assert outcome.decision.route == "fast"
    assert outcome.steps[1].error == "cancelled"


def test_parallel_default_branches_follow_the_fallback_plan_and_gates():
    router = _router(selector=lambda request: "mid")
    models = Models({"fast": "x", "mid": "x", "strong": "x"})
    outcome = Parallel(k=2, aggregate="majority").run(router, _decide(router), _bind(models))
    assert sorted(models.calls) == ["fast", "mid"]  # mid, then the plan's next: fast
    assert outcome.decision.route == "mid"


def test_parallel_when_every_model_fails_raises_all_models_failed():
    router = _router()
    boom = TimeoutError("down")
    models = Models(dict.fromkeys(MODELS, boom))
    with pytest.raises(AllModelsFailedError):
        Parallel(k=3).run(router, _decide(router), _bind(models))
    with pytest.raises(AllModelsFailedError):
        asyncio.run(Parallel(k=3).arun(router, _decide(router), _bind(models)))


def test_modes_leave_forced_routes_and_tool_rounds_alone():
    router = _router()
    decision = _decide(router)
    assert Cascade.applies(decision)
    assert not Cascade.applies(decision.evolve(selector="override"))
    assert not Parallel.applies(decision.evolve(selector="tool_round"))
