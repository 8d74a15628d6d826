"""LLM-as-router: a chat model picks the route from descriptions; failures abstain to the default."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_openai import ChatOpenAI
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from pydantic import SecretStr

from routing_chat_model import RouteConfigError, Router, RoutingRequest
from routing_chat_model.langchain import LLMRouterSelector as LCRouterSelector
from routing_chat_model.langchain import RoutingChatModel as LCRouter
from routing_chat_model.llama_index import LLMRouterSelector as LIRouterSelector
from routing_chat_model.llama_index import RoutingChatModel as LIRouter
from routing_chat_model.selectors.llm import LLMSelector, RoutePrompt, parse_route_answer
from routing_chat_model.testing import ScriptedChatModel, ScriptedLLM
from tests.support.openai_server import OpenAIServer, Reply, ToolCall

ROUTES = {"chat": "small talk and general questions", "billing": "invoices, refunds, payments"}
SECRET = "my card number is 4111"


def request(text: str) -> RoutingRequest:
    return RoutingRequest(text=text)


class Chooser:
    """Answers from a script and records the prompts it saw."""

    def __init__(self, answer: object = "billing") -> None:
        self.answer = answer
        self.prompts: list[RoutePrompt] = []

    def __call__(self, prompt: RoutePrompt) -> object:
        self.prompts.append(prompt)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


# -- the framework-free selector -------------------------------------------------------------


def test_prompt_carries_descriptions_and_request_and_the_answer_routes() -> None:
    chooser = Chooser("billing")
    selector = LLMSelector(ROUTES, chooser)

    selection = selector.select(request("I was charged twice"), ["chat", "billing"])

    assert selection.route == "billing"
    assert selection.reason == "model chose billing"
    [prompt] = chooser.prompts
    assert prompt.candidates == ("chat", "billing")
    assert "- billing: invoices, refunds, payments" in prompt.system
    assert "<request>\nI was charged twice\n</request>" in prompt.user


def test_decisions_are_cached_by_text_and_candidates_without_keeping_text() -> None:
    chooser = Chooser("billing")
    selector = LLMSelector(ROUTES, chooser, cache_size=2)

    first = selector.select(request(SECRET), ["chat", "billing"])
    second = selector.select(request(SECRET), ["chat", "billing"])
    assert (first.route, second.route) == ("billing", "billing")
    assert second.reason == "model chose billing (cached)"
    assert len(chooser.prompts) == 1
    selector.select(request(SECRET), ["billing", "chat", "other"])  # same routes asked: cached
    assert len(chooser.prompts) == 1
    assert "4111" not in repr(vars(selector))  # only hashes and route names are kept

    selector.select(request("two"), ["chat", "billing"])
    selector.select(request("three"), ["chat", "billing"])  # evicts SECRET (LRU of 2)
    selector.select(request(SECRET), ["chat", "billing"])
    assert len(chooser.prompts) == 4


def test_a_different_candidate_set_asks_again() -> None:
    chooser = Chooser("billing")
    selector = LLMSelector({**ROUTES, "local": "anything private"}, chooser)
    selector.select(request("refund"), ["chat", "billing"])
    selector.select(request("refund"), ["chat", "billing", "local"])
    assert [p.candidates for p in chooser.prompts] == [
        ("chat", "billing"),
        ("chat", "billing", "local"),
    ]


def test_a_failing_chooser_abstains_naming_only_the_exception_type() -> None:
    selector = LLMSelector(ROUTES, Chooser(TimeoutError(f"timed out on {SECRET!r}")))
    router = Router(["chat", "billing"], selector=selector, default="chat")

    decision = router.decide(request(SECRET))

    assert decision.route == "chat" and decision.abstained
    assert decision.reason == "routing model failed (TimeoutError); default answers"
    assert "4111" not in json.dumps(decision.to_dict())


def test_an_answer_outside_the_candidates_abstains_and_is_not_cached() -> None:
    chooser = Chooser(f"sales, because {SECRET}")
    selector = LLMSelector(ROUTES, chooser)
    router = Router(["chat", "billing"], selector=selector, default="chat")

    decision = router.decide(request("hello"))
    router.decide(request("hello"))

    assert decision.route == "chat" and decision.abstained
    assert decision.reason == "model answered outside the routes; default answers"
    assert "4111" not in decision.reason
    assert len(chooser.prompts) == 2  # a bad answer is asked again next time


def test_a_route_that_is_not_a_candidate_is_outside_the_routes() -> None:
    selector = LLMSelector(ROUTES, Chooser("billing"))
    assert selector.select(request("refund"), ["chat", "other"]).route == "chat"  # only candidate
    chooser = Chooser("billing")
    selector = LLMSelector({**ROUTES, "local": "private"}, chooser)
    assert selector.select(request("refund"), ["chat", "local"]).route is None


def test_no_model_call_without_a_choice_to_make() -> None:
    chooser = Chooser("billing")
    selector = LLMSelector(ROUTES, chooser)
    assert selector.select(request("hi"), ["billing"]).reason == "only candidate"
    assert selector.select(request("   "), ["chat", "billing"]).route is None
    assert selector.select(request("hi"), ["other"]).route is None
    assert chooser.prompts == []


async def test_async_awaits_the_async_chooser_and_falls_back_to_a_thread() -> None:
    seen: list[str] = []

    async def achoose(prompt: RoutePrompt) -> str:
        await asyncio.sleep(0)
        seen.append("async")
        return "chat"

    def choose(prompt: RoutePrompt) -> str:
        seen.append("sync")
        return "billing"

    both = LLMSelector(ROUTES, choose, achoose)
    assert (await both.aselect(request("hi"), ["chat", "billing"])).route == "chat"
    sync_only = LLMSelector(ROUTES, choose)
    assert (await sync_only.aselect(request("hi"), ["chat", "billing"])).route == "billing"
    assert seen == ["async", "sync"]


async def test_async_chooser_failure_abstains() -> None:
    async def achoose(prompt: RoutePrompt) -> str:
        raise ConnectionError("down")

    selector = LLMSelector(ROUTES, Chooser(), achoose)
    selection = await selector.aselect(request("hi"), ["chat", "billing"])
    assert selection.route is None and "ConnectionError" in selection.reason


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("billing", "billing"),
        ("  Billing.\n", "billing"),
        ('"chat"', "chat"),
        ('{"route": "billing"}', "billing"),
        ({"route": "chat"}, "chat"),
        ("The best route is billing.", "billing"),
        ("billing or chat", None),
        ("sales", None),
        ("billings", None),
        (None, None),
        (3, None),
    ],
)
def test_parse_route_answer(answer: object, expected: str | None) -> None:
    assert parse_route_answer(answer, ("chat", "billing")) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"routes": {}}, "non-empty mapping"),
        ({"routes": {"chat": " "}}, "description must be a non-empty string"),
        ({"routes": ROUTES, "cache_size": -1}, "cache_size must be an int >= 0"),
        ({"routes": ROUTES, "max_chars": 0}, "max_chars must be an int >= 1"),
    ],
)
def test_bad_settings_are_rejected_when_built(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(RouteConfigError, match=message):
        LLMSelector(choose=Chooser(), **kwargs)


def test_router_rejects_routes_that_are_not_models() -> None:
    with pytest.raises(RouteConfigError, match="not models"):
        Router(["chat"], selector=LLMSelector(ROUTES, Chooser()))


# -- LangChain ---------------------------------------------------------------------------------


def tool_answer(messages: list[BaseMessage]) -> AIMessage:
    """A routing model that calls the RouteChoice tool: billing words go to billing."""
    text = messages[-1].text
    route = "billing" if "refund" in text or "charged" in text else "chat"
    call = {"name": "RouteChoice", "args": {"route": route}, "id": "call_1"}
    return AIMessage(content="", tool_calls=[call])


def lc_router(selector: LCRouterSelector) -> LCRouter:
    return LCRouter(
        models={"chat": ScriptedChatModel(model="small"), "billing": ScriptedChatModel(model="ft")},
        selector=selector,
        default="chat",
    )


def test_langchain_routes_through_structured_output() -> None:
    routing_model = ScriptedChatModel(model="router", respond=tool_answer)
    router = lc_router(LCRouterSelector(routing_model, ROUTES))

    billing = router.invoke("I want a refund for order 12")
    chat = router.invoke("hello, how are you?")

    assert billing.response_metadata["routing"]["route"] == "billing"
    assert billing.response_metadata["routing"]["selector"] == "llm"
    assert billing.content == "[ft] I want a refund for order 12"
    assert chat.response_metadata["routing"]["route"] == "chat"
    call = routing_model.calls[0]
    [tool] = call.kwargs["tools"]
    assert tool["function"]["name"] == "RouteChoice"
    assert tool["function"]["parameters"]["properties"]["route"]["enum"] == ["chat", "billing"]
    assert call.kwargs["tool_choice"]  # forced: the structured-output path, not free text
    assert call.messages[0].type == "system"


async def test_langchain_async_uses_the_models_async_path() -> None:
    routing_model = ScriptedChatModel(model="router", respond=tool_answer)
    router = lc_router(LCRouterSelector(routing_model, ROUTES))
    answer = await router.ainvoke("I was charged twice")
    assert answer.response_metadata["routing"]["route"] == "billing"


def test_langchain_invalid_structured_answer_abstains_to_the_default() -> None:
    bad = AIMessage(
        content="", tool_calls=[{"name": "RouteChoice", "args": {"route": "sales"}, "id": "c"}]
    )
    routing_model = ScriptedChatModel(model="router", responses=[bad])
    router = lc_router(LCRouterSelector(routing_model, ROUTES))

    answer = router.invoke("I want a refund")

    routing = answer.response_metadata["routing"]
    assert routing["route"] == "chat"
    assert routing["reason"].startswith("routing model failed (")


def test_langchain_failing_routing_model_abstains_and_the_call_still_answers() -> None:
    routing_model = ScriptedChatModel.failing(TimeoutError("slow"), model="router")
    router = lc_router(LCRouterSelector(routing_model, ROUTES))
    answer = router.invoke("I want a refund")
    assert answer.response_metadata["routing"]["route"] == "chat"
    assert "TimeoutError" in answer.response_metadata["routing"]["reason"]


def test_langchain_model_without_structured_output_answers_in_text() -> None:
    routing_model = FakeListChatModel(responses=["Billing"])
    selector = LCRouterSelector(routing_model, ROUTES)
    assert not selector.structured
    answer = lc_router(selector).invoke("I want a refund")
    assert answer.response_metadata["routing"]["route"] == "billing"


def test_langchain_selector_validates_its_settings() -> None:
    with pytest.raises(RouteConfigError, match="BaseChatModel"):
        LCRouterSelector(object(), ROUTES)  # type: ignore[arg-type]
    with pytest.raises(RouteConfigError, match="method="):
        LCRouterSelector(ScriptedChatModel(), ROUTES, method="xml")  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(name="router") as srv:
        yield srv


def openai_model(server: OpenAIServer) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4o-mini", base_url=server.base_url, api_key=SecretStr("test"), max_retries=0
    )


def test_real_chat_openai_json_schema_answer(server: OpenAIServer) -> None:
    server.reply_next('{"route": "billing"}')
    router = lc_router(LCRouterSelector(openai_model(server), ROUTES))

    answer = router.invoke("I was charged twice")

    assert answer.response_metadata["routing"]["route"] == "billing"
    [sent] = server.requests_to("chat/completions")
    schema = sent.body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["route"]["enum"] == ["chat", "billing"]


async def test_real_chat_openai_tool_call_answer(server: OpenAIServer) -> None:
    server.reply_next(Reply(tool_calls=(ToolCall("RouteChoice", '{"route": "billing"}'),)))
    selector = LCRouterSelector(openai_model(server), ROUTES, method="function_calling")
    answer = await lc_router(selector).ainvoke("I was charged twice")
    assert answer.response_metadata["routing"]["route"] == "billing"
    [sent] = server.requests_to("chat/completions")
    assert sent.body["tools"][0]["function"]["name"] == "RouteChoice"


def test_real_chat_openai_server_error_abstains(server: OpenAIServer) -> None:
    server.fail_next(status=500)
    router = lc_router(LCRouterSelector(openai_model(server), ROUTES))
    answer = router.invoke("I was charged twice")
    assert answer.response_metadata["routing"]["route"] == "chat"
    reason = answer.response_metadata["routing"]["reason"]
    assert re.fullmatch(r"routing model failed \(\w+\); default answers", reason)


# -- LlamaIndex --------------------------------------------------------------------------------


def li_router(selector: LIRouterSelector) -> LIRouter:
    return LIRouter(
        models={"chat": ScriptedLLM(model="small"), "billing": ScriptedLLM(model="ft")},
        selector=selector,
        default="chat",
    )


USER = [ChatMessage(role=MessageRole.USER, content="I was charged twice")]


def test_llama_index_json_answer_through_structured_predict() -> None:
    routing_llm = ScriptedLLM(
        model="router", function_calling=False, responses=['{"route": "billing"}']
    )
    llm = li_router(LIRouterSelector(routing_llm, ROUTES))

    response = llm.chat(USER)

    assert response.additional_kwargs["routing"]["route"] == "billing"
    assert response.message.content == "[ft] I was charged twice"
    system = routing_llm.calls[0].messages[0].content or ""
    assert '"enum": ["chat", "billing"]' in system  # the schema the program asked for


async def test_llama_index_tool_call_answer_through_astructured_predict() -> None:
    # A function-calling fake calls the forced tool with the schema's first enum value.
    routing_llm = ScriptedLLM(model="router")
    routes = {"billing": ROUTES["billing"], "chat": ROUTES["chat"]}
    llm = li_router(LIRouterSelector(routing_llm, routes))

    response = await llm.achat(USER)

    assert response.additional_kwargs["routing"]["route"] == "billing"
    call = routing_llm.calls[0]
    assert call.method == "achat"
    [tool] = call.kwargs["tools"]
    assert tool["function"]["parameters"]["properties"]["route"]["enum"] == ["billing", "chat"]


def test_llama_index_invalid_answer_abstains_to_the_default() -> None:
    routing_llm = ScriptedLLM(model="router", function_calling=False, responses=["no idea"])
    response = li_router(LIRouterSelector(routing_llm, ROUTES)).chat(USER)
    routing = response.additional_kwargs["routing"]
    assert routing["route"] == "chat"
    assert routing["reason"].startswith("routing model failed (")


def test_llama_index_text_method_parses_the_name() -> None:
    routing_llm = ScriptedLLM(model="router", responses=["billing"])
    response = li_router(LIRouterSelector(routing_llm, ROUTES, method="text")).chat(USER)
    assert response.additional_kwargs["routing"]["route"] == "billing"
    assert "tools" not in routing_llm.calls[0].kwargs


def test_llama_index_braces_in_descriptions_and_request_are_not_placeholders() -> None:
    routing_llm = ScriptedLLM(
        model="router", function_calling=False, responses=['{"route": "chat"}']
    )
    selector = LIRouterSelector(routing_llm, {"chat": "json like {a: 1}", "billing": "{money}"})
    assert selector.select(request("what is {x}?"), ["chat", "billing"]).route == "chat"
    assert "{money}" in (routing_llm.calls[0].messages[0].content or "")


def test_cookbook_llm_router_recipe() -> None:
    path = Path(__file__).resolve().parents[2] / "cookbook" / "llm_router.py"
    spec = importlib.util.spec_from_file_location("cookbook_llm_router", path)
    assert spec is not None and spec.loader is not None
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    assert "Run it" in (recipe.__doc__ or "")
    records = recipe.main()
    assert [r["route"] for r in records] == ["chat", "billing", "billing", "chat"]
    assert records[2]["reason"] == "model chose billing (cached)"
    assert records[3]["reason"] == "routing model failed (TimeoutError); default answers"
