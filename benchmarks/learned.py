"""The learned selector on a routing dataset: fit time, decision latency, held-out figures.

Splits the dataset (default: RouterBench's 2,225 prompts x 11 models) 80/20 with a fixed seed,
embeds it once with the bundled encoder, then for each candidate predictor (kNN with several k,
distance-weighted; ridge) fits on the train part and sweeps the willingness-to-pay knob on the
test part. Reports, per predictor: fit time, the cost to match the best single model, the cost
at 95% of its quality, the quality at half its cost, AIQ and APGR. Then times `select` (embed
+ predict + choose) of the default predictor on unique test prompts.

Targets (issue 4): match GPT-4's quality at <= 50% of its cost; 95% of it at <= 15%; decision
<= 1 ms p50; fit < 60 s.

Run from the repo root:
`python benchmarks/learned.py [--data PATH] [--iterations N] [--out PATH]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from _bench import default_out, fmt_us, machine_info, print_table, summarize, write_json
from routing_chat_model import RoutingRequest
from routing_chat_model.encoders import default_encoder
from routing_chat_model.evaluation import load_dataset, model_points, summary, sweep
from routing_chat_model.selectors.learned import LearnedSelector, default_k, embed

__all__ = ["main"]

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "routerbench" / "train.csv"


def _pct(value: float | None, of: float) -> str:
    return "-" if value is None else f"{value / of:.1%}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=default_out("learned"))
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"no dataset at {args.data}; pass --data PATH", file=sys.stderr)
        return 2

    data = load_dataset(args.data)
    train, test = data.split(args.split, args.seed)
    encoder = default_encoder()
    start = time.perf_counter()
    train_x = embed(encoder, train.queries)
    embed_s = time.perf_counter() - start
    test_x = embed(encoder, test.queries)
    models = model_points(test)
    auto_k = default_k(len(train))
    candidates: list[tuple[str, dict[str, Any]]] = [
        (f"knn k={k}", {"method": "knn", "k": k}) for k in sorted({10, 40, auto_k, 200})
    ] + [("ridge alpha=30", {"method": "ridge", "ridge_alpha": 30.0})]
    rows = []
    results: dict[str, Any] = {}
    for label, settings in candidates:
        start = time.perf_counter()
        selector = LearnedSelector(train, encoder=encoder, vectors=train_x, **settings)
        fit_s = time.perf_counter() - start
        points = sweep(selector, test, test_x)
        s = summary(models, points)
        results[label] = {**settings, "fit_seconds": fit_s, "summary": s}
        best_c, best_q = s["best_cost_usd"], s["best_quality"]
        rows.append([
            label, f"{fit_s:.2f}", _pct(s["cost_to_match_best"], best_c),
            _pct(s["cost_at_95pct_quality"], best_c), _pct(s["quality_at_half_cost"], best_q),
            f"{s['aiq']:.4f}", "-" if s["apgr"] is None else f"{s['apgr']:.3f}",
        ])  # fmt: skip
    print(f"{len(train)} train / {len(test)} test prompts, best model {s['best_model']} "
          f"(quality {s['best_quality']:.3f}, ${s['best_cost_usd']:.6f}/query); embedding the "
          f"train part took {embed_s:.1f} s")  # fmt: skip
    print_table(
        "Held-out figures (shares of the best single model's cost / quality)",
        ["predictor", "fit s", "cost to match", "cost @95% q", "q @50% cost", "AIQ", "APGR"],
        rows,
    )

    selector = LearnedSelector(train, encoder=encoder, vectors=train_x)
    routes = sorted(selector.route_names)
    texts = [test.queries[i % len(test)] + f" #{i}" for i in range(args.iterations)]
    for text in texts[:50]:
        selector.select(RoutingRequest(text=text), routes)
    samples = []
    for text in texts:
        request = RoutingRequest(text=text)
        t0 = time.perf_counter_ns()
        selector.select(request, routes)
        samples.append(time.perf_counter_ns() - t0)
    latency = summarize(samples)
    print_table(
        f"LearnedSelector.select (knn k={selector.k}, default encoder, unique prompts), us",
        ["n", "p50", "p90", "p99", "max"],
        [[latency["n"], *(fmt_us(latency[k]) for k in ("p50_us", "p90_us", "p99_us", "max_us"))]],
    )
    path = write_json(
        args.out,
        {
            "benchmark": "learned",
            "machine": machine_info(),
            "data": str(args.data),
            "train_rows": len(train),
            "test_rows": len(test),
            "seed": args.seed,
            "embed_train_seconds": embed_s,
            "predictors": results,
            "select_latency": latency,
        },
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
