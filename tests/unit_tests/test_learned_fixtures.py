"""Shared by the learned-selector tests: tiny generated datasets and a deterministic encoder (no tests here)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

MATH = ["integral", "derivative", "theorem", "prove", "equation", "matrix", "limit", "algebra"]
CHAT = ["hello", "thanks", "weather", "movie", "dinner", "weekend", "music", "friend"]


class BagEncoder:
    """One dimension per known word (others share the last): texts sharing words are similar."""

    name = "test-bag-64"
    vocabulary: ClassVar[dict[str, int]] = {word: i for i, word in enumerate(MATH + CHAT)}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, self.vocabulary.get(word, 63)] += 1.0
        return out

    async def aencode(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts)


def prompt(words: list[str], rng: np.random.Generator) -> str:
    return " ".join(rng.choice(words, size=4))


def write_dataset(path: Path, n: int = 80, seed: int = 0) -> Path:
    """Math prompts: only 'strong' (expensive) is right; chat prompts: both are right."""
    rng = np.random.default_rng(seed)
    lines = ["id,task,query,quality:small,cost_usd:small,quality:strong,cost_usd:strong"]
    for i in range(n):
        if i % 2:
            lines.append(f"{i},math,{prompt(MATH, rng)},0,0.001,1,0.01")
        else:
            lines.append(f"{i},chat,{prompt(CHAT, rng)},1,0.001,1,0.01")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
