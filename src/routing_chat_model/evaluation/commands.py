"""The `eval` and `calibrate` subcommands of `routing-chat-model` (arguments and runners).

Heavy imports (numpy, the encoder, matplotlib) happen inside the runners, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

__all__ = ["configure_calibrate", "configure_eval", "run_calibrate", "run_eval"]

_PROG = "routing-chat-model"


def configure_eval(parser: argparse.ArgumentParser) -> None:
    """Arguments of `eval`."""
    parser.add_argument("--train", required=True, type=Path, help="dataset to fit on")
    parser.add_argument(
        "--test", type=Path, help="dataset to evaluate on (default: a --split of TRAIN)"
    )
    parser.add_argument("--out", required=True, type=Path, help="folder for report.json/png")
    parser.add_argument(
        "--split", type=float, default=0.2, help="test share when --test is absent (0.2)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of that split (0)")
    parser.add_argument("--method", choices=("logistic", "knn", "ridge", "mf"), default="logistic")
    parser.add_argument("--k", type=int, default=None, help="kNN neighbours (default: auto)")
    parser.add_argument(
        "--save", type=Path, default=None, help="also save the fitted selector (JSON + .npz)"
    )
    parser.add_argument("--json", action="store_true", help="print report.json instead")


def run_eval(args: argparse.Namespace) -> int:
    """Fit, evaluate, print the table, write the report and the plot."""
    from routing_chat_model.evaluation.dataset import load_dataset
    from routing_chat_model.evaluation.report import evaluate, render_table, write_report

    train = load_dataset(args.train)
    if args.test is None:
        train, test = train.split(args.split, args.seed)
        print(
            f"no --test: split {args.train} {1 - args.split:.0%}/{args.split:.0%} "
            f"(seed {args.seed}): {len(train)} train, {len(test)} test rows",
            file=sys.stderr,
        )
    else:
        test = load_dataset(args.test)
    for label, data in (("train", train), ("test", test)):
        note = data.missing_note()
        if note:
            print(f"{label}: {note}", file=sys.stderr)
    report, selector = evaluate(train, test, method=args.method, k=args.k)
    json_path, png_path = write_report(report, args.out)
    if args.save is not None:
        print(f"saved the selector to {selector.save(args.save)}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_table(report))
        print(f"\nwrote {json_path} and {png_path}")
    return 0


def configure_calibrate(parser: argparse.ArgumentParser) -> None:
    """Arguments of `calibrate`."""
    parser.add_argument(
        "--selector", required=True, type=Path, help="saved selector (.json; its .npz beside it)"
    )
    parser.add_argument(
        "--data", required=True, type=Path, help="dataset to calibrate on (held-out ideally)"
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--target-cost-share", type=float, help="at most this share of the best model's cost"
    )
    target.add_argument(
        "--target-quality-share", type=float, help="at least this share of its quality"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the knob without writing it")


def run_calibrate(args: argparse.Namespace) -> int:
    """Find the knob for the target on the data, print it and write it into the selector."""
    from routing_chat_model.evaluation.dataset import load_dataset
    from routing_chat_model.evaluation.metrics import calibrate, model_points, sweep
    from routing_chat_model.evaluation.persist import set_willingness_to_pay
    from routing_chat_model.evaluation.report import progress_bar
    from routing_chat_model.selectors.learned import LearnedSelector, embed

    for name in ("target_cost_share", "target_quality_share"):
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            print(f"{_PROG} calibrate: error: --{name.replace('_', '-')} must be > 0")
            return 2
    selector = LearnedSelector.load(args.selector)
    data = load_dataset(args.data)
    note = data.missing_note()
    if note:
        print(note, file=sys.stderr)
    vectors = embed(selector.encoder, data.queries, progress_bar("embedding", None))
    points = sweep(selector, data, vectors)
    models = model_points(data)
    best_name = max(models, key=lambda m: (models[m].quality, -models[m].cost_usd))
    best = models[best_name]
    point = calibrate(
        points,
        best,
        target_cost_share=args.target_cost_share,
        target_quality_share=args.target_quality_share,
    )
    knob = point.knob if point.knob is not None else math.inf
    shown = "inf (best quality)" if math.isinf(knob) else f"{knob:.6g}"
    print(f"willingness_to_pay = {shown} USD per quality point")
    print(
        f"on {len(data)} prompts: quality {point.quality:.3f} "
        f"({point.quality / best.quality:.1%} of {best_name}), cost ${point.cost_usd:.6f} "
        f"a query ({point.cost_usd / best.cost_usd:.1%} of its cost)"
    )
    if not args.dry_run:
        print(f"wrote it into {set_willingness_to_pay(args.selector, knob)}")
    return 0
