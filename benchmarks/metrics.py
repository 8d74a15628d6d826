"""Latency a metrics handler adds to each routed call, in LangChain and LlamaIndex.

Contestants, over the same router (two `ScriptedChatModel` / `ScriptedLLM` children, a
one-rule `RuleSelector`) answering the same prompt:

- `direct`: the router with no handler at all (the routing event is then not even built);
- `passthrough`: a handler that does nothing, the floor any callback handler costs (LangChain
  builds the event's callback manager; LlamaIndex builds the `RoutingDecisionEvent`);
- `ours_handler`: `RoutingMetricsHandler` feeding a `RoutingMetrics`;
- `ours_handler_log`: the same plus a `DecisionLog` appending to a temporary file, flushed on
  every line (the default policy).

Calls alternate between contestants each round in a rotating order (drift hits all alike).
LangChain passes the handler in `config={"callbacks": [...]}`; LlamaIndex attaches it to the root
dispatcher, swapped in untimed before each call. The core's own costs (`RoutingMetrics.record`,
`DecisionLog.write`, `to_prometheus`) are timed alone as well.

Run from the repo root: `python benchmarks/metrics.py [--rounds N] [--out PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent

from _bench import (
    ainterleaved,
    default_out,
    fmt_us,
    interleaved,
    load_average,
    machine_info,
    overhead_rows,
    print_table,
    summarize,
    write_json,
)
from routing_chat_model import Rule, RuleSelector
from routing_chat_model.langchain import RoutingChatModel, RoutingMetricsHandler
from routing_chat_model.llama_index import RoutingChatModel as LlamaRouter
from routing_chat_model.llama_index import RoutingMetricsHandler as LlamaMetricsHandler
from routing_chat_model.metrics import DecisionLog, RoutingMetrics
from routing_chat_model.testing import ScriptedChatModel, ScriptedLLM

__all__ = ["main"]

PROMPT = "Prove that there are infinitely many prime numbers."
SELECTOR_RULES = [Rule(route="strong", keywords=["prove"])]


class _NoopHandler(BaseCallbackHandler):
    """Receives every LangChain callback and does nothing: the cost of having a handler."""

    run_inline = True

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        """Accept the routing event."""


class _NoopEventHandler(BaseEventHandler):
    """Receives every LlamaIndex event and does nothing."""

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        """Ignore it."""


def _langchain(
    rounds: int, warmup: int, log_dir: Path
) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    fast, strong = ScriptedChatModel(model="fast"), ScriptedChatModel(model="strong")
    router = RoutingChatModel(
        models={"fast": fast, "strong": strong},
        selector=RuleSelector(SELECTOR_RULES),
        default="fast",
    )
    log = DecisionLog(log_dir / "langchain.jsonl")
    configs: dict[str, Any] = {
        "direct": None,
        "passthrough": {"callbacks": [_NoopHandler()]},
        "ours_handler": {"callbacks": [RoutingMetricsHandler()]},
        "ours_handler_log": {"callbacks": [RoutingMetricsHandler(log=log)]},
    }

    def reset() -> None:
        fast.reset()
        strong.reset()

    def sync(config: Any) -> Callable[[], object]:
        return lambda: router.invoke(PROMPT, config=config)

    def make_async(config: Any) -> Callable[[], Awaitable[object]]:
        return lambda: router.ainvoke(PROMPT, config=config)

    invoke = interleaved({n: sync(c) for n, c in configs.items()}, rounds, warmup, between=reset)
    ainvoke = asyncio.run(
        ainterleaved({n: make_async(c) for n, c in configs.items()}, rounds, warmup, reset)
    )
    log.close()
    return invoke, ainvoke


def _llama_index(rounds: int, warmup: int, log_dir: Path) -> dict[str, list[int]]:
    router = LlamaRouter(
        models={"fast": ScriptedLLM(model="fast"), "strong": ScriptedLLM(model="strong")},
        selector=RuleSelector(SELECTOR_RULES),
        default="fast",
    )
    messages = [ChatMessage(role=MessageRole.USER, content=PROMPT)]
    log = DecisionLog(log_dir / "llama_index.jsonl")
    handlers: dict[str, list[BaseEventHandler]] = {
        "direct": [],
        "passthrough": [_NoopEventHandler()],
        "ours_handler": [LlamaMetricsHandler()],
        "ours_handler_log": [LlamaMetricsHandler(log=log)],
    }
    root = get_dispatcher()
    saved = list(root.event_handlers)
    names = list(handlers)
    samples: dict[str, list[int]] = {name: [] for name in names}
    clock = time.perf_counter_ns
    try:
        for r in range(warmup + rounds):
            if r == warmup:
                gc.collect()
            for j in range(len(names)):
                name = names[(r + j) % len(names)]
                root.event_handlers = [*saved, *handlers[name]]  # untimed swap
                start = clock()
                router.chat(messages)
                elapsed = clock() - start
                if r >= warmup:
                    samples[name].append(elapsed)
    finally:
        root.event_handlers = saved
        log.close()
    return samples


def _core(rounds: int, log_dir: Path) -> list[dict[str, Any]]:
    """The core's own costs per operation, without any framework."""
    decision = (
        RoutingChatModel(
            models={"fast": ScriptedChatModel(model="fast"), "strong": ScriptedChatModel()},
            selector=RuleSelector(SELECTOR_RULES),
            default="fast",
        )
        .invoke(PROMPT)
        .response_metadata["routing"]
    )
    metrics = RoutingMetrics()
    log = DecisionLog(log_dir / "core.jsonl")
    ops: dict[str, Callable[[], object]] = {
        "RoutingMetrics.record": lambda: metrics.record(decision),
        "DecisionLog.write": lambda: log.write(decision),
    }
    rows = []
    clock = time.perf_counter_ns
    for name, op in ops.items():
        timings = []
        for _ in range(rounds):
            start = clock()
            op()
            timings.append(clock() - start)
        rows.append({"operation": name, **summarize(timings)})
    timings = []
    for _ in range(max(rounds // 20, 5)):
        start = clock()
        metrics.to_prometheus()
        timings.append(clock() - start)
    rows.append({"operation": "RoutingMetrics.to_prometheus (2 routes)", **summarize(timings)})
    log.close()
    return rows


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=2000, help="timed calls per contestant")
    parser.add_argument("--warmup", type=int, default=200, help="untimed rounds first")
    parser.add_argument("--out", type=Path, default=default_out("metrics"), help="JSON output")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0:
        parser.error("--rounds must be >= 1 and --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Time every contestant, print the tables, write the JSON."""
    args = parse_args(argv)
    machine = machine_info()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp)
        invoke, ainvoke = _langchain(args.rounds, args.warmup, log_dir)
        rows += [{"framework": "langchain", **r} for r in overhead_rows("invoke", invoke, 0.0)]
        rows += [{"framework": "langchain", **r} for r in overhead_rows("ainvoke", ainvoke, 0.0)]
        chat = _llama_index(args.rounds, args.warmup, log_dir)
        rows += [{"framework": "llama_index", **r} for r in overhead_rows("chat", chat, 0.0)]
        core = _core(args.rounds, log_dir)
    print_table(
        f"Handler cost per routed call, microseconds ({args.rounds} interleaved rounds)",
        ["framework", "mode", "contestant", "p50", "p90", "p99", "+p50 vs direct", "+p50 vs noop"],
        [
            [
                r["framework"],
                r["mode"],
                r["contestant"],
                fmt_us(r["p50_us"]),
                fmt_us(r["p90_us"]),
                fmt_us(r["p99_us"]),
                "-" if "overhead_p50_us" not in r else fmt_us(r["overhead_p50_us"]),
                "-" if "over_passthrough_p50_us" not in r else fmt_us(r["over_passthrough_p50_us"]),
            ]
            for r in rows
        ],
    )
    print_table(
        "Core operations alone, microseconds",
        ["operation", "n", "p50", "p90", "p99"],
        [
            [r["operation"], r["n"], fmt_us(r["p50_us"]), fmt_us(r["p90_us"]), fmt_us(r["p99_us"])]
            for r in core
        ],
    )
    for r in rows:  # `overhead_rows` adds a target only for a contestant named "ours"
        r.pop("target_overhead_us", None)
        r.pop("meets_target", None)
    payload = {
        "benchmark": "metrics",
        "machine": {**machine, "load_average_after": load_average()},
        "settings": {"rounds": args.rounds, "warmup": args.warmup, "prompt": PROMPT},
        "rows": rows,
        "core": core,
    }
    path = write_json(args.out, payload)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
