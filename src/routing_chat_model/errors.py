"""The errors routing raises, as one tree.

```
* RoutingError
  x RouteConfigError        bad settings, raised when the router or selector is built
  x RoutingInputError       a call the router cannot serve as given
    + NoCandidateError      no model can serve what the request needs (tools, images...)
  x EncoderError            an encoder returned NaN, infinities or the wrong shape
  x AllModelsFailedError    every model tried failed (an ExceptionGroup of each attempt's error)
  x StreamInterruptedError  a stream failed after content reached the caller
```

`RouteConfigError` and `RoutingInputError` are also `ValueError`s, so code that already catches
`ValueError` around a chat model keeps working.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if sys.version_info >= (3, 11):  # pragma: no cover - depends on the interpreter
    from builtins import ExceptionGroup
else:  # pragma: no cover
    from exceptiongroup import ExceptionGroup

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "AllModelsFailedError",
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
