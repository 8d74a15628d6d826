"""Router files with gates and composite selectors: round trips, and errors at the bad key."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from routing_chat_model import RouteConfigError
from routing_chat_model.config import load_config
from routing_chat_model.langchain import RoutingChatModel as LCRouter
from routing_chat_model.langchain._config import from_config as lc_from_config
from routing_chat_model.llama_index import RoutingChatModel as LIRouter
from routing_chat_model.llama_index._config import from_config as li_from_config
from routing_chat_model.policy import Budget, Compliance, LatencyTarget
from routing_chat_model.selectors.classifier import ClassifierSelector
from routing_chat_model.selectors.conversation import EscalateOnlySelector, StickySelector
from routing_chat_model.selectors.embedding import EmbeddingSelector
from routing_chat_model.selectors.hybrid import ChainSelector, WeightedSelector
from routing_chat_model.selectors.rules import RuleSelector
from routing_chat_model.testing import ScriptedChatModel, ScriptedLLM
from tests.support.openai_server import hashed_embedding

MODELS = (
    '[models]\nfast = "openai:gpt-4o-mini"\nstrong = "openai:gpt-4o"\nlocal = "ollama:llama3.2"\n'
)
PRICES = """
[prices.fast]
input_per_mtok = 0.15
output_per_mtok = 0.6
[prices.strong]
input_per_mtok = 5
output_per_mtok = 15
[prices.local]
input_per_mtok = 0
output_per_mtok = 0
"""
ROUTES = """
[routes.fast]
examples = ["hello there", "how are you today", "tell me a joke"]
[routes.strong]
examples = ["prove this theorem", "derive the formula", "analyse the contract"]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def encode(texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.asarray([hashed_embedding(t, 64) for t in texts], dtype=np.float32)


def lc_fakes() -> dict[str, ScriptedChatModel]:
    return {name: ScriptedChatModel(model=name) for name in ("fast", "strong", "local")}


def routing_of(router: LCRouter, text: str, **metadata: Any) -> dict[str, Any]:
    answer = router.invoke(text, config={"metadata": metadata})
    routing: dict[str, Any] = answer.response_metadata["routing"]
    return routing


# -- gates -------------------------------------------------------------------------------------


def test_toml_gates_build_real_gates_that_hold_in_langchain(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "router.toml",
        'default = "fast"\n'
        + MODELS
        + PRICES
        + """
        [[rules]]
        route = "strong"
        keywords = ["prove"]

        [[gates]]
        type = "compliance"
        local = ["local"]
        detectors = ["email"]

        [[gates]]
        type = "budget"
        max_cost_per_call = 0.001
        tenant_budget = { acme = 1.5, "*" = 0.25 }
        tenant_key = "customer"
        period = "day"
        tz = "Europe/Paris"
        missing_tenant = "allow"
        expected_output_tokens = 100

        [[gates]]
        type = "latency"
        name = "speed"
        max_ms = 1500
        statistic = "p50"
        min_samples = 5
        window = 50
        max_age = false
        """,
    )
    router = lc_from_config(LCRouter, path, models=lc_fakes())

    compliance, budget, latency = router.gates
    assert isinstance(compliance, Compliance) and compliance.local == ("local",)
    assert [d.name for d in compliance.detectors] == ["email"]
    assert isinstance(budget, Budget)
    assert budget.tenant_key == "customer" and budget.period == "day"
    assert budget.status("acme").budget == 1.5 and budget.status("zed").budget == 0.25
    assert str(budget.tz) == "Europe/Paris"
    assert isinstance(latency, LatencyTarget) and latency.name == "speed"
    assert latency.max_age is None and latency.statistic == "p50"
    # The file's prices price the budget: "strong" (~$0.0015) is over the $0.001 cap.
    capped = routing_of(router, "prove that 2 is prime", customer="acme")
    assert capped["route"] == "fast"
    assert any(r.startswith("budget: over $0.001 a call") for r in capped["restrictions"])
    # An email keeps the request on the local model, whatever the rules say.
    sensitive = routing_of(router, "prove it, and write to me at ann@example.com")
    assert sensitive["route"] == "local"


def test_yaml_gates_in_llama_index_and_the_override_replaces_them(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "router.yaml",
        """
        models: {fast: "openai:a", local: "ollama:b"}
        default: fast
        gates:
          - type: compliance
            local: [local]
            detectors: [email]
            metadata_key: false
        """,
    )
    fakes = {"fast": ScriptedLLM(model="fast"), "local": ScriptedLLM(model="local")}
    llm = li_from_config(LIRouter, path, models=fakes)

    def route(text: str) -> str:
        reply = llm.chat([ChatMessage(role=MessageRole.USER, content=text)])
        return str(reply.additional_kwargs["routing"]["route"])

    assert route("mail bob@example.com the report") == "local"
    assert route("call +44 20 7946 0958") == "fast"  # the phone detector was not chosen
    [gate] = llm.gates
    assert isinstance(gate, Compliance) and gate.metadata_key is None

    replaced = li_from_config(LIRouter, path, models=fakes, gates=[])
    assert replaced.gates == []


def test_budget_prices_of_the_gate_win_over_the_files(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "router.toml",
        MODELS
        + PRICES
        + """
        [[gates]]
        type = "budget"
        max_cost_per_call = 1
        [gates.prices.strong]
        input_per_mtok = 100
        output_per_mtok = 100
        """,
    )
    [budget] = load_config(path).build_gates()
    assert isinstance(budget, Budget)
    assert budget.estimate("strong", 1000) == pytest.approx(100 * 1500 / 1e6)
    assert budget.estimate("fast", 1000) == pytest.approx((0.15 * 1000 + 0.6 * 500) / 1e6)


# -- composite selectors -----------------------------------------------------------------------


def test_chain_of_rules_then_embedding_made_sticky(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "router.toml",
        'default = "local"\n'
        + MODELS
        + ROUTES
        + """
        [selector]
        type = "chain"
        sticky = true
        thread_keys = ["conversation"]
        links = [{ type = "rules" }, { type = "embedding", threshold = 0.2, top_k = 1 }]

        [[rules]]
        route = "strong"
        keywords = ["urgent"]
        """,
    )
    router = lc_from_config(LCRouter, path, models=lc_fakes(), encoder=encode)

    assert isinstance(router.selector, StickySelector)
    assert router.selector.keys == ("conversation",)
    chain = router.selector.selector
    assert isinstance(chain, ChainSelector)
    rules, embedding = chain.links
    assert isinstance(rules, RuleSelector) and isinstance(embedding, EmbeddingSelector)
    assert embedding.threshold == 0.2
    assert routing_of(router, "urgent: the server is down")["route"] == "strong"
    first = routing_of(router, "hello there, how are you today", conversation="t1")
    assert first["route"] == "fast" and first["selector"].startswith("sticky(")
    assert "embedding" in first["reason"]
    # The thread stays on its model even when the rules would pick another.
    assert routing_of(router, "urgent: tell me a joke", conversation="t1")["route"] == "fast"


def test_weighted_embedding_and_classifier_with_escalate_only(tmp_path: Path) -> None:
    examples = {
        "fast": ["hello there", "how are you today", "tell me a joke", "good morning"],
        "strong": ["prove this theorem", "derive the formula", "analyse the contract", "proof"],
    }
    ClassifierSelector.from_examples(examples, encode, calibration=0).save(tmp_path / "clf")
    path = write(
        tmp_path,
        "router.yaml",
        """
        models: {fast: "openai:a", strong: "openai:b", local: "ollama:c"}
        default: fast
        selector:
          type: weighted
          threshold: 0.5
          escalate_only: [local, fast, strong]
          links:
            - {type: embedding, weight: 0.7, threshold: 0.1}
            - {type: classifier, path: clf, weight: 0.3, threshold: 0.4}
        routes:
          fast: {examples: [hello there, how are you today, tell me a joke]}
          strong: {examples: [prove this theorem, derive the formula, analyse the contract]}
        """,
    )
    router = lc_from_config(LCRouter, path, models=lc_fakes(), encoder=encode)

    assert isinstance(router.selector, EscalateOnlySelector)
    assert router.selector.order == ("local", "fast", "strong")
    combined = router.selector.selector
    assert isinstance(combined, WeightedSelector)
    assert combined.weights == (0.7, 0.3) and combined.threshold == 0.5
    embedding, classifier = combined.links
    assert isinstance(embedding, EmbeddingSelector) and embedding.threshold == 0.1
    assert isinstance(classifier, ClassifierSelector) and classifier.threshold == 0.4
    assert routing_of(router, "prove this theorem", thread_id="t")["route"] == "strong"
    # Escalate-only: the thread never drops back to the weaker model.
    assert routing_of(router, "hello there", thread_id="t")["route"] == "strong"
    assert routing_of(router, "hello there", thread_id="other")["route"] == "fast"


# -- invalid files -----------------------------------------------------------------------------

BAD_GATES = [
    (
        '[[gates]]\ntype = "budget"\ntenant_budget = { acme = -3 }\n',
        "router.toml: gates[0].tenant_budget.acme: expected a number >= 0, got -3",
    ),
    ('[[gates]]\ntype = "budget"\n', "router.toml: gates[0]: a budget gate limits nothing"),
    ('[[gates]]\ntype = "quota"\n', "router.toml: gates[0].type: unknown gate 'quota'"),
    ("[[gates]]\nlocal = ['local']\n", "router.toml: gates[0].type: missing"),
    (
        '[[gates]]\ntype = "budget"\nmax_cost_per_call = 1\nperiod = "week"\n',
        "router.toml: gates[0].period: expected 'day', 'month' or a number of seconds > 0",
    ),
    (
        '[[gates]]\ntype = "budget"\nmax_cost_per_call = 1\nperiod = 0\n',
        "router.toml: gates[0].period: expected a number > 0, got 0",
    ),
    (
        '[[gates]]\ntype = "budget"\nmax_cost_per_call = 1\ntz = "Mars/Olympus"\n',
        "router.toml: gates[0].tz: unknown time zone 'Mars/Olympus'",
    ),
    (
        '[[gates]]\ntype = "budget"\nmax_cost_per_call = 1\nunknown_price = "maybe"\n',
        "router.toml: gates[0].unknown_price: expected one of 'allow', 'deny'",
    ),
    (
        '[[gates]]\ntype = "budget"\nmax_cost_per_call = "cheap"\n',
        "router.toml: gates[0].max_cost_per_call: expected a number, got 'cheap'",
    ),
    (
        '[[gates]]\ntype = "budget"\nmax_cost_per_call = 1\ntenant_key = ""\n',
        "router.toml: gates[0].tenant_key: expected a non-empty string",
    ),
    (
        '[[gates]]\ntype = "budget"\nmax_cost_per_call = 1\n[gates.prices.fast]\n'
        "input_per_mtok = 1\n",
        "router.toml: gates[0].prices.fast.output_per_mtok: missing",
    ),
    (
        '[[gates]]\ntype = "budget"\nmax_cost_per_call = 1\nmax_cost = 2\n',
        "router.toml: gates[0].max_cost: unknown key",
    ),
    ('[[gates]]\ntype = "compliance"\n', "router.toml: gates[0].local: missing"),
    (
        '[[gates]]\ntype = "compliance"\nlocal = ["cloud"]\n',
        "router.toml: gates[0].local[0]: 'cloud' is not one of the models",
    ),
    (
        '[[gates]]\ntype = "compliance"\nlocal = ["local"]\ndetectors = ["email", "ssn"]\n',
        "router.toml: gates[0].detectors[1]: unknown detector 'ssn'; the shipped detectors "
        "are: email, phone, payment_card, iban, national_id, secret",
    ),
    (
        '[[gates]]\ntype = "compliance"\nlocal = ["local"]\nallow_selector = "yes"\n',
        "router.toml: gates[0].allow_selector: expected true or false",
    ),
    (
        '[[gates]]\ntype = "compliance"\nlocal = ["local"]\ndetectors = []\nmetadata_key = false\n',
        "router.toml: gates[0]: Compliance(detectors=[], metadata_key=None) can never",
    ),
    ('[[gates]]\ntype = "latency"\n', "router.toml: gates[0].max_ms: missing"),
    (
        '[[gates]]\ntype = "latency"\nmax_ms = 100\nalpha = 2\n',
        "router.toml: gates[0].alpha: expected a number in (0, 1], got 2",
    ),
    (
        '[[gates]]\ntype = "latency"\nmax_ms = 100\nmin_samples = 10\nwindow = 5\n',
        "router.toml: gates[0].min_samples: is larger than window",
    ),
    (
        '[[gates]]\ntype = "latency"\nmax_ms = 100\n[[gates]]\ntype = "latency"\nmax_ms = -1\n',
        "router.toml: gates[1].max_ms: expected a number > 0, got -1",
    ),
]

RULES = '[[rules]]\nroute = "strong"\nkeywords = ["x"]\n'
BAD_SELECTORS = [
    ('[selector]\ntype = "chain"\n', "router.toml: selector.links: missing"),
    ('[selector]\ntype = "chain"\nlinks = []\n', "router.toml: selector.links: expected a non"),
    (
        '[selector]\ntype = "chain"\nlinks = [{type = "rules"}, {type = "embedding", '
        'threshold = "high"}]\n' + RULES + ROUTES,
        "router.toml: selector.links[1].threshold: expected a number, got 'high'",
    ),
    (
        '[selector]\ntype = "chain"\nlinks = [{type = "rules"}, {type = "chain"}]\n' + RULES,
        "router.toml: selector.links[1].type: unknown selector 'chain' (links do not nest)",
    ),
    (
        '[selector]\ntype = "chain"\nlinks = [{type = "rules", weight = 1}]\n' + RULES,
        "router.toml: selector.links[0].weight: unknown key",
    ),
    (
        '[selector]\ntype = "weighted"\nlinks = [{type = "embedding"}]\n' + ROUTES,
        "router.toml: selector.links[0].weight: missing",
    ),
    (
        '[selector]\ntype = "weighted"\nlinks = [{type = "embedding", weight = 0}]\n' + ROUTES,
        "router.toml: selector.links[0].weight: every weight is 0",
    ),
    (
        '[selector]\ntype = "weighted"\nlinks = [{type = "classifier", weight = 1, path = "c", '
        "threshold = 3}]\n",
        "router.toml: selector.links[0].threshold: expected a probability in [0, 1], got 3",
    ),
    (
        '[selector]\ntype = "weighted"\nlinks = [{type = "learned", weight = 1}]\n',
        "router.toml: selector.links[0].path: missing",
    ),
    (
        '[selector]\ntype = "chain"\nlinks = [{type = "embedding"}]\n' + RULES + ROUTES,
        "router.toml: rules: not used by the 'chain' selector",
    ),
    (
        '[selector]\ntype = "chain"\nlinks = [{type = "rules"}, {type = "embedding"}]\n' + RULES,
        "router.toml: routes: missing: an embedding selector needs",
    ),
    (
        '[selector]\ntype = "rules"\nescalate_only = ["fast", "huge"]\n' + RULES,
        "router.toml: selector.escalate_only[1]: 'huge' is not one of the models",
    ),
    (
        '[selector]\ntype = "rules"\nsticky = true\nescalate_only = ["fast", "strong"]\n' + RULES,
        "router.toml: selector.escalate_only: a selector is sticky or escalate_only, not both",
    ),
    (
        '[selector]\ntype = "rules"\nsticky = "yes"\n' + RULES,
        "router.toml: selector.sticky: expected true or false, got 'yes'",
    ),
    (
        '[selector]\ntype = "rules"\nmax_threads = 10\n' + RULES,
        "router.toml: selector.max_threads: only used with sticky = true or escalate_only",
    ),
    (
        '[selector]\ntype = "rules"\nescalate_only = ["fast", "local"]\n' + RULES,
        "router.toml: selector.escalate_only: escalate_only order misses route(s) ['strong']",
    ),
    (
        '[selector]\ntype = "chain"\nlinks = [{type = "embedding", threshold = 2}]\n' + ROUTES,
        "router.toml: selector.links[0]: EmbeddingSelector threshold=2.0 is outside [-1, 1]",
    ),
    (
        '[selector]\ntype = "weighted"\nthreshold = 2\nlinks = [{type = "embedding", '
        "weight = 1}]\n" + ROUTES,
        "router.toml: selector: weighted threshold=2.0",
    ),
    (
        '[selector]\ntype = "weighted"\nlinks = [{type = "classifier", weight = 1, path = "c"}]\n',
        "router.toml: selector.links[0].path:",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_GATES + BAD_SELECTORS)
def test_invalid_gates_and_selectors_name_the_bad_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, "router.toml", MODELS + text)
    with pytest.raises(RouteConfigError) as caught:
        lc_from_config(LCRouter, path, models=lc_fakes(), encoder=encode)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "gates:\n  - {type: budget, tenant_budget: {acme: 5, beta: many}}\n",
            "router.yaml: gates[0].tenant_budget.beta: expected a number, got 'many'",
        ),
        ("gates: {type: budget}\n", "router.yaml: gates: expected a list of gate tables"),
        (
            "selector:\n  type: chain\n  links: [rules]\n",
            "router.yaml: selector.links[0]: expected a table, got 'rules'",
        ),
    ],
)
def test_invalid_yaml_gates_name_the_bad_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "router.yaml", "models: {fast: 'openai:a', local: 'ollama:b'}\n" + text)
    with pytest.raises(RouteConfigError) as caught:
        load_config(path).build_gates()
    assert message in str(caught.value)
