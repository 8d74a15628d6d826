"""Cascade and parallel modes through the LangChain `RoutingChatModel` (scripted children).

A coding assistant: the cheap model writes code first; a validator runs a tiny test on the
generated code, and a failing answer escalates to the next model.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.tools import tool

from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.modes import Cascade, Judge, NoAcceptedAnswerError, Parallel
from routing_chat_model.testing import ScriptedChatModel

GOOD = "def add(a, b):\n    return a + b"
BAD = "def add(a, b):\n    return a - b"
PRICES = {
    "small": {"input_per_mtok": 1.0, "output_per_mtok": 2.0},
    "medium": {"input_per_mtok": 10.0, "output_per_mtok": 20.0},
    "large": {"input_per_mtok": 100.0, "output_per_mtok": 200.0},
}
QUESTION = "Write a Python function add(a, b) that returns the sum."


def passes_tests(code: str) -> bool:
    scope: dict[str, Any] = {}
    exec(code, scope)  # the generated code, run like its unit test would
    return bool(scope["add"](2, 3) == 5)


def _models(small: str, medium: str, large: str) -> dict[str, ScriptedChatModel]:
    return {
        "small": ScriptedChatModel(model="small-1", responses=[small]),
        "medium": ScriptedChatModel(model="medium-1", responses=[medium]),
        "large": ScriptedChatModel(model="large-1", responses=[large]),
    }


def _router(models: dict[str, ScriptedChatModel], mode: Any) -> RoutingChatModel:
    return RoutingChatModel(models=models, mode=mode, prices=PRICES)


def test_cascade_escalates_until_the_generated_code_passes():
    models = _models(BAD, GOOD, GOOD)
    router = _router(models, Cascade(checks=[passes_tests]))
    message = router.invoke(QUESTION)

    assert message.content == GOOD
    routing = message.response_metadata["routing"]
    assert routing["route"] == "medium"
    assert routing["mode"] == "cascade"
    assert routing["accepted"] is True
    assert [(s["route"], s["accepted"]) for s in routing["steps"]] == [
        ("small", False),
        ("medium", True),
    ]
    assert routing["steps"][0]["reason"] == "passes_tests returned False"
    costs = [s["cost_usd"] for s in routing["steps"]]
    assert all(c is not None and c > 0 for c in costs)
    assert routing["cost_usd"] == pytest.approx(sum(costs))
    assert [a["route"] for a in routing["attempts"]] == ["small", "medium"]
    assert len(models["small"].calls) == 1
    assert models["large"].calls == []


def test_cascade_async_and_streaming_return_the_accepted_answer():
    router = _router(_models(BAD, BAD, GOOD), Cascade(checks=[passes_tests]))
    message = asyncio.run(router.ainvoke(QUESTION))
    assert message.content == GOOD
    assert message.response_metadata["routing"]["route"] == "large"

    router = _router(_models(BAD, GOOD, GOOD), Cascade(checks=[passes_tests]))
    chunks = list(router.stream(QUESTION))
    assert len(chunks) == 1  # the accepted answer, once checked, as one chunk
    assert chunks[0].content == GOOD
    assert chunks[0].response_metadata["routing"]["steps"][0]["accepted"] is False


def test_streamed_cascade_emits_one_decision_event_naming_the_answering_model():
    router = _router(_models(BAD, GOOD, GOOD), Cascade(checks=[passes_tests]))

    async def events() -> list[Any]:
        return [
            e
            async for e in router.astream_events(QUESTION, version="v2")
            if e["event"] == "on_custom_event" and e["name"] == "routing_decision"
        ]

    found = asyncio.run(events())
    assert len(found) == 1
    assert found[0]["data"]["route"] == "medium"


def test_cascade_can_raise_when_no_answer_passes():
    router = _router(_models(BAD, BAD, BAD), Cascade(checks=[passes_tests], if_none_pass="raise"))
    with pytest.raises(NoAcceptedAnswerError):
        router.invoke(QUESTION)


def test_cascade_judge_is_a_langchain_chat_model_and_its_cost_counts():
    def rate(messages: list[BaseMessage]) -> str:
        return "9" if "a + b" in messages[-1].text else "2"

    judge = ScriptedChatModel(model="judge-1", respond=rate)
    router = RoutingChatModel(
        models=_models(BAD, GOOD, GOOD),
        mode=Cascade(checks=[Judge(judge, threshold=0.7)]),
        prices={**PRICES, "judge-1": {"input_per_mtok": 1.0, "output_per_mtok": 1.0}},
    )
    routing = router.invoke(QUESTION).response_metadata["routing"]
    assert routing["route"] == "medium"
    judged = [s for s in routing["steps"] if s["role"] == "judge"]
    assert [s["score"] for s in judged] == [0.2, 0.9]
    assert all(s["cost_usd"] and s["cost_usd"] > 0 for s in judged)
    assert routing["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in routing["steps"]))
    assert len(judge.calls) == 2


def test_parallel_majority_vote_counts_every_models_cost():
    models = {
        "small": ScriptedChatModel(model="small-1", responses=["Paris."]),
        "medium": ScriptedChatModel(model="medium-1", responses=["paris"]),
        "large": ScriptedChatModel(model="large-1", responses=["Lyon"]),
    }
    router = _router(models, Parallel(k=3, aggregate="majority"))
    message = router.invoke("What is the capital of France?")
    routing = message.response_metadata["routing"]
    assert message.content == "Paris."
    assert routing["mode"] == "parallel"
    assert routing["route"] == "small"
    assert sorted(s["route"] for s in routing["steps"]) == ["large", "medium", "small"]
    assert routing["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in routing["steps"]))
    assert all(len(m.calls) == 1 for m in models.values())


def test_parallel_first_valid_async_takes_the_fast_valid_answer():
    models = {
        "small": ScriptedChatModel(model="small-1", responses=[GOOD]),
        "large": ScriptedChatModel(model="large-1", responses=[GOOD], latency_s=5.0),
    }
    router = RoutingChatModel(
        models=models, mode=Parallel(k=2, checks=[passes_tests]), prices=PRICES
    )
    message = asyncio.run(router.ainvoke(QUESTION))
    routing = message.response_metadata["routing"]
    assert routing["route"] == "small"
    assert routing["steps"][1]["error"] == "cancelled"


def test_parallel_synthesizer_merges_with_a_chat_model():
    synthesizer = ScriptedChatModel(model="writer-1", responses=["merged"])
    router = _router(
        _models("a", "b", "c"),
        Parallel(k=2, aggregate="synthesize", synthesizer=synthesizer),
    )
    message = router.invoke("Summarise the report.")
    routing = message.response_metadata["routing"]
    assert message.content == "merged"
    assert routing["route"] == "synthesizer"
    assert routing["steps"][-1]["role"] == "synthesize"
    prompt = synthesizer.calls[0].messages[-1].content
    assert "Answer 1:\na" in prompt and "Answer 2:\nb" in prompt


def test_calls_with_tools_bypass_the_mode():
    @tool
    def get_weather(city: str) -> str:
        """Weather in a city."""
        return "sunny"

    models = _models(BAD, GOOD, GOOD)
    router = _router(models, Cascade(checks=[passes_tests]))
    message = router.bind_tools([get_weather]).invoke("What is the weather in Paris?")
    assert isinstance(message, AIMessage)
    assert message.content == BAD  # not checked, not escalated: a plain routed call
    assert "mode" not in message.response_metadata["routing"]
    assert models["medium"].calls == []


def test_a_confined_request_never_reaches_a_judge_or_synthesiser_model_outside_the_router():
    from routing_chat_model import Compliance, NoCandidateError

    judge = ScriptedChatModel(model="judge-1", responses=["9"])
    sensitive = "My card is 4111 1111 1111 1111. " + QUESTION
    router = RoutingChatModel(
        models=_models(BAD, GOOD, GOOD),
        mode=Cascade(checks=[Judge(judge, threshold=0.7)]),
        gates=[Compliance(local=["small", "medium"])],
    )
    with pytest.raises(NoCandidateError, match=r"checks\.0 is a model outside"):
        router.invoke(sensitive)
    assert judge.calls == []  # the judge never saw the text
    # the same mode on a request nothing confined still uses the judge
    assert router.invoke(QUESTION).response_metadata["routing"]["accepted"] is True
    assert len(judge.calls) >= 1

    synthesizer = ScriptedChatModel(model="synth-1", responses=["merged"])
    parallel = RoutingChatModel(
        models=_models(GOOD, GOOD, GOOD),
        mode=Parallel(k=2, aggregate="synthesize", synthesizer=synthesizer),
        gates=[Compliance(local=["small", "medium"])],
    )
    with pytest.raises(NoCandidateError, match="synthesizer is a model outside"):
        parallel.invoke(sensitive)
    assert synthesizer.calls == []

    # a judge given as a function is the user's own code: allowed on confined requests
    local = RoutingChatModel(
        models=_models(BAD, GOOD, GOOD),
        mode=Cascade(checks=[Judge(lambda q, a: "a + b" in a)]),
        gates=[Compliance(local=["small", "medium"])],
    )
    routing = local.invoke(sensitive).response_metadata["routing"]
    assert routing["confined"] is True and routing["route"] == "medium"
