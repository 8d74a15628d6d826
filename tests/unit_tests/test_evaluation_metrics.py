from __future__ import annotations

import json

import pytest

from routing_chat_model.cli import main
from routing_chat_model.errors import RouteConfigError
from routing_chat_model.evaluation import Point, aiq, apgr, calibrate, frontier, summary

from .test_learned_fixtures import write_dataset


def test_frontier_is_the_non_decreasing_upper_hull():
    pts = [Point(0.5, 1.0), Point(0.6, 2.0), Point(0.9, 3.0), Point(0.7, 4.0)]
    # (2, 0.6) lies under the segment from (1, 0.5) to (3, 0.9); past 3 quality never drops.
    assert frontier(pts) == [(1.0, 0.5), (3.0, 0.9), (4.0, 0.9)]


def test_aiq_and_apgr_on_a_known_curve():
    pts = [Point(0.5, 0.0), Point(1.0, 1.0)]
    assert aiq(pts) == pytest.approx(0.75)
    weak, strong = Point(0.5, 0.0), Point(1.0, 1.0)
    assert apgr(pts, weak, strong) == pytest.approx(0.5)
    assert apgr([Point(1.0, 0.0), Point(1.0, 1.0)], weak, strong) == pytest.approx(1.0)
    assert apgr(pts, strong, strong) is None


def test_summary_and_calibration_targets():
    models = {"cheap": Point(0.5, 0.1), "best": Point(0.9, 1.0)}
    router = [Point(0.5, 0.1, 0.01), Point(0.86, 0.3, 0.1), Point(0.92, 0.6, 1.0)]
    s = summary(models, router)
    assert s["best_model"] == "best"
    assert s["cost_to_match_best"] == 0.6
    assert s["cost_at_95pct_quality"] == 0.3
    assert s["quality_at_half_cost"] == 0.86
    best = models["best"]
    assert calibrate(router, best, target_cost_share=0.5).knob == 0.1
    assert calibrate(router, best, target_quality_share=1.0).knob == 1.0
    with pytest.raises(RouteConfigError, match="no knob reaches"):
        calibrate(router, best, target_quality_share=1.5)
    with pytest.raises(RouteConfigError, match="exactly one"):
        calibrate(router, best)


def test_eval_and_calibrate_commands(tmp_path, capsys):
    data = write_dataset(tmp_path / "d.csv", n=120)
    out = tmp_path / "out"
    saved = tmp_path / "sel.json"
    code = main(["eval", "--train", str(data), "--out", str(out), "--save", str(saved)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "embedding train [" in captured.err  # the progress bar
    assert "best single model: strong" in captured.out
    report = json.loads((out / "report.json").read_text())
    assert set(report) >= {"models", "oracle", "router", "summary"}
    assert set(report["models"]) == {"small", "strong"}
    assert report["oracle"]["quality"] == 1.0
    for key in ("best_model", "cost_to_match_best", "cost_at_95pct_quality", "aiq", "apgr"):
        assert key in report["summary"]
    assert {"quality", "cost_usd", "knob"} <= set(report["router"][0])
    assert (out / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Routing math to strong and chat to small matches strong's quality at ~55% of its cost.
    assert report["summary"]["cost_to_match_best"] < 0.7 * report["summary"]["best_cost_usd"]

    code = main(
        ["calibrate", "--selector", str(saved), "--data", str(data), "--target-cost-share", "0.6"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "willingness_to_pay = " in captured.out
    knob = json.loads(saved.read_text())["willingness_to_pay"]
    assert knob is not None and knob > 0


def test_eval_reports_a_malformed_file_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("query,quality:a,cost_usd:a\nq,7,0.1\n", encoding="utf-8")
    code = main(["eval", "--train", str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1
    assert "DatasetError" in err and "line 2" in err and "Traceback" not in err
