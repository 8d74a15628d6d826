"""benchmarks/classifier.py runs end to end on a small CLINC150 sample (no timing asserts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "clinc150"


@pytest.mark.skipif(
    not (DATA / "train.jsonl").is_file(),
    reason=f"CLINC150 data not found at {DATA} (the shared data folder is absent)",
)
def test_classifier_benchmark_writes_its_json(tmp_path: Path) -> None:
    out = tmp_path / "classifier.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "classifier.py"), "--data", str(DATA),
         "--examples-per-route", "12", "--val-limit", "120", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"wrote {out}" in proc.stdout
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["benchmark"] == "classifier"
    assert result["settings"]["val_rows"] <= 120
    assert set(result["settings"]["routes"].values()) == {12}
    rows = result["results"]
    assert set(rows) == {"embedding top_k:3", "classifier (domains)"}
    for row in rows.values():
        assert 0.0 <= row["no_threshold"]["in_scope_accuracy"] <= 1.0
        assert row["latency"]["n"] == result["settings"]["val_rows"]
    assert [p["threshold"] for p in rows["classifier (domains)"]["thresholds"]] == [0.5, 0.7, 0.9]
    assert rows["classifier (domains)"]["temperature"] > 0
