"""Checks a mode runs on each answer: a validator, a JSON schema, confidence, or a judge.

A check is an object with `name`, `check(question, answer) -> Verdict` and an async `acheck`.
`as_check` also accepts a plain callable (a validator) and a dict (a JSON schema). Every check
is framework-free; a judge backed by a chat model is built by the adapter from the model the
user gives (`Judge(ChatOpenAI(...))`), so the same `Judge` works in both frameworks.

Reasons never quote the answer or the question: they name the check and what failed.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from routing_chat_model.errors import RouteConfigError
from routing_chat_model.modes._jsonschema import check_schema, first_error
from routing_chat_model.modes._types import Answer, Score, Verdict

__all__ = [
    "Check",
    "Confidence",
    "JsonSchema",
    "Judge",
    "JudgeFn",
    "Validator",
    "as_check",
    "as_checks",
    "plain_callable",
]

JudgeFn = Callable[[str, str], "bool | float | Score"]
"""A judge: (question, answer text) -> bool, a score, or a `Score` carrying its usage."""

AJudgeFn = Callable[[str, str], Awaitable["bool | float | Score"]]
"""Async `JudgeFn`."""


@runtime_checkable
class Check(Protocol):
    """What a mode asks of a check."""

    name: str

    def check(self, question: str, answer: Answer) -> Verdict:
        """Judge `answer` to `question`."""
        ...

    async def acheck(self, question: str, answer: Answer) -> Verdict:
        """Async `check` (a CPU-only check just calls `check`)."""
        ...


class Validator:
    """Accept an answer when `fn(text)` returns True (or anything but False) without raising.

    Args:
        fn: The validator, e.g. a function that runs the generated code's tests. It may return
            a bool, or return None and raise to reject (`AssertionError`, `ValueError`...).
        name: Name shown in the reasons (default: the function's name).
    """

    def __init__(self, fn: Callable[[str], object], *, name: str | None = None) -> None:
        if not callable(fn):
            raise RouteConfigError(f"Validator needs a callable (text) -> bool, got {fn!r:.80}.")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", None) or "validator"

    def check(self, question: str, answer: Answer) -> Verdict:
        """Run the validator on the answer's text."""
        try:
            ok = self.fn(answer.text)
        except Exception as exc:  # a raising validator rejects; the type says how
            return Verdict(False, f"{self.name} raised {type(exc).__name__}")
        if ok is False:
            return Verdict(False, f"{self.name} returned False")
        return Verdict(True)

    async def acheck(self, question: str, answer: Answer) -> Verdict:
        """Same as `check` (validators are expected to be quick)."""
        return self.check(question, answer)

    def __repr__(self) -> str:
        return f"Validator({self.name})"


_FENCE = re.compile(r"\A\s*```[a-zA-Z0-9_-]*\s*\n(?P<body>.*?)\n?\s*```\s*\Z", re.DOTALL)


class JsonSchema:
    """Accept an answer that is JSON (optionally in a ``` fence) matching `schema`.

    The schema is checked when the check is built; see `_jsonschema` for what is supported.
    """

    def __init__(self, schema: Mapping[str, Any], *, name: str = "json_schema") -> None:
        check_schema(schema, "JsonSchema(schema)")
        self.schema = dict(schema)
        self.name = name

    def check(self, question: str, answer: Answer) -> Verdict:
        """Parse the answer and validate it."""
        text = answer.text
        fenced = _FENCE.match(text)
        if fenced is not None:
            text = fenced.group("body")
        try:
            value = json.loads(text)
        except ValueError:
            return Verdict(False, f"{self.name}: not valid JSON")
        error = first_error(value, self.schema)
        if error is not None:
            return Verdict(False, f"{self.name}: {error}")
        return Verdict(True)

    async def acheck(self, question: str, answer: Answer) -> Verdict:
        """Same as `check`."""
        return self.check(question, answer)

    def __repr__(self) -> str:
        return f"JsonSchema({sorted(self.schema)})"


class Confidence:
    """Accept an answer whose own confidence is at least `min_confidence`.

    The confidence is the one the child reports, else exp(mean token log-probability) when
    the child returns log-probabilities (e.g. `ChatOpenAI(logprobs=True)`,
    `OpenAI(logprobs=True)` in LlamaIndex). Without either, `missing` decides: "reject"
    (default: escalate, the safe side) or "accept".
    """

    def __init__(
        self, min_confidence: float, *, missing: str = "reject", name: str = "confidence"
    ) -> None:
        if (
            isinstance(min_confidence, bool)
            or not isinstance(min_confidence, (int, float))
            or not 0.0 <= min_confidence <= 1.0
        ):
            raise RouteConfigError(
                f"Confidence(min_confidence={min_confidence!r}): give a probability in [0, 1], "
                "e.g. 0.8."
            )
        if missing not in ("reject", "accept"):
            raise RouteConfigError(
                f"Confidence(missing={missing!r}): use 'reject' or 'accept' (what to do when "
                "the model reports no confidence or log-probabilities)."
            )
        self.min_confidence = float(min_confidence)
        self.missing = missing
        self.name = name

    def check(self, question: str, answer: Answer) -> Verdict:
        """Compare the answer's confidence with the threshold."""
        value = answer.confidence
        if value is None and answer.logprob is not None:
            value = math.exp(min(answer.logprob, 0.0))
        if value is None:
            if self.missing == "accept":
                return Verdict(True)
            return Verdict(False, f"{self.name}: the model reported no confidence")
        if value < self.min_confidence:
            return Verdict(
                False, f"{self.name}: {value:.3f} < {self.min_confidence:g}", score=value
            )
        return Verdict(True, score=value)

    async def acheck(self, question: str, answer: Answer) -> Verdict:
        """Same as `check`."""
        return self.check(question, answer)

    def __repr__(self) -> str:
        return f"Confidence({self.min_confidence:g})"


class Judge:
    """Accept an answer a judge approves: a callable, or a chat model of your framework.

    Args:
        judge: `(question, answer_text) -> bool | float | Score`, or a LangChain chat model /
            LlamaIndex LLM, which the adapter turns into such a callable (it asks the model to
            rate the answer from 0 to 10 and reads the number; its usage is counted).
        threshold: Lowest passing score; a bool verdict passes when True. Model judges'
            ratings are scaled to [0, 1].
        ajudge: Async form of a callable `judge` (default: the sync one, in a thread).
        name: Name shown in the reasons.
    """

    def __init__(
        self,
        judge: object,
        *,
        threshold: float = 0.5,
        ajudge: AJudgeFn | None = None,
        name: str = "judge",
    ) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise RouteConfigError(f"Judge(threshold={threshold!r}) must be a number.")
        if math.isnan(threshold):
            raise RouteConfigError("Judge(threshold=nan): give a number, e.g. 0.5.")
        self.judge = judge
        self.threshold = float(threshold)
        self.ajudge = ajudge
        self.name = name
        self.external = not plain_callable(judge)
        """The judge is a framework model outside the router's models (it sees the text)."""

    @property
    def resolved(self) -> bool:
        """Whether the judge is callable here (a framework model must first be bound)."""
        return getattr(self.judge, "__routing_judge__", False) or plain_callable(self.judge)

    def bound(self, fn: JudgeFn, afn: AJudgeFn | None) -> Judge:
        """This judge with its model replaced by callables (what adapters call)."""
        bound = Judge(fn, threshold=self.threshold, ajudge=afn, name=self.name)
        bound.external = self.external
        return bound

    def score(self, question: str, answer: Answer) -> Verdict:
        """Run the judge: the verdict, with the judge's score and usage."""
        return self._verdict(self._fn()(question, answer.text))

    async def ascore(self, question: str, answer: Answer) -> Verdict:
        """Async `score`."""
        if self.ajudge is not None:
            return self._verdict(await self.ajudge(question, answer.text))
        result = await asyncio.to_thread(self._fn(), question, answer.text)
        return self._verdict(result)

    check = score
    acheck = ascore

    def _fn(self) -> JudgeFn:
        if not callable(self.judge):
            raise RouteConfigError(
                f"Judge({type(self.judge).__name__}) is not callable and was not bound by an "
                "adapter: give a function (question, answer) -> bool | float, or a chat model "
                "through a RoutingChatModel."
            )
        fn: JudgeFn = self.judge
        return fn

    def _verdict(self, result: bool | float | Score) -> Verdict:
        usage = model = provider = None
        if isinstance(result, Score):
            usage, model, provider = result.usage, result.model_name, result.provider
            result = result.value
        value = float(result)
        if math.isnan(value):
            return Verdict(False, f"{self.name}: no score", None, usage, model, provider)
        if value < self.threshold:
            reason = f"{self.name}: score {value:g} < {self.threshold:g}"
            return Verdict(False, reason, value, usage, model, provider)
        return Verdict(True, "", value, usage, model, provider)

    def __repr__(self) -> str:
        return f"Judge({type(self.judge).__name__}, threshold={self.threshold:g})"


def plain_callable(obj: object) -> bool:
    """A function or callable object that is not a framework model (those are pydantic)."""
    return callable(obj) and not hasattr(type(obj), "model_fields")


def as_check(value: object, where: str = "checks") -> Check:
    """A `Check` from a check, a callable (a `Validator`) or a dict (a `JsonSchema`)."""
    if isinstance(value, (Validator, JsonSchema, Confidence, Judge)):
        return value
    if isinstance(value, Mapping):
        return JsonSchema(value)
    if isinstance(value, Check):
        return value
    if callable(value):
        return Validator(value)
    raise RouteConfigError(
        f"{where}: {value!r:.80} is not a check; use a function (text) -> bool, a JSON schema "
        "dict, Confidence(0.8), Judge(model) or an object with name/check/acheck."
    )


def as_checks(values: object, where: str = "checks") -> tuple[Check, ...]:
    """`as_check` over a sequence (a single check is accepted too)."""
    if values is None:
        return ()
    if isinstance(values, (Mapping, str)) or callable(values) or isinstance(values, Check):
        values = [values]
    if not isinstance(values, (list, tuple)):
        raise RouteConfigError(f"{where} must be a list of checks, got {type(values).__name__}.")
    return tuple(as_check(v, f"{where}[{i}]") for i, v in enumerate(values))
