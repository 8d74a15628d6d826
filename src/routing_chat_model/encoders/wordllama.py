"""The bundled offline default encoder: WordLlama `l2_supercat` (256 dims, ~16 MB, CPU, numpy).

The `wordllama` wheel ships the weights and tokenizer, so nothing is downloaded. Its loader
looks for the tokenizer in `wordllama/tokenizer/` (singular) while the wheel puts it in
`wordllama/tokenizers/`, and then falls back to the network; pointing `cache_dir` at the package
folder with downloads disabled finds both files offline.

Nothing is imported or loaded until the first `encode`: importing `routing_chat_model` or building
a `WordLlamaEncoder` costs nothing. The model is loaded once per process, under a lock, and shared
by every `WordLlamaEncoder`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from routing_chat_model.encoders.base import Vectors
from routing_chat_model.errors import EncoderError, RouteConfigError

__all__ = ["WordLlamaEncoder", "default_encoder"]

_CONFIG: Final = "l2_supercat"
_FULL_DIM: Final = 256
_DIMS: Final = (64, 128, 256)
"""Widths available offline: the bundled 256-dim weights are Matryoshka-trained, so their
leading 64 or 128 columns are valid smaller embeddings."""

_model: Any = None
_model_lock = threading.Lock()


def _import_wordllama() -> Any:
    """Import `wordllama` without letting it reconfigure the host application's logging.

    `wordllama/__init__.py` calls `logging.basicConfig(level=logging.INFO)`, which would add a
    stderr handler to the root logger and make every INFO record of the application print. The
    root logger's handlers and level are restored afterwards.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        import wordllama
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    return wordllama


def _load_model() -> Any:
    """Return the process-wide WordLlama inference object, loading it on first call."""
    global _model
    model = _model
    if model is not None:
        return model
    with _model_lock:
        if _model is None:
            try:
                wordllama = _import_wordllama()
                _model = wordllama.WordLlama.load(
                    config=_CONFIG,
                    dim=_FULL_DIM,
                    cache_dir=Path(wordllama.__file__).parent,
                    disable_download=True,
                )
            except Exception as exc:  # any failure to load means the encoder cannot work
                raise EncoderError(
                    f"could not load the bundled WordLlama model ({type(exc).__name__}: {exc}); "
                    'reinstall it with: pip install --force-reinstall "wordllama>=0.4,<0.5"'
                ) from exc
        return _model


class WordLlamaEncoder:
    """The default `Encoder`: WordLlama static token embeddings, average-pooled, unit length.

    It runs offline on the CPU in about 0.1 ms per short query, which makes it a sensible
    default for embedding routing; use a stronger encoder (any LangChain `Embeddings` or
    LlamaIndex `BaseEmbedding`, or `OpenAICompatibleEncoder`) when routes differ subtly.

    Rows are L2-normalised, so a dot product is the cosine similarity. A text with no tokens
    (the empty string) embeds to the zero vector.
    """

    def __init__(self, dim: int = _FULL_DIM) -> None:
        """Configure the encoder; loads nothing.

        Args:
            dim: Embedding width: 256 (default), 128 or 64. Smaller is faster to compare but
                less accurate.

        Raises:
            RouteConfigError: `dim` is not one of the bundled widths.
        """
        if not isinstance(dim, int) or isinstance(dim, bool) or dim not in _DIMS:
            raise RouteConfigError(
                f"dim: WordLlamaEncoder supports dim in {_DIMS} offline; got {dim!r}"
            )
        self._dim = dim

    @property
    def name(self) -> str:
        """`wordllama-l2_supercat-<dim>`."""
        return f"wordllama-{_CONFIG}-{self._dim}"

    @property
    def dim(self) -> int:
        """Width of the vectors this encoder returns."""
        return self._dim

    def load(self) -> None:
        """Load the shared model now (otherwise it loads on the first `encode`).

        Raises:
            EncoderError: The bundled model could not be loaded.
        """
        _load_model()

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts` into unit-length float32 rows of shape `(len(texts), dim)`.

        Raises:
            EncoderError: The bundled model could not be loaded.
        """
        batch = list(texts)
        if not batch:
            return np.empty((0, self._dim), dtype=np.float32)
        raw = _load_model().embed(batch, norm=False)
        vectors = np.ascontiguousarray(raw[:, : self._dim], dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        # Token-less texts pool to zero; leave them at zero instead of dividing into NaN.
        np.divide(vectors, norms, out=vectors, where=norms > 0)
        return vectors

    async def aencode(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts`; same as `encode`.

        WordLlama does no I/O and takes about 0.1 ms per query on the CPU, far less than the
        cost of handing the work to a thread, so running it inline does not stall the loop.
        (The one-off model load on first use takes a few hundred ms; call `load()` at startup
        to keep it off the event loop.)
        """
        return self.encode(texts)

    def __repr__(self) -> str:
        return f"WordLlamaEncoder(dim={self._dim})"


_DEFAULT: Final = WordLlamaEncoder()


def default_encoder() -> WordLlamaEncoder:
    """Return the shared default encoder (256-dim WordLlama); its model loads on first encode."""
    return _DEFAULT
