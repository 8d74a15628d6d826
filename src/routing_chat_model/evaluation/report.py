"""The `eval` pipeline: fit on one dataset, sweep the knob on another, report and plot."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from routing_chat_model.encoders.adapters import as_encoder
from routing_chat_model.evaluation.dataset import Dataset, DatasetError
from routing_chat_model.evaluation.metrics import (
    KNOBS,
    Point,
    model_points,
    oracle_point,
    summary,
    sweep,
)
from routing_chat_model.selectors.learned import LearnedSelector, Method, embed

__all__ = ["evaluate", "progress_bar", "render_table", "write_report"]


def progress_bar(label: str, stream: TextIO | None = None) -> Callable[[int, int], None]:
    """A `(done, total)` callback drawing a one-line text progress bar on `stream` (stderr)."""
    out = sys.stderr if stream is None else stream

    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        end = "\n" if done >= total else ""
        bar = "#" * filled + "-" * (width - filled)
        out.write(f"\r{label} [{bar}] {done}/{total}{end}")
        out.flush()

    return show


def _knob(value: float | None) -> float | None:
    return None if value is None or math.isinf(value) else value


def evaluate(
    train: Dataset,
    test: Dataset,
    *,
    encoder: object = None,
    method: Method = "logistic",
    k: int | None = None,
    progress: TextIO | None = None,
) -> tuple[dict[str, Any], LearnedSelector]:
    """Fit a `LearnedSelector` on `train`, sweep its knob on `test`; returns (report, selector).

    The report holds `models`, `oracle`, `router` (one point per knob; `knob` is the
    willingness to pay in USD per quality point, null for "best quality"), `random` (the two
    ends of the random-mix line), `summary` and `settings`.

    Raises:
        DatasetError: The two datasets do not have the same model columns.
    """
    if tuple(train.models) != tuple(test.models):
        raise DatasetError(
            f"train and test name different models: {list(train.models)} vs {list(test.models)}."
        )
    enc = as_encoder(encoder)
    started = time.perf_counter()
    train_vectors = embed(enc, train.queries, progress_bar("embedding train", progress))
    test_vectors = embed(enc, test.queries, progress_bar("embedding test ", progress))
    embed_s = time.perf_counter() - started
    started = time.perf_counter()
    selector = LearnedSelector(train, encoder=enc, method=method, k=k, vectors=train_vectors)
    fit_s = time.perf_counter() - started
    router = sweep(selector, test, test_vectors, KNOBS)
    models = model_points(test)
    best = max(models.values(), key=lambda p: (p.quality, -p.cost_usd))
    cheapest = min(models.values(), key=lambda p: (p.cost_usd, -p.quality))
    report: dict[str, Any] = {
        "models": {m: {"quality": p.quality, "cost_usd": p.cost_usd} for m, p in models.items()},
        "oracle": {k: v for k, v in asdict(oracle_point(test)).items() if k != "knob"},
        "router": [
            {"quality": p.quality, "cost_usd": p.cost_usd, "knob": _knob(p.knob)} for p in router
        ],
        "random": [asdict(Point(cheapest.quality, cheapest.cost_usd)), asdict(best)],
        "summary": summary(models, router),
        "settings": {
            "method": selector.method,
            "k": selector.k,
            "encoder": enc.name,
            "train_rows": len(train),
            "test_rows": len(test),
            "skipped_train": train.missing(),
            "skipped_test": test.missing(),
            "embed_seconds": round(embed_s, 3),
            "fit_seconds": round(fit_s, 3),
        },
    }
    return report, selector


def _fmt_cost(value: float | None) -> str:
    return "-" if value is None else f"${value:.6f}"


def render_table(report: dict[str, Any]) -> str:
    """The evaluation as a plain-text table plus the summary lines."""
    s = report["summary"]
    best_cost = s["best_cost_usd"]
    rows = [(name, v["quality"], v["cost_usd"]) for name, v in sorted(report["models"].items())] + [
        ("oracle", report["oracle"]["quality"], report["oracle"]["cost_usd"])
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'model':<{width}}  quality  cost/query  cost vs best", "-" * (width + 38)]
    for name, q, c in rows:
        lines.append(f"{name:<{width}}  {q:7.3f}  {c:10.6f}  {c / best_cost:11.1%}")

    def share(cost: float | None) -> str:
        return "not reached" if cost is None else f"{_fmt_cost(cost)} ({cost / best_cost:.1%})"

    half = s["quality_at_half_cost"]
    apgr = s["apgr"]
    lines += [
        "",
        f"best single model: {s['best_model']} (quality {s['best_quality']:.3f}, "
        f"{_fmt_cost(best_cost)} a query)",
        f"router cost to match it:        {share(s['cost_to_match_best'])}",
        f"router cost at 95% of quality:  {share(s['cost_at_95pct_quality'])}",
        "router quality at half its cost: "
        + ("not reached" if half is None else f"{half:.3f} ({half / s['best_quality']:.1%})"),
        f"AIQ {s['aiq']:.4f}   APGR " + ("n/a" if apgr is None else f"{apgr:.3f}"),
    ]
    return "\n".join(lines)


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write `report.json` and `frontier.png` into `out_dir`; returns both paths."""
    from routing_chat_model.evaluation.plots import plot_frontier

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", "utf-8")
    png_path = plot_frontier(report, out_dir / "frontier.png")
    return json_path, png_path
