"""Routing datasets: prompts with each model's observed quality and cost, loaded and validated.

Format (CSV with a header, or JSONL with one object per line): a `query` column, then for each
model `quality:<model>` (a float in [0, 1]; 0/1 correctness is fine; `correct:<model>` is a
synonym) and `cost_usd:<model>` (the real cost of that model's answer, in USD). `id` and `task`
are optional. Empty cells are allowed: a row that lacks a model's quality or cost is skipped for
that model only. Anything else malformed is a `DatasetError` naming the file and line.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from routing_chat_model.errors import RoutingError

__all__ = ["Dataset", "DatasetError", "dataset_from_rows", "load_dataset"]

F64 = npt.NDArray[np.float64]
_PREFIXES = ("quality:", "correct:", "cost_usd:")


class DatasetError(RoutingError, ValueError):
    """A routing dataset is malformed; the message names the file, the line and the fix."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Prompts with every model's observed quality and cost.

    Attributes:
        queries: The prompt texts.
        models: The model names, in column order.
        quality: `(n, m)` array; NaN where the row has no value for the model.
        cost: `(n, m)` array of USD per answer; NaN exactly where `quality` is.
        ids: Row ids (the `id` column, or the 1-based row number).
        tasks: The `task` column, or "" when absent.
    """

    queries: tuple[str, ...]
    models: tuple[str, ...]
    quality: F64
    cost: F64
    ids: tuple[str, ...]
    tasks: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.queries)

    @property
    def available(self) -> npt.NDArray[np.bool_]:
        """`(n, m)` mask: the row has both a quality and a cost for the model."""
        return ~np.isnan(self.quality)

    def missing(self) -> dict[str, int]:
        """Model -> how many rows lack its quality or cost (skipped for that model)."""
        counts = (~self.available).sum(axis=0)
        return {m: int(c) for m, c in zip(self.models, counts, strict=True)}

    def missing_note(self) -> str:
        """One line saying which rows are skipped for which model, or "" when none are."""
        parts = [f"{m}: {n}" for m, n in self.missing().items() if n]
        if not parts:
            return ""
        return "rows without a value, skipped for that model only: " + ", ".join(parts)

    def subset(self, rows: Sequence[int] | npt.NDArray[np.intp]) -> Dataset:
        """The dataset restricted to `rows` (indices), in that order."""
        index = np.asarray(rows, dtype=np.intp)
        return Dataset(
            queries=tuple(self.queries[i] for i in index),
            models=self.models,
            quality=self.quality[index],
            cost=self.cost[index],
            ids=tuple(self.ids[i] for i in index),
            tasks=tuple(self.tasks[i] for i in index),
        )

    def split(self, test_share: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset]:
        """A reproducible random (train, test) split with `test_share` of the rows in test."""
        train, test = self.split_indices(test_share, seed)
        return self.subset(train), self.subset(test)

    def split_indices(
        self, test_share: float = 0.2, seed: int = 0
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """The sorted (train, test) row indices of `split(test_share, seed)`."""
        if not 0.0 < test_share < 1.0:
            raise DatasetError(f"split share must be in (0, 1), got {test_share!r}.")
        order = np.random.default_rng(seed).permutation(len(self))
        cut = max(1, min(len(self) - 1, round(len(self) * test_share)))
        return np.sort(order[cut:]), np.sort(order[:cut])


def _columns(header: Sequence[str], where: str) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """Model names and, per model, its (quality column, cost column)."""
    if "query" not in header:
        raise DatasetError(
            f"{where}: no 'query' column; the columns are query, quality:<model> (or "
            f"correct:<model>) and cost_usd:<model> per model, optional id and task."
        )
    quality: dict[str, str] = {}
    cost: dict[str, str] = {}
    for column in header:
        for prefix in _PREFIXES:
            if column.startswith(prefix):
                model = column[len(prefix) :].strip()
                if not model:
                    raise DatasetError(f"{where}: column {column!r} names no model.")
                target = cost if prefix == "cost_usd:" else quality
                if model in target:
                    raise DatasetError(
                        f"{where}: model {model!r} has two {prefix.rstrip(':')} columns "
                        "(quality:<m> and correct:<m> are synonyms; keep one)."
                    )
                target[model] = column
    models = list(quality)
    if not models:
        raise DatasetError(
            f"{where}: no quality:<model> or correct:<model> column; each model needs one "
            "(and a cost_usd:<model> column)."
        )
    for model in models:
        if model not in cost:
            raise DatasetError(f"{where}: model {model!r} has no 'cost_usd:{model}' column.")
    extra = sorted(set(cost) - set(quality))
    if extra:
        raise DatasetError(f"{where}: cost_usd columns without a quality column: {extra}.")
    return models, {m: (quality[m], cost[m]) for m in models}


def _number(value: object, column: str, where: str) -> float:
    """A cell as a float, NaN when empty; DatasetError when not a finite number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: {column} = {value!r} is not a number.") from None
    if not math.isfinite(number):
        raise DatasetError(f"{where}: {column} = {value!r} is not a finite number.")
    return number


def dataset_from_rows(
    rows: Iterable[tuple[int, Mapping[str, object]]], header: Sequence[str], source: str
) -> Dataset:
    """Build and validate a `Dataset` from `(line number, row)` pairs.

    Args:
        rows: Each row with the line it came from (for error messages).
        header: The column names.
        source: The file name (or another label) used in error messages.

    Raises:
        DatasetError: A column or a cell is malformed, or there are no rows.
    """
    models, columns = _columns(header, source)
    queries: list[str] = []
    ids: list[str] = []
    tasks: list[str] = []
    quality: list[list[float]] = []
    cost: list[list[float]] = []
    for line, row in rows:
        where = f"{source}, line {line}"
        query = row.get("query")
        if not isinstance(query, str) or not query.strip():
            raise DatasetError(f"{where}: 'query' is empty or not text.")
        q_row: list[float] = []
        c_row: list[float] = []
        for model in models:
            q_col, c_col = columns[model]
            q = _number(row.get(q_col), q_col, where)
            c = _number(row.get(c_col), c_col, where)
            if not math.isnan(q) and not 0.0 <= q <= 1.0:
                raise DatasetError(f"{where}: {q_col} = {q} is outside [0, 1].")
            if not math.isnan(c) and c < 0:
                raise DatasetError(f"{where}: {c_col} = {c} is negative.")
            if math.isnan(q) or math.isnan(c):  # a half-known outcome is skipped for the model
                q = c = math.nan
            q_row.append(q)
            c_row.append(c)
        queries.append(query)
        ids.append(str(row.get("id") or len(queries)))
        tasks.append(str(row.get("task") or ""))
        quality.append(q_row)
        cost.append(c_row)
    if not queries:
        raise DatasetError(f"{source}: no data rows.")
    return Dataset(
        queries=tuple(queries),
        models=tuple(models),
        quality=np.asarray(quality, dtype=np.float64),
        cost=np.asarray(cost, dtype=np.float64),
        ids=tuple(ids),
        tasks=tuple(tasks),
    )


def _csv_rows(path: Path) -> tuple[list[str], list[tuple[int, Mapping[str, object]]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        if not header:
            raise DatasetError(f"{path}: empty file (expected a CSV header line).")
        _columns(header, f"{path}, line 1")  # a bad header fails before any row
        rows: list[tuple[int, Mapping[str, object]]] = []
        try:
            for row in reader:
                if None in row:
                    raise DatasetError(
                        f"{path}, line {reader.line_num}: more cells than header columns."
                    )
                if any(v is None for v in row.values()):
                    raise DatasetError(
                        f"{path}, line {reader.line_num}: fewer cells than header columns."
                    )
                rows.append((reader.line_num, row))
        except csv.Error as exc:
            raise DatasetError(f"{path}, line {reader.line_num}: bad CSV: {exc}.") from None
    return header, rows


def _jsonl_rows(path: Path) -> tuple[list[str], list[tuple[int, Mapping[str, object]]]]:
    header: dict[str, None] = {}
    rows: list[tuple[int, Mapping[str, object]]] = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}, line {line_no}: not JSON ({exc.msg}).") from None
            if not isinstance(row, dict):
                raise DatasetError(f"{path}, line {line_no}: expected a JSON object per line.")
            header.update(dict.fromkeys(row))
            rows.append((line_no, row))
    return list(header), rows


def load_dataset(path: str | Path) -> Dataset:
    """Load a routing dataset from a `.csv` or `.jsonl` (`.json`, `.ndjson`) file.

    Raises:
        DatasetError: The file is missing or malformed (the message gives the line).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file.")
    try:
        if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
            header, rows = _jsonl_rows(path)
        else:
            header, rows = _csv_rows(path)
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason}).") from None
    return dataset_from_rows(rows, header, str(path))
