"""Streams: first-token and idle timeouts, hold-back, commit predicates; cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from routing_chat_model import Router, RoutingRequest, StreamInterruptedError, Turn
from routing_chat_model.policy import CircuitBreaker, ErrorKind


class ProviderError(Exception):
    status_code = 503


def request() -> RoutingRequest:
    return RoutingRequest.from_turns([Turn("user", "hello")])


def make(**kw: Any) -> Router:
    return Router(["a", "b"], selector=lambda r: None, **kw)


class Streams:
    """Scripted async streams per route: a list of chunks, where "HANG" waits forever and
    "FAIL" raises a 503. Records which streams were opened, cancelled and closed."""

    def __init__(self, **scripts: list[str]) -> None:
        self.scripts = scripts
        self.opened: list[str] = []
        self.cancelled: list[str] = []
        self.closed: list[str] = []

    async def open(self, route: str) -> AsyncIterator[str]:
        self.opened.append(route)
        try:
            for item in self.scripts.get(route, [f"{route}1", f"{route}2"]):
                if item == "HANG":
                    try:
                        await asyncio.Event().wait()
                    except asyncio.CancelledError:
                        self.cancelled.append(route)
                        raise
                if item == "FAIL":
                    raise ProviderError("overloaded")
                yield item
        finally:
            self.closed.append(route)

    def sync(self, route: str) -> Iterator[str]:
        self.opened.append(route)
        try:
            for item in self.scripts.get(route, [f"{route}1", f"{route}2"]):
                if item == "FAIL":
                    raise ProviderError("overloaded")
                yield item
        finally:
            self.closed.append(route)


async def collect(router: Router, streams: Streams, **kw: Any) -> list[str]:
    out = []
    async for chunk, _ in router.arun_stream(router.decide(request()), streams.open, **kw):
        out.append(chunk)
    return out


def test_first_token_timeout_falls_back_with_nothing_shown() -> None:
    streams = Streams(a=["HANG", "a1"])
    router = make(first_token_timeout_s=0.02)
    decisions = []

    async def run() -> list[str]:
        out = []
        async for chunk, decision in router.arun_stream(router.decide(request()), streams.open):
            out.append(chunk)
            decisions.append(decision)
        return out

    assert asyncio.run(run()) == ["b1", "b2"]
    assert streams.cancelled == ["a"]
    assert "a" in streams.closed
    first = decisions[0].attempts[0]
    assert (first.error, first.error_kind, first.billing) == (
        "AttemptTimeoutError",
        "timeout",
        "unknown",
    )


def test_a_stall_after_the_first_chunk_raises_without_splicing() -> None:
    streams = Streams(a=["a1", "HANG", "a2"])
    router = make(idle_timeout_s=0.02)
    seen: list[str] = []

    async def run() -> None:
        async for chunk, _ in router.arun_stream(router.decide(request()), streams.open):
            seen.append(chunk)

    with pytest.raises(StreamInterruptedError) as info:
        asyncio.run(run())
    assert seen == ["a1"]
    assert info.value.chunks_emitted == 1
    assert streams.opened == ["a"]  # no fallback after content reached the caller
    assert streams.cancelled == ["a"] and "a" in streams.closed


def test_hold_back_lets_a_failure_within_the_held_chunks_fall_back() -> None:
    streams = Streams(a=["a1", "a2", "FAIL"])
    assert asyncio.run(collect(make(stream_hold_back=3), streams)) == ["b1", "b2"]
    assert streams.closed == ["a", "b"]


def test_hold_back_sync() -> None:
    streams = Streams(a=["a1", "a2", "FAIL"])
    router = make(stream_hold_back=3)
    out = [chunk for chunk, _ in router.run_stream(router.decide(request()), streams.sync)]
    assert out == ["b1", "b2"]


def test_after_the_held_chunks_a_failure_interrupts() -> None:
    streams = Streams(a=["a1", "a2", "FAIL"])
    router = make(stream_hold_back=2)
    seen: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        for chunk, _ in router.run_stream(router.decide(request()), streams.sync):
            seen.append(chunk)
    assert seen == ["a1", "a2"]
    assert info.value.chunks_emitted == 2


def test_a_short_stream_within_the_hold_back_is_delivered_whole() -> None:
    streams = Streams(a=["a1"])
    assert asyncio.run(collect(make(stream_hold_back=5), streams)) == ["a1"]


def test_commit_predicate_holds_until_a_tool_call() -> None:
    def is_tool(chunk: str) -> bool:
        return chunk.startswith("tool")

    failing_before = Streams(a=["a1", "a2", "FAIL"])
    assert asyncio.run(collect(make(), failing_before, commit=is_tool)) == ["b1", "b2"]
    failing_after = Streams(a=["a1", "tool_call", "FAIL"])
    seen: list[str] = []

    async def run() -> None:
        async for chunk, _ in make().arun_stream(
            make().decide(request()), failing_after.open, is_tool
        ):
            seen.append(chunk)

    with pytest.raises(StreamInterruptedError):
        asyncio.run(run())
    assert seen == ["a1", "tool_call"]


def test_an_empty_stream_is_an_answer_not_a_failure() -> None:
    streams = Streams(a=[])
    assert asyncio.run(collect(make(stream_hold_back=2), streams)) == []
    assert streams.opened == ["a"]


# -- cancellation -----------------------------------------------------------------------------


def test_cancelling_a_call_propagates_and_starts_nothing_new() -> None:
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=0)
    router = make(circuit_breaker=breaker)
    calls: list[str] = []
    started = asyncio.Event()

    async def call(route: str) -> str:
        calls.append(route)
        started.set()
        await asyncio.Event().wait()
        return route

    async def run() -> None:
        task = asyncio.create_task(router.arun(router.decide(request()), call))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert calls == ["a"]
    assert breaker.state() == {}  # a cancellation is not the model's failure


def test_cancelling_a_stream_before_its_first_chunk_closes_the_child_stream() -> None:
    streams = Streams(a=["HANG"])
    router = make()

    async def run() -> None:
        task = asyncio.create_task(collect(router, streams))
        while not streams.opened:
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert streams.opened == ["a"]  # no fallback to "b"
    assert streams.cancelled == ["a"] and streams.closed == ["a"]


def test_cancelling_mid_stream_closes_the_child_stream() -> None:
    streams = Streams(a=["a1", "HANG"])
    router = make()
    seen: list[str] = []

    async def consume() -> None:
        async for chunk, _ in router.arun_stream(router.decide(request()), streams.open):
            seen.append(chunk)

    async def run() -> None:
        task = asyncio.create_task(consume())
        while not seen:
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert seen == ["a1"]
    assert streams.closed == ["a"] and streams.opened == ["a"]


def test_keyboard_interrupt_propagates_without_fallback() -> None:
    router = make()
    calls: list[str] = []

    def call(route: str) -> str:
        calls.append(route)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        router.run(router.decide(request()), call)
    assert calls == ["a"]


def test_keyboard_interrupt_in_a_sync_stream_closes_it() -> None:
    closed: list[str] = []

    def open_stream(route: str) -> Iterator[str]:
        try:
            yield from interrupted()
        finally:
            closed.append(route)

    def interrupted() -> Iterator[str]:
        if not closed:  # always, before any chunk
            raise KeyboardInterrupt
        yield "never"

    router = make()
    with pytest.raises(KeyboardInterrupt):
        list(router.run_stream(router.decide(request()), open_stream))
    assert closed == ["a"]


def test_a_cancelled_probe_is_released() -> None:
    clock = [0.0]
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=5, clock=lambda: clock[0])
    breaker.failure("a", ErrorKind.SERVER_ERROR, ProviderError())
    clock[0] = 5
    router = make(circuit_breaker=breaker)
    started = asyncio.Event()

    async def call(route: str) -> str:
        started.set()
        await asyncio.Event().wait()
        return route

    async def run() -> None:
        task = asyncio.create_task(router.arun(router.decide(request()), call))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert breaker.allow("a")  # the next request may probe
