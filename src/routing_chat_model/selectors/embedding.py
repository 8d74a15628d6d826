"""`EmbeddingSelector`: routes described by example utterances, scored by cosine similarity."""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from routing_chat_model.encoders.adapters import check_vectors
from routing_chat_model.encoders.base import Encoder
from routing_chat_model.errors import EncoderError, RouteConfigError
from routing_chat_model.request import RoutingRequest
from routing_chat_model.selectors.base import Selection

__all__ = ["Aggregation", "EmbeddingSelector", "OnEncoderError"]

Aggregation = Literal["top_k", "max", "centroid"]
"""How a route's score comes from its examples: the mean of the `top_k` most similar examples
(default), the single most similar one (`max`), or the similarity to the route's mean vector."""

OnEncoderError = Literal["raise", "default"]
"""What a failing encoder does to a call: "raise" an `EncoderError` (the default), or "default":
abstain, so the router's default model answers and the decision's reason names the failure."""

_F32 = npt.NDArray[np.float32]

DEGRADED = "selector degraded"
"""How the reason of a selection made without a usable embedding starts."""


class _DimensionMismatch(EncoderError):
    """Query and route vectors differ in width: a configuration error, raised under any policy."""


class _Index:
    """Route examples embedded once: normalised vectors laid out for vectorised scoring."""

    def __init__(self, vectors: _F32, counts: Sequence[int], top_k: int) -> None:
        self.dim = vectors.shape[1]
        self.examples = vectors
        n_routes, width = len(counts), max(counts)
        # gather[r, j] indexes the j-th example of route r; padding points at a -inf slot.
        pad = vectors.shape[0]
        self.gather = np.full((n_routes, width), pad, dtype=np.intp)
        start = 0
        for r, n in enumerate(counts):
            self.gather[r, :n] = np.arange(start, start + n)
            start += n
        self.k = min(top_k, width)
        self.k_per_route = np.minimum(np.asarray(counts), top_k).astype(np.float32)
        centroids = np.stack(
            [vectors[self.gather[r, :n]].mean(axis=0) for r, n in enumerate(counts)]
        )
        norms = _norms(centroids)
        self.centroids = (centroids / np.where(norms == 0, 1, norms)).astype(np.float32)

    def scores(self, query: _F32, aggregation: Aggregation) -> _F32:
        if aggregation == "centroid":
            return np.asarray(self.centroids @ query, dtype=np.float32)
        sims = np.append(self.examples @ query, np.float32(-np.inf))[self.gather]
        if aggregation == "max":
            return np.asarray(sims.max(axis=1), dtype=np.float32)
        width = sims.shape[1]
        top = np.partition(sims, width - self.k, axis=1)[:, width - self.k :]
        top = np.where(np.isfinite(top), top, np.float32(0))
        return np.asarray(top.sum(axis=1) / self.k_per_route, dtype=np.float32)


class EmbeddingSelector:
    """Routes a request to the route whose example utterances it is most similar to.

    Each route is a list of example texts. They are embedded once (lazily, on first use); a
    query is embedded (with a bounded LRU cache keyed by a hash of its text, so no prompt text
    is kept) and scored against every route at once with numpy.

    Args:
        routes: Route (model) name -> example utterances.
        encoder: Any `Encoder`, a LangChain `Embeddings`, a LlamaIndex `BaseEmbedding` or a
            function `list[str] -> vectors`. None means the bundled offline WordLlama encoder.
        threshold: Cosine similarity in [-1, 1]; a best score below it abstains (the router's
            default answers). None never abstains; 0.0 is a real threshold.
        thresholds: Per-route thresholds overriding `threshold`.
        aggregation: How a route's score is computed from its examples (see `Aggregation`).
        top_k: Examples averaged per route with `aggregation="top_k"`.
        cache_size: Query embeddings kept (LRU); 0 disables the cache.
        max_chars: Only the first `max_chars` characters of the routing text are embedded
            (default 4000, about 1,000 tokens). The cut keeps the time and memory of a huge
            prompt bounded and its route deterministic, and stays inside common encoders' input
            limits (OpenAI and nomic embeddings take 8,192 tokens; WordLlama has no limit but
            costs time in proportion to the text). Encoders with a smaller limit (512-token
            sentence-transformers) truncate further on their side.
        on_encoder_error: What an encoder failure does to a call: an exception from the encoder,
            a timeout, NaN or infinite values, or an all-zero vector for a route example.
            "raise" (default) raises `EncoderError` (the original exception is its
            `__cause__`); "default" abstains, so the router's default model answers and the
            decision's reason reads "selector degraded: encoder '<name>' failed (<error type>)".
            No other encoder is ever tried. A query and routes of different widths always
            raise: that is a configuration error, not an outage.
        encoder_timeout_s: Longest wait for one encoder call during `aselect` (route examples
            on first use, then the query); exceeding it counts as an encoder failure. Sync
            `select` cannot interrupt an encoder: give a remote encoder its own client timeout
            (`OpenAICompatibleEncoder(timeout=...)`), whose error then follows
            `on_encoder_error`.

    Text that is empty or whitespace abstains without calling the encoder (reason "no text to
    route on"), and a query that embeds to the zero vector abstains (reason "selector
    degraded: query embedding is all zeros"): neither carries a signal to route on. Scores
    equal to a threshold route (the comparison is inclusive); equal best scores go to the
    route declared first.
    """

    name = "embedding"

    def __init__(
        self,
        routes: Mapping[str, Sequence[str]],
        encoder: object | None = None,
        threshold: float | None = None,
        *,
        thresholds: Mapping[str, float] | None = None,
        aggregation: Aggregation = "top_k",
        top_k: int = 3,
        cache_size: int = 4096,
        max_chars: int = 4000,
        on_encoder_error: OnEncoderError = "raise",
        encoder_timeout_s: float | None = None,
    ) -> None:
        from routing_chat_model.encoders import as_encoder

        self._names, self._examples = _check_routes(routes)
        self.threshold = _check_threshold("threshold", threshold)
        self.thresholds = {
            route: _check_threshold(f"thresholds[{route!r}]", value)
            for route, value in (thresholds or {}).items()
        }
        unknown = set(self.thresholds) - set(self._names)
        if unknown:
            raise RouteConfigError(
                f"EmbeddingSelector thresholds name unknown route(s) {sorted(unknown)}; "
                f"routes are {list(self._names)}."
            )
        if aggregation not in ("top_k", "max", "centroid"):
            raise RouteConfigError(
                f"EmbeddingSelector aggregation={aggregation!r}: use 'top_k', 'max' or 'centroid'."
            )
        for field_name, value, low in (
            ("top_k", top_k, 1),
            ("cache_size", cache_size, 0),
            ("max_chars", max_chars, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise RouteConfigError(
                    f"EmbeddingSelector {field_name} must be an int >= {low}, got {value!r}."
                )
        if on_encoder_error not in ("raise", "default"):
            raise RouteConfigError(
                f"EmbeddingSelector on_encoder_error={on_encoder_error!r}: use 'raise' (an "
                "EncoderError reaches the caller) or 'default' (the default model answers)."
            )
        if encoder_timeout_s is not None and (
            isinstance(encoder_timeout_s, bool)
            or not isinstance(encoder_timeout_s, (int, float))
            or not math.isfinite(encoder_timeout_s)
            or encoder_timeout_s <= 0
        ):
            raise RouteConfigError(
                f"EmbeddingSelector encoder_timeout_s={encoder_timeout_s!r}: use a finite number "
                "of seconds > 0, or None for no limit."
            )
        self.on_encoder_error: OnEncoderError = on_encoder_error
        self.encoder_timeout_s = None if encoder_timeout_s is None else float(encoder_timeout_s)
        self.aggregation: Aggregation = aggregation
        self.top_k = top_k
        self.max_chars = max_chars
        self.encoder: Encoder = as_encoder(encoder)
        self._cut = np.array(
            [
                self.thresholds.get(r, -math.inf if threshold is None else threshold)
                for r in self._names
            ],
            dtype=np.float32,
        )
        self._index: _Index | None = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[bytes, _F32] = OrderedDict()
        self._cache_size = cache_size

    @property
    def route_names(self) -> frozenset[str]:
        """The routes this selector scores."""
        return frozenset(self._names)

    # -- building the index -------------------------------------------------------------------

    def _build(self, vectors: object) -> _Index:
        flat = [text for examples in self._examples for text in examples]
        matrix = _normalise(check_vectors(vectors, len(flat), self.encoder.name), self.encoder.name)
        return _Index(matrix, [len(e) for e in self._examples], self.top_k)

    def _ensure_index(self) -> _Index:
        if self._index is None:
            with self._lock:
                if self._index is None:
                    flat = [text for examples in self._examples for text in examples]
                    self._index = self._build(self.encoder.encode(flat))
        return self._index

    async def _aensure_index(self) -> _Index:
        if self._index is None:
            flat = [text for examples in self._examples for text in examples]
            index = self._build(await self._aencode(flat))
            with self._lock:
                if self._index is None:
                    self._index = index
        return self._index

    async def _aencode(self, texts: list[str]) -> object:
        if self.encoder_timeout_s is None:
            return await self.encoder.aencode(texts)
        try:
            return await asyncio.wait_for(self.encoder.aencode(texts), self.encoder_timeout_s)
        except asyncio.TimeoutError:
            raise EncoderError(
                f"encoder {self.encoder.name!r} gave no answer within encoder_timeout_s="
                f"{self.encoder_timeout_s:g}"
            ) from None

    def warm(self) -> EmbeddingSelector:
        """Load the encoder and embed the route examples now rather than on the first call."""
        self._ensure_index()
        return self

    # -- scoring ------------------------------------------------------------------------------

    def _key(self, text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def _cached(self, key: bytes) -> _F32 | None:
        with self._lock:
            vector = self._cache.get(key)
            if vector is not None:
                self._cache.move_to_end(key)
            return vector

    def _remember(self, key: bytes, vector: _F32) -> None:
        if self._cache_size == 0:
            return
        with self._lock:
            self._cache[key] = vector
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _query(self, raw: object, index: _Index) -> _F32:
        array = check_vectors(raw, 1, self.encoder.name)
        if array.shape[1] != index.dim:
            raise _DimensionMismatch(
                f"encoder {self.encoder.name!r} returned {array.shape[1]}-dimensional vectors "
                f"where {index.dim} were expected; embed the routes and the queries with the "
                "same encoder (and the same dimensions)"
            )
        vector = array[0].astype(np.float64)
        norm = float(_norms(array)[0, 0])
        return np.asarray(vector / norm if norm > 0 else vector, dtype=np.float32)

    def _failed(self, exc: Exception) -> Selection:
        """The policy for an encoder failure: raise `EncoderError`, or abstain saying why."""
        if isinstance(exc, _DimensionMismatch) or self.on_encoder_error == "raise":
            if isinstance(exc, EncoderError):
                raise exc
            raise EncoderError(
                f"encoder {self.encoder.name!r} failed ({type(exc).__name__}); set "
                "on_encoder_error='default' to answer with the default model instead"
            ) from exc
        return Selection(
            route=None,
            reason=f"{DEGRADED}: encoder {self.encoder.name!r} failed ({type(exc).__name__}); "
            "default route",
        )

    def _decide(self, query: _F32, candidates: Sequence[str], index: _Index) -> Selection:
        if not query.any():
            return Selection(route=None, reason=f"{DEGRADED}: query embedding is all zeros")
        scores = index.scores(query, self.aggregation)
        allowed = [i for i, name in enumerate(self._names) if name in candidates]
        shown = {self._names[i]: round(float(scores[i]), 4) for i in allowed}
        if not allowed:
            return Selection(route=None, scores=shown, reason="no route is a candidate")
        best = max(allowed, key=lambda i: (scores[i], -i))
        if scores[best] < self._cut[best]:
            return Selection(
                route=None,
                scores=shown,
                reason=f"best score {scores[best]:.3f} ({self._names[best]}) below threshold "
                f"{self._cut[best]:.3f}",
            )
        return Selection(
            route=self._names[best], scores=shown, reason=f"similarity {scores[best]:.3f}"
        )

    def select(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """Score the request's text against every candidate route.

        Raises:
            EncoderError: The encoder failed and `on_encoder_error="raise"`, or its vectors
                have the wrong width.
        """
        text = request.text[: self.max_chars]
        if not text.strip():
            return Selection(route=None, reason="no text to route on")
        key = self._key(text)
        try:
            index = self._ensure_index()
            query = self._cached(key)
            if query is None:
                query = self._query(self.encoder.encode([text]), index)
                self._remember(key, query)
        except Exception as exc:
            return self._failed(exc)
        return self._decide(query, candidates, index)

    async def aselect(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """Async `select`: a remote encoder is awaited (within `encoder_timeout_s`)."""
        text = request.text[: self.max_chars]
        if not text.strip():
            return Selection(route=None, reason="no text to route on")
        key = self._key(text)
        try:
            index = await self._aensure_index()
            query = self._cached(key)
            if query is None:
                query = self._query(await self._aencode([text]), index)
                self._remember(key, query)
        except Exception as exc:
            return self._failed(exc)
        return self._decide(query, candidates, index)

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"{n}: {len(e)}" for n, e in zip(self._names, self._examples, strict=True)
        )
        return (
            f"EmbeddingSelector({{{sizes}}}, encoder={self.encoder.name!r}, "
            f"threshold={self.threshold!r}, aggregation={self.aggregation!r})"
        )


def _check_routes(routes: Mapping[str, Sequence[str]]) -> tuple[tuple[str, ...], list[list[str]]]:
    if not isinstance(routes, Mapping) or not routes:
        raise RouteConfigError(
            "EmbeddingSelector routes must be a non-empty mapping of route name -> example "
            "utterances, e.g. {'fast': ['hi', 'thanks'], 'strong': ['prove that ...']}."
        )
    names: list[str] = []
    examples: list[list[str]] = []
    for name, texts in routes.items():
        if not isinstance(name, str) or not name:
            raise RouteConfigError(
                f"EmbeddingSelector route names must be non-empty strings: {name!r}."
            )
        if isinstance(texts, str):
            raise RouteConfigError(
                f"EmbeddingSelector route {name!r}: examples must be a list of strings, "
                f"not one string (write [{texts!r}])."
            )
        cleaned = [t for t in texts if isinstance(t, str) and t.strip()]
        if len(cleaned) != len(list(texts)):
            raise RouteConfigError(
                f"EmbeddingSelector route {name!r}: every example must be a non-empty string."
            )
        if not cleaned:
            raise RouteConfigError(
                f"EmbeddingSelector route {name!r} has no examples; give it a few utterances "
                "that should go to that model."
            )
        names.append(name)
        examples.append(cleaned)
    return tuple(names), examples


def _check_threshold(field_name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RouteConfigError(
            f"EmbeddingSelector {field_name}={value!r}: a threshold is a cosine similarity, "
            "a finite number in [-1, 1] (or None to never abstain)."
        )
    if not -1.0 <= value <= 1.0:
        raise RouteConfigError(
            f"EmbeddingSelector {field_name}={value!r} is outside [-1, 1]: a threshold is a "
            "cosine similarity (try 0.3 to 0.6)."
        )
    return float(value)


def _norms(matrix: _F32) -> npt.NDArray[np.float64]:
    """Row norms computed in float64: float32 squares of large (finite) values overflow."""
    return np.asarray(np.linalg.norm(matrix.astype(np.float64), axis=1, keepdims=True))


def _normalise(matrix: _F32, encoder: str) -> _F32:
    norms = _norms(matrix)
    if (norms == 0).any():
        raise EncoderError(
            f"encoder {encoder!r} returned an all-zero vector for a route example; that example "
            "carries no meaning for this encoder (remove it or use another encoder)."
        )
    return np.asarray(matrix / norms, dtype=np.float32)
