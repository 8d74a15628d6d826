"""Each benchmark script runs end to end with tiny sizes and writes valid JSON (no timing asserts).

The scripts are run as a user runs them, `python benchmarks/<name>.py` from the repo root, in a
subprocess; `src/` is put on PYTHONPATH so this also works before `pip install -e .`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _result(proc: subprocess.CompletedProcess[str], out: Path, name: str) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"wrote {out}" in proc.stdout
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert data["benchmark"] == name
    machine = data["machine"]
    assert machine["cpu_count"] >= 1
    assert machine["python"] == sys.version.split()[0]
    assert machine["numpy"]
    return data


def _stats_ok(row: dict[str, Any], n: int) -> None:
    assert row["n"] == n
    assert 0 < row["min_us"] <= row["p50_us"] <= row["p90_us"] <= row["p99_us"] <= row["max_us"]


def test_results_folder_is_kept_but_its_json_is_ignored():
    assert (BENCHMARKS / "results" / ".gitkeep").is_file()
    ignore = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "benchmarks/results/*.json" in ignore


def test_decision_latency_runs_and_reports_both_selectors(tmp_path):
    out = tmp_path / "decision.json"
    proc = _run("decision_latency.py", "--iterations", "20", "--warmup", "2", "--out", str(out))
    data = _result(proc, out, "decision_latency")
    assert "Decision latency" in proc.stdout
    rows = data["results"]
    for row in rows:
        _stats_ok(row, 20)
    keys = {(r["selector"], r["call"], r["queries"]) for r in rows}
    assert ("rules", "decide", "mix of 12") in keys
    assert ("embedding", "decide", "unique") in keys
    assert ("embedding", "decide", "repeated (cached)") in keys
    targets = {r["selector"]: r["target_p50_us"] for r in rows if r["call"] == "decide"}
    assert targets == {"rules": 50.0, "embedding": 1000.0}


def test_overhead_runs_every_mode_for_every_contestant(tmp_path):
    out = tmp_path / "overhead.json"
    proc = _run("overhead.py", "--rounds", "10", "--warmup", "2", "--out", str(out))
    data = _result(proc, out, "overhead")
    assert "Router overhead" in proc.stdout
    rows = data["results"]
    contestants = {"direct", "ours", "ours_no_event", "ChatRouter"}
    assert {(r["mode"], r["contestant"]) for r in rows} == {
        (mode, name) for mode in ("invoke", "ainvoke", "stream", "astream") for name in contestants
    }
    for row in rows:
        _stats_ok(row, 10)
        if row["contestant"] != "direct":
            assert isinstance(row["overhead_p50_us"], float)
    ours = [r for r in rows if r["contestant"] == "ours"]
    assert all(isinstance(r["meets_target"], bool) for r in ours)


def test_overhead_rejects_an_unknown_mode():
    proc = _run("overhead.py", "--modes", "invoke,teleport")
    assert proc.returncode == 2
    assert "--modes" in proc.stderr


def _write_clinc(folder: Path) -> None:
    """A tiny CLINC-shaped data set: 3 domains x 2 intents, plus out-of-scope rows."""
    domains = {
        "banking": {
            "transfer": ["send money to my brother", "transfer 50 dollars to savings"],
            "balance": ["what is my account balance", "how much money is in checking"],
        },
        "kitchen": {
            "recipe": ["how do i bake banana bread", "give me a pasta recipe"],
            "cook_time": ["how long should i boil an egg", "how long to roast a chicken"],
        },
        "travel": {
            "flight": ["book a flight to paris", "find me a plane ticket to tokyo"],
            "luggage": ["how many bags can i check", "what is the carry on size limit"],
        },
    }
    oos = ["what is the meaning of life", "who won the chess match yesterday"]
    train, val = [], []
    for domain, intents in domains.items():
        for intent, texts in intents.items():
            train += [{"text": t, "intent": intent, "domain": domain} for t in texts]
            val.append({"text": f"please {texts[0]}", "intent": intent, "domain": domain})
    train.append({"text": oos[0], "intent": "oos", "domain": "oos"})
    val.append({"text": oos[1], "intent": "oos", "domain": "oos"})
    for name, rows in (("train", train), ("val", val)):
        lines = "\n".join(json.dumps(row) for row in rows)
        (folder / f"{name}.jsonl").write_text(lines + "\n", encoding="utf-8")


def test_clinc150_runs_on_a_tiny_data_set(tmp_path):
    _write_clinc(tmp_path)
    out = tmp_path / "clinc.json"
    proc = _run(
        "clinc150.py",
        "--data",
        str(tmp_path),
        "--examples-per-route",
        "3",
        "--examples-sweep",
        "1,2",
        "--out",
        str(out),
    )
    data = _result(proc, out, "clinc150")
    assert "Threshold sweep" in proc.stdout
    settings = data["settings"]
    assert settings["routes"] == {"banking": 3, "kitchen": 3, "travel": 3}
    assert (settings["val_in_scope"], settings["val_oos"]) == (6, 1)
    results = data["results"]
    assert set(results) == {"top_k:1", "top_k:3", "top_k:5", "top_k:10", "max", "centroid"}
    for res in results.values():
        base = res["no_threshold"]
        assert 0.0 <= base["in_scope_accuracy"] <= 1.0
        assert base["oos_fallback_rate"] == 0.0  # without a threshold nothing abstains
        # The sweep trades in-scope accuracy for out-of-scope fallback as the threshold rises.
        accs = [p["in_scope_accuracy"] for p in res["sweep"]]
        falls = [p["oos_fallback_rate"] for p in res["sweep"]]
        assert accs == sorted(accs, reverse=True)
        assert falls == sorted(falls)
        _stats_ok(res["latency"], 7)
    check = data["verification"]
    assert check["real_in_scope_accuracy"] == check["sweep_in_scope_accuracy"]
    assert check["real_oos_fallback_rate"] == check["sweep_oos_fallback_rate"]
    assert [row["examples_per_route"] for row in data["examples_sweep"]] == [1, 2]


def test_clinc150_without_data_says_where_to_point_it(tmp_path):
    proc = _run("clinc150.py", "--data", str(tmp_path / "missing"))
    assert proc.returncode != 0
    assert "CLINC150 data not found" in proc.stderr
    assert "--data" in proc.stderr


@pytest.mark.parametrize("script", ["decision_latency.py", "overhead.py", "clinc150.py"])
def test_help_describes_the_script(script):
    proc = _run(script, "--help")
    assert proc.returncode == 0
    assert "--out" in proc.stdout
