"""The classifier and hybrid cookbook recipes run offline and show what their docstrings promise."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

COOKBOOK = Path(__file__).resolve().parents[2] / "cookbook"


def _load(name: str) -> ModuleType:
    """Import a recipe by path (the cookbook is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"cookbook_{name}", COOKBOOK / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["support_bot_classifier", "hybrid_chain"])
def test_recipe_says_how_to_run_it(name: str) -> None:
    module = _load(name)
    assert module.__doc__ and f"Run it: `python cookbook/{name}.py`" in module.__doc__
    assert callable(module.main)


def test_support_bot_sends_billing_to_the_fine_tuned_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    records = _load("support_bot_classifier").main()
    out = capsys.readouterr().out
    assert "no pickle" in out
    routes = [r["route"] for r in records]
    assert routes == ["chit_chat", "billing", "billing", "chit_chat", "general"]
    for record in records:
        model = {"chit_chat": "small-llm", "billing": "billing-ft-llm", "general": "general-llm"}
        assert record["answer"] == f"[{model[record['route']]}] {record['question']}"
        assert record["selector"] == "classifier"
        assert set(record["scores"]) == {"billing", "chit_chat"}
    off_topic = records[-1]
    assert off_topic["abstained"] and max(off_topic["scores"].values()) < 0.8


def test_hybrid_chain_shows_which_link_decided(capsys: pytest.CaptureFixture[str]) -> None:
    seen = _load("hybrid_chain").main()
    out = capsys.readouterr().out
    assert "first_of(rules, classifier)" in out
    chain = seen["first_of"]
    assert [r["route"] for r in chain] == ["local", "billing", "chit_chat", "general"]
    assert {r["selector"] for r in chain} == {"chain(rules>classifier)"}
    assert chain[0]["reason"] == "rules: credentials"
    assert chain[1]["reason"].startswith("classifier: probability")
    assert chain[3]["reason"].startswith("every link abstained")

    mixed = seen["weighted"]
    assert [r["route"] for r in mixed] == ["billing", "chit_chat", "general"]
    assert mixed[0]["selector"] == "weighted(classifier*0.6+embedding*0.4)"
    assert mixed[2]["reason"].startswith("no link voted")

    held = seen["sticky"]
    assert [r["route"] for r in held] == ["billing", "billing", "chit_chat"]
    assert held[1]["reason"] == "sticky: this thread stays on billing"
