"""Settings checks both adapters share: unknown arguments and the core routing settings.

The adapters are pydantic models; pydantic's own errors name a field but not the fix ("Extra
inputs are not permitted"), so the arguments users most often get wrong are checked first and
raise `RouteConfigError` saying what to do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from routing_chat_model.errors import RouteConfigError
from routing_chat_model.policy import fallback_order
from routing_chat_model.request import validate_route_on
from routing_chat_model.router import ModelCapabilities

__all__ = [
    "capability_overrides",
    "check_known_arguments",
    "check_routing_settings",
    "with_override",
]

_CAPABILITY_KEYS = frozenset(
    {"tool_calling", "structured_output", "image_inputs", "max_input_tokens"}
)

_PROVIDER_SETTINGS = frozenset(
    {
        "api_key",
        "api_base",
        "base_url",
        "timeout",
        "max_retries",
        "organization",
        "region",
        "temperature",
        "max_tokens",
    }
)


def check_known_arguments(
    cls: Any, base: Any, kwargs: Mapping[str, Any], *, base_settings: str, child: str
) -> None:
    """Raise `RouteConfigError` for constructor arguments `cls` (a pydantic model) does not take.

    Args:
        cls: The adapter class.
        base: The framework base class, whose fields are listed apart from the router's own.
        kwargs: The constructor's arguments.
        base_settings: How to describe the base class's settings in the message.
        child: What a wrapped model is called in this framework ("child model", "child LLM").
    """
    fields = cls.model_fields
    known = set(fields) | {f.alias for f in fields.values() if f.alias}
    unknown = sorted(set(kwargs) - known)
    if not unknown:
        return
    own = sorted(name for name in fields if name not in base.model_fields)
    hint = (
        f" Provider settings belong on each {child} (the router holds no credentials and "
        "opens no connection)."
        if _PROVIDER_SETTINGS & set(unknown)
        else ""
    )
    raise RouteConfigError(
        f"RoutingChatModel got unknown argument(s) {unknown}.{hint} The router's own settings "
        f"are {own}, plus {base_settings}."
    )


def check_routing_settings(models: Iterable[object], kwargs: Mapping[str, Any]) -> None:
    """Check `route_on` and `fallbacks` before pydantic sees them."""
    if "route_on" in kwargs:
        validate_route_on(kwargs["route_on"])
    if kwargs.get("fallbacks") is not None:
        fallback_order([str(name) for name in models], kwargs["fallbacks"])


def capability_overrides(
    models: Iterable[str], overrides: object
) -> Mapping[str, Mapping[str, Any]]:
    """The `capabilities=` setting, checked: model name -> {capability: value}."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise RouteConfigError(
            "capabilities must be a dict of model name -> overrides, e.g. "
            f"capabilities={{'local': {{'tool_calling': False}}}}; got {type(overrides).__name__}."
        )
    names = list(models)
    unknown = [name for name in overrides if name not in names]
    if unknown:
        raise RouteConfigError(f"capabilities name unknown model(s) {unknown}; models are {names}.")
    for name, override in overrides.items():
        if not isinstance(override, Mapping):
            raise RouteConfigError(
                f"capabilities[{name!r}] must be a dict like {{'tool_calling': False}}, got "
                f"{type(override).__name__}."
            )
        bad = set(override) - _CAPABILITY_KEYS
        if bad:
            raise RouteConfigError(
                f"capabilities[{name!r}] has unknown key(s) {sorted(bad)}; "
                f"use {sorted(_CAPABILITY_KEYS)}."
            )
    return overrides


def with_override(
    name: str, caps: ModelCapabilities, override: Mapping[str, Any] | None
) -> ModelCapabilities:
    """`caps` (what the framework says of a model) with the user's checked override applied."""
    if override is None:
        return caps
    return caps.merged(ModelCapabilities.from_mapping(f"capabilities[{name!r}]", override))
