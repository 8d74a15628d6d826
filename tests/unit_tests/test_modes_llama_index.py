"""Cascade and parallel modes through the LlamaIndex `RoutingChatModel` (scripted children)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from routing_chat_model.llama_index import RoutingChatModel
from routing_chat_model.modes import Cascade, JsonSchema, Judge, Parallel
from routing_chat_model.testing import ScriptedLLM

GOOD = "def add(a, b):\n    return a + b"
BAD = "def add(a, b):\n    return a - b"
PRICES = {
    "small": {"input_per_mtok": 1.0, "output_per_mtok": 2.0},
    "large": {"input_per_mtok": 100.0, "output_per_mtok": 200.0},
}
QUESTION = "Write a Python function add(a, b) that returns the sum."


def passes_tests(code: str) -> bool:
    scope: dict[str, Any] = {}
    exec(code, scope)  # the generated code, run like its unit test would
    return bool(scope["add"](2, 3) == 5)


def _router(small: str, large: str, mode: Any) -> tuple[RoutingChatModel, dict[str, ScriptedLLM]]:
    models = {
        "small": ScriptedLLM(model="small-1", responses=[small]),
        "large": ScriptedLLM(model="large-1", responses=[large]),
    }
    return RoutingChatModel(models=models, mode=mode, prices=PRICES), models


def _user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=text)]


def test_cascade_chat_escalates_when_the_code_fails_its_test():
    router, models = _router(BAD, GOOD, Cascade(checks=[passes_tests]))
    response = router.chat(_user(QUESTION))
    assert response.message.content == GOOD
    routing = response.additional_kwargs["routing"]
    assert routing["route"] == "large"
    assert routing["mode"] == "cascade"
    assert [(s["route"], s["accepted"]) for s in routing["steps"]] == [
        ("small", False),
        ("large", True),
    ]
    costs = [s["cost_usd"] for s in routing["steps"]]
    assert all(c is not None and c > 0 for c in costs)
    assert routing["cost_usd"] == pytest.approx(sum(costs))
    assert len(models["small"].calls) == len(models["large"].calls) == 1


def test_cascade_async_complete_and_streams():
    router, _ = _router(BAD, GOOD, Cascade(checks=[passes_tests]))
    response = asyncio.run(router.acomplete(QUESTION))
    assert response.text == GOOD
    assert response.additional_kwargs["routing"]["route"] == "large"

    router, _ = _router(BAD, GOOD, Cascade(checks=[passes_tests]))
    chunks = list(router.stream_chat(_user(QUESTION)))
    assert len(chunks) == 1
    assert chunks[0].delta == GOOD
    assert chunks[0].additional_kwargs["routing"]["steps"][0]["accepted"] is False

    router, _ = _router(BAD, GOOD, Cascade(checks=[passes_tests]))

    async def astream() -> list[Any]:
        return [c async for c in await router.astream_chat(_user(QUESTION))]

    chunks = asyncio.run(astream())
    assert [c.delta for c in chunks] == [GOOD]


def test_cascade_with_a_json_schema_check():
    schema = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}
    router, _ = _router("Paris", '{"city": "Paris"}', Cascade(checks=[JsonSchema(schema)]))
    response = router.complete("Answer in JSON: the capital of France?")
    routing = response.additional_kwargs["routing"]
    assert routing["route"] == "large"
    assert routing["steps"][0]["reason"] == "json_schema: not valid JSON"


def test_judge_is_a_llama_index_llm():
    judge = ScriptedLLM(model="judge-1", responses=["3", "9"])
    router, _ = _router(BAD, GOOD, Cascade(checks=[Judge(judge, threshold=0.5)]))
    routing = router.chat(_user(QUESTION)).additional_kwargs["routing"]
    assert routing["route"] == "large"
    assert [s["score"] for s in routing["steps"] if s["role"] == "judge"] == [0.3, 0.9]
    assert len(judge.calls) == 2


def test_parallel_first_valid_and_majority():
    router, models = _router(BAD, GOOD, Parallel(k=2, checks=[passes_tests]))
    response = asyncio.run(router.achat(_user(QUESTION)))
    assert response.additional_kwargs["routing"]["route"] == "large"
    assert response.additional_kwargs["routing"]["mode"] == "parallel"

    router, models = _router("Paris", "paris.", Parallel(k=2, aggregate="majority"))
    response = router.chat(_user("Capital of France?"))
    routing = response.additional_kwargs["routing"]
    assert routing["route"] == "small"
    assert routing["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in routing["steps"]))
    assert all(len(m.calls) == 1 for m in models.values())


def test_parallel_synthesizer_is_a_route():
    router, models = _router("a", "b", Parallel(k=2, aggregate="synthesize", synthesizer="large"))
    response = router.complete("Summarise.")
    routing = response.additional_kwargs["routing"]
    assert routing["route"] == "large"
    assert routing["steps"][-1]["role"] == "synthesize"
    assert len(models["large"].calls) == 2  # its own answer, then the synthesis
    assert "Answer 1:\na" in str(models["large"].calls[1].messages[-1].content)
