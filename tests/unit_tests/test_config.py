"""Routers declared in TOML or YAML: round trips into working routers, errors at the bad key."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from routing_chat_model import EmbeddingSelector, RouteConfigError, RuleSelector
from routing_chat_model.config import load_config
from routing_chat_model.langchain import RoutingChatModel as LCRouter
from routing_chat_model.langchain._config import from_config as lc_from_config
from routing_chat_model.llama_index import LLMRouterSelector as LIRouterSelector
from routing_chat_model.llama_index import RoutingChatModel as LIRouter
from routing_chat_model.llama_index._config import from_config as li_from_config
from routing_chat_model.testing import ScriptedChatModel, ScriptedLLM
from tests.support.openai_server import OpenAIServer, hashed_embedding

COOKBOOK = Path(__file__).resolve().parents[2] / "cookbook"


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(name="srv") as srv:
        yield srv


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def encode(texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.asarray([hashed_embedding(t, 64) for t in texts], dtype=np.float32)


# -- round trips -------------------------------------------------------------------------------


def test_toml_builds_a_langchain_router_with_init_chat_model(
    tmp_path: Path, server: OpenAIServer
) -> None:
    path = write(
        tmp_path,
        "router.toml",
        f"""
        default = "chat"
        fallbacks = ["billing", "chat"]
        route_on = "last_user"
        emit_routing_event = false

        [models.chat]
        provider = "openai"
        model = "gpt-4o-mini"
        kwargs = {{ base_url = "{server.base_url}", api_key = "test", max_retries = 0 }}

        [models.billing]
        provider = "openai"
        model = "ft:gpt-4o-mini:acme:billing"
        kwargs = {{ base_url = "{server.base_url}", api_key = "test", max_retries = 0 }}

        [capabilities.billing]
        image_inputs = false

        [prices.billing]
        input_per_mtok = 0.3
        output_per_mtok = 1.2

        [[rules]]
        route = "billing"
        keywords = ["refund", "invoice"]
        """,
    )
    router = lc_from_config(LCRouter, path)

    answer = router.invoke("I want a refund")
    other = router.invoke("hello")

    assert isinstance(router.selector, RuleSelector)
    assert router.emit_routing_event is False
    assert router.fallbacks == ["billing", "chat"]
    assert answer.content == "srv: I want a refund"
    routing = answer.response_metadata["routing"]
    assert routing["route"] == "billing" and routing["selector"] == "rules"
    assert routing["cost_usd"] is not None and routing["cost_usd"] > 0
    assert other.response_metadata["routing"]["route"] == "chat"
    models = [r.body["model"] for r in server.requests_to("chat/completions")]
    assert models == ["ft:gpt-4o-mini:acme:billing", "gpt-4o-mini"]


def test_yaml_builds_a_langchain_router_with_an_embedding_selector(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "router.yaml",
        """
        models:
          chat: openai:gpt-4o-mini
          billing: openai:gpt-4o
        default: chat
        selector:
          type: embedding
          threshold: 0.2
          top_k: 1
        routes:
          billing:
            description: money matters
            examples: ["refund my order", "I was charged twice", "invoice is wrong"]
          chat:
            examples: ["hello there", "how are you today", "tell me a joke"]
            threshold: 0.1
        """,
    )
    fakes = {"chat": ScriptedChatModel(model="small"), "billing": ScriptedChatModel(model="big")}
    router = lc_from_config(LCRouter, path, models=fakes, encoder=encode)

    assert isinstance(router.selector, EmbeddingSelector)
    assert router.selector.thresholds == {"chat": 0.1}
    assert router.invoke("please refund my order").content == "[big] please refund my order"
    assert router.invoke("hello there friend").content == "[small] hello there friend"


def test_langchain_llm_selector_from_a_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "router.toml",
        """
        [models]
        chat = "openai:gpt-4o-mini"
        billing = "openai:gpt-4o"

        [selector]
        type = "llm"
        model = "chat"
        cache_size = 10

        [routes.chat]
        description = "small talk"
        [routes.billing]
        description = "refunds and invoices"
        """,
    )

    def tool_call(messages: list[Any]) -> Any:
        from langchain_core.messages import AIMessage

        call = {"name": "RouteChoice", "args": {"route": "billing"}, "id": "c1"}
        return AIMessage(content="", tool_calls=[call])

    chat = ScriptedChatModel(model="small", respond=tool_call)
    router = lc_from_config(
        LCRouter, path, models={"chat": chat, "billing": ScriptedChatModel(model="big")}
    )
    answer = router.invoke("refund please")
    assert answer.response_metadata["routing"]["route"] == "billing"
    assert answer.response_metadata["routing"]["selector"] == "llm"


def test_toml_builds_a_llama_index_router_with_provider_classes(
    tmp_path: Path, server: OpenAIServer
) -> None:
    path = write(
        tmp_path,
        "router.toml",
        f"""
        default = "chat"

        [models.chat]
        provider = "openai"
        model = "gpt-4o-mini"
        kwargs = {{ api_base = "{server.base_url}", api_key = "test", max_retries = 0 }}

        [models.billing]
        provider = "openai"
        model = "gpt-4o"
        kwargs = {{ api_base = "{server.base_url}", api_key = "test", max_retries = 0 }}

        [selector]
        type = "rules"

        [[rules]]
        route = "billing"
        pattern = "refund|charged"
        """,
    )
    llm = li_from_config(LIRouter, path)

    response = llm.chat([ChatMessage(role=MessageRole.USER, content="I was charged twice")])

    assert type(llm.models["chat"]).__name__ == "OpenAI"
    assert response.message.content == "srv: I was charged twice"
    assert response.additional_kwargs["routing"]["route"] == "billing"
    assert server.requests_to("chat/completions")[0].body["model"] == "gpt-4o"


async def test_yaml_builds_a_llama_index_router_with_an_llm_selector(
    tmp_path: Path, server: OpenAIServer
) -> None:
    path = write(
        tmp_path,
        "router.yml",
        f"""
        models:
          chat: openai:gpt-4o-mini
          billing: {{provider: anthropic, model: claude-haiku}}
        default: chat
        selector:
          type: llm
          model:
            provider: openai
            model: gpt-4o-mini
            kwargs: {{api_base: "{server.base_url}", api_key: test, max_retries: 0}}
        routes:
          chat: {{description: small talk}}
          billing: {{description: refunds and invoices}}
        """,
    )
    # llama-index-llms-openai answers structured_predict with OpenAI's JSON-schema output.
    server.reply_next('{"route": "billing"}')
    fakes = {"chat": ScriptedLLM(model="small"), "billing": ScriptedLLM(model="big")}
    llm = li_from_config(LIRouter, path, models=fakes)

    response = await llm.achat([ChatMessage(role=MessageRole.USER, content="refund me")])

    assert isinstance(llm.selector, LIRouterSelector)
    assert response.message.content == "[big] refund me"
    assert response.additional_kwargs["routing"]["route"] == "billing"
    [sent] = server.requests_to("chat/completions")
    schema = sent.body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["route"]["enum"] == ["chat", "billing"]


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "router.toml",
        """
        default = "a"
        [models]
        a = "openai:x"
        b = "openai:y"
        """,
    )
    fakes = {"a": ScriptedChatModel(model="a"), "b": ScriptedChatModel(model="b")}
    router = lc_from_config(LCRouter, path, models=fakes, default="b")
    assert router.default == "b"
    assert router.invoke("hi").content == "[b] hi"


# -- invalid files -----------------------------------------------------------------------------

GOOD_MODELS = '[models]\nfast = "openai:a"\nstrong = "openai:b"\n'

INVALID_TOML = [
    (
        GOOD_MODELS + '[routes.strong]\nexamples = ["a", "b", 3]\n',
        "router.toml: routes.strong.examples[2]: expected a string, got 3",
    ),
    ('[models]\nfast = "gpt-4o"\n', "router.toml: models.fast: expected 'provider:model'"),
    ("[models.fast]\nprovider = 'openai'\n", "router.toml: models.fast.model: missing"),
    (
        '[models]\nfast = {provider="a", model="b", temperature=0}\n',
        "models.fast.temperature: unknown key",
    ),
    ('default = "x"\n', "router.toml: models: missing"),
    ('default = "slow"\n' + GOOD_MODELS, "router.toml: default: 'slow' is not one of the models"),
    ('fallbacks = ["fast", "nope"]\n' + GOOD_MODELS, "router.toml: fallbacks[1]: 'nope' is not"),
    (
        'fallbacks = {fast = "strong"}\n' + GOOD_MODELS,
        "router.toml: fallbacks.fast: expected a list",
    ),
    ("route_on = 0\n" + GOOD_MODELS, "router.toml: route_on: route_on=0 is not valid"),
    (
        GOOD_MODELS + "[capabilities.fast]\ntool_callng = true\n",
        "capabilities.fast.tool_callng: unknown key",
    ),
    (
        GOOD_MODELS + '[capabilities.fast]\ntool_calling = "yes"\n',
        "router.toml: capabilities.fast:",
    ),
    (
        GOOD_MODELS + "[capabilities.slow]\ntool_calling = true\n",
        "capabilities.slow: 'slow' is not one",
    ),
    (
        GOOD_MODELS + '[prices.fast]\ninput_per_mtok = "cheap"\noutput_per_mtok = 1\n',
        "router.toml: prices.fast.input_per_mtok: expected a number, got 'cheap'",
    ),
    (GOOD_MODELS + "[prices.fast]\ninput_per_mtok = 1\n", "prices.fast.output_per_mtok: missing"),
    (
        GOOD_MODELS + '[selector]\ntype = "magic"\n',
        "router.toml: selector.type: unknown selector 'magic'",
    ),
    (GOOD_MODELS + '[selector]\ntype = "rules"\n', "router.toml: rules: missing"),
    (GOOD_MODELS + '[[rules]]\nkeywords = ["a"]\n', "router.toml: rules[0].route: missing"),
    (
        GOOD_MODELS
        + '[[rules]]\nroute = "fast"\nkeywords = ["a"]\n[[rules]]\nroute = "strong"\nkeywords = "b"\n',
        "router.toml: rules[1].keywords: expected a list of strings, got 'b'",
    ),
    (GOOD_MODELS + '[[rules]]\nroute = "fast"\nkeywrds = ["a"]\n', "rules[0].keywrds: unknown key"),
    (
        GOOD_MODELS + '[[rules]]\nroute = "fast"\npattern = "("\n',
        "router.toml: rules[0]: Rule(route='fast'): pattern is not a valid regex",
    ),
    (
        GOOD_MODELS
        + '[selector]\ntype = "embedding"\nthreshold = "high"\n[routes.fast]\nexamples = ["a"]\n',
        "router.toml: selector.threshold: expected a number, got 'high'",
    ),
    (
        GOOD_MODELS
        + '[selector]\ntype = "embedding"\nthreshold = 2\n[routes.fast]\nexamples = ["a"]\n',
        "router.toml: selector: EmbeddingSelector threshold=2.0 is outside [-1, 1]",
    ),
    (
        GOOD_MODELS + '[selector]\ntype = "embedding"\nthreshhold = 0.3\n',
        "selector.threshhold: unknown key",
    ),
    (
        GOOD_MODELS + "[routes.fast]\ndescription = 'x'\n",
        "router.toml: routes.fast.examples: missing",
    ),
    (
        GOOD_MODELS
        + '[selector]\ntype = "llm"\nmodel = "fast"\n[routes.fast]\ndescription = "x"\nexamples = ["a"]\n',
        "routes.fast.examples: not used by the 'llm' selector",
    ),
    (
        GOOD_MODELS + '[selector]\ntype = "llm"\n[routes.fast]\ndescription = "x"\n',
        "router.toml: selector.model: missing",
    ),
    (
        GOOD_MODELS + '[selector]\ntype = "learned"\npath = "missing/sel"\n',
        "router.toml: selector.path:",
    ),
    (
        GOOD_MODELS + "[budgets]\nmonthly_usd = 10\n",
        "router.toml: budgets: RoutingChatModel has no setting 'budgets'",
    ),
    (GOOD_MODELS + "[[gates]]\ntype = 'compliance'\n", "router.toml: gates[0].local: missing"),
    ('emit_routing_event = "maybe"\n' + GOOD_MODELS, "router.toml: emit_routing_event:"),
    ("models = 3\n" + GOOD_MODELS, "router.toml: not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), INVALID_TOML)
def test_invalid_toml_names_the_bad_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "router.toml", text)
    fakes = {"fast": ScriptedChatModel(), "strong": ScriptedChatModel()}
    with pytest.raises(RouteConfigError) as caught:
        lc_from_config(LCRouter, path, models=fakes, encoder=encode)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "models: {fast: 'openai:a'}\nroutes:\n  fast:\n    examples: [hi, 3]\n",
            "router.yaml: routes.fast.examples[1]: expected a string, got 3",
        ),
        (
            "models: {fast: 'openai:a'}\nrules:\n  - {route: fast, min_tokens: -1}\n",
            "router.yaml: rules[0].min_tokens: expected an integer >= 0, got -1",
        ),
        (
            "models: {fast: 'openai:a'}\ndefault: fast\ndefault: slow\n",
            "router.yaml: line 3: duplicate key 'default'",
        ),
        ("- just\n- a list\n", "router.yaml: the file must hold a table"),
        ("models: [unclosed\n", "router.yaml: not valid YAML"),
    ],
)
def test_invalid_yaml_names_the_bad_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "router.yaml", text)
    with pytest.raises(RouteConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)


def test_unknown_providers_name_the_model_key(tmp_path: Path) -> None:
    path = write(tmp_path, "router.toml", '[models]\nfast = "nosuch:model-1"\n')
    with pytest.raises(RouteConfigError, match=r"router.toml: models.fast: cannot build"):
        lc_from_config(LCRouter, path)
    with pytest.raises(
        RouteConfigError, match=r"router.toml: models.fast: unknown provider 'nosuch'"
    ):
        li_from_config(LIRouter, path)


def test_missing_llama_index_integration_names_the_package(tmp_path: Path) -> None:
    path = write(tmp_path, "router.toml", '[models]\nfast = "anthropic:claude-haiku"\n')
    if importlib.util.find_spec("llama_index.llms.anthropic") is not None:
        pytest.skip("llama-index-llms-anthropic is installed")
    with pytest.raises(ImportError, match="pip install llama-index-llms-anthropic"):
        li_from_config(LIRouter, path)


def test_models_override_must_name_declared_models(tmp_path: Path) -> None:
    path = write(tmp_path, "router.toml", '[models]\nfast = "openai:a"\n')
    with pytest.raises(RouteConfigError, match=r"models= passes \['slow'\]"):
        li_from_config(LIRouter, path, models={"slow": ScriptedLLM()})


def test_yaml_without_pyyaml_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "router.yaml", "models: {fast: 'openai:a'}\n")
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(ImportError, match=r"routing-chat-model\[yaml\]"):
        load_config(path)


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RouteConfigError, match=r"unknown config format '\.ini'"):
        load_config(write(tmp_path, "router.ini", "x"))
    with pytest.raises(RouteConfigError, match="cannot read the config file"):
        load_config(tmp_path / "absent.toml")


def test_relative_selector_paths_resolve_next_to_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path, "router.toml", GOOD_MODELS + '[selector]\ntype = "learned"\npath = "sel"\n'
    )
    spec = load_config(path)
    assert spec.selector is not None
    assert spec.selector.options["path"] == tmp_path / "sel"


# -- the cookbook ------------------------------------------------------------------------------


def _recipe(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"cookbook_{name}", COOKBOOK / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def with_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """`RoutingChatModel.from_config` in both adapters (a no-op once chat_model.py has it)."""
    pairs: list[tuple[type, Any]] = [(LCRouter, lc_from_config), (LIRouter, li_from_config)]
    for cls, function in pairs:
        if "from_config" not in vars(cls):
            monkeypatch.setattr(cls, "from_config", classmethod(function), raising=False)


@pytest.mark.usefixtures("with_from_config")
def test_cookbook_from_config_recipe(capsys: pytest.CaptureFixture[str]) -> None:
    results = _recipe("from_config").main()
    assert "Run it" in (_recipe("from_config").__doc__ or "")
    routes = ["billing", "chat", "local", "local"]  # the last holds an email: compliance
    assert [r["route"] for r in results["toml"]] == routes
    assert [r["route"] for r in results["yaml"]] == routes
    assert results["toml"][3]["reason"] == results["yaml"][3]["reason"]
    out = capsys.readouterr().out
    assert "billing" in out and "acme spent $" in out
