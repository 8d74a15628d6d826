"""Overhead of the LlamaIndex `RoutingChatModel` over calling the chosen child LLM directly.

Two LlamaIndex LLMs answer the same two-message chat, in the same process:

- `direct`: the child itself (`strong.chat(messages)`), the baseline;
- `ours`: `RoutingChatModel` over two children with a one-rule `RuleSelector` that sends the
  chat to `strong`; `ours_no_event` is the same router with `emit_routing_event=False`;
- `passthrough`: the least any LlamaIndex LLM wrapping another pays, an `LLM` whose decorated
  methods only call the child's: LlamaIndex's own per-call instrumentation (a span, callback
  events, instrumentation events), run once for the wrapper and once for the child. What
  `ours` adds beyond it is the routing itself.

The child is the package's `ScriptedLLM`: its methods are decorated like a provider's
(`@llm_chat_callback()`, so LlamaIndex's callback manager and instrumentation run) and it reports
usage, but it answers at once, so the table shows what the router adds, not a model's latency.

Measurements alternate each round in a rotating order, so drift hits every contestant alike.
Modes: chat, achat, stream_chat and astream_chat (time to the end of the stream). The overhead
is `p50(router) - p50(direct)`; the median of per-round paired differences is reported too, and
`+routing` is `p50(router) - p50(passthrough)`, the part the router's own work costs.
Target (issue 3): the router adds <= 0.2 ms at p50 on chat.

Run from the repo root: `python benchmarks/llama_index_overhead.py [--rounds N] [--out PATH]`.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms import LLM
from llama_index.core.llms.callbacks import llm_chat_callback

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
from routing_chat_model.llama_index import RoutingChatModel
from routing_chat_model.testing.llama_index import ScriptedLLM

__all__ = ["Passthrough", "build_contestants", "main"]

TARGET_OVERHEAD_US = 200.0
KEYWORDS = ["prove", "theorem", "derive"]
MESSAGES = [
    ChatMessage(role=MessageRole.SYSTEM, content="You are a careful mathematician."),
    ChatMessage(role=MessageRole.USER, content="Prove that there are infinitely many primes."),
]
MODES = ("chat", "achat", "stream_chat", "astream_chat")


class Passthrough(LLM):
    """An LLM that hands every chat to `child`, decorated like any LlamaIndex LLM."""

    child: LLM

    @classmethod
    def class_name(cls) -> str:
        """Name in LlamaIndex payloads."""
        return "Passthrough"

    @property
    def metadata(self) -> LLMMetadata:
        """The child's."""
        return self.child.metadata

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """The child's chat."""
        return self.child.chat(messages, **kwargs)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """The child's achat."""
        return await self.child.achat(messages, **kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """The child's stream, relayed."""

        def gen() -> ChatResponseGen:
            yield from self.child.stream_chat(messages, **kwargs)

        return gen()

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        """The child's async stream, relayed."""

        async def gen() -> ChatResponseAsyncGen:
            async for chunk in await self.child.astream_chat(messages, **kwargs):
                yield chunk

        return gen()

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Not measured."""
        raise NotImplementedError

    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        """Not measured."""
        raise NotImplementedError

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        """Not measured."""
        raise NotImplementedError

    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        """Not measured."""
        raise NotImplementedError


def build_contestants() -> tuple[dict[str, LLM], list[ScriptedLLM]]:
    """The direct child, two routers (with and without the event) and the pass-through wrapper.

    Returns:
        Name -> LLM; the children (to reset their call logs between rounds).
    """
    fast, strong = ScriptedLLM(model="fast"), ScriptedLLM(model="strong")
    models: dict[str, LLM] = {"fast": fast, "strong": strong}

    def router(emit: bool) -> RoutingChatModel:
        return RoutingChatModel(
            models=models,
            selector=RuleSelector([Rule(route="strong", keywords=KEYWORDS)]),
            default="fast",
            emit_routing_event=emit,
        )

    contestants: dict[str, LLM] = {
        "direct": strong,
        "ours": router(True),
        "ours_no_event": router(False),
        "passthrough": Passthrough(child=strong),
    }
    return contestants, [fast, strong]


def _text(response: ChatResponse | None) -> str:
    return "" if response is None else str(response.message.content)


def _check(models: Mapping[str, LLM]) -> None:
    """Every contestant must answer from `strong` with the same text, or the race is unfair."""
    expected = _text(models["direct"].chat(MESSAGES))
    for name, model in models.items():
        response = model.chat(MESSAGES)
        last = None
        for last in model.stream_chat(MESSAGES):  # noqa: B007 - the full text is on the last
            pass
        if _text(response) != expected or _text(last) != expected:
            raise SystemExit(f"{name} did not answer like the direct child: {_text(response)!r}")
        routing = response.additional_kwargs.get("routing")
        if name.startswith("ours") and (routing is None or routing["route"] != "strong"):
            raise SystemExit(f"{name} did not route to 'strong': {routing!r}")


def _sync_calls(models: Mapping[str, LLM], mode: str) -> dict[str, Callable[[], object]]:
    def make(model: LLM) -> Callable[[], object]:
        if mode == "chat":
            return lambda: model.chat(MESSAGES)

        def drain() -> object:
            last = None
            for last in model.stream_chat(MESSAGES):  # noqa: B007 - time to the end
                pass
            return last

        return drain

    return {name: make(model) for name, model in models.items()}


def _async_calls(
    models: Mapping[str, LLM], mode: str
) -> dict[str, Callable[[], Awaitable[object]]]:
    def make(model: LLM) -> Callable[[], Awaitable[object]]:
        if mode == "achat":
            return lambda: model.achat(MESSAGES)

        async def drain() -> object:
            last = None
            async for last in await model.astream_chat(MESSAGES):  # noqa: B007
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
    parser.add_argument(
        "--out", type=Path, default=default_out("llama_index_overhead"), help="JSON output"
    )
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not args.modes or set(args.modes) - set(MODES):
        parser.error(f"--modes must be a subset of {','.join(MODES)}")
    if args.rounds < 1 or args.warmup < 0:
        parser.error("--rounds must be >= 1 and --warmup >= 0")
    return args


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run every mode, print the table, write the JSON."""
    args = parse_args(argv)
    machine = machine_info()
    machine["packages"]["llama-index-core"] = _version("llama-index-core")
    models, children = build_contestants()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback warning would mean an unfair comparison
        _check(models)

    def reset() -> None:
        for child in children:
            child.reset()

    rows = measure_overhead(
        args.modes,
        ("chat", "stream_chat"),
        lambda mode: _sync_calls(models, mode),
        lambda mode: _async_calls(models, mode),
        rounds=args.rounds,
        warmup=args.warmup,
        reset=reset,
        target_us=TARGET_OVERHEAD_US,
    )
    table = overhead_table(rows, extra=["over_passthrough_p50_us"])
    print_table(
        f"LlamaIndex router overhead over the direct child, microseconds ({args.rounds} "
        f"interleaved rounds, {args.warmup} warm-up; target: ours adds <= "
        f"{TARGET_OVERHEAD_US:.0f} us at p50 on chat)",
        ["mode", "contestant", "p50", "p90", "p99", "+p50", "+paired", "+routing", "target"],
        table,
    )
    payload = {
        "benchmark": "llama_index_overhead",
        "machine": machine,
        "load_average_at_end": load_average(),
        "settings": {
            "rounds": args.rounds,
            "warmup": args.warmup,
            "modes": args.modes,
            "child": "routing_chat_model.testing.llama_index.ScriptedLLM (no latency)",
            "messages": len(MESSAGES),
            "ours": "RoutingChatModel + RuleSelector([Rule(route='strong', keywords=KEYWORDS)])",
            "ours_no_event": "ours with emit_routing_event=False",
            "passthrough": "Passthrough(child=strong): @llm_chat_callback methods calling the child",
            "keywords": KEYWORDS,
        },
        "results": rows,
    }
    path = write_json(args.out, payload)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
