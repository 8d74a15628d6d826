"""Conversation policies: selector wrappers that keep a conversation's model consistent.

- `sticky(selector)`: once a conversation has a model, its later turns stay on it.
- `escalate_only(selector, order=[weakest, ..., strongest])`: a conversation never drops to a
  weaker model than the strongest one it already used.

Which conversation a request belongs to comes from its thread id in `RoutingRequest.metadata`,
the first of `keys` present (default `thread_id`, `session_id`, `conversation_id`):

- LangGraph copies `config["configurable"]["thread_id"]` into the metadata of every run in
  the graph, so a `RoutingChatModel` called inside a graph with a checkpointer is keyed by
  its thread without further code. Outside a graph, pass it as metadata:
  `router.invoke(messages, config={"metadata": {"thread_id": "t-42"}})`.
- LlamaIndex: `llm.chat(messages, routing_metadata={"thread_id": "t-42"})`.

The wrapper remembers, per thread id, the route it returned (a bounded LRU of `max_threads`
threads). Without a thread id, or for a thread it does not remember (another process, an
evicted thread), it reads the conversation itself: the routes of the assistant turns in
`request.turns` (`Turn.route`, which the adapters fill from each earlier answer's routing
metadata, so this is the model that actually answered). With neither, the wrapped selector
decides alone. The remembered route is only kept while it can serve the request (it is a
candidate); otherwise the wrapped selector decides and the thread moves on.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence

from routing_chat_model.errors import RouteConfigError
from routing_chat_model.request import RoutingRequest
from routing_chat_model.selectors.base import Selection, Selector, as_selector
from routing_chat_model.selectors.hybrid import forward_feedback

__all__ = [
    "THREAD_KEYS",
    "EscalateOnlySelector",
    "StickySelector",
    "escalate_only",
    "sticky",
    "thread_id_of",
]

THREAD_KEYS: tuple[str, ...] = ("thread_id", "session_id", "conversation_id")
"""Metadata keys read, in order, for a request's thread id."""


def thread_id_of(request: RoutingRequest, keys: Sequence[str] = THREAD_KEYS) -> str | None:
    """The request's thread id: the first of `keys` in its metadata with a non-empty value."""
    for key in keys:
        value = request.metadata.get(key)
        if value is not None and value != "":
            return str(value)
    return None


def _history_routes(request: RoutingRequest) -> list[str]:
    """Routes of the assistant turns that carry one, oldest first."""
    return [t.route for t in request.turns if t.role == "assistant" and t.route is not None]


def _candidate_only(selection: Selection, candidates: Sequence[str]) -> Selection:
    """The wrapped selector's answer, or an abstention when it named no candidate."""
    if selection.route is None or selection.route in candidates:
        return selection
    return Selection(
        route=None,
        scores=selection.scores,
        reason=f"{selection.reason} ({selection.route} is not a candidate)",
    )


def _check_keys(keys: Sequence[str], where: str) -> tuple[str, ...]:
    if isinstance(keys, str):
        keys = (keys,)
    out = tuple(keys)
    if not out or any(not isinstance(k, str) or not k for k in out):
        raise RouteConfigError(
            f"{where} keys must be non-empty metadata key names, e.g. ('thread_id',)."
        )
    return out


def _check_size(value: int, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RouteConfigError(f"{where} max_threads must be an int >= 1, got {value!r}.")
    return value


class _ThreadMemory:
    """A thread id -> route LRU, safe to share between threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._routes: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, thread: str | None) -> str | None:
        if thread is None:
            return None
        with self._lock:
            route = self._routes.get(thread)
            if route is not None:
                self._routes.move_to_end(thread)
            return route

    def put(self, thread: str | None, route: str, rank: Mapping[str, int] | None = None) -> None:
        """Remember `route`; with `rank`, only when it is not weaker than the one held.

        The comparison is made under the lock, so concurrent turns never lower it.
        """
        if thread is None:
            return
        with self._lock:
            held = self._routes.get(thread)
            if (
                rank is not None
                and held is not None
                and held in rank
                and rank[held] > rank.get(route, -1)
            ):
                route = held
            self._routes[thread] = route
            self._routes.move_to_end(thread)
            while len(self._routes) > self.size:
                self._routes.popitem(last=False)

    def forget(self, thread: str | None = None) -> None:
        with self._lock:
            if thread is None:
                self._routes.clear()
            else:
                self._routes.pop(thread, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._routes)


class _ThreadPolicy:
    """What both conversation policies share: the wrapped selector, thread keys and memory."""

    label = "thread_policy"
    """The wrapper's name in decisions: `<label>(<wrapped selector>)`."""

    def __init__(
        self, selector: object, keys: Sequence[str], max_threads: int, use_history: bool
    ) -> None:
        self.selector: Selector = as_selector(selector)
        self.keys = _check_keys(keys, self.label)
        self._memory = _ThreadMemory(_check_size(max_threads, self.label))
        self.use_history = bool(use_history)

    @property
    def name(self) -> str:
        """`<label>(<wrapped selector>)`, shown in decisions."""
        return f"{self.label}({self.selector.name})"

    def forget(self, thread_id: str | None = None) -> None:
        """Forget one thread's remembered model (the next turn is routed afresh), or all."""
        self._memory.forget(thread_id)

    @property
    def thread_count(self) -> int:
        """How many threads are remembered."""
        return len(self._memory)

    def record_feedback(
        self, decision_or_id: object, quality: float, *, cost_usd: float | None = None
    ) -> None:
        """Forward an observed outcome to the wrapped selector when it learns."""
        forward_feedback([self.selector], self.name, decision_or_id, quality, cost_usd)


class StickySelector(_ThreadPolicy):
    """Keeps every turn of a conversation on the model its first routed turn got.

    Build it with `sticky(selector)`; see the module docs for how threads are recognised.

    Args:
        selector: The selector that decides a conversation's first turn (and any turn whose
            remembered model cannot serve it).
        keys: Metadata keys holding the thread id, in order.
        max_threads: Threads remembered (LRU); the oldest are forgotten first.
        use_history: Fall back to the last routed assistant turn in the conversation when the
            thread is unknown or has no id.
    """

    label = "sticky"

    def __init__(
        self,
        selector: object,
        *,
        keys: Sequence[str] = THREAD_KEYS,
        max_threads: int = 10_000,
        use_history: bool = True,
    ) -> None:
        super().__init__(selector, keys, max_threads, use_history)

    @property
    def route_names(self) -> frozenset[str] | None:
        """The wrapped selector's routes."""
        return self.selector.route_names

    def _held(self, request: RoutingRequest, thread: str | None) -> tuple[str | None, str]:
        route = self._memory.get(thread)
        if route is not None:
            return route, "this thread"
        if self.use_history:
            routes = _history_routes(request)
            if routes:
                return routes[-1], "the conversation's last answer"
        return None, ""

    def _before(
        self, request: RoutingRequest, candidates: Sequence[str]
    ) -> tuple[str | None, Selection | None, str]:
        thread = thread_id_of(request, self.keys)
        held, source = self._held(request, thread)
        if held is not None and held in candidates:
            self._memory.put(thread, held)
            return thread, Selection(route=held, reason=f"sticky: {source} stays on {held}"), ""
        note = f"; {held} (held by {source}) cannot serve this request" if held else ""
        return thread, None, note

    def _after(
        self, thread: str | None, selection: Selection, note: str, candidates: Sequence[str]
    ) -> Selection:
        selection = _candidate_only(selection, candidates)
        if selection.route is not None:
            self._memory.put(thread, selection.route)
        return Selection(
            route=selection.route,
            scores=selection.scores,
            reason=f"{self.selector.name}: {selection.reason}{note}",
            decision_id=selection.decision_id,
        )

    def select(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """The thread's model when it has one that can serve; else the wrapped selector's."""
        thread, held, note = self._before(request, candidates)
        if held is not None:
            return held
        return self._after(thread, self.selector.select(request, candidates), note, candidates)

    async def aselect(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """Async `select`: the wrapped selector is awaited."""
        thread, held, note = self._before(request, candidates)
        if held is not None:
            return held
        proposal = await self.selector.aselect(request, candidates)
        return self._after(thread, proposal, note, candidates)

    def __repr__(self) -> str:
        return f"sticky({self.selector!r}, keys={list(self.keys)})"


class EscalateOnlySelector(_ThreadPolicy):
    """Never routes a conversation below the strongest model it already used.

    Build it with `escalate_only(selector, order=[...])`. The wrapped selector proposes; when
    it proposes a weaker model than the conversation's strongest so far (or abstains), the
    weakest candidate at least as strong as that one answers instead. The conversation's
    strongest model is the strongest of the routes this wrapper returned for its thread and
    of the routes of its assistant turns (`Turn.route`, the models that actually answered,
    fallbacks included). When no model that strong can serve the request, the proposal stands
    and the reason says so.

    Args:
        selector: The selector that proposes a route each turn.
        order: Every route, weakest first, strongest last.
        keys: Metadata keys holding the thread id, in order.
        max_threads: Threads remembered (LRU).
        use_history: Also read the strongest model from the conversation's assistant turns.
    """

    label = "escalate_only"

    def __init__(
        self,
        selector: object,
        order: Sequence[str],
        *,
        keys: Sequence[str] = THREAD_KEYS,
        max_threads: int = 10_000,
        use_history: bool = True,
    ) -> None:
        super().__init__(selector, keys, max_threads, use_history)
        if isinstance(order, str) or len(order) < 2:
            raise RouteConfigError(
                "escalate_only order must list at least 2 routes, weakest first, e.g. "
                "order=['small', 'large']."
            )
        if any(not isinstance(r, str) or not r for r in order) or len(set(order)) != len(order):
            raise RouteConfigError(
                f"escalate_only order must be distinct route names, got {list(order)}."
            )
        self.order: tuple[str, ...] = tuple(order)
        known = self.selector.route_names
        if known is not None and not known <= set(self.order):
            raise RouteConfigError(
                f"escalate_only order misses route(s) {sorted(known - set(self.order))} that "
                f"{self.selector.name!r} can return; rank every route, weakest first."
            )
        self._rank = {route: i for i, route in enumerate(self.order)}

    @property
    def route_names(self) -> frozenset[str]:
        """Every ranked route (an escalation can pick any of them)."""
        return frozenset(self.order)

    def _floor(self, request: RoutingRequest, thread: str | None) -> str | None:
        used = [self._memory.get(thread)]
        if self.use_history:
            used.extend(_history_routes(request))
        ranked = [r for r in used if r is not None and r in self._rank]
        return max(ranked, key=self._rank.__getitem__) if ranked else None

    def _apply(
        self,
        request: RoutingRequest,
        candidates: Sequence[str],
        thread: str | None,
        proposal: Selection,
    ) -> Selection:
        proposal = _candidate_only(proposal, candidates)
        floor = self._floor(request, thread)
        chosen = proposal.route
        said = f"{self.selector.name}: {proposal.reason}"
        if floor is None or (chosen is not None and chosen not in self._rank):
            result = proposal
            reason = said
        elif chosen is not None and self._rank[chosen] >= self._rank[floor]:
            result, reason = proposal, said
        else:
            stronger = [
                r for r in self.order[self._rank[floor] :] if r in candidates
            ]  # weakest first
            if stronger:
                result = Selection(route=stronger[0], scores=proposal.scores)
                reason = (
                    f"escalate-only: the conversation already used {floor}, so {stronger[0]} "
                    f"answers instead of {chosen or 'the default'} ({said})"
                )
            else:
                result = proposal
                reason = f"{said}; no candidate is as strong as {floor}, already used"
        if result.route is not None and result.route in self._rank:
            top = (
                result.route
                if floor is None
                else max((floor, result.route), key=self._rank.__getitem__)
            )
            self._memory.put(thread, top, self._rank)
        return Selection(
            route=result.route,
            scores=result.scores,
            reason=reason,
            decision_id=proposal.decision_id if result.route == chosen else None,
        )

    def select(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """The wrapped selector's route, raised to the conversation's strongest so far."""
        thread = thread_id_of(request, self.keys)
        return self._apply(request, candidates, thread, self.selector.select(request, candidates))

    async def aselect(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """Async `select`: the wrapped selector is awaited."""
        thread = thread_id_of(request, self.keys)
        proposal = await self.selector.aselect(request, candidates)
        return self._apply(request, candidates, thread, proposal)

    def __repr__(self) -> str:
        return f"escalate_only({self.selector!r}, order={list(self.order)})"


def sticky(
    selector: object,
    *,
    keys: Sequence[str] = THREAD_KEYS,
    max_threads: int = 10_000,
    use_history: bool = True,
) -> StickySelector:
    """Keep a conversation on the model its first routed turn got (see `StickySelector`)."""
    return StickySelector(selector, keys=keys, max_threads=max_threads, use_history=use_history)


def escalate_only(
    selector: object,
    order: Sequence[str],
    *,
    keys: Sequence[str] = THREAD_KEYS,
    max_threads: int = 10_000,
    use_history: bool = True,
) -> EscalateOnlySelector:
    """Never drop a conversation below its strongest model so far (see `EscalateOnlySelector`)."""
    return EscalateOnlySelector(
        selector, order, keys=keys, max_threads=max_threads, use_history=use_history
    )
