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

from routing_chat_model._config_build import build_router
from routing_chat_model.config import ModelSpec, SelectorSpec, load_config
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
    return build_router(
        cls,
        load_config(path),
        models or {},
        build_model=build_llm,
        llm_selector=_llm_selector,
        encoder=encoder,
        overrides=overrides,
    )


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


def _llm_selector(spec: SelectorSpec, llm: LLM) -> LLMRouterSelector:
    options: dict[str, Any] = dict(spec.options)
    if options.get("method") not in (None, "structured", "text"):
        raise RouteConfigError(
            f"method={options['method']!r}: the LlamaIndex routing model takes 'structured' "
            "or 'text'."
        )
    return LLMRouterSelector(llm, spec.descriptions, **options)
