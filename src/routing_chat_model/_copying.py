"""Deep copies of the adapters' pydantic models, whose private routing state holds locks."""

from __future__ import annotations

import copy
from typing import Any, TypeVar

__all__ = ["deepcopy_model"]

M = TypeVar("M")


def deepcopy_model(model: M, memo: dict[int, Any] | None, *, share: tuple[object, ...]) -> M:
    """Deep-copy a pydantic model's fields, leaving its private state empty for the caller to rebuild.

    pydantic's own deep copy also copies private attributes, and the router held there owns
    locks and caches that cannot (and should not) be copied. `share` lists objects the copy keeps
    by reference (the selector: configuration that may hold a loaded encoder).
    """
    memo = {} if memo is None else memo
    cls = type(model)
    clone = cls.__new__(cls)
    memo[id(model)] = clone
    for shared in share:
        memo[id(shared)] = shared
    object.__setattr__(clone, "__dict__", copy.deepcopy(model.__dict__, memo))
    extra = getattr(model, "__pydantic_extra__", None)
    object.__setattr__(clone, "__pydantic_extra__", copy.deepcopy(extra, memo))
    object.__setattr__(clone, "__pydantic_fields_set__", set(model.__pydantic_fields_set__))  # type: ignore[attr-defined]
    object.__setattr__(clone, "__pydantic_private__", {})
    return clone
