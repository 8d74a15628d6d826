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

__all__ = ["check_known_arguments", "check_routing_settings"]

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
