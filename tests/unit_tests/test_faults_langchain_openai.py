"""Evidence with real clients: `langchain_openai.ChatOpenAI` children behind the router, against
a loopback OpenAI server that injects faults.

Each child is a real `ChatOpenAI` with its own retries off (`max_retries=0`: the router is the
only retry loop) pointed at an `OpenAIServer` on 127.0.0.1. Servers answer
`"<server name>: <last user message>"`, so the text says who answered; their request logs say
how often each model was called. Every case runs through `invoke`, `ainvoke`, `stream` and
`astream` where it applies, and checks the outcome the policy promises, the attempts recorded
in `response_metadata["routing"]`, and the request counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_openai import ChatOpenAI

from routing_chat_model import StreamInterruptedError
from routing_chat_model.errors import AttemptTimeoutError, DeadlineExceededError
from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.policy import CircuitBreaker, RetryPolicy
from tests.support.openai_server import OpenAIServer

HOWS = ["invoke", "ainvoke", "stream", "astream"]
LONG = "one two three four five six"
"""A prompt whose echoed answer streams in enough chunks to be cut in the middle."""


def child(server: OpenAIServer, model: str, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model=model, base_url=server.base_url, api_key="sk-test", max_retries=0, **kwargs
    )


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


def calls(server: OpenAIServer) -> int:
    return len(server.requests_to("chat/completions"))


def attempts(message: BaseMessage) -> list[tuple[str, str | None]]:
    return [(a["route"], a["error_kind"]) for a in routing(message)["attempts"]]


def routing(message: BaseMessage) -> dict[str, Any]:
    return dict(message.response_metadata["routing"])


_LOOP = asyncio.new_event_loop()


@pytest.fixture(scope="module", autouse=True)
def _close_loop() -> Iterator[None]:
    yield
    _LOOP.close()


def run(coro: Any) -> Any:
    """One loop for the module: langchain-openai caches its async HTTP client across models."""
    return _LOOP.run_until_complete(coro)


def call(router: RoutingChatModel, how: str, text: str = "hello") -> BaseMessage:
    """The answer of one call made `how`; a stream's chunks are added up into one message."""
    if how == "invoke":
        return router.invoke(text)
    if how == "ainvoke":
        return run(router.ainvoke(text))  # type: ignore[no-any-return]
    if how == "stream":
        chunks = list(router.stream(text))
    else:

        async def collect() -> list[AIMessageChunk]:
            return [chunk async for chunk in router.astream(text)]

        chunks = run(collect())
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return total


def consume(router: RoutingChatModel, how: str, received: list[str], text: str = LONG) -> None:
    """Stream `text` through the router, keeping what reached the caller in `received`."""
    if how == "stream":
        for chunk in router.stream(text):
            received.append(str(chunk.content))
        return

    async def go() -> None:
        async for chunk in router.astream(text):
            received.append(str(chunk.content))

    run(go())


def warmed(router: RoutingChatModel, *servers: OpenAIServer) -> RoutingChatModel:
    """`router` after one async call to each child, with the servers' logs cleared.

    A child's first async call builds its HTTP client, which can take longer than the short
    time limits these tests set on a busy machine; the limits must only ever meet the fault.
    """
    for model in router.models.values():
        run(model.ainvoke("warm up"))
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


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_provider_failures_before_any_content_fall_back(
    primary: OpenAIServer, secondary: OpenAIServer, how: str, fault: str
) -> None:
    inject, kind = FAULTS[fault]
    inject(primary)
    message = call(build(primary, secondary), how)
    assert message.content == "secondary: hello"
    assert attempts(message) == [("primary", kind), ("secondary", None)]
    assert calls(primary) == 1 and calls(secondary) == 1  # no SDK retries, no router retries
    if fault == "429_retry_after":
        assert routing(message)["attempts"][0].get("retry_after_s") == 2.0


@pytest.mark.parametrize("how", HOWS)
def test_context_window_overflow_goes_to_a_larger_window_only(
    primary: OpenAIServer, secondary: OpenAIServer, how: str
) -> None:
    """OpenAI's 400 `context_length_exceeded`: a model whose window is no larger is skipped
    without being called; the one with a larger window answers."""
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
    message = call(router, how)
    assert message.content == "secondary: hello"
    assert attempts(message) == [("primary", "context_window"), ("secondary", None)]
    assert routing(message)["skipped"] == ["tiny: context_window"]
    assert calls(primary) == 1 and calls(secondary) == 1  # "tiny" was never called


@pytest.mark.parametrize("how", HOWS)
def test_content_filter_refusal_propagates_by_default(
    primary: OpenAIServer, secondary: OpenAIServer, how: str
) -> None:
    primary.content_filter_next()
    with pytest.raises(openai.BadRequestError, match="content management policy"):
        call(build(primary, secondary), how)
    assert calls(primary) == 1 and calls(secondary) == 0


@pytest.mark.parametrize("how", HOWS)
def test_content_filter_refusal_can_be_sent_elsewhere(
    primary: OpenAIServer, secondary: OpenAIServer, how: str
) -> None:
    primary.content_filter_next()
    on = ["rate_limit", "timeout", "connection", "server_error", "content_filter"]
    message = call(build(primary, secondary, fallback_on=on), how)
    assert message.content == "secondary: hello"
    assert attempts(message) == [("primary", "content_filter"), ("secondary", None)]
    assert calls(primary) == 1 and calls(secondary) == 1


@pytest.mark.parametrize("how", HOWS)
def test_client_errors_are_not_retried_or_sent_elsewhere(
    primary: OpenAIServer, secondary: OpenAIServer, how: str
) -> None:
    primary.fail_next(400, message="Invalid value for 'temperature'")
    router = build(primary, secondary, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(openai.BadRequestError):
        call(router, how)
    assert calls(primary) == 1 and calls(secondary) == 0


# -- streams: before the first chunk falls back, after it never splices --------------------------

CUTS: dict[str, Callable[[OpenAIServer], None]] = {
    "dropped": lambda s: s.drop_next(after_chunks=2),
    "malformed_chunk": lambda s: s.malformed_next(after_chunks=2),
    "error_event": lambda s: s.error_event_next(after_chunks=2),
}


@pytest.mark.parametrize("how", ["stream", "astream"])
@pytest.mark.parametrize("cut", list(CUTS))
def test_stream_failing_after_content_raises_and_never_splices(
    primary: OpenAIServer, secondary: OpenAIServer, how: str, cut: str
) -> None:
    CUTS[cut](primary)
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        consume(build(primary, secondary), how, received)
    assert info.value.route == "primary" and info.value.chunks_emitted >= 2
    text = "".join(received)
    assert text.startswith("primary: ") and f"primary: {LONG}".startswith(text)
    assert calls(primary) == 1 and calls(secondary) == 0


@pytest.mark.parametrize("how", ["stream", "astream"])
def test_stream_hold_back_keeps_fallback_open_past_a_cut(
    primary: OpenAIServer, secondary: OpenAIServer, how: str
) -> None:
    """With `stream_hold_back`, chunks are held before the stream commits, so a cut inside them
    still falls back, and the caller sees only the secondary's text."""
    primary.drop_next(after_chunks=2)  # the role chunk and two pieces of text, then the cut
    received: list[str] = []
    consume(build(primary, secondary, stream_hold_back=5), how, received)
    assert "".join(received) == f"secondary: {LONG}"
    assert calls(primary) == 1 and calls(secondary) == 1


@pytest.mark.parametrize("how", ["stream", "astream"])
def test_error_event_before_any_text_falls_back(
    primary: OpenAIServer, secondary: OpenAIServer, how: str
) -> None:
    primary.error_event_next(after_chunks=0)
    received: list[str] = []
    consume(build(primary, secondary), how, received)
    assert "".join(received) == f"secondary: {LONG}"


# -- time: slow first byte, stalls, deadlines -------------------------------------------------------


@pytest.mark.parametrize("how", HOWS)
def test_slow_first_byte_past_the_client_timeout_falls_back(
    primary: OpenAIServer, secondary: OpenAIServer, how: str
) -> None:
    primary.hang_next(1.0)
    router = build(primary, secondary, child_kw={"timeout": 0.2}, retry=RetryPolicy(max_attempts=3))
    message = call(router, how)
    assert message.content == "secondary: hello"
    [failed, answered] = routing(message)["attempts"]
    assert (failed["route"], failed["error_kind"], failed.get("billing")) == (
        "primary",
        "timeout",
        "unknown",  # the request was sent: it may have been billed
    )
    assert answered["route"] == "secondary"
    assert calls(primary) == 1 and calls(secondary) == 1  # timeouts are not retried


def test_first_token_timeout_falls_back_on_astream(
    primary: OpenAIServer, secondary: OpenAIServer
) -> None:
    router = warmed(build(primary, secondary, first_token_timeout_s=0.2), primary, secondary)
    primary.hang_next(1.0)
    message = call(router, "astream")
    assert message.content == "secondary: hello"
    [failed, _] = routing(message)["attempts"]
    assert (failed["error"], failed["error_kind"]) == ("AttemptTimeoutError", "timeout")
    assert calls(primary) == 1 and calls(secondary) == 1


def test_attempt_timeout_falls_back_on_ainvoke(
    primary: OpenAIServer, secondary: OpenAIServer
) -> None:
    router = warmed(build(primary, secondary, attempt_timeout_s=0.2), primary, secondary)
    primary.hang_next(1.0)
    message = call(router, "ainvoke")
    assert message.content == "secondary: hello"
    assert attempts(message) == [("primary", "timeout"), ("secondary", None)]
    assert routing(message)["attempts"][0]["error"] == "AttemptTimeoutError"


@pytest.mark.parametrize("how", ["stream", "astream"])
def test_stall_mid_stream_raises_stream_interrupted(
    primary: OpenAIServer, secondary: OpenAIServer, how: str
) -> None:
    """A stall after text reached the caller: the client's read timeout (sync) or the router's
    `idle_timeout_s` (async) ends it, and nothing is spliced on."""
    router = build(primary, secondary, child_kw={"timeout": 0.2}, idle_timeout_s=0.2)
    warmed(router, primary, secondary)
    primary.stall_next(1.0, after_chunks=2)
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        consume(router, how, received)
    assert "".join(received).startswith("primary: ")
    if how == "astream":
        cause = info.value.__cause__
        assert isinstance(cause, AttemptTimeoutError) and cause.phase == "idle"
    assert calls(secondary) == 0


def test_deadline_stops_before_the_next_attempt(
    primary: OpenAIServer, secondary: OpenAIServer
) -> None:
    router = warmed(build(primary, secondary, deadline_s=0.3), primary, secondary)
    primary.hang_next(1.0)
    with pytest.raises(DeadlineExceededError) as info:
        call(router, "ainvoke")
    assert [a.route for a in info.value.attempts] == ["primary"]
    assert calls(primary) == 1 and calls(secondary) == 0  # no attempt starts after the deadline


# -- retries and cooldowns -----------------------------------------------------------------------


class Sleeps:
    """Records the router's backoff waits instead of sleeping."""

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


@pytest.mark.parametrize("how", HOWS)
def test_retry_after_is_honoured_on_the_same_model(
    primary: OpenAIServer, secondary: OpenAIServer, how: str
) -> None:
    router = build(primary, secondary, retry=RetryPolicy(max_attempts=2))
    sleeps = with_fake_sleep(router)
    primary.rate_limit_next(retry_after=1)
    message = call(router, how)
    assert message.content == "primary: hello"
    assert sleeps.waits == [1.0]  # the wait the provider asked for
    [limited, answered] = routing(message)["attempts"]
    assert (limited["route"], limited["error_kind"], limited.get("retry", 0)) == (
        "primary",
        "rate_limit",
        0,
    )
    assert (limited.get("retry_after_s"), limited.get("backoff_s")) == (1.0, 1.0)
    assert (answered["route"], answered.get("retry", 0), answered["error"]) == ("primary", 1, None)
    assert calls(primary) == 2 and calls(secondary) == 0


@pytest.mark.parametrize("how", HOWS)
def test_retries_stop_at_max_attempts_then_fall_back(
    primary: OpenAIServer, secondary: OpenAIServer, how: str
) -> None:
    router = build(primary, secondary, retry=RetryPolicy(max_attempts=2, base_backoff_s=0.5))
    sleeps = with_fake_sleep(router)
    primary.fail_next(503, times=3)
    message = call(router, how)
    assert message.content == "secondary: hello"
    assert [(a["route"], a.get("retry", 0)) for a in routing(message)["attempts"]] == [
        ("primary", 0),
        ("primary", 1),
        ("secondary", 0),
    ]
    assert len(sleeps.waits) == 1 and 0 <= sleeps.waits[0] <= 0.5  # jittered backoff
    assert calls(primary) == 2 and calls(secondary) == 1  # never more than configured


def test_circuit_breaker_skips_a_failing_model_then_probes_it(
    primary: OpenAIServer, secondary: OpenAIServer
) -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=30, clock=lambda: now[0])
    router = build(primary, secondary, circuit_breaker=breaker)
    primary.fail_next(503)

    first = call(router, "invoke")
    second = call(router, "ainvoke")
    assert first.content == second.content == "secondary: hello"
    assert attempts(second) == [("secondary", None)]
    assert routing(second)["skipped"] == ["primary: cooling"]
    assert router.router.health()["primary"].state == "open"
    assert calls(primary) == 1  # skipped while cooling

    now[0] = 31.0
    third = call(router, "stream")
    assert third.content == "primary: hello"  # the probe succeeds
    assert router.router.health()["primary"].state == "closed"
    assert calls(primary) == 2 and calls(secondary) == 2


def test_rate_limit_retry_after_cools_the_model_down(
    primary: OpenAIServer, secondary: OpenAIServer
) -> None:
    """A 429 with `Retry-After: 20` keeps the model out of rotation for 20 s (not retried on
    it meanwhile), even below the failure threshold."""
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=5, cooldown_s=1, clock=lambda: now[0])
    router = build(primary, secondary, circuit_breaker=breaker)
    primary.rate_limit_next(retry_after=20)
    assert call(router, "invoke").content == "secondary: hello"
    now[0] = 10.0
    assert attempts(call(router, "invoke")) == [("secondary", None)]
    now[0] = 21.0
    assert call(router, "invoke").content == "primary: hello"
    assert calls(primary) == 2 and calls(secondary) == 2
