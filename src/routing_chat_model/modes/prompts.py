"""The prompts both adapters send a judge or synthesiser model, and how a rating is read back.

Kept framework-free so a judge behaves the same in LangChain and LlamaIndex.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["JUDGE_SYSTEM", "SYNTHESIS_SYSTEM", "judge_user", "parse_rating", "synthesis_user"]

JUDGE_SYSTEM = (
    "You grade answers. Read the question and the answer, then reply with one integer from 0 "
    "(wrong or useless) to 10 (correct and complete), and nothing else."
)
"""System prompt of a model judge."""

SYNTHESIS_SYSTEM = (
    "You merge several candidate answers to one question into the single best answer. Keep what "
    "is correct, drop what is wrong or redundant, and reply with the merged answer only."
)
"""System prompt of a model synthesiser."""

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def judge_user(question: str, answer: str) -> str:
    """The user message of a judge call."""
    return f"Question:\n{question}\n\nAnswer:\n{answer}\n\nRating (0-10):"


def synthesis_user(question: str, answers: Sequence[str]) -> str:
    """The user message of a synthesis call."""
    listed = "\n\n".join(f"Answer {i}:\n{text}" for i, text in enumerate(answers, 1))
    return f"Question:\n{question}\n\n{listed}\n\nMerged answer:"


def parse_rating(text: str) -> float:
    """A judge's reply as a score in [0, 1] (its first number / 10); NaN when it has none."""
    found = _NUMBER.search(text)
    if found is None:
        return float("nan")
    return min(max(float(found.group()) / 10.0, 0.0), 1.0)
