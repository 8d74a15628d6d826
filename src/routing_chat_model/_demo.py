"""The `routing-chat-model demo` command: a dozen prompts routed through a LangChain chain.

It builds a `RoutingChatModel` over three models of increasing strength (and price), routes each
prompt with an `EmbeddingSelector` on the bundled offline encoder, runs the prompts through
`ChatPromptTemplate | router | StrOutputParser()`, and reports per prompt the route, the
selector's scores, the decision time and the cost, then the total against sending every prompt
to the strongest model.

The models are real OpenAI models when `langchain-openai` is installed and `OPENAI_API_KEY` is
set (unless `offline=True`); otherwise they are local `ScriptedChatModel` stand-ins priced like
the real ones, whose answers are placeholders of a realistic length so the costs mean something.
The decisions are read the way an application would: from the `routing_decision` custom event,
through a callback handler, since the chain's output parser drops the message metadata.

This module needs langchain-core (the `[langchain]` extra); the CLI imports it only when the
demo runs, so `routing-chat-model --help` works without it.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig

from routing_chat_model.langchain import ROUTING_EVENT, RoutingChatModel
from routing_chat_model.policy import RetryPolicy
from routing_chat_model.pricing import ModelPrice
from routing_chat_model.selectors import EmbeddingSelector

__all__ = [
    "PROMPTS",
    "ROUTE_EXAMPLES",
    "DemoPrompt",
    "DemoResult",
    "DemoRow",
    "Tier",
    "build_router",
    "choose_models",
    "run_demo",
]

SYSTEM_PROMPT = "You are a concise, helpful assistant. Answer the user's request."
"""The chain's system message (part of every prompt's input tokens)."""


def _lines(block: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in block.strip().splitlines())


@dataclass(frozen=True)
class Tier:
    """One of the demo's three models: its route name and the real model it is or mimics."""

    route: str
    """Route name in the router ("small", "mid", "strong")."""
    openai_model: str
    """The OpenAI model used when real models are available."""
    price: ModelPrice
    """That model's list price (USD per million tokens); the stand-in is billed at it."""


TIERS: tuple[Tier, ...] = (
    Tier("small", "gpt-4o-mini", ModelPrice(input_per_mtok=0.15, output_per_mtok=0.60)),
    Tier("mid", "gpt-4.1-mini", ModelPrice(input_per_mtok=0.40, output_per_mtok=1.60)),
    Tier("strong", "gpt-4o", ModelPrice(input_per_mtok=2.50, output_per_mtok=10.00)),
)
"""Cheap, mid and strong, in fallback order; the last is the 'send everything there' baseline."""

ROUTE_EXAMPLES: dict[str, tuple[str, ...]] = {
    "small": _lines(
        """
        hi there, how are you?
        hello!
        thanks a lot, that helped
        good morning
        what's up?
        tell me a joke
        what is the capital of France?
        how many days are in a leap year?
        who wrote Romeo and Juliet?
        what time zone is Tokyo in?
        translate 'thank you' into Spanish
        what's a good name for a cat?
        recommend a movie for tonight
        how do you spell necessary?
        what is the boiling point of water?
        is a tomato a fruit?
        say something nice
        what year did World War II end?
        convert 10 miles to kilometres
        give me a fun fact about space
        """
    ),
    "mid": _lines(
        """
        write a Python function that reverses a linked list
        fix this bug in my JavaScript code
        write a SQL query that returns the top 5 customers by revenue
        refactor this class to use dependency injection
        explain what this regular expression does
        write unit tests for this function
        summarize this article in three bullet points
        give me a short summary of the meeting notes below
        draft a polite email declining the invitation
        rewrite this paragraph to be more concise
        convert this JSON to a TypeScript interface
        write a bash script that renames all .txt files
        explain the difference between a list and a tuple in Python
        summarize the key points of this report
        implement binary search in Go
        why does my React component re-render twice?
        write a cover letter for a software engineer job
        outline a blog post about remote work
        """
    ),
    "strong": _lines(
        """
        prove that there are infinitely many prime numbers
        prove that the square root of 2 is irrational
        show by induction that the sum of the first n odd numbers is n squared
        derive the closed form of the Fibonacci sequence
        prove the Cauchy-Schwarz inequality
        design a distributed rate limiter that survives a network partition and explain the trade-offs
        analyze the time complexity of this recursive algorithm and prove it is optimal
        solve this differential equation step by step
        find all integer solutions of x^2 - 2y^2 = 1
        a bat and a ball cost 1.10 in total; reason carefully about the price of each
        what are the strategic risks of this merger? weigh the legal, financial and market arguments
        compare three consensus algorithms and argue which fits a geo-replicated database
        is P equal to NP? explain the main barriers to a proof
        prove that every planar graph is 5-colourable
        plan a multi-step migration of a monolith to microservices with rollback at each step
        evaluate the statistical validity of this study's conclusions
        """
    ),
}
"""Example utterances per route: chit-chat and simple facts go to the small model, code and
summaries to the mid one, proofs and hard multi-step reasoning to the strong one."""


@dataclass(frozen=True)
class DemoPrompt:
    """One prompt of the demo."""

    text: str
    """What the user asks."""
    kind: str
    """What sort of request it is (shown in the JSON output)."""
    expected: str
    """The route a sensible router should pick (checked by the tests, not used to route)."""
    answer_words: int
    """How long a real answer typically is; the stand-ins answer with this many words."""


def _prompts(block: str) -> tuple[DemoPrompt, ...]:
    rows = (line.split(maxsplit=3) for line in _lines(block))
    return tuple(DemoPrompt(text, kind, route, int(words)) for route, kind, words, text in rows)


PROMPTS: tuple[DemoPrompt, ...] = _prompts(
    """
    small   chit-chat 30  Hi! How's your day going?
    small   fact      20  What is the capital of Australia?
    small   fact      12  Translate 'good night' into French.
    small   chit-chat 45  Tell me a fun fact about octopuses.
    mid     code      160 Write a Python function that checks whether a string is a palindrome.
    mid     code      140 Why does this JavaScript print undefined: arr.map(v => { v * 2 })
    mid     code      110 Write a SQL query that finds duplicate email addresses in a users table.
    mid     summary   55  Summarize in two sentences: remote work grew fast after 2020; firms report higher productivity but harder onboarding.
    strong  proof     320 Prove that there is no largest prime number.
    strong  proof     280 Show that f(x) = x^3 is strictly increasing on the real numbers.
    strong  reasoning 650 Design a fault-tolerant job scheduler for 10,000 machines; justify each trade-off.
    strong  reasoning 480 Compare optimistic and pessimistic locking for a bank ledger; argue which is safer.
    """
)
"""A dozen realistic prompts (route kind words text): chit-chat and facts, code, a summary,
proofs and hard reasoning, with the length of a typical answer in words."""


@dataclass(frozen=True)
class DemoRow:
    """What happened to one prompt (None where the call failed before it was known)."""

    prompt: str
    kind: str
    route: str | None = None
    model: str | None = None
    selector: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    abstained: bool = False
    decision_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    strongest_cost_usd: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class DemoResult:
    """The whole run: the models used, one row per prompt, and the cost comparison."""

    stand_ins: bool
    """The models were local stand-ins, not real ones."""
    models: dict[str, str]
    """Route -> the model behind it (a stand-in label or an OpenAI model name), weakest first."""
    priced_as: dict[str, str]
    """Route -> the real model whose price applies (the stand-in's original)."""
    prices: dict[str, ModelPrice | None]
    """Route -> the price its answers were billed at."""
    rows: list[DemoRow]
    warmup_ms: float
    """Time to load the encoder and embed the route examples (once per process)."""
    note: str = ""
    """Why these models: e.g. "--offline", "OPENAI_API_KEY is not set"."""
    examples: int = 0
    """How many example utterances the selector's routes have."""

    @property
    def strongest(self) -> str:
        """The route every prompt is compared against (the last, most expensive one)."""
        return list(self.models)[-1]

    @property
    def total_cost_usd(self) -> float:
        """What the routed answers cost."""
        return sum(row.cost_usd or 0.0 for row in self.rows)

    @property
    def strongest_cost_usd(self) -> float:
        """What the same token counts would have cost on the strongest model."""
        return sum(row.strongest_cost_usd or 0.0 for row in self.rows)

    @property
    def saving_pct(self) -> float | None:
        """Percentage saved by routing, or None when nothing was priced."""
        baseline = self.strongest_cost_usd
        if baseline <= 0:
            return None
        return 100.0 * (baseline - self.total_cost_usd) / baseline

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable form (what `--json` prints)."""
        saving = self.saving_pct
        return {
            "stand_ins": self.stand_ins,
            "note": self.note,
            "models": {
                route: {
                    "model": model,
                    "priced_as": self.priced_as[route],
                    "price": _price_dict(self.prices[route]),
                }
                for route, model in self.models.items()
            },
            "strongest": self.strongest,
            "rows": [asdict(row) for row in self.rows],
            "total_cost_usd": round(self.total_cost_usd, 8),
            "strongest_cost_usd": round(self.strongest_cost_usd, 8),
            "saving_pct": None if saving is None else round(saving, 2),
            "warmup_ms": round(self.warmup_ms, 2),
        }


def _price_dict(price: ModelPrice | None) -> dict[str, float | None] | None:
    return None if price is None else price.to_dict()


# -- models ----------------------------------------------------------------------------------


def choose_models(*, offline: bool, env: Mapping[str, str] | None = None) -> tuple[bool, str]:
    """Whether to use real OpenAI models, and why (or why not), in a few words.

    Real models need langchain-openai installed and `OPENAI_API_KEY` set in `env`
    (default `os.environ`); `offline=True` always picks the stand-ins.
    """
    env = os.environ if env is None else env
    if offline:
        return False, "--offline"
    if importlib.util.find_spec("langchain_openai") is None:
        return False, "langchain-openai is not installed"
    if not env.get("OPENAI_API_KEY", "").strip():
        return False, "OPENAI_API_KEY is not set"
    return True, "OPENAI_API_KEY is set; --offline uses local stand-ins"


def _placeholder_answer(label: str, words: int) -> str:
    """A stand-in's answer: says what it is, padded to the length a real answer would have."""
    head = (
        f"({label}: a placeholder answer of realistic length; run the demo with real models "
        "to read actual answers.)"
    ).split()
    filler = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"]
    body = [filler[i % len(filler)] for i in range(max(words - len(head), 0))]
    return " ".join([*head, *body])


def _stand_ins() -> dict[str, BaseChatModel]:
    from routing_chat_model.testing import ScriptedChatModel

    lengths = {p.text: p.answer_words for p in PROMPTS}

    def responder(label: str) -> Any:
        def respond(messages: list[BaseMessage]) -> str:
            human = next((m.text for m in reversed(messages) if m.type == "human"), "")
            return _placeholder_answer(label, lengths.get(human, 120))

        return respond

    models: dict[str, BaseChatModel] = {}
    for tier in TIERS:
        label = f"stand-in: {tier.route}"
        models[tier.route] = ScriptedChatModel(
            model=label, provider="stand-in", respond=responder(label)
        )
    return models


def _openai_models() -> dict[str, BaseChatModel]:
    from langchain_openai import ChatOpenAI

    return {
        tier.route: ChatOpenAI(
            model=tier.openai_model,
            temperature=0,
            max_completion_tokens=700,
            timeout=60,
            max_retries=0,  # the router is the only retry loop (retry= below)
        )
        for tier in TIERS
    }


def build_router(*, real: bool) -> tuple[RoutingChatModel, EmbeddingSelector, dict[str, str]]:
    """The demo's router, its selector, and route -> model label.

    Args:
        real: Use OpenAI models (langchain-openai and a key are needed) instead of stand-ins.
    """
    models = _openai_models() if real else _stand_ins()
    labels = {
        tier.route: tier.openai_model if real else f"stand-in: {tier.route}" for tier in TIERS
    }
    selector = EmbeddingSelector(ROUTE_EXAMPLES)  # encoder=None: the bundled offline encoder
    router = RoutingChatModel(
        models=models,
        selector=selector,
        default=TIERS[0].route,
        # Stand-ins are billed at the real models' list prices; real models use genai-prices.
        prices=None if real else {tier.route: tier.price for tier in TIERS},
        # One more try on the same model for a 429/5xx/connection error, then fall back.
        retry=RetryPolicy(max_attempts=2) if real else None,
    )
    return router, selector, labels


# -- running ---------------------------------------------------------------------------------


class _DecisionRecorder(BaseCallbackHandler):
    """Collects each `routing_decision` event, keyed by the row index in the run's metadata."""

    def __init__(self) -> None:
        self.decisions: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def on_custom_event(
        self,
        name: str,
        data: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        row = (metadata or {}).get("demo_row")
        if name == ROUTING_EVENT and isinstance(row, int) and isinstance(data, dict):
            with self._lock:
                self.decisions[row] = data


def run_demo(
    *,
    offline: bool = False,
    env: Mapping[str, str] | None = None,
    prompts: Sequence[DemoPrompt] = PROMPTS,
) -> DemoResult:
    """Route `prompts` through `ChatPromptTemplate | router | StrOutputParser()`.

    Args:
        offline: Use the stand-ins even when real models are available.
        env: Environment to read `OPENAI_API_KEY` from (default `os.environ`).
        prompts: The prompts to route.

    Raises:
        Exception: the first error when every prompt failed (e.g. a rejected API key).
    """
    real, note = choose_models(offline=offline, env=env)
    router, selector, labels = build_router(real=real)
    start = time.perf_counter()
    selector.warm()
    warmup_ms = (time.perf_counter() - start) * 1000

    prompt = ChatPromptTemplate.from_messages([("system", SYSTEM_PROMPT), ("human", "{question}")])
    chain = prompt | router | StrOutputParser()

    recorder = _DecisionRecorder()
    configs: list[RunnableConfig] = [
        {
            "callbacks": [recorder],
            "metadata": {"demo_row": i},
            # Stand-ins: one at a time, so decision times are not inflated by thread contention.
            "max_concurrency": 4 if real else 1,
        }
        for i in range(len(prompts))
    ]
    # With return_exceptions=True a failed prompt's output is its exception.
    outputs: Sequence[object] = chain.batch(
        [{"question": p.text} for p in prompts], configs, return_exceptions=True
    )
    errors = [out for out in outputs if isinstance(out, Exception)]
    if prompts and len(errors) == len(prompts):
        raise errors[0]

    pricing = router.router.pricing
    strongest = TIERS[-1]
    strongest_price = pricing.price_of(
        route=strongest.route,
        model=strongest.openai_model,
        provider="openai" if real else None,
    )
    prices = {
        tier.route: pricing.price_of(
            route=tier.route, model=tier.openai_model, provider="openai" if real else None
        )
        for tier in TIERS
    }
    rows = [
        _row(p, recorder.decisions.get(i), outputs[i], labels, strongest_price)
        for i, p in enumerate(prompts)
    ]
    return DemoResult(
        stand_ins=not real,
        models=labels,
        prices=prices,
        rows=rows,
        warmup_ms=warmup_ms,
        note=note,
        priced_as={tier.route: tier.openai_model for tier in TIERS},
        examples=sum(len(examples) for examples in ROUTE_EXAMPLES.values()),
    )


def _row(
    prompt: DemoPrompt,
    decision: Mapping[str, Any] | None,
    output: object,
    labels: Mapping[str, str],
    strongest_price: ModelPrice | None,
) -> DemoRow:
    error = f"{type(output).__name__}" if isinstance(output, Exception) else None
    if decision is None:
        return DemoRow(prompt.text, prompt.kind, error=error or "no routing decision was reported")
    route = decision.get("route")
    input_tokens = decision.get("input_tokens")
    output_tokens = decision.get("output_tokens")
    strongest_cost = None
    if strongest_price is not None and input_tokens is not None and output_tokens is not None:
        strongest_cost = strongest_price.cost_usd(
            input_tokens=input_tokens, output_tokens=output_tokens
        )
    return DemoRow(
        prompt=prompt.text,
        kind=prompt.kind,
        route=route,
        model=labels.get(route) if isinstance(route, str) else None,
        selector=decision.get("selector"),
        scores=dict(decision.get("scores") or {}),
        abstained=bool(decision.get("abstained")),
        decision_ms=decision.get("latency_ms"),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=decision.get("cost_usd"),
        strongest_cost_usd=strongest_cost,
        error=error,
    )
