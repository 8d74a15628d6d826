"""Feedback from production through the LangChain router: by answer and by LangChain run id."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import numpy as np
import pytest
from langchain_core.callbacks import BaseCallbackHandler

from routing_chat_model import LearnedSelector, RoutingInputError, Rule, RuleSelector
from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.testing import ScriptedChatModel
from tests.unit_tests.test_learned_fixtures import CHAT, BagEncoder, write_dataset


class RunIds(BaseCallbackHandler):
    def __init__(self) -> None:
        self.ids: list[UUID] = []

    def on_chat_model_start(self, serialized, messages, *, run_id, **kwargs):
        self.ids.append(run_id)


@pytest.fixture
def router(tmp_path: Path) -> RoutingChatModel:
    selector = LearnedSelector(
        write_dataset(tmp_path / "d.csv"), encoder=BagEncoder(), willingness_to_pay=0.05
    )
    return RoutingChatModel(
        models={
            "small": ScriptedChatModel(model="fake-small"),
            "strong": ScriptedChatModel(model="fake-strong"),
        },
        selector=selector,
    )


def test_failures_reported_by_answer_and_run_id_move_traffic(router: RoutingChatModel) -> None:
    rng = np.random.default_rng(3)
    chat = [" ".join(rng.choice(CHAT, size=4)) for _ in range(60)]
    assert all(router.invoke(t).response_metadata["routing"]["route"] == "small" for t in chat[:10])
    handler = RunIds()
    for i, text in enumerate(chat * 3):
        if i % 2:
            answer = router.invoke(text)
            if answer.response_metadata["routing"]["route"] == "small":
                router.record_feedback(answer, 0.0)
        else:
            streamed = list(router.stream(text, config={"callbacks": [handler]}))
            routing = streamed[0].response_metadata["routing"]
            if routing["route"] == "small":
                router.record_feedback(handler.ids[-1], 0.0)
    routes = [router.invoke(t).response_metadata["routing"]["route"] for t in chat[:10]]
    assert routes == ["strong"] * 10


def test_feedback_needs_a_learning_selector_and_a_known_call() -> None:
    plain = RoutingChatModel(
        models={"a": ScriptedChatModel(model="fake-a")},
        selector=RuleSelector([Rule(route="a", keywords=["x"])]),
    )
    with pytest.raises(RoutingInputError, match="does not learn from feedback"):
        plain.record_feedback(plain.invoke("x"), 1.0)


def test_unknown_run_id_is_a_clear_error(router: RoutingChatModel) -> None:
    with pytest.raises(RoutingInputError, match="no feedback id"):
        router.record_feedback(UUID(int=7), 1.0)
