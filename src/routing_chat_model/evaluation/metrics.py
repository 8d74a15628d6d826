"""Cost/quality metrics of routing on a dataset: single models, oracle, router sweep, summary.

All costs are the average cost per query in USD; all qualities the average quality per query.
A model is averaged over the rows that have a value for it; the router and the oracle pick, per
row, among the models that have a value on that row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from routing_chat_model.errors import RouteConfigError
from routing_chat_model.evaluation.dataset import Dataset
from routing_chat_model.selectors.learned import LearnedSelector

__all__ = [
    "KNOBS",
    "Point",
    "aiq",
    "apgr",
    "calibrate",
    "frontier",
    "model_points",
    "oracle_point",
    "summary",
    "sweep",
]

KNOBS: tuple[float, ...] = (*(float(w) for w in np.logspace(-5, 1, 193)), math.inf)
"""Willingness-to-pay values (USD per quality point) the router sweep tries.

32 a decade: with 8 (the first grid) whole groups of prompts switched model between two
neighbouring knobs, leaving gaps in the frontier and in what `calibrate` can pick."""


@dataclass(frozen=True)
class Point:
    """An average quality and cost per query, with the knob that produced it (routers only)."""

    quality: float
    cost_usd: float
    knob: float | None = None


def model_points(data: Dataset) -> dict[str, Point]:
    """Each model's average quality and cost over the rows that have its values."""
    return {
        m: Point(float(np.nanmean(data.quality[:, j])), float(np.nanmean(data.cost[:, j])))
        for j, m in enumerate(data.models)
    }


def oracle_point(data: Dataset) -> Point:
    """Per row the best quality available, at the cheapest model reaching it."""
    q = np.where(data.available, data.quality, -np.inf)
    best = q.max(axis=1, keepdims=True)
    cost = np.where(q >= best, data.cost, np.inf).min(axis=1)
    return Point(float(best.mean()), float(cost.mean()))


def _outcome(data: Dataset, choice: npt.NDArray[np.intp], knob: float | None) -> Point:
    rows = np.arange(len(data))
    return Point(
        float(data.quality[rows, choice].mean()), float(data.cost[rows, choice].mean()), knob
    )


def sweep(
    selector: LearnedSelector,
    data: Dataset,
    vectors: npt.ArrayLike,
    knobs: Sequence[float] = KNOBS,
) -> list[Point]:
    """The router's average quality and cost on `data` at each willingness to pay in `knobs`.

    The selector's models must be `data`'s models (it chooses by dataset column).
    """
    if tuple(selector.models) != tuple(data.models):
        raise RouteConfigError(
            f"the selector was fitted on models {list(selector.models)}, the dataset has "
            f"{list(data.models)}; evaluate on data with the same model columns."
        )
    quality, cost = selector.predict(vectors)
    allowed = data.available
    return [_outcome(data, selector.choose(quality, cost, allowed, w), w) for w in knobs]


def frontier(points: Sequence[Point]) -> list[tuple[float, float]]:
    """The non-decreasing upper convex hull of `points` as (cost, quality) pairs, by cost.

    Mixing two operating points at random reaches any point on the segment between them, so
    the hull is what a router can deliver; it is made non-decreasing (paying more never has
    to lower quality: one can keep the cheaper mix).
    """
    pts = sorted({(p.cost_usd, p.quality) for p in points})
    hull: list[tuple[float, float]] = []
    for p in pts:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    out: list[tuple[float, float]] = []
    for cost, quality in hull:
        out.append((cost, max(quality, out[-1][1] if out else -math.inf)))
    return out


def _curve_at(curve: Sequence[tuple[float, float]], cost: float) -> float:
    costs = [c for c, _ in curve]
    return float(np.interp(cost, costs, [q for _, q in curve]))


def aiq(points: Sequence[Point], low: float | None = None, high: float | None = None) -> float:
    """RouterBench's AIQ (Average Improvement in Quality) of the router's points.

    The area under the non-decreasing convex hull of the points over the cost range
    [low, high] (default: the points' own range), divided by the width of that range.
    """
    curve = frontier(points)
    lo = curve[0][0] if low is None else low
    hi = curve[-1][0] if high is None else high
    if hi <= lo:
        return curve[-1][1]
    grid = np.linspace(lo, hi, 1001)
    values = np.interp(grid, [c for c, _ in curve], [q for _, q in curve])
    return float(((values[1:] + values[:-1]) / 2 * np.diff(grid)).sum() / (hi - lo))


def apgr(points: Sequence[Point], weak: Point, strong: Point) -> float | None:
    """RouteLLM's Average Performance Gap Recovered, with cost as the budget axis.

    PGR(c) = (q(c) - q_weak) / (q_strong - q_weak), where q(c) is the router's non-decreasing
    hull at cost c; APGR averages it over costs evenly spread from the weak (cheapest) model's
    cost to the strong (best) model's. None when the two models have the same quality.
    """
    gap = strong.quality - weak.quality
    if gap <= 0 or strong.cost_usd <= weak.cost_usd:
        return None
    curve = frontier(points)
    grid = np.linspace(weak.cost_usd, strong.cost_usd, 1001)
    values = np.interp(grid, [c for c, _ in curve], [q for _, q in curve])
    return float(np.mean((values - weak.quality) / gap))


def summary(models: dict[str, Point], router: Sequence[Point]) -> dict[str, Any]:
    """The headline figures of an evaluation (see the `eval` command's report.json)."""
    best_model = max(models, key=lambda m: (models[m].quality, -models[m].cost_usd))
    best = models[best_model]
    cheapest = min(models.values(), key=lambda p: (p.cost_usd, -p.quality))
    match = [p.cost_usd for p in router if p.quality >= best.quality]
    near = [p.cost_usd for p in router if p.quality >= 0.95 * best.quality]
    half = [p.quality for p in router if p.cost_usd <= 0.5 * best.cost_usd]
    return {
        "best_model": best_model,
        "best_quality": best.quality,
        "best_cost_usd": best.cost_usd,
        "cost_to_match_best": min(match) if match else None,
        "cost_at_95pct_quality": min(near) if near else None,
        "quality_at_half_cost": max(half) if half else None,
        "aiq": aiq(router),
        "apgr": apgr(router, cheapest, best),
    }


def calibrate(
    points: Sequence[Point],
    best: Point,
    *,
    target_cost_share: float | None = None,
    target_quality_share: float | None = None,
) -> Point:
    """The sweep point meeting a target, whose `knob` is the willingness to pay to use.

    `target_cost_share`: the highest-quality point costing at most that share of the best
    model's cost. `target_quality_share`: the cheapest point reaching that share of its quality.

    Raises:
        RouteConfigError: Not exactly one target, or no point meets it.
    """
    if (target_cost_share is None) == (target_quality_share is None):
        raise RouteConfigError("give exactly one of target_cost_share or target_quality_share.")
    if target_cost_share is not None:
        ok = [p for p in points if p.cost_usd <= target_cost_share * best.cost_usd]
        if not ok:
            raise RouteConfigError(
                f"no knob keeps the cost within {target_cost_share:.0%} of the best model's "
                f"(${best.cost_usd:.6f}); the cheapest the router gets is "
                f"${min(p.cost_usd for p in points):.6f} a query."
            )
        return max(ok, key=lambda p: (p.quality, -p.cost_usd))
    share = float(target_quality_share or 0.0)
    ok = [p for p in points if p.quality >= share * best.quality]
    if not ok:
        raise RouteConfigError(
            f"no knob reaches {share:.0%} of the best model's quality ({best.quality:.3f}); the "
            f"router's best is {max(p.quality for p in points):.3f}."
        )
    return min(ok, key=lambda p: (p.cost_usd, -p.quality))
