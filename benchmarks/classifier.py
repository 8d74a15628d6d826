"""ClassifierSelector vs EmbeddingSelector on CLINC150's 10 domains, same (default) encoder.

Both selectors are built from the train split's in-scope rows (domain -> texts, see
`clinc150.subsample`) and measured on the val split through `Router.decide`, with a dedicated
`fallback` default that no route points to:

- in-scope accuracy without a threshold (the routed domain is the gold one);
- at a few thresholds (calibrated probability for the classifier, cosine similarity for the
  embedding selector): in-scope accuracy (an abstention counts as wrong) and the share of
  out-of-scope (`oos`) rows that abstain to the fallback;
- decision latency p50/p99 of `Router.decide` (each val text embedded once: no cache hits),
  and the time to build (fit / embed the examples).

With `--intents`, a third contestant fits the classifier on CLINC's 150 intents and maps them
to their domains (`route_of`), which is slower to fit and more accurate.

Run from the repo root: `python benchmarks/classifier.py [--data DIR] [--intents]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from _bench import fmt_us, load_average, machine_info, print_table, write_json
from clinc150 import (
    FALLBACK,
    OOS,
    Example,
    _Run,
    data_parser,
    evaluate,
    load_split,
    pct,
    subsample,
)
from routing_chat_model import EmbeddingSelector, Router, RoutingRequest, Turn
from routing_chat_model.selectors import ClassifierSelector, Selector

__all__ = ["main"]

CLASSIFIER_THRESHOLDS = (0.5, 0.7, 0.9)
EMBEDDING_THRESHOLDS = (0.5, 0.6)


def _run(selector: Selector, routes: Sequence[str], val: Sequence[Example], build_s: float) -> _Run:
    """Route every val row through `Router.decide`, timing each decision."""
    router = Router([*routes, FALLBACK], selector=selector, default=FALLBACK)
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


def _at(result: dict[str, Any], threshold: float) -> dict[str, Any]:
    for point in result["sweep"]:
        if abs(point["threshold"] - threshold) < 1e-9:
            return dict(point)
    raise SystemExit(f"threshold {threshold} is not on the sweep grid (multiples of 0.05)")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = data_parser(__doc__, "classifier")
    parser.add_argument(
        "--val-limit", type=int, default=None, help="use every k-th val row to keep N rows at most"
    )
    parser.add_argument(
        "--intents", action="store_true", help="also fit on the 150 intents mapped to domains"
    )
    args = parser.parse_args(argv)
    for name in ("examples_per_route", "val_limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Fit both selectors, route the val split, print tables, write JSON."""
    args = parse_args(argv)
    machine = machine_info()
    train, val = load_split(args.data, "train"), load_split(args.data, "val")
    if args.val_limit is not None and len(val) > args.val_limit:
        val = val[:: -(-len(val) // args.val_limit)]
    routes = subsample(train, args.examples_per_route, args.seed)
    gold = np.array([row.domain for row in val])

    contestants: dict[str, tuple[Selector, float, tuple[float, ...]]] = {}
    start = time.perf_counter()
    embedding = EmbeddingSelector(routes).warm()
    contestants["embedding top_k:3"] = (
        embedding,
        time.perf_counter() - start,
        EMBEDDING_THRESHOLDS,
    )
    start = time.perf_counter()
    classifier = ClassifierSelector.from_examples(routes)
    contestants["classifier (domains)"] = (
        classifier,
        time.perf_counter() - start,
        CLASSIFIER_THRESHOLDS,
    )
    if args.intents:
        rows = [r for r in train if r.domain != OOS]
        start = time.perf_counter()
        by_intent = ClassifierSelector.from_examples(
            [(r.text, r.intent) for r in rows], route_of={r.intent: r.domain for r in rows}
        )
        contestants["classifier (intents->domains)"] = (
            by_intent,
            time.perf_counter() - start,
            CLASSIFIER_THRESHOLDS,
        )

    results: dict[str, Any] = {}
    table = []
    for name, (selector, build_s, thresholds) in contestants.items():
        res = evaluate(_run(selector, list(routes), val, build_s), gold)
        points = [_at(res, t) for t in thresholds]
        results[name] = {
            "build_s": res["build_s"],
            "no_threshold": res["no_threshold"],
            "thresholds": points,
            "best_balanced": res["best_balanced"],
            "latency": res["latency"],
            "sweep": res["sweep"],
        }
        if isinstance(selector, ClassifierSelector):
            results[name]["temperature"] = round(selector.temperature, 4)
        table.append(
            [
                name,
                f"{res['build_s']:.1f}",
                pct(res["no_threshold"]["in_scope_accuracy"]),
                *(
                    f"{p['threshold']:.2f}: {pct(p['in_scope_accuracy'])} / "
                    f"{pct(p['oos_fallback_rate'])}"
                    for p in points
                ),
                *([""] * (len(CLASSIFIER_THRESHOLDS) - len(points))),
                fmt_us(res["latency"]["p50_us"]),
                fmt_us(res["latency"]["p99_us"]),
            ]
        )
    per_route = "all" if args.examples_per_route is None else str(args.examples_per_route)
    print_table(
        f"CLINC150 domains, val split ({len(val)} rows), train examples per route: {per_route}. "
        "Accuracy %; at a threshold: in-scope accuracy / oos->fallback %; Router.decide in us",
        ["selector", "build s", "acc", "thr 1", "thr 2", "thr 3", "p50 us", "p99 us"],
        table,
    )
    payload = {
        "benchmark": "classifier",
        "machine": machine,
        "load_average_at_end": load_average(),
        "settings": {
            "data": str(args.data),
            "examples_per_route": args.examples_per_route,
            "routes": {name: len(texts) for name, texts in routes.items()},
            "seed": args.seed,
            "val_rows": len(val),
            "val_oos": int((gold == OOS).sum()),
            "encoder": "WordLlama l2_supercat, 256 dims (the default encoder)",
            "default_route": FALLBACK,
            "classifier": {"l2": classifier.l2, "calibration": classifier.calibration},
        },
        "results": results,
    }
    path = write_json(args.out, payload)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
