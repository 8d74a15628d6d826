"""The learned selector on the real RouterBench subset (skipped when ../shared/data is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from routing_chat_model.evaluation import evaluate, load_dataset

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "routerbench" / "train.csv"

pytestmark = pytest.mark.skipif(
    not DATA.is_file(), reason=f"RouterBench data not found at {DATA} (../shared/data is absent)"
)


def test_learned_router_beats_the_random_mix_on_held_out_routerbench():
    data = load_dataset(DATA)
    assert len(data) == 2225 and len(data.models) == 11
    train, test = data.split(0.2, seed=0)
    report, _ = evaluate(train, test)
    s = report["summary"]
    assert s["best_model"] == "gpt-4-1106-preview"
    # The router's hull lies above the straight cheapest -> best line (APGR 0.5).
    assert s["apgr"] > 0.7
    assert s["cost_at_95pct_quality"] is not None
    assert s["cost_at_95pct_quality"] < 0.5 * s["best_cost_usd"]
