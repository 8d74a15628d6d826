"""Evidence with real clients: llama-index's `OpenAI` children behind the router, against a
loopback OpenAI server that injects faults.

Each child is a real `llama_index.llms.openai.OpenAI` with its own retries off
(`max_retries=0`; its default of 3 retries in tenacity *and* in the openai SDK) pointed at an
`OpenAIServer` on 127.0.0.1. Servers answer `"<server name>: <last user message>"`. Every case
runs through `chat`, `achat`, `stream_chat` and `astream_chat` where it applies, and checks the
outcome, the attempts in `additional_kwargs["routing"]` and the servers' request counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.llms.openai import OpenAI

from routing_chat_model import StreamInterruptedError
from routing_chat_model.errors import AttemptTimeoutError, DeadlineExceededError
from routing_chat_model.llama_index import RoutingChatModel
from routing_chat_model.policy import CircuitBreaker, RetryPolicy
from tests.support.openai_server import OpenAIServer

METHODS = ["chat", "achat", "stream_chat", "astream_chat"]
LONG = "one two three four five six"


def child(server: OpenAIServer, model: str, **kwargs: Any) -> OpenAI:
    return OpenAI(model=model, api_base=server.base_url, api_key="sk-test", max_retries=0, **kwargs)


def build(
    primary: OpenAIServer, secondary: OpenAIServer, *, child_kw: Any = None, **kwargs: Any
) -> RoutingChatModel:
    return RoutingChatModel(
        models={
            "primary": child(primary, "gpt-4o-mini", **(child_kw or {})),
            "secondary": child(secondary, "gpt-4o"),
        },
        **kwargs,
    )


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=text)]


def calls(server: OpenAIServer) -> int:
    return len(server.requests_to("chat/completions"))


def routing(response: ChatResponse) -> dict[str, Any]:
    return dict(response.additional_kwargs["routing"])


def attempts(response: ChatResponse) -> list[tuple[str, str | None]]:
    return [(a["route"], a["error_kind"]) for a in routing(response)["attempts"]]


async def answer(router: RoutingChatModel, method: str, text: str = "hello") -> Any:
    """The final response of one call by `method` (a stream's last chunk)."""
    if method == "chat":
        return router.chat(user(text))
    if method == "achat":
        return await router.achat(user(text))
    if method == "stream_chat":
        return list(router.stream_chat(user(text)))[-1]
    return [c async for c in await router.astream_chat(user(text))][-1]


async def consume(router: RoutingChatModel, method: str, received: list[str]) -> None:
    """Stream `LONG` through the router, keeping the deltas that reached the caller."""
    if method == "stream_chat":
        for chunk in router.stream_chat(user(LONG)):
            received.append(chunk.delta or "")
        return
    async for chunk in await router.astream_chat(user(LONG)):
        received.append(chunk.delta or "")


async def warmed(router: RoutingChatModel, *servers: OpenAIServer) -> RoutingChatModel:
    """`router` after one async call to each child, with the servers' logs cleared.

    A child's first async call builds its HTTP client, which can take longer than the short
    time limits these tests set on a busy machine; the limits must only ever meet the fault.
    """
    for model in router.models.values():
        await model.achat(user("warm up"))
    for server in servers:
        server.reset()
    return router


# -- failures that fall back -------------------------------------------------------------------

FAULTS: dict[str, tuple[Callable[[OpenAIServer], None], str]] = {
    "429_retry_after": (lambda s: s.rate_limit_next(retry_after=2), "rate_limit"),
    "500": (lambda s: s.fail_next(500), "server_error"),
    "503": (lambda s: s.fail_next(503), "server_error"),
    "dropped_before_response": (lambda s: s.drop_next(), "connection"),
    "malformed_json": (lambda s: s.malformed_next(), "server_error"),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_provider_failures_before_any_content_fall_back(
    primary: OpenAIServer, secondary: OpenAIServer, method: str, fault: str
) -> None:
    inject, kind = FAULTS[fault]
    inject(primary)
    response = await answer(build(primary, secondary), method)
    assert response.message.content == "secondary: hello"
    assert attempts(response) == [("primary", kind), ("secondary", None)]
    assert calls(primary) == 1 and calls(secondary) == 1
    if fault == "429_retry_after":
        assert routing(response)["attempts"][0].get("retry_after_s") == 2.0


@pytest.mark.parametrize("method", METHODS)
async def test_context_window_overflow_goes_to_a_larger_window_only(
    primary: OpenAIServer, secondary: OpenAIServer, method: str
) -> None:
    router = RoutingChatModel(
        models={
            "primary": child(primary, "gpt-4o-mini"),
            "tiny": child(primary, "gpt-3.5-turbo"),
            "secondary": child(secondary, "gpt-4o"),
        },
        capabilities={
            "primary": {"max_input_tokens": 8192},
            "tiny": {"max_input_tokens": 4096},
            "secondary": {"max_input_tokens": 128_000},
        },
    )
    primary.context_length_next(limit=8192)
    response = await answer(router, method)
    assert response.message.content == "secondary: hello"
    assert attempts(response) == [("primary", "context_window"), ("secondary", None)]
    assert routing(response)["skipped"] == ["tiny: context_window"]
    assert calls(primary) == 1 and calls(secondary) == 1


@pytest.mark.parametrize("method", METHODS)
async def test_content_filter_propagates_by_default_and_can_fall_back(
    primary: OpenAIServer, secondary: OpenAIServer, method: str
) -> None:
    primary.content_filter_next()
    with pytest.raises(openai.BadRequestError, match="content management policy"):
        await answer(build(primary, secondary), method)
    assert calls(secondary) == 0

    primary.content_filter_next()
    on = ["rate_limit", "timeout", "connection", "server_error", "content_filter"]
    response = await answer(build(primary, secondary, fallback_on=on), method)
    assert response.message.content == "secondary: hello"
    assert attempts(response) == [("primary", "content_filter"), ("secondary", None)]
    assert calls(primary) == 2 and calls(secondary) == 1


@pytest.mark.parametrize("method", METHODS)
async def test_client_errors_are_not_retried_or_sent_elsewhere(
    primary: OpenAIServer, secondary: OpenAIServer, method: str
) -> None:
    primary.fail_next(401)
    with pytest.raises(openai.AuthenticationError) as info:
        await answer(build(primary, secondary, retry=RetryPolicy(max_attempts=3)), method)
    assert "sk-test" not in str(info.value)
    assert calls(primary) == 1 and calls(secondary) == 0


# -- streams ---------------------------------------------------------------------------------------

CUTS: dict[str, Callable[[OpenAIServer], None]] = {
    "dropped": lambda s: s.drop_next(after_chunks=2),
    "malformed_chunk": lambda s: s.malformed_next(after_chunks=2),
    "error_event": lambda s: s.error_event_next(after_chunks=2),
}


@pytest.mark.parametrize("method", ["stream_chat", "astream_chat"])
@pytest.mark.parametrize("cut", list(CUTS))
async def test_stream_failing_after_content_raises_and_never_splices(
    primary: OpenAIServer, secondary: OpenAIServer, method: str, cut: str
) -> None:
    CUTS[cut](primary)
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        await consume(build(primary, secondary), method, received)
    assert info.value.route == "primary" and info.value.chunks_emitted >= 2
    text = "".join(received)
    assert text.startswith("primary: ") and f"primary: {LONG}".startswith(text)
    assert calls(primary) == 1 and calls(secondary) == 0


@pytest.mark.parametrize("method", ["stream_chat", "astream_chat"])
async def test_stream_hold_back_keeps_fallback_open_past_a_cut(
    primary: OpenAIServer, secondary: OpenAIServer, method: str
) -> None:
    primary.drop_next(after_chunks=2)
    received: list[str] = []
    await consume(build(primary, secondary, stream_hold_back=5), method, received)
    assert "".join(received) == f"secondary: {LONG}"
    assert calls(primary) == 1 and calls(secondary) == 1


@pytest.mark.parametrize("method", ["stream_chat", "astream_chat"])
async def test_error_event_before_any_text_falls_back(
    primary: OpenAIServer, secondary: OpenAIServer, method: str
) -> None:
    primary.error_event_next(after_chunks=0)
    received: list[str] = []
    await consume(build(primary, secondary), method, received)
    assert "".join(received) == f"secondary: {LONG}"


# -- time ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
async def test_slow_first_byte_past_the_client_timeout_falls_back(
    primary: OpenAIServer, secondary: OpenAIServer, method: str
) -> None:
    primary.hang_next(1.0)
    router = build(primary, secondary, child_kw={"timeout": 0.2}, retry=RetryPolicy(max_attempts=3))
    response = await answer(router, method)
    assert response.message.content == "secondary: hello"
    [failed, _] = routing(response)["attempts"]
    assert (failed["route"], failed["error_kind"], failed.get("billing")) == (
        "primary",
        "timeout",
        "unknown",
    )
    assert calls(primary) == 1 and calls(secondary) == 1  # timeouts are not retried


@pytest.mark.parametrize(
    ("method", "setting"),
    [("astream_chat", "first_token_timeout_s"), ("achat", "attempt_timeout_s")],
)
async def test_router_time_limits_fall_back(
    primary: OpenAIServer, secondary: OpenAIServer, method: str, setting: str
) -> None:
    router = await warmed(build(primary, secondary, **{setting: 0.2}), primary, secondary)
    primary.hang_next(1.0)
    response = await answer(router, method)
    assert response.message.content == "secondary: hello"
    [failed, _] = routing(response)["attempts"]
    assert (failed["error"], failed["error_kind"]) == ("AttemptTimeoutError", "timeout")
    assert calls(primary) == 1 and calls(secondary) == 1


@pytest.mark.parametrize("method", ["stream_chat", "astream_chat"])
async def test_stall_mid_stream_raises_stream_interrupted(
    primary: OpenAIServer, secondary: OpenAIServer, method: str
) -> None:
    router = build(primary, secondary, child_kw={"timeout": 0.2}, idle_timeout_s=0.2)
    await warmed(router, primary, secondary)
    primary.stall_next(1.0, after_chunks=2)
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        await consume(router, method, received)
    assert "".join(received).startswith("primary: ")
    if method == "astream_chat":
        cause = info.value.__cause__
        assert isinstance(cause, AttemptTimeoutError) and cause.phase == "idle"
    assert calls(secondary) == 0


async def test_deadline_stops_before_the_next_attempt(
    primary: OpenAIServer, secondary: OpenAIServer
) -> None:
    router = await warmed(build(primary, secondary, deadline_s=0.3), primary, secondary)
    primary.hang_next(1.0)
    with pytest.raises(DeadlineExceededError):
        await answer(router, "achat")
    assert calls(primary) == 1 and calls(secondary) == 0


# -- retries and cooldowns -----------------------------------------------------------------------


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def with_fake_sleep(router: RoutingChatModel) -> Sleeps:
    sleeps = Sleeps()
    router.router.sleep = sleeps.sleep
    router.router.async_sleep = sleeps.async_sleep
    return sleeps


@pytest.mark.parametrize("method", METHODS)
async def test_retry_after_is_honoured_on_the_same_model(
    primary: OpenAIServer, secondary: OpenAIServer, method: str
) -> None:
    router = build(primary, secondary, retry=RetryPolicy(max_attempts=2))
    sleeps = with_fake_sleep(router)
    primary.rate_limit_next(retry_after=1)
    response = await answer(router, method)
    assert response.message.content == "primary: hello"
    assert sleeps.waits == [1.0]
    [limited, answered] = routing(response)["attempts"]
    assert (limited["error_kind"], limited.get("retry_after_s"), limited.get("backoff_s")) == (
        "rate_limit",
        1.0,
        1.0,
    )
    assert (answered["route"], answered.get("retry", 0)) == ("primary", 1)
    assert calls(primary) == 2 and calls(secondary) == 0


@pytest.mark.parametrize("method", METHODS)
async def test_retries_stop_at_max_attempts_then_fall_back(
    primary: OpenAIServer, secondary: OpenAIServer, method: str
) -> None:
    router = build(primary, secondary, retry=RetryPolicy(max_attempts=2, base_backoff_s=0.5))
    sleeps = with_fake_sleep(router)
    primary.fail_next(503, times=3)
    response = await answer(router, method)
    assert response.message.content == "secondary: hello"
    assert [(a["route"], a.get("retry", 0)) for a in routing(response)["attempts"]] == [
        ("primary", 0),
        ("primary", 1),
        ("secondary", 0),
    ]
    assert len(sleeps.waits) == 1 and 0 <= sleeps.waits[0] <= 0.5
    assert calls(primary) == 2 and calls(secondary) == 1


async def test_circuit_breaker_skips_a_failing_model_then_probes_it(
    primary: OpenAIServer, secondary: OpenAIServer
) -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=30, clock=lambda: now[0])
    router = build(primary, secondary, circuit_breaker=breaker)
    primary.fail_next(503)

    await answer(router, "chat")
    second = await answer(router, "astream_chat")
    assert second.message.content == "secondary: hello"
    assert attempts(second) == [("secondary", None)]
    assert routing(second)["skipped"] == ["primary: cooling"]
    assert router.router.health()["primary"].state == "open"
    assert calls(primary) == 1

    now[0] = 31.0
    third = await answer(router, "achat")
    assert third.message.content == "primary: hello"
    assert router.router.health()["primary"].state == "closed"
    assert calls(primary) == 2 and calls(secondary) == 2
