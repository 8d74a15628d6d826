"""sticky / escalate_only: threads, history, bounds, and both adapters keyed by thread id."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from routing_chat_model import RouteConfigError, Router, RoutingRequest, Rule, RuleSelector, Turn
from routing_chat_model.selectors import (
    EscalateOnlySelector,
    Selection,
    StickySelector,
    escalate_only,
    sticky,
    thread_id_of,
)

ROUTES = ("small", "tuned", "large")


def req(text: str, history: Sequence[Turn] = (), **metadata: object) -> RoutingRequest:
    return RoutingRequest.from_turns([*history, Turn("user", text)], metadata=metadata)


def rules() -> RuleSelector:
    """Billing words -> the fine-tuned model, "think hard" -> the large one, else abstain."""
    return RuleSelector(
        [
            Rule(route="tuned", keywords=["invoice", "refund", "charge"], name="billing"),
            Rule(route="large", keywords=["prove", "analyse"], name="hard"),
            Rule(route="small", keywords=["hi", "thanks", "joke"], name="chit-chat"),
        ]
    )


class Counting:
    """Wraps a selector and counts how often it is asked."""

    def __init__(self, inner: RuleSelector) -> None:
        self.inner = inner
        self.name = inner.name
        self.route_names = inner.route_names
        self.calls = 0

    def select(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        self.calls += 1
        return self.inner.select(request, candidates)

    async def aselect(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        self.calls += 1
        return await self.inner.aselect(request, candidates)


def test_thread_id_comes_from_the_first_metadata_key_present() -> None:
    assert thread_id_of(req("x", thread_id="t1", session_id="s1")) == "t1"
    assert thread_id_of(req("x", session_id="s1")) == "s1"
    assert thread_id_of(req("x", conversation_id=42)) == "42"
    assert thread_id_of(req("x", thread_id="")) is None
    assert thread_id_of(req("x", chat="c"), keys=["chat"]) == "c"
    assert thread_id_of(req("x")) is None


# -- sticky ---------------------------------------------------------------------------------


def test_sticky_keeps_a_thread_on_its_first_model() -> None:
    inner = Counting(rules())
    sel = sticky(inner)
    assert isinstance(sel, StickySelector)
    assert sel.name == "sticky(rules)"
    first = sel.select(req("refund my invoice", thread_id="a"), ROUTES)
    assert (first.route, first.reason) == ("tuned", "rules: billing")
    later = sel.select(req("thanks, tell me a joke", thread_id="a"), ROUTES)
    assert (later.route, later.reason) == ("tuned", "sticky: this thread stays on tuned")
    assert inner.calls == 1
    other = sel.select(req("thanks, tell me a joke", thread_id="b"), ROUTES)
    assert other.route == "small"
    assert sel.thread_count == 2


def test_sticky_without_thread_id_follows_the_last_answer_in_the_conversation() -> None:
    history = [Turn("user", "refund?"), Turn("assistant", "done", route="tuned")]
    sel = sticky(rules())
    held = sel.select(req("thanks, a joke", history), ROUTES)
    assert (held.route, held.reason) == (
        "tuned",
        "sticky: the conversation's last answer stays on tuned",
    )
    assert sel.select(req("thanks, a joke"), ROUTES).route == "small"  # no history, no thread
    assert sticky(rules(), use_history=False).select(req("joke", history), ROUTES).route == "small"


def test_sticky_moves_on_when_its_model_cannot_serve() -> None:
    sel = sticky(rules())
    sel.select(req("refund", thread_id="a"), ROUTES)
    moved = sel.select(req("thanks, a joke", thread_id="a"), ["small", "large"])
    assert moved.route == "small"
    assert moved.reason == "rules: chit-chat; tuned (held by this thread) cannot serve this request"
    assert sel.select(req("prove it", thread_id="a"), ROUTES).route == "small"  # the new hold


def test_an_abstention_is_not_remembered() -> None:
    sel = sticky(rules())
    assert sel.select(req("what's up", thread_id="a"), ROUTES).route is None
    assert sel.thread_count == 0
    assert sel.select(req("refund", thread_id="a"), ROUTES).route == "tuned"


def test_threads_are_bounded_and_can_be_forgotten() -> None:
    sel = sticky(rules(), max_threads=2)
    for thread in ("a", "b", "c"):
        sel.select(req("refund", thread_id=thread), ROUTES)
    assert sel.thread_count == 2
    assert sel.select(req("joke", thread_id="a"), ROUTES).route == "small"  # "a" was evicted
    assert sel.select(req("joke", thread_id="c"), ROUTES).route == "tuned"
    sel.forget("c")
    assert sel.select(req("joke", thread_id="c"), ROUTES).route == "small"
    sel.forget()
    assert sel.thread_count == 0


async def test_async_sticky_matches_sync() -> None:
    sel = sticky(rules())
    first = await sel.aselect(req("refund", session_id="s"), ROUTES)
    again = await sel.aselect(req("joke", session_id="s"), ROUTES)
    assert (first.route, again.route) == ("tuned", "tuned")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"keys": []}, "keys"), ({"keys": [""]}, "keys"), ({"max_threads": 0}, "max_threads")],
)
def test_bad_sticky_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(RouteConfigError, match=message):
        sticky(rules(), **kwargs)  # type: ignore[arg-type]


# -- escalate-only --------------------------------------------------------------------------


def test_escalate_only_never_drops_below_the_strongest_model_used() -> None:
    sel = escalate_only(rules(), order=ROUTES)
    assert isinstance(sel, EscalateOnlySelector)
    assert sel.name == "escalate_only(rules)"
    assert sel.select(req("hi", thread_id="a"), ROUTES).route == "small"
    assert sel.select(req("refund", thread_id="a"), ROUTES).route == "tuned"  # up: fine
    down = sel.select(req("thanks, a joke", thread_id="a"), ROUTES)
    assert down.route == "tuned"
    assert down.reason == (
        "escalate-only: the conversation already used tuned, so tuned answers instead of "
        "small (rules: chit-chat)"
    )
    assert sel.select(req("prove it", thread_id="a"), ROUTES).route == "large"
    assert sel.select(req("refund", thread_id="a"), ROUTES).route == "large"
    assert sel.select(req("hi", thread_id="b"), ROUTES).route == "small"  # another thread


def test_escalate_only_reads_the_conversation_and_lifts_abstentions() -> None:
    history = [Turn("user", "prove it"), Turn("assistant", "...", route="large")]
    sel = escalate_only(rules(), order=ROUTES)
    assert sel.select(req("thanks", history), ROUTES).route == "large"
    lifted = sel.select(req("what's up", history), ROUTES)  # rules abstain: default would be low
    assert lifted.route == "large"
    assert "instead of the default" in lifted.reason
    assert sel.select(req("what's up"), ROUTES).route is None  # nothing used yet: abstain


def test_escalate_only_takes_the_weakest_model_at_least_as_strong() -> None:
    history = [Turn("assistant", "...", route="tuned")]
    sel = escalate_only(rules(), order=ROUTES)
    assert sel.select(req("joke", history), ["small", "large"]).route == "large"
    stuck = sel.select(req("joke", [Turn("assistant", "...", route="large")]), ["small", "tuned"])
    assert stuck.route == "small"
    assert stuck.reason.endswith("no candidate is as strong as large, already used")


def test_escalate_only_validates_the_order() -> None:
    with pytest.raises(RouteConfigError, match=r"misses route\(s\) \['large'\]"):
        escalate_only(rules(), order=["small", "tuned"])
    with pytest.raises(RouteConfigError, match="at least 2 routes"):
        escalate_only(lambda r: "small", order=["small"])
    with pytest.raises(RouteConfigError, match="distinct"):
        escalate_only(lambda r: "small", order=["small", "small"])
    unknown = escalate_only(lambda r: "other", order=["small", "large"])
    history = [Turn("assistant", "...", route="large")]
    assert unknown.select(req("x", history), ["small", "large", "other"]).route == "other"


def test_policies_compose_and_show_in_the_decision() -> None:
    router = Router(list(ROUTES), selector=sticky(escalate_only(rules(), order=ROUTES)))
    decision = router.decide(req("refund", thread_id="t"))
    assert (decision.route, decision.selector) == ("tuned", "sticky(escalate_only(rules))")
    assert router.decide(req("joke", thread_id="t")).route == "tuned"


# -- through the adapters -------------------------------------------------------------------


def test_langgraph_thread_keeps_its_model_across_turns() -> None:
    pytest.importorskip("langgraph")
    from langchain_core.messages import HumanMessage
    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import START, MessagesState, StateGraph

    from routing_chat_model.langchain import RoutingChatModel
    from routing_chat_model.testing import ScriptedChatModel

    router = RoutingChatModel(
        models={name: ScriptedChatModel(model=f"{name}-llm") for name in ROUTES},
        selector=sticky(rules(), use_history=False),  # the thread id alone keeps the model
        default="small",
    )

    def answer(state: MessagesState) -> dict[str, object]:
        return {"messages": [router.invoke(state["messages"][-1:])]}

    graph = (
        StateGraph(MessagesState)
        .add_node("answer", answer)
        .add_edge(START, "answer")
        .compile(checkpointer=InMemorySaver())
    )

    def turn(thread: str, text: str) -> str:
        config: RunnableConfig = {"configurable": {"thread_id": thread}}
        state: MessagesState = {"messages": [HumanMessage(text)]}
        result = graph.invoke(state, config)
        return str(result["messages"][-1].response_metadata["routing"]["route"])

    assert turn("t1", "I need a refund for this invoice") == "tuned"
    assert turn("t1", "thanks! tell me a joke") == "tuned"  # same thread: same model
    assert turn("t2", "thanks! tell me a joke") == "small"
    assert len(graph.get_state({"configurable": {"thread_id": "t1"}}).values["messages"]) == 4


def test_langchain_history_escalates_without_a_thread_id() -> None:
    from langchain_core.messages import BaseMessage, HumanMessage

    from routing_chat_model.langchain import RoutingChatModel
    from routing_chat_model.testing import ScriptedChatModel

    router = RoutingChatModel(
        models={name: ScriptedChatModel(model=f"{name}-llm") for name in ROUTES},
        selector=escalate_only(rules(), order=ROUTES),
        default="small",
    )
    messages: list[BaseMessage] = [HumanMessage("please analyse this contract")]
    first = router.invoke(messages)
    assert first.response_metadata["routing"]["route"] == "large"
    messages += [first, HumanMessage("thanks, a joke")]
    second = router.invoke(messages)  # the earlier answer's routing metadata is the history
    assert second.response_metadata["routing"]["route"] == "large"
    assert second.response_metadata["routing"]["selector"] == "escalate_only(rules)"


async def test_llama_index_routing_metadata_thread_keeps_its_model() -> None:
    pytest.importorskip("llama_index.core")
    from llama_index.core.base.llms.types import ChatMessage

    from routing_chat_model.llama_index import RoutingChatModel
    from routing_chat_model.testing import ScriptedLLM

    llm = RoutingChatModel(
        models={name: ScriptedLLM(model=f"{name}-llm") for name in ROUTES},
        selector=escalate_only(rules(), order=ROUTES, use_history=False),
        default="small",
    )

    def route_of(response: object) -> str:
        return str(response.additional_kwargs["routing"]["route"])  # type: ignore[attr-defined]

    def ask(text: str) -> list[ChatMessage]:
        return [ChatMessage(role="user", content=text)]

    thread = {"thread_id": "ticket-7"}
    assert route_of(llm.chat(ask("a refund please"), routing_metadata=thread)) == "tuned"
    assert route_of(llm.chat(ask("thanks, a joke"), routing_metadata=thread)) == "tuned"
    later = await llm.achat(ask("hi"), routing_metadata=thread)
    assert route_of(later) == "tuned"
    assert route_of(llm.chat(ask("thanks, a joke"), routing_metadata={"thread_id": "x"})) == (
        "small"
    )
