from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from routing_chat_model.errors import RoutingError
from routing_chat_model.evaluation import DatasetError, load_dataset

HEADER = "id,task,query,quality:a,cost_usd:a,correct:b,cost_usd:b\n"


def _write(tmp_path: Path, text: str, name: str = "d.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_loads_with_synonym_and_empty_cells(tmp_path):
    path = _write(tmp_path, HEADER + '1,t,"hello, world",1,0.01,0,0.001\n2,t,x,,0.01,1,0.002\n')
    data = load_dataset(path)
    assert data.models == ("a", "b")
    assert len(data) == 2
    assert data.queries[0] == "hello, world"
    assert data.missing() == {"a": 1, "b": 0}
    assert np.isnan(data.cost[1, 0])  # a half-known outcome is skipped whole
    assert "a: 1" in data.missing_note()


def test_jsonl_loads(tmp_path):
    rows = [{"query": "q1", "quality:m": 0.5, "cost_usd:m": 0.1}, {"query": "q2", "quality:m": 1}]
    path = _write(tmp_path, "\n".join(json.dumps(r) for r in rows) + "\n", "d.jsonl")
    data = load_dataset(path)
    assert data.models == ("m",)
    assert data.missing() == {"m": 1}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("1,t,q,2,0.01,0,0.01\n", "line 2: quality:a = 2.0 is outside [0, 1]"),
        ("1,t,q,1,0.01,0,0.01\n2,t,q,abc,0.01,0,0.01\n", "line 3: quality:a = 'abc' is not"),
        ("1,t,q,1,-1,0,0.01\n", "line 2: cost_usd:a = -1.0 is negative"),
        ("1,t,,1,0.1,0,0.01\n", "line 2: 'query' is empty"),
        ("1,t,q,1,0.1,0,0.01,9\n", "line 2: more cells"),
        ("1,t,q,1\n", "line 2: fewer cells"),
        ("1,t,q,nan,0.1,0,0.01\n", "not a finite number"),
    ],
)
def test_malformed_csv_names_the_line(tmp_path, body, needle):
    with pytest.raises(DatasetError) as info:
        load_dataset(_write(tmp_path, HEADER + body))
    assert needle in str(info.value)
    assert isinstance(info.value, RoutingError)


@pytest.mark.parametrize(
    ("header", "needle"),
    [
        ("text,quality:a,cost_usd:a\n", "no 'query' column"),
        ("query,cost_usd:a\n", "no quality:<model>"),
        ("query,quality:a\n", "has no 'cost_usd:a' column"),
        ("query,quality:a,correct:a,cost_usd:a\n", "synonyms"),
    ],
)
def test_bad_header(tmp_path, header, needle):
    with pytest.raises(DatasetError, match=needle):
        load_dataset(_write(tmp_path, header + "q,1,1,1\n"))


def test_bad_jsonl_line(tmp_path):
    path = _write(tmp_path, '{"query": "q", "quality:m": 1, "cost_usd:m": 1}\n{oops\n', "d.jsonl")
    with pytest.raises(DatasetError, match="line 2: not JSON"):
        load_dataset(path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "nope.csv")
    with pytest.raises(DatasetError, match="no data rows"):
        load_dataset(_write(tmp_path, HEADER))


def test_split_is_reproducible_and_disjoint(tmp_path):
    body = "".join(f"{i},t,q{i},1,0.1,0,0.01\n" for i in range(50))
    data = load_dataset(_write(tmp_path, HEADER + body))
    train, test = data.split(0.2, seed=3)
    again, _ = data.split(0.2, seed=3)
    assert len(test) == 10 and len(train) == 40
    assert set(train.ids).isdisjoint(test.ids)
    assert train.ids == again.ids
