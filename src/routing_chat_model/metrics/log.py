"""`DecisionLog`: routing decisions appended to a JSONL file or stream, one object per line.

A line is `{"logged_at": "<UTC ISO 8601>", **decision.to_dict()}`. Decisions hold no prompt
text (only model names, scores, reasons, attempts, usage and cost), and the log writes only the
decision's own fields, so any other key a caller's dict carries is left out.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from typing_extensions import Self

from routing_chat_model.decision import RoutingDecision
from routing_chat_model.errors import RouteConfigError

__all__ = ["DecisionLog"]


class DecisionLog:
    """Appends each decision as one JSON line; thread-safe.

    Flush policy: the buffer is flushed after every `flush_every` lines (default 1, so a
    `tail -f` or a crash loses nothing), on `flush()` and on `close()`. Raise `flush_every` to
    trade durability for fewer system calls under heavy traffic.

    Rotation (files only): with `max_bytes`, a line that would take the file past that size
    first moves `path` to `path.1` (`path.1` to `path.2`, ... keeping `backups` old files);
    `backups=0` truncates instead. A single line is never split.

    Args:
        target: A file path (opened for appending, created with its parent directories) or an
            open text stream (never closed by the log).
        flush_every: Lines between flushes, >= 1.
        max_bytes: Rotate the file before it exceeds this size; None never rotates.
        backups: Rotated files to keep.
        clock: Seconds since the epoch, for `logged_at` (tests pass a fixed clock).

    Raises:
        RouteConfigError: a setting is invalid (the message names it and the fix).
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | IO[str],
        *,
        flush_every: int = 1,
        max_bytes: int | None = None,
        backups: int = 3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(flush_every, bool) or not isinstance(flush_every, int) or flush_every < 1:
            raise RouteConfigError(f"flush_every must be an int >= 1, got {flush_every!r}.")
        if isinstance(backups, bool) or not isinstance(backups, int) or backups < 0:
            raise RouteConfigError(f"backups must be an int >= 0, got {backups!r}.")
        if max_bytes is not None and (
            isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1
        ):
            raise RouteConfigError(
                f"max_bytes must be a positive int or None (no rotation), got {max_bytes!r}."
            )
        self.path: Path | None = None
        if isinstance(target, (str, os.PathLike)):
            self.path = Path(target)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream: IO[str] = self.path.open("a", encoding="utf-8")
        elif max_bytes is not None:
            raise RouteConfigError(
                "max_bytes rotates a file: pass a path as target, or max_bytes=None for a stream."
            )
        elif callable(getattr(target, "write", None)):
            self._stream = target
        else:
            raise RouteConfigError(
                f"target must be a file path or a text stream, got {type(target).__name__}."
            )
        self.flush_every = flush_every
        self.max_bytes = max_bytes
        self.backups = backups
        self._clock = clock
        self._lock = threading.Lock()
        self._pending = 0
        self._size = self._stream.tell() if self.path is not None else 0
        self._closed = False
        self.lines_written = 0
        """Lines written since the log was opened."""

    def write(self, decision: RoutingDecision | Mapping[str, Any]) -> None:
        """Append one decision (a `RoutingDecision` or its `to_dict()` form).

        Raises:
            ValueError: the log is closed.
        """
        if not isinstance(decision, RoutingDecision):
            decision = RoutingDecision.from_dict(decision)
        stamp = datetime.fromtimestamp(self._clock(), tz=timezone.utc)
        record = {"logged_at": stamp.isoformat(timespec="milliseconds"), **decision.to_dict()}
        line = _dumps(record) + "\n"
        with self._lock:
            if self._closed:
                raise ValueError("DecisionLog is closed")
            if self.max_bytes is not None:
                size = len(line.encode("utf-8"))
                if self._size and self._size + size > self.max_bytes:
                    self._rotate()
                self._size += size
            self._stream.write(line)
            self.lines_written += 1
            self._pending += 1
            if self._pending >= self.flush_every:
                self._stream.flush()
                self._pending = 0

    def flush(self) -> None:
        """Flush lines still buffered."""
        with self._lock:
            if not self._closed:
                self._stream.flush()
                self._pending = 0

    def close(self) -> None:
        """Flush, and close the file (a stream passed in is only flushed). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stream.flush()
            if self.path is not None:
                self._stream.close()

    def _rotate(self) -> None:
        """Move the full file aside (keeping `backups` of them) and start an empty one."""
        assert self.path is not None  # only files rotate (checked when built)
        self._stream.close()
        path = self.path
        if self.backups:
            for index in range(self.backups - 1, 0, -1):
                older = path.with_name(f"{path.name}.{index}")
                if older.exists():
                    older.replace(path.with_name(f"{path.name}.{index + 1}"))
            path.replace(path.with_name(f"{path.name}.1"))
        self._stream = path.open("w", encoding="utf-8")
        self._size = 0
        self._pending = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else type(self._stream).__name__
        return f"DecisionLog({where!r}, lines_written={self.lines_written})"


def _dumps(record: dict[str, Any]) -> str:
    """Compact JSON; non-finite floats (invalid JSON) become null."""
    try:
        return json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(record), separators=(",", ":"), ensure_ascii=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
