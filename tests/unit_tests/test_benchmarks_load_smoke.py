"""The load benchmark runs end to end with small sizes: every request answered exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_load_benchmark_answers_every_request_once_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "load.py"),
            "--concurrency",
            "60",
            "--calls",
            "600",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["benchmark"] == "load"
    for row in data["load"]:
        # the script itself fails on a lost, duplicated or misattributed answer
        assert row["answered"] + row["failed"] == 60
        assert 0 < row["fallbacks"] < 60  # the seeded 30 % of 429s fell back
        assert row["router_busy_ms"]["p50"] > 0
    assert data["memory"]["calls"] == 600
