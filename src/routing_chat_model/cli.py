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
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn, TextIO

from routing_chat_model import __version__

__all__ = ["COMMANDS", "Command", "main"]

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
        print(_demo.render_json(result), file=out)
    else:
        print(_demo.render_table(result, colour=_use_colour(out), width=_width(out)), file=out)
    return 0


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
