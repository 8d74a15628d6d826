from __future__ import annotations

import json

import numpy as np
import pytest

from routing_chat_model import RoutingRequest
from routing_chat_model.errors import RouteConfigError
from routing_chat_model.evaluation import load_dataset
from routing_chat_model.selectors.learned import LearnedSelector

from .test_learned_fixtures import BagEncoder, write_dataset

Q = "prove the theorem about this integral"


@pytest.mark.parametrize("method", ["logistic", "knn", "ridge", "mf"])
def test_save_load_round_trip_keeps_predictions_and_feedback(tmp_path, method):
    data = load_dataset(write_dataset(tmp_path / "d.csv"))
    sel = LearnedSelector(
        data, encoder=BagEncoder(), method=method, willingness_to_pay=0.5,
        model_map={"small": "s", "strong": "g"},
    )  # fmt: skip
    sel.add_observation("hello thanks", "s", 0.0)
    path = sel.save(tmp_path / "sel")
    assert path.suffix == ".json" and (tmp_path / "sel.npz").is_file()
    settings = json.loads(path.read_text())
    assert settings["version"] == 3 and settings["rows"] == len(data) + 1
    loaded = LearnedSelector.load(tmp_path / "sel.json", encoder=BagEncoder())
    assert loaded.route_names == sel.route_names
    assert loaded.willingness_to_pay == 0.5
    vec = BagEncoder().encode([Q, "hello thanks"])
    for a, b in zip(sel.predict(vec), loaded.predict(vec), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert loaded.select(RoutingRequest(text=Q), ["s", "g"]).route == "g"


@pytest.mark.parametrize("method", ["knn", "ridge"])
def test_version_1_files_still_load(tmp_path, method):
    data = load_dataset(write_dataset(tmp_path / "d.csv"))
    sel = LearnedSelector(data, encoder=BagEncoder(), method=method, willingness_to_pay=0.5)
    path = sel.save(tmp_path / "old")
    settings = json.loads(path.read_text())
    del settings["logistic_alpha"]  # a version 1 file has no such key
    path.write_text(json.dumps({**settings, "version": 1}))
    loaded = LearnedSelector.load(path, encoder=BagEncoder())
    assert loaded.method == method
    assert loaded.select(RoutingRequest(text=Q), ["small", "strong"]).route == "strong"


def test_logistic_file_without_its_arrays_is_refused(tmp_path):
    data = load_dataset(write_dataset(tmp_path / "d.csv"))
    path = LearnedSelector(data, encoder=BagEncoder()).save(tmp_path / "sel.json")
    with np.load(tmp_path / "sel.npz") as arrays:
        kept = {k: arrays[k] for k in arrays.files if not k.startswith("logistic_")}
    np.savez(tmp_path / "sel.npz", **kept)
    with pytest.raises(RouteConfigError, match="logistic arrays are missing"):
        LearnedSelector.load(path, encoder=BagEncoder())


def test_mf_file_with_missing_or_misshapen_arrays_is_refused(tmp_path):
    data = load_dataset(write_dataset(tmp_path / "d.csv"))
    sel = LearnedSelector(data, encoder=BagEncoder(), method="mf")
    path = sel.save(tmp_path / "sel.json")
    with np.load(tmp_path / "sel.npz") as arrays:
        kept = {k: arrays[k] for k in arrays.files}
    np.savez(tmp_path / "sel.npz", **{**kept, "mf_v": kept["mf_v"][:, :3]})
    with pytest.raises(RouteConfigError, match="shapes do not match"):
        LearnedSelector.load(path, encoder=BagEncoder())
    np.savez(tmp_path / "sel.npz", **{k: v for k, v in kept.items() if k != "mf_c"})
    with pytest.raises(RouteConfigError, match="factorisation arrays are missing"):
        LearnedSelector.load(path, encoder=BagEncoder())


def test_load_checks_encoder_version_and_arrays(tmp_path):
    data = load_dataset(write_dataset(tmp_path / "d.csv"))
    path = LearnedSelector(data, encoder=BagEncoder()).save(tmp_path / "sel.json")
    with pytest.raises(RouteConfigError, match="fitted with encoder 'test-bag-64'"):
        LearnedSelector.load(path)  # the default encoder is another one
    settings = json.loads(path.read_text())
    path.write_text(json.dumps({**settings, "version": 99}))
    with pytest.raises(RouteConfigError, match="version 99"):
        LearnedSelector.load(path, encoder=BagEncoder())
    path.write_text(json.dumps({**settings, "rows": 3}))
    with pytest.raises(RouteConfigError, match="shapes"):
        LearnedSelector.load(path, encoder=BagEncoder())
    path.write_text("{not json")
    with pytest.raises(RouteConfigError, match="not JSON"):
        LearnedSelector.load(path, encoder=BagEncoder())
    with pytest.raises(RouteConfigError, match="no such file"):
        LearnedSelector.load(tmp_path / "missing.json", encoder=BagEncoder())


def test_npz_with_pickled_objects_is_refused(tmp_path):
    data = load_dataset(write_dataset(tmp_path / "d.csv"))
    path = LearnedSelector(data, encoder=BagEncoder()).save(tmp_path / "sel.json")
    np.savez(tmp_path / "sel.npz", vectors=np.array([object()], dtype=object))
    with pytest.raises(RouteConfigError, match="not a valid saved LearnedSelector"):
        LearnedSelector.load(path, encoder=BagEncoder())


def test_corrupt_arrays_bad_rows_and_text_arrays_are_refused_naming_the_file(tmp_path):
    data = load_dataset(write_dataset(tmp_path / "d.csv"))
    path = LearnedSelector(data, encoder=BagEncoder()).save(tmp_path / "sel.json")
    npz = tmp_path / "sel.npz"
    with np.load(npz) as arrays:
        kept = {k: arrays[k] for k in arrays.files}
    npz.write_bytes(npz.read_bytes()[:100])  # truncated
    with pytest.raises(RouteConfigError, match=r"sel\.npz.*unreadable arrays"):
        LearnedSelector.load(path, encoder=BagEncoder())
    np.savez(npz, **kept)
    settings = json.loads(path.read_text())
    path.write_text(json.dumps({**settings, "rows": "many"}))
    with pytest.raises(RouteConfigError, match="'rows' must be an int"):
        LearnedSelector.load(path, encoder=BagEncoder())
    path.write_text(json.dumps(settings))
    np.savez(npz, **{**kept, "vectors": kept["vectors"].astype(str)})
    with pytest.raises(RouteConfigError, match="'vectors' is not numeric"):
        LearnedSelector.load(path, encoder=BagEncoder())


def test_feedback_memory_is_bounded_and_overwrites_the_oldest_rows():
    from routing_chat_model.selectors._predictors import Memory

    base = np.eye(3, 4, dtype=np.float32)
    mem = Memory(base, np.zeros((3, 2)), np.zeros((3, 2)), max_added=5)
    for i in range(12):
        vector = np.full(4, i, dtype=np.float32)
        mem.append(vector, model=i % 2, quality=1.0, cost=0.1)
    assert mem.n == 3 + 5  # training rows kept, then at most 5 added rows
    assert np.array_equal(mem.x[:3], base)
    kept = sorted(int(v) for v in mem.x[3 : mem.n, 0])
    assert kept == [7, 8, 9, 10, 11]  # the five most recent observations
    for row in range(3, mem.n):
        model = int(mem.x[row, 0]) % 2
        assert mem.q[row, model] == 1.0 and np.isnan(mem.q[row, 1 - model])
