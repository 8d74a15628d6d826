"""`RoutingChatModel.from_config`: a LangChain router from a TOML or YAML file.

Each model is built with LangChain's own factory, `init_chat_model(model, model_provider=...,
**kwargs)` (from the `langchain` package), so every provider it knows works, with its own
package installed (`langchain-openai`, `langchain-anthropic`, ...).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from langchain_core.language_models import BaseChatModel

from routing_chat_model._config_build import build_router
from routing_chat_model.config import ModelSpec, SelectorSpec, load_config
from routing_chat_model.errors import RouteConfigError
from routing_chat_model.langchain.llm_selector import LLMRouterSelector

if TYPE_CHECKING:
    from routing_chat_model.langchain.chat_model import RoutingChatModel

__all__ = ["build_chat_model", "from_config"]

_R = TypeVar("_R", bound="RoutingChatModel")


def from_config(
    cls: type[_R],
    /,
    path: str | os.PathLike[str],
    *,
    models: Mapping[str, BaseChatModel] | None = None,
    encoder: object = None,
    **overrides: Any,
) -> _R:
    """Build a router from a TOML or YAML file (see `routing_chat_model.config`).

    Args:
        cls: The router class (this is a classmethod of `RoutingChatModel`).
        path: The `.toml`, `.yaml`/`.yml` or `.json` file.
        models: Ready chat models replacing some or all of the file's (name -> model), e.g.
            fakes in tests; the others are built with `init_chat_model`.
        encoder: The encoder of an embedding, learned or classifier selector (default: the
            bundled one), e.g. a LangChain `Embeddings`.
        **overrides: Any `RoutingChatModel` setting, winning over the file's
            (`selector=`, `default=`, ...). `gates=[...]` replaces the file's `[[gates]]`
            list as a whole.

    Raises:
        RouteConfigError: the file is invalid; the message names the file and the bad key.
        ImportError: a provider's package (or PyYAML for a YAML file) is not installed.
    """
    return build_router(
        cls,
        load_config(path),
        models or {},
        build_model=build_chat_model,
        llm_selector=_llm_selector,
        encoder=encoder,
        overrides=overrides,
    )


def build_chat_model(model: ModelSpec) -> BaseChatModel:
    """`init_chat_model` for one model of the file.

    Raises:
        RouteConfigError: LangChain does not know the provider (the message says which it knows).
        ImportError: the provider's package, or `langchain` itself, is not installed.
    """
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as exc:
        raise ImportError(
            "from_config builds LangChain models with init_chat_model from the `langchain` "
            "package, which is not installed. Install it with: pip install langchain"
        ) from exc
    try:
        built = init_chat_model(model.model, model_provider=model.provider, **model.kwargs)
    except ImportError:
        raise
    except (ValueError, TypeError) as exc:
        # A provider LangChain does not know, or a client that rejects its arguments.
        raise RouteConfigError(
            f"cannot build {model.id!r} with init_chat_model: {type(exc).__name__}: {exc}"
        ) from exc
    return cast("BaseChatModel", built)


def _llm_selector(spec: SelectorSpec, chat_model: BaseChatModel) -> LLMRouterSelector:
    options: dict[str, Any] = dict(spec.options)
    return LLMRouterSelector(chat_model, spec.descriptions, **options)
