"""The quality-vs-cost plot of an evaluation (matplotlib, imported only when plotting)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from routing_chat_model.evaluation.metrics import Point, frontier

__all__ = ["plot_frontier"]

_INSTALL = "pip install 'routing-chat-model[eval]'"


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(f"plotting needs matplotlib; install it with: {_INSTALL}") from exc
    return plt


def _dense(curve: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """The hull's segments (linear in cost) sampled finely enough to look right on a log axis."""
    xs: list[float] = []
    ys: list[float] = []
    for (c1, q1), (c2, q2) in itertools.pairwise(curve):
        for i in range(20):
            t = i / 20
            xs.append(c1 + t * (c2 - c1))
            ys.append(q1 + t * (q2 - q1))
    xs.append(curve[-1][0])
    ys.append(curve[-1][1])
    return xs, ys


def _curve_q(curve: list[tuple[float, float]], cost: float) -> float:
    """The hull's quality at `cost` (linear between its points)."""
    for (c1, q1), (c2, q2) in itertools.pairwise(curve):
        if c1 <= cost <= c2:
            return q1 if c2 == c1 else q1 + (cost - c1) / (c2 - c1) * (q2 - q1)
    return curve[-1][1]


def plot_frontier(report: dict[str, Any], path: Path) -> Path:
    """Draw each model, the oracle, the random mix and the router's frontier; save as PNG.

    Every series is labelled on the plot itself (no legend), costs on a log axis.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 6.5), dpi=120)
    for name, v in report["models"].items():
        ax.scatter(v["cost_usd"], v["quality"], color="tab:blue", zorder=3)
        ax.annotate(
            name.split("/")[-1], (v["cost_usd"], v["quality"]), textcoords="offset points",
            xytext=(5, 4), fontsize=8, color="tab:blue",
        )  # fmt: skip
    oracle = report["oracle"]
    ax.scatter(oracle["cost_usd"], oracle["quality"], marker="*", s=160, color="tab:green")
    ax.annotate(
        "oracle", (oracle["cost_usd"], oracle["quality"]), textcoords="offset points",
        xytext=(6, -10), color="tab:green", fontsize=9,
    )  # fmt: skip
    weak, strong = report["random"]
    # A random mix is linear in cost, so on the log axis it is drawn through many points.
    mix = [i / 50 for i in range(51)]
    ax.plot(
        [weak["cost_usd"] + t * (strong["cost_usd"] - weak["cost_usd"]) for t in mix],
        [weak["quality"] + t * (strong["quality"] - weak["quality"]) for t in mix],
        linestyle="--", color="grey",
    )  # fmt: skip
    mid = (
        (weak["cost_usd"] * strong["cost_usd"]) ** 0.5,
        (weak["quality"] + strong["quality"]) / 2,
    )
    ax.annotate("random mix", mid, color="grey", fontsize=9, xytext=(0, -14),
                textcoords="offset points")  # fmt: skip
    points = [Point(p["quality"], p["cost_usd"]) for p in report["router"]]
    ax.scatter([p.cost_usd for p in points], [p.quality for p in points], s=10,
               color="tab:red", alpha=0.5)  # fmt: skip
    curve = frontier(points)
    xs, ys = _dense(curve)
    ax.plot(xs, ys, color="tab:red", linewidth=2)
    label_cost = (curve[0][0] * curve[-1][0]) ** 0.5  # the middle of the log axis
    ax.annotate(
        "learned router (knob sweep)", (label_cost, _curve_q(curve, label_cost)),
        color="tab:red", fontsize=9, xytext=(0, -18), textcoords="offset points", ha="center",
        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"},
    )  # fmt: skip
    best = report["summary"]
    for share in (1.0, 0.95):
        ax.axhline(share * best["best_quality"], color="tab:blue", linewidth=0.6, linestyle=":")
        ax.annotate(
            f"{share:.0%} of {best['best_model'].split('/')[-1]}'s quality",
            (0.01, share * best["best_quality"]), xycoords=("axes fraction", "data"),
            xytext=(0, 3), textcoords="offset points", fontsize=8, color="tab:blue",
        )  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("average cost per query (USD, log scale)")
    ax.set_ylabel("average quality")
    ax.set_title(
        f"Quality vs cost on {report['settings']['test_rows']} test prompts (AIQ {best['aiq']:.3f})"
    )
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
