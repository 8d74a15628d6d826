"""Overhead of `RoutingChatModel` over calling the chosen child directly, beside `ChatRouter`.

Three contestants answer the same two-message prompt through the same `ScriptedChatModel`
child, in the same process:

- `direct`: the child itself (`strong.invoke(...)`), the baseline;
- `ours`: `RoutingChatModel` over two children with a one-rule `RuleSelector` that sends the
  prompt to `strong` (and `ours_no_event`, the same with `emit_routing_event=False`);
- `ChatRouter`: the `langchain-model-router` package's router over the same two children with
  an equivalent `KeywordStrategy` (same keywords, same default), when that package is installed.

Measurements alternate A/B/C each round in a rotating order, so drift hits every contestant
alike. Modes: invoke, ainvoke, stream and astream (time to the end of the stream). The overhead
is `p50(router) - p50(direct)`; the median of per-round paired differences is reported too.
Target (issue 2): ours adds <= 0.2 ms at p50 on invoke.

Run from the repo root: `python benchmarks/overhead.py [--rounds N] [--out PATH]`.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from _bench import (
    default_out,
    load_average,
    machine_info,
    measure_overhead,
    overhead_table,
    print_table,
    write_json,
)
from routing_chat_model import Rule, RuleSelector
from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.testing import ScriptedChatModel

__all__ = ["build_contestants", "main"]

TARGET_OVERHEAD_US = 200.0
KEYWORDS = ["prove", "theorem", "derive"]
PROMPT: list[BaseMessage] = [
    SystemMessage("You are a careful mathematician."),
    HumanMessage("Prove that there are infinitely many prime numbers."),
]
MODES = ("invoke", "ainvoke", "stream", "astream")


def build_contestants() -> tuple[dict[str, BaseChatModel], list[ScriptedChatModel], str | None]:
    """The direct child, our router and (when installed) `ChatRouter`, sharing two children.

    Returns:
        Name -> model; the children (to reset their call logs); why `ChatRouter` is missing,
        or None.
    """
    fast = ScriptedChatModel(model="fast")
    strong = ScriptedChatModel(model="strong")
    ours = RoutingChatModel(
        models={"fast": fast, "strong": strong},
        selector=RuleSelector([Rule(route="strong", keywords=KEYWORDS)]),
        default="fast",
    )
    # The same router without the `routing_decision` custom event, to show what the event costs.
    quiet = RoutingChatModel(
        models={"fast": fast, "strong": strong},
        selector=RuleSelector([Rule(route="strong", keywords=KEYWORDS)]),
        default="fast",
        emit_routing_event=False,
    )
    models: dict[str, BaseChatModel] = {"direct": strong, "ours": ours, "ours_no_event": quiet}
    missing = None
    try:
        from langchain_model_router import ChatRouter, KeywordStrategy

        models["ChatRouter"] = ChatRouter(
            routes={"fast": fast, "strong": strong},
            default_route="fast",
            strategy=KeywordStrategy({"strong": KEYWORDS}),
        )
    except ImportError as exc:
        missing = f"langchain-model-router is not installed ({exc})"
    return models, [fast, strong], missing


def _check(models: Mapping[str, BaseChatModel]) -> None:
    """Every contestant must answer from `strong` with the same text, or the race is unfair."""
    expected = models["direct"].invoke(PROMPT).content
    for name, model in models.items():
        answer = model.invoke(PROMPT).content
        streamed = "".join(str(c.content) for c in model.stream(PROMPT))
        if answer != expected or streamed != expected:
            raise SystemExit(f"{name} did not answer like the direct child: {answer!r}")


def _sync_calls(models: Mapping[str, BaseChatModel], mode: str) -> dict[str, Callable[[], object]]:
    def make(model: BaseChatModel) -> Callable[[], object]:
        if mode == "invoke":
            return lambda: model.invoke(PROMPT)

        def drain() -> object:
            last = None
            for last in model.stream(PROMPT):  # noqa: B007 - time to the end of the stream
                pass
            return last

        return drain

    return {name: make(model) for name, model in models.items()}


def _async_calls(
    models: Mapping[str, BaseChatModel], mode: str
) -> dict[str, Callable[[], Awaitable[object]]]:
    def make(model: BaseChatModel) -> Callable[[], Awaitable[object]]:
        if mode == "ainvoke":
            return lambda: model.ainvoke(PROMPT)

        async def drain() -> object:
            last = None
            async for last in model.astream(PROMPT):  # noqa: B007
                pass
            return last

        return drain

    return {name: make(model) for name, model in models.items()}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3000, help="timed calls per contestant")
    parser.add_argument("--warmup", type=int, default=300, help="untimed rounds first")
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help=f"comma-separated subset of {','.join(MODES)}",
    )
    parser.add_argument("--out", type=Path, default=default_out("overhead"), help="JSON output")
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not args.modes or set(args.modes) - set(MODES):
        parser.error(f"--modes must be a subset of {','.join(MODES)}")
    if args.rounds < 1 or args.warmup < 0:
        parser.error("--rounds must be >= 1 and --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run every mode, print the table, write the JSON."""
    args = parse_args(argv)
    machine = machine_info()
    models, children, missing = build_contestants()
    if missing:
        print(f"note: ChatRouter not measured: {missing}", file=sys.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback warning would mean an unfair comparison
        _check(models)

    def reset() -> None:
        for child in children:
            child.reset()

    rows = measure_overhead(
        args.modes,
        ("invoke", "stream"),
        lambda mode: _sync_calls(models, mode),
        lambda mode: _async_calls(models, mode),
        rounds=args.rounds,
        warmup=args.warmup,
        reset=reset,
        target_us=TARGET_OVERHEAD_US,
    )
    table = overhead_table(rows)
    print_table(
        f"Router overhead over the direct child, microseconds ({args.rounds} interleaved rounds, "
        f"{args.warmup} warm-up; target: ours adds <= {TARGET_OVERHEAD_US:.0f} us at p50)",
        ["mode", "contestant", "p50", "p90", "p99", "+p50", "+paired", "target"],
        table,
    )
    payload = {
        "benchmark": "overhead",
        "machine": machine,
        "load_average_at_end": load_average(),
        "settings": {
            "rounds": args.rounds,
            "warmup": args.warmup,
            "modes": args.modes,
            "child": "routing_chat_model.testing.ScriptedChatModel (no latency)",
            "prompt_messages": len(PROMPT),
            "ours": "RoutingChatModel + RuleSelector([Rule(route='strong', keywords=KEYWORDS)])",
            "ours_no_event": "ours with emit_routing_event=False",
            "chatrouter": None if missing else "ChatRouter + KeywordStrategy({'strong': KEYWORDS})",
            "chatrouter_missing": missing,
            "keywords": KEYWORDS,
        },
        "results": rows,
    }
    path = write_json(args.out, payload)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
