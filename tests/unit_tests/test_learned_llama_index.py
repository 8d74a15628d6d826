"""A fitted `LearnedSelector` drives the LlamaIndex `RoutingChatModel`, and learns from feedback.

The dataset's model names ("small", "strong") are mapped to the app's route names ("fast",
"smart"); children are `ScriptedLLM`s whose answers name the model that wrote them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index_instrumentation import root_dispatcher
from pydantic import Field

from routing_chat_model import LearnedSelector, RoutingInputError
from routing_chat_model.llama_index import RoutingChatModel, RoutingDecisionEvent
from routing_chat_model.testing import ScriptedLLM

from .test_learned_fixtures import CHAT, MATH, BagEncoder, write_dataset

MAP = {"small": "fast", "strong": "smart"}


def _llm(selector: LearnedSelector) -> RoutingChatModel:
    return RoutingChatModel(
        models={"fast": ScriptedLLM(model="fake-fast"), "smart": ScriptedLLM(model="fake-smart")},
        selector=selector,
    )


@pytest.fixture
def selector(tmp_path: Path) -> LearnedSelector:
    return LearnedSelector(
        write_dataset(tmp_path / "d.csv"),
        encoder=BagEncoder(),
        model_map=MAP,
        willingness_to_pay=0.05,
    )


def _route(response: Any) -> str:
    return str(response.additional_kwargs["routing"]["route"])


class Decisions(BaseEventHandler):
    """Collects the router's `RoutingDecisionEvent`s (they carry the call's span id)."""

    events: list[RoutingDecisionEvent] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "Decisions"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, RoutingDecisionEvent):
            self.events.append(event)


@pytest.fixture
def decisions() -> Iterator[Decisions]:
    handler = Decisions()
    root_dispatcher.add_event_handler(handler)
    yield handler
    root_dispatcher.event_handlers.remove(handler)


def _chat_prompts(n: int) -> list[str]:
    rng = np.random.default_rng(5)
    return [" ".join(rng.choice(CHAT, size=4)) for _ in range(n)]


def test_routes_to_the_mapped_names_by_predicted_quality_and_cost(selector):
    llm = _llm(selector)
    math = llm.chat([ChatMessage(role="user", content=" ".join(MATH[:4]))])
    assert _route(math) == "smart" and "[fake-smart]" in str(math.message.content)
    chat = llm.complete("hello thanks movie dinner")
    assert _route(chat) == "fast" and "[fake-fast]" in chat.text
    decision = chat.additional_kwargs["routing"]
    assert decision["selector"] == "learned" and decision["decision_id"]


@pytest.mark.parametrize(
    "settings",
    # On 80 rows the default weight decay of "mf" shrinks its predictions a lot; use less.
    [{"method": "logistic"}, {"method": "mf", "mf_alpha": 0.5}],
)
def test_failures_reported_back_move_that_kind_of_prompt_to_the_other_model(tmp_path, settings):
    selector = LearnedSelector(
        write_dataset(tmp_path / "d.csv"),
        encoder=BagEncoder(),
        **settings,
        model_map=MAP,
        willingness_to_pay=0.05,
    )
    llm = _llm(selector)
    prompts = _chat_prompts(60)
    assert [_route(llm.complete(p)) for p in prompts[:10]] == ["fast"] * 10
    # In production "fast" keeps failing on chat prompts; each failure is reported back, by
    # plain, chat and streamed response, and by decision dict.
    for i, text in enumerate(prompts * 3):
        if i % 3 == 0:
            response: Any = llm.complete(text)
        elif i % 3 == 1:
            response = llm.chat([ChatMessage(role="user", content=text)])
        else:
            response = list(llm.stream_complete(text))[-1]
        if _route(response) == "fast":
            llm.record_feedback(response if i % 2 else response.additional_kwargs["routing"], 0.0)
    assert [_route(llm.complete(p)) for p in prompts[:10]] == ["smart"] * 10
    # Math prompts, about which nothing was reported, still go where they went.
    assert _route(llm.complete(" ".join(MATH[2:6]))) == "smart"


async def test_async_calls_are_routed_and_learn_too(selector):
    llm = _llm(selector)
    prompts = _chat_prompts(40)
    first = await llm.acomplete(prompts[0])
    assert _route(first) == "fast"
    for text in prompts * 3:
        response = await llm.achat([ChatMessage(role="user", content=text)])
        if _route(response) == "fast":
            llm.record_feedback(response, 0.0)
    assert _route(await llm.acomplete(prompts[0])) == "smart"


def test_feedback_by_the_span_id_of_the_decision_event(selector, decisions):
    llm = _llm(selector)
    prompts = _chat_prompts(40)
    for text in prompts * 3:
        if _route(llm.complete(text)) == "fast":
            event = decisions.events[-1]
            assert event.decision["route"] == "fast"
            llm.record_feedback(event.span_id, 0.0)
    assert _route(llm.complete(prompts[0])) == "smart"


def test_a_saved_selector_loads_and_drives_the_llm(selector, tmp_path):
    path = selector.save(tmp_path / "router")
    llm = _llm(LearnedSelector.load(path, encoder=BagEncoder()))
    assert _route(llm.complete(" ".join(MATH[:4]))) == "smart"
    assert _route(llm.complete("hello thanks movie dinner")) == "fast"


def test_feedback_on_an_answer_from_a_fallback_model_is_refused(tmp_path):
    sel = LearnedSelector(
        write_dataset(tmp_path / "d.csv"), encoder=BagEncoder(), model_map=MAP
    )  # best quality: "smart" on math prompts
    llm = RoutingChatModel(
        models={
            "fast": ScriptedLLM(model="fake-fast"),
            "smart": ScriptedLLM(model="fake-smart", errors=[TimeoutError("slow")]),
        },
        selector=sel,
    )
    response = llm.complete(" ".join(MATH[:4]))
    assert _route(response) == "fast"  # "smart" was chosen, timed out, "fast" answered
    with pytest.raises(RoutingInputError, match="fallback model"):
        llm.record_feedback(response, 0.0)


def test_record_feedback_rejects_what_it_cannot_credit(selector):
    llm = _llm(selector)
    response = llm.complete("hello thanks movie dinner")
    llm.record_feedback(response, 1.0, cost_usd=0.001)
    with pytest.raises(RoutingInputError, match=r"in \[0, 1\]"):
        llm.record_feedback(response, 1.5)
    with pytest.raises(RoutingInputError, match="no feedback id"):
        llm.record_feedback({"route": "fast"}, 1.0)
    plain = RoutingChatModel(models={"fast": ScriptedLLM(model="fake-fast")})
    with pytest.raises(RoutingInputError, match="does not learn from feedback"):
        plain.record_feedback(plain.complete("hi"), 1.0)
