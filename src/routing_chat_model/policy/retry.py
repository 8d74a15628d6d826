"""Retries on the same model: which failures, how often, how long to wait (`Retry-After` wins).

The router is the only retry loop: wrapped provider clients should have their own retries off
(`ChatOpenAI(max_retries=0)`, llama-index `OpenAI(max_retries=0)`), otherwise every router
attempt multiplies into several provider calls. By default nothing is retried on the same model
(`max_attempts=1`); the next model of the plan is tried instead.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from routing_chat_model.errors import RouteConfigError
from routing_chat_model.policy.classify import ErrorKind

__all__ = ["DEFAULT_RETRY_ON", "RetryPolicy", "retry_after_of"]

DEFAULT_RETRY_ON: frozenset[ErrorKind] = frozenset(
    {ErrorKind.RATE_LIMIT, ErrorKind.SERVER_ERROR, ErrorKind.CONNECTION}
)
"""Failures worth repeating on the same model. Not timeouts: a request that timed out after it
was sent may have been billed, and repeating it may bill it again."""

_NEVER_RETRIED = frozenset({ErrorKind.CONTEXT_WINDOW, ErrorKind.OTHER})
"""A prompt too long for a model stays too long; a bug stays a bug."""


@dataclass(frozen=True)
class RetryPolicy:
    """How the router repeats a failed attempt on the same model before falling back.

    The wait before retry `n` (1-based) is the provider's `Retry-After` when it sent one (capped
    at `retry_after_cap_s`), else a "full jitter" exponential backoff: a uniform random time in
    `[0, min(max_backoff_s, base_backoff_s * 2 ** (n - 1))]`. A wait never crosses the call's
    deadline: when it would, the router falls back instead of retrying.

    Attributes:
        max_attempts: Attempts per model, the first included (1 = no retry).
        retry_on: The error kinds retried on the same model.
        base_backoff_s: The first backoff's upper bound, in seconds.
        max_backoff_s: Upper bound of any backoff.
        retry_after_cap_s: Longest `Retry-After` honoured; a longer one is waited for only this
            long (and the retry then likely fails over to the next model).
        random: Source of jitter in [0, 1) (inject a constant for tests).
    """

    max_attempts: int = 1
    retry_on: frozenset[ErrorKind] = DEFAULT_RETRY_ON
    base_backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    retry_after_cap_s: float = 30.0
    random: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Check the settings: an invalid one raises `RouteConfigError` naming it."""
        attempts = self.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise RouteConfigError(
                f"RetryPolicy.max_attempts must be an int >= 1 (1 = no retry), got {attempts!r}."
            )
        for name in ("base_backoff_s", "max_backoff_s", "retry_after_cap_s"):
            check_seconds(f"RetryPolicy.{name}", getattr(self, name), allow_zero=True)
        kinds = frozenset(_kind(k) for k in self.retry_on)
        object.__setattr__(self, "retry_on", kinds)

    @classmethod
    def build(cls, value: RetryPolicy | int | Any | None) -> RetryPolicy | None:
        """A policy from the adapters' `retry=` setting.

        Accepts a policy, a dict of its fields, or an int (`max_attempts`); None means none.
        """
        if value is None or isinstance(value, RetryPolicy):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(max_attempts=value)
        if isinstance(value, dict):
            unknown = set(value) - {f for f in cls.__dataclass_fields__ if f != "random"}
            if unknown:
                raise RouteConfigError(
                    f"retry has unknown key(s) {sorted(unknown)}; use max_attempts, retry_on, "
                    "base_backoff_s, max_backoff_s, retry_after_cap_s."
                )
            return cls(**value)
        raise RouteConfigError(
            "retry must be a RetryPolicy, a dict of its fields or an int (max_attempts), got "
            f"{type(value).__name__}."
        )

    def retries(self, kind: ErrorKind) -> bool:
        """Whether a failure of this kind is repeated on the same model."""
        return kind in self.retry_on and kind not in _NEVER_RETRIED

    def delay(self, retry: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `retry` (1-based); never negative, never unbounded."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap_s)
        ceiling = min(self.max_backoff_s, self.base_backoff_s * 2.0 ** min(retry - 1, 60))
        jitter = min(max(self.random(), 0.0), 1.0)
        return ceiling * jitter


def check_seconds(name: str, value: object, *, allow_zero: bool = False) -> None:
    """Raise `RouteConfigError` unless `value` is a finite number of seconds (> 0, or >= 0)."""
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise RouteConfigError(f"{name} must be a finite number of seconds {bound}, got {value!r}.")


def _kind(value: ErrorKind | str) -> ErrorKind:
    try:
        return ErrorKind(value)
    except ValueError:
        allowed = ", ".join(repr(k.value) for k in ErrorKind)
        raise RouteConfigError(
            f"RetryPolicy.retry_on: unknown kind {value!r}; use {allowed}."
        ) from None


def retry_after_of(exc: BaseException, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds the provider asked to wait before retrying, or None when it did not say.

    Read from the error (or the error it wraps): a `retry_after` attribute, else the response's
    `retry-after-ms` header (milliseconds), else `retry-after` (seconds, or an HTTP date).
    Negative, empty, non-finite and unparsable values are ignored (None); a date in the past is
    0. The value is not capped here (`RetryPolicy.delay` caps what is waited).
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        value = _from_error(current, now)
        if value is not None:
            return value
        current = current.__cause__
    return None


def _from_error(exc: BaseException, now: Callable[[], float]) -> float | None:
    attr = getattr(exc, "retry_after", None)
    if attr is not None:
        value = _seconds(attr, now)
        if value is not None:
            return value
    headers = getattr(getattr(exc, "response", None), "headers", None)
    get = getattr(headers, "get", None)
    if get is None:
        return None
    try:
        millis = get("retry-after-ms")
        header = get("retry-after")
    except Exception:  # a headers object we do not understand: no hint
        return None
    if millis is not None:
        value = _number(millis)
        if value is not None:
            return value / 1000.0
    return None if header is None else _seconds(header, now)


def _number(raw: object) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, (str, bytes)):
        text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
        try:
            value = float(text.strip())
        except ValueError:
            return None
    else:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _seconds(raw: object, now: Callable[[], float]) -> float | None:
    if not isinstance(raw, str):
        return _number(raw)
    text = raw.strip()
    try:
        float(text)
    except ValueError:
        pass
    else:  # a number, valid or not ("-5", "nan"): never read as a date
        return _number(text)
    if not text:
        return None
    try:
        parsed = email.utils.parsedate_tz(text)
        if parsed is None:
            return None
        when = email.utils.mktime_tz(parsed)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    return max(0.0, float(when - now()))
