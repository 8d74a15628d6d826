"""Shared helpers for the benchmark scripts: timing, percentiles, machine info, tables, JSON.

Each script in `benchmarks/` imports this module by its plain name (the script's folder is on
`sys.path` when it runs as `python benchmarks/<name>.py`). Timings use `time.perf_counter_ns`;
summaries are reported in microseconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import importlib
import importlib.metadata
import json
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "RESULTS_DIR",
    "ainterleaved",
    "measure_overhead",
    "overhead_table",
    "default_out",
    "fmt_us",
    "interleaved",
    "load_average",
    "machine_info",
    "overhead_rows",
    "print_table",
    "summarize",
    "write_json",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
"""Where results go by default (git-ignored except `.gitkeep`)."""

_PACKAGES = (
    "routing-chat-model",
    "numpy",
    "langchain-core",
    "wordllama",
    "langchain-model-router",
)
_ENV_VARS = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "LANGSMITH_TRACING",
    "LANGCHAIN_TRACING_V2",
)


def default_out(name: str) -> Path:
    """`benchmarks/results/<name>.json`, wherever the script is run from."""
    return RESULTS_DIR / f"{name}.json"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _blas() -> dict[str, Any]:
    """The BLAS numpy was built with and, when threadpoolctl is installed, the kernel it runs."""
    info: dict[str, Any] = {}
    try:
        config: Any = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        info = {"name": blas.get("name"), "version": blas.get("version")}
    except Exception:  # numpy < 1.26 or an unusual build: informational only
        pass
    try:
        threadpoolctl: Any = importlib.import_module("threadpoolctl")
        pools = threadpoolctl.threadpool_info()
        info["kernels"] = [
            {"api": p.get("internal_api"), "architecture": p.get("architecture")}
            for p in pools
            if p.get("user_api") == "blas"
        ]
    except ImportError:
        info["kernels"] = "unknown (pip install threadpoolctl to record the BLAS kernel)"
    return info


def load_average() -> list[float] | None:
    """The 1/5/15-minute load averages: other work on the box makes timings noisy."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine_info() -> dict[str, Any]:
    """What a result depends on: date, CPU, Python, numpy/BLAS, package versions, env flags."""
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(affinity(0)) if affinity is not None else os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "numpy": np.__version__,
        "blas": _blas(),
        "packages": {name: _version(name) for name in _PACKAGES},
        "env": {name: os.environ.get(name) for name in _ENV_VARS},
        "load_average_1_5_15": load_average(),
        "gc_enabled_while_timing": True,
    }


def summarize(samples_ns: Sequence[int]) -> dict[str, float]:
    """Count, mean, min, p50, p90, p99 and max of timings, in microseconds."""
    if not samples_ns:
        raise ValueError("no samples to summarize")
    arr = np.asarray(samples_ns, dtype=np.float64) / 1000.0
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return {
        "n": int(arr.size),
        "mean_us": round(float(arr.mean()), 3),
        "min_us": round(float(arr.min()), 3),
        "p50_us": round(float(p50), 3),
        "p90_us": round(float(p90), 3),
        "p99_us": round(float(p99), 3),
        "max_us": round(float(arr.max()), 3),
    }


def interleaved(
    fns: Mapping[str, Callable[[], object]],
    rounds: int,
    warmup: int,
    *,
    between: Callable[[], object] | None = None,
    every: int = 500,
) -> dict[str, list[int]]:
    """Time several functions A/B-style: each round calls each once, in a rotating order.

    Alternating spreads drift (CPU frequency, cache state, other load) evenly over every
    contestant, so differences between them are fairer than with back-to-back blocks.

    Args:
        fns: Name -> zero-argument function.
        rounds: Timed calls of each function.
        warmup: Untimed rounds first.
        between: Called untimed every `every` rounds (e.g. to reset a fake's call log so the
            heap does not grow during the run).
        every: See `between`.

    Returns:
        Name -> per-call timings in ns, in round order (so index i of two lists is a pair).
    """
    names = list(fns)
    calls = [fns[name] for name in names]
    for _ in range(warmup):
        for fn in calls:
            fn()
    if between is not None:
        between()
    gc.collect()
    clock = time.perf_counter_ns
    samples: list[list[int]] = [[] for _ in names]
    width = len(names)
    for r in range(rounds):
        if between is not None and r and r % every == 0:
            between()
        for j in range(width):
            i = (r + j) % width
            start = clock()
            calls[i]()
            samples[i].append(clock() - start)
    return dict(zip(names, samples, strict=True))


def fmt_us(value: float) -> str:
    """A microsecond figure for a table: 3 significant-ish digits."""
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a plain-text table with right-aligned columns (the first column left-aligned)."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i]) for i in range(len(row))
        ]
        return "  ".join(parts).rstrip()

    print(f"\n{title}")
    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def write_json(path: Path, payload: Mapping[str, Any]) -> Path:
    """Write `payload` as indented JSON, creating the folder; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


async def ainterleaved(
    fns: Mapping[str, Callable[[], Awaitable[object]]],
    rounds: int,
    warmup: int,
    between: Callable[[], object],
    every: int = 500,
) -> dict[str, list[int]]:
    """Async twin of `_bench.interleaved`: rotating order, one timed await per contestant."""
    names = list(fns)
    calls = [fns[name] for name in names]
    for _ in range(warmup):
        for fn in calls:
            await fn()
    between()
    gc.collect()
    clock = time.perf_counter_ns
    samples: list[list[int]] = [[] for _ in names]
    for r in range(rounds):
        if r and r % every == 0:
            between()
        for j in range(len(names)):
            i = (r + j) % len(names)
            start = clock()
            await calls[i]()
            samples[i].append(clock() - start)
    return dict(zip(names, samples, strict=True))


def overhead_rows(
    mode: str, samples: Mapping[str, list[int]], target_us: float
) -> list[dict[str, Any]]:
    """Per contestant: latency stats, and what it adds over `direct` (p50 and paired median).

    A `passthrough` contestant, when present, is the floor any wrapper pays; `ours*` rows then
    also report what they add over it.
    """
    base = samples["direct"]
    base_p50 = summarize(base)["p50_us"]
    rows = []
    for name, values in samples.items():
        stats = summarize(values)
        row: dict[str, Any] = {"mode": mode, "contestant": name, **stats}
        if name != "direct":
            paired = np.asarray(values, dtype=np.float64) - np.asarray(base, dtype=np.float64)
            row["overhead_p50_us"] = round(stats["p50_us"] - base_p50, 3)
            row["paired_median_overhead_us"] = round(float(np.median(paired)) / 1000.0, 3)
            row["overhead_ratio_p50"] = round(stats["p50_us"] / base_p50, 3)
            if name.startswith("ours") and "passthrough" in samples:
                floor = summarize(samples["passthrough"])["p50_us"]
                row["over_passthrough_p50_us"] = round(stats["p50_us"] - floor, 3)
            if name == "ours":
                row["target_overhead_us"] = target_us
                row["meets_target"] = row["overhead_p50_us"] <= target_us
        rows.append(row)
    return rows


def measure_overhead(
    modes: Sequence[str],
    sync_modes: Sequence[str],
    calls: Callable[[str], Mapping[str, Callable[[], object]]],
    acalls: Callable[[str], Mapping[str, Callable[[], Awaitable[object]]]],
    *,
    rounds: int,
    warmup: int,
    reset: Callable[[], object],
    target_us: float,
) -> list[dict[str, Any]]:
    """Time each mode's contestants and summarise them with `overhead_rows`.

    Sync modes run with `interleaved`, the others with `ainterleaved`.
    """
    rows: list[dict[str, Any]] = []
    for mode in modes:
        if mode in sync_modes:
            samples = interleaved(calls(mode), rounds, warmup, between=reset)
        else:
            samples = asyncio.run(ainterleaved(acalls(mode), rounds, warmup, reset))
        rows.extend(overhead_rows(mode, samples, target_us))
    return rows


def overhead_table(rows: Sequence[Mapping[str, Any]], extra: Sequence[str] = ()) -> list[list[str]]:
    """`overhead_rows` as table cells ("-" where a row has no value).

    Columns: mode, contestant, p50/p90/p99, +p50, +paired, the `extra` keys, target met.
    """

    def cell(row: Mapping[str, Any], key: str) -> str:
        return "-" if key not in row else fmt_us(row[key])

    return [
        [
            r["mode"],
            r["contestant"],
            fmt_us(r["p50_us"]),
            fmt_us(r["p90_us"]),
            fmt_us(r["p99_us"]),
            cell(r, "overhead_p50_us"),
            cell(r, "paired_median_overhead_us"),
            *(cell(r, key) for key in extra),
            "-" if "meets_target" not in r else ("yes" if r["meets_target"] else "NO"),
        ]
        for r in rows
    ]
