"""Overhead of the cascade and parallel modes over a direct model call (framework-free core).

The "model" is a plain function answering at once, so the figures are what a mode itself adds
to one call: the attempt loop per step, checks, step records, totals, and for `Parallel` the
thread pool (sync) or tasks (async). Contestants, timed interleaved call by call:

- `direct`: call the model and read its answer;
- `router.run`: the routed call without a mode (one attempt);
- `cascade 1 step`: `Cascade` whose first answer passes a validator;
- `cascade 2 steps`: the first answer fails the validator, the second passes;
- `parallel k=2 first_valid` and `parallel k=3 majority` (sync: thread pool);
- async twins of the direct call and the parallel modes (tasks; losers cancelled).

Run from the repo root: `python benchmarks/modes.py [--iterations N] [--out PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from _bench import (
    ainterleaved,
    default_out,
    fmt_us,
    interleaved,
    load_average,
    machine_info,
    overhead_rows,
    print_table,
    write_json,
)
from routing_chat_model._capabilities import Usage
from routing_chat_model.modes import Answer, Binding, Cascade, Parallel
from routing_chat_model.pricing import Pricing
from routing_chat_model.request import RoutingRequest, Turn
from routing_chat_model.router import Router

__all__ = ["main"]

MODELS = ["small", "medium", "large"]
PRICES = {m: {"input_per_mtok": 1.0 * (i + 1), "output_per_mtok": 2.0 * (i + 1)}
          for i, m in enumerate(MODELS)}  # fmt: skip


def _answer(route: str) -> dict[str, Any]:
    return {"route": route, "text": "bad" if route == "small" else "good"}


async def _aanswer(route: str) -> dict[str, Any]:
    return _answer(route)


def _describe(result: dict[str, Any]) -> Answer:
    return Answer(result["text"], Usage(120, 40), model_name=result["route"])


def _ok(text: str) -> bool:
    return True


def _not_bad(text: str) -> bool:
    return text != "bad"


def contestants() -> tuple[
    dict[str, Callable[[], object]], dict[str, Callable[[], Awaitable[object]]]
]:
    """Sync and async contestants, each a zero-argument call."""
    router = Router(
        MODELS, selector=lambda r: None, pricing=Pricing(PRICES, use_genai_prices=False)
    )
    decision = router.decide(RoutingRequest.from_turns([Turn("user", "write median(xs)")]))
    bind = Binding("write median(xs)", _describe, _answer, _aanswer)
    one = Cascade(checks=[_ok])
    two = Cascade(checks=[_not_bad])
    first = Parallel(k=2, checks=[_ok])
    vote = Parallel(k=3, aggregate="majority")
    sync: dict[str, Callable[[], object]] = {
        "direct": lambda: _describe(_answer("small")),
        "router.run": lambda: router.run(decision, _answer),
        "cascade 1 step": lambda: one.run(router, decision, bind),
        "cascade 2 steps": lambda: two.run(router, decision, bind),
        "parallel k=2 first_valid": lambda: first.run(router, decision, bind),
        "parallel k=3 majority": lambda: vote.run(router, decision, bind),
    }

    async def adirect() -> object:
        return _describe(await _aanswer("small"))

    asynchronous: dict[str, Callable[[], Awaitable[object]]] = {
        "direct": adirect,
        "cascade 1 step": lambda: one.arun(router, decision, bind),
        "parallel k=2 first_valid": lambda: first.arun(router, decision, bind),
        "parallel k=3 majority": lambda: vote.arun(router, decision, bind),
    }
    return sync, asynchronous


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=3000, help="timed calls per row")
    parser.add_argument("--warmup", type=int, default=200, help="untimed rounds first")
    parser.add_argument("--out", type=Path, default=default_out("modes"), help="JSON output path")
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.warmup < 0:
        parser.error("--iterations must be >= 1 and --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Time every mode against a direct call, print the table, write the JSON."""
    args = parse_args(argv)
    machine = machine_info()
    sync, asynchronous = contestants()
    rows = overhead_rows("sync", interleaved(sync, args.iterations, args.warmup), 0.0)
    samples = asyncio.run(
        ainterleaved(asynchronous, args.iterations, args.warmup, between=lambda: None)
    )
    rows += overhead_rows("async", samples, 0.0)
    for row in rows:  # no target here: the figures are reported, not judged
        row.pop("target_overhead_us", None)
        row.pop("meets_target", None)
    print_table(
        f"Mode overhead per call over a direct call, microseconds ({args.iterations} calls)",
        ["path", "contestant", "p50", "p99", "overhead p50"],
        [
            [
                r["mode"],
                r["contestant"],
                fmt_us(r["p50_us"]),
                fmt_us(r["p99_us"]),
                fmt_us(r["overhead_p50_us"]) if "overhead_p50_us" in r else "-",
            ]
            for r in rows
        ],
    )
    payload = {
        "benchmark": "modes",
        "machine": machine,
        "load_average_at_end": load_average(),
        "settings": {"iterations": args.iterations, "warmup": args.warmup},
        "results": rows,
    }
    path = write_json(args.out, payload)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
