"""Checks of `RoutingChatModel`'s settings, run before pydantic sees them.

pydantic's own errors name the field but not the fix ("Extra inputs are not permitted"), so the
settings a user most often gets wrong are checked here first and raise `RouteConfigError` with a
message that says what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.model_profile import ModelProfile

from routing_chat_model._settings import (
    capability_overrides,
    check_known_arguments,
    check_routing_settings,
    with_override,
)
from routing_chat_model.errors import RouteConfigError
from routing_chat_model.langchain._convert import profile_capabilities
from routing_chat_model.router import ModelCapabilities

__all__ = ["check_settings", "model_capabilities", "profile_of"]


def check_settings(cls: type[BaseChatModel], kwargs: Mapping[str, Any]) -> None:
    """Raise `RouteConfigError` for unknown arguments and malformed routing settings."""
    check_known_arguments(
        cls,
        BaseChatModel,
        kwargs,
        base_settings="BaseChatModel's (callbacks, tags, metadata, cache, rate_limiter...)",
        child="child model",
    )
    models = kwargs.get("models")
    if not isinstance(models, Mapping):
        raise RouteConfigError(
            "models must be a dict of name -> LangChain chat model, e.g. "
            f"models={{'fast': ChatOpenAI(...), 'strong': ChatOpenAI(...)}}; got {type(models).__name__}."
        )
    for name, child in models.items():
        if not isinstance(child, BaseChatModel):
            raise RouteConfigError(
                f"models[{name!r}] is a {type(child).__name__}, not a LangChain chat model. "
                "Pass the chat model itself: configure retries, tools or settings on it, not with "
                ".bind()/.with_retry()/.with_config(), which return wrappers the router cannot "
                "drive inline."
            )
    check_routing_settings(models, kwargs)
    model_capabilities(models, kwargs.get("capabilities"))


def model_capabilities(
    models: Mapping[str, BaseChatModel], overrides: Any
) -> dict[str, ModelCapabilities]:
    """What each model can serve: its LangChain profile, with the user's overrides applied."""
    checked = capability_overrides(models, overrides)
    return {
        name: with_override(name, profile_capabilities(name, child), checked.get(name))
        for name, child in models.items()
    }


def profile_of(models: Mapping[str, BaseChatModel], overrides: Any) -> ModelProfile:
    """The router's LangChain profile: it serves what any model serves (it filters per call)."""
    caps = model_capabilities(models, overrides).values()
    providers = {child._get_ls_params().get("ls_provider") for child in models.values()}
    limits = [c.max_input_tokens for c in caps]
    profile = ModelProfile(
        tool_calling=any(c.tool_calling is not False for c in caps),
        image_inputs=any(c.image_inputs is True for c in caps),
        # Provider-native structured output (e.g. create_agent's ProviderStrategy) sends one
        # provider's response_format to every model, so only claim it for a single provider.
        structured_output=len(providers) == 1 and all(c.structured_output is True for c in caps),
    )
    if limits and all(limit is not None for limit in limits):
        profile["max_input_tokens"] = max(cast("list[int]", limits))
    return profile
