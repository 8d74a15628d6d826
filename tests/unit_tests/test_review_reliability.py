"""Review of the reliability layer: regressions for the defects found (one test each)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from routing_chat_model import DeadlineExceededError, Router, RoutingRequest, Turn
from routing_chat_model.decision import RoutingDecision
from routing_chat_model.llama_index import RoutingChatModel as LIRouter
from routing_chat_model.policy import CircuitBreaker, ErrorKind, Restriction
from routing_chat_model.request import RoutingRequest as Request
from routing_chat_model.testing.llama_index import ScriptedLLM


class ProviderError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status_code = status


class Clock:
    """Returns the given times in order, then the last one forever."""

    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


def request() -> RoutingRequest:
    return RoutingRequest.from_turns([Turn("user", "hello")])


def half_open_breaker() -> CircuitBreaker:
    """A breaker whose model "a" is open and due for its one probe."""
    clock = Clock(0.0, 100.0)
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=10, clock=clock)
    breaker.failure("a", ErrorKind.SERVER_ERROR, ProviderError(503))
    return breaker


# -- probe slots --------------------------------------------------------------------------------


@pytest.mark.parametrize("use_async", [False, True])
def test_a_deadline_hit_before_the_probe_runs_gives_the_probe_back(use_async: bool) -> None:
    breaker = half_open_breaker()
    # the call's deadline is 0 + 1; the first check after the plan claimed the probe sees 10
    router = Router(
        ["a", "b"],
        selector=lambda r: None,
        circuit_breaker=breaker,
        deadline_s=1,
        clock=Clock(0.0, 10.0),
    )
    called: list[str] = []

    def call(route: str) -> str:
        called.append(route)
        return route

    async def acall(route: str) -> str:
        return call(route)

    with pytest.raises(DeadlineExceededError):
        if use_async:
            asyncio.run(router.arun(router.decide(request()), acall))
        else:
            router.run(router.decide(request()), call)
    assert called == []
    assert breaker.allow("a"), "the probe claimed for a call that never ran must be released"


def test_a_last_resort_attempt_does_not_release_another_calls_probe() -> None:
    breaker = half_open_breaker()
    assert breaker.allow("a")  # another request holds the one probe
    router = Router(["a"], selector=lambda r: None, circuit_breaker=breaker)

    def bad_request(route: str) -> str:
        raise ProviderError(400)

    with pytest.raises(ProviderError):
        router.run(router.decide(request()), bad_request)  # tried anyway: the last resort
    assert not breaker.allow("a"), "half-open must still allow exactly one probe"


def test_a_cancelled_probe_is_still_given_back() -> None:
    breaker = half_open_breaker()
    router = Router(["a", "b"], selector=lambda r: None, circuit_breaker=breaker)
    started = asyncio.Event()

    async def hang(route: str) -> str:
        started.set()
        await asyncio.Event().wait()
        return route

    async def run() -> None:
        task = asyncio.create_task(router.arun(router.decide(request()), hang))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert breaker.allow("a")


# -- first-token timeout ------------------------------------------------------------------------


def test_first_token_timeout_is_not_satisfied_by_a_role_only_chunk() -> None:
    opened: list[str] = []

    async def open_stream(route: str) -> AsyncIterator[str]:
        opened.append(route)
        if route == "a":
            yield ""  # OpenAI-style role-only chunk, sent before any token
            await asyncio.Event().wait()  # then no token ever comes
        yield "b1"

    router = Router(["a", "b"], selector=lambda r: None, first_token_timeout_s=0.05)

    async def run() -> list[str]:
        out = []
        stream = router.arun_stream(router.decide(request()), open_stream, None, lambda c: not c)
        async for chunk, _ in stream:
            out.append(chunk)
        return out

    # the guard only keeps a regression from hanging the suite
    assert asyncio.run(asyncio.wait_for(run(), 2)) == ["b1"]
    assert opened == ["a", "b"]


# -- LlamaIndex: gates observe a streamed call once ---------------------------------------------


class Observer:
    name = "observer"

    def __init__(self) -> None:
        self.seen: list[RoutingDecision] = []

    def restrict(self, request: Request, candidates: Sequence[str]) -> Restriction | None:
        return None

    def observe(self, decision: RoutingDecision) -> None:
        self.seen.append(decision)


MESSAGES = [ChatMessage(role=MessageRole.USER, content="hello there")]


@pytest.mark.parametrize("use_async", [False, True])
def test_llama_index_stream_shows_gates_the_final_decision_once(use_async: bool) -> None:
    gate = Observer()
    model = LIRouter(models={"a": ScriptedLLM(model="a")}, gates=[gate])

    async def astream() -> None:
        async for _ in await model.astream_chat(MESSAGES):
            pass

    if use_async:
        asyncio.run(astream())
    else:
        for _ in model.stream_chat(MESSAGES):
            pass
    assert len(gate.seen) == 1
    assert gate.seen[0].input_tokens is not None  # the completed call, with its usage


def test_every_model_failing_is_all_models_failed_even_when_the_deadline_passed_meanwhile():
    from routing_chat_model import AllModelsFailedError

    # the clock passes the 10 s deadline while "b" (the last model) fails with a 503
    router = Router(["a", "b"], selector=lambda r: "a", deadline_s=10, clock=Clock(0, 1, 2, 30))
    calls: list[str] = []

    def call(route: str) -> str:
        calls.append(route)
        raise ProviderError(503)

    with pytest.raises(AllModelsFailedError) as info:
        router.run(router.decide(request()), call)
    assert calls == ["a", "b"]
    assert [type(e) for e in info.value.exceptions] == [ProviderError, ProviderError]
