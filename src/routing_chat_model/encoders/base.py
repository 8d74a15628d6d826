"""The `Encoder` protocol: turns texts into vectors for embedding-based selectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["Encoder", "Vectors"]

Vectors = npt.NDArray[np.float32]
"""A 2-D float32 array, one row per input text."""


@runtime_checkable
class Encoder(Protocol):
    """Anything that embeds a batch of texts, sync and async.

    Implementations return one row per text, all of the same width, as float32. They may load
    their model lazily on first use, but must not open a connection or load weights when built.
    """

    @property
    def name(self) -> str:
        """A short, stable identifier (shown in decisions and reprs; never a secret)."""
        ...

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts`, returning an array of shape `(len(texts), dim)`."""
        ...

    async def aencode(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts` without blocking the event loop on I/O."""
        ...
