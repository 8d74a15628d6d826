"""The attempt loop's streaming half: `Router.run_stream` / `arun_stream`.

A stream commits to a model at its first chunk with content (or after `stream_hold_back`
chunks, or at the chunk `commit` accepts); before that a failure falls back like any attempt
(see `routing_chat_model._attempts`), after it a failure raises `StreamInterruptedError`, so two
models' output is never spliced.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from routing_chat_model._attempts import (
    Call,
    Commit,
    Limit,
    aclose_stream,
    close_stream,
    within,
)
from routing_chat_model.decision import RoutingDecision

if TYPE_CHECKING:
    from routing_chat_model.router import Router

__all__ = ["arun_stream", "run_stream"]

T = TypeVar("T")


def _committed(held: list[Any], hold: int, commit: Commit | None, empty: Commit | None) -> bool:
    """Whether the chunks held so far can be shown (the stream commits to this model).

    Chunks `empty` accepts (a role-only first chunk, which OpenAI-style streams always send)
    neither commit nor count toward the hold-back: nothing of the answer reached the caller.
    """
    last = held[-1]
    if empty is not None and empty(last):
        return False
    shown = len(held) if empty is None else sum(1 for chunk in held if not empty(chunk))
    if commit is not None:
        return commit(last) or (hold > 0 and shown >= hold)
    return shown >= max(hold, 1)


def run_stream(
    router: Router,
    decision: RoutingDecision,
    open_stream: Callable[[str], Iterator[T]],
    commit: Commit | None = None,
    empty: Commit | None = None,
) -> Iterator[tuple[T, RoutingDecision]]:
    """Stream from the first model of the plan that commits (see `Router.run_stream`)."""
    log = Call(router, decision)
    for route in log.plan():
        retry = 0
        while True:
            log.check_deadline(route)
            start = time.perf_counter()
            opened = _Opened(router.stream_hold_back, commit, empty)
            try:
                opened.fill(open_stream(route))
            except Exception as exc:
                opened.close()
                delay = log.failed(route, exc, start, retry)
                if delay is None:
                    break
                router.sleep(delay)
                retry += 1
                continue
            except BaseException:
                opened.close()
                log.abandoned(route)
                raise
            final = log.succeeded(route, start, retry)
            emitted = 0
            try:
                for chunk in opened.held:
                    yield chunk, final
                    emitted += 1
                if opened.stream is not None:
                    for chunk in opened.stream:
                        yield chunk, final
                        emitted += 1
            except Exception as exc:
                log.interrupted(route, emitted, exc)
            finally:
                opened.close()
            return
    raise log.exhausted()


async def arun_stream(
    router: Router,
    decision: RoutingDecision,
    open_stream: Callable[[str], AsyncIterator[T]],
    commit: Commit | None = None,
    empty: Commit | None = None,
) -> AsyncIterator[tuple[T, RoutingDecision]]:
    """Async `run_stream`; time limits cancel a stalled stream."""
    log = Call(router, decision)
    idle: Limit | None = None if router.idle_timeout_s is None else (router.idle_timeout_s, "idle")
    for route in log.plan():
        retry = 0
        while True:
            log.check_deadline(route)
            start = time.perf_counter()
            opened = _AOpened(router.stream_hold_back, commit, empty)
            try:
                await opened.fill(open_stream(route), log, route, start)
            except Exception as exc:
                await opened.aclose()
                delay = log.failed(route, exc, start, retry)
                if delay is None:
                    break
                await router.async_sleep(delay)
                retry += 1
                continue
            except BaseException:
                await opened.aclose()
                log.abandoned(route)
                raise
            final = log.succeeded(route, start, retry)
            emitted = 0
            try:
                for chunk in opened.held:
                    yield chunk, final
                    emitted += 1
                stream = opened.stream
                while stream is not None:
                    try:
                        if idle is None:
                            chunk = await stream.__anext__()
                        else:
                            chunk = await within(stream.__anext__(), route, idle)
                    except StopAsyncIteration:
                        break
                    yield chunk, final
                    emitted += 1
            except Exception as exc:
                log.interrupted(route, emitted, exc)
            finally:
                await opened.aclose()
            return
    raise log.exhausted()


class _Opened:
    """A sync stream up to its commit point: the chunks held so far."""

    __slots__ = ("commit", "empty", "held", "hold", "stream", "to_close")

    def __init__(self, hold: int, commit: Commit | None, empty: Commit | None) -> None:
        self.hold = hold
        self.commit = commit
        self.empty = empty
        self.held: list[Any] = []
        self.stream: Iterator[Any] | None = None
        """The stream while it has more chunks (None once it ended)."""
        self.to_close: Iterator[Any] | None = None

    def fill(self, stream: Iterator[Any]) -> None:
        """Pull chunks until the stream commits or ends (its errors propagate)."""
        self.stream = self.to_close = stream
        while True:
            try:
                self.held.append(next(stream))
            except StopIteration:
                self.stream = None
                return
            if _committed(self.held, self.hold, self.commit, self.empty):
                return

    def close(self) -> None:
        if self.to_close is not None:
            close_stream(self.to_close)


class _AOpened:
    """An async stream up to its commit point, each wait bounded by the attempt's limits."""

    __slots__ = ("commit", "empty", "held", "hold", "stream", "to_close")

    def __init__(self, hold: int, commit: Commit | None, empty: Commit | None) -> None:
        self.hold = hold
        self.commit = commit
        self.empty = empty
        self.held: list[Any] = []
        self.stream: AsyncIterator[Any] | None = None
        self.to_close: AsyncIterator[Any] | None = None

    async def fill(self, stream: AsyncIterator[Any], log: Call, route: str, start: float) -> None:
        self.stream = self.to_close = stream
        timed = log.router.stream_timed
        started = False  # a chunk with some of the answer arrived (not just the role)
        while True:
            try:
                if timed:
                    limit = log.limit(start, "idle" if started else "first_token")
                    chunk = await within(stream.__anext__(), route, limit)
                    started = started or self.empty is None or not self.empty(chunk)
                    self.held.append(chunk)
                else:
                    self.held.append(await stream.__anext__())
            except StopAsyncIteration:
                self.stream = None
                return
            if _committed(self.held, self.hold, self.commit, self.empty):
                return

    async def aclose(self) -> None:
        if self.to_close is not None:
            await aclose_stream(self.to_close)
