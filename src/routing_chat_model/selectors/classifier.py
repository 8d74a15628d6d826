"""`ClassifierSelector`: a small classifier fitted on labelled examples, with calibrated confidence.

Where `EmbeddingSelector` compares a request with every example, this selector learns from the
examples once: each is embedded (any encoder; the bundled offline one by default), and an
L2-regularised multinomial logistic regression is fitted on the standardised embeddings. Its
probabilities are calibrated by temperature scaling: a stratified slice of the examples is held
out, the model fitted on the rest, and one temperature fitted on the held-out slice; the model
is then refitted on every example (warm-started) and keeps that temperature. A request goes to
the route with the highest calibrated probability, or abstains (the router's default answers)
when that probability is below `threshold`.

Labels may be finer than routes: fit on intents and map them to routes with `route_of`; a
route's probability is then the sum of its labels'. On CLINC150 this lifts domain accuracy
well above a classifier fitted on the domains directly (see `benchmarks/classifier.py`).

Saved as JSON settings + `.npz` arrays (loaded with `allow_pickle=False`), never pickle.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from typing_extensions import Self

from routing_chat_model.encoders.adapters import as_encoder, check_vectors
from routing_chat_model.encoders.base import Encoder
from routing_chat_model.errors import RouteConfigError
from routing_chat_model.request import RoutingRequest
from routing_chat_model.selectors._softmax import (
    check_route_of,
    fit_softmax,
    fit_temperature,
    held_out,
    parse_examples,
    softmax,
)
from routing_chat_model.selectors.base import Selection

__all__ = ["ClassifierSelector", "Examples"]

Examples = Mapping[str, Sequence[str]] | Iterable[tuple[str, str]]
"""Labelled examples: label -> texts, or (text, label) pairs."""

_FORMAT = "routing-chat-model/classifier-selector"
_VERSION = 1
_F32 = npt.NDArray[np.float32]
_F64 = npt.NDArray[np.float64]


class ClassifierSelector:
    """Routes a request with a logistic-regression classifier over its embedding.

    Build it unfitted and call `fit(examples)`, or in one step with `from_examples`.

    Args:
        encoder: Any `Encoder`, a LangChain `Embeddings`, a LlamaIndex `BaseEmbedding` or a
            function `list[str] -> vectors`. None means the bundled offline WordLlama encoder.
        threshold: Calibrated probability in [0, 1]; a best route below it abstains. None
            never abstains; 0.0 is a real threshold. Probabilities are over every route the
            classifier knows, also when some are not candidates, so a request that looks like
            a route a gate excluded abstains instead of being forced onto another route.
        l2: L2 penalty of the weights (on standardised embeddings); larger is smoother.
        max_iter: L-BFGS iterations at most, per fit.
        calibration: Share of each label's examples held out to fit the temperature, in
            [0, 0.5); 0 skips calibration. It is skipped too (temperature 1) when fewer than
            20 examples would be held out: the probabilities are then the model's own.
        seed: Seed of the held-out split (fits are deterministic).
        max_chars: The routing text is cut to this many characters before encoding.
    """

    name = "classifier"

    def __init__(
        self,
        encoder: object | None = None,
        threshold: float | None = None,
        *,
        l2: float = 1e-3,
        max_iter: int = 300,
        calibration: float = 0.2,
        seed: int = 0,
        max_chars: int = 4000,
    ) -> None:
        self.encoder: Encoder = as_encoder(encoder)
        self.threshold = threshold
        if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not 0 < l2 < math.inf:
            raise RouteConfigError(f"ClassifierSelector l2={l2!r} must be a finite number > 0.")
        if (
            isinstance(calibration, bool)
            or not isinstance(calibration, (int, float))
            or not 0 <= calibration < 0.5
        ):
            raise RouteConfigError(
                f"ClassifierSelector calibration={calibration!r} must be in [0, 0.5) (the share "
                "of examples held out to calibrate; 0 turns calibration off)."
            )
        for field_name, value in (("max_iter", max_iter), ("max_chars", max_chars)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RouteConfigError(
                    f"ClassifierSelector {field_name} must be an int >= 1, got {value!r}."
                )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise RouteConfigError(f"ClassifierSelector seed must be an int, got {seed!r}.")
        self.l2 = float(l2)
        self.max_iter = max_iter
        self.calibration = float(calibration)
        self.seed = seed
        self.max_chars = max_chars
        self.labels: tuple[str, ...] = ()
        self.route_of: dict[str, str] = {}
        self.temperature = 1.0
        self.calibrated = False
        self._routes: tuple[str, ...] = ()
        self._weights: _F32 | None = None  # (d, k): standardisation and temperature folded in
        self._bias: _F32 = np.zeros(0, dtype=np.float32)
        self._to_route: _F32 = np.zeros((0, 0), dtype=np.float32)  # (k labels, r routes)
        self._raw: tuple[_F64, _F64, _F64, _F64] | None = None  # w, b, mean, scale (saved)

    # -- settings -------------------------------------------------------------------------------

    @property
    def threshold(self) -> float | None:
        """The abstain threshold on the calibrated top probability (None: never abstain)."""
        return self._threshold

    @threshold.setter
    def threshold(self, value: float | None) -> None:
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not 0.0 <= value <= 1.0
        ):
            raise RouteConfigError(
                f"ClassifierSelector threshold={value!r}: a threshold is a probability in "
                "[0, 1] (or None to never abstain)."
            )
        self._threshold = None if value is None else float(value)

    @property
    def route_names(self) -> frozenset[str] | None:
        """The routes this selector can return (None before it is fitted)."""
        return frozenset(self._routes) if self._weights is not None else None

    @property
    def fitted(self) -> bool:
        """Whether `fit` (or `load`) has given the selector a model."""
        return self._weights is not None

    # -- fitting --------------------------------------------------------------------------------

    @classmethod
    def from_examples(
        cls,
        examples: Examples,
        encoder: object | None = None,
        threshold: float | None = None,
        *,
        route_of: Mapping[str, str] | None = None,
        vectors: npt.ArrayLike | None = None,
        **settings: Any,
    ) -> ClassifierSelector:
        """Build and fit in one step; `settings` are the constructor's keyword arguments."""
        return cls(encoder, threshold, **settings).fit(examples, route_of=route_of, vectors=vectors)

    def fit(
        self,
        examples: Examples,
        *,
        route_of: Mapping[str, str] | None = None,
        vectors: npt.ArrayLike | None = None,
    ) -> Self:
        """Fit the classifier (and its temperature) on labelled examples; returns self.

        Args:
            examples: Label -> example texts (`{"billing": [...], "chat": [...]}`) or an
                iterable of `(text, label)` pairs.
            route_of: Label -> route, when labels are finer than routes (intents -> models);
                default: every label is a route.
            vectors: The examples' embeddings by this encoder, in example order (label by
                label for a mapping), when already computed.

        Raises:
            RouteConfigError: Fewer than 2 routes, an empty text or label, a label that
                `route_of` does not map, or `vectors` of the wrong shape.
            EncoderError: The encoder returned NaN, infinite or misshapen vectors.
        """
        texts, labels = parse_examples(examples)
        names = tuple(dict.fromkeys(labels))
        mapping = check_route_of(names, route_of)
        raw = self.encoder.encode(texts) if vectors is None else vectors
        x = _unit(check_vectors(raw, len(texts), self.encoder.name))
        index = {label: i for i, label in enumerate(names)}
        y = np.array([index[label] for label in labels], dtype=np.intp)
        mean = x.mean(axis=0)
        scale = x.std(axis=0) + 1e-6
        z = ((x - mean) / scale).astype(np.float32)
        held = held_out(y, self.calibration, self.seed)
        init = None
        temperature, calibrated = 1.0, False
        if held is not None:
            train = np.ones(len(y), dtype=bool)
            train[held] = False
            w, b = fit_softmax(z[train], y[train], len(names), self.l2, self.max_iter)
            logits = z[held].astype(np.float64) @ w + b
            temperature, calibrated = fit_temperature(logits, y[held]), True
            init = (w, b)
        w, b = fit_softmax(z, y, len(names), self.l2, self.max_iter, init)
        self._install(names, mapping, w, b, mean.astype(np.float64), scale.astype(np.float64))
        self.temperature, self.calibrated = float(temperature), calibrated
        self._fold()
        return self

    def _install(
        self,
        labels: tuple[str, ...],
        route_of: dict[str, str],
        w: _F64,
        b: _F64,
        mean: _F64,
        scale: _F64,
    ) -> None:
        self.labels = labels
        self.route_of = route_of
        self._routes = tuple(dict.fromkeys(route_of[label] for label in labels))
        to_route = np.zeros((len(labels), len(self._routes)), dtype=np.float32)
        for i, label in enumerate(labels):
            to_route[i, self._routes.index(route_of[label])] = 1.0
        self._to_route = to_route
        self._raw = (w, b, mean, scale)

    def _fold(self) -> None:
        """Fold standardisation and temperature into one affine map of the unit embedding."""
        assert self._raw is not None
        w, b, mean, scale = self._raw
        folded = w / scale[:, None]
        self._weights = (folded / self.temperature).astype(np.float32)
        self._bias = ((b - mean @ folded) / self.temperature).astype(np.float32)

    # -- selecting ------------------------------------------------------------------------------

    def probabilities(self, vectors: npt.ArrayLike) -> _F64:
        """Calibrated route probabilities `(n, len(routes))` of embeddings, in route order."""
        weights = self._model()
        x = _unit(
            check_vectors(vectors, len(np.asarray(vectors)), self.encoder.name, weights.shape[0])
        )
        logits = (x @ weights + self._bias).astype(np.float64)
        return np.asarray(softmax(logits) @ self._to_route, dtype=np.float64)

    @property
    def routes(self) -> tuple[str, ...]:
        """The routes, in the order of `probabilities` columns."""
        return self._routes

    def _model(self) -> _F32:
        if self._weights is None:
            raise RouteConfigError(
                "ClassifierSelector is not fitted: call .fit(examples) or build it with "
                "ClassifierSelector.from_examples(...) (or .load(path)) before routing."
            )
        return self._weights

    def _decide(self, raw: object, candidates: Sequence[str]) -> Selection:
        weights = self._model()
        vector = check_vectors(raw, 1, self.encoder.name, weights.shape[0])
        if not vector.any():
            return Selection(route=None, reason="query embedding is all zeros")
        probs = self.probabilities(vector)[0]
        allowed = [i for i, route in enumerate(self._routes) if route in candidates]
        shown = {self._routes[i]: round(float(probs[i]), 4) for i in allowed}
        if not allowed:
            return Selection(route=None, scores=shown, reason="no route is a candidate")
        best = max(allowed, key=lambda i: (probs[i], -i))
        kind = "calibrated probability" if self.calibrated else "probability"
        if self._threshold is not None and probs[best] < self._threshold:
            return Selection(
                route=None,
                scores=shown,
                reason=f"top {kind} {probs[best]:.3f} ({self._routes[best]}) below threshold "
                f"{self._threshold:.3f}",
            )
        return Selection(route=self._routes[best], scores=shown, reason=f"{kind} {probs[best]:.3f}")

    def select(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """Classify the request's text and pick the most probable candidate route."""
        self._model()
        text = request.text[: self.max_chars]
        if not text.strip():
            return Selection(route=None, reason="no text to route on")
        return self._decide(self.encoder.encode([text]), candidates)

    async def aselect(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """Async `select`: a remote encoder is awaited, never called blocking."""
        self._model()
        text = request.text[: self.max_chars]
        if not text.strip():
            return Selection(route=None, reason="no text to route on")
        return self._decide(await self.encoder.aencode([text]), candidates)

    # -- saving ---------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write `<path>.json` (settings) and `<path>.npz` (arrays); returns the JSON path."""
        from routing_chat_model.evaluation.persist import selector_paths

        self._model()
        assert self._raw is not None
        settings_path, arrays_path = selector_paths(Path(path))
        settings_path.parent.mkdir(parents=True, exist_ok=True)
        w, b, mean, scale = self._raw
        with arrays_path.open("wb") as handle:
            np.savez_compressed(handle, weights=w, bias=b, mean=mean, scale=scale)
        settings = {
            "format": _FORMAT,
            "version": _VERSION,
            "encoder": self.encoder.name,
            "labels": list(self.labels),
            "route_of": self.route_of,
            "threshold": self._threshold,
            "temperature": self.temperature,
            "calibrated": self.calibrated,
            "l2": self.l2,
            "max_iter": self.max_iter,
            "calibration": self.calibration,
            "seed": self.seed,
            "max_chars": self.max_chars,
            "arrays": arrays_path.name,
        }
        settings_path.write_text(json.dumps(settings, indent=2, allow_nan=False) + "\n", "utf-8")
        return settings_path

    @classmethod
    def load(cls, path: str | Path, *, encoder: object | None = None) -> ClassifierSelector:
        """Load a saved selector; `encoder` must be the one it was fitted with (checked by name).

        Raises:
            RouteConfigError: The files are missing, of another format or version, or
                inconsistent (shapes, non-finite values, unmapped labels).
        """
        from routing_chat_model.evaluation.persist import selector_paths

        settings_path, _ = selector_paths(Path(path))
        settings = _read_settings(settings_path)
        try:
            selector = cls(
                encoder,
                None,
                l2=settings["l2"],
                max_iter=settings["max_iter"],
                calibration=settings["calibration"],
                seed=settings["seed"],
                max_chars=settings["max_chars"],
            )
            selector.threshold = settings["threshold"]
            labels = tuple(settings["labels"])
            mapping = check_route_of(labels, settings["route_of"])
        except RouteConfigError as exc:  # a saved setting out of range: name the file
            raise _bad(settings_path, str(exc)) from None
        if selector.encoder.name != settings["encoder"]:
            raise RouteConfigError(
                f"{settings_path}: fitted with encoder {settings['encoder']!r} but loaded with "
                f"{selector.encoder.name!r}; pass encoder=<the same encoder> to "
                "ClassifierSelector.load."
            )
        arrays = _read_arrays(settings_path.with_name(str(settings["arrays"])), len(labels))
        selector._install(labels, mapping, *arrays)
        selector.temperature = float(settings["temperature"])
        selector.calibrated = bool(settings["calibrated"])
        selector._fold()
        return selector

    def __repr__(self) -> str:
        state = (
            f"routes={list(self._routes)}, labels={len(self.labels)}, "
            f"temperature={self.temperature:.3g}"
            if self.fitted
            else "unfitted"
        )
        return (
            f"ClassifierSelector({state}, encoder={self.encoder.name!r}, "
            f"threshold={self._threshold!r})"
        )


def _unit(vectors: _F32) -> _F32:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0))


def _bad(path: Path, what: str) -> RouteConfigError:
    from routing_chat_model.evaluation.persist import invalid_file

    return invalid_file(path, "ClassifierSelector", what)


def _read_settings(path: Path) -> dict[str, Any]:
    from routing_chat_model.evaluation.persist import read_saved_json

    settings = read_saved_json(path, _FORMAT, "ClassifierSelector")
    if settings.get("version") != _VERSION:
        raise _bad(path, f"version {settings.get('version')!r}; this release reads {_VERSION}")
    kinds: dict[str, type | tuple[type, ...]] = {
        "encoder": str,
        "labels": list,
        "route_of": dict,
        "temperature": (int, float),
        "calibrated": bool,
        "l2": (int, float),
        "max_iter": int,
        "calibration": (int, float),
        "seed": int,
        "max_chars": int,
        "arrays": str,
    }
    for key, kind in kinds.items():
        if not isinstance(settings.get(key), kind):
            raise _bad(path, f"'{key}' is missing or of the wrong type")
    threshold = settings.get("threshold", False)
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, (int, float))
    ):
        raise _bad(path, "'threshold' is missing or of the wrong type")
    if Path(settings["arrays"]).name != settings["arrays"] or not settings["arrays"].strip():
        raise _bad(path, "'arrays' must be a file name next to the JSON")
    labels = settings["labels"]
    if len(set(labels)) != len(labels) or not all(isinstance(x, str) and x for x in labels):
        raise _bad(path, "'labels' must be distinct non-empty strings")
    temperature = settings["temperature"]
    if isinstance(temperature, bool) or not 0 < temperature < math.inf:
        raise _bad(path, "'temperature' must be a finite number > 0")
    return settings


def _read_arrays(path: Path, k: int) -> tuple[_F64, _F64, _F64, _F64]:
    from routing_chat_model.evaluation.persist import read_saved_arrays

    raw = read_saved_arrays(path, "ClassifierSelector")
    try:
        arrays = {name: np.asarray(value, dtype=np.float64) for name, value in raw.items()}
    except (TypeError, ValueError) as exc:
        raise _bad(path, f"unreadable arrays ({type(exc).__name__})") from None
    names = ("weights", "bias", "mean", "scale")
    missing = [n for n in names if n not in arrays]
    if missing:
        raise _bad(path, f"array(s) {missing} missing")
    w, b, mean, scale = (arrays[n] for n in names)
    d = mean.shape[0] if mean.ndim == 1 else -1
    if w.shape != (d, k) or b.shape != (k,) or scale.shape != (d,) or d < 1:
        raise _bad(path, "array shapes do not match the labels")
    if not all(np.isfinite(a).all() for a in (w, b, mean, scale)) or (scale <= 0).any():
        raise _bad(path, "arrays hold NaN, infinite or non-positive scale values")
    return w, b, mean, scale
