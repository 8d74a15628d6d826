"""Embedding routing accuracy on CLINC150's 10 domains, with the default encoder.

Routes are the 10 domains, built from the train split's in-scope rows (domain -> texts,
optionally subsampled per route, stratified by intent, deterministically). The router's default
is a dedicated `fallback` model that no route points to, so a query whose best score is below
the threshold falls to it. Measured on the val split:

- in-scope accuracy: the routed domain is the gold one (an abstention counts as wrong);
- out-of-scope (`oos`) fallback rate: the share of oos rows that fall to `fallback`.

Both are reported over a sweep of thresholds, for each aggregation (`top_k` with k in 1, 3, 5,
10; `max`; `centroid`), with the selection latency per query (`Router.decide`, each val text
embedded once: cache misses). The sweep is computed from the scores of a selector without a
threshold; one operating point is re-run with a real threshold to check the sweep.

Target (issue 2): >= 0.93 in-scope accuracy with the default encoder.

Run from the repo root: `python benchmarks/clinc150.py [--data DIR] [--examples-per-route N]`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from _bench import (
    default_out,
    fmt_us,
    load_average,
    machine_info,
    print_table,
    summarize,
    write_json,
)
from routing_chat_model import EmbeddingSelector, Router, RoutingRequest, Turn
from routing_chat_model.encoders import WordLlamaEncoder
from routing_chat_model.selectors import Aggregation

__all__ = ["Example", "data_parser", "load_split", "main", "pct", "subsample"]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "clinc150"
FALLBACK = "fallback"
OOS = "oos"
TARGET_ACCURACY = 0.93
DEFAULT_SETTING = "top_k:3"
SWEEP = tuple(round(0.05 * i, 2) for i in range(20))
FINE = tuple(round(0.01 * i, 2) for i in range(100))


@dataclass(frozen=True)
class Example:
    """One CLINC150 row."""

    text: str
    intent: str
    domain: str


def load_split(data: Path, split: str) -> list[Example]:
    """Read `<data>/<split>.jsonl`, exiting with a clear message when it is missing or bad."""
    path = data / f"{split}.jsonl"
    if not path.is_file():
        raise SystemExit(
            f"CLINC150 data not found: {path} does not exist. Pass --data DIR, a folder holding "
            'train.jsonl and val.jsonl (rows {"text", "intent", "domain"}); the default is '
            f"{DEFAULT_DATA}."
        )
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                rows.append(Example(str(raw["text"]), str(raw["intent"]), str(raw["domain"])))
            except (ValueError, KeyError, TypeError) as exc:
                raise SystemExit(f"{path}:{number}: not a CLINC150 row ({exc!r})") from None
    if not rows:
        raise SystemExit(f"{path} has no rows")
    return rows


def subsample(rows: Sequence[Example], per_route: int | None, seed: int) -> dict[str, list[str]]:
    """Domain -> example texts from the in-scope rows, at most `per_route` each.

    Subsampling is stratified by intent (round-robin over the domain's intents, each intent's
    rows shuffled with a seed derived from `seed`, domain and intent), so a small route still
    covers every intent of its domain, and the same arguments give the same routes.
    """
    by_domain: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row.domain != OOS:
            by_domain[row.domain][row.intent].append(row.text)
    routes: dict[str, list[str]] = {}
    for domain in sorted(by_domain):
        intents = by_domain[domain]
        if per_route is None:
            routes[domain] = [t for intent in sorted(intents) for t in intents[intent]]
            continue
        pools = []
        for intent in sorted(intents):
            texts = list(intents[intent])
            random.Random(f"{seed}:{domain}:{intent}").shuffle(texts)
            pools.append(texts)
        picked: list[str] = []
        depth = 0
        while len(picked) < per_route and any(depth < len(p) for p in pools):
            picked.extend(p[depth] for p in pools if depth < len(p))
            depth += 1
        routes[domain] = picked[:per_route]
    if not routes:
        raise SystemExit("the train split has no in-scope rows to build routes from")
    return routes


def parse_setting(setting: str) -> tuple[Aggregation, int]:
    """`top_k:5` -> ("top_k", 5); `max` / `centroid` -> (name, 5)."""
    name, _, k = setting.partition(":")
    if name == "top_k":
        return "top_k", int(k or 5)
    if name in ("max", "centroid") and not k:
        return name, 5  # type: ignore[return-value]
    raise argparse.ArgumentTypeError(f"unknown aggregation {setting!r}: use top_k:K, max, centroid")


@dataclass
class _Run:
    """Per-query outcome of one selector over the val split."""

    predicted: np.ndarray[Any, np.dtype[np.str_]]
    best: np.ndarray[Any, np.dtype[np.float64]]
    latency_ns: list[int]
    build_s: float


def _router(
    routes: dict[str, list[str]],
    aggregation: Aggregation,
    k: int,
    threshold: float | None,
    dim: int,
) -> Router:
    # dim 256 is exactly the default encoder (encoder=None); smaller widths are its prefixes.
    encoder = None if dim == 256 else WordLlamaEncoder(dim=dim)
    selector = EmbeddingSelector(
        routes, encoder, threshold=threshold, aggregation=aggregation, top_k=k
    )
    selector.warm()
    return Router([*routes, FALLBACK], selector=selector, default=FALLBACK)


def run_selector(
    routes: dict[str, list[str]],
    val: Sequence[Example],
    setting: str,
    threshold: float | None,
    dim: int = 256,
) -> _Run:
    """Route every val row through `Router.decide`, timing each decision."""
    aggregation, k = parse_setting(setting)
    start = time.perf_counter()
    router = _router(routes, aggregation, k, threshold, dim)
    build_s = time.perf_counter() - start
    requests = [RoutingRequest.from_turns([Turn("user", row.text)]) for row in val]
    predicted, best, latency = [], [], []
    clock = time.perf_counter_ns
    for request in requests:
        t0 = clock()
        decision = router.decide(request)
        latency.append(clock() - t0)
        predicted.append(decision.route)
        best.append(max(decision.scores.values()) if decision.scores else -1.0)
    return _Run(np.array(predicted), np.array(best, dtype=np.float64), latency, build_s)


def _point(
    run: _Run, gold: np.ndarray[Any, np.dtype[np.str_]], threshold: float | None
) -> dict[str, Any]:
    in_scope = gold != OOS
    kept = np.ones_like(run.best, dtype=bool) if threshold is None else run.best >= threshold
    correct = (run.predicted == gold) & kept
    n_in, n_oos = int(in_scope.sum()), int((~in_scope).sum())
    acc = float(correct[in_scope].mean()) if n_in else float("nan")
    abstain = float((~kept)[in_scope].mean()) if n_in else float("nan")
    oos_rate = float((~kept)[~in_scope].mean()) if n_oos else float("nan")
    overall = (float(correct[in_scope].sum()) + float((~kept)[~in_scope].sum())) / len(gold)
    return {
        "threshold": threshold,
        "in_scope_accuracy": round(acc, 4),
        "in_scope_abstain_rate": round(abstain, 4),
        "oos_fallback_rate": round(oos_rate, 4),
        "overall_accuracy": round(overall, 4),
        "balanced": round((acc + oos_rate) / 2, 4) if n_oos else None,
    }


def evaluate(run: _Run, gold: np.ndarray[Any, np.dtype[np.str_]]) -> dict[str, Any]:
    """No-threshold accuracy, the sweep, and two operating points from a fine grid."""
    base = _point(run, gold, None)
    fine = [_point(run, gold, t) for t in FINE]
    has_oos = bool((gold == OOS).any())
    balanced = max(fine, key=lambda p: (p["balanced"] or 0.0, -p["threshold"]))
    floor = base["in_scope_accuracy"] - 0.01
    ok = [p for p in fine if p["in_scope_accuracy"] >= floor]
    conservative = max(ok, key=lambda p: (p["oos_fallback_rate"], -p["threshold"])) if ok else None
    return {
        "no_threshold": base,
        "sweep": [_point(run, gold, t) for t in SWEEP],
        "best_balanced": balanced if has_oos else None,
        "best_within_1pt": conservative if has_oos else None,
        "latency": summarize(run.latency_ns),
        "build_s": round(run.build_s, 3),
    }


def pct(value: float | None) -> str:
    return "-" if value is None or value != value else f"{100 * value:.1f}"


def _print_results(results: dict[str, dict[str, Any]], per_route: str) -> None:
    summary = []
    for setting, res in results.items():
        b, c = res["best_balanced"], res["best_within_1pt"]
        summary.append(
            [
                setting,
                pct(res["no_threshold"]["in_scope_accuracy"]),
                "-" if b is None else f"{b['threshold']:.2f}",
                "-" if b is None else pct(b["in_scope_accuracy"]),
                "-" if b is None else pct(b["oos_fallback_rate"]),
                "-" if c is None else f"{c['threshold']:.2f}",
                "-" if c is None else pct(c["in_scope_accuracy"]),
                "-" if c is None else pct(c["oos_fallback_rate"]),
                fmt_us(res["latency"]["p50_us"]),
                fmt_us(res["latency"]["p99_us"]),
            ]
        )
    print_table(
        f"CLINC150 domains, val split, examples per route: {per_route} "
        "(accuracy and oos->fallback in %; latency of Router.decide in us)",
        [
            "aggregation",
            "acc (no thr)",
            "bal thr",
            "acc",
            "oos->fb",
            "thr (-1pt)",
            "acc",
            "oos->fb",
            "p50 us",
            "p99 us",
        ],
        summary,
    )
    settings = list(results)
    sweep_rows = []
    for i, threshold in enumerate(SWEEP):
        row: list[object] = [f"{threshold:.2f}"]
        for setting in settings:
            point = results[setting]["sweep"][i]
            row.append(f"{pct(point['in_scope_accuracy'])} / {pct(point['oos_fallback_rate'])}")
        sweep_rows.append(row)
    print_table(
        "Threshold sweep: in-scope accuracy / oos->fallback rate (%)",
        ["threshold", *settings],
        sweep_rows,
    )


def data_parser(doc: str | None, name: str) -> argparse.ArgumentParser:
    """The options every CLINC150 script shares: --data, --examples-per-route, --seed, --out."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the jsonl files")
    parser.add_argument(
        "--examples-per-route",
        type=int,
        default=None,
        help="subsample each route to N train examples (stratified by intent); default: all",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the subsampling")
    parser.add_argument("--out", type=Path, default=default_out(name), help="JSON output")
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = data_parser(__doc__, "clinc150")
    parser.add_argument(
        "--dim",
        type=int,
        choices=(64, 128, 256),
        default=256,
        help="WordLlama width (256 = the default encoder; 128/64 are faster, less accurate)",
    )
    parser.add_argument(
        "--aggregations",
        default="top_k:1,top_k:3,top_k:5,top_k:10,max,centroid",
        help="comma-separated settings: top_k:K, max, centroid",
    )
    parser.add_argument(
        "--examples-sweep",
        default="10,30,100,300",
        help="also measure these examples-per-route sizes (no-threshold accuracy of every "
        "aggregation); empty to skip",
    )
    args = parser.parse_args(argv)
    args.settings = [s.strip() for s in args.aggregations.split(",") if s.strip()]
    for setting in args.settings:
        try:
            parse_setting(setting)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            parser.error(str(exc))
    try:
        args.sizes = [int(s) for s in args.examples_sweep.split(",") if s.strip()]
    except ValueError:
        parser.error("--examples-sweep must be comma-separated integers")
    if args.examples_per_route is not None and args.examples_per_route < 1:
        parser.error("--examples-per-route must be >= 1")
    if any(size < 1 for size in args.sizes):
        parser.error("--examples-sweep sizes must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Build routes, route the val split per setting, print tables, write JSON."""
    args = parse_args(argv)
    machine = machine_info()
    train, val = load_split(args.data, "train"), load_split(args.data, "val")
    routes = subsample(train, args.examples_per_route, args.seed)
    gold = np.array([row.domain for row in val])
    per_route = "all" if args.examples_per_route is None else str(args.examples_per_route)

    results: dict[str, dict[str, Any]] = {}
    runs: dict[str, _Run] = {}
    for setting in args.settings:
        runs[setting] = run_selector(routes, val, setting, None, args.dim)
        results[setting] = evaluate(runs[setting], gold)
    _print_results(results, per_route)

    # Check the sweep against a selector that really has the threshold (default setting).
    check_setting = DEFAULT_SETTING if DEFAULT_SETTING in results else args.settings[0]
    point = results[check_setting]["best_balanced"] or results[check_setting]["sweep"][10]
    real = run_selector(routes, val, check_setting, point["threshold"], args.dim)
    in_scope = gold != OOS
    real_acc = float((real.predicted == gold)[in_scope].mean()) if in_scope.any() else None
    real_oos = float((real.predicted == FALLBACK)[~in_scope].mean()) if (~in_scope).any() else None
    verification = {
        "setting": check_setting,
        "threshold": point["threshold"],
        "sweep_in_scope_accuracy": point["in_scope_accuracy"],
        "real_in_scope_accuracy": None if real_acc is None else round(real_acc, 4),
        "sweep_oos_fallback_rate": point["oos_fallback_rate"],
        "real_oos_fallback_rate": None if real_oos is None else round(real_oos, 4),
    }
    print(
        f"\ncheck: {check_setting} with a real threshold={point['threshold']:.2f}: in-scope "
        f"{pct(real_acc)}% (sweep {pct(point['in_scope_accuracy'])}%), oos->fallback "
        f"{pct(real_oos)}% (sweep {pct(point['oos_fallback_rate'])}%)"
    )

    sizes: list[dict[str, Any]] = []
    for size in args.sizes:
        small = subsample(train, size, args.seed)
        row: dict[str, Any] = {"examples_per_route": size, "accuracy": {}, "p50_us": {}}
        for setting in args.settings:
            res = evaluate(run_selector(small, val, setting, None, args.dim), gold)
            row["accuracy"][setting] = res["no_threshold"]["in_scope_accuracy"]
            row["p50_us"][setting] = res["latency"]["p50_us"]
        sizes.append(row)
    if sizes:
        print_table(
            "In-scope accuracy (%, no threshold) and Router.decide p50 (us) by examples per route",
            ["examples/route", *args.settings, *(f"p50 {s}" for s in args.settings)],
            [
                [
                    str(r["examples_per_route"]),
                    *(pct(r["accuracy"][s]) for s in args.settings),
                    *(fmt_us(r["p50_us"][s]) for s in args.settings),
                ]
                for r in sizes
            ],
        )

    best = max(results, key=lambda s: results[s]["no_threshold"]["in_scope_accuracy"])
    default_acc = results.get(DEFAULT_SETTING, {}).get("no_threshold", {}).get("in_scope_accuracy")
    best_acc = results[best]["no_threshold"]["in_scope_accuracy"]
    verdict = {
        "target_in_scope_accuracy": TARGET_ACCURACY,
        "default_setting": DEFAULT_SETTING,
        "default_in_scope_accuracy": default_acc,
        "default_meets_target": None if default_acc is None else default_acc >= TARGET_ACCURACY,
        "best_setting": best,
        "best_in_scope_accuracy": best_acc,
    }
    print(
        f"\ntarget in-scope accuracy >= {TARGET_ACCURACY}: default {DEFAULT_SETTING} = "
        f"{default_acc}; best {best} = {best_acc}"
    )
    payload = {
        "benchmark": "clinc150",
        "machine": machine,
        "load_average_at_end": load_average(),
        "settings": {
            "data": str(args.data),
            "examples_per_route": args.examples_per_route,
            "routes": {name: len(texts) for name, texts in routes.items()},
            "seed": args.seed,
            "val_rows": len(val),
            "val_in_scope": int(in_scope.sum()),
            "val_oos": int((~in_scope).sum()),
            "encoder": f"WordLlama l2_supercat, {args.dim} dims"
            + (" (the default encoder)" if args.dim == 256 else ""),
            "default_route": FALLBACK,
        },
        "results": results,
        "verification": verification,
        "examples_sweep": sizes,
        "verdict": verdict,
    }
    path = write_json(args.out, payload)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
