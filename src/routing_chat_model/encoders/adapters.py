"""Adapters that turn LangChain, LlamaIndex and plain-function embedders into an `Encoder`.

Everything here is duck-typed: the core never imports `langchain_core` or `llama_index`, so an
object counts as a LangChain `Embeddings` when it has `embed_documents`, and as a LlamaIndex
`BaseEmbedding` when it has `get_text_embedding_batch`. Each adapter checks what it got back with
`check_vectors`, so a misbehaving embedder fails with an `EncoderError` naming it instead of a
numpy error deep inside a selector.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np

from routing_chat_model.encoders.base import Encoder, Vectors
from routing_chat_model.errors import EncoderError, RouteConfigError

__all__ = [
    "CallableEncoder",
    "LangChainEncoder",
    "LlamaIndexEncoder",
    "as_encoder",
    "check_vectors",
]

_ACCEPTED = (
    "None (the bundled offline WordLlama encoder), an Encoder (name/encode/aencode), a LangChain "
    "Embeddings (embed_documents), a LlamaIndex BaseEmbedding (get_text_embedding_batch), or a "
    "callable taking list[str] and returning one vector per text"
)


def check_vectors(vectors: object, n: int, name: str, dim: int | None = None) -> Vectors:
    """Check an encoder's output and return it as a float32 array of shape `(n, d)`.

    Selectors call this on every batch they embed, so a bad encoder fails here, with its name,
    rather than as a silent wrong route (NaN scores compare false against every threshold).

    Args:
        vectors: What the encoder returned: an array or a list of equal-length number lists.
        n: How many texts were embedded (the number of rows expected).
        name: The encoder's name, used in the error message.
        dim: The width the vectors must have (for example the route index's), or None for any.

    Returns:
        The vectors as a C-contiguous float32 2-D array. An empty batch gives shape `(0, dim)`
        (`(0, 0)` when `dim` is None and the input carried no width).

    Raises:
        EncoderError: The output is ragged or non-numeric, not 2-D, has the wrong number of rows
            or the wrong width, or holds NaN or infinite values.
    """
    try:
        # Overflowing float64 -> float32 becomes inf, which the finiteness check reports.
        with np.errstate(over="ignore", invalid="ignore"):
            array = np.ascontiguousarray(vectors, dtype=np.float32)
    except (ValueError, TypeError) as exc:
        raise EncoderError(
            f"encoder {name!r} returned vectors that are not a rectangular array of numbers "
            f"(ragged rows or non-numeric values: {type(exc).__name__})"
        ) from None
    if n == 0 and array.size == 0:
        width = dim if dim is not None else (array.shape[1] if array.ndim == 2 else 0)
        return np.empty((0, width), dtype=np.float32)
    if array.ndim != 2:
        raise EncoderError(
            f"encoder {name!r} returned an array of shape {array.shape}; expected one row per "
            f"text, shape ({n}, dim)"
        )
    rows, width = array.shape
    if rows != n:
        raise EncoderError(f"encoder {name!r} returned {rows} vector(s) for {n} text(s)")
    if width == 0:
        raise EncoderError(f"encoder {name!r} returned zero-width vectors")
    if dim is not None and width != dim:
        raise EncoderError(
            f"encoder {name!r} returned {width}-dimensional vectors where {dim} were expected; "
            "embed the routes and the queries with the same encoder (and the same dimensions)"
        )
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        bad = int(np.count_nonzero(~finite))
        raise EncoderError(
            f"encoder {name!r} returned NaN or infinite values in {bad} of {n} vector(s)"
        )
    return array


def _model_label(obj: object, prefix: str) -> str:
    """A stable, secret-free name for a wrapped embedder: its class and model name if it has one.

    The model name matters because selectors may cache route vectors per encoder name, and two
    `OpenAIEmbeddings` with different models must not share a cache entry.
    """
    label = f"{prefix}:{type(obj).__name__}"
    for attr in ("model", "model_name"):
        value = getattr(obj, attr, None)
        if isinstance(value, str) and value and value != "unknown" and len(value) <= 200:
            return f"{label}:{value}"
    return label


class LangChainEncoder:
    """An `Encoder` over a LangChain `Embeddings` (anything with `embed_documents`).

    Routes and queries are both embedded with `embed_documents`: routing compares short texts
    with short texts, so the symmetric (document) side is the right one for both.
    """

    def __init__(self, embeddings: Any, *, name: str | None = None) -> None:
        """Wrap `embeddings`.

        Args:
            embeddings: A LangChain `Embeddings` instance (duck-typed: needs `embed_documents`;
                `aembed_documents` is used for async when present).
            name: Overrides the default name, `langchain:<class>[:<model>]`.

        Raises:
            RouteConfigError: `embeddings` has no callable `embed_documents`.
        """
        if isinstance(embeddings, type) or not callable(
            getattr(embeddings, "embed_documents", None)
        ):
            raise RouteConfigError(
                "encoder: LangChainEncoder needs a LangChain Embeddings instance (an object with "
                f"embed_documents); got {_describe(embeddings)}"
            )
        self._embeddings = embeddings
        self._name = name or _model_label(embeddings, "langchain")

    @property
    def name(self) -> str:
        """`langchain:<class>[:<model>]` unless overridden."""
        return self._name

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts` with `embed_documents`."""
        batch = list(texts)
        if not batch:
            return np.empty((0, 0), dtype=np.float32)
        return check_vectors(self._embeddings.embed_documents(batch), len(batch), self._name)

    async def aencode(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts` with `aembed_documents` (or `embed_documents` in a worker thread)."""
        batch = list(texts)
        if not batch:
            return np.empty((0, 0), dtype=np.float32)
        method = getattr(self._embeddings, "aembed_documents", None)
        if callable(method):
            raw = await method(batch)
        else:
            raw = await asyncio.to_thread(self._embeddings.embed_documents, batch)
        return check_vectors(raw, len(batch), self._name)

    def __repr__(self) -> str:
        return f"LangChainEncoder(name={self._name!r})"


class LlamaIndexEncoder:
    """An `Encoder` over a LlamaIndex `BaseEmbedding` (anything with `get_text_embedding_batch`).

    Text (not query) embeddings are used for both routes and queries, for the same reason as
    `LangChainEncoder`; the calls go through LlamaIndex, so its instrumentation sees them.
    """

    def __init__(self, embed_model: Any, *, name: str | None = None) -> None:
        """Wrap `embed_model`.

        Args:
            embed_model: A LlamaIndex `BaseEmbedding` instance (duck-typed: needs
                `get_text_embedding_batch`; `aget_text_embedding_batch` is used for async).
            name: Overrides the default name, `llama_index:<class>[:<model>]`.

        Raises:
            RouteConfigError: `embed_model` has no callable `get_text_embedding_batch`.
        """
        if isinstance(embed_model, type) or not callable(
            getattr(embed_model, "get_text_embedding_batch", None)
        ):
            raise RouteConfigError(
                "encoder: LlamaIndexEncoder needs a LlamaIndex BaseEmbedding instance (an object "
                f"with get_text_embedding_batch); got {_describe(embed_model)}"
            )
        self._embed_model = embed_model
        self._name = name or _model_label(embed_model, "llama_index")

    @property
    def name(self) -> str:
        """`llama_index:<class>[:<model>]` unless overridden."""
        return self._name

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts` with `get_text_embedding_batch`."""
        batch = list(texts)
        if not batch:
            return np.empty((0, 0), dtype=np.float32)
        raw = self._embed_model.get_text_embedding_batch(batch)
        return check_vectors(raw, len(batch), self._name)

    async def aencode(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts` with `aget_text_embedding_batch` (or the sync one in a worker thread)."""
        batch = list(texts)
        if not batch:
            return np.empty((0, 0), dtype=np.float32)
        method = getattr(self._embed_model, "aget_text_embedding_batch", None)
        if callable(method):
            raw = await method(batch)
        else:
            raw = await asyncio.to_thread(self._embed_model.get_text_embedding_batch, batch)
        return check_vectors(raw, len(batch), self._name)

    def __repr__(self) -> str:
        return f"LlamaIndexEncoder(name={self._name!r})"


class CallableEncoder:
    """An `Encoder` over a plain function from a list of texts to one vector per text."""

    def __init__(
        self,
        fn: Callable[[list[str]], object],
        *,
        name: str | None = None,
        afn: Callable[[list[str]], Awaitable[object]] | None = None,
    ) -> None:
        """Wrap `fn` (and optionally its async twin `afn`).

        Args:
            fn: Takes `list[str]`, returns an array-like of shape `(len(texts), dim)`.
            name: A stable identifier; defaults to `callable:<qualified name of fn>`. Give one
                when `fn` is a lambda, so decisions and caches can tell encoders apart.
            afn: Async version used by `aencode`. Without it, `aencode` runs `fn` in a worker
                thread so a slow function never blocks the event loop.

        Raises:
            RouteConfigError: `fn` is not callable or is an async function, or `afn` is given but
                is not an async function.
        """
        if not callable(fn) or inspect.iscoroutinefunction(fn):
            raise RouteConfigError(
                "encoder: CallableEncoder needs a sync function list[str] -> vectors as fn "
                f"(pass an async one as afn=); got {_describe(fn)}"
            )
        if afn is not None and not inspect.iscoroutinefunction(afn):
            raise RouteConfigError(
                f"afn: expected an async function list[str] -> vectors; got {_describe(afn)}"
            )
        self._fn = fn
        self._afn = afn
        self._name = name or f"callable:{getattr(fn, '__qualname__', type(fn).__name__)}"

    @property
    def name(self) -> str:
        """The given name, or `callable:<qualified name of fn>`."""
        return self._name

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Call `fn` on `texts` and check its output."""
        batch = list(texts)
        if not batch:
            return np.empty((0, 0), dtype=np.float32)
        return check_vectors(self._fn(batch), len(batch), self._name)

    async def aencode(self, texts: Sequence[str]) -> Vectors:
        """Await `afn`, or run `fn` in a worker thread, and check the output."""
        batch = list(texts)
        if not batch:
            return np.empty((0, 0), dtype=np.float32)
        if self._afn is not None:
            raw = await self._afn(batch)
        else:
            raw = await asyncio.to_thread(self._fn, batch)
        return check_vectors(raw, len(batch), self._name)

    def __repr__(self) -> str:
        return f"CallableEncoder(name={self._name!r})"


def _describe(obj: object) -> str:
    """Name an object's type for an error message without printing its value (may hold keys)."""
    if isinstance(obj, type):
        return f"the class {obj.__module__}.{obj.__qualname__} (pass an instance)"
    kind = type(obj)
    return f"an instance of {kind.__module__}.{kind.__qualname__}"


def as_encoder(obj: object | None) -> Encoder:
    """Turn whatever the user passed as `encoder=` into an `Encoder`.

    Dispatch order: None -> the shared default WordLlama encoder; an `Encoder` -> itself; a
    LangChain `Embeddings` -> `LangChainEncoder`; a LlamaIndex `BaseEmbedding` ->
    `LlamaIndexEncoder`; any other callable -> `CallableEncoder`. LlamaIndex embeddings are
    callable (they are transform components), so the duck-typed checks come before `callable`.

    Raises:
        RouteConfigError: `obj` is none of those (or is a class rather than an instance).
    """
    if obj is None:
        from routing_chat_model.encoders.wordllama import default_encoder

        return default_encoder()
    if isinstance(obj, type):
        raise RouteConfigError(f"encoder: got {_describe(obj)}; expected {_ACCEPTED}")
    if isinstance(obj, Encoder):
        return obj
    if callable(getattr(obj, "embed_documents", None)):
        return LangChainEncoder(obj)
    if callable(getattr(obj, "get_text_embedding_batch", None)):
        return LlamaIndexEncoder(obj)
    if callable(obj):
        return CallableEncoder(obj)
    raise RouteConfigError(f"encoder: got {_describe(obj)}; expected {_ACCEPTED}")
