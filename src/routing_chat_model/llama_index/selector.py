"""`RoutingSelector`: a LlamaIndex `BaseSelector` that routes with this package's selectors.

LlamaIndex's `RouterQueryEngine` and `RouterRetriever` pick among tools with a `BaseSelector`;
the built-in ones ask an LLM (or embed every tool description on every call). `RoutingSelector`
puts a `RuleSelector`, an `EmbeddingSelector`, a plain function or any other `Selector` there
instead: no LLM call decides, and each selection reaches instrumentation handlers as one
`RoutingDecisionEvent`, the same event a routed chat call produces.

Route names are the tools' names (`ToolMetadata.name`), so the selector reads as the tools do:

```python
selector = RoutingSelector(
    EmbeddingSelector({"billing": ["refund my order", ...], "docs": ["install the SDK", ...]})
)
engine = RouterQueryEngine(selector=selector, query_engine_tools=[billing_tool, docs_tool])
```

The decisions are made by the core `Router` (one per set of tool names, built on first use), so
abstaining, scores, reasons and latency mean what they mean everywhere else in the package.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from llama_index.core.base.base_selector import (
    BaseSelector,
    MetadataType,
    MultiSelection,
    SingleSelection,
)
from llama_index.core.prompts.mixin import PromptDictType
from llama_index.core.schema import QueryBundle, QueryType
from llama_index.core.tools.types import ToolMetadata

# What `llama_index.core.instrumentation.get_dispatcher` re-exports, imported where it is
# defined so that strict type checking sees it.
from llama_index_instrumentation import get_dispatcher
from pydantic import Field

from routing_chat_model.decision import RoutingDecision
from routing_chat_model.errors import RouteConfigError, RoutingError, RoutingInputError
from routing_chat_model.llama_index.events import RoutingDecisionEvent
from routing_chat_model.request import RoutingRequest, Turn
from routing_chat_model.router import Router
from routing_chat_model.selectors.base import Selection, Selector, as_selector
from routing_chat_model.selectors.embedding import EmbeddingSelector

__all__ = ["RoutedSelection", "RoutingSelector"]

dispatcher = get_dispatcher(__name__)

_MAX_ROUTERS = 16
"""Routers kept per selector, one per distinct list of tool names (callers pass one list)."""


class RoutedSelection(MultiSelection):
    """The `SelectorResult` a `RoutingSelector` returns: the selections plus the decision.

    `RouterQueryEngine` stores it as `response.metadata["selector_result"]`, so the decision
    of a query is at hand next to its answer, as `additional_kwargs["routing"]` is for a chat.
    """

    decision: dict[str, Any] = Field(default_factory=dict)
    """The decision dict the `RoutingDecisionEvent` carried (route, scores, reason, ...)."""


class _ToolNameGuard:
    """Forwards to the wrapped selector and checks it answered with one of the tool names.

    The router would reject an unknown name too, but in model vocabulary; here the names are
    tools, and the fix is in the selector.
    """

    __slots__ = ("inner",)

    def __init__(self, inner: Selector) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def route_names(self) -> frozenset[str] | None:
        return self.inner.route_names

    def _check(self, selection: Selection, candidates: Sequence[str]) -> Selection:
        if selection.route is not None and selection.route not in candidates:
            raise RoutingError(
                f"selector {self.inner.name!r} returned {selection.route!r}, which is not one of "
                f"the tools {list(candidates)}; return a tool name (ToolMetadata.name), or None "
                "to use the default."
            )
        return selection

    def select(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        return self._check(self.inner.select(request, candidates), candidates)

    async def aselect(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        return self._check(await self.inner.aselect(request, candidates), candidates)


@dataclass(frozen=True)
class _Tools:
    """One list of tool names, checked against the selector, and the router over them."""

    names: tuple[str, ...]
    index: Mapping[str, int]
    router: Router


class RoutingSelector(BaseSelector):
    """A LlamaIndex selector that chooses tools with rules, embeddings or any `Selector`.

    Use it wherever LlamaIndex takes a `BaseSelector`: `RouterQueryEngine(selector=...)`,
    `RouterRetriever(selector=...)`, or `selector.select(tools_metadata, query)`. The wrapped
    selector's route names are the tools' names; the query string is the text routed on.

    Single selection returns the chosen tool, with the decision's reason and scores as the
    reason. Multi selection (`multi=True`) returns the chosen tool first, then the other tools
    by descending score whose score reaches `min_score` (default: an `EmbeddingSelector`'s own
    threshold for that route; with neither, every scored tool), at most `max_outputs` in all.
    Selectors without scores (rules, functions) give one tool.

    When the wrapped selector abstains (no rule matched, best similarity below the threshold),
    the `default` tool is chosen; without a default, selection raises `RoutingInputError`.

    Each selection dispatches one `RoutingDecisionEvent` to instrumentation handlers and returns
    a `RoutedSelection` carrying the same dict. Its `plan` and `routes` list the tools chosen,
    in order; `attempts` is empty (a selector calls nothing).

    The tools are checked against the selector on first use (and again if they change): every
    tool needs a unique name; every route of the selector must be a tool (a typo would never be
    chosen); and every tool must be reachable, as a route or the default.

    Args:
        selector: A `RuleSelector`, `EmbeddingSelector`, any `Selector`, or a function
            `(RoutingRequest) -> tool name | None`.
        multi: Return every tool that qualifies (see above) instead of one.
        max_outputs: With `multi=True`, the most tools returned (None: no cap).
        min_score: With `multi=True`, the score other tools need to be returned too.
        default: The tool (by name) chosen when the selector abstains.

    Raises:
        RouteConfigError: An argument is invalid (named in the message, with the fix).

    Example:
        ```python
        from llama_index.core.query_engine import RouterQueryEngine
        from routing_chat_model import EmbeddingSelector
        from routing_chat_model.llama_index import RoutingSelector

        selector = RoutingSelector(
            EmbeddingSelector(
                {"billing": ["refund my order", "update my card"], "docs": ["install the SDK"]},
                threshold=0.3,
            ),
            default="docs",
        )
        engine = RouterQueryEngine(selector=selector, query_engine_tools=[billing, docs])
        response = engine.query("How do I get a refund?")
        response.metadata["selector_result"].decision["route"]  # 'billing'
        ```
    """

    def __init__(
        self,
        selector: object,
        *,
        multi: bool = False,
        max_outputs: int | None = None,
        min_score: float | None = None,
        default: str | None = None,
    ) -> None:
        self._selector: Selector = as_selector(selector)
        if not isinstance(multi, bool):
            raise RouteConfigError(f"RoutingSelector multi must be True or False, got {multi!r}.")
        if max_outputs is not None and (
            isinstance(max_outputs, bool) or not isinstance(max_outputs, int) or max_outputs < 1
        ):
            raise RouteConfigError(
                f"RoutingSelector max_outputs must be an int >= 1 or None, got {max_outputs!r}."
            )
        if min_score is not None and (
            isinstance(min_score, bool)
            or not isinstance(min_score, (int, float))
            or not math.isfinite(min_score)
        ):
            raise RouteConfigError(
                f"RoutingSelector min_score must be a finite number or None, got {min_score!r}."
            )
        if not multi and (max_outputs is not None or min_score is not None):
            raise RouteConfigError(
                "RoutingSelector max_outputs and min_score only apply to multi selection; "
                "pass multi=True, or drop them."
            )
        if default is not None and (not isinstance(default, str) or not default.strip()):
            raise RouteConfigError(
                f"RoutingSelector default must be a tool name or None, got {default!r}."
            )
        self._multi = multi
        self._max_outputs = max_outputs
        self._min_score = None if min_score is None else float(min_score)
        self._default = default
        self._guard = _ToolNameGuard(self._selector)
        self._tools: dict[tuple[str | None, ...], _Tools] = {}

    # Read-only: the tools are checked against these once per list of tools, then cached.

    @property
    def selector(self) -> Selector:
        """The wrapped selector."""
        return self._selector

    @property
    def multi(self) -> bool:
        """Whether every qualifying tool is returned, not only the best."""
        return self._multi

    @property
    def max_outputs(self) -> int | None:
        """With `multi`, the most tools returned (None: no cap)."""
        return self._max_outputs

    @property
    def min_score(self) -> float | None:
        """With `multi`, the score other tools need (None: see the class docstring)."""
        return self._min_score

    @property
    def default(self) -> str | None:
        """The tool chosen when the selector abstains."""
        return self._default

    @classmethod
    def from_tools(
        cls,
        tools: Sequence[object],
        *,
        examples: Mapping[str, Sequence[str]] | None = None,
        encoder: object | None = None,
        threshold: float | None = None,
        multi: bool = False,
        max_outputs: int | None = None,
        min_score: float | None = None,
        default: str | None = None,
    ) -> RoutingSelector:
        """An embedding selector over the tools' own descriptions, for when you have no examples.

        Each tool's description becomes its route's example utterance (plus any `examples` you
        give for it), embedded once with the bundled offline encoder or `encoder`. It replaces
        LlamaIndex's `EmbeddingSingleSelector` with the same inputs, minus the per-call
        re-embedding of every description, plus thresholds, multi selection and the event.
        A few real example questions per tool route better than a description alone.

        Args:
            tools: The tools given to `RouterQueryEngine` / `RouterRetriever` (anything with a
                `metadata: ToolMetadata`), or `ToolMetadata` objects.
            examples: Tool name -> extra example questions for that tool.
            encoder: See `EmbeddingSelector` (None: the bundled offline encoder).
            threshold: Cosine similarity under which the selector abstains (None: never).
            multi: See the class.
            max_outputs: See the class.
            min_score: See the class.
            default: See the class.

        Raises:
            RouteConfigError: A tool has no name or no description, two tools share a name or a
                description, or `examples` names an unknown tool.
        """
        metadata = [_metadata_of(tool, i) for i, tool in enumerate(tools)]
        if not metadata:
            raise RouteConfigError("RoutingSelector.from_tools: tools is empty; give the tools.")
        routes: dict[str, list[str]] = {}
        described: dict[str, str] = {}
        for i, meta in enumerate(metadata):
            name = _name_of(meta, i, RouteConfigError)
            if name in routes:
                raise RouteConfigError(f"RoutingSelector.from_tools: two tools are named {name!r}.")
            description = (meta.description or "").strip()
            if not description:
                raise RouteConfigError(
                    f"RoutingSelector.from_tools: tool {name!r} has no description; describe "
                    "what it answers, or pass examples={...} for it."
                )
            if description in described:
                raise RouteConfigError(
                    f"RoutingSelector.from_tools: tools {described[description]!r} and {name!r} "
                    "have the same description, so they cannot be told apart; describe what "
                    "each one answers (QueryEngineTool.from_defaults(..., description=...))."
                )
            described[description] = name
            routes[name] = [description]
        for name, extra in (examples or {}).items():
            if name not in routes:
                raise RouteConfigError(
                    f"RoutingSelector.from_tools: examples names {name!r}, which is not a tool; "
                    f"tools are {list(routes)}."
                )
            if isinstance(extra, str):
                raise RouteConfigError(
                    f"RoutingSelector.from_tools: examples[{name!r}] must be a list of strings, "
                    f"not one string (write [{extra!r}])."
                )
            routes[name].extend(extra)
        return cls(
            EmbeddingSelector(routes, encoder, threshold),
            multi=multi,
            max_outputs=max_outputs,
            min_score=min_score,
            default=default,
        )

    # -- PromptMixin: this selector has no prompts ----------------------------------------------

    def _get_prompts(self) -> dict[str, Any]:
        """No prompts: nothing here talks to an LLM."""
        return {}

    def _update_prompts(self, prompts: PromptDictType) -> None:
        """No prompts to update."""

    # -- selecting -------------------------------------------------------------------------------

    def select(self, choices: Sequence[MetadataType], query: QueryType) -> RoutedSelection:
        """Choose among `choices` (tools' metadata) for `query`; the result holds the decision."""
        return cast("RoutedSelection", super().select(choices, query))

    async def aselect(self, choices: Sequence[MetadataType], query: QueryType) -> RoutedSelection:
        """Async `select`: the wrapped selector's `aselect` is awaited."""
        return cast("RoutedSelection", await super().aselect(choices, query))

    def _select(self, choices: Sequence[ToolMetadata], query: QueryBundle) -> RoutedSelection:
        tools = self._tools_for(choices)
        decision = tools.router.decide(_request(query))
        return self._result(tools, decision)

    async def _aselect(
        self, choices: Sequence[ToolMetadata], query: QueryBundle
    ) -> RoutedSelection:
        tools = self._tools_for(choices)
        decision = await tools.router.adecide(_request(query))
        return self._result(tools, decision)

    def _tools_for(self, choices: Sequence[ToolMetadata]) -> _Tools:
        key = tuple(choice.name for choice in choices)
        tools = self._tools.get(key)
        if tools is None:
            tools = self._check_tools(choices)
            if len(self._tools) >= _MAX_ROUTERS:
                self._tools.clear()
            self._tools[key] = tools
        return tools

    def _check_tools(self, choices: Sequence[ToolMetadata]) -> _Tools:
        if not choices:
            raise RoutingInputError(
                "RoutingSelector got no choices: give RouterQueryEngine / RouterRetriever at "
                "least one tool."
            )
        names = tuple(_name_of(choice, i, RoutingInputError) for i, choice in enumerate(choices))
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise RoutingInputError(
                    f"two tools are named {name!r}; RoutingSelector routes by tool name, so "
                    "give each tool a unique name."
                )
            seen.add(name)
        selector = self.selector.name
        known = self.selector.route_names
        if known is not None:
            unknown = sorted(known - seen)
            if unknown:
                raise RouteConfigError(
                    f"selector {selector!r} routes to {unknown}, which are not tools; the tools "
                    f"are {list(names)}. Name the routes after the tools (ToolMetadata.name)."
                )
            reachable = known | ({self.default} if self.default is not None else set())
            orphans = [name for name in names if name not in reachable]
            if orphans:
                raise RouteConfigError(
                    f"tool(s) {orphans} have no route in selector {selector!r} (routes: "
                    f"{sorted(known)}) and are not the default, so they can never be chosen; "
                    "add routes for them, set default=<one of them>, or remove them."
                )
        if self.default is not None and self.default not in seen:
            raise RouteConfigError(
                f"RoutingSelector default={self.default!r} is not one of the tools {list(names)}; "
                "set it to the name of the tool that answers when the selector abstains."
            )
        router = Router(names, selector=self._guard, default=self.default or names[0])
        return _Tools(names, {name: i for i, name in enumerate(names)}, router)

    def _result(self, tools: _Tools, decision: RoutingDecision) -> RoutedSelection:
        name = decision.selector
        if decision.abstained and self.default is None:
            raise RoutingInputError(
                f"selector {name!r} abstained on this query ({decision.reason}) and "
                "RoutingSelector has no default: pass default=<tool name> to answer such queries "
                "with one tool, or lower the selector's threshold."
            )
        reason = f"{name}: {decision.reason}{_scores_text(decision.scores)}"
        if decision.abstained:
            reason += f"; default tool {decision.route!r}"
        chosen = [(decision.route, reason)]
        if self.multi and not decision.abstained:
            chosen.extend(self._others(decision))
        routes = tuple(route for route, _ in chosen)
        data = decision.evolve(plan=routes).to_dict()
        data["routes"] = list(routes)
        dispatcher.event(RoutingDecisionEvent(decision=data))
        selections = [
            SingleSelection(index=tools.index[route], reason=text) for route, text in chosen
        ]
        return RoutedSelection(selections=selections, decision=data)

    def _others(self, decision: RoutingDecision) -> list[tuple[str, str]]:
        """The tools besides the chosen one that also qualify, best first, within the cap."""
        room = (self.max_outputs if self.max_outputs is not None else len(decision.scores)) - 1
        if room <= 0:
            return []
        ranked = sorted(
            (item for item in decision.scores.items() if item[0] != decision.route),
            key=lambda item: -item[1],
        )
        out = []
        for route, score in ranked:
            cut = self._cut(route)
            if cut is not None and score < cut:
                break
            why = f"score {score:.3f}" + ("" if cut is None else f" >= {cut:.3f}")
            out.append((route, f"{decision.selector}: {why}"))
            if len(out) == room:
                break
        return out

    def _cut(self, route: str) -> float | None:
        """The score another tool needs: `min_score`, else an embedding threshold for it."""
        if self.min_score is not None:
            return self.min_score
        inner = self.selector
        if isinstance(inner, EmbeddingSelector):
            # Cosine similarities: the threshold under which the selector would abstain is
            # also the natural bar for a second tool. Other selectors' scores have no such bar.
            return inner.thresholds.get(route, inner.threshold)
        return None

    def __repr__(self) -> str:
        return (
            f"RoutingSelector({self.selector!r}, multi={self.multi}, "
            f"max_outputs={self.max_outputs}, min_score={self.min_score}, "
            f"default={self.default!r})"
        )


def _request(query: QueryBundle) -> RoutingRequest:
    """The routing request of one query: its text as the only (user) turn."""
    return RoutingRequest.from_turns([Turn(role="user", text=query.query_str)])


def _metadata_of(tool: object, i: int) -> ToolMetadata:
    if isinstance(tool, ToolMetadata):
        return tool
    metadata = getattr(tool, "metadata", None)
    if isinstance(metadata, ToolMetadata):
        return metadata
    raise RouteConfigError(
        f"RoutingSelector.from_tools: tools[{i}] is a {type(tool).__name__}; expected a tool "
        "(QueryEngineTool, RetrieverTool, ...) or a ToolMetadata."
    )


def _name_of(meta: ToolMetadata, i: int, error: type[RoutingError]) -> str:
    name = meta.name
    if not isinstance(name, str) or not name.strip():
        raise error(
            f"tool {i} has no name; RoutingSelector routes by tool name: give each tool one "
            "(QueryEngineTool.from_defaults(..., name='billing') or ToolMetadata(name=...))."
        )
    return name


def _scores_text(scores: Mapping[str, float]) -> str:
    if not scores:
        return ""
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    return " [" + ", ".join(f"{route} {score:.3f}" for route, score in ranked) + "]"
