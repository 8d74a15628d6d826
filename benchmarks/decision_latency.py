"""Decision latency of `Router.decide` and the bare `selector.select`.

Two selectors, as a user would configure them:

- a `RuleSelector` of 9 rules (keywords, a regex, token bounds, metadata, a tools flag) over a
  realistic mix of prompts, plus its worst case (no rule matches, so every rule is evaluated);
- an `EmbeddingSelector` with the bundled default encoder (WordLlama), 3 routes x 10 examples,
  with unique queries (every call embeds its text) and repeated queries (LRU cache hits)
  reported separately.

`select` and `decide` (and, for the embedding selector, the bare `encode`) are timed A/B-style,
alternating call by call, so machine drift affects them alike.

Targets (issue 2): rules <= 50 us p50, embedding <= 1 ms p50 (unique queries) on a 2-core box.

Composed selectors and gates (issue 6) are timed together, interleaved, on unique queries
(every call embeds), `Router.decide` only, at most `COMPOSED_ITERATIONS` calls each, in the
JSON's "composed" list: a `ClassifierSelector` fitted on the embedding routes' examples,
`first_of(rules, embedding)`, `weighted({embedding: 0.7, classifier: 0.3})`, `sticky(embedding)`
and `escalate_only(embedding, order)` with a thread id (a new thread every
`TURNS_PER_THREAD` calls, so later turns of a thread skip or floor the embedding), and the
embedding selector behind a `Compliance` gate (default detectors; the prompts hold no personal
data, so every call is scanned and then routed) or a `Budget` gate (a cost cap per call and a
tenant budget; every call is priced and holds its estimate), next to the bare embedding
selector as the baseline.

A 2-million-character prompt (issue 5, bad input) is timed apart ("decide-2M" rows, at most
`HUGE_ITERATIONS` calls): building its `RoutingRequest`, the rule selector scanning all of it,
the same rules with `RuleSelector(max_chars=HUGE_RULES_MAX_CHARS)`, which searches only the head,
and the embedding selector, which embeds only its first `max_chars` characters (query cache off,
so every call embeds). The peak memory traced during one decision of each is reported too.

Run from the repo root: `python benchmarks/decision_latency.py [--iterations N] [--out PATH]`.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from _bench import (
    default_out,
    fmt_us,
    interleaved,
    load_average,
    machine_info,
    print_table,
    summarize,
    write_json,
)
from routing_chat_model import EmbeddingSelector, Router, RoutingRequest, Rule, RuleSelector, Turn
from routing_chat_model.policy import Budget, Compliance
from routing_chat_model.selectors.classifier import ClassifierSelector
from routing_chat_model.selectors.conversation import escalate_only, sticky
from routing_chat_model.selectors.hybrid import first_of, weighted

__all__ = [
    "EMBEDDING_ROUTES",
    "build_rule_selector",
    "composed_routers",
    "main",
    "unique_queries",
]

MODELS = ("fast", "code", "strong")
RULE_TARGET_US = 50.0
EMBEDDING_TARGET_US = 1000.0
HUGE_CHARS = 2_000_000
HUGE_ITERATIONS = 40
COMPOSED_ITERATIONS = 2000
TURNS_PER_THREAD = 4
PRICES = {
    "fast": {"input_per_mtok": 0.15, "output_per_mtok": 0.6},
    "code": {"input_per_mtok": 1.0, "output_per_mtok": 4.0},
    "strong": {"input_per_mtok": 5.0, "output_per_mtok": 15.0},
}
HUGE_RULES_MAX_CHARS = 20_000

EMBEDDING_ROUTES: dict[str, list[str]] = {
    "fast": [
        "hi there, how are you today?",
        "thanks a lot, that was helpful",
        "what's the capital of France?",
        "tell me a joke about cats",
        "good morning!",
        "what time zone is Tokyo in?",
        "can you recommend a good movie for tonight?",
        "translate 'thank you' into Spanish",
        "how many days are there in a leap year?",
        "what's a synonym for happy?",
    ],
    "code": [
        "write a python function that reverses a linked list",
        "why does my javascript promise never resolve?",
        "fix this SQL query that returns duplicate rows",
        "explain this stack trace: NullPointerException in main",
        "how do I write a regex that matches email addresses?",
        "refactor this class to use dependency injection",
        "my rust code fails to compile with a borrow checker error",
        "write unit tests for this REST endpoint",
        "how do I set up a GitHub Actions workflow for pytest?",
        "convert this bash script into a Makefile",
    ],
    "strong": [
        "prove that there are infinitely many prime numbers",
        "derive the closed form of the Fibonacci sequence",
        "summarize this 20-page research paper on protein folding",
        "compare the economic policies of Keynes and Hayek in depth",
        "design a distributed system for real-time fraud detection",
        "analyse the legal implications of this contract clause",
        "write a detailed business plan for a solar energy startup",
        "explain the proof of the central limit theorem step by step",
        "critique the methodology of this randomized controlled trial",
        "plan a migration of a monolith to microservices with trade-offs",
    ],
}

_OPENERS = (
    "",
    "please ",
    "could you ",
    "can you help me ",
    "I need you to ",
    "quick question: ",
    "hey, ",
    "for my project, ",
    "at work today I had to ",
    "my manager asked me to ",
    "I'm trying to ",
    "as an expert, ",
)
_TASKS = (
    "explain",
    "summarize",
    "write a short note about",
    "prove a claim about",
    "debug code related to",
    "write a python script for",
    "give me three ideas on",
    "compare two approaches to",
    "translate a sentence about",
    "draft an email about",
    "list the pros and cons of",
    "write a SQL query about",
    "plan a weekend trip around",
    "design a data model for",
    "tell me a fun fact about",
    "estimate the cost of",
    "outline a lecture on",
    "critique an essay on",
    "answer a quiz on",
    "build a dashboard for",
    "optimise an algorithm for",
    "write a poem about",
    "analyse the risks of",
    "review a contract about",
    "make a checklist for",
)
_TOPICS = (
    "prime numbers",
    "the French revolution",
    "kubernetes autoscaling",
    "sourdough bread",
    "quarterly sales figures",
    "binary search trees",
    "climate policy",
    "a birthday party",
    "linear regression",
    "the stock market",
    "React hooks",
    "marathon training",
    "GDPR compliance",
    "graph databases",
    "medieval castles",
    "a job interview",
    "solar panels",
    "memory leaks in C++",
    "the Riemann hypothesis",
    "customer churn",
    "electric cars",
    "a wedding speech",
    "matrix multiplication",
    "supply chains",
    "coffee brewing",
)


def unique_queries(n: int, seed: int = 0) -> list[str]:
    """`n` distinct, prompt-like texts (deterministic), so each one misses the query cache."""
    combos = [f"{o}{t} {p}" for o, t, p in itertools.product(_OPENERS, _TASKS, _TOPICS)]
    random.Random(seed).shuffle(combos)
    if n <= len(combos):
        return combos[:n]
    extra = (f"{combos[i % len(combos)]} (case {i})" for i in range(len(combos), n))
    return [*combos, *extra]


def build_rule_selector(max_chars: int | None = None) -> RuleSelector:
    """A realistic rule set: 9 rules over tools, metadata, keywords, a regex and size."""
    code_pattern = r"```|\bdef\s+\w+\(|\bclass\s+\w+\s*[:(]|Traceback \(most recent call last\)"
    return RuleSelector(
        [
            Rule(route="strong", has_tools=True, name="tools"),
            Rule(route="strong", metadata={"tier": "enterprise"}, name="enterprise"),
            Rule(
                route="strong",
                keywords=["prove", "proof", "theorem", "lemma", "derive", "derivation"],
                name="math",
            ),
            Rule(
                route="code",
                keywords=["python", "javascript", "typescript", "stack trace", "segfault", "sql"],
                name="code-words",
            ),
            Rule(route="code", pattern=code_pattern, name="code-pattern"),
            Rule(route="strong", min_tokens=1500, name="long-context"),
            Rule(
                route="strong",
                keywords=["summarize", "summary", "tl;dr"],
                min_tokens=200,
                name="long-summary",
            ),
            Rule(
                route="fast",
                keywords=["hi", "hello", "thanks", "thank you", "bye"],
                max_tokens=12,
                name="greeting",
            ),
            Rule(route="fast", metadata={"tier": "free"}, name="free-tier"),
        ],
        max_chars=max_chars,
    )


def _request(text: str, **kwargs: Any) -> RoutingRequest:
    turns = [Turn("system", "You are a helpful assistant."), Turn("user", text)]
    return RoutingRequest.from_turns(turns, **kwargs)


def rule_requests() -> tuple[list[RoutingRequest], RoutingRequest]:
    """A mix of requests hitting different rules, and one that no rule matches."""
    report = "The quarterly report covers revenue, costs and hiring across regions. " * 40
    mix = [
        _request("hi there!"),
        _request("thanks, bye"),
        _request("Prove that the square root of 2 is irrational."),
        _request("Why does my Python script raise KeyError when reading the config?"),
        _request("Traceback (most recent call last):\n  File 'app.py', line 3\nValueError"),
        _request("What is the weather like in Lisbon?", has_tools=True),
        _request("Draft a reply to this customer.", metadata={"tier": "enterprise"}),
        _request("Write a haiku about autumn leaves.", metadata={"tier": "free", "user": "u1"}),
        _request(f"Please summarize this:\n{report}"),
        _request("What are good names for a golden retriever puppy?"),
        _request("def add(a, b):\n    return a + b\n# why is this slow?"),
        _request("Explain the difference between a list and a tuple in plain words."),
    ]
    worst = _request(
        "I am planning a trip to Portugal next spring with my family and would like some "
        "suggestions for quiet towns by the sea where we can rent a house for two weeks, "
        "ideally with good bakeries nearby and not too many tourists around."
    )
    return mix, worst


def _cycle(items: Sequence[RoutingRequest]) -> Callable[[], RoutingRequest]:
    it: Iterator[RoutingRequest] = itertools.cycle(items)
    return it.__next__


def _row(
    name: str, selector: str, call: str, queries: str, samples: list[int], target: float | None
) -> dict[str, Any]:
    stats = summarize(samples)
    return {
        "name": name,
        "selector": selector,
        "call": call,
        "queries": queries,
        **stats,
        "target_p50_us": target,
        "meets_target": None if target is None else stats["p50_us"] <= target,
    }


def bench_rules(iterations: int, warmup: int) -> list[dict[str, Any]]:
    """Rule selector: `select` and `Router.decide` over the mix and the no-match case."""
    selector = build_rule_selector()
    router = Router(MODELS, selector=selector, default="fast")
    mix, worst = rule_requests()
    # Sanity: the mix exercises several rules and the worst case matches none.
    labels = {router.decide(r).reason for r in mix}
    if len(labels) < 6 or router.decide(worst).reason != "no rule matched":
        raise SystemExit(f"rule set does not behave as designed: {sorted(labels)}")
    rows = []
    cases = (
        ("mix of 12", mix),
        ("no match, 230 chars", [worst]),
        ("2.9k-char prompt", [mix[8]]),
    )
    for queries, requests in cases:
        select_next, decide_next = _cycle(requests), _cycle(requests)

        def select(nxt: Callable[[], RoutingRequest] = select_next) -> object:
            return selector.select(nxt(), MODELS)

        def decide(nxt: Callable[[], RoutingRequest] = decide_next) -> object:
            return router.decide(nxt())

        samples = interleaved({"select": select, "decide": decide}, iterations, warmup)
        rows.append(_row("rules select", "rules", "select", queries, samples["select"], None))
        rows.append(
            _row("rules decide", "rules", "decide", queries, samples["decide"], RULE_TARGET_US)
        )
    return rows


def bench_embedding(iterations: int, warmup: int) -> list[dict[str, Any]]:
    """Embedding selector with the default encoder: unique (cache miss) vs repeated queries."""
    selector = EmbeddingSelector(EMBEDDING_ROUTES).warm()
    router = Router(MODELS, selector=selector, default="fast")
    encoder = selector.encoder
    per = iterations + warmup
    pool = unique_queries(3 * per)
    texts = iter(pool[:per])
    select_reqs = iter([_request(t) for t in pool[per : 2 * per]])
    decide_reqs = iter([_request(t) for t in pool[2 * per :]])
    unique = interleaved(
        {
            "encode": lambda: encoder.encode([next(texts)]),
            "select": lambda: selector.select(next(select_reqs), MODELS),
            "decide": lambda: router.decide(next(decide_reqs)),
        },
        iterations,
        warmup,
    )
    repeated = [_request(t) for t in pool[:16]]
    for request in repeated:  # fill the cache
        router.decide(request)
    select_next, decide_next = _cycle(repeated), _cycle(repeated)
    cached = interleaved(
        {
            "select": lambda: selector.select(select_next(), MODELS),
            "decide": lambda: router.decide(decide_next()),
        },
        iterations,
        warmup,
    )
    target = EMBEDDING_TARGET_US
    return [
        _row("encoder.encode (1 text)", "embedding", "encode", "unique", unique["encode"], None),
        _row("embedding select", "embedding", "select", "unique", unique["select"], None),
        _row("embedding decide", "embedding", "decide", "unique", unique["decide"], target),
        _row(
            "embedding select", "embedding", "select", "repeated (cached)", cached["select"], None
        ),
        _row(
            "embedding decide", "embedding", "decide", "repeated (cached)", cached["decide"], target
        ),
    ]


def composed_routers() -> dict[str, tuple[str, Router]]:
    """Label -> (selector column, router) for each composed selector or gate, and the baseline."""

    def embedding() -> EmbeddingSelector:
        return EmbeddingSelector(EMBEDDING_ROUTES).warm()

    def router(selector: object, **settings: Any) -> Router:
        return Router(MODELS, selector=selector, default="fast", **settings)

    classifier = ClassifierSelector.from_examples(EMBEDDING_ROUTES)
    budget = Budget(prices=PRICES, max_cost_per_call=0.05, tenant_budget=1e9, hold_seconds=3600.0)
    compliance = Compliance(local=["fast"])
    order = list(MODELS)  # fast < code < strong
    routers = {
        "embedding (baseline)": ("embedding", router(embedding())),
        "classifier": ("classifier", router(classifier)),
        "first_of(rules, embedding)": (
            "chain",
            router(first_of(build_rule_selector(), embedding())),
        ),
        "weighted(embedding .7, classifier .3)": (
            "weighted",
            router(weighted({embedding(): 0.7, classifier: 0.3})),
        ),
        "sticky(embedding)": ("sticky", router(sticky(embedding()))),
        "escalate_only(embedding)": (
            "escalate_only",
            router(escalate_only(embedding(), order)),
        ),
        "Compliance gate + embedding": (
            "gate:compliance",
            router(embedding(), gates=[compliance]),
        ),
        "Budget gate + embedding": (
            "gate:budget",
            router(embedding(), gates=[budget]),
        ),
    }
    return routers


def _decider(router: Router, requests: list[RoutingRequest]) -> Callable[[], object]:
    nxt = iter(requests).__next__
    return lambda: router.decide(nxt())


def bench_composed(iterations: int, warmup: int) -> list[dict[str, Any]]:
    """`Router.decide` of each composed selector and gate on unique queries, interleaved."""
    n, warm = min(iterations, COMPOSED_ITERATIONS), min(warmup, 200)
    routers = composed_routers()
    per = n + warm
    pool = unique_queries(per * len(routers))
    fns: dict[str, Callable[[], object]] = {}
    for k, (label, (_, router)) in enumerate(routers.items()):
        texts = pool[k * per : (k + 1) * per]
        requests = [
            _request(t, metadata={"thread_id": f"t{i // TURNS_PER_THREAD}", "tenant_id": "acme"})
            for i, t in enumerate(texts)
        ]
        fns[label] = _decider(router, requests)
    # Sanity: every one of them routes a coding request to the code model.
    probe = _request(
        "write a python function that parses a CSV file", metadata={"tenant_id": "acme"}
    )
    for label, (_, router) in routers.items():
        decision = router.decide(probe)
        if decision.route != "code":
            raise SystemExit(f"{label} routed a coding request to {decision.route!r}")
    samples = interleaved(fns, n, warm)
    threads = f"unique, {TURNS_PER_THREAD} turns/thread"
    return [
        _row(
            label,
            column,
            "decide",
            threads if column in ("sticky", "escalate_only") else "unique",
            samples[label],
            None,
        )
        for label, (column, _) in routers.items()
    ]


def _huge_prompts(n: int) -> list[str]:
    """`n` distinct 2 M-character prompts (distinct from their first characters on)."""
    body = "The quarterly report covers revenue, costs and hiring across regions. "
    filler = body * (HUGE_CHARS // len(body) + 1)
    return [f"({i}) {filler}"[:HUGE_CHARS] for i in range(n)]


def _peak_bytes(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def bench_huge(iterations: int, warmup: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """A 2 M-character prompt: request building, rules and embedding decisions, peak memory."""
    n = min(iterations, HUGE_ITERATIONS)
    texts = _huge_prompts(4)
    requests = [_request(t) for t in texts]
    rules_router = Router(MODELS, selector=build_rule_selector(), default="fast")
    capped = build_rule_selector(max_chars=HUGE_RULES_MAX_CHARS)
    capped_router = Router(MODELS, selector=capped, default="fast")
    selector = EmbeddingSelector(EMBEDDING_ROUTES, cache_size=0).warm()
    embedding_router = Router(MODELS, selector=selector, default="fast")
    text_next, rules_next, capped_next, embed_next = (
        itertools.cycle(texts).__next__,
        _cycle(requests),
        _cycle(requests),
        _cycle(requests),
    )
    samples = interleaved(
        {
            "build": lambda: _request(text_next()),
            "rules": lambda: rules_router.decide(rules_next()),
            "capped": lambda: capped_router.decide(capped_next()),
            "embedding": lambda: embedding_router.decide(embed_next()),
        },
        n,
        min(warmup, 5),
    )
    queries = f"{HUGE_CHARS // 1_000_000} M chars"
    rows = [
        _row("RoutingRequest.from_turns", "request", "decide-2M", queries, samples["build"], None),
        _row("rules decide", "rules", "decide-2M", queries, samples["rules"], None),
        _row(
            f"rules decide, max_chars={HUGE_RULES_MAX_CHARS:,}",
            "rules",
            "decide-2M",
            queries,
            samples["capped"],
            None,
        ),
        _row("embedding decide", "embedding", "decide-2M", queries, samples["embedding"], None),
    ]
    peaks = {
        "request_build": _peak_bytes(lambda: _request(texts[0])),
        "rules_decide": _peak_bytes(lambda: rules_router.decide(requests[0])),
        "embedding_decide": _peak_bytes(lambda: embedding_router.decide(requests[1])),
        "embedding_max_chars": selector.max_chars,
    }
    return rows, peaks


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=5000, help="timed calls per row")
    parser.add_argument("--warmup", type=int, default=500, help="untimed rounds before each case")
    parser.add_argument(
        "--out", type=Path, default=default_out("decision_latency"), help="JSON output path"
    )
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.warmup < 0:
        parser.error("--iterations must be >= 1 and --warmup >= 0")
    return args


def _table(rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            r["name"],
            r["queries"],
            fmt_us(r["p50_us"]),
            fmt_us(r["p90_us"]),
            fmt_us(r["p99_us"]),
            fmt_us(r["mean_us"]),
            "-" if r["target_p50_us"] is None else f"<= {fmt_us(r['target_p50_us'])}",
            "-" if r["meets_target"] is None else ("yes" if r["meets_target"] else "NO"),
        ]
        for r in rows
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selectors, print the tables, write the JSON."""
    args = parse_args(argv)
    machine = machine_info()
    rows = bench_rules(args.iterations, args.warmup) + bench_embedding(args.iterations, args.warmup)
    huge_rows, peaks = bench_huge(args.iterations, args.warmup)
    rows += huge_rows
    composed = bench_composed(args.iterations, args.warmup)
    columns = ["measurement", "queries", "p50", "p90", "p99", "mean", "target p50", "met"]
    print_table(
        f"Decision latency, microseconds ({args.iterations} calls per row, {args.warmup} warm-up"
        f"; 2 M-char rows: {min(args.iterations, HUGE_ITERATIONS)} calls)",
        columns,
        _table(rows),
    )
    print()
    print_table(
        "Composed selectors and gates, Router.decide, microseconds "
        f"({composed[0]['n']} calls per row, interleaved)",
        columns,
        _table(composed),
    )
    print(
        f"\n{HUGE_CHARS:,}-character prompt, peak memory traced during one call: "
        f"request build {peaks['request_build'] / 1e6:.1f} MB, rules decide "
        f"{peaks['rules_decide'] / 1e6:.1f} MB, embedding decide "
        f"{peaks['embedding_decide'] / 1e6:.2f} MB (embeds the first "
        f"{peaks['embedding_max_chars']} characters)"
    )
    payload = {
        "benchmark": "decision_latency",
        "machine": machine,
        "load_average_at_end": load_average(),
        "settings": {
            "iterations": args.iterations,
            "warmup": args.warmup,
            "rules": len(build_rule_selector().rules),
            "embedding_routes": {k: len(v) for k, v in EMBEDDING_ROUTES.items()},
            "embedding_encoder": "default (WordLlama l2_supercat, 256 dims)",
        },
        "results": rows,
        "composed": composed,
        "huge_prompt": {"chars": HUGE_CHARS, "peak_bytes": peaks},
    }
    path = write_json(args.out, payload)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
