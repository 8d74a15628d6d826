"""Which failures move a call to the next model, and in what order models are tried."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from routing_chat_model.errors import RouteConfigError
from routing_chat_model.policy.classify import ErrorKind, classify_error

__all__ = ["DEFAULT_FALLBACK_ON", "FallbackPolicy", "Fallbacks", "fallback_order"]

DEFAULT_FALLBACK_ON: frozenset[ErrorKind] = frozenset(
    {
        ErrorKind.RATE_LIMIT,
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECTION,
        ErrorKind.SERVER_ERROR,
        ErrorKind.CONTEXT_WINDOW,
    }
)
"""Provider failures another model can fix. A context-window overflow falls back only to models
with a larger (or undeclared) window. Client errors (bad request, auth) are the caller's to fix
and propagate at once; so does anything that is not a provider failure (a bug). Content-filter
refusals fall back only when `on` includes "content_filter"."""

Fallbacks = Sequence[str] | Mapping[str, Sequence[str]]
"""One fallback order for every route, or an order per chosen route."""


@dataclass(frozen=True)
class FallbackPolicy:
    """Decides whether an attempt's failure lets the router try the next model.

    Attributes:
        on: The error kinds that fall back.
        exceptions: Extra exception types that always fall back (your own provider's errors).
    """

    on: frozenset[ErrorKind] = DEFAULT_FALLBACK_ON
    exceptions: tuple[type[BaseException], ...] = ()

    @classmethod
    def build(
        cls,
        on: Collection[ErrorKind | str] | None = None,
        exceptions: Sequence[type[BaseException]] = (),
    ) -> FallbackPolicy:
        """Validate user settings into a policy."""
        kinds = DEFAULT_FALLBACK_ON if on is None else frozenset(_kind(k) for k in on)
        for exc_type in exceptions:
            if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
                raise RouteConfigError(
                    f"fallback_exceptions must be exception classes, got {exc_type!r}."
                )
        return cls(on=kinds, exceptions=tuple(exceptions))

    def classify(self, exc: BaseException) -> tuple[ErrorKind, bool]:
        """The error's kind and whether it falls back."""
        kind = classify_error(exc)
        if self.exceptions and isinstance(exc, self.exceptions):
            return kind, True
        return kind, kind in self.on


def _kind(value: ErrorKind | str) -> ErrorKind:
    try:
        return ErrorKind(value)
    except ValueError:
        allowed = ", ".join(repr(k.value) for k in ErrorKind)
        raise RouteConfigError(
            f"fallback_on: unknown error kind {value!r}; use {allowed}."
        ) from None


def fallback_order(
    models: Sequence[str], fallbacks: Fallbacks | None
) -> dict[str, tuple[str, ...]]:
    """Resolve the `fallbacks` setting to, per route, the models to try after it.

    Raises:
        RouteConfigError: an unknown model, a duplicate, or a route listed as its own fallback.
    """
    known = set(models)

    def check(where: str, order: Sequence[str]) -> tuple[str, ...]:
        if isinstance(order, str):
            raise RouteConfigError(f"{where} must be a list of model names, not one string.")
        unknown = [name for name in order if name not in known]
        if unknown:
            raise RouteConfigError(
                f"{where} names unknown model(s) {unknown}; models are {list(models)}."
            )
        if len(set(order)) != len(order):
            raise RouteConfigError(f"{where} lists a model twice: {list(order)}.")
        return tuple(order)

    if fallbacks is None:
        return {route: tuple(m for m in models if m != route) for route in models}
    if isinstance(fallbacks, Mapping):
        unknown_keys = [k for k in fallbacks if k not in known]
        if unknown_keys:
            raise RouteConfigError(
                f"fallbacks has key(s) {unknown_keys} that are not models; models are {list(models)}."
            )
        result: dict[str, tuple[str, ...]] = {}
        for route in models:
            order = check(f"fallbacks[{route!r}]", fallbacks.get(route, ()))
            if route in order:
                raise RouteConfigError(
                    f"fallbacks[{route!r}] lists {route!r} itself; a model is tried at most once "
                    "per call, so remove it."
                )
            result[route] = order
        return result
    order = check("fallbacks", fallbacks)
    return {route: tuple(m for m in order if m != route) for route in models}
