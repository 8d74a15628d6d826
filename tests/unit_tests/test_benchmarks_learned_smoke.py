"""benchmarks/learned.py runs end to end on a tiny generated dataset (no timing asserts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .test_learned_fixtures import write_dataset

ROOT = Path(__file__).resolve().parents[2]


def test_learned_benchmark_writes_its_json(tmp_path):
    data = write_dataset(tmp_path / "d.csv", n=60)
    out = tmp_path / "learned.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "learned.py"), "--data", str(data),
         "--iterations", "20", "--seeds", "0,1", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"wrote {out}" in proc.stdout
    result = json.loads(out.read_text())
    assert result["benchmark"] == "learned"
    assert result["select_latency"]["n"] == 20
    assert "ridge alpha=30" in result["predictors"]
    assert result["predictors"]["ridge alpha=30"]["summary"]["best_model"] == "strong"
    assert result["seeds"] == [0, 1]
    default = result["predictors"]["logistic alpha=10"]
    assert set(default["per_seed"]) == {"0", "1"}
    assert 0.0 <= default["mean"]["aiq"][0] <= 1.0
