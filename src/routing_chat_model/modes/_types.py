"""The data a mode works with: answers, check verdicts, steps, and what a mode returns.

A mode never looks inside a framework's result: the adapter hands it a `Binding` whose
`describe` reduces a result to an `Answer` (text, usage, confidence), and the mode hands the
chosen result back untouched in an `Outcome`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

from routing_chat_model._capabilities import Usage
from routing_chat_model.decision import RoutingDecision
from routing_chat_model.errors import RoutingError

__all__ = [
    "Answer",
    "Binding",
    "NoAcceptedAnswerError",
    "Outcome",
    "Score",
    "Step",
    "Verdict",
]

R = TypeVar("R")


@dataclass(frozen=True)
class Answer:
    """A model's answer, as a mode and its checks see it.

    Attributes:
        text: The answer's text.
        usage: Token usage the model reported, if any.
        model_name: The provider's model name, for pricing.
        provider: The provider, for pricing.
        confidence: The model's own confidence in [0, 1], where it gives one.
        logprob: Mean log-probability of the answer's tokens, where the model returns them.
        finish_reason: Why generation stopped ("stop", "length"...), where reported.
    """

    text: str
    usage: Usage | None = None
    model_name: str | None = None
    provider: str | None = None
    confidence: float | None = None
    logprob: float | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class Score:
    """What a judge callable may return instead of a bare bool/float: the score and its cost.

    Attributes:
        value: The score (a bool counts as 1.0 / 0.0).
        usage: The judge model's token usage, so its cost is counted.
        model_name: The judge's provider model name, for pricing.
        provider: The judge's provider, for pricing.
    """

    value: float
    usage: Usage | None = None
    model_name: str | None = None
    provider: str | None = None


@dataclass(frozen=True)
class Verdict:
    """One check's verdict on an answer.

    Attributes:
        ok: Whether the answer passed.
        reason: Why not, in a few words (never the answer's text).
        score: The judge's score, for checks that score.
        usage: Tokens the check itself used (a judge model), so its cost is counted.
        model_name: The check model's provider name, for pricing.
        provider: The check model's provider, for pricing.
    """

    ok: bool
    reason: str = ""
    score: float | None = None
    usage: Usage | None = None
    model_name: str | None = None
    provider: str | None = None


@dataclass(frozen=True)
class Step:
    """One model call a mode made: an answer, a judge's verdict, or a synthesis.

    Attributes:
        route: The model asked (for a judge step: the route whose answer it judged; for a
            synthesis: the synthesiser's route, or "synthesizer").
        role: "answer", "judge" or "synthesize".
        accepted: Whether the answer passed every check; None when it was not checked (it
            failed, was cancelled, or the step is a judge's or a synthesis).
        reason: Why it was rejected, failed or cancelled ("" when accepted).
        input_tokens: Prompt tokens of this call, where reported.
        output_tokens: Completion tokens of this call, where reported.
        cost_usd: Cost of this call, where usage and a price are known.
        latency_ms: Wall time of this call (attempts and checks included).
        error: The error type when the call failed, else None.
        score: The judge's score of this answer, when one judged it.
    """

    route: str
    role: str = "answer"
    accepted: bool | None = None
    reason: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    error: str | None = None
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable form."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Binding(Generic[R]):
    """How a mode reaches the models of one call; built by the adapter per call.

    Attributes:
        question: The text the call is about (what a judge or synthesiser is shown).
        describe: Reduces a framework result to an `Answer`.
        call: Calls one route (sync paths); each call goes through the router's attempt loop.
        acall: Async `call`.
        synthesize: Merges answers into one framework result (`Parallel(aggregate=
            "synthesize")` only).
        asynthesize: Async `synthesize`.
    """

    question: str
    describe: Callable[[R], Answer]
    call: Callable[[str], R] | None = None
    acall: Callable[[str], Awaitable[R]] | None = None
    synthesize: Callable[[str, Sequence[Answer]], R] | None = None
    asynthesize: Callable[[str, Sequence[Answer]], Awaitable[R]] | None = None


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """What a mode returns: the chosen result, untouched, and the completed decision.

    Attributes:
        result: The framework result to hand back (an accepted answer or a synthesis).
        decision: The decision: `route` is the model whose answer is returned, `attempts`
            every attempt of every step, `input_tokens`/`output_tokens`/`cost_usd` the totals
            over every step (rejected answers and judges included).
        mode: "cascade" or "parallel".
        steps: Every model call, in the order they were made (or, in parallel, routes' order).
        accepted: Whether the returned answer passed the checks (False: best effort).
    """

    result: R
    decision: RoutingDecision
    mode: str
    steps: tuple[Step, ...]
    accepted: bool

    def routing(self, decision: RoutingDecision | None = None) -> dict[str, Any]:
        """The decision dict responses carry, with `mode`, `steps` and `accepted` added.

        `decision` replaces `self.decision` (e.g. once the adapter completed it).
        """
        out = (decision or self.decision).to_dict()
        out["mode"] = self.mode
        out["accepted"] = self.accepted
        out["steps"] = [s.to_dict() for s in self.steps]
        return out


class NoAcceptedAnswerError(RoutingError):
    """No answer passed a mode's checks and the mode was told to raise (`if_none_pass="raise"`).

    `steps` holds every step (each rejected answer with its reason and cost); `decision` the
    call's decision with the totals of what the rejected answers cost (gates observed it, so a
    budget records that spend).
    """

    def __init__(
        self, mode: str, steps: Sequence[Step], decision: RoutingDecision | None = None
    ) -> None:
        reasons = "; ".join(f"{s.route}: {s.reason}" for s in steps if s.role == "answer")
        super().__init__(
            f"{mode}: no answer passed the checks ({reasons}). Loosen the checks, add a "
            "stronger model, or use if_none_pass='best_effort' to get the last answer anyway."
        )
        self.mode = mode
        self.steps = tuple(steps)
        self.decision = decision
