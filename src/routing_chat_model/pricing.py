"""Cost of a routed call in USD from its token usage.

Prices come from, in order: an override keyed by the route's name, an override keyed by the
provider's model name, then the price catalogue of the `genai-prices` package.

Invariants:
- A price that is not known gives `None`, never `0.0`: a free-looking call that was in fact
  unpriced would make a cheap route look cheaper than it is.
- Offline: `genai-prices` is used with the snapshot bundled in the package (or one the application
  itself installed with `genai_prices.UpdatePrices`). This module never starts an update, so it
  never opens a connection. `genai-prices` is imported on the first catalogue lookup, not when this
  module is imported (it takes about 0.3 s).
- Token counts follow LangChain's `usage_metadata` and OpenAI's `prompt_tokens`: `input_tokens`
  counts every prompt token, cached ones included; `cache_read_tokens` and `cache_write_tokens`
  say how many of those were read from or written to the provider's prompt cache.
"""

from __future__ import annotations

import difflib
import functools
import math
import numbers
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from routing_chat_model.errors import RouteConfigError

if TYPE_CHECKING:
    from genai_prices.types import PriceCalculation

__all__ = ["ModelPrice", "Pricing"]

_PER_MTOK: Final = 1_000_000
_CACHE_SIZE: Final = 512
_EXAMPLE: Final = "{'input_per_mtok': 0.15, 'output_per_mtok': 0.6}"


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens.

    Cached prompt tokens are billed at their own price when one is given, else as input.
    """

    input_per_mtok: float
    """Price of a million prompt tokens (the ones not read from or written to a cache)."""
    output_per_mtok: float
    """Price of a million generated tokens."""
    cache_read_per_mtok: float | None = None
    """Price of a million prompt tokens read from the prompt cache; `None` bills them as input."""
    cache_write_per_mtok: float | None = None
    """Price of a million prompt tokens written to the prompt cache; `None` bills them as input."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in ("cache_read_per_mtok", "cache_write_per_mtok"):
                continue
            object.__setattr__(self, f.name, _check_price(f"ModelPrice.{f.name}", value))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, what: str = "ModelPrice") -> ModelPrice:
        """Build a price from `{"input_per_mtok": ..., "output_per_mtok": ...}`.

        Raises:
            RouteConfigError: on a missing or unknown field or a bad value, naming `what`.
        """
        known = [f.name for f in fields(cls)]
        for name in data:
            if name not in known:
                close = difflib.get_close_matches(str(name), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise RouteConfigError(
                    f"{what}: unknown field {name!r}{hint}; a price takes input_per_mtok, "
                    "output_per_mtok and optionally cache_read_per_mtok, cache_write_per_mtok "
                    f"(USD per million tokens), e.g. {_EXAMPLE}."
                )
        missing = [name for name in ("input_per_mtok", "output_per_mtok") if name not in data]
        if missing:
            raise RouteConfigError(
                f"{what}: missing {' and '.join(missing)}; give both, e.g. {_EXAMPLE}."
            )
        try:
            return cls(**data)
        except RouteConfigError as exc:
            raise RouteConfigError(f"{what}: {exc}") from None

    def cost_usd(
        self,
        *,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float:
        """The cost in USD of a call with this usage at this price.

        Raises:
            ValueError: on a negative count, or cached tokens exceeding `input_tokens`.
            TypeError: on a count that is not an integer.
        """
        counts = _check_tokens(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
        return self._cost(*counts)

    def to_dict(self) -> dict[str, float | None]:
        """The price as a plain dict (the mapping form `Pricing` accepts)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def _cost(self, inp: int, out: int, read: int, write: int) -> float:
        read_rate = (
            self.input_per_mtok if self.cache_read_per_mtok is None else self.cache_read_per_mtok
        )
        write_rate = (
            self.input_per_mtok if self.cache_write_per_mtok is None else self.cache_write_per_mtok
        )
        usd = (
            (inp - read - write) * self.input_per_mtok
            + read * read_rate
            + write * write_rate
            + out * self.output_per_mtok
        )
        return usd / _PER_MTOK


def _check_price(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise RouteConfigError(
            f"{what} must be a number of USD per million tokens, got {type(value).__name__} "
            f"{value!r}; e.g. 2.5 for $2.50 per million tokens."
        )
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise RouteConfigError(
            f"{what} must be a finite number >= 0 (USD per million tokens), got {value!r}."
        )
    return number


def _check_tokens(
    inp: object, out: object, read: object, write: object
) -> tuple[int, int, int, int]:
    counts: tuple[int, int, int, int]
    if (  # the hot path: plain non-negative ints
        type(inp) is int
        and type(out) is int
        and type(read) is int
        and type(write) is int
        and inp >= 0
        and out >= 0
        and read >= 0
        and write >= 0
    ):
        counts = (inp, out, read, write)
    else:
        counts = (
            _count("input_tokens", inp),
            _count("output_tokens", out),
            _count("cache_read_tokens", read),
            _count("cache_write_tokens", write),
        )
    if counts[2] + counts[3] > counts[0]:
        raise ValueError(
            f"cache_read_tokens + cache_write_tokens ({counts[2] + counts[3]}) exceed input_tokens "
            f"({counts[0]}); input_tokens must count every prompt token, cached ones included."
        )
    return counts


def _count(name: str, value: object) -> int:
    if type(value) is not int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
        value = int(value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


# -- provider names --------------------------------------------------------------------------

_PROVIDER_ALIASES: Final[Mapping[str, str]] = {
    **dict.fromkeys(("azure_openai", "azureopenai", "azure_ai"), "azure"),
    **dict.fromkeys(("google_genai", "googlegenai", "google_generative_ai"), "google"),
    **dict.fromkeys(("google_vertexai", "google_anthropic_vertex", "vertexai", "vertex"), "google"),
    **dict.fromkeys(("gemini",), "google"),
    **dict.fromkeys(("bedrock", "bedrock_converse", "bedrockconverse", "amazon_bedrock"), "aws"),
    **dict.fromkeys(("mistralai",), "mistral"),
    **dict.fromkeys(("xai", "x_ai"), "x-ai"),
    **dict.fromkeys(("together_ai", "togetherai"), "together"),
    **dict.fromkeys(("fireworks_ai", "fireworksai"), "fireworks"),
    **dict.fromkeys(("moonshot",), "moonshotai"),
}
"""LangChain / LlamaIndex provider names -> genai-prices provider ids, where they differ.

Keys are normalized: lower case, `-`/space/`.` as `_`, without a `chat_` prefix or a `_chat` /
`_llm` suffix (LangChain's `_llm_type` "azure-openai-chat", LlamaIndex's "Bedrock_LLM"). Names not
listed go to genai-prices as they are; it knows its own ids ("groq", "deepseek", "cohere"...).
"""


@functools.lru_cache(maxsize=256)
def _genai_provider(provider: str | None) -> str | None:
    """The genai-prices provider id for a LangChain or LlamaIndex provider name."""
    if provider is None:
        return None
    name = provider.strip().lower().replace("-", "_").replace(" ", "_").replace(".", "_")
    name = name.removeprefix("chat_")
    for suffix in ("_chat", "_llm"):
        name = name.removesuffix(suffix)
    return _PROVIDER_ALIASES.get(name, name)


# -- genai-prices catalogue ------------------------------------------------------------------


@dataclass(frozen=True)
class _Tariff:
    """A catalogue price ready for the hot path."""

    price: ModelPrice
    """The base price (below every tier)."""
    tiers: tuple[tuple[int, ModelPrice], ...]
    """`(start, price)` ascending: `price` applies when `input_tokens > start`."""
    valid_until: float
    """Clock time at which the catalogue's price changes (a dated price change), or inf."""
    exact: bool
    """Ask genai-prices on every call (time-of-day prices, per-request fees, or a price this
    module's arithmetic did not reproduce)."""

    def cost(self, inp: int, out: int, read: int, write: int) -> float:
        price = self.price
        for start, tier_price in self.tiers:
            if inp <= start:
                break
            price = tier_price
        return price._cost(inp, out, read, write)


_CATALOGUE_KEYS: Final = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")


class _Unsupported(Exception):
    """A catalogue price this module's own arithmetic does not reproduce."""


def _rate(value: object) -> tuple[float, dict[int, float]]:
    """A genai-prices price value as (base, {tier start: price})."""
    if isinstance(value, Decimal):
        return float(value), {}
    base, tiers = getattr(value, "base", None), getattr(value, "tiers", None)
    if isinstance(base, Decimal) and isinstance(tiers, list):
        return float(base), {int(t.start): float(t.price) for t in tiers}
    raise _Unsupported


def _split_price(model_price: object) -> tuple[ModelPrice, tuple[tuple[int, ModelPrice], ...]]:
    """A genai-prices `ModelPrice` as our base price and tiers; `_Unsupported` if not tokens."""
    rates: dict[str, tuple[float, dict[int, float]] | None] = {}
    for key in _CATALOGUE_KEYS:
        value = getattr(model_price, key, None)
        rates[key] = None if value is None else _rate(value)
    if rates["input_mtok"] is None:
        raise _Unsupported  # not priced per token (images, characters...)

    def at(start: int | None) -> ModelPrice:
        values: list[float | None] = []
        for rate in rates.values():
            if rate is None:
                values.append(None)
                continue
            base, tiers = rate
            applicable = [s for s in tiers if start is not None and s <= start]
            values.append(tiers[max(applicable)] if applicable else base)
        inp, out, read, write = values
        return ModelPrice(inp or 0.0, out or 0.0, read, write)

    starts = sorted({s for rate in rates.values() if rate is not None for s in rate[1]})
    return at(None), tuple((s, at(s)) for s in starts)


def _calc(
    model: str, provider: str | None, when: datetime, counts: tuple[int, int, int, int]
) -> PriceCalculation:
    from genai_prices import Usage, calc_price

    inp, out, read, write = counts
    usage = Usage(
        input_tokens=inp, output_tokens=out, cache_read_tokens=read, cache_write_tokens=write
    )
    return calc_price(usage, model, provider_id=provider, genai_request_timestamp=when)


def _resolve(model: str, provider: str | None, now: float) -> _Tariff | None:
    """Look `model` up in genai-prices; None when it is not there or not priced per token."""
    when = datetime.fromtimestamp(now, timezone.utc)
    try:
        calc = _calc(model, provider, when, (0, 0, 0, 0))
        price, tiers = _split_price(calc.model_price)
    except (LookupError, _Unsupported):
        return None
    valid_until, exact = _validity(calc, when)
    if getattr(calc.model_price, "requests_kcount", None) is not None:
        exact = True  # a fee per request, whatever the tokens
    tariff = _Tariff(price, tiers, valid_until, exact)
    if not exact and not _agrees(tariff, model, provider, when):
        tariff = _Tariff(price, tiers, valid_until, exact=True)
    return tariff


def _validity(calc: PriceCalculation, when: datetime) -> tuple[float, bool]:
    """Until when the price found holds, and whether it varies within a day."""
    conditional = getattr(calc.model, "prices", None)
    if not isinstance(conditional, list):
        return math.inf, False
    today = when.date()
    changes: list[date] = []
    for entry in conditional:
        constraint = getattr(entry, "constraint", None)
        if constraint is None:
            continue
        start = getattr(constraint, "start_date", None)
        if not isinstance(start, date):
            return math.inf, True  # time-of-day prices (off-peak discounts)
        if start > today:
            changes.append(start)
    if not changes:
        return math.inf, False
    first = min(changes)
    return datetime(first.year, first.month, first.day, tzinfo=timezone.utc).timestamp(), False


def _agrees(tariff: _Tariff, model: str, provider: str | None, when: datetime) -> bool:
    """Whether our arithmetic matches genai-prices' own on a few usages (below/above tiers)."""
    probes = [(10_007, 2_003, 0, 0), (10_007, 2_003, 3_001, 1_009)]
    probes += [(start + 10_007, 2_003, 3_001, 1_009) for start, _ in tariff.tiers]
    for probe in probes:
        theirs = float(_calc(model, provider, when, probe).total_price)
        ours = tariff.cost(*probe)
        if not math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-12):
            return False
    return True


_MISSING: Final = object()


class Pricing:
    """The cost of each routed call, from overrides or the genai-prices catalogue.

    Args:
        overrides: Prices by route name or by provider model name: a `ModelPrice` or a mapping
            like `{"input_per_mtok": 0.15, "output_per_mtok": 0.6}`. A route's override wins over
            a model's; a model name must match exactly as the provider reports it. Use one for a
            local model (`{"input_per_mtok": 0, "output_per_mtok": 0}`), a negotiated price or a
            model the catalogue lacks.
        use_genai_prices: Look models without an override up in genai-prices. With `False` only
            overrides are priced and genai-prices is never imported.
        clock: Seconds since the epoch, for the catalogue's dated and time-of-day prices;
            `time.time` by default (tests pass a fixed clock).

    Raises:
        RouteConfigError: on a bad key or price, naming the key and the fix.

    Catalogue lookups are cached per (model, provider) in a bounded cache: the first call for a
    model costs a few genai-prices lookups, later ones are plain float arithmetic.
    """

    def __init__(
        self,
        overrides: Mapping[str, ModelPrice | Mapping[str, float]] | None = None,
        *,
        use_genai_prices: bool = True,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._overrides: Mapping[str, ModelPrice] = MappingProxyType(_check_overrides(overrides))
        self._use_catalogue = bool(use_genai_prices)
        self._clock = clock or time.time
        self._cache: dict[tuple[str, str | None], _Tariff | None] = {}
        self._snapshot: object = None
        self._get_snapshot: Callable[[], object] | None = None
        self._lock = threading.Lock()

    @property
    def overrides(self) -> Mapping[str, ModelPrice]:
        """The validated overrides (read only)."""
        return self._overrides

    def cost_usd(
        self,
        *,
        route: str | None,
        model: str | None,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        provider: str | None = None,
    ) -> float | None:
        """The cost in USD of one call, or None when no price is known.

        Args:
            route: The route (model name in the router) that answered.
            model: The provider's model name (e.g. `"gpt-4o-2024-08-06"`).
            input_tokens: Every prompt token, cached ones included.
            output_tokens: Generated tokens (reasoning included).
            cache_read_tokens: Prompt tokens read from the provider's cache.
            cache_write_tokens: Prompt tokens written to the provider's cache.
            provider: The LangChain/LlamaIndex provider name (`"openai"`, `"google_genai"`,
                `"azure"`...). An unknown provider gives None rather than another provider's
                price for a model of the same name.

        Raises:
            ValueError: on a negative count, or cached tokens exceeding `input_tokens` (broken
                usage data; an unpriced None would hide it).
            TypeError: on a count that is not an integer.

        A catalogue fee per request (Perplexity's) is included, so such a call is never free.
        """
        counts = _check_tokens(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
        override = self._override(route, model)
        if override is not None:
            return override._cost(*counts)
        if model is None or not self._use_catalogue:
            return None
        genai_provider = _genai_provider(provider)
        now = self._clock()
        tariff = self._tariff(model, genai_provider, now)
        if tariff is None:
            return None
        if tariff.exact:
            when = datetime.fromtimestamp(now, timezone.utc)
            return float(_calc(model, genai_provider, when, counts).total_price)
        return tariff.cost(*counts)

    def price_of(
        self, *, route: str | None, model: str | None, provider: str | None = None
    ) -> ModelPrice | None:
        """The per-million-token price `cost_usd` uses now, or None when none is known.

        For a catalogue price with tiers (e.g. above 200k prompt tokens) this is the base tier.
        """
        override = self._override(route, model)
        if override is not None:
            return override
        if model is None or not self._use_catalogue:
            return None
        genai_provider = _genai_provider(provider)
        now = self._clock()
        tariff = self._tariff(model, genai_provider, now)
        if tariff is None:
            return None
        if tariff.exact:  # the price may differ by the hour: read it for now
            fresh = _resolve(model, genai_provider, now)
            return None if fresh is None else fresh.price
        return tariff.price

    def _override(self, route: str | None, model: str | None) -> ModelPrice | None:
        if route is not None and (price := self._overrides.get(route)) is not None:
            return price
        if model is not None:
            return self._overrides.get(model)
        return None

    def _tariff(self, model: str, provider: str | None, now: float) -> _Tariff | None:
        get_snapshot = self._get_snapshot
        if get_snapshot is None:
            from genai_prices import data_snapshot

            get_snapshot = self._get_snapshot = data_snapshot.get_snapshot
        snapshot = get_snapshot()
        if snapshot is not self._snapshot:  # the application installed newer prices
            with self._lock:
                self._cache.clear()
                self._snapshot = snapshot
        key = (model, provider)
        tariff = self._cache.get(key, _MISSING)
        if tariff is _MISSING or (isinstance(tariff, _Tariff) and now >= tariff.valid_until):
            tariff = _resolve(model, provider, now)
            with self._lock:
                self._cache.pop(key, None)
                while len(self._cache) >= _CACHE_SIZE:
                    del self._cache[next(iter(self._cache))]
                self._cache[key] = tariff
        assert tariff is None or isinstance(tariff, _Tariff)
        return tariff

    def __repr__(self) -> str:
        overrides = {name: price.to_dict() for name, price in self._overrides.items()}
        return f"Pricing(overrides={overrides!r}, use_genai_prices={self._use_catalogue!r})"


def _check_overrides(
    overrides: Mapping[str, ModelPrice | Mapping[str, float]] | None,
) -> dict[str, ModelPrice]:
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise RouteConfigError(
            f"pricing overrides must be a mapping of route or model name -> price, got "
            f"{type(overrides).__name__}; e.g. {{'fast': {_EXAMPLE}}}."
        )
    checked: dict[str, ModelPrice] = {}
    for key, value in overrides.items():
        if not isinstance(key, str) or not key.strip():
            raise RouteConfigError(
                f"pricing override key {key!r} must be a non-empty route or model name (str)."
            )
        if key != key.strip():
            raise RouteConfigError(
                f"pricing override key {key!r} has surrounding whitespace; write {key.strip()!r}."
            )
        what = f"pricing override {key!r}"
        if isinstance(value, ModelPrice):
            checked[key] = value
        elif isinstance(value, Mapping):
            checked[key] = ModelPrice.from_mapping(value, what=what)
        else:
            raise RouteConfigError(
                f"{what} must be a ModelPrice or a mapping like {_EXAMPLE}, "
                f"got {type(value).__name__} {value!r}."
            )
    return checked
