"""The errors routing raises, as one tree.

```
* RoutingError
  x RouteConfigError        bad settings, raised when the router or selector is built
  x RoutingInputError       a call the router cannot serve as given
    + NoCandidateError      no model can serve what the request needs (tools, images...)
  x EncoderError            an encoder returned NaN, infinities or the wrong shape
  x AllModelsFailedError    every model tried failed (an ExceptionGroup of each attempt's error)
  x StreamInterruptedError  a stream failed after content reached the caller
  x DeadlineExceededError   the call's deadline passed before a model answered (a TimeoutError)
  x AttemptTimeoutError     one attempt ran out of time (a TimeoutError; falls back like one)
```

`RouteConfigError` and `RoutingInputError` are also `ValueError`s, so code that already catches
`ValueError` around a chat model keeps working.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if sys.version_info >= (3, 11):  # pragma: no cover - depends on the interpreter
    from builtins import ExceptionGroup
else:  # pragma: no cover
    from exceptiongroup import ExceptionGroup

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "AllModelsFailedError",
    "AttemptTimeoutError",
    "DeadlineExceededError",
    "EncoderError",
    "NoCandidateError",
    "RouteConfigError",
    "RoutingError",
    "RoutingInputError",
    "StreamInterruptedError",
]


class RoutingError(Exception):
    """Base class of every error this package raises on its own account."""


class RouteConfigError(RoutingError, ValueError):
    """A setting is invalid; raised when the object is built, naming the field and the fix."""


class RoutingInputError(RoutingError, ValueError):
    """A call's input cannot be routed (for example an empty message list)."""


class NoCandidateError(RoutingInputError):
    """No configured model can serve what the request needs."""


class EncoderError(RoutingError):
    """An encoder returned vectors that cannot be scored (NaN, infinities, wrong dimension)."""


class AllModelsFailedError(RoutingError, ExceptionGroup[Exception]):
    """Every model in the attempt plan failed.

    It is an `ExceptionGroup`: `exceptions` holds each attempt's error in attempt order and
    `routes` the model name of each, so `except*` and plain `except` both work.
    """

    routes: tuple[str, ...]

    def __new__(
        cls, message: str, exceptions: Sequence[Exception], routes: Sequence[str] = ()
    ) -> Self:
        """Build the group; `routes[i]` is the model that raised `exceptions[i]`."""
        self = super().__new__(cls, message, exceptions)
        self.routes = tuple(routes)
        return self

    def __init__(
        self, message: str, exceptions: Sequence[Exception], routes: Sequence[str] = ()
    ) -> None:
        super().__init__(message, exceptions)


class StreamInterruptedError(RoutingError):
    """A streamed answer failed after chunks reached the caller; no other model takes over.

    Splicing a second model's text after the first one's would hand the caller an answer no
    model wrote, so the router raises instead. `route` names the model that was streaming and
    `chunks_emitted` how many chunks the caller already has.
    """

    def __init__(self, route: str, chunks_emitted: int, cause: BaseException) -> None:
        super().__init__(
            f"model {route!r} failed after {chunks_emitted} streamed chunk(s) reached the caller "
            f"({type(cause).__name__}); the router does not splice another model's output onto "
            "a partial answer. Retry the call, or use invoke() to get fallback on every failure."
        )
        self.route = route
        self.chunks_emitted = chunks_emitted


class DeadlineExceededError(RoutingError, TimeoutError):
    """The call's overall deadline (`deadline_s`) passed before any model answered.

    `attempts` holds the `Attempt`s made before it (each failed or timed out), `errors` their
    exceptions in the same order. No attempt starts after the deadline.
    """

    def __init__(
        self, deadline_s: float, attempts: Sequence[Any], errors: Sequence[BaseException] = ()
    ) -> None:
        tried = ", ".join(f"{a.route}: {a.error} ({a.error_kind})" for a in attempts)
        super().__init__(
            f"the call's deadline of {deadline_s:g} s passed before a model answered "
            f"({len(attempts)} attempt(s){': ' + tried if tried else ''}). Raise deadline_s, "
            "lower attempt_timeout_s, or put a faster model first."
        )
        self.deadline_s = deadline_s
        self.attempts = tuple(attempts)
        self.errors = tuple(errors)


class AttemptTimeoutError(RoutingError, TimeoutError):
    """One attempt ran out of time; the router cancelled it (async calls only).

    `phase` says which limit: "attempt" (`attempt_timeout_s`), "deadline" (the call's
    remaining `deadline_s`), "first_token" (`first_token_timeout_s`) or "idle"
    (`idle_timeout_s`, a stall between streamed chunks). The provider may have billed the
    request, so it is not retried on the same model by default.
    """

    def __init__(self, route: str, phase: str, timeout_s: float) -> None:
        super().__init__(
            f"model {route!r} exceeded the {phase} time limit of {timeout_s:g} s; the attempt "
            "was cancelled."
        )
        self.route = route
        self.phase = phase
        self.timeout_s = timeout_s
