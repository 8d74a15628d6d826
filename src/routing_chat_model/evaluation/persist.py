"""Saving and loading a `LearnedSelector` as plain JSON + `.npz` (no pickle, validated on load)."""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from routing_chat_model.encoders.adapters import as_encoder
from routing_chat_model.errors import RouteConfigError
from routing_chat_model.selectors._predictors import Factorization, Logistic, Memory, Ridge
from routing_chat_model.selectors.learned import FORMAT_VERSION, READABLE_VERSIONS, LearnedSelector

__all__ = [
    "invalid_file",
    "load_selector",
    "read_saved_arrays",
    "read_saved_json",
    "save_selector",
    "selector_paths",
    "set_willingness_to_pay",
]

_FORMAT = "routing-chat-model/learned-selector"


def selector_paths(path: Path) -> tuple[Path, Path]:
    """The settings (`.json`) and arrays (`.npz`) files of a saved selector at `path`."""
    base = path.with_suffix("") if path.suffix in (".json", ".npz") else path
    return base.with_suffix(".json"), base.with_suffix(".npz")


def _settings(selector: LearnedSelector) -> dict[str, Any]:
    wtp = selector.willingness_to_pay
    return {
        "format": _FORMAT,
        "version": FORMAT_VERSION,
        "method": selector.method,
        "models": list(selector.models),
        "model_map": selector.model_map,
        "encoder": selector.encoder.name,
        "k": selector.k,
        "ridge_alpha": selector.ridge_alpha,
        "logistic_alpha": selector.logistic_alpha,
        "mf_dim": selector.mf_dim,
        "mf_alpha": selector.mf_alpha,
        "willingness_to_pay": None if math.isinf(wtp) else wtp,
        "max_chars": selector.max_chars,
        "rows": selector._memory.n,
    }


def save_selector(selector: LearnedSelector, path: Path) -> Path:
    """Write the selector's settings and arrays (feedback rows included); returns the JSON path."""
    settings_path, arrays_path = selector_paths(path)
    settings_path.parent.mkdir(parents=True, exist_ok=True)
    with selector._lock:
        mem = selector._memory
        arrays: dict[str, Any] = {
            "vectors": mem.x[: mem.n].copy(),
            "quality": mem.q[: mem.n].copy(),
            "cost": mem.c[: mem.n].copy(),
        }
        if selector._ridge is not None:
            arrays["ridge_a"] = selector._ridge.a.copy()
            arrays["ridge_b"] = selector._ridge.b.copy()
        if selector._logistic is not None:
            arrays["logistic_w"] = selector._logistic.w.copy()
            arrays["logistic_h"] = selector._logistic.h.copy()
            arrays["ridge_a"] = selector._logistic.cost.a.copy()
            arrays["ridge_b"] = selector._logistic.cost.b.copy()
        if selector._mf is not None:
            mf = selector._mf
            arrays.update(mf_w=mf.w.copy(), mf_b=mf.b.copy(), mf_v=mf.v.copy(), mf_c=mf.c.copy())
            arrays["mf_h"] = mf.h.copy()
            arrays["ridge_a"] = mf.cost.a.copy()
            arrays["ridge_b"] = mf.cost.b.copy()
    settings = _settings(selector)
    settings["arrays"] = arrays_path.name
    with arrays_path.open("wb") as handle:
        np.savez_compressed(handle, **arrays)
    settings_path.write_text(json.dumps(settings, indent=2, allow_nan=False) + "\n", "utf-8")
    return settings_path


def invalid_file(path: Path, kind: str, what: str) -> RouteConfigError:
    """The error for a saved selector file that cannot be loaded, naming the file."""
    return RouteConfigError(f"{path}: not a valid saved {kind}: {what}.")


def read_saved_json(path: Path, fmt: str, kind: str) -> dict[str, Any]:
    """A saved selector's JSON settings, checked to be a dict of format `fmt`.

    Raises:
        RouteConfigError: the file is missing, not JSON, or of another format.
    """
    try:
        settings = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise RouteConfigError(f"{path}: no such file (save a selector with .save()).") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise invalid_file(path, kind, f"not JSON ({exc})") from None
    if not isinstance(settings, dict) or settings.get("format") != fmt:
        raise invalid_file(path, kind, f"'format' is not {fmt!r}")
    return settings


def read_saved_arrays(path: Path, kind: str) -> dict[str, np.ndarray[Any, Any]]:
    """A saved selector's `.npz` arrays, never unpickling anything.

    Raises:
        RouteConfigError: the file is missing, corrupt or truncated.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise RouteConfigError(f"{path}: no such file (it is saved next to the JSON).") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise invalid_file(path, kind, f"unreadable arrays ({type(exc).__name__})") from None


def _bad(path: Path, what: str) -> RouteConfigError:
    return invalid_file(path, "LearnedSelector", what)


def _read_settings(path: Path) -> dict[str, Any]:
    settings = read_saved_json(path, _FORMAT, "LearnedSelector")
    if settings.get("version") not in READABLE_VERSIONS:
        raise _bad(
            path,
            f"version {settings.get('version')!r}; this release reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}",
        )
    for key, kind in (("models", list), ("model_map", dict), ("encoder", str), ("k", int)):
        if not isinstance(settings.get(key), kind):
            raise _bad(path, f"'{key}' is missing or not a {kind.__name__}")
    return settings


def _read_arrays(path: Path, settings: dict[str, Any]) -> dict[str, np.ndarray[Any, Any]]:
    arrays = read_saved_arrays(path, "LearnedSelector")
    rows = settings.get("rows", -1)
    if isinstance(rows, bool) or not isinstance(rows, int):
        raise _bad(path, f"'rows' must be an int, got {rows!r}")
    n, m = rows, len(settings["models"])
    for name in ("vectors", "quality", "cost"):
        if name not in arrays:
            raise _bad(path, f"array {name!r} is missing")
    vectors, quality, cost = arrays["vectors"], arrays["quality"], arrays["cost"]
    if vectors.ndim != 2 or len(vectors) != n or quality.shape != (n, m) or cost.shape != (n, m):
        raise _bad(path, "array shapes do not match the settings")
    for name in ("vectors", "quality", "cost"):
        if not np.issubdtype(arrays[name].dtype, np.number):
            raise _bad(path, f"array {name!r} is not numeric ({arrays[name].dtype})")
    if not np.isfinite(vectors).all():
        raise _bad(path, "vectors hold NaN or infinite values")
    return arrays


def load_selector(cls: type[LearnedSelector], path: Path, encoder: object) -> LearnedSelector:
    """Load a selector saved by `save_selector`, checking format, version, shapes and encoder."""
    settings_path, _ = selector_paths(path)
    settings = _read_settings(settings_path)
    arrays = _read_arrays(settings_path.with_name(str(settings.get("arrays", ""))), settings)
    enc = as_encoder(encoder)
    if enc.name != settings["encoder"]:
        raise RouteConfigError(
            f"{settings_path}: fitted with encoder {settings['encoder']!r} but loaded with "
            f"{enc.name!r}; pass encoder=<the same encoder> to LearnedSelector.load."
        )
    selector = cls.__new__(cls)
    selector.encoder = enc
    selector._setup(
        models=[str(m) for m in settings["models"]],
        method=str(settings.get("method")),
        k=settings["k"],
        ridge_alpha=float(settings.get("ridge_alpha", 30.0)),
        logistic_alpha=float(settings.get("logistic_alpha", 10.0)),
        mf_dim=int(settings.get("mf_dim", 16)),
        mf_alpha=float(settings.get("mf_alpha", 2.0)),
        willingness_to_pay=settings.get("willingness_to_pay"),
        model_map={str(a): str(b) for a, b in settings["model_map"].items()},
        max_chars=int(settings.get("max_chars", 4000)),
        feedback_size=10_000,
    )
    vectors = np.asarray(arrays["vectors"], dtype=np.float32)
    selector._memory = Memory(vectors, arrays["quality"], arrays["cost"])
    selector._ridge = None
    selector._logistic = None
    if selector.method in ("ridge", "logistic", "mf"):
        if "ridge_a" not in arrays or "ridge_b" not in arrays:
            raise _bad(settings_path, "ridge arrays are missing")
        ridge = Ridge(arrays["ridge_a"].astype(np.float64), arrays["ridge_b"])
        if selector.method == "ridge":
            selector._ridge = ridge
        elif selector.method == "mf":
            selector._mf = _factorization(settings_path, arrays, ridge)
        else:
            selector._logistic = _logistic(settings_path, arrays, ridge)
    return selector


def _logistic(path: Path, arrays: dict[str, np.ndarray[Any, Any]], cost: Ridge) -> Logistic:
    if "logistic_w" not in arrays or "logistic_h" not in arrays:
        raise _bad(path, "logistic arrays are missing")
    w = arrays["logistic_w"].astype(np.float64)
    h = arrays["logistic_h"].astype(np.float64)
    if w.shape != cost.b.shape[1:] or h.shape != cost.a.shape[1:]:
        raise _bad(path, "logistic array shapes do not match the settings")
    return Logistic(w, h, cost)


def _factorization(
    path: Path, arrays: dict[str, np.ndarray[Any, Any]], cost: Ridge
) -> Factorization:
    names = ("mf_w", "mf_b", "mf_v", "mf_c", "mf_h")
    if any(name not in arrays for name in names):
        raise _bad(path, "matrix factorisation arrays are missing")
    w, b, v, c, h = (arrays[name].astype(np.float64) for name in names)
    m, d = cost.b.shape[1], cost.b.shape[2] - 1
    if w.ndim != 2 or w.shape[0] != d or b.shape != w.shape[1:] or v.shape != (m, w.shape[1]):
        raise _bad(path, "matrix factorisation array shapes do not match the settings")
    if c.shape != (m,) or h.shape != (m, w.shape[1] + 1, w.shape[1] + 1):
        raise _bad(path, "matrix factorisation array shapes do not match the settings")
    return Factorization(w, b, v, c, h, cost)


def set_willingness_to_pay(path: Path, value: float) -> Path:
    """Rewrite the knob of a saved selector in place; returns the JSON path."""
    settings_path, _ = selector_paths(path)
    settings = _read_settings(settings_path)
    settings["willingness_to_pay"] = None if math.isinf(value) else float(value)
    settings_path.write_text(json.dumps(settings, indent=2, allow_nan=False) + "\n", "utf-8")
    return settings_path
