"""Composing selectors: an ordered chain, and a weighted combination of scores.

One expression a user can read:

```python
selector = first_of(rules, embeddings, learned)           # the first link that answers wins
selector = weighted({embeddings: 0.7, learned: 0.3}, threshold=0.6)
selector = first_of(rules, weighted({embeddings: 0.7, classifier: 0.3}))  # they nest
```

`first_of` asks each link in turn; a link that abstains (or picks no candidate) passes the
request on, and when all abstain the chain abstains (the router's default answers). The
decision's selector is the chain's name (`chain(rules>embedding>learned)`), its reason starts
with the link that decided (`embedding: similarity 0.812`) and its scores are that link's.

`weighted` asks every link and adds their votes. Each link's scores are put on one scale
first (`normalize="minmax"`, the default): over the candidate routes it scored, its best
route gets 1, its worst 0 and the others in between, linearly; a link without scores (rules,
functions), or whose scores are all equal, gives 1 to the route it chose and 0 to the others.
A route's combined score is the weighted mean of those values over the links that voted (a
link that abstains does not vote), so it is in [0, 1] and reads as "the weighted share of
agreement"; `threshold` abstains when the best combined score is below it. With
`normalize="none"` the links' raw scores are combined as they are: use it only when every
link's scores share one scale (for example two `ClassifierSelector`s' probabilities).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from typing import Literal

from routing_chat_model.errors import RouteConfigError, RoutingInputError
from routing_chat_model.request import RoutingRequest
from routing_chat_model.selectors.base import Selection, Selector, as_selector

__all__ = [
    "ChainSelector",
    "Normalize",
    "WeightedSelector",
    "first_of",
    "forward_feedback",
    "union_routes",
    "weighted",
]

Normalize = Literal["minmax", "none"]
"""How `weighted` puts each link's scores on one scale (see the module docs)."""


def union_routes(selectors: Sequence[Selector]) -> frozenset[str] | None:
    """Every route any selector can return, or None when one of them cannot tell."""
    names: set[str] = set()
    for selector in selectors:
        known = selector.route_names
        if known is None:
            return None
        names |= known
    return frozenset(names)


def forward_feedback(
    selectors: Sequence[Selector],
    owner: str,
    decision_or_id: object,
    quality: float,
    cost_usd: float | None,
) -> None:
    """Pass feedback to the links that learn from it; the one that issued the id accepts it.

    Raises:
        RoutingInputError: No link learns from feedback, or none knows this decision.
    """
    learners = [s for s in selectors if callable(getattr(s, "record_feedback", None))]
    if not learners:
        raise RoutingInputError(
            f"selector {owner!r} has no link that learns from feedback; put a LearnedSelector "
            "in it to route on observed outcomes."
        )
    error: RoutingInputError | None = None
    for learner in learners:
        try:
            learner.record_feedback(decision_or_id, quality, cost_usd=cost_usd)  # type: ignore[attr-defined]
        except RoutingInputError as exc:
            error = exc
            continue
        return
    assert error is not None
    raise error


def _links(selectors: Sequence[object], where: str) -> tuple[Selector, ...]:
    if not selectors:
        raise RouteConfigError(f"{where} needs at least one selector, e.g. {where}(rules, embed).")
    return tuple(as_selector(s) for s in selectors)


class ChainSelector:
    """Asks its links in order; the first that picks a candidate route decides.

    Build it with `first_of(...)`. Args: the selectors (or functions `request -> route`),
    in the order they are asked; `name` overrides the generated `chain(a>b>c)`.
    """

    def __init__(self, *selectors: object, name: str | None = None) -> None:
        self.links: tuple[Selector, ...] = _links(selectors, "first_of")
        self._name = name or f"chain({'>'.join(link.name for link in self.links)})"

    @property
    def name(self) -> str:
        """`chain(<link>><link>...)`, shown in decisions."""
        return self._name

    @property
    def route_names(self) -> frozenset[str] | None:
        """The union of the links' routes (None when a link cannot tell)."""
        return union_routes(self.links)

    def _answer(self, link: Selector, selection: Selection) -> Selection:
        return Selection(
            route=selection.route,
            scores=selection.scores,
            reason=f"{link.name}: {selection.reason}",
            decision_id=selection.decision_id,
        )

    def _abstain(self, passed: list[str]) -> Selection:
        return Selection(route=None, reason="every link abstained (" + "; ".join(passed) + ")")

    def select(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """The first link's choice that is a candidate; abstains when every link abstains."""
        passed: list[str] = []
        for link in self.links:
            selection = link.select(request, candidates)
            if selection.route is not None and selection.route in candidates:
                return self._answer(link, selection)
            passed.append(f"{link.name}: {selection.reason}")
        return self._abstain(passed)

    async def aselect(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """Async `select`: each link is awaited in turn (later links only when needed)."""
        passed: list[str] = []
        for link in self.links:
            selection = await link.aselect(request, candidates)
            if selection.route is not None and selection.route in candidates:
                return self._answer(link, selection)
            passed.append(f"{link.name}: {selection.reason}")
        return self._abstain(passed)

    def record_feedback(
        self, decision_or_id: object, quality: float, *, cost_usd: float | None = None
    ) -> None:
        """Forward an observed outcome to the link that made the decision (a learner)."""
        forward_feedback(self.links, self.name, decision_or_id, quality, cost_usd)

    def __repr__(self) -> str:
        return f"first_of({', '.join(map(repr, self.links))})"


class WeightedSelector:
    """Combines every link's normalised scores with weights; the best combined route wins.

    Build it with `weighted(...)`; see the module docs for the normalisation.

    Args:
        weights: Selector -> weight, or (selector, weight) pairs (to repeat a selector type).
            Weights are finite numbers >= 0, not all 0; they need not sum to 1.
        threshold: The best combined score below which the selector abstains; None never
            abstains. With "minmax" it is in [0, 1].
        normalize: "minmax" (default) or "none".
        name: Overrides the generated `weighted(embedding*0.7+learned*0.3)`.
    """

    def __init__(
        self,
        weights: Mapping[Selector, float] | Sequence[tuple[Selector, float]],
        threshold: float | None = None,
        *,
        normalize: Normalize = "minmax",
        name: str | None = None,
    ) -> None:
        pairs = list(weights.items()) if isinstance(weights, Mapping) else list(weights)
        for pair in pairs:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise RouteConfigError(
                    "weighted: give {selector: weight, ...} or [(selector, weight), ...]."
                )
        self.links: tuple[Selector, ...] = _links([s for s, _ in pairs], "weighted")
        self.weights: tuple[float, ...] = tuple(
            _check_weight(link.name, w) for link, (_, w) in zip(self.links, pairs, strict=True)
        )
        if not any(self.weights):
            raise RouteConfigError("weighted: every weight is 0; give at least one weight > 0.")
        if normalize not in ("minmax", "none"):
            raise RouteConfigError(f"weighted normalize={normalize!r}: use 'minmax' or 'none'.")
        self.normalize: Normalize = normalize
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not math.isfinite(threshold)
        ):
            raise RouteConfigError(
                f"weighted threshold={threshold!r} must be a finite number (or None)."
            )
        if threshold is not None and normalize == "minmax" and not 0 <= threshold <= 1:
            raise RouteConfigError(
                f"weighted threshold={threshold!r}: with normalize='minmax' combined scores "
                "are in [0, 1]; pick a threshold in that range (e.g. 0.6)."
            )
        self.threshold = None if threshold is None else float(threshold)
        terms = "+".join(
            f"{link.name}*{w:g}" for link, w in zip(self.links, self.weights, strict=True)
        )
        self._name = name or f"weighted({terms})"

    @property
    def name(self) -> str:
        """`weighted(<link>*<weight>+...)`, shown in decisions."""
        return self._name

    @property
    def route_names(self) -> frozenset[str] | None:
        """The union of the links' routes (None when a link cannot tell)."""
        return union_routes(self.links)

    def _votes(self, selection: Selection, candidates: Sequence[str]) -> dict[str, float] | None:
        """A link's values per candidate route on the common scale, or None (no vote)."""
        if selection.route is None or selection.route not in candidates:
            return None
        scored = {
            r: float(s)
            for r, s in selection.scores.items()
            if r in candidates and isinstance(s, (int, float)) and math.isfinite(s)
        }
        if self.normalize == "none" and scored:
            return scored
        low, high = min(scored.values(), default=0.0), max(scored.values(), default=0.0)
        if not scored or high == low:
            return {selection.route: 1.0}
        return {r: (s - low) / (high - low) for r, s in scored.items()}

    def _combine(self, selections: Sequence[Selection], candidates: Sequence[str]) -> Selection:
        totals = dict.fromkeys(candidates, 0.0)
        weight_sum = 0.0
        notes: list[str] = []
        decision_ids: dict[str, str] = {}
        voted: set[str] = set()
        for link, weight, selection in zip(self.links, self.weights, selections, strict=True):
            votes = self._votes(selection, candidates)
            if votes is None:
                notes.append(f"{link.name} abstained")
                continue
            notes.append(f"{link.name}->{selection.route}")
            if selection.decision_id is not None and selection.route is not None:
                decision_ids.setdefault(selection.route, selection.decision_id)
            weight_sum += weight
            voted.update(votes)
            for route, value in votes.items():
                totals[route] += weight * value
        votes_text = ", ".join(notes)
        if weight_sum == 0:
            return Selection(route=None, reason=f"no link voted ({votes_text})")
        combined = {r: round(v / weight_sum, 4) for r, v in totals.items()}
        # Only a route some link voted for can win (raw scores may be negative, and a route
        # no link scored keeps 0). Ties: the first candidate.
        best = max((r for r in candidates if r in voted), key=lambda r: totals[r])
        score = totals[best] / weight_sum
        if self.threshold is not None and score < self.threshold:
            return Selection(
                route=None,
                scores=combined,
                reason=f"combined score {score:.3f} ({best}) below threshold "
                f"{self.threshold:.3f} ({votes_text})",
            )
        return Selection(
            route=best,
            scores=combined,
            reason=f"combined score {score:.3f} ({votes_text})",
            decision_id=decision_ids.get(best),
        )

    def select(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """Ask every link and pick the route with the best weighted combined score."""
        if not candidates:
            return Selection(route=None, reason="no route is a candidate")
        selections = [link.select(request, candidates) for link in self.links]
        return self._combine(selections, candidates)

    async def aselect(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """Async `select`: the links are awaited concurrently."""
        if not candidates:
            return Selection(route=None, reason="no route is a candidate")
        selections = await asyncio.gather(
            *(link.aselect(request, candidates) for link in self.links)
        )
        return self._combine(selections, candidates)

    def record_feedback(
        self, decision_or_id: object, quality: float, *, cost_usd: float | None = None
    ) -> None:
        """Forward an observed outcome to the learning link whose choice was followed."""
        forward_feedback(self.links, self.name, decision_or_id, quality, cost_usd)

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{link!r}: {w:g}" for link, w in zip(self.links, self.weights, strict=True)
        )
        return f"weighted({{{parts}}}, threshold={self.threshold!r}, normalize={self.normalize!r})"


def _check_weight(link: str, weight: object) -> float:
    if (
        isinstance(weight, bool)
        or not isinstance(weight, (int, float))
        or not math.isfinite(weight)
        or weight < 0
    ):
        raise RouteConfigError(
            f"weighted: the weight of {link!r} is {weight!r}; weights are finite numbers >= 0."
        )
    return float(weight)


def first_of(*selectors: object, name: str | None = None) -> ChainSelector:
    """An ordered chain: the first selector that picks a route decides (see `ChainSelector`)."""
    return ChainSelector(*selectors, name=name)


def weighted(
    weights: Mapping[Selector, float] | Sequence[tuple[Selector, float]],
    threshold: float | None = None,
    *,
    normalize: Normalize = "minmax",
    name: str | None = None,
) -> WeightedSelector:
    """A weighted combination of selectors' scores (see `WeightedSelector`)."""
    return WeightedSelector(weights, threshold, normalize=normalize, name=name)
