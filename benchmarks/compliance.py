"""Cost of the compliance scan: each shipped detector, and `Compliance.scan`, on a 10k-char prompt.

Two prompts of ~10,000 characters: ordinary prose with numbers, dates and versions (nothing
sensitive, so every detector scans the whole text: the worst and the common case), and the same
prose with an email and a card number near the end. Every call scans the text again (nothing is
cached), as the gate does on each routed call.

Run from the repo root: `python benchmarks/compliance.py [--iterations N] [--out PATH]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
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
from routing_chat_model.policy.compliance import DEFAULT_DETECTORS, Compliance
from routing_chat_model.request import RoutingRequest, Turn

__all__ = ["main", "prompts"]

_PARAGRAPH = (
    "Release 2.3.1 (2024-01-15) fixes 12 bugs in the billing service; build 20240115 ships to "
    "eu-west-1 at 10:30 UTC. The p99 latency fell from 840 ms to 310 ms across 1,204,551 calls, "
    "version 10.0.19041 is still required on Windows hosts, and the password policy now asks "
    "for 14 characters. See section 4.2, table 7 and https://example.org/docs/billing#retries "
    "for the retry settings (max_tokens=4096, timeout=30). "
)


def prompts(chars: int = 10_000) -> dict[str, str]:
    """The benign and the sensitive prompt, each about `chars` characters long."""
    benign = (_PARAGRAPH * (chars // len(_PARAGRAPH) + 1))[:chars]
    sensitive = (
        benign[: chars - 80] + " Reach me at jane.doe@example.org, card 4111 1111 1111 1111."
    )
    return {"benign": benign, "sensitive": sensitive}


def _time(fn: Callable[[], object], iterations: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
    return summarize(samples)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Time every detector and the whole scan on both prompts; print a table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--chars", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=default_out("compliance"))
    args = parser.parse_args(argv)

    gate = Compliance(local=["local"])
    rows: list[dict[str, Any]] = []
    for label, text in prompts(args.chars).items():
        request = RoutingRequest.from_turns([Turn("user", text)])
        for detector in DEFAULT_DETECTORS:
            stats = _time(partial(detector.detect, text), args.iterations, args.warmup)
            rows.append({"prompt": label, "what": detector.name, "chars": len(text), **stats})
        stats = _time(partial(gate.scan, request), args.iterations, args.warmup)
        rows.append({"prompt": label, "what": "Compliance.scan (all)", "chars": len(text), **stats})

    print_table(
        f"Compliance scan of a {args.chars:,}-char prompt (us)",
        ["prompt", "detector", "p50", "p90", "p99"],
        [
            [r["prompt"], r["what"], fmt_us(r["p50_us"]), fmt_us(r["p90_us"]), fmt_us(r["p99_us"])]
            for r in rows
        ],
    )
    payload = {
        "benchmark": "compliance",
        "machine": machine_info(),
        "load_average": load_average(),
        "settings": {"iterations": args.iterations, "warmup": args.warmup, "chars": args.chars},
        "results": rows,
    }
    path = write_json(args.out, payload)
    print(f"\nwrote {path}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
