"""`RuleSelector`: first-match-wins rules on keywords, regexes, callables, size and metadata."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from routing_chat_model.errors import RouteConfigError
from routing_chat_model.request import RoutingRequest
from routing_chat_model.selectors.base import Selection

__all__ = ["Rule", "RuleSelector"]


@dataclass(frozen=True)
class Rule:
    """One routing rule: every condition given must hold for the rule to match.

    Attributes:
        route: The model name the rule sends matching requests to.
        keywords: Matches when any keyword occurs as a whole word (case-insensitive).
        pattern: A regex searched in the routing text (a string is compiled case-insensitive).
        when: A predicate on the whole `RoutingRequest`.
        min_tokens: Matches only requests of at least this many (estimated) tokens.
        max_tokens: Matches only requests of at most this many (estimated) tokens.
        metadata: Matches when the caller's metadata has each of these key/value pairs.
        has_tools: When set, matches only requests with (True) or without (False) tools.
        name: Shown in decisions as the reason; defaults to "rule[i]".
    """

    route: str
    keywords: Sequence[str] = ()
    pattern: str | re.Pattern[str] | None = None
    when: Callable[[RoutingRequest], bool] | None = None
    min_tokens: int | None = None
    max_tokens: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    has_tools: bool | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        where = f"Rule(route={self.route!r})"
        if not isinstance(self.route, str) or not self.route:
            raise RouteConfigError("Rule.route must be a non-empty model name.")
        if isinstance(self.keywords, str):
            raise RouteConfigError(
                f"{where}: keywords must be a list of strings, not one string "
                f"(write keywords=[{self.keywords!r}])."
            )
        if any(not isinstance(k, str) or not k.strip() for k in self.keywords):
            raise RouteConfigError(f"{where}: keywords must be non-empty strings.")
        for bound in ("min_tokens", "max_tokens"):
            value = getattr(self, bound)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise RouteConfigError(f"{where}: {bound} must be an int >= 0, got {value!r}.")
        if (
            self.min_tokens is not None
            and self.max_tokens is not None
            and self.min_tokens > self.max_tokens
        ):
            raise RouteConfigError(f"{where}: min_tokens is greater than max_tokens.")
        if self.when is not None and not callable(self.when):
            raise RouteConfigError(f"{where}: when must be a callable (request) -> bool.")
        if isinstance(self.pattern, str):
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise RouteConfigError(f"{where}: pattern is not a valid regex: {exc}.") from exc
        if not self._has_condition():
            raise RouteConfigError(
                f"{where} has no condition, so it would match every request; "
                f"give it keywords, pattern, when, token bounds or metadata, "
                f"or make {self.route!r} the router's default instead."
            )

    def _has_condition(self) -> bool:
        return bool(
            self.keywords
            or self.pattern is not None
            or self.when is not None
            or self.min_tokens is not None
            or self.max_tokens is not None
            or self.metadata
            or self.has_tools is not None
        )


def _keyword_regex(keywords: Sequence[str]) -> re.Pattern[str]:
    """Any of `keywords` (lowercased) not followed by a word character.

    The "not preceded by a word character" half is checked by `_find_word`: a lookbehind at
    the start of the pattern stops the regex engine from scanning for the literals quickly,
    which doubles the cost on long prompts.
    """
    alternatives = sorted({k.strip().lower() for k in keywords}, key=len, reverse=True)
    return re.compile("(?:" + "|".join(map(re.escape, alternatives)) + ")(?!\\w)")


_WORD_CHAR = re.compile(r"\w")


def _find_word(regex: re.Pattern[str], text: str) -> bool:
    """Whether `regex` matches a whole word (or symbol run) of `text`."""
    start = 0
    while (found := regex.search(text, start)) is not None:
        at = found.start()
        if at == 0 or _WORD_CHAR.match(text, at - 1) is None:
            return True
        start = at + 1
    return False


class _Text:
    """The routing text of one request, lowercased once, and whether any keyword occurs."""

    __slots__ = ("_any", "_lower", "prefilter", "source")

    def __init__(self, source: str, prefilter: re.Pattern[str] | None) -> None:
        self.source = source
        self.prefilter = prefilter
        self._lower: str | None = None
        self._any: bool | None = None

    @property
    def lower(self) -> str:
        if self._lower is None:
            self._lower = self.source.lower()
        return self._lower

    def has_keyword(self, regex: re.Pattern[str]) -> bool:
        # One scan for every rule's keywords first: a prompt that holds none of them (the
        # common case) then costs one pass, however many keyword rules there are.
        if self._any is None:
            self._any = self.prefilter is not None and _find_word(self.prefilter, self.lower)
        return self._any and _find_word(regex, self.lower)


class _CompiledRule:
    """A rule with its regexes compiled once, for a cheap `matches`."""

    __slots__ = ("keywords", "label", "pattern", "rule")

    def __init__(self, rule: Rule, index: int) -> None:
        self.rule = rule
        self.label = rule.name or f"rule[{index}]"
        self.keywords = _keyword_regex(rule.keywords) if rule.keywords else None
        pattern = rule.pattern
        self.pattern = re.compile(pattern, re.IGNORECASE) if isinstance(pattern, str) else pattern

    def matches(self, request: RoutingRequest, text: _Text) -> bool:
        rule = self.rule
        if rule.has_tools is not None and rule.has_tools != request.has_tools:
            return False
        if rule.min_tokens is not None and request.token_estimate < rule.min_tokens:
            return False
        if rule.max_tokens is not None and request.token_estimate > rule.max_tokens:
            return False
        for key, value in rule.metadata.items():
            if key not in request.metadata or request.metadata[key] != value:
                return False
        if self.keywords is not None and not text.has_keyword(self.keywords):
            return False
        if self.pattern is not None and self.pattern.search(text.source) is None:
            return False
        return rule.when is None or bool(rule.when(request))


class RuleSelector:
    """Routes by the first rule that matches; abstains (default route) when none does.

    Rules whose route cannot serve the request (for example a model without tool calling when
    tools are bound) are skipped, so the next matching rule decides.

    Only configured conditions pick a route: text such as "route: strong" or a fake system tag
    in a message matches nothing unless a rule's keywords or pattern say so.

    Args:
        rules: The rules, in priority order.
        max_chars: Search keywords and patterns in the first `max_chars` characters of the
            routing text only. None (default) searches all of it, which costs time in
            proportion to the prompt (about 0.1 ms per 1,000 characters with a few keyword
            rules and a regex; a 2-million-character prompt takes a few hundred ms). Token
            bounds, metadata and `when` always see the whole request.

    Example:
        ```python
        RuleSelector([
            Rule(route="strong", keywords=["prove", "theorem"]),
            Rule(route="strong", min_tokens=2000),
            Rule(route="fast", metadata={"tier": "free"}),
        ])
        ```
    """

    name = "rules"

    def __init__(self, rules: Sequence[Rule], *, max_chars: int | None = None) -> None:
        if isinstance(rules, Rule):
            rules = [rules]
        rules = list(rules)
        if not rules:
            raise RouteConfigError("RuleSelector needs at least one Rule (rules=[] was given).")
        for i, rule in enumerate(rules):
            if not isinstance(rule, Rule):
                raise RouteConfigError(
                    f"RuleSelector rules[{i}] is a {type(rule).__name__}, expected a Rule."
                )
        if max_chars is not None and (
            isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1
        ):
            raise RouteConfigError(
                f"RuleSelector max_chars must be an int >= 1 or None, got {max_chars!r}."
            )
        self.max_chars = max_chars
        self.rules: tuple[Rule, ...] = tuple(rules)
        self._compiled = tuple(_CompiledRule(rule, i) for i, rule in enumerate(rules))
        every_keyword = [k for rule in rules for k in rule.keywords]
        self._prefilter = _keyword_regex(every_keyword) if every_keyword else None

    @property
    def route_names(self) -> frozenset[str]:
        """The routes the rules point to."""
        return frozenset(rule.route for rule in self.rules)

    def select(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """The first rule that matches and whose route is a candidate."""
        source = request.text if self.max_chars is None else request.text[: self.max_chars]
        text = _Text(source, self._prefilter)
        for compiled in self._compiled:
            if compiled.rule.route in candidates and compiled.matches(request, text):
                return Selection(route=compiled.rule.route, reason=compiled.label)
        if not source.strip():
            return Selection(route=None, reason="no rule matched; no text to route on")
        return Selection(route=None, reason="no rule matched")

    async def aselect(self, request: RoutingRequest, candidates: Sequence[str]) -> Selection:
        """Same as `select`: rules are CPU-only and take microseconds."""
        return self.select(request, candidates)

    def __repr__(self) -> str:
        return f"RuleSelector({len(self.rules)} rules -> {sorted(self.route_names)})"
