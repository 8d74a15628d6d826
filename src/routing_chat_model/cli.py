"""The `routing-chat-model` command.

Each subcommand is one `Command`: a name, a help line, a function that adds its arguments to
its parser and a function that runs it and returns the exit code. Adding a subcommand is adding
one entry to `COMMANDS`; its implementation is imported only when it runs, so `--help` stays
fast and works without the optional frameworks.

Exit codes: 0 success, 1 the command failed, 2 bad arguments or a missing dependency. Errors are
printed as one line on stderr, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn, TextIO

from routing_chat_model import __version__

if TYPE_CHECKING:
    from routing_chat_model._demo import DemoResult, DemoRow
    from routing_chat_model.pricing import ModelPrice

__all__ = ["COMMANDS", "Command", "main", "render_demo"]

PROG = "routing-chat-model"
_LANGCHAIN_INSTALL = "pip install 'routing-chat-model[langchain]'"


@dataclass(frozen=True)
class Command:
    """One subcommand of `routing-chat-model`."""

    name: str
    """What the user types after `routing-chat-model`."""
    help: str
    """One line, shown in `routing-chat-model --help`."""
    description: str
    """A paragraph, shown in `routing-chat-model <name> --help`."""
    configure: Callable[[argparse.ArgumentParser], None]
    """Adds the subcommand's arguments to its parser."""
    run: Callable[[argparse.Namespace], int]
    """Runs the subcommand and returns the exit code."""


class _UsageError(Exception):
    """Bad command-line arguments (argparse's errors, without its exit)."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """An `ArgumentParser` that raises on bad arguments, so `main` prints one line and returns."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(self.prog, message)


# -- demo ------------------------------------------------------------------------------------


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--offline",
        action="store_true",
        help="use the local stand-in models even when langchain-openai and OPENAI_API_KEY are set",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the rows and totals as JSON instead of a table"
    )


def _run_demo(args: argparse.Namespace) -> int:
    try:
        from routing_chat_model import _demo
    except ImportError as exc:
        if (exc.name or "").split(".")[0] != "langchain_core":
            raise
        _fail("demo", f"the demo needs langchain-core; install it with: {_LANGCHAIN_INSTALL}")
        return 2
    result = _demo.run_demo(offline=args.offline)
    out = sys.stdout
    if args.json:
        print(json.dumps(result.to_dict(), indent=2), file=out)
    else:
        print(render_demo(result, colour=_use_colour(out), width=_width(out)), file=out)
    return 0


# -- the demo's report -----------------------------------------------------------------------

_ROUTE_COLOURS = ("32", "33", "35")
"""ANSI colours of the routes, weakest first: green, yellow, magenta."""
_MIN_PROMPT_WIDTH = 20


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text


def _per_mtok(price: ModelPrice | None) -> str:
    if price is None:
        return "price unknown"
    return f"${price.input_per_mtok:.2f} in / ${price.output_per_mtok:.2f} out per 1M tokens"


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def render_demo(result: DemoResult, *, colour: bool = False, width: int = 100) -> str:
    """The demo's report: the models, one table row per prompt, and the cost comparison.

    Args:
        result: What the demo returned.
        colour: Add ANSI colours (for a terminal only).
        width: Columns to fit in; the prompt column takes what the others leave.
    """
    colours = dict(zip(result.models, _ROUTE_COLOURS, strict=False))  # extra routes: no colour
    lines = [
        _paint(
            f"routing-chat-model demo: {len(result.rows)} prompts through "
            "ChatPromptTemplate | RoutingChatModel | StrOutputParser",
            "1",
            colour,
        ),
        "",
    ]
    if result.stand_ins:
        lines += [
            f"Models: LOCAL STAND-INS ({result.note}). No network, no key: they answer with",
            "placeholder text of a realistic length, billed at the list price of the model named:",
        ]
    else:
        lines.append(f"Models: OpenAI via langchain-openai ({result.note}):")
    for route, label in result.models.items():
        shown = (
            f"{label:<16} as {result.priced_as[route]:<13}" if result.stand_ins else f"{label:<14}"
        )
        name = _paint(f"{route:<7}", colours.get(route, ""), colour)
        lines.append(f"  {name} {shown} {_per_mtok(result.prices[route])}")
    if result.stand_ins:
        lines.append(
            "For real models: pip install langchain-openai; export OPENAI_API_KEY=...; run again."
        )
    lines += [
        f"Selector: EmbeddingSelector over {result.examples} example utterances, bundled offline "
        f"encoder (ready in {result.warmup_ms:.0f} ms).",
        "",
        *_demo_table(result, colours, colour, width),
        "",
        *_demo_summary(result, colour),
    ]
    return "\n".join(lines)


def _demo_table(result: DemoResult, colours: dict[str, str], colour: bool, width: int) -> list[str]:
    header = ["#", "prompt", "model", "selector", "top scores", "ms", "cost USD"]
    cells = [_demo_cells(i, row) for i, row in enumerate(result.rows, 1)]
    widths = [max([len(header[c])] + [len(r[c]) for r in cells]) for c in range(len(header))]
    gap, right = 2, {0, 5, 6}
    rest = width - 1 - sum(widths) + widths[1] - gap * (len(header) - 1)
    widths[1] = max(_MIN_PROMPT_WIDTH, rest)

    def line(values: Sequence[str], route: str | None = None) -> str:
        out = []
        for c, value in enumerate(values):
            text = _cut(value, widths[c]) if c == 1 else value
            text = text.rjust(widths[c]) if c in right else text.ljust(widths[c])
            if c == 2 and route is not None:
                text = _paint(text, colours.get(route, ""), colour)
            out.append(text)
        return (" " * gap).join(out).rstrip()

    rule = "-" * len(line(header))
    rows = [line(values, row.route) for row, values in zip(result.rows, cells, strict=True)]
    return [_paint(line(header), "1", colour), rule, *rows]


def _demo_cells(index: int, row: DemoRow) -> list[str]:
    if row.route is None:
        return [str(index), row.prompt, "error", "-", row.error or "", "-", "-"]
    best = sorted(row.scores.items(), key=lambda item: -item[1])[:2]
    return [
        str(index),
        row.prompt,
        row.route,
        (row.selector or "-") + ("*" if row.abstained else ""),
        "  ".join(f"{route} {value:.2f}" for route, value in best),
        "-" if row.decision_ms is None else f"{row.decision_ms:.2f}",
        "-" if row.cost_usd is None else f"{row.cost_usd:.6f}",
    ]


def _demo_summary(result: DemoResult, colour: bool) -> list[str]:
    strongest = result.strongest
    saving = result.saving_pct
    saved = "n/a (no price known)" if saving is None else f"{saving:.1f}%"
    counts = Counter(row.route or "error" for row in result.rows)
    times = [row.decision_ms for row in result.rows if row.decision_ms is not None]
    timing = (
        f" Decision time: median {statistics.median(times):.2f} ms, max {max(times):.2f} ms."
        if times
        else ""
    )
    lines = [
        f"Routed: ${result.total_cost_usd:.6f}.  All on {strongest} "
        f"({result.priced_as[strongest]} prices): ${result.strongest_cost_usd:.6f}.  "
        f"Saving: {_paint(saved, '1;32', colour)}.",
        "Routes: " + ", ".join(f"{route} {n}" for route, n in counts.items()) + "." + timing,
        f"(The all-on-{strongest} figure prices each answer's token counts at {strongest}'s "
        "rates.)",
    ]
    if any(row.abstained for row in result.rows):
        lines.append("* the selector abstained; the default route answered.")
    errors = sorted({row.error for row in result.rows if row.error})
    if errors:
        failed = sum(1 for row in result.rows if row.error)
        lines.append(f"{failed} prompt(s) failed: {', '.join(errors)}")
    return lines


# -- eval and calibrate (implemented in routing_chat_model.evaluation.commands) ---------------


def _configure_eval(parser: argparse.ArgumentParser) -> None:
    from routing_chat_model.evaluation.commands import configure_eval

    configure_eval(parser)


def _run_eval(args: argparse.Namespace) -> int:
    from routing_chat_model.evaluation.commands import run_eval

    return run_eval(args)


def _configure_calibrate(parser: argparse.ArgumentParser) -> None:
    from routing_chat_model.evaluation.commands import configure_calibrate

    configure_calibrate(parser)


def _run_calibrate(args: argparse.Namespace) -> int:
    from routing_chat_model.evaluation.commands import run_calibrate

    return run_calibrate(args)


# -- the command table -----------------------------------------------------------------------

COMMANDS: tuple[Command, ...] = (
    Command(
        name="demo",
        help="route a dozen prompts through a LangChain chain and show what routing saves",
        description=(
            "Build a RoutingChatModel over a small, a mid and a strong model, route a dozen "
            "prompts (chit-chat, code, a summary, proofs) with the bundled offline embedding "
            "selector through `prompt | router | StrOutputParser()`, and print each decision "
            "and its cost against sending everything to the strongest model. Uses OpenAI "
            "models when langchain-openai is installed and OPENAI_API_KEY is set, otherwise "
            "local stand-ins priced like them (no network needed)."
        ),
        configure=_configure_demo,
        run=_run_demo,
    ),
    Command(
        name="eval",
        help="fit a learned router on TRAIN, measure its quality/cost frontier on TEST",
        description=(
            "Fit a LearnedSelector on a routing dataset (CSV or JSONL: query, quality:<model>, "
            "cost_usd:<model>), sweep its willingness-to-pay knob on a test dataset (or a split "
            "of TRAIN), print a table and write DIR/report.json and DIR/frontier.png."
        ),
        configure=_configure_eval,
        run=_run_eval,
    ),
    Command(
        name="calibrate",
        help="set a saved learned selector's knob for a cost or quality target",
        description=(
            "Find the willingness to pay that meets a target on a dataset (a share of the best "
            "model's cost, or a minimum share of its quality), print it, and write it into the "
            "saved selector."
        ),
        configure=_configure_calibrate,
        run=_run_calibrate,
    ),
)
"""Every subcommand, in the order `--help` lists them."""


def _build_parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        description="LLM routing for LangChain and LlamaIndex: one chat model that picks, "
        "calls and falls back between models per request.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.name, help=command.help, description=command.description
        )
        command.configure(sub)
        sub.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `routing-chat-model` with `argv` (default: the process's arguments).

    Returns:
        The exit code: 0 on success, 1 when the command failed, 2 on bad arguments.
    """
    parser = _build_parser()
    try:
        args, extra = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
        if extra:  # report it against the subcommand, whose --help lists what it takes
            command = getattr(args, "command", None)
            prog = f"{PROG} {command}" if command else PROG
            raise _UsageError(prog, f"unrecognized arguments: {' '.join(extra)}")
    except _UsageError as exc:
        print(f"{exc.prog}: error: {exc} (see {exc.prog} --help)", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help and --version print, then exit 0
        return exc.code if isinstance(exc.code, int) else 0
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "_run", None)
    if run is None:
        names = ", ".join(command.name for command in COMMANDS)
        print(f"{PROG}: error: give a command ({names}); see {PROG} --help", file=sys.stderr)
        return 2
    try:
        return run(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `routing-chat-model demo | head`: the reader left, not an error
        _silence_stdout()
        return 0
    except Exception as exc:  # one clear line, not a traceback
        _fail(args.command, f"{type(exc).__name__}: {_one_line(str(exc))}")
        return 1


def _fail(command: str, message: str) -> None:
    print(f"{PROG} {command}: error: {message}", file=sys.stderr)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so flushing at exit raises no second BrokenPipeError."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (tests capture it)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _use_colour(stream: TextIO) -> bool:
    """ANSI colours only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _width(stream: TextIO) -> int:
    """Fit the terminal (between 72 and 100 columns); 100 when not printing to one."""
    isatty = getattr(stream, "isatty", None)
    if not (isatty and isatty()):
        return 100
    return max(72, min(100, shutil.get_terminal_size((100, 24)).columns))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
