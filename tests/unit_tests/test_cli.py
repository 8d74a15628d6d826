"""The `routing-chat-model` command: the demo's routing, costs and output, and bad arguments."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from routing_chat_model import __version__
from routing_chat_model._demo import PROMPTS, TIERS, DemoResult, DemoRow, run_demo
from routing_chat_model.cli import main, render_demo
from tests.support.openai_server import OpenAIServer

SRC = Path(__file__).resolve().parents[2] / "src"
ROW_RE = re.compile(r"^\s*(\d+)\s{2}(.+?)\s{2,}(small|mid|strong)\s+(\S+)\s")


@pytest.fixture(scope="module")
def offline_run() -> tuple[int, str, str]:
    """One offline demo run (exit code, stdout, stderr) shared by the tests reading its table."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["demo", "--offline"])
    return code, out.getvalue(), err.getvalue()


def _rows(table: str) -> dict[int, tuple[str, str]]:
    """Row number -> (route, selector) for each table row."""
    rows = {}
    for line in table.splitlines():
        match = ROW_RE.match(line)
        if match:
            rows[int(match.group(1))] = (match.group(3), match.group(4))
    return rows


def test_demo_offline_prints_a_row_per_prompt_routed_by_kind(offline_run):
    code, out, err = offline_run
    assert code == 0
    assert err == ""
    rows = _rows(out)
    assert sorted(rows) == list(range(1, len(PROMPTS) + 1))
    for number, prompt in enumerate(PROMPTS, 1):
        route, selector = rows[number]
        assert selector == "embedding"
        assert route == prompt.expected, f"{prompt.text!r} went to {route}"
    kinds = {
        p.kind: {rows[i][0] for i, q in enumerate(PROMPTS, 1) if q.kind == p.kind} for p in PROMPTS
    }
    assert kinds["chit-chat"] == {"small"}
    assert kinds["code"] <= {"mid", "strong"}
    assert kinds["proof"] == {"strong"}
    assert kinds["summary"] <= {"mid", "strong"}


def test_demo_offline_reports_the_saving_against_the_strongest_model(offline_run):
    _, out, _ = offline_run
    match = re.search(
        r"Routed: \$(\d+\.\d+)\.\s+All on strong \(gpt-4o prices\): \$(\d+\.\d+)\.\s+"
        r"Saving: (\d+\.\d)%",
        out,
    )
    assert match, out
    routed, strongest, saving = (float(g) for g in match.groups())
    assert 0 < routed < strongest
    assert saving == pytest.approx(100 * (strongest - routed) / strongest, abs=0.1)
    assert saving > 0


def test_demo_offline_says_the_models_are_stand_ins_and_fits_100_columns(offline_run):
    _, out, _ = offline_run
    assert "STAND-INS" in out
    assert "stand-in: strong" in out
    assert "OPENAI_API_KEY" in out  # how to use real models
    assert "\x1b[" not in out  # not a terminal: no colour codes
    assert max(len(line) for line in out.splitlines()) <= 100


def test_demo_json_parses_and_matches_the_prompts(capsys):
    assert main(["demo", "--offline", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["stand_ins"] is True
    assert [row["prompt"] for row in data["rows"]] == [p.text for p in PROMPTS]
    assert [row["route"] for row in data["rows"]] == [p.expected for p in PROMPTS]
    for row in data["rows"]:
        assert row["cost_usd"] > 0
        assert row["strongest_cost_usd"] >= row["cost_usd"]
        assert row["input_tokens"] > 0 and row["output_tokens"] > 0
        assert set(row["scores"]) == {"small", "mid", "strong"}
    assert data["total_cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in data["rows"]))
    assert data["strongest_cost_usd"] > data["total_cost_usd"]
    assert data["saving_pct"] > 0
    assert data["models"]["strong"]["price"]["output_per_mtok"] == 10.0


def test_demo_costs_use_the_stand_in_prices_on_the_answer_tokens():
    result = run_demo(offline=True)
    prices = {tier.route: tier.price for tier in TIERS}
    for row in result.rows:
        assert row.route is not None and row.input_tokens and row.output_tokens
        expected = prices[row.route].cost_usd(
            input_tokens=row.input_tokens, output_tokens=row.output_tokens
        )
        assert row.cost_usd == pytest.approx(expected)
        assert row.strongest_cost_usd == pytest.approx(
            prices["strong"].cost_usd(
                input_tokens=row.input_tokens, output_tokens=row.output_tokens
            )
        )
    # Proofs get long answers: the strong route costs most per prompt.
    by_route = {row.route: row.cost_usd or 0.0 for row in result.rows}
    assert by_route["strong"] > by_route["mid"] > by_route["small"]


def test_demo_without_a_key_uses_stand_ins_and_says_why(monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["demo", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stand_ins"] is True


def test_offline_flag_wins_over_a_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-used")
    result = run_demo(offline=True)
    assert result.stand_ins is True
    assert result.note == "--offline"


def test_demo_with_a_key_routes_between_real_openai_clients(monkeypatch, capsys):
    """With langchain-openai and a key, the demo drives real `ChatOpenAI` clients (here against a
    loopback OpenAI-compatible server) and prices them from genai-prices."""
    pytest.importorskip("langchain_openai")
    with OpenAIServer(name="openai", reply="Paris is the capital of France.") as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-demo")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.delenv("OPENAI_API_BASE", raising=False)
        assert main(["demo", "--json"]) == 0
        requests = server.requests_to("chat/completions")
    data = json.loads(capsys.readouterr().out)
    assert data["stand_ins"] is False
    assert {r["route"]: r["model"] for r in data["rows"]} == {
        "small": "gpt-4o-mini",
        "mid": "gpt-4.1-mini",
        "strong": "gpt-4o",
    }
    assert len(requests) == len(PROMPTS)
    sent = {r.body["messages"][-1]["content"]: r.body["model"] for r in requests}
    assert sent[PROMPTS[0].text] == "gpt-4o-mini"
    assert all(row["cost_usd"] > 0 for row in data["rows"])
    assert data["saving_pct"] > 0
    assert "sk-test-demo" not in json.dumps(data)


def test_demo_reports_a_failing_provider_in_one_line(monkeypatch, capsys):
    pytest.importorskip("langchain_openai")
    with OpenAIServer() as server:
        for _ in range(3 * len(PROMPTS)):
            server.fail_next(status=401)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-demo")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.delenv("OPENAI_API_BASE", raising=False)
        assert main(["demo"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("routing-chat-model demo: error: ")
    assert "AuthenticationError: Error code: 401" in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert "Traceback" not in captured.err


def test_table_colours_only_when_asked():
    row = DemoRow(
        prompt="hi",
        kind="chit-chat",
        route="small",
        model="stand-in: small",
        selector="embedding",
        scores={"small": 0.3},
        decision_ms=0.1,
        input_tokens=3,
        output_tokens=5,
        cost_usd=1e-6,
        strongest_cost_usd=2e-6,
    )
    result = DemoResult(
        stand_ins=True,
        models={t.route: f"stand-in: {t.route}" for t in TIERS},
        priced_as={t.route: t.openai_model for t in TIERS},
        prices={t.route: t.price for t in TIERS},
        rows=[row],
        warmup_ms=1.0,
    )
    assert "\x1b[" not in render_demo(result)
    assert "\x1b[32m" in render_demo(result, colour=True)
    assert "Saving: 50.0%" in render_demo(result)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--bogus"], "routing-chat-model demo: error: unrecognized arguments: --bogus"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "give a command (demo, eval, calibrate)"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_version_and_help(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"routing-chat-model {__version__}"
    assert main(["--help"]) == 0
    assert "demo" in capsys.readouterr().out
    assert main(["demo", "--help"]) == 0
    assert "--offline" in capsys.readouterr().out


def test_demo_without_langchain_core_prints_the_pip_command():
    code = (
        "import sys; sys.modules['langchain_core'] = None\n"
        "from routing_chat_model.cli import main\n"
        "assert main(['--help']) == 0\n"
        "raise SystemExit(main(['demo', '--offline']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": ""},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'routing-chat-model[langchain]'" in proc.stderr
    assert "Traceback" not in proc.stderr
