"""The LlamaIndex overhead benchmark runs end to end with tiny sizes (no timing asserts).

Run as a user runs it, `python benchmarks/llama_index_overhead.py` from the repo root, in a
subprocess, with `src/` on PYTHONPATH so this also works before `pip install -e .`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "llama_index_overhead.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_overhead_runs_every_mode_for_every_contestant(tmp_path: Path) -> None:
    out = tmp_path / "llama_index_overhead.json"
    proc = _run("--rounds", "10", "--warmup", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"wrote {out}" in proc.stdout
    assert "LlamaIndex router overhead" in proc.stdout
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert data["benchmark"] == "llama_index_overhead"
    assert data["machine"]["python"] == sys.version.split()[0]
    assert data["machine"]["packages"]["llama-index-core"]
    rows = data["results"]
    assert {(r["mode"], r["contestant"]) for r in rows} == {
        (mode, name)
        for mode in ("chat", "achat", "stream_chat", "astream_chat")
        for name in ("direct", "ours", "ours_no_event", "passthrough")
    }
    for row in rows:
        assert row["n"] == 10
        assert 0 < row["min_us"] <= row["p50_us"] <= row["p99_us"] <= row["max_us"]
        if row["contestant"] != "direct":
            assert isinstance(row["overhead_p50_us"], float)
            assert isinstance(row["paired_median_overhead_us"], float)
        if row["contestant"].startswith("ours"):
            assert isinstance(row["over_passthrough_p50_us"], float)
    ours = [r for r in rows if r["contestant"] == "ours"]
    assert all(r["target_overhead_us"] == 200.0 for r in ours)
    assert all(isinstance(r["meets_target"], bool) for r in ours)


def test_an_unknown_mode_is_rejected() -> None:
    proc = _run("--modes", "chat,teleport")
    assert proc.returncode == 2
    assert "--modes" in proc.stderr


def test_help_describes_the_script() -> None:
    proc = _run("--help")
    assert proc.returncode == 0
    assert "--out" in proc.stdout and "--rounds" in proc.stdout
