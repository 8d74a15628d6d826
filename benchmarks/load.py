"""Load: 1,000 concurrent `ainvoke` calls through `RoutingChatModel` over flaky async children.

What it measures (issue 5, "Load"):

- the router's added latency under concurrency: per request, the time the event loop spent
  running that request's code (its coroutine's steps, the child's included), for the router
  and for the same calls made directly on a child; the router's added latency is the
  difference at p50 and p99 (targets <= 1 ms / <= 10 ms). Wall time per request is reported
  too, but with 1,000 requests released at once it is mostly queueing: a request waits while
  the loop runs the others, whoever wraps the model;
- the event loop's worst lag while the burst runs (a monitor task asks to wake every 1 ms),
  and the longest single step of any request (the longest the router holds the loop without
  yielding): with 1,000 requests released at once the lag is bounded below by the burst's
  total work, for a bare child too, so the step is the figure the router controls;
- that no request is lost or answered twice: each request carries its own id, the answer must
  echo it, and every request ends in exactly one answer or one error;
- that memory stays flat: `tracemalloc` heap growth between the end of the first tenth and the
  end of a long run of calls (default 100,000), with the garbage collector run before each
  snapshot; flat means the router keeps no per-request state.

The children are minimal async chat models (`FlakyChild`): the primary fails a seeded 30 % of
calls with a 429-like error, so a third of requests fall back to the secondary.

Run from the repo root: `python benchmarks/load.py [--concurrency 1000] [--calls 100000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import time
import tracemalloc
from collections.abc import Coroutine, Generator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from _bench import default_out, load_average, machine_info, print_table, write_json
from routing_chat_model import AllModelsFailedError, Rule, RuleSelector
from routing_chat_model.langchain import RoutingChatModel

__all__ = ["FlakyChild", "main"]

TARGET_P50_MS = 1.0
TARGET_P99_MS = 10.0


class RateLimitError(Exception):
    """Stands in for a provider's 429 (classified by its name and status, like the SDKs')."""

    status_code = 429


class FlakyChild(BaseChatModel):
    """An async chat model that echoes the request id and fails a seeded share of calls."""

    name_: str = "child"
    fail_rate: float = 0.0
    latency_s: float = 0.0
    seed: int = 0

    _rng: random.Random = PrivateAttr()

    def model_post_init(self, context: Any) -> None:
        """Seed the failure pattern."""
        self._rng = random.Random(self.seed)

    @property
    def _llm_type(self) -> str:
        return "flaky-child"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        raise NotImplementedError("the load benchmark is async only")

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request_id = str(messages[-1].content)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self.fail_rate and self._rng.random() < self.fail_rate:
            raise RateLimitError(f"{self.name_} is rate limited")
        message = AIMessage(
            content=f"{self.name_} answers {request_id}",
            response_metadata={"model_name": self.name_},
            usage_metadata={"input_tokens": 3, "output_tokens": 3, "total_tokens": 6},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


class Busy:
    """Awaits a coroutine while timing each of its steps: the time the loop spent on it."""

    __slots__ = ("busy", "coro", "longest")

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro = coro
        self.busy = 0.0
        self.longest = 0.0

    def __await__(self) -> Generator[Any, Any, Any]:
        clock = time.perf_counter
        send: Any = None
        error: BaseException | None = None
        while True:
            start = clock()
            try:
                step = self.coro.send(send) if error is None else self.coro.throw(error)
            except StopIteration as stop:
                self._add(clock() - start)
                return stop.value
            except BaseException:
                self._add(clock() - start)
                raise
            self._add(clock() - start)
            try:
                send, error = (yield step), None
            except BaseException as exc:  # thrown into us (cancellation): pass it on
                send, error = None, exc

    def _add(self, seconds: float) -> None:
        self.busy += seconds
        self.longest = max(self.longest, seconds)


def build(fail_rate: float, latency_s: float) -> tuple[RoutingChatModel, FlakyChild, FlakyChild]:
    """The router and its two children (the primary flaky, the secondary reliable)."""
    primary = FlakyChild(name_="primary", fail_rate=fail_rate, latency_s=latency_s, seed=7)
    secondary = FlakyChild(name_="secondary", latency_s=latency_s, seed=8)
    router = RoutingChatModel(
        models={"primary": primary, "secondary": secondary},
        selector=RuleSelector([Rule(route="secondary", keywords=["escalate"])]),
        default="primary",
    )
    return router, primary, secondary


async def _monitor_lag(stop: asyncio.Event, lags: list[float]) -> None:
    """Record how late the loop wakes a task that asks to sleep 1 ms."""
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(0.001)
        lags.append(time.perf_counter() - start - 0.001)


async def burst(model: BaseChatModel, ids: Sequence[str]) -> dict[str, Any]:
    """Run one concurrent burst; per request: outcome, wall time and busy time."""
    stop = asyncio.Event()
    lags: list[float] = []
    monitor = asyncio.create_task(_monitor_lag(stop, lags))

    async def one(request_id: str) -> tuple[str, Any, float, float, float]:
        start = time.perf_counter()
        timed = Busy(model.ainvoke(request_id))
        try:
            answer: Any = await timed
        except AllModelsFailedError as exc:
            answer = exc
        return request_id, answer, time.perf_counter() - start, timed.busy, timed.longest

    results = await asyncio.gather(*(one(i) for i in ids))
    stop.set()
    await monitor
    return {"results": results, "max_lag_s": max(lags, default=0.0)}


def check(outcome: dict[str, Any], ids: Sequence[str], routed: bool) -> dict[str, int]:
    """Every request ends in one answer that echoes its own id, or one error; count them."""
    seen: dict[str, int] = {}
    answered = failed = fallbacks = 0
    for request_id, answer, *_ in outcome["results"]:
        seen[request_id] = seen.get(request_id, 0) + 1
        if isinstance(answer, BaseException):
            failed += 1
            continue
        answered += 1
        if not str(answer.content).endswith(f" answers {request_id}"):
            raise AssertionError(f"request {request_id} got another request's answer")
        if routed:
            decision = answer.response_metadata["routing"]
            if not str(answer.content).startswith(decision["route"]):
                raise AssertionError(f"request {request_id}: decision names the wrong model")
            fallbacks += decision["route"] != decision["selected"]
    lost = [i for i in ids if i not in seen]
    twice = [i for i, n in seen.items() if n != 1]
    if lost or twice:
        raise AssertionError(f"lost {len(lost)} request(s), {len(twice)} answered twice")
    return {"answered": answered, "failed": failed, "fallbacks": fallbacks}


def _ms(outcome: dict[str, Any], column: int) -> np.ndarray:
    return np.array([row[column] * 1000 for row in outcome["results"]])


def _pcts(values: np.ndarray) -> dict[str, float]:
    return {f"p{q}": round(float(np.percentile(values, q)), 3) for q in (50, 99)}


async def run_load(concurrency: int, fail_rate: float, latency_s: float) -> dict[str, Any]:
    """One burst through the router and one straight to a child, with the same requests."""
    router, _, _ = build(fail_rate, latency_s)
    direct = FlakyChild(name_="direct", latency_s=latency_s)
    warm = [f"warm-{i}" for i in range(50)]
    await burst(router, warm)
    await burst(direct, warm)
    ids = [f"req-{i}" for i in range(concurrency)]
    gc.collect()
    routed = await burst(router, ids)
    gc.collect()
    plain = await burst(direct, ids)
    counts = check(routed, ids, routed=True)
    check(plain, ids, routed=False)
    ours, base = _pcts(_ms(routed, 3)), _pcts(_ms(plain, 3))
    return {
        "concurrency": concurrency,
        "fail_rate": fail_rate,
        "child_latency_s": latency_s,
        **counts,
        "router_busy_ms": ours,
        "direct_busy_ms": base,
        "added_ms": {k: round(ours[k] - base[k], 3) for k in ours},
        "router_wall_ms": _pcts(_ms(routed, 2)),
        "direct_wall_ms": _pcts(_ms(plain, 2)),
        "longest_step_ms": {
            "router": round(float(_ms(routed, 4).max()), 3),
            "direct": round(float(_ms(plain, 4).max()), 3),
        },
        "max_loop_lag_ms": {
            "router": round(routed["max_lag_s"] * 1000, 2),
            "direct": round(plain["max_lag_s"] * 1000, 2),
        },
    }


async def run_memory(calls: int, concurrency: int, fail_rate: float) -> dict[str, Any]:
    """Heap growth over `calls` routed calls, in bursts of `concurrency`."""
    router, _, _ = build(fail_rate, 0.0)
    batches = max(calls // concurrency, 10)
    tracemalloc.start()
    first: int | None = None
    done = 0
    for b in range(batches):
        ids = [f"m{b}-{i}" for i in range(concurrency)]
        outcome = await burst(router, ids)
        check(outcome, ids, routed=True)
        done += len(ids)
        if b == batches // 10 - 1:
            gc.collect()
            first = tracemalloc.get_traced_memory()[0]
    gc.collect()
    last = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert first is not None
    return {
        "calls": done,
        "heap_after_first_tenth_kib": round(first / 1024, 1),
        "heap_at_end_kib": round(last / 1024, 1),
        "growth_kib": round((last - first) / 1024, 1),
        "growth_bytes_per_call": round((last - first) / max(done - done // 10, 1), 3),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the load and memory measurements, print the tables, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=100_000, help="calls for the memory run")
    parser.add_argument("--fail-rate", type=float, default=0.3)
    parser.add_argument("--out", type=Path, default=default_out("load"))
    args = parser.parse_args(argv)

    loads = [
        asyncio.run(run_load(args.concurrency, args.fail_rate, latency)) for latency in (0.0, 0.005)
    ]
    memory = asyncio.run(run_memory(args.calls, args.concurrency, args.fail_rate))
    print_table(
        f"{args.concurrency} concurrent ainvoke, primary fails {args.fail_rate:.0%} (429)",
        [
            "child latency",
            "answered",
            "fallbacks",
            "added p50 ms",
            "added p99 ms",
            "wall p50 ms (router/direct)",
            "longest step ms (router/direct)",
            "loop lag ms (router/direct)",
        ],
        [
            [
                f"{r['child_latency_s'] * 1000:.0f} ms",
                r["answered"],
                r["fallbacks"],
                r["added_ms"]["p50"],
                r["added_ms"]["p99"],
                f"{r['router_wall_ms']['p50']:.0f} / {r['direct_wall_ms']['p50']:.0f}",
                f"{r['longest_step_ms']['router']} / {r['longest_step_ms']['direct']}",
                f"{r['max_loop_lag_ms']['router']} / {r['max_loop_lag_ms']['direct']}",
            ]
            for r in loads
        ],
    )
    print(f"targets: added p50 <= {TARGET_P50_MS} ms, p99 <= {TARGET_P99_MS} ms")
    print_table(
        "memory (tracemalloc, after gc)",
        ["calls", "heap after 1/10 KiB", "heap at end KiB", "growth KiB", "bytes/call"],
        [
            [
                memory["calls"],
                memory["heap_after_first_tenth_kib"],
                memory["heap_at_end_kib"],
                memory["growth_kib"],
                memory["growth_bytes_per_call"],
            ]
        ],
    )
    payload = {
        "benchmark": "load",
        "machine": machine_info(),
        "load": loads,
        "memory": memory,
        "targets_ms": {"p50": TARGET_P50_MS, "p99": TARGET_P99_MS},
        "load_average_after": load_average(),
    }
    print(f"\nwrote {write_json(args.out, payload)}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
