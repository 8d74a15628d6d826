"""`LearnedSelector`: predicts each model's quality and cost per request, picks the best trade-off.

It is fitted from a routing dataset (see `routing_chat_model.evaluation.dataset`): every prompt is
embedded once, and a request's expected quality and cost per model are predicted from the
prompts it resembles:

- `method="logistic"` (default): one L2-regularised logistic regression per model on the
  embedding (calibrated quality probabilities), and a ridge regression of log cost. On
  RouterBench it matched kNN on held-out data (mean over seeds, see `benchmarks/learned.py`) and
  decides in microseconds instead of scanning every training prompt.
- `method="knn"`: the similarity-weighted mean over the `k` nearest training prompts that have
  a value for the model (cosine similarity, weights `max(sim, 0)`).
- `method="ridge"`: one ridge regression per model on the embedding (quality, and log cost).

The knob is `willingness_to_pay`: how many USD one quality point (quality 0 -> 1, for example
one more correct answer) is worth. The selector picks, among the candidates, the model with the
highest utility `q - c / willingness_to_pay` (q predicted quality in [0, 1], c predicted cost in
USD); `math.inf` (the default) means "best predicted quality, cost breaks ties". Calibrate the
knob to a cost or quality target with `routing_chat_model.evaluation.calibrate`.

Feedback: `record_feedback(decision, quality)` adds the request's embedding with the observed
quality of the model that answered, so predictions move without a refit (kNN: one more memory
row; ridge: an exact recursive update of that model's regression; logistic: one online Newton
step on that model's regression, its Hessian kept as the Laplace posterior precision).

Saved as plain JSON + `.npz` (loaded with `allow_pickle=False`), never pickle.
"""

from __future__ import annotations

import math
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from routing_chat_model.encoders.adapters import as_encoder, check_vectors
from routing_chat_model.encoders.base import Encoder
from routing_chat_model.errors import RouteConfigError, RoutingInputError
from routing_chat_model.request import RoutingRequest
from routing_chat_model.selectors.base import Selection

__all__ = [
    "FORMAT_VERSION",
    "METHODS",
    "LearnedSelector",
    "Method",
    "default_k",
    "default_logistic_alpha",
    "feedback_id",
]

Method = Literal["logistic", "knn", "ridge"]
METHODS: tuple[str, ...] = ("logistic", "knn", "ridge")
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
_FORMAT = "routing-chat-model/learned-selector"
_F32 = npt.NDArray[np.float32]
_F64 = npt.NDArray[np.float64]
_ID = re.compile(r"[0-9a-f]{16}")
Progress = Callable[[int, int], None]


def feedback_id(decision: object) -> str:
    """The feedback id of a decision: a `RoutingDecision`, its dict, or the id itself.

    Raises:
        RoutingInputError: No learned-selector feedback id is in it.
    """
    if isinstance(decision, Mapping):
        token = decision.get("decision_id")
    elif isinstance(decision, str):
        token = decision
    else:
        token = getattr(decision, "decision_id", None)
    if not isinstance(token, str) or _ID.fullmatch(token) is None:
        raise RoutingInputError(
            "no feedback id in this decision: only decisions made by a LearnedSelector carry "
            "one (their decision_id)."
        )
    return token


def default_k(n_rows: int) -> int:
    """Neighbours used when `k` is not given: ~4.5 sqrt(n), in [5, 400] (tuned on RouterBench).

    Large neighbourhoods won on held-out data: per-prompt outcomes are noisy 0/1 values, so a
    wide average (close to a per-task mean) predicts better than a few close prompts.
    """
    return int(max(5, min(400, round(4.5 * math.sqrt(n_rows)))))


def default_logistic_alpha(n_rows: int) -> float:
    """L2 penalty of "logistic" when not given: n / 180 (~10 on RouterBench's 1,780 train rows).

    Tuned on RouterBench (1 and 30 did worse there); growing with n keeps the fit's balance of
    data and penalty, so small datasets are not shrunk to the mean.
    """
    return max(1e-3, n_rows / 180)


def _unit(vectors: _F32) -> _F32:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0))


def _check_wtp(value: float | None) -> float:
    if value is None:
        return math.inf
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise RouteConfigError(
            f"willingness_to_pay={value!r}: give USD per quality point, a number > 0 "
            "(math.inf or None for best quality whatever the cost)."
        )
    if value <= 0:
        raise RouteConfigError(
            f"willingness_to_pay={value!r} must be > 0 (USD one quality point is worth)."
        )
    return float(value)


class _Memory:
    """kNN memory: unit embeddings with per-model quality and cost (NaN = unknown), growable."""

    def __init__(self, vectors: _F32, quality: _F64, cost: _F64) -> None:
        self.n = len(vectors)
        cap = max(16, self.n)
        self.x = np.zeros((cap, vectors.shape[1]), dtype=np.float32)
        self.q = np.full((cap, quality.shape[1]), np.nan)
        self.c = np.full((cap, quality.shape[1]), np.nan)
        self.x[: self.n], self.q[: self.n], self.c[: self.n] = vectors, quality, cost

    def append(self, vector: _F32, model: int, quality: float, cost: float) -> None:
        if self.n == len(self.x):
            grow = len(self.x)
            self.x = np.concatenate([self.x, np.zeros((grow, self.x.shape[1]), np.float32)])
            self.q = np.concatenate([self.q, np.full((grow, self.q.shape[1]), np.nan)])
            self.c = np.concatenate([self.c, np.full((grow, self.c.shape[1]), np.nan)])
        self.x[self.n] = vector
        self.q[self.n, model] = quality
        self.c[self.n, model] = cost
        self.n += 1


def _knn(sims: _F64, values: _F64, k: int) -> _F64:
    """Per query row and model: similarity-weighted mean of the k nearest rows having a value.

    Weights are `max(sim, 0) + 1e-6`; rows without a value (NaN) never count as neighbours.
    """
    valid = ~np.isnan(values)  # (N, m)
    if valid.all():  # every row counts for every model: one neighbour search for all models
        kk = min(k, sims.shape[1])
        idx = np.argpartition(-sims, kk - 1, axis=1)[:, :kk] if kk < sims.shape[1] else None
        top = sims if idx is None else np.take_along_axis(sims, idx, axis=1)
        w = np.maximum(top, 0.0) + 1e-6
        vals = values[None] if idx is None else values[idx]  # (q, k, m)
        return np.asarray(np.einsum("qk,qkm->qm", w, vals) / w.sum(axis=1)[:, None])
    filled = np.where(valid, values, 0.0)
    out = np.empty((sims.shape[0], values.shape[1]))
    for lo in range(0, sims.shape[0], 64):
        s = np.where(valid.T[None], sims[lo : lo + 64, None, :], -np.inf)  # (q, m, N)
        kk = min(k, s.shape[2])
        idx = np.argpartition(-s, kk - 1, axis=2)[:, :, :kk] if kk < s.shape[2] else None
        top = s if idx is None else np.take_along_axis(s, idx, axis=2)
        w = np.where(np.isfinite(top), np.maximum(top, 0.0) + 1e-6, 0.0)
        cols = np.arange(values.shape[1])[None, :, None]
        vals = filled.T[None] if idx is None else filled[idx, cols]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[lo : lo + 64] = (w * vals).sum(axis=2) / w.sum(axis=2)
    return out


class _Ridge:
    """Per-model ridge regressions on [embedding, 1], kept as sufficient statistics."""

    def __init__(self, a: _F64, b: _F64) -> None:
        self.a, self.b = a, b  # (2, m, d+1, d+1), (2, m, d+1): [quality, log cost]
        self.w = np.stack([np.linalg.solve(a[t], b[t][..., None])[..., 0] for t in range(2)])

    @classmethod
    def fit(cls, x: _F32, quality: _F64, cost: _F64, alpha: float) -> _Ridge:
        z = np.hstack([x, np.ones((len(x), 1), np.float32)]).astype(np.float64)
        m, d = quality.shape[1], z.shape[1]
        a = np.zeros((2, m, d, d))
        b = np.zeros((2, m, d))
        for t, target in enumerate((quality, np.log(np.maximum(cost, 1e-12)))):
            for j in range(m):
                ok = ~np.isnan(quality[:, j])
                zj = z[ok]
                penalty = np.full(d, alpha)
                penalty[-1] = 1e-6  # the intercept is not shrunk (only kept invertible)
                a[t, j] = zj.T @ zj + np.diag(penalty)
                b[t, j] = zj.T @ target[ok, j]
        return cls(a, b)

    def predict(self, x: _F32) -> tuple[_F64, _F64]:
        z = np.hstack([x, np.ones((len(x), 1), np.float32)]).astype(np.float64)
        return np.clip(z @ self.w[0].T, 0.0, 1.0), np.exp(z @ self.w[1].T)

    def update(self, vector: _F32, model: int, quality: float, cost: float) -> None:
        z = np.append(vector, 1.0).astype(np.float64)
        targets = [(0, quality)] + ([] if math.isnan(cost) else [(1, math.log(max(cost, 1e-12)))])
        for t, y in targets:
            self.a[t, model] += np.outer(z, z)
            self.b[t, model] += z * y
            self.w[t, model] = np.linalg.solve(self.a[t, model], self.b[t, model])


def _sigmoid(z: _F64) -> _F64:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


class _Logistic:
    """Per-model L2 logistic regressions of quality on [embedding, 1] (soft 0..1 labels allowed).

    Keeps each model's weights and Hessian (the Laplace posterior precision), so feedback is one
    online Newton step; costs come from a ridge regression of log cost (`_Ridge`).
    """

    def __init__(self, w: _F64, h: _F64, cost: _Ridge) -> None:
        self.w, self.h, self.cost = w, h, cost  # (m, d+1), (m, d+1, d+1)
        self.wt = np.ascontiguousarray(w.T)
        self.ct = np.ascontiguousarray(cost.w[1].T)

    @classmethod
    def fit(cls, x: _F32, quality: _F64, cost: _F64, alpha: float) -> _Logistic:
        z = np.hstack([x, np.ones((len(x), 1), np.float32)]).astype(np.float64)
        m, d = quality.shape[1], z.shape[1]
        penalty = np.full(d, alpha)
        penalty[-1] = 1e-6  # the intercept is not shrunk
        w = np.zeros((m, d))
        h = np.zeros((m, d, d))
        for j in range(m):
            ok = ~np.isnan(quality[:, j])
            zj, y = z[ok], quality[ok, j]
            wj = np.zeros(d)
            for _ in range(30):  # Newton / IRLS; converges in ~6-10 steps
                p = _sigmoid(zj @ wj)
                hess = (zj * (p * (1 - p))[:, None]).T @ zj + np.diag(penalty)
                step = np.linalg.solve(hess, zj.T @ (p - y) + penalty * wj)
                wj -= step
                if float(np.abs(step).max()) < 1e-5:
                    break
            p = _sigmoid(zj @ wj)
            w[j] = wj
            h[j] = (zj * (p * (1 - p))[:, None]).T @ zj + np.diag(penalty)
        return cls(w, h, _Ridge.fit(x, quality, cost, alpha))

    def predict(self, x: _F32) -> tuple[_F64, _F64]:
        z = np.hstack([x, np.ones((len(x), 1), np.float32)]).astype(np.float64)
        return _sigmoid(z @ self.wt), np.exp(z @ self.ct)

    def update(self, vector: _F32, model: int, quality: float, cost: float) -> None:
        z = np.append(vector, 1.0).astype(np.float64)
        p = float(_sigmoid(np.asarray(z @ self.w[model])))
        self.h[model] += max(p * (1 - p), 1e-3) * np.outer(z, z)
        self.w[model] -= np.linalg.solve(self.h[model], z * (p - quality))
        self.wt[:, model] = self.w[model]
        self.cost.update(vector, model, quality, cost)
        self.ct[:, model] = self.cost.w[1, model]


class LearnedSelector:
    """Routes to the model with the best predicted quality/cost trade-off for each request.

    Args:
        data: A `Dataset` (or a path to a CSV/JSONL dataset) with each model's quality and cost.
        encoder: Any encoder `as_encoder` accepts; None is the bundled offline encoder.
        method: "logistic" (default), "knn" or "ridge" (see the module docs).
        k: Neighbours for "knn"; default `default_k(len(data))`.
        ridge_alpha: L2 penalty of "ridge" and of the cost regression of "logistic".
        logistic_alpha: L2 penalty of "logistic"; default `default_logistic_alpha(len(data))`.
        willingness_to_pay: USD one quality point is worth; utility is `q - c / wtp`. None or
            `math.inf`: best predicted quality.
        model_map: Dataset model name -> your route name. When given, only mapped models are
            routable; default: every dataset model, under its own name.
        vectors: The dataset's embeddings, when already computed with this encoder.
        progress: Called `(done, total)` while embedding the dataset.
        max_chars: Request text beyond this many characters is not embedded.
        feedback_size: How many recent decisions keep their embedding for `record_feedback`.
    """

    name = "learned"

    def __init__(
        self,
        data: Any,
        *,
        encoder: object = None,
        method: Method = "logistic",
        k: int | None = None,
        ridge_alpha: float = 30.0,
        logistic_alpha: float | None = None,
        willingness_to_pay: float | None = None,
        model_map: Mapping[str, str] | None = None,
        vectors: npt.ArrayLike | None = None,
        progress: Progress | None = None,
        max_chars: int = 4000,
        feedback_size: int = 10_000,
    ) -> None:
        from routing_chat_model.evaluation.dataset import Dataset, load_dataset

        dataset: Dataset = data if isinstance(data, Dataset) else load_dataset(data)
        self.encoder: Encoder = as_encoder(encoder)
        if vectors is None:
            vectors = embed(self.encoder, dataset.queries, progress)
        x = _unit(check_vectors(vectors, len(dataset), self.encoder.name))
        self._setup(
            models=dataset.models,
            method=method,
            k=default_k(len(dataset)) if k is None else k,
            ridge_alpha=ridge_alpha,
            logistic_alpha=(
                default_logistic_alpha(len(dataset)) if logistic_alpha is None else logistic_alpha
            ),
            willingness_to_pay=willingness_to_pay,
            model_map=model_map,
            max_chars=max_chars,
            feedback_size=feedback_size,
        )
        self._memory = _Memory(x, dataset.quality, dataset.cost)
        self._ridge = (
            _Ridge.fit(x, dataset.quality, dataset.cost, self.ridge_alpha)
            if method == "ridge"
            else None
        )
        self._logistic = (
            _Logistic.fit(x, dataset.quality, dataset.cost, self.logistic_alpha)
            if method == "logistic"
            else None
        )

    def _setup(
        self,
        *,
        models: Sequence[str],
        method: str,
        k: int,
        ridge_alpha: float,
        logistic_alpha: float,
        willingness_to_pay: float | None,
        model_map: Mapping[str, str] | None,
        max_chars: int,
        feedback_size: int,
    ) -> None:
        if method not in METHODS:
            raise RouteConfigError(f"method={method!r}: use 'logistic', 'knn' or 'ridge'.")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise RouteConfigError(f"k={k!r} must be an int >= 1 (neighbours averaged).")
        if not math.isfinite(ridge_alpha) or ridge_alpha <= 0:
            raise RouteConfigError(f"ridge_alpha={ridge_alpha!r} must be a finite number > 0.")
        if not math.isfinite(logistic_alpha) or logistic_alpha <= 0:
            raise RouteConfigError(
                f"logistic_alpha={logistic_alpha!r} must be a finite number > 0."
            )
        self.models: tuple[str, ...] = tuple(models)
        mapping = dict(model_map) if model_map is not None else {m: m for m in self.models}
        unknown = sorted(set(mapping) - set(self.models))
        if unknown:
            raise RouteConfigError(
                f"model_map names {unknown}, which are not dataset models; they are "
                f"{list(self.models)}."
            )
        if len(set(mapping.values())) != len(mapping):
            raise RouteConfigError("model_map maps two dataset models to the same route.")
        if not mapping:
            raise RouteConfigError("model_map is empty: map at least one dataset model.")
        self.model_map: dict[str, str] = mapping
        self._route_index = {route: self.models.index(m) for m, route in mapping.items()}
        self.method: Method = (
            "knn" if method == "knn" else "ridge" if method == "ridge" else "logistic"
        )
        self.k = k
        self.ridge_alpha = float(ridge_alpha)
        self.logistic_alpha = float(logistic_alpha)
        self.willingness_to_pay = _check_wtp(willingness_to_pay)
        self.max_chars = max_chars
        self._feedback_size = feedback_size
        self._recent: OrderedDict[str, tuple[_F32, int]] = OrderedDict()
        self._lock = threading.Lock()

    # -- predicting ----------------------------------------------------------------------------

    @property
    def route_names(self) -> frozenset[str]:
        """The user route names this selector can return (the mapped dataset models)."""
        return frozenset(self._route_index)

    def predict(self, vectors: npt.ArrayLike) -> tuple[_F64, _F64]:
        """Predicted quality and cost, `(n, len(models))` each, for unit-normalised embeddings."""
        x = _unit(check_vectors(vectors, len(np.asarray(vectors)), self.encoder.name))
        return self._predict(x)

    def _predict(self, x: _F32) -> tuple[_F64, _F64]:
        with self._lock:
            if self._logistic is not None:
                return self._logistic.predict(x)
            if self._ridge is not None:
                return self._ridge.predict(x)
            mem = self._memory
            sims = (x @ mem.x[: mem.n].T).astype(np.float64)
            return _knn(sims, mem.q[: mem.n], self.k), _knn(sims, mem.c[: mem.n], self.k)

    def choose(
        self, quality: _F64, cost: _F64, allowed: npt.NDArray[np.bool_], wtp: float | None = None
    ) -> npt.NDArray[np.intp]:
        """Per row, the dataset-model index with the best utility among `allowed` models."""
        w = self.willingness_to_pay if wtp is None else wtp
        util = self._utility(quality, cost, w)
        util = np.where(allowed & ~np.isnan(util), util, -np.inf)
        return np.asarray(util.argmax(axis=1), dtype=np.intp)

    @staticmethod
    def _utility(quality: _F64, cost: _F64, wtp: float) -> _F64:
        if math.isinf(wtp):  # best quality; among equals the cheaper (a tiny tie-break)
            return np.asarray(quality - 1e-9 * cost / np.nanmax(np.abs(cost) + 1e-12))
        return np.asarray(quality - cost / wtp)

    def _embed_one(self, text: str) -> _F32:
        return _unit(check_vectors(self.encoder.encode([text]), 1, self.encoder.name))

    def _decide(self, vector: _F32, candidates: Sequence[str]) -> Selection:
        routes = [r for r in candidates if r in self._route_index]
        if not routes:
            return Selection(route=None, reason="no learned route is a candidate")
        quality, cost = self._predict(vector)
        idx = [self._route_index[r] for r in routes]
        q, c = quality[0, idx], cost[0, idx]
        util = self._utility(q[None, :], c[None, :], self.willingness_to_pay)[0]
        best = int(np.argmax(np.where(np.isnan(util), -np.inf, util)))
        token = uuid.uuid4().hex[:16]
        with self._lock:
            self._recent[token] = (vector[0], idx[best])
            while len(self._recent) > self._feedback_size:
                self._recent.popitem(last=False)
        wtp = "inf" if math.isinf(self.willingness_to_pay) else f"{self.willingness_to_pay:.4g}"
        return Selection(
            route=routes[best],
            scores={r: round(float(u), 6) for r, u in zip(routes, util, strict=True)},
            reason=f"predicted quality {q[best]:.3f}, cost ${c[best]:.6f} (wtp ${wtp}/point)",
            decision_id=token,
        )

    def select(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """Pick the candidate with the best predicted utility `q - c / willingness_to_pay`."""
        text = request.text[: self.max_chars]
        if not text.strip():
            return Selection(route=None, reason="no text to route on")
        return self._decide(self._embed_one(text), candidates)

    async def aselect(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """Async `select`: a remote encoder is awaited."""
        text = request.text[: self.max_chars]
        if not text.strip():
            return Selection(route=None, reason="no text to route on")
        raw = await self.encoder.aencode([text])
        return self._decide(_unit(check_vectors(raw, 1, self.encoder.name)), candidates)

    # -- feedback ------------------------------------------------------------------------------

    def record_feedback(
        self, decision_or_id: object, quality: float, *, cost_usd: float | None = None
    ) -> None:
        """Add an observed outcome of a decision this selector made; predictions adapt at once.

        Args:
            decision_or_id: The `RoutingDecision` (or its dict, or `feedback_id(decision)`).
                The route credited is the one this selector chose.
            quality: The observed quality in [0, 1] (0/1 for failed/succeeded).
            cost_usd: The observed cost, when known.

        Raises:
            RoutingInputError: Unknown or expired id, or quality outside [0, 1].
        """
        token = feedback_id(decision_or_id)
        with self._lock:
            entry = self._recent.get(token)
        if entry is None:
            raise RoutingInputError(
                f"feedback id {token} is unknown or expired (the last {self._feedback_size} "
                "decisions are kept); use add_observation(text, route, quality) instead."
            )
        self._observe(entry[0], entry[1], quality, cost_usd)

    def add_observation(
        self, text: str, route: str, quality: float, *, cost_usd: float | None = None
    ) -> None:
        """Add an observed outcome of `route` (a user route name) on a prompt `text`."""
        if route not in self._route_index:
            raise RoutingInputError(f"route {route!r} is not one of {sorted(self._route_index)}.")
        self._observe(self._embed_one(text)[0], self._route_index[route], quality, cost_usd)

    def _observe(self, vector: _F32, model: int, quality: float, cost: float | None) -> None:
        if isinstance(quality, bool) or not 0.0 <= float(quality) <= 1.0:
            raise RoutingInputError(f"quality={quality!r} must be a number in [0, 1].")
        c = math.nan if cost is None else float(cost)
        if not math.isnan(c) and (not math.isfinite(c) or c < 0):
            raise RoutingInputError(f"cost_usd={cost!r} must be a finite number >= 0.")
        with self._lock:
            self._memory.append(vector, model, float(quality), c)
            if self._ridge is not None:
                self._ridge.update(vector, model, float(quality), c)
            if self._logistic is not None:
                self._logistic.update(vector, model, float(quality), c)

    # -- saving --------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write `<path>.json` (settings) and `<path>.npz` (arrays); returns the JSON path."""
        from routing_chat_model.evaluation.persist import save_selector

        return save_selector(self, Path(path))

    @classmethod
    def load(cls, path: str | Path, *, encoder: object = None) -> LearnedSelector:
        """Load a saved selector; `encoder` must be the one it was fitted with (checked by name).

        Raises:
            RouteConfigError: The files are missing, of another version, or inconsistent.
        """
        from routing_chat_model.evaluation.persist import load_selector

        return load_selector(cls, Path(path), encoder)

    def __repr__(self) -> str:
        return (
            f"LearnedSelector(method={self.method!r}, models={len(self.models)}, "
            f"rows={self._memory.n}, routes={sorted(self._route_index)}, "
            f"willingness_to_pay={self.willingness_to_pay!r}, encoder={self.encoder.name!r})"
        )


def embed(encoder: Encoder, texts: Sequence[str], progress: Progress | None = None) -> _F32:
    """Embed `texts` in batches of 64, reporting `(done, total)` to `progress`."""
    chunks: list[_F32] = []
    total = len(texts)
    for start in range(0, total, 64):
        batch = list(texts[start : start + 64])
        chunks.append(check_vectors(encoder.encode(batch), len(batch), encoder.name))
        if progress is not None:
            progress(min(start + 64, total), total)
    if not chunks:
        raise RouteConfigError("the dataset has no prompts to fit on.")
    return np.concatenate(chunks)
