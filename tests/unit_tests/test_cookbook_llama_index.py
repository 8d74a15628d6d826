"""The LlamaIndex cookbook recipes run offline and show what their docstrings promise."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

COOKBOOK = Path(__file__).resolve().parents[2] / "cookbook"
RECIPES = ["llama_index_agent", "llama_index_query_engine", "llama_index_router_query_engine"]


def _load(name: str) -> ModuleType:
    """Import a recipe by path (the cookbook is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"cookbook_{name}", COOKBOOK / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first so pydantic can resolve the recipe's postponed annotations.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_is_listed_in_the_readme_and_documented(name: str) -> None:
    readme = (COOKBOOK / "README.md").read_text(encoding="utf-8")
    assert f"`{name}.py`" in readme
    module = _load(name)
    assert module.__doc__ and "Run it" in module.__doc__
    assert callable(module.main)


def test_router_query_engine_sends_each_question_to_its_engine(
    capsys: pytest.CaptureFixture[str],
) -> None:
    recipe = _load("llama_index_router_query_engine")
    seen = recipe.main()
    out = capsys.readouterr().out
    assert "1. Single selection" in out and "2. Multi selection" in out

    billing, docs, general = seen["single"]
    assert billing["engines"] == ["billing"] and not billing["abstained"]
    assert billing["context"] == [recipe.KNOWLEDGE["billing"][1]]
    assert docs["engines"] == ["docs"]
    assert docs["context"] == [recipe.KNOWLEDGE["docs"][1]]
    # Nothing like it among the examples: the selector abstains and the default answers.
    assert general["engines"] == ["general"] and general["abstained"]
    assert general["context"] == [recipe.KNOWLEDGE["general"][1]]

    both = seen["multi"]
    assert sorted(both["engines"]) == ["billing", "docs"]
    assert both["context"] == sorted([recipe.KNOWLEDGE["billing"][1], recipe.KNOWLEDGE["docs"][1]])

    assert [r["engines"] for r in seen["from_tools"]] == [["billing"], ["docs"]]

    # One instrumentation event per selection (3 + 1 + 2), in order, without question text.
    events = seen["events"]
    assert [e["routes"] for e in events] == [
        ["billing"],
        ["docs"],
        ["general"],
        both["engines"],
        ["billing"],
        ["docs"],
    ]
    assert all(e["attempts"] == [] and e["latency_ms"] >= 0 for e in events)
    assert not any("duplicate charge" in str(e) for e in events)


def test_every_llama_index_recipe_is_tested_here() -> None:
    assert sorted(p.stem for p in COOKBOOK.glob("llama_index_*.py")) == RECIPES


def test_query_engine_routes_the_question_not_the_context(
    capsys: pytest.CaptureFixture[str],
) -> None:
    recipe = _load("llama_index_query_engine")
    seen = recipe.main()
    out = capsys.readouterr().out
    assert "query():" in out and "aquery():" in out and "streaming=True:" in out

    lookup, reasoning = seen["query"]
    assert lookup["answer"] == f"[fast-llm] {recipe.LOOKUP}"
    assert lookup["decision"]["route"] == "fast" and lookup["decision"]["selector"] == "embedding"
    assert reasoning["answer"] == f"[strong-llm] {recipe.REASONING}"
    assert reasoning["decision"]["scores"]["strong"] > reasoning["decision"]["scores"]["fast"]
    assert seen["aquery"]["answer"] == f"[fast-llm] {recipe.LOOKUP}"

    # Through LlamaIndex's default prompt the router still routes on the question.
    naive = seen["default_prompt"]
    assert naive["decision"]["route"] == "strong"
    assert naive["answer"].startswith("[strong-llm] Context information is below.")

    streamed = seen["stream"]
    assert streamed["answer"] == f"[strong-llm] {recipe.STREAMED}"
    assert streamed["tokens"] > 3  # token by token from the chosen model

    events = seen["events"]
    assert [e["route"] for e in events] == ["fast", "strong", "fast", "strong", "strong"]
    assert all(e["model_name"] in ("fast-llm", "strong-llm") for e in events)
    assert not any("Team plan" in str(e) for e in events)  # no prompt text in decisions


def test_agent_keeps_each_tool_round_on_the_model_that_called_the_tool(
    capsys: pytest.CaptureFixture[str],
) -> None:
    results = _load("llama_index_agent").main()
    out = capsys.readouterr().out
    weather, interest = results
    for result, route, tool in (
        (weather, "fast", "get_weather"),
        (interest, "strong", "compound_interest"),
    ):
        model = f"{route}-llm"
        assert result["steps"] == [
            {"route": route, "model": model, "selector": "embedding"},
            {"route": route, "model": model, "selector": "tool_round"},
        ]
        assert [call["tool"] for call in result["tools"]] == [tool]
        assert result["answer"] == f"Tool said: {result['tools'][0]['output']}"
        assert result["deltas"] > 0
    assert weather["tools"][0]["kwargs"] == {"city": "Lisbon"}
    assert interest["tools"][0]["output"] == "3700.61"
    assert "strong -> strong-llm, selector=tool_round" in out
