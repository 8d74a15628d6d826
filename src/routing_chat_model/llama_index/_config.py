"""`RoutingChatModel.from_config`: a LlamaIndex router from a TOML or YAML file.

LlamaIndex has no universal model factory, so each `provider:model` is mapped to its
integration class by import path (`openai` -> `llama_index.llms.openai.OpenAI`, ...), built as
`Class(model=<model>, **kwargs)`. A missing integration raises an `ImportError` naming the pip
package; `models=` replaces some or all of the file's models with ready LLM objects.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from llama_index.core.llms.llm import LLM
from pydantic import ValidationError

from routing_chat_model.config import ModelSpec, RouterSpec, SelectorSpec, load_config
from routing_chat_model.errors import RouteConfigError
from routing_chat_model.llama_index.llm_selector import LLMRouterSelector

if TYPE_CHECKING:
    from routing_chat_model.llama_index.chat_model import RoutingChatModel

__all__ = ["PROVIDERS", "build_llm", "from_config"]

_R = TypeVar("_R", bound="RoutingChatModel")

PROVIDERS: Mapping[str, tuple[str, str, str]] = {
    # provider -> (module, class, pip package)
    "openai": ("llama_index.llms.openai", "OpenAI", "llama-index-llms-openai"),
    "azure_openai": (
        "llama_index.llms.azure_openai",
        "AzureOpenAI",
        "llama-index-llms-azure-openai",
    ),
    "openai_like": ("llama_index.llms.openai_like", "OpenAILike", "llama-index-llms-openai-like"),
    "anthropic": ("llama_index.llms.anthropic", "Anthropic", "llama-index-llms-anthropic"),
    "ollama": ("llama_index.llms.ollama", "Ollama", "llama-index-llms-ollama"),
    "google_genai": (
        "llama_index.llms.google_genai",
        "GoogleGenAI",
        "llama-index-llms-google-genai",
    ),
    "mistralai": ("llama_index.llms.mistralai", "MistralAI", "llama-index-llms-mistralai"),
    "groq": ("llama_index.llms.groq", "Groq", "llama-index-llms-groq"),
    "bedrock_converse": (
        "llama_index.llms.bedrock_converse",
        "BedrockConverse",
        "llama-index-llms-bedrock-converse",
    ),
}
"""The providers a file may name, and where LlamaIndex keeps each one's LLM class."""


def from_config(
    cls: type[_R],
    /,
    path: str | os.PathLike[str],
    *,
    models: Mapping[str, LLM] | None = None,
    encoder: object = None,
    **overrides: Any,
) -> _R:
    """Build a router from a TOML or YAML file (see `routing_chat_model.config`).

    Args:
        cls: The router class (this is a classmethod of `RoutingChatModel`).
        path: The `.toml`, `.yaml`/`.yml` or `.json` file.
        models: Ready LLMs replacing some or all of the file's (name -> LLM), e.g. fakes in
            tests; the others are built from `PROVIDERS`.
        encoder: The encoder of an embedding, learned or classifier selector (default: the
            bundled one), e.g. a LlamaIndex `BaseEmbedding`.
        **overrides: Any `RoutingChatModel` setting, winning over the file's. `gates=[...]`
            replaces the file's `[[gates]]` list as a whole.

    Raises:
        RouteConfigError: the file is invalid; the message names the file and the bad key.
        ImportError: a provider's integration (or PyYAML for a YAML file) is not installed.
    """
    spec = load_config(path)
    built = _models(spec, models or {})
    if "selector" in overrides:
        selector = overrides.pop("selector")
    else:
        selector = spec.build_selector(
            encoder=encoder, llm_selector=lambda s: _llm_selector(s, built)
        )
    # gates= in code replaces the file's whole list (objects the file cannot declare).
    gates = overrides.pop("gates") if "gates" in overrides else spec.build_gates()
    kwargs = {
        "models": built,
        "selector": selector,
        "gates": gates,
        **spec.settings_for(cls.model_fields, cls.__name__),
        **overrides,
    }
    try:
        with spec.blame(""):
            return cls(**kwargs)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise spec.error(key, first["msg"]) from exc


def build_llm(model: ModelSpec) -> LLM:
    """`Class(model=..., **kwargs)` for one model of the file.

    Raises:
        RouteConfigError: the provider is not in `PROVIDERS`, or the class rejects the kwargs.
        ImportError: the provider's integration package is not installed (names it).
    """
    found = PROVIDERS.get(model.provider.replace("-", "_").lower())
    if found is None:
        raise RouteConfigError(
            f"unknown provider {model.provider!r}; the LlamaIndex adapter knows "
            f"{', '.join(sorted(PROVIDERS))}. For another one, build the LLM yourself and pass "
            "it with from_config(path, models={'<name>': llm})."
        )
    module_name, class_name, package = found
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(
            f"provider {model.provider!r} needs {package}, which is not installed. "
            f"Install it with: pip install {package}"
        ) from exc
    llm_class = getattr(module, class_name)
    try:
        llm = llm_class(model=model.model, **model.kwargs)
    except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        raise RouteConfigError(
            f"cannot build {class_name}(model={model.model!r}, ...): {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(llm, LLM):
        raise RouteConfigError(f"{module_name}.{class_name} did not build a LlamaIndex LLM.")
    return llm


def _models(spec: RouterSpec, given: Mapping[str, LLM]) -> dict[str, LLM]:
    names = [m.name for m in spec.models]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise spec.error(
            "models",
            f"models= passes {unknown}, which the file does not declare; it declares {names}.",
        )
    out: dict[str, LLM] = {}
    for model in spec.models:
        if model.name in given:
            out[model.name] = given[model.name]
            continue
        with spec.blame(model.key):
            out[model.name] = build_llm(model)
    return out


def _llm_selector(spec: SelectorSpec, models: Mapping[str, LLM]) -> LLMRouterSelector:
    chosen = spec.model
    if isinstance(chosen, str):
        llm = models[chosen]
    else:
        assert chosen is not None  # the file check requires selector.model
        llm = build_llm(chosen)
    options: dict[str, Any] = dict(spec.options)
    if options.get("method") not in (None, "structured", "text"):
        raise RouteConfigError(
            f"method={options['method']!r}: the LlamaIndex routing model takes 'structured' "
            "or 'text'."
        )
    return LLMRouterSelector(llm, spec.descriptions, **options)
