"""Compliance: detectors, and the gate keeping sensitive requests on local models on every path.

The remote fakes raise `AssertionError` (not a provider failure, so it would propagate) if they
are ever called, and every test also asserts they recorded no call.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from routing_chat_model import (
    AllModelsFailedError,
    EmbeddingSelector,
    ModelCapabilities,
    NoCandidateError,
    RouteConfigError,
    Router,
    RoutingRequest,
    StreamInterruptedError,
    Turn,
)
from routing_chat_model.langchain import RoutingChatModel as LCRouter
from routing_chat_model.llama_index import RoutingChatModel as LIRouter
from routing_chat_model.policy.compliance import (
    CARD_DETECTOR,
    DEFAULT_DETECTORS,
    EMAIL_DETECTOR,
    IBAN_DETECTOR,
    NATIONAL_ID_DETECTOR,
    PHONE_DETECTOR,
    SECRET_DETECTOR,
    Compliance,
    ComplianceError,
    Detector,
    RegexDetector,
)
from routing_chat_model.testing import ScriptedChatModel, ScriptedLLM

# -- detectors ---------------------------------------------------------------------------------

DETECTOR_CASES: dict[Detector, tuple[list[str], list[str]]] = {
    EMAIL_DETECTOR: (
        ["mail jane.doe@example.org now", "x: a.b+c@mail.co.uk", "JANE@EXAMPLE.COM"],
        ["user@localhost", "@jane hi", "icon@2x.png", "a@b.c", "decorator @property"],
    ),
    PHONE_DETECTOR: (
        [
            "call +44 20 7946 0958",
            "+1 (415) 555-0132",
            "+15551234567",
            "(415) 555-0132",
            "415-555-0132",
            "020 7946 0958",
            "07700 900123",
            "06 12 34 56 78",
            "030 12345678",
            "+33 6 12 34 56 78",
            "+44 (0)20 7946 0958",
        ],
        [
            "order 5551234567",
            "on 2024-01-15",
            "v1.2.3",
            "01.02.2024 10:30",
            "01/02/2024",
            "ip 192.168.100.200",
            "+5 points",
            "+12.5%",
            "123-456-7890",
            "version 10.0.19041",
            "0.123456789",
            "ISBN 978-0-306-40615-7",
            "1,234,567,890",
        ],
    ),
    CARD_DETECTOR: (
        ["card 4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005", "4111111111111111."],
        [
            "4111 1111 1111 1112",  # fails Luhn
            "1234567812345670",  # passes Luhn, no card network starts with 1
            "order 4111111111111112",
            "ts 1700000000000",
            "4111 1111-1111 1111",
        ],
    ),
    IBAN_DETECTOR: (
        [
            "GB82 WEST 1234 5698 7654 32",
            "iban DE89370400440532013000 ok",
            "GB82 WEST 1234 5698 7654 32 is mine",
            "FR14 2004 1010 0505 0001 3M02 606",
        ],
        [
            "GB82 WEST 1234 5698 7654 33",  # fails mod-97
            "DE89370400440532013001",
            "XX82WEST12345698765432",  # no such country
            "GB82 WEST 1234 5698 7654 3",  # too short for GB
        ],
    ),
    NATIONAL_ID_DETECTOR: (
        [
            "ssn 123-45-6789",
            "SSN: 123456789",
            "NI AB 12 34 56 C",
            "AB123456C",
            "DNI 12345678Z",
            "NIE X1234567L",
        ],
        [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "123-00-4567",
            "123-45-0000",
            "078-05-1120",  # the Woolworth wallet sample
            "GB 12 34 56 A",
            "AB123456E",
            "DA123456A",
            "12345678A",  # wrong DNI check letter
            "123456789",
            "2024-01-15",
            "123-45-67890",
        ],
    ),
    SECRET_DETECTOR: (
        [
            "key sk-proj-abc123DEF456ghi789JKL0",
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_" + "a1B2" * 9,
            "xoxb-1234567890-abcdef",
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9abc123",
            "-----BEGIN PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----",
            "api_key = 'f3a9c1d2e4b5a6c7'",
            'password: "hunter22"',
            "DB_PASSWORD=Zq8!kP2#xR",
            '"client_secret": "aB3dE5fG7hJ9kL1m"',
            "AIza" + "B" * 20 + "c1" * 7 + "x",
            "sk_live_" + "a1" * 10,
        ],
        [
            "scikit-learn sk-learn",
            "sk-this-is-a-long-hyphenated-phrase",
            "AKIA1234",
            "akiaiosfodnn7example",
            "the bearer of bad news",
            "bearer responsibilities",
            "api_key=YOUR_API_KEY",
            "password = None",
            "api_key=os.environ['OPENAI_API_KEY']",
            "token: <your-token>",
            "password: ${DB_PASSWORD}",
            "max_tokens=4096",
            "tokenizer = AutoTokenizer.from_pretrained",
            "secret = settings.secret_key",
            "password: ********",
            "-----BEGIN PUBLIC KEY-----",
            "api_key=api_key",
        ],
    ),
}
POSITIVES = [(d.name, text) for d, (pos, _) in DETECTOR_CASES.items() for text in pos]
NEGATIVES = [(d.name, text) for d, (_, neg) in DETECTOR_CASES.items() for text in neg]
BY_NAME = {d.name: d for d in DETECTOR_CASES}


@pytest.mark.parametrize(("name", "text"), POSITIVES)
def test_detector_flags_sensitive_text(name: str, text: str) -> None:
    assert BY_NAME[name].detect(f"Hello, here it is: {text}. Thanks!")


@pytest.mark.parametrize(("name", "text"), NEGATIVES)
def test_detector_leaves_near_misses_alone(name: str, text: str) -> None:
    assert not BY_NAME[name].detect(text)


BENIGN = (
    "Summarise the release notes for v2.3.1 (2024-01-15): 12 fixes, 3 features, build 20240115."
    " The password policy changed; see the settings page. Version 10.0.19041 is required."
)


def test_default_detectors_leave_ordinary_prose_alone() -> None:
    assert [d.name for d in DEFAULT_DETECTORS if d.detect(BENIGN * 50)] == []


def test_detectors_run_in_linear_time_on_adversarial_input() -> None:
    """Long runs that nearly match must not backtrack catastrophically (the call would hang)."""
    for text in ["1 " * 5000, "+1" * 5000, "a" * 10_000 + "@", "GB82 " * 2000, "sk-" * 3000]:
        for detector in DEFAULT_DETECTORS:
            detector.detect(text)


def test_users_add_detectors_as_regexes_functions_or_objects() -> None:
    class Codename:
        name = "codename"

        def detect(self, text: str) -> bool:
            return "falcon" in text.lower()

    def patient_id(text: str) -> bool:
        return "MRN-" in text

    gate = Compliance(
        local=["local"],
        detectors=[*DEFAULT_DETECTORS, Codename(), patient_id, re.compile(r"\bPRJ-\d+\b")],
    )
    assert [d.name for d in gate.detectors][-3:] == ["codename", "patient_id", "pattern_8"]
    named = Compliance(local=["local"], detectors={"ticket": re.compile(r"TCK-\d+")})
    assert named.scan(req("see TCK-42")) == ("ticket",)
    assert gate.scan(req("Project Falcon, MRN-1, PRJ-7")) == ("codename", "patient_id", "pattern_8")
    assert RegexDetector("x", r"\d{3}", lambda m: m.group() == "123").detect("999 123")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"local": []}, "name at least one local model"),
        ({"local": "ollama"}, "give a list of model names"),
        ({"local": ["a", "a"]}, "duplicate"),
        ({"local": ["a", ""]}, "non-empty"),
        ({"local": ["a"], "detectors": ["password"]}, "re.compile"),
        ({"local": ["a"], "detectors": [42]}, "not a Detector"),
        ({"local": ["a"], "detectors": [EMAIL_DETECTOR, EMAIL_DETECTOR]}, "duplicate names"),
        ({"local": ["a"], "detectors": [], "metadata_key": None}, "never mark"),
        ({"local": ["a"], "metadata_key": ""}, "metadata_key"),
    ],
)
def test_bad_settings_fail_when_built(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(RouteConfigError, match=message):
        Compliance(**kwargs)


# -- the gate through Router -------------------------------------------------------------------

MODELS = ["remote", "local", "backup"]
LOCAL = ["local", "backup"]
EMAIL = "jane.doe@example.org"


def req(text: str, history: Sequence[Turn] = (), **kw: Any) -> RoutingRequest:
    return RoutingRequest.from_turns([*history, Turn("user", text)], **kw)


class SpySelector:
    """Always picks "remote", and records every text it is shown."""

    name = "spy"
    route_names = frozenset({"remote"})

    def __init__(self) -> None:
        self.seen: list[str] = []

    def select(self, request: RoutingRequest, candidates: Sequence[str]) -> Any:
        from routing_chat_model.selectors.base import Selection

        self.seen.append(request.text)
        return Selection(route="remote" if "remote" in candidates else None, reason="spy")

    async def aselect(self, request: RoutingRequest, candidates: Sequence[str]) -> Any:
        return self.select(request, candidates)


def core_router(**gate_kw: Any) -> tuple[Router, SpySelector]:
    spy = SpySelector()
    return Router(MODELS, selector=spy, gates=[Compliance(local=LOCAL, **gate_kw)]), spy


def test_benign_requests_are_not_restricted() -> None:
    router, spy = core_router()
    decision = router.decide(req("what is the capital of France?"))
    assert decision.route == "remote" and decision.restrictions == ()
    assert spy.seen == ["what is the capital of France?"]


def test_sensitive_request_goes_local_without_reaching_the_selector() -> None:
    router, spy = core_router()
    decision = router.decide(req(f"email {EMAIL} the invoice, card 4111 1111 1111 1111"))
    assert decision.route == "local" and decision.plan == ("local", "backup")
    assert decision.candidates == ("local", "backup")
    assert decision.restrictions == (
        "compliance: sensitive (email, payment_card): local models only",
    )
    assert spy.seen == []  # S4: the text never reached the selector (or its encoder)
    dumped = json.dumps(decision.to_dict())
    assert "jane" not in dumped and "4111 1111" not in dumped


async def test_async_decide_applies_the_gate_too() -> None:
    router, spy = core_router()
    decision = await router.adecide(req(f"mail {EMAIL}"))
    assert decision.route == "local" and spy.seen == []


def test_a_conversation_stays_sensitive_once_it_was() -> None:
    """S3: PII in an earlier turn keeps later, benign turns local."""
    router, spy = core_router()
    history = [Turn("user", f"I am {EMAIL}"), Turn("assistant", "Noted.", route="local")]
    decision = router.decide(req("thanks, and what's 2+2?", history))
    assert decision.route == "local" and spy.seen == []


def test_metadata_marks_a_request_sensitive() -> None:
    router, _ = core_router()
    decision = router.decide(req("hello", metadata={"sensitive": True}))
    assert decision.route == "local"
    assert decision.restrictions == (
        "compliance: sensitive (metadata['sensitive']): local models only",
    )
    assert router.decide(req("hello", metadata={"sensitive": False})).route == "remote"


def test_roles_limit_which_turns_are_scanned() -> None:
    router, _ = core_router(roles=("user", "tool"))
    system = [Turn("system", "Support: help@example.org")]
    assert router.decide(req("hello", system)).route == "remote"


def test_override_to_a_remote_model_fails_closed() -> None:
    router, _ = core_router()
    with pytest.raises(NoCandidateError, match="gates allow only"):
        router.decide(req(f"mail {EMAIL}", forced_route="remote"))
    assert router.decide(req(f"mail {EMAIL}", forced_route="backup")).route == "backup"


def test_no_local_candidate_fails_closed_naming_the_rule_not_the_text() -> None:
    caps = {
        "local": ModelCapabilities(tool_calling=False),
        "backup": ModelCapabilities(tool_calling=False),
    }
    router = Router(
        MODELS, selector=SpySelector(), capabilities=caps, gates=[Compliance(local=LOCAL)]
    )
    with pytest.raises(ComplianceError) as info:
        router.decide(req(f"mail {EMAIL}", has_tools=True))
    assert isinstance(info.value, NoCandidateError)
    assert info.value.detectors == ("email",)
    assert "email" in str(info.value) and "jane" not in str(info.value)
    assert "Add a local model" in str(info.value)


def test_gate_exposes_route_names_for_the_router_to_check() -> None:
    assert Compliance(local=LOCAL).route_names == frozenset(LOCAL)


def test_allow_selector_lets_an_in_process_selector_choose_among_local_models() -> None:
    class PickBackup(SpySelector):
        route_names = frozenset({"backup"})

        def select(self, request: RoutingRequest, candidates: Sequence[str]) -> Any:
            from routing_chat_model.selectors.base import Selection

            self.seen.append(request.text)
            return Selection(route="backup", reason="picked")

    spy = PickBackup()
    gate = Compliance(local=LOCAL, allow_selector=True)
    router = Router(MODELS, selector=spy, gates=[gate])
    assert router.decide(req(f"mail {EMAIL}")).route == "backup"


# -- through the adapters ----------------------------------------------------------------------

_REQUEST = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")


def failure(kind: str) -> Exception:
    """A real openai SDK exception of each kind the router falls back on."""
    if kind == "429":
        response = httpx.Response(429, headers={"Retry-After": "1"}, request=_REQUEST)
        return openai.RateLimitError("rate limited", response=response, body=None)
    if kind == "500":
        response = httpx.Response(500, request=_REQUEST)
        return openai.InternalServerError("server error", response=response, body=None)
    if kind == "timeout":
        return openai.APITimeoutError(request=_REQUEST)
    return openai.APIConnectionError(request=_REQUEST)


FAILURES = ["429", "500", "timeout", "connection"]
TOUCHED = AssertionError("a remote model was called with a sensitive request")


def lc_models(error: Exception | None = None, **local_kw: Any) -> dict[str, ScriptedChatModel]:
    errors = [error] if error is not None else []
    return {
        "remote": ScriptedChatModel(model="remote", errors=[TOUCHED]),
        "local": ScriptedChatModel(model="local", errors=errors, **local_kw),
        "backup": ScriptedChatModel(model="backup", errors=errors, **local_kw),
    }


def lc_router(models: dict[str, Any], **kw: Any) -> LCRouter:
    kw.setdefault("selector", lambda request: "remote")
    return LCRouter(models=models, gates=[Compliance(local=LOCAL)], **kw)


SENSITIVE = f"My card is 4111 1111 1111 1111 and my email {EMAIL}; why was I charged twice?"


@pytest.mark.parametrize("kind", FAILURES)
@pytest.mark.parametrize("method", ["invoke", "ainvoke", "stream", "astream"])
async def test_langchain_local_failures_never_reach_a_remote_model(kind: str, method: str) -> None:
    """S1: every local model fails in every way; the remote one is never called."""
    models = lc_models(failure(kind))
    router = lc_router(models)
    with pytest.raises(AllModelsFailedError) as info:
        if method == "invoke":
            router.invoke(SENSITIVE)
        elif method == "ainvoke":
            await router.ainvoke(SENSITIVE)
        elif method == "stream":
            list(router.stream(SENSITIVE))
        else:
            [c async for c in router.astream(SENSITIVE)]
    assert info.value.routes == ("local", "backup")
    assert models["remote"].calls == []
    assert "4111 1111" not in str(info.value) and "jane" not in str(info.value)


@pytest.mark.parametrize("method", ["stream", "astream"])
async def test_langchain_stream_cut_mid_answer_does_not_move_to_a_remote_model(method: str) -> None:
    models = lc_models(failure("500"), fail_after_chunks=2)
    router = lc_router(models)
    chunks: list[Any] = []
    with pytest.raises(StreamInterruptedError):
        if method == "stream":
            chunks.extend(router.stream(SENSITIVE))
        else:
            chunks.extend([c async for c in router.astream(SENSITIVE)])
    assert models["remote"].calls == [] and models["backup"].calls == []


def test_langchain_earlier_pii_keeps_the_conversation_local_and_the_decision_names_the_rule() -> (
    None
):
    models = lc_models()
    router = lc_router(models)
    history = [HumanMessage(f"I'm {EMAIL}"), AIMessage("Hi Jane.")]
    message = router.invoke([*history, HumanMessage("what's the weather like?")])
    routing = message.response_metadata["routing"]
    assert routing["route"] == "local"
    assert routing["restrictions"] == ["compliance: sensitive (email): local models only"]
    assert "jane" not in json.dumps(routing).lower()
    assert models["remote"].calls == []


async def test_langchain_routing_event_names_the_rule_not_the_text() -> None:
    router = lc_router(lc_models())
    events = [
        e
        async for e in router.astream_events(SENSITIVE, version="v2")
        if e["event"] == "on_custom_event"
    ]
    [event] = events
    data: dict[str, Any] = dict(event["data"])
    assert data["route"] == "local"
    assert data["restrictions"] == [
        "compliance: sensitive (email, payment_card): local models only"
    ]
    assert "4111 1111" not in json.dumps(data) and "jane" not in json.dumps(data)


def test_langchain_metadata_flag_marks_a_request_sensitive() -> None:
    models = {**lc_models(), "remote": ScriptedChatModel(model="remote")}
    router = lc_router(models)
    flagged = router.invoke("hello", config={"metadata": {"sensitive": True}})
    assert flagged.response_metadata["routing"]["route"] == "local"
    assert router.invoke("hello").response_metadata["routing"]["route"] == "remote"


@pytest.mark.parametrize("how", ["model", "configurable"])
def test_langchain_override_to_a_remote_model_fails_closed(how: str) -> None:
    models = lc_models()
    router = lc_router(models)
    with pytest.raises(NoCandidateError, match="gates allow only"):
        if how == "model":
            router.invoke(SENSITIVE, model="remote")
        else:
            router.invoke(SENSITIVE, config={"configurable": {"route": "remote"}})
    assert models["remote"].calls == [] and models["local"].calls == []


def test_langchain_tool_result_with_pii_goes_local_not_back_to_the_remote_caller() -> None:
    """A tool round normally returns to the model that called the tool; PII in it overrides."""
    models = lc_models()
    models["remote"] = ScriptedChatModel(model="remote", errors=[TOUCHED])
    router = lc_router(models)
    call = AIMessage(
        "",
        tool_calls=[{"name": "lookup", "args": {"q": "customer"}, "id": "call_1"}],
        response_metadata={"routing": {"route": "remote"}},
    )
    messages = [
        HumanMessage("look up the customer"),
        call,
        ToolMessage(f"customer: {EMAIL}, +44 20 7946 0958", tool_call_id="call_1"),
    ]
    message = router.invoke(messages)
    assert message.response_metadata["routing"]["route"] == "local"
    assert models["remote"].calls == []


def test_langchain_sensitive_request_with_tools_stays_local() -> None:
    from langchain_core.tools import tool

    @tool
    def lookup(query: str) -> str:
        """Look a customer up."""
        return query

    models = lc_models()
    router = lc_router(models).bind_tools([lookup])
    message = router.invoke(f"lookup {EMAIL}")
    assert message.response_metadata["routing"]["route"] == "local"
    assert models["local"].calls[0].kwargs["tools"]
    assert models["remote"].calls == []


def test_an_encoder_never_sees_sensitive_text() -> None:
    """S4: the embedding selector's encoder records every text; none is sensitive."""
    seen: list[str] = []

    def encoder(texts: list[str]) -> Any:
        seen.extend(texts)
        return np.array([[1.0, float(len(t) % 3), 0.5] for t in texts], dtype=np.float32)

    selector = EmbeddingSelector({"remote": ["general question"], "local": ["private"]}, encoder)
    models = {**lc_models(), "remote": ScriptedChatModel(model="remote")}
    router = LCRouter(models=models, selector=selector, gates=[Compliance(local=LOCAL)])
    router.invoke([HumanMessage(f"I'm {EMAIL}"), AIMessage("ok"), HumanMessage("and now?")])
    assert len(models["remote"].calls) == 0
    router.invoke("a general question")
    assert "a general question" in seen  # the encoder does run on benign requests
    assert not any("jane" in t or "now?" in t for t in seen)


def li_models(error: Exception | None = None, **local_kw: Any) -> dict[str, ScriptedLLM]:
    errors = [error] if error is not None else []
    return {
        "remote": ScriptedLLM(model="remote", errors=[TOUCHED]),
        "local": ScriptedLLM(model="local", errors=errors, **local_kw),
        "backup": ScriptedLLM(model="backup", errors=errors, **local_kw),
    }


def li_router(models: dict[str, Any]) -> LIRouter:
    return LIRouter(
        models=models, selector=lambda request: "remote", gates=[Compliance(local=LOCAL)]
    )


def li_user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=text)]


async def li_call(router: LIRouter, method: str, messages: list[ChatMessage], **kw: Any) -> Any:
    if method == "chat":
        return router.chat(messages, **kw)
    if method == "achat":
        return await router.achat(messages, **kw)
    if method == "stream_chat":
        return list(router.stream_chat(messages, **kw))[-1]
    if method == "astream_chat":
        return [c async for c in await router.astream_chat(messages, **kw)][-1]
    if method == "complete":
        return router.complete(messages[-1].content or "", **kw)
    return await router.acomplete(messages[-1].content or "", **kw)


LI_METHODS = ["chat", "achat", "stream_chat", "astream_chat", "complete", "acomplete"]


@pytest.mark.parametrize("kind", FAILURES)
@pytest.mark.parametrize("method", LI_METHODS)
async def test_llama_index_local_failures_never_reach_a_remote_model(
    kind: str, method: str
) -> None:
    models = li_models(failure(kind))
    with pytest.raises(AllModelsFailedError) as info:
        await li_call(li_router(models), method, li_user(SENSITIVE))
    assert info.value.routes == ("local", "backup")
    assert models["remote"].calls == []


@pytest.mark.parametrize("method", ["stream_chat", "astream_chat"])
async def test_llama_index_stream_cut_does_not_move_to_a_remote_model(method: str) -> None:
    models = li_models(failure("500"), fail_after_chunks=2)
    with pytest.raises(StreamInterruptedError):
        await li_call(li_router(models), method, li_user(SENSITIVE))
    assert models["remote"].calls == [] and models["backup"].calls == []


@pytest.mark.parametrize("method", LI_METHODS[:4])
async def test_llama_index_earlier_pii_keeps_the_conversation_local(method: str) -> None:
    models = li_models()
    messages = [
        ChatMessage(role=MessageRole.USER, content="my IBAN is GB82 WEST 1234 5698 7654 32"),
        ChatMessage(role=MessageRole.ASSISTANT, content="Thanks."),
        ChatMessage(role=MessageRole.USER, content="what's the weather?"),
    ]
    response = await li_call(li_router(models), method, messages)
    routing = response.additional_kwargs["routing"]
    assert routing["route"] == "local"
    assert routing["restrictions"] == ["compliance: sensitive (iban): local models only"]
    assert "GB82" not in json.dumps(routing)
    assert models["remote"].calls == []


async def test_llama_index_metadata_flag_and_override() -> None:
    models = li_models()
    router = li_router(models)
    flagged = router.chat(li_user("hello"), routing_metadata={"sensitive": True})
    assert flagged.additional_kwargs["routing"]["route"] == "local"
    with pytest.raises(NoCandidateError):
        router.chat(li_user(SENSITIVE), model="remote")
    with pytest.raises(NoCandidateError):
        await router.achat(li_user(SENSITIVE), model="remote")
    assert models["remote"].calls == []


def test_llama_index_decision_event_names_the_rule_not_the_text() -> None:
    from llama_index.core.instrumentation import get_dispatcher
    from llama_index.core.instrumentation.event_handlers import BaseEventHandler

    from routing_chat_model.llama_index.events import RoutingDecisionEvent

    seen: list[dict[str, Any]] = []

    class Handler(BaseEventHandler):
        def handle(self, event: Any, **kwargs: Any) -> None:
            if isinstance(event, RoutingDecisionEvent):
                seen.append(event.decision)

    dispatcher = get_dispatcher()
    handler = Handler()
    dispatcher.add_event_handler(handler)
    try:
        li_router(li_models()).chat(li_user(SENSITIVE))
    finally:
        dispatcher.event_handlers.remove(handler)
    [decision] = seen
    assert decision["route"] == "local"
    assert decision["restrictions"] == [
        "compliance: sensitive (email, payment_card): local models only"
    ]
    assert "4111 1111" not in json.dumps(decision)


# -- cookbook and benchmark --------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def test_cookbook_recipe_keeps_sensitive_requests_local(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location(
        "cookbook_compliance_local_only", ROOT / "cookbook" / "compliance_local_only.py"
    )
    assert spec is not None and spec.loader is not None
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    assert recipe.__doc__ and "Run it" in recipe.__doc__
    result = recipe.main()
    routes = {r["label"]: r["route"] for r in result["records"]}
    assert routes.pop("benign question") == "cloud"
    assert set(routes.values()) == {"local"}
    assert result["outcomes"] == {
        "override": "NoCandidateError",
        "local_down": "AllModelsFailedError",
    }
    assert result["cloud_calls"] == 0
    out = capsys.readouterr().out
    assert "sensitive (employee_id)" in out and "EMP-204518" not in out


def test_benchmark_script_runs_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "compliance.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "compliance.py"),
            "--iterations",
            "3",
            "--warmup",
            "1",
            "--chars",
            "2000",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["benchmark"] == "compliance"
    whats = {(r["prompt"], r["what"]) for r in data["results"]}
    assert ("benign", "Compliance.scan (all)") in whats and ("sensitive", "secret") in whats


def test_pii_only_in_a_tool_calls_arguments_keeps_the_conversation_local() -> None:
    """An assistant's tool call carrying PII (and nothing else does) still confines the call."""
    models = lc_models()
    models["remote"] = ScriptedChatModel(model="remote", errors=[TOUCHED])
    router = lc_router(models)
    call = AIMessage(
        "",
        tool_calls=[{"name": "email_customer", "args": {"to": EMAIL}, "id": "call_1"}],
        response_metadata={"routing": {"route": "remote"}},
    )
    messages = [
        HumanMessage("write to the customer"),
        call,
        ToolMessage("sent", tool_call_id="call_1"),
    ]
    message = router.invoke(messages)
    assert message.response_metadata["routing"]["route"] == "local"
    assert models["remote"].calls == []


def test_llama_index_pii_only_in_a_tool_calls_arguments_keeps_the_conversation_local() -> None:
    from llama_index.core.base.llms.types import ToolCallBlock

    models = li_models()
    models["remote"] = ScriptedLLM(model="remote", errors=[TOUCHED])
    router = li_router(models)
    call = ChatMessage(
        role=MessageRole.ASSISTANT,
        blocks=[ToolCallBlock(tool_call_id="c1", tool_name="email", tool_kwargs={"to": EMAIL})],
    )
    tool = ChatMessage(
        role=MessageRole.TOOL, content="sent", additional_kwargs={"tool_call_id": "c1"}
    )
    response = router.chat([*li_user("write to the customer"), call, tool])
    assert response.additional_kwargs["routing"]["route"] == "local"
    assert models["remote"].calls == []
