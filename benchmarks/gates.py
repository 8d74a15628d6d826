"""Overhead of each gate per call: `restrict` (before every call) and `observe` (after it).

Gates run on every routed call, before the selector, so their cost adds to every decision.
Cases, as a user would configure them:

- `Budget` with only a per-call cap, 3 models priced by `prices=`;
- `Budget` with a monthly tenant budget over 1,000 tenants (an `InMemoryLedger` with two weeks of
  per-minute spend for the tenant asked about), 3 and 8 models; `observe` records the spend;
- `LatencyTarget` (p95 target) over 3 and 8 models, each with a full window of 200
  observations; `observe` learns one attempt, so the next `restrict` re-sorts that window.

Each case times `restrict` and `observe` call by call (the pair is one call's gate overhead).

Run from the repo root: `python benchmarks/gates.py [--iterations N] [--out PATH]`.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _bench import (
    default_out,
    fmt_us,
    load_average,
    machine_info,
    print_table,
    summarize,
    write_json,
)
from routing_chat_model.decision import Attempt, RoutingDecision
from routing_chat_model.policy.budget import Budget
from routing_chat_model.policy.gate import Gate
from routing_chat_model.policy.latency import LatencyTarget
from routing_chat_model.policy.ledger import InMemoryLedger
from routing_chat_model.request import RoutingRequest, Turn

__all__ = ["main"]

NOW = 1_750_000_000.0  # mid June 2025, UTC
PROMPT = "Summarise the attached support ticket and propose a reply to the customer. " * 8


def _models(n: int) -> list[str]:
    return [f"model-{i}" for i in range(n)]


def _prices(models: Sequence[str]) -> dict[str, dict[str, float]]:
    return {
        m: {"input_per_mtok": 0.15 * (i + 1), "output_per_mtok": 0.6 * (i + 1)}
        for i, m in enumerate(models)
    }


def _request(tenant: str | None) -> RoutingRequest:
    metadata = {} if tenant is None else {"tenant_id": tenant}
    return RoutingRequest.from_turns([Turn("user", PROMPT)], metadata=metadata)


def _completed(route: str, restrictions: tuple[str, ...], ms: float) -> RoutingDecision:
    return RoutingDecision(
        route=route,
        selected=route,
        selector="bench",
        reason="",
        attempts=(Attempt(route, latency_ms=ms),),
        input_tokens=300,
        output_tokens=200,
        cost_usd=0.0004,
        restrictions=restrictions,
    )


def _ledger_with_history(tenants: int) -> InMemoryLedger:
    """Two weeks of spend: one bucket a minute for t-0, a little for every other tenant."""
    ledger = InMemoryLedger()
    start = NOW - 14 * 86_400
    for minute in range(14 * 24 * 60):
        ledger.add("t-0", 0.0001, at=start + minute * 60)
    for t in range(1, tenants):
        ledger.add(f"t-{t}", 0.01, at=NOW - 3600)
    return ledger


Case = tuple[str, Gate, RoutingRequest, Sequence[str]]


def cases() -> list[Case]:
    """The gates to time, each with its requests and candidates."""
    out: list[Case] = []
    three, eight = _models(3), _models(8)
    cap = Budget(prices=_prices(three), max_cost_per_call=0.01, clock=lambda: NOW)
    out.append(("budget: per-call cap, 3 models", cap, _request(None), three))
    for models in (three, eight):
        tenant = Budget(
            prices=_prices(models),
            max_cost_per_call=0.01,
            tenant_budget=1000.0,
            ledger=_ledger_with_history(1000),
            clock=lambda: NOW,
        )
        out.append((f"budget: tenant month, {len(models)} models", tenant, _request("t-0"), models))
    rng = random.Random(7)
    for models in (three, eight):
        latency = LatencyTarget(800.0, clock=lambda: NOW)
        for m in models:
            for _ in range(200):
                latency.record(m, rng.lognormvariate(6.0, 0.5), at=NOW)
        out.append((f"latency: p95 target, {len(models)} models", latency, _request(None), models))
    return out


def time_case(case: Case, iterations: int, warmup: int) -> list[dict[str, Any]]:
    """Time `restrict` then `observe` of one gate, call by call."""
    label, gate, request, candidates = case
    rng = random.Random(11)
    clock = time.perf_counter_ns
    restrict_ns: list[int] = []
    observe_ns: list[int] = []
    for i in range(warmup + iterations):
        if i == warmup:
            gc.collect()
        t0 = clock()
        restriction = gate.restrict(request, candidates)
        t1 = clock()
        allowed = restriction.allowed if restriction is not None else tuple(candidates)
        reasons = (f"{gate.name}: {restriction.reason}",) if restriction is not None else ()
        decision = _completed(allowed[0], reasons, rng.lognormvariate(6.0, 0.5))
        t2 = clock()
        gate.observe(decision)
        t3 = clock()
        if i >= warmup:
            restrict_ns.append(t1 - t0)
            observe_ns.append(t3 - t2)
    return [
        {"gate": label, "op": "restrict", **summarize(restrict_ns)},
        {"gate": label, "op": "observe", **summarize(observe_ns)},
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=5000, help="timed calls per row")
    parser.add_argument("--warmup", type=int, default=500, help="untimed calls before each case")
    parser.add_argument("--out", type=Path, default=default_out("gates"), help="JSON output path")
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.warmup < 0:
        parser.error("--iterations must be >= 1 and --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Time every gate, print the table, write the JSON."""
    args = parse_args(argv)
    machine = machine_info()
    rows = [row for case in cases() for row in time_case(case, args.iterations, args.warmup)]
    print_table(
        f"Gate overhead per call, microseconds ({args.iterations} calls per row)",
        ["gate", "op", "p50", "p90", "p99", "mean"],
        [
            [
                r["gate"],
                r["op"],
                fmt_us(r["p50_us"]),
                fmt_us(r["p90_us"]),
                fmt_us(r["p99_us"]),
                fmt_us(r["mean_us"]),
            ]
            for r in rows
        ],
    )
    payload = {
        "benchmark": "gates",
        "machine": machine,
        "load_average_at_end": load_average(),
        "settings": {"iterations": args.iterations, "warmup": args.warmup, "prompt": len(PROMPT)},
        "results": rows,
    }
    path = write_json(args.out, payload)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
