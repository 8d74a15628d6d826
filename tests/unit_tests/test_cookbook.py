"""Every cookbook recipe runs offline and shows what its docstring promises."""

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


def test_every_recipe_is_listed_in_the_readme_and_tested():
    readme = (COOKBOOK / "README.md").read_text(encoding="utf-8")
    # The LlamaIndex recipes are tested in test_cookbook_llama_index.py.
    recipes = sorted(
        path.stem for path in COOKBOOK.glob("*.py") if not path.stem.startswith("llama_index_")
    )
    assert recipes == [
        "cascade_coding_assistant",
        "compliance_local_only",
        "from_config",
        "hybrid_chain",
        "langgraph_agent",
        "lcel_chain",
        "llm_router",
        "metrics_dashboard",
        "parallel_vote",
        "per_customer_budget",
        "support_bot_classifier",
        "watching_decisions",
    ]
    for name in recipes:
        assert f"`{name}.py`" in readme
        module = _load(name)
        assert module.__doc__ and "Run it" in module.__doc__
        assert callable(module.main)


def test_lcel_chain_routes_by_rules_then_embeddings_and_falls_back(capsys):
    records = _load("lcel_chain").main()
    out = capsys.readouterr().out
    assert "chain = prompt | router | parser" in out
    assert out.count("[strong-llm]") >= 4  # before the change: one model for everything
    small_talk, credentials, proof, reasoning = records
    assert (small_talk["route"], small_talk["answer"]) == (
        "fast",
        f"[fast-llm] {small_talk['question']}",
    )
    assert credentials["route"] == "local"
    assert credentials["reason"] == "rules: credentials stay local"
    assert credentials["answer"].startswith("[local-llm]")
    assert proof["route"] == "strong" and proof["reason"].startswith("embedding:")
    assert proof["answer"].startswith("[strong-llm]")
    # The strong model is rate limited on its second call: the fallback order sends it to fast.
    assert reasoning["selected"] == "strong"
    assert reasoning["route"] == "fast"
    assert reasoning["attempts"] == [("strong", "RateLimitError"), ("fast", None)]
    assert reasoning["answer"].startswith("[fast-llm]")


def test_lcel_chain_local_route_never_falls_back_to_a_remote_model():
    recipe = _load("lcel_chain")
    router = recipe.build_router()
    assert router.router.fallbacks["local"] == ()
    assert router.router.fallbacks["strong"] == ("fast",)


def test_langgraph_agent_keeps_tool_rounds_on_the_calling_model(capsys):
    pytest.importorskip("langgraph")
    results = _load("langgraph_agent").main()
    out = capsys.readouterr().out
    expected = {
        "What's the weather in 'Lisbon' right now?": ("fast", "fast-llm", "get_weather"),
        "Compute the compound interest on 2500 at 4 percent over 10 years.": (
            "strong",
            "strong-llm",
            "compound_interest",
        ),
    }
    assert [r["question"] for r in results] == list(expected)
    for result in results:
        route, model, tool_name = expected[result["question"]]
        first, tool_result, final = result["turns"]
        assert (first["route"], first["model"], first["selector"]) == (route, model, "embedding")
        assert first["tool_calls"] == [tool_name]
        assert first["decision"]["route"] == route  # also on the first streamed chunk
        assert tool_result["node"] == "tools" and tool_result["tool"] == tool_name
        assert (final["route"], final["model"], final["selector"]) == (route, model, "tool_round")
        assert final["text"] == f"Tool said: {tool_result['text']}"
        assert final["chunks"] > 2  # streamed token by token, not in one piece
    assert results[1]["turns"][1]["text"] == "3700.61"
    assert "[strong -> strong-llm, selector=tool_round] Tool said: 3700.61" in out


def test_watching_decisions_sees_the_same_decision_every_way(capsys):
    seen = _load("watching_decisions").main()
    out = capsys.readouterr().out
    for heading in ("response_metadata", "callback handler", "run metadata", "astream_events"):
        assert heading in out

    on_message = seen["response_metadata"]
    assert on_message["route"] == "strong" and on_message["selector"] == "embedding"
    assert on_message["attempts"] == [
        {
            "route": "strong",
            "error": None,
            "error_kind": None,
            "latency_ms": on_message["attempts"][0]["latency_ms"],
        }
    ]
    assert on_message["cost_usd"] > 0

    assert [d["route"] for d in seen["callback"]] == ["fast"]
    assert seen["callback"][0]["cost_usd"] > 0
    assert seen["run_metadata"] == [
        {
            "ls_provider": "acme",
            "ls_model_name": "fast-llm",
            "routing_route": "fast",
            "routing_selector": "embedding",
        }
    ]

    streamed = seen["astream_events"]
    assert len(streamed["decisions"]) == 1  # exactly one routing_decision per routed call
    assert streamed["decisions"][0]["route"] == "strong"
    assert streamed["metadata"]["ls_model_name"] == "strong-llm"
    assert streamed["metadata"]["routing_route"] == "strong"
    assert streamed["stream_events"] > 1
    for decision in (on_message, *seen["callback"], *streamed["decisions"]):
        assert "Prove" not in str(decision) and "Hi there" not in str(decision)  # no prompt text
