"""Compliance: sensitive requests may only go to local models, on every path.

A `Compliance` gate scans every turn of a conversation with pluggable detectors (emails,
phone numbers, payment cards, IBANs, national ids, API keys and secrets, or your own). When
one trips, or the caller marks the request sensitive in its metadata, only the local models
may answer: the router's selection, overrides, tool rounds and fallbacks all see the narrowed
candidates, so a failing local model ends in an error rather than a call to a remote one. The
selector is skipped too, so the text never reaches a (possibly remote) encoder. Decisions
record which detectors tripped, never the text they matched.

```python
gate = Compliance(local=["ollama"])
router = RoutingChatModel(models={"ollama": ..., "gpt": ...}, gates=[gate], ...)
```
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence

from routing_chat_model.decision import RoutingDecision
from routing_chat_model.errors import NoCandidateError, RouteConfigError
from routing_chat_model.policy.detectors import (
    CARD_DETECTOR,
    DEFAULT_DETECTORS,
    EMAIL_DETECTOR,
    IBAN_DETECTOR,
    NATIONAL_ID_DETECTOR,
    PHONE_DETECTOR,
    SECRET_DETECTOR,
    Detector,
    DetectorLike,
    RegexDetector,
    as_detector,
    check_name,
)
from routing_chat_model.policy.gate import Restriction
from routing_chat_model.request import RoutingRequest

__all__ = [
    "CARD_DETECTOR",
    "DEFAULT_DETECTORS",
    "EMAIL_DETECTOR",
    "IBAN_DETECTOR",
    "NATIONAL_ID_DETECTOR",
    "PHONE_DETECTOR",
    "SECRET_DETECTOR",
    "Compliance",
    "ComplianceError",
    "Detector",
    "DetectorLike",
    "RegexDetector",
    "as_detector",
]


# -- the gate --------------------------------------------------------------------------------


class ComplianceError(NoCandidateError):
    """A sensitive request has no local model that can serve it; no model was called.

    Attributes:
        detectors: The names of the rules that marked the request sensitive.
        local: The local models configured.
    """

    def __init__(self, gate: str, detectors: Sequence[str], local: Sequence[str]) -> None:
        self.detectors = tuple(detectors)
        self.local = tuple(local)
        super().__init__(
            f"{gate}: the request is sensitive ({', '.join(self.detectors)}) and may only go to "
            f"local models {list(self.local)}, but none of them can serve it (a capability it "
            "needs, such as tool calling or its context window, or a route override, excluded "
            "them). No model was called. Add a local model that can serve this request, or "
            "remove the sensitive data."
        )


class Compliance:
    """A gate keeping sensitive requests on local models, on every path.

    Args:
        local: The models that run in-house; sensitive requests may only go to them.
        detectors: Rules that mark a request sensitive: `Detector`s, compiled regexes or
            functions `text -> bool`, or a mapping name -> one of those (the name is recorded
            in decisions). Default: `DEFAULT_DETECTORS`.
        metadata_key: A request whose metadata has this key with a truthy value is sensitive
            whatever its text (LangChain `config={"metadata": {"sensitive": True}}`,
            LlamaIndex `routing_metadata={"sensitive": True}`). None turns this off.
        roles: The roles of the turns scanned; None (the default) scans every turn, system
            prompts included. Use e.g. `("user", "tool")` when a system prompt carries a
            contact address that would otherwise mark every request sensitive.
        allow_selector: Let the selector choose among the local models for a sensitive
            request. Only for selectors that run in-process: a remote encoder would receive
            the text. Default False: the router's default (or the first local model) answers.
        name: The gate's name in decisions.

    Raises:
        RouteConfigError: `local` is empty or not a list of names, or a detector is invalid or
            two share a name.
    """

    def __init__(
        self,
        local: Sequence[str],
        *,
        detectors: Iterable[DetectorLike] | Mapping[str, DetectorLike] = DEFAULT_DETECTORS,
        metadata_key: str | None = "sensitive",
        roles: Collection[str] | None = None,
        allow_selector: bool = False,
        name: str = "compliance",
    ) -> None:
        if isinstance(local, str) or not isinstance(local, Sequence):
            raise RouteConfigError(
                f"Compliance(local={local!r}): give a list of model names, e.g. local=['ollama']."
            )
        names = list(local)
        if not names or any(not isinstance(n, str) or not n.strip() for n in names):
            raise RouteConfigError(
                f"Compliance(local={names!r}): name at least one local model (non-empty strings);"
                " sensitive requests may only go to these models."
            )
        if len(set(names)) != len(names):
            raise RouteConfigError(f"Compliance(local={names!r}) has duplicate names.")
        self.local: tuple[str, ...] = tuple(names)
        self.detectors: tuple[Detector, ...] = _detectors(detectors)
        if metadata_key is not None and not (isinstance(metadata_key, str) and metadata_key):
            raise RouteConfigError(
                f"Compliance(metadata_key={metadata_key!r}) must be a non-empty string or None."
            )
        if not self.detectors and metadata_key is None:
            raise RouteConfigError(
                "Compliance(detectors=[], metadata_key=None) can never mark a request sensitive;"
                " keep the default detectors or set metadata_key='sensitive'."
            )
        self.metadata_key = metadata_key
        self.roles = None if roles is None else frozenset(roles)
        self.allow_selector = bool(allow_selector)
        self._name = check_name(name)

    @property
    def name(self) -> str:
        """The gate's name in decisions."""
        return self._name

    @property
    def route_names(self) -> frozenset[str]:
        """The local models, for the router to check against its models when built."""
        return frozenset(self.local)

    def scan(self, request: RoutingRequest) -> tuple[str, ...]:
        """The names of the rules that mark `request` sensitive (empty when none does)."""
        tripped: list[str] = []
        key = self.metadata_key
        if key is not None and request.metadata.get(key):
            tripped.append(f"metadata[{key!r}]")
        if request.turns:
            turns = [t for t in request.turns if self.roles is None or t.role in self.roles]
            texts = [part for t in turns for part in (t.text, t.tool_args)]
        else:
            texts = [request.text]
        text = "\n\n".join(t for t in texts if t)
        if text:
            tripped.extend(d.name for d in self.detectors if d.detect(text))
        return tuple(tripped)

    def restrict(self, request: RoutingRequest, candidates: Sequence[str]) -> Restriction | None:
        """Only the local candidates when any turn is sensitive; None otherwise.

        Raises:
            ComplianceError: the request is sensitive and no local model is a candidate.
        """
        tripped = self.scan(request)
        if not tripped:
            return None
        allowed = tuple(m for m in candidates if m in self.local)
        if not allowed:
            raise ComplianceError(self._name, tripped, self.local)
        return Restriction(
            allowed=allowed,
            reason=f"sensitive ({', '.join(tripped)}): local models only",
            bypass_selector=not self.allow_selector,
        )

    def observe(self, decision: RoutingDecision) -> None:
        """Nothing to learn from outcomes."""

    def __repr__(self) -> str:
        names = [d.name for d in self.detectors]
        return f"Compliance(local={list(self.local)}, detectors={names})"


def _detectors(value: object) -> tuple[Detector, ...]:
    if isinstance(value, (str, re.Pattern, Detector)) or callable(value):
        value = [value]  # one detector given on its own
    if isinstance(value, Mapping):
        out = [as_detector(v, check_name(k)) for k, v in value.items()]
    elif isinstance(value, Iterable):
        out = []
        for i, item in enumerate(value):
            fallback = f"pattern_{i}" if isinstance(item, re.Pattern) else None
            out.append(as_detector(item, fallback))
    else:
        raise RouteConfigError(f"detectors={value!r}: give a list of detectors.")
    seen = [d.name for d in out]
    if len(set(seen)) != len(seen):
        raise RouteConfigError(
            f"detectors have duplicate names {seen}; give each a distinct name (use a mapping "
            "name -> detector for regexes and functions)."
        )
    return tuple(out)
