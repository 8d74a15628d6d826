"""Routers declared in a TOML or YAML file, checked into a `RouterSpec` the adapters build from.

```toml
default = "chat"                       # answers when the selector abstains
fallbacks = ["chat", "billing"]

[models]                               # name -> "provider:model", in fallback order
chat = "openai:gpt-4o-mini"
billing = { provider = "openai", model = "ft:gpt-4o-mini:acme:billing", kwargs = { temperature = 0 } }

[selector]
type = "embedding"                     # rules | embedding | learned | classifier | llm
threshold = 0.35

[routes.billing]
examples = ["I was charged twice", "refund my order"]
```

`RoutingChatModel.from_config(path)` (LangChain or LlamaIndex) reads the file with
`load_config`, builds each model with the framework's own factory and the selector here, and
passes the rest to the router's settings. Every value is checked first; an error names the file
and the path to the bad key: `router.toml: routes.billing.examples[2]: expected a string, got 3`.

Sections that name another setting of the adapter (e.g. a retry or timeout setting) are passed
to it as plain values; a section the adapter has no setting for is an error, never ignored.
TOML needs no extra package (`tomllib`; `tomli` on Python 3.10); YAML needs PyYAML
(`pip install 'routing-chat-model[yaml]'`). API keys do not belong in the file: provider
clients read them from the environment.

Composite selectors. `type = "chain"` asks its `links` in order, the first that picks a route
wins (`first_of`); `type = "weighted"` combines every link's scores (`weighted`), each link
with a `weight`, the selector with an optional `threshold` (and `normalize`). A link is a
table with a `type` (rules | embedding | learned | classifier | llm) and that selector's
options (`threshold`, `path`, ...). The sections stay shared: a rules link uses `[[rules]]`, an
embedding link the `[routes.<name>]` examples, an llm link their descriptions, a learned or
classifier link its own `path`. Links do not nest. On any selector table, `sticky = true` keeps
a conversation on its first model (`sticky`), and `escalate_only = ["small", "large"]` (every
route, weakest first) never lets it drop to a weaker one (`escalate_only`); `thread_keys` and
`max_threads` tune both. Only one of the two may be set.

```toml
[selector]
type = "chain"
escalate_only = ["chat", "billing"]
links = [{ type = "rules" }, { type = "embedding", threshold = 0.5 }]
# type = "weighted", threshold = 0.6, links = [{ type = "embedding", weight = 0.7 },
#     { type = "classifier", path = "clf", weight = 0.3, threshold = 0.4 }]
```

Gates. `[[gates]]` (a YAML list) declares the gates in front of the selector, in order, each
with a `type` and the gate's plain settings:

```toml
[[gates]]
type = "compliance"            # Compliance: sensitive requests stay on `local` models
local = ["local"]
detectors = ["email", "secret"]  # shipped detectors by name; default all of them
# metadata_key = "sensitive", roles = ["user", "tool"], allow_selector = false, name = ...

[[gates]]
type = "budget"                # Budget: a cost cap per call and a budget per tenant
max_cost_per_call = 0.05
tenant_budget = { acme = 20, "*" = 5 }   # or one number for every tenant
period = "month"               # "day", "month" or a rolling window in seconds
# tenant_key, tz ("Europe/Paris"), expected_output_tokens, unknown_price, missing_tenant,
# hold_seconds, name; prices default to the file's [prices] (then the genai-prices
# catalogue for the file's `provider:model`); a gate's own `prices` table wins over them.

[[gates]]
type = "latency"               # LatencyTarget: models slower than max_ms are left out
max_ms = 2000
# statistic ("p95" | "p50" | "ewma"), min_samples, window, alpha, max_age (false: never),
# count_timeouts, name
```

Gates that are Python objects (your own detectors, a shared ledger, a clock) are passed in
code: `from_config(path, gates=[...])` replaces the file's whole list.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from routing_chat_model.errors import RouteConfigError
from routing_chat_model.request import RouteOn

__all__ = [
    "GATE_KINDS",
    "LINK_KINDS",
    "SELECTOR_KINDS",
    "GateSpec",
    "ModelSpec",
    "RouteSpec",
    "RouterSpec",
    "SelectorSpec",
    "load_config",
    "parse_config",
    "read_config_file",
]

LINK_KINDS = ("rules", "embedding", "learned", "classifier", "llm")
"""The `type` values of a composite selector's links."""
SELECTOR_KINDS = (*LINK_KINDS, "chain", "weighted")
"""The `selector.type` values a file may use."""
GATE_KINDS = ("budget", "compliance", "latency")
"""The `gates[i].type` values a file may use."""

_TOP_LEVEL = (
    "models",
    "default",
    "fallbacks",
    "route_on",
    "capabilities",
    "prices",
    "fallback_on",
    "selector",
    "routes",
    "rules",
    "gates",
)
_OBJECT_SETTINGS = {
    "fallback_exceptions": "exception types cannot be declared in a file; pass them in code: "
    "from_config(path, fallback_exceptions=[...])",
}
"""Adapter settings that hold Python objects, with what to do instead."""
_NOT_SETTINGS = frozenset(
    {"models", "selector", "callbacks", "callback_manager", "cache", "rate_limiter"}
)
_RULE_KEYS = ("route", "keywords", "pattern", "min_tokens", "max_tokens", "metadata", "has_tools")
_SELECTOR_OPTIONS: Mapping[str, tuple[str, ...]] = {
    "rules": (),
    "embedding": (
        "threshold",
        "aggregation",
        "top_k",
        "cache_size",
        "max_chars",
        "on_encoder_error",
        "encoder_timeout_s",
    ),
    "learned": ("path",),
    "classifier": ("path", "threshold"),
    "llm": ("model", "instructions", "cache_size", "max_chars", "method"),
    "chain": ("links",),
    "weighted": ("links", "threshold", "normalize"),
}
_CONVERSATION_KEYS = ("sticky", "escalate_only", "thread_keys", "max_threads")
"""Keys of a selector table that wrap it in a conversation policy."""


@dataclass(frozen=True)
class ModelSpec:
    """One model of the file: `provider:model` plus keyword arguments for its constructor.

    Attributes:
        name: The route (model) name, or "" for the LLM router's own model.
        provider: Provider id as the framework's factory knows it ("openai", "anthropic", ...).
        model: The provider's model name (may contain ':', e.g. fine-tuned OpenAI models).
        kwargs: Constructor keyword arguments (temperature, base_url, max_retries, ...).
        key: Where it is in the file, for error messages ("models.fast").
    """

    name: str
    provider: str
    model: str
    kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    key: str = ""

    @property
    def id(self) -> str:
        """`provider:model`."""
        return f"{self.provider}:{self.model}"


@dataclass(frozen=True)
class RouteSpec:
    """What the file says about one route under `[routes.<name>]`."""

    name: str
    examples: tuple[str, ...] = ()
    description: str | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class SelectorSpec:
    """The `[selector]` section (or one of its links) with its `routes` and `rules`.

    Attributes:
        kind: One of `SELECTOR_KINDS` (a link: one of `LINK_KINDS`).
        options: The section's other keys, checked for the kind (threshold, path, ...).
        routes: `[routes.<name>]` entries, in file order.
        rules: `[[rules]]` entries as `Rule` keyword arguments, in file order.
        model: For "llm": the routing model, a `ModelSpec` or the name of one of `models`.
        links: For "chain" and "weighted": the links, in file order.
        weight: A "weighted" link's weight.
        key: Where it is in the file, for error messages ("selector.links[1]").
        sticky: Wrap the selector in `sticky(...)`.
        escalate_only: Wrap it in `escalate_only(..., order=...)`, weakest route first.
        conversation: The wrapper's `keys` and `max_threads`, when the file sets them.
    """

    kind: str
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    routes: tuple[RouteSpec, ...] = ()
    rules: tuple[Mapping[str, Any], ...] = ()
    model: ModelSpec | str | None = None
    links: tuple[SelectorSpec, ...] = ()
    weight: float | None = None
    key: str = "selector"
    sticky: bool = False
    escalate_only: tuple[str, ...] | None = None
    conversation: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def descriptions(self) -> dict[str, str]:
        """Route name -> description (the LLM router's routes)."""
        return {r.name: r.description for r in self.routes if r.description is not None}


@dataclass(frozen=True)
class GateSpec:
    """One `[[gates]]` entry, checked.

    Attributes:
        kind: One of `GATE_KINDS`.
        options: The gate's keyword arguments as the file gives them, checked (detectors by
            name, `tz` by zone name, a budget's `prices` without the file's).
        key: Where it is in the file ("gates[0]").
    """

    kind: str
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    key: str = ""


@dataclass(frozen=True)
class RouterSpec:
    """A checked router file: everything but the framework objects.

    Attributes:
        source: The file it came from (named in every error).
        models: The models, in file order (the default fallback order).
        default, fallbacks, route_on, capabilities, prices, fallback_on: As the adapters'
            settings of the same names; None when the file does not set them.
        selector: The selector, or None (the default always answers; fallback only).
        gates: The `[[gates]]` entries, in file order.
        settings: Other top-level sections, passed to the adapter setting of the same name.
    """

    source: Path
    models: tuple[ModelSpec, ...]
    default: str | None = None
    fallbacks: list[str] | dict[str, list[str]] | None = None
    route_on: RouteOn | None = None
    capabilities: dict[str, dict[str, Any]] | None = None
    prices: dict[str, dict[str, float]] | None = None
    fallback_on: list[str] | None = None
    selector: SelectorSpec | None = None
    gates: tuple[GateSpec, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def error(self, key: str, message: str) -> RouteConfigError:
        """A `RouteConfigError` naming this file and `key`."""
        where = f"{self.source.name}: {key}" if key else self.source.name
        return RouteConfigError(f"{where}: {message}")

    @contextlib.contextmanager
    def blame(self, key: str) -> Iterator[None]:
        """Re-raise a `RouteConfigError` (or ImportError) raised inside as one naming `key`."""
        try:
            yield
        except RouteConfigError as exc:
            raise self.error(key, str(exc)) from exc
        except ImportError as exc:
            raise ImportError(f"{self.source.name}: {key}: {exc}") from exc

    def settings_for(self, fields: Collection[str], owner: str) -> dict[str, Any]:
        """The keyword arguments for the adapter class `owner` whose settings are `fields`.

        Raises:
            RouteConfigError: a section names no setting of `owner`, or one a file cannot set.
        """
        out: dict[str, Any] = {}
        for name in ("default", "fallbacks", "route_on", "capabilities", "prices", "fallback_on"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        for key, value in self.settings.items():
            if key in _OBJECT_SETTINGS:
                raise self.error(key, _OBJECT_SETTINGS[key] + ".")
            if key not in fields or key in _NOT_SETTINGS:
                known = sorted(
                    set(_TOP_LEVEL) | (set(fields) - _NOT_SETTINGS - {*_OBJECT_SETTINGS})
                )
                raise self.error(
                    key,
                    f"{owner} has no setting {key!r} in this version, so the section cannot be "
                    f"applied; remove it (known keys: {', '.join(known)}).",
                )
            out[key] = value
        return out

    def build_selector(
        self,
        *,
        encoder: object = None,
        llm_selector: Callable[[SelectorSpec], object] | None = None,
    ) -> object:
        """The selector the file declares (None when it declares none).

        Args:
            encoder: For embedding, learned and classifier selectors (and links): the encoder
                (None: the bundled default).
            llm_selector: Builds an "llm" selector or link (the adapters pass one; it needs a
                model).
        """
        if self.selector is None:
            return None
        from routing_chat_model._config_build import build_selector

        return build_selector(self, self.selector, encoder, llm_selector)

    def build_gates(self) -> list[object]:
        """The gates the file declares, built (an empty list when it declares none).

        Raises:
            RouteConfigError: a gate rejects its settings; the message names the gate's key.
        """
        from routing_chat_model._config_gates import build_gate

        return [build_gate(self, gate) for gate in self.gates]


# -- reading files ---------------------------------------------------------------------------


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The raw content of a `.toml`, `.yaml`/`.yml` or `.json` router file.

    Raises:
        RouteConfigError: the file is missing, of another format, or not valid syntax.
        ImportError: a YAML file without PyYAML installed (the message names the extra).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml", ".json"):
        raise RouteConfigError(
            f"{path.name}: unknown config format {suffix or '(no suffix)'!r}; "
            "use a .toml, .yaml/.yml or .json file."
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RouteConfigError(f"{path}: cannot read the config file ({exc.strerror}).") from exc
    if suffix == ".toml":
        data = _parse_toml(path, raw)
    elif suffix == ".json":
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise RouteConfigError(f"{path.name}: not valid JSON: {exc}") from exc
    else:
        data = _parse_yaml(path, raw)
    if not isinstance(data, dict):
        raise RouteConfigError(
            f"{path.name}: the file must hold a table of settings at the top level, "
            f"got {'a list' if isinstance(data, list) else type(data).__name__}."
        )
    return data


def _parse_toml(path: Path, raw: bytes) -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - depends on the interpreter
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RouteConfigError(f"{path.name}: not valid TOML: {exc}") from exc


def _parse_yaml(path: Path, raw: bytes) -> Any:
    try:
        # Imported as a plain module: PyYAML ships no type hints, and it is optional.
        yaml: Any = importlib.import_module("yaml")
    except ImportError as exc:
        raise ImportError(
            f"reading {path.name} needs PyYAML, which is not installed. Install it with: "
            "pip install 'routing-chat-model[yaml]' (or use a .toml file)"
        ) from exc

    def mapping(loader: Any, node: Any) -> dict[Any, Any]:
        """Build a mapping, rejecting duplicate keys (PyYAML would keep the last one)."""
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, (list, dict)):
                raise RouteConfigError(f"{path.name}: line {line}: a key must be a name.")
            if key in out:
                raise RouteConfigError(f"{path.name}: line {line}: duplicate key {key!r}.")
            out[key] = loader.construct_object(value_node, deep=True)
        return out

    loader: Any = type("_StrictSafeLoader", (yaml.SafeLoader,), {})
    loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        return yaml.load(raw.decode("utf-8"), Loader=loader)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RouteConfigError(f"{path.name}: not valid YAML: {exc}") from exc


def load_config(path: str | os.PathLike[str]) -> RouterSpec:
    """Read and check a router file (see the module docstring for its layout).

    Relative paths in the file (a saved selector's `path`) are relative to the file's folder.
    """
    path = Path(path)
    return parse_config(read_config_file(path), source=path)


def parse_config(data: Mapping[str, Any], source: str | Path = "<config>") -> RouterSpec:
    """Check already-parsed settings (e.g. from another format) into a `RouterSpec`."""
    from routing_chat_model._config_check import Parser

    return Parser(Path(source)).spec(data)
