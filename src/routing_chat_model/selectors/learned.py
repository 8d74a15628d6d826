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
- `method="mf"`: matrix factorisation in the RouteLLM style, `sigmoid(<v_m, W x + b> + c_m)`
  with a learned embedding per model and a learned projection of the prompt embedding (Adam on
  the cross-entropy of every observed (prompt, model) outcome). On RouterBench it tied with
  "logistic" over 12 held-out splits (a better log-loss; ahead on 4 splits, behind on 8 in
  cost to match the best model and AIQ), so "logistic" stays the default.

The knob is `willingness_to_pay`: how many USD one quality point (quality 0 -> 1, for example
one more correct answer) is worth. The selector picks, among the candidates, the model with the
highest utility `q - c / willingness_to_pay` (q predicted quality in [0, 1], c predicted cost in
USD); `math.inf` (the default) means "best predicted quality, cost breaks ties". Calibrate the
knob to a cost or quality target with `routing_chat_model.evaluation.calibrate`.

Feedback: `record_feedback(decision, quality)` adds the request's embedding with the observed
quality of the model that answered, so predictions move without a refit (kNN: one more memory
row; ridge: an exact recursive update of that model's regression; logistic: one online Newton
step on that model's regression, its Hessian kept as the Laplace posterior precision; mf: one
online Newton step on that model's embedding and bias).

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
from routing_chat_model.selectors._predictors import (
    Factorization,
    Logistic,
    Memory,
    Ridge,
    check_wtp,
    knn,
    unit,
)
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

Method = Literal["logistic", "knn", "ridge", "mf"]
METHODS: tuple[str, ...] = ("logistic", "knn", "ridge", "mf")
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
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


class LearnedSelector:
    """Routes to the model with the best predicted quality/cost trade-off for each request.

    Args:
        data: A `Dataset` (or a path to a CSV/JSONL dataset) with each model's quality and cost.
        encoder: Any encoder `as_encoder` accepts; None is the bundled offline encoder.
        method: "logistic" (default), "knn", "ridge" or "mf" (see the module docs).
        k: Neighbours for "knn"; default `default_k(len(data))`.
        ridge_alpha: L2 penalty of "ridge" and of the cost regression of "logistic".
        logistic_alpha: L2 penalty of "logistic"; default `default_logistic_alpha(len(data))`.
        mf_dim: Size of the model and prompt embeddings of "mf".
        mf_alpha: Weight decay of "mf" (2 was best on RouterBench; 1 and 3 did worse).
        willingness_to_pay: USD one quality point is worth; utility is `q - c / wtp`. None or
            `math.inf`: best predicted quality.
        model_map: Dataset model name -> your route name. When given, only mapped models are
            routable; default: every dataset model, under its own name.
        vectors: The dataset's embeddings, when already computed with this encoder.
        progress: Called `(done, total)` while embedding the dataset.
        max_chars: Request text beyond this many characters is not embedded.
        feedback_size: How many recent decisions keep their embedding for `record_feedback`.

    Observed outcomes (`record_feedback`, `add_observation`) join the kNN memory up to 100,000
    rows; past that each new one replaces the oldest, so memory stays flat in a long-running
    service.
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
        mf_dim: int = 16,
        mf_alpha: float = 2.0,
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
        x = unit(check_vectors(vectors, len(dataset), self.encoder.name))
        self._setup(
            models=dataset.models,
            method=method,
            k=default_k(len(dataset)) if k is None else k,
            ridge_alpha=ridge_alpha,
            logistic_alpha=(
                default_logistic_alpha(len(dataset)) if logistic_alpha is None else logistic_alpha
            ),
            mf_dim=mf_dim,
            mf_alpha=mf_alpha,
            willingness_to_pay=willingness_to_pay,
            model_map=model_map,
            max_chars=max_chars,
            feedback_size=feedback_size,
        )
        self._memory = Memory(x, dataset.quality, dataset.cost)
        self._ridge = (
            Ridge.fit(x, dataset.quality, dataset.cost, self.ridge_alpha)
            if method == "ridge"
            else None
        )
        self._logistic = (
            Logistic.fit(x, dataset.quality, dataset.cost, self.logistic_alpha)
            if method == "logistic"
            else None
        )
        self._mf: Factorization | None = (
            Factorization.fit(
                x,
                dataset.quality,
                dataset.cost,
                dim=self.mf_dim,
                alpha=self.mf_alpha,
                ridge_alpha=self.ridge_alpha,
            )
            if method == "mf"
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
        mf_dim: int,
        mf_alpha: float,
        willingness_to_pay: float | None,
        model_map: Mapping[str, str] | None,
        max_chars: int,
        feedback_size: int,
    ) -> None:
        if method not in METHODS:
            raise RouteConfigError(f"method={method!r}: use 'logistic', 'knn', 'ridge' or 'mf'.")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise RouteConfigError(f"k={k!r} must be an int >= 1 (neighbours averaged).")
        if not math.isfinite(ridge_alpha) or ridge_alpha <= 0:
            raise RouteConfigError(f"ridge_alpha={ridge_alpha!r} must be a finite number > 0.")
        if not math.isfinite(logistic_alpha) or logistic_alpha <= 0:
            raise RouteConfigError(
                f"logistic_alpha={logistic_alpha!r} must be a finite number > 0."
            )
        if isinstance(mf_dim, bool) or not isinstance(mf_dim, int) or mf_dim < 1:
            raise RouteConfigError(f"mf_dim={mf_dim!r} must be an int >= 1 (embedding size).")
        if not math.isfinite(mf_alpha) or mf_alpha < 0:
            raise RouteConfigError(f"mf_alpha={mf_alpha!r} must be a finite number >= 0.")
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
            "knn"
            if method == "knn"
            else "ridge"
            if method == "ridge"
            else "mf"
            if method == "mf"
            else "logistic"
        )
        self.k = k
        self.ridge_alpha = float(ridge_alpha)
        self.logistic_alpha = float(logistic_alpha)
        self.mf_dim = mf_dim
        self.mf_alpha = float(mf_alpha)
        self._mf = None
        self.willingness_to_pay = check_wtp(willingness_to_pay)
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
        x = unit(check_vectors(vectors, len(np.asarray(vectors)), self.encoder.name))
        return self._predict(x)

    def _predict(self, x: _F32) -> tuple[_F64, _F64]:
        with self._lock:
            if self._logistic is not None:
                return self._logistic.predict(x)
            if self._ridge is not None:
                return self._ridge.predict(x)
            if self._mf is not None:
                return self._mf.predict(x)
            mem = self._memory
            sims = (x @ mem.x[: mem.n].T).astype(np.float64)
            return knn(sims, mem.q[: mem.n], self.k), knn(sims, mem.c[: mem.n], self.k)

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
        return unit(check_vectors(self.encoder.encode([text]), 1, self.encoder.name))

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
        return self._decide(unit(check_vectors(raw, 1, self.encoder.name)), candidates)

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
            if self._mf is not None:
                self._mf.update(vector, model, float(quality), c)

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
