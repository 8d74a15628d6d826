"""Gates: per-request limits on which models may answer (compliance, budgets, latency targets).

A gate runs before the selector and narrows the candidates; every later step (selection,
overrides, tool rounds, fallbacks, retries) only ever sees the narrowed set, so a gate holds on
every path. After a call completes, the router shows each gate the final decision (`observe`),
which is how a budget records spend or a latency target learns each model's speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from routing_chat_model.decision import RoutingDecision
from routing_chat_model.request import RoutingRequest

__all__ = ["Gate", "Restriction"]


@dataclass(frozen=True)
class Restriction:
    """What a gate allows for one request.

    Attributes:
        allowed: The candidates that may answer, in candidate order; never empty (a gate that
            allows nothing raises its own error instead, saying why and what to change).
        reason: Why, in a few words, recorded in the decision (never the matched text).
        bypass_selector: Do not show the request to the selector at all (e.g. a sensitive
            request must not reach a remote encoder); the default, or the first allowed
            model, answers.
    """

    allowed: tuple[str, ...]
    reason: str
    bypass_selector: bool = False


@runtime_checkable
class Gate(Protocol):
    """Narrows the models that may answer a request."""

    @property
    def name(self) -> str:
        """Short name shown in decisions ("compliance", "budget", ...)."""
        ...

    def restrict(self, request: RoutingRequest, candidates: Sequence[str]) -> Restriction | None:
        """The models allowed for `request` among `candidates`, or None when it does not apply.

        Raises:
            RoutingError: a subclass saying why no candidate is allowed and how to fix it;
                the call then fails closed, no model is called.
        """
        ...

    def observe(self, decision: RoutingDecision) -> None:
        """See the final decision of a completed call (route, usage, cost, attempts)."""
        ...
