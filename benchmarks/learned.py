"""The learned selector on a routing dataset: fit time, decision latency, held-out figures.

Splits the dataset (default: RouterBench's 2,225 prompts x 11 models) 80/20 with several seeds,
embeds it once with the bundled encoder, then for each candidate predictor (logistic; kNN with
several k, distance-weighted; ridge; RouteLLM-style matrix factorisation) fits on each train part and sweeps the willingness-to-pay
knob on its test part. Reports, per predictor, means over the seeds: the cost to match the best
single model, the cost at 95% of its quality, the quality at half its cost, AIQ and APGR (and
the slowest fit). Those figures take the best sweep point on the test part itself, so they are
what the knob can reach, not what a user gets: the "calibrated" columns show that, with the
knob calibrated (`calibrate`, 95% of the best model's quality) on a validation fifth of the train
part and then applied to the test part. Then times `select` (embed + predict + choose) of the default predictor on
unique test prompts of the `--seed` split.

Targets (issue 4): match GPT-4's quality at <= 50% of its cost; 95% of it at <= 15%; decision
<= 1 ms p50; fit < 60 s.

Run from the repo root:
`python benchmarks/learned.py [--data PATH] [--seeds 0,1,2,3] [--iterations N] [--out PATH]`.
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
from routing_chat_model.errors import RouteConfigError
from routing_chat_model.evaluation import (
    Dataset,
    calibrate,
    load_dataset,
    model_points,
    summary,
    sweep,
)
from routing_chat_model.selectors.learned import LearnedSelector, default_k, embed

__all__ = ["main"]

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "routerbench" / "train.csv"


def _pct(value: float | None, of: float) -> str:
    return "-" if value is None else f"{value / of:.1%}"


def _mean(summaries: Any, key: str) -> tuple[float | None, int, int]:
    """Mean of a summary figure (as a share of the best model's) over seeds that have it."""
    rel = "best_quality" if key == "quality_at_half_cost" else "best_cost_usd"
    values = [
        x[key] if key in ("aiq", "apgr") else x[key] / x[rel]
        for x in summaries
        if x[key] is not None
    ]
    count = len(list(summaries))
    return (sum(values) / len(values) if values else None), len(values), count


def _cells(mean: dict[str, tuple[float | None, int, int]]) -> list[str]:
    out = []
    for key, (value, n, total) in mean.items():
        if value is None:
            out.append(f"- (0/{total})")
        elif key in ("aiq", "apgr"):
            out.append(f"{value:.4f}")
        else:
            out.append(f"{value:.1%}" + (f" ({n}/{total})" if n < total else ""))
    return out


def _calibrated(
    data: Dataset, train_i: Any, test_i: Any, all_x: Any, fitted: Any, settings: dict[str, Any]
) -> tuple[float, float] | None:
    """Knob calibrated for 95% quality on a validation fifth of train, applied to test.

    Returns the test (quality share, cost share) of the best model's, or None when the
    validation sweep never reaches the target.
    """
    train = data.subset(train_i)
    inner_i, val_i = train.split_indices(0.2, 0)
    inner = LearnedSelector(
        train.subset(inner_i), encoder=fitted.encoder, vectors=all_x[train_i][inner_i], **settings
    )
    val = train.subset(val_i)
    val_models = model_points(val)
    val_best = max(val_models.values(), key=lambda p: (p.quality, -p.cost_usd))
    try:
        point = calibrate(
            sweep(inner, val, all_x[train_i][val_i]), val_best, target_quality_share=0.95
        )
    except RouteConfigError:
        return None
    test = data.subset(test_i)
    knob = point.knob if point.knob is not None else float("inf")
    got = sweep(fitted, test, all_x[test_i], [knob])[0]
    best = max(model_points(test).values(), key=lambda p: (p.quality, -p.cost_usd))
    return got.quality / best.quality, got.cost_usd / best.cost_usd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0, help="the split timed and reported")
    parser.add_argument("--seeds", default="0,1,2,3", help="splits averaged, comma-separated")
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=default_out("learned"))
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"no dataset at {args.data}; pass --data PATH", file=sys.stderr)
        return 2

    data = load_dataset(args.data)
    seeds = [int(x) for x in str(args.seeds).split(",") if x.strip()] or [args.seed]
    if args.seed not in seeds:
        seeds.insert(0, args.seed)
    encoder = default_encoder()
    start = time.perf_counter()
    all_x = embed(encoder, data.queries)
    embed_s = time.perf_counter() - start
    train_i, _ = data.split_indices(args.split, args.seed)
    auto_k = default_k(len(train_i))
    candidates: list[tuple[str, dict[str, Any]]] = [
        ("logistic alpha=10", {"method": "logistic", "logistic_alpha": 10.0}),
        ("logistic alpha=30", {"method": "logistic", "logistic_alpha": 30.0}),
        *((f"knn k={k}", {"method": "knn", "k": k}) for k in sorted({40, 105, auto_k, 400})),
        ("ridge alpha=30", {"method": "ridge", "ridge_alpha": 30.0}),
        ("mf dim=16 alpha=2", {"method": "mf", "mf_dim": 16, "mf_alpha": 2.0}),
        ("mf dim=32 alpha=3", {"method": "mf", "mf_dim": 32, "mf_alpha": 3.0}),
    ]
    keys = ("cost_to_match_best", "cost_at_95pct_quality", "quality_at_half_cost", "aiq", "apgr")
    rows = []
    results: dict[str, Any] = {}
    s: dict[str, Any] = {}
    for label, settings in candidates:
        per_seed: dict[int, Any] = {}
        calibrated: dict[int, tuple[float, float] | None] = {}
        fits = []
        for seed in seeds:
            tr, te = data.split_indices(args.split, seed)
            train, test = data.subset(tr), data.subset(te)
            start = time.perf_counter()
            selector = LearnedSelector(train, encoder=encoder, vectors=all_x[tr], **settings)
            fits.append(time.perf_counter() - start)
            s = summary(model_points(test), sweep(selector, test, all_x[te]))
            per_seed[seed] = s
            calibrated[seed] = _calibrated(data, tr, te, all_x, selector, settings)
        mean = {key: _mean(per_seed.values(), key) for key in keys}
        reached = [c for c in calibrated.values() if c is not None]
        cal_q = sum(c[0] for c in reached) / len(reached) if reached else None
        cal_c = sum(c[1] for c in reached) / len(reached) if reached else None
        results[label] = {
            **settings,
            "fit_seconds": max(fits),
            "summary": per_seed[args.seed],
            "per_seed": per_seed,
            "mean": mean,
            "calibrated_95pct": {
                "per_seed": calibrated,
                "mean_quality_share": cal_q,
                "mean_cost_share": cal_c,
            },
        }
        cal = "-" if cal_q is None or cal_c is None else f"{cal_q:.1%} / {cal_c:.1%}"
        if cal_q is not None and len(reached) < len(calibrated):
            cal += f" ({len(reached)}/{len(calibrated)})"
        rows.append([label, f"{max(fits):.2f}", *_cells(mean), cal])
    best = per_seed[args.seed]
    print(f"{len(train_i)} train / {len(data) - len(train_i)} test prompts; seeds {seeds}; best "
          f"model (seed {args.seed}) {best['best_model']} (quality {best['best_quality']:.3f}, "
          f"${best['best_cost_usd']:.6f}/query); embedding all {len(data)} prompts took "
          f"{embed_s:.1f} s")  # fmt: skip
    print_table(
        "Held-out figures, mean over seeds (shares of the best single model's cost / quality;"
        " cost figures are the mean over the seeds that reach the target, n/N)",
        [
            "predictor",
            "fit s",
            "cost to match",
            "cost @95% q",
            "q @50% cost",
            "AIQ",
            "APGR",
            "calibrated 95%: q / cost",
        ],
        rows,
    )

    train = data.subset(train_i)
    test = data.subset(data.split_indices(args.split, args.seed)[1])
    train_x = all_x[train_i]
    start = time.perf_counter()
    LearnedSelector(train, encoder=encoder)  # the default, embedding included
    fit_default_s = time.perf_counter() - start
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
        f"LearnedSelector.select ({selector.method}, default encoder, unique prompts), us",
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
            "seeds": seeds,
            "embed_all_seconds": embed_s,
            "fit_default_with_embedding_seconds": fit_default_s,
            "predictors": results,
            "select_latency": latency,
        },
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
