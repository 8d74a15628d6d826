"""Settings checks both adapters share: unknown arguments and the core routing settings.

The adapters are pydantic models; pydantic's own errors name a field but not the fix ("Extra
inputs are not permitted"), so the arguments users most often get wrong are checked first and
raise `RouteConfigError` saying what to do.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from routing_chat_model.errors import RouteConfigError
from routing_chat_model.policy import FallbackPolicy, RetryPolicy, fallback_order
from routing_chat_model.pricing import Pricing
from routing_chat_model.request import validate_route_on
from routing_chat_model.router import ModelCapabilities, Router, check_reliability
from routing_chat_model.selectors.base import CallableSelector

__all__ = [
    "RELIABILITY_FIELDS",
    "build_router",
    "capability_overrides",
    "check_known_arguments",
    "check_routing_settings",
    "reliability_kwargs",
    "warn_child_retries",
    "with_override",
]

RELIABILITY_FIELDS = (
    "retry",
    "circuit_breaker",
    "deadline_s",
    "attempt_timeout_s",
    "first_token_timeout_s",
    "idle_timeout_s",
    "stream_hold_back",
    "stream_hold_until_tool_call",
)
"""The adapters' fields for retries, cooldowns, time limits and stream hold-back."""

_CAPABILITY_KEYS = frozenset(
    {
        "tool_calling",
        "structured_output",
        "image_inputs",
        "audio_inputs",
        "video_inputs",
        "pdf_inputs",
        "max_input_tokens",
    }
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
    if {"max_retries", "timeout"} & set(unknown):
        hint += (
            " The router's own retries and time limits are retry=RetryPolicy(...), "
            "deadline_s and attempt_timeout_s."
        )
    raise RouteConfigError(
        f"RoutingChatModel got unknown argument(s) {unknown}.{hint} The router's own settings "
        f"are {own}, plus {base_settings}."
    )


def check_routing_settings(models: Iterable[object], kwargs: Mapping[str, Any]) -> None:
    """Check `route_on`, `fallbacks` and the reliability settings before pydantic sees them."""
    if "route_on" in kwargs:
        validate_route_on(kwargs["route_on"])
    if kwargs.get("fallbacks") is not None:
        fallback_order([str(name) for name in models], kwargs["fallbacks"])
    if any(name in kwargs for name in RELIABILITY_FIELDS):
        reliability_kwargs(kwargs)


def build_router(
    settings: Mapping[str, Any], capabilities: Mapping[str, ModelCapabilities]
) -> Router:
    """The `Router` behind either adapter, from its settings (its fields, by name).

    Also warns about children that retry on their own and checks the mode's route names.

    Raises:
        RouteConfigError: naming the invalid setting and the fix.
    """
    models = settings["models"]
    selector = settings.get("selector")
    if selector is None:
        selector = CallableSelector(lambda request: None, name="default")
    router = Router(
        list(models),
        selector=selector,
        default=settings.get("default"),
        fallbacks=settings.get("fallbacks"),
        capabilities=capabilities,
        fallback_policy=FallbackPolicy.build(
            settings.get("fallback_on"), settings.get("fallback_exceptions") or ()
        ),
        pricing=Pricing(settings.get("prices")),
        gates=settings.get("gates") or (),
        **reliability_kwargs(settings),
    )
    warn_child_retries(models)
    mode = settings.get("mode")
    if mode is not None:
        mode.validate(list(models))
    return router


def reliability_kwargs(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The `Router` keyword arguments for the adapters' reliability fields, checked.

    `retry` may be a `RetryPolicy`, a dict of its fields or an int (`max_attempts`);
    `stream_hold_until_tool_call` is the adapter's (it supplies the commit predicate).

    Raises:
        RouteConfigError: naming the invalid field and the fix.
    """
    hold_until = settings.get("stream_hold_until_tool_call", False)
    if not isinstance(hold_until, bool):
        raise RouteConfigError(
            f"stream_hold_until_tool_call must be True or False, got {hold_until!r}."
        )
    out = {
        "retry": RetryPolicy.build(settings.get("retry")),
        "circuit_breaker": settings.get("circuit_breaker"),
        "deadline_s": settings.get("deadline_s"),
        "attempt_timeout_s": settings.get("attempt_timeout_s"),
        "first_token_timeout_s": settings.get("first_token_timeout_s"),
        "idle_timeout_s": settings.get("idle_timeout_s"),
        "stream_hold_back": settings.get("stream_hold_back", 0),
    }
    check_reliability(**out)
    return out


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


def warn_child_retries(models: Mapping[str, Any]) -> None:
    """Warn when wrapped models retry on their own (`max_retries > 0`).

    Their retries run inside each router attempt, so a rate-limited provider is called
    `max_retries + 1` times per attempt and fallback waits for all of them.
    """
    retrying = [
        name
        for name, child in models.items()
        if isinstance(getattr(child, "max_retries", None), int)
        and not isinstance(child.max_retries, bool)
        and child.max_retries > 0
    ]
    if retrying:
        warnings.warn(
            f"model(s) {retrying} retry on their own (max_retries > 0): each router attempt may "
            "become several provider calls and fallback waits for them. The router is the only "
            "retry loop: build them with max_retries=0 and use retry=RetryPolicy(...) on the "
            "router.",
            UserWarning,
            stacklevel=4,
        )
