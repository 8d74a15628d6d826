"""Cost of a routed call: overrides, the genai-prices catalogue, validation, caching, offline."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from genai_prices import Usage, calc_price

from routing_chat_model import pricing as pricing_module
from routing_chat_model.errors import RouteConfigError
from routing_chat_model.pricing import ModelPrice, Pricing


def _genai_usd(
    model: str, provider: str | None, when: datetime | None = None, **tokens: int
) -> float:
    """What genai-prices itself says the call costs."""
    calc = calc_price(Usage(**tokens), model, provider_id=provider, genai_request_timestamp=when)
    return float(calc.total_price)


def _genai_price(model: str, provider: str) -> Any:
    return calc_price(
        Usage(input_tokens=0, output_tokens=0), model, provider_id=provider
    ).model_price


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def _base(value: Any) -> float:
    """A catalogue price's base tier as a float."""
    return float(value if isinstance(value, Decimal) else value.base)


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- ModelPrice ----------------------------------------------------------------------------------


def test_model_price_cost_is_per_million_tokens() -> None:
    price = ModelPrice(input_per_mtok=2, output_per_mtok=8)
    cost = price.cost_usd(input_tokens=1_000, output_tokens=500)
    assert cost == pytest.approx(1_000 * 2 / 1e6 + 500 * 8 / 1e6, rel=1e-12)
    assert type(cost) is float
    assert type(price.input_per_mtok) is float  # ints are stored as floats


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("input_per_mtok", math.nan),
        ("output_per_mtok", -1.0),
        ("input_per_mtok", math.inf),
        ("cache_read_per_mtok", math.nan),
        ("cache_write_per_mtok", -0.5),
        ("output_per_mtok", "2.5"),
        ("input_per_mtok", True),
    ],
)
def test_model_price_rejects_bad_values_naming_the_field(field: str, value: Any) -> None:
    kwargs: dict[str, Any] = {"input_per_mtok": 1.0, "output_per_mtok": 1.0, field: value}
    with pytest.raises(RouteConfigError, match=field):
        ModelPrice(**kwargs)


# -- overrides -----------------------------------------------------------------------------------


def test_route_override_wins_over_model_override_and_catalogue() -> None:
    pricing = Pricing(
        {
            "fast": ModelPrice(input_per_mtok=1.0, output_per_mtok=2.0),
            "gpt-4o": {"input_per_mtok": 10.0, "output_per_mtok": 20.0},
        }
    )
    by_route = pricing.cost_usd(route="fast", model="gpt-4o", input_tokens=1_000, output_tokens=100)
    assert by_route == pytest.approx((1_000 * 1.0 + 100 * 2.0) / 1e6, rel=1e-12)
    by_model = pricing.cost_usd(
        route="other", model="gpt-4o", input_tokens=1_000, output_tokens=100
    )
    assert by_model == pytest.approx((1_000 * 10.0 + 100 * 20.0) / 1e6, rel=1e-12)
    assert pricing.price_of(route="fast", model="gpt-4o") == ModelPrice(1.0, 2.0)
    assert pricing.price_of(route=None, model="gpt-4o") == ModelPrice(10.0, 20.0)


def test_override_prices_a_model_the_catalogue_lacks_and_a_free_local_model() -> None:
    pricing = Pricing({"local": {"input_per_mtok": 0, "output_per_mtok": 0}})
    cost = pricing.cost_usd(route="local", model="llama3.1:8b", input_tokens=500, output_tokens=50)
    assert cost == 0.0
    assert type(cost) is float


def test_mapping_form_accepts_cache_prices_and_exposes_them() -> None:
    pricing = Pricing(
        {"fast": {"input_per_mtok": 1, "output_per_mtok": 4, "cache_read_per_mtok": 0.25}}
    )
    assert pricing.overrides["fast"] == ModelPrice(1.0, 4.0, cache_read_per_mtok=0.25)
    assert pricing.overrides["fast"].to_dict() == {
        "input_per_mtok": 1.0,
        "output_per_mtok": 4.0,
        "cache_read_per_mtok": 0.25,
        "cache_write_per_mtok": None,
    }
    with pytest.raises(TypeError):
        pricing.overrides["x"] = ModelPrice(1, 1)  # type: ignore[index]


def test_cache_read_tokens_are_billed_at_their_price() -> None:
    pricing = Pricing(
        {"r": {"input_per_mtok": 3.0, "output_per_mtok": 15.0, "cache_read_per_mtok": 0.3}}
    )
    cost = pricing.cost_usd(
        route="r", model=None, input_tokens=10_000, output_tokens=1_000, cache_read_tokens=8_000
    )
    assert cost == pytest.approx((2_000 * 3.0 + 8_000 * 0.3 + 1_000 * 15.0) / 1e6, rel=1e-12)


def test_cache_tokens_without_a_cache_price_are_billed_as_input() -> None:
    pricing = Pricing({"r": {"input_per_mtok": 3.0, "output_per_mtok": 15.0}})
    cached = pricing.cost_usd(
        route="r",
        model=None,
        input_tokens=10_000,
        output_tokens=0,
        cache_read_tokens=6_000,
        cache_write_tokens=2_000,
    )
    assert cached == pricing.cost_usd(route="r", model=None, input_tokens=10_000, output_tokens=0)


def test_cache_write_tokens_are_billed_at_their_price() -> None:
    price = ModelPrice(3.0, 15.0, cache_read_per_mtok=0.3, cache_write_per_mtok=3.75)
    cost = Pricing({"r": price}).cost_usd(
        route="r", model=None, input_tokens=1_000, output_tokens=0, cache_write_tokens=400
    )
    assert cost == pytest.approx((600 * 3.0 + 400 * 3.75) / 1e6, rel=1e-12)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"fast": {"input_per_mtok": math.nan, "output_per_mtok": 1}}, r"'fast'.*input_per_mtok"),
        ({"fast": {"input_per_mtok": 1, "output_per_mtok": -2}}, r"'fast'.*output_per_mtok"),
        (
            {"fast": {"input_mtok": 1, "output_per_mtok": 1}},
            r"'fast'.*'input_mtok'.*'input_per_mtok'",
        ),
        (
            {"fast": {"input_per_mtok": 1, "output_per_mtok": 1, "currency": 1}},
            r"'fast'.*'currency'",
        ),
        ({"fast": {"input_per_mtok": 1}}, r"'fast'.*missing output_per_mtok"),
        ({"fast": {"input_per_mtok": "1", "output_per_mtok": 1}}, r"'fast'.*input_per_mtok.*str"),
        ({"fast": 2.5}, r"'fast'.*ModelPrice or a mapping"),
        ({"": {"input_per_mtok": 1, "output_per_mtok": 1}}, r"non-empty"),
        ({" fast": {"input_per_mtok": 1, "output_per_mtok": 1}}, r"whitespace.*'fast'"),
        ({3: {"input_per_mtok": 1, "output_per_mtok": 1}}, r"key 3"),
        ([("fast", {"input_per_mtok": 1, "output_per_mtok": 1})], r"must be a mapping"),
    ],
)
def test_bad_overrides_raise_naming_the_key_and_the_fix(overrides: Any, match: str) -> None:
    with pytest.raises(RouteConfigError, match=match):
        Pricing(overrides)


def test_route_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Pricing({"fast": {"input_per_mtok": -1, "output_per_mtok": 1}})


# -- token counts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tokens", "match"),
    [
        ({"input_tokens": -1, "output_tokens": 0}, "input_tokens"),
        ({"input_tokens": 10, "output_tokens": -5}, "output_tokens"),
        ({"input_tokens": 10, "output_tokens": 0, "cache_read_tokens": -1}, "cache_read_tokens"),
        ({"input_tokens": 10, "output_tokens": 0, "cache_read_tokens": 11}, "exceed input_tokens"),
        (
            {
                "input_tokens": 10,
                "output_tokens": 0,
                "cache_read_tokens": 6,
                "cache_write_tokens": 5,
            },
            "exceed input_tokens",
        ),
    ],
)
def test_impossible_token_counts_raise_value_error(tokens: dict[str, Any], match: str) -> None:
    pricing = Pricing({"r": ModelPrice(1.0, 1.0)})
    with pytest.raises(ValueError, match=match):
        pricing.cost_usd(route="r", model=None, **tokens)
    with pytest.raises(ValueError, match=match):  # even when no price is known
        Pricing(use_genai_prices=False).cost_usd(route=None, model="x", **tokens)


@pytest.mark.parametrize("bad", [1.5, "10", True, None])
def test_non_integer_token_counts_raise_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="input_tokens"):
        Pricing({"r": ModelPrice(1.0, 1.0)}).cost_usd(
            route="r", model=None, input_tokens=bad, output_tokens=0
        )


def test_numpy_integer_token_counts_are_accepted() -> None:
    pricing = Pricing({"r": ModelPrice(1.0, 2.0)})
    cost = pricing.cost_usd(
        route="r",
        model=None,
        input_tokens=np.int64(1_000),
        output_tokens=np.int32(10),
    )
    assert cost == pytest.approx((1_000 * 1.0 + 10 * 2.0) / 1e6, rel=1e-12)
    assert type(cost) is float


# -- the genai-prices catalogue ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "provider"),
    [("gpt-4o", "openai"), ("gpt-4o-mini", None), ("claude-sonnet-4-5", "anthropic")],
)
def test_catalogue_price_and_cost_match_genai_prices(model: str, provider: str | None) -> None:
    pricing = Pricing()
    price = pricing.price_of(route="any", model=model, provider=provider)
    assert price is not None
    theirs = _genai_price(model, provider or "openai")
    assert price.input_per_mtok == _base(theirs.input_mtok)
    assert price.output_per_mtok == _base(theirs.output_mtok)
    tokens: dict[str, Any] = {
        "input_tokens": 12_345,
        "output_tokens": 678,
        "cache_read_tokens": 2_000,
    }
    cost = pricing.cost_usd(route="any", model=model, provider=provider, **tokens)
    assert type(cost) is float
    read_rate = (
        price.input_per_mtok if price.cache_read_per_mtok is None else price.cache_read_per_mtok
    )
    expected = (
        10_345 * price.input_per_mtok + 2_000 * read_rate + 678 * price.output_per_mtok
    ) / 1e6
    assert cost == pytest.approx(expected, rel=1e-12)
    assert cost == pytest.approx(_genai_usd(model, provider, **tokens), rel=1e-12)


def test_gpt_4o_reads_cache_at_a_discount() -> None:
    price = Pricing().price_of(route=None, model="gpt-4o", provider="openai")
    assert price is not None
    assert price.cache_read_per_mtok is not None
    assert price.cache_read_per_mtok < price.input_per_mtok


def test_zero_tokens_cost_zero_for_a_known_model() -> None:
    cost = Pricing().cost_usd(
        route=None, model="gpt-4o", provider="openai", input_tokens=0, output_tokens=0
    )
    assert cost == 0.0
    assert type(cost) is float


def test_long_prompts_use_the_catalogue_tier_price() -> None:
    """Claude Sonnet 4.5 charges more for every token once a prompt passes 200k tokens."""
    pricing = Pricing()
    tokens: dict[str, Any] = {
        "input_tokens": 300_000,
        "output_tokens": 2_000,
        "cache_read_tokens": 50_000,
    }
    cost = pricing.cost_usd(route=None, model="claude-sonnet-4-5", provider="anthropic", **tokens)
    assert cost == pytest.approx(_genai_usd("claude-sonnet-4-5", "anthropic", **tokens), rel=1e-12)
    base = pricing.price_of(route=None, model="claude-sonnet-4-5", provider="anthropic")
    assert base is not None
    assert cost is not None and cost > base.cost_usd(**tokens)  # the tier price, not the base one


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("no-such-model-xyz", None),
        ("no-such-model-xyz", "openai"),
        ("gpt-4o", "ollama"),  # a known name on an unpriced provider: no borrowed price
        ("claude-sonnet-4-5", "openai"),  # known elsewhere, not at this provider
    ],
)
def test_unknown_model_or_provider_costs_none_not_zero(model: str, provider: str | None) -> None:
    pricing = Pricing()
    assert (
        pricing.cost_usd(
            route="r", model=model, provider=provider, input_tokens=10, output_tokens=10
        )
        is None
    )
    assert pricing.price_of(route="r", model=model, provider=provider) is None


def test_no_model_and_no_override_costs_none() -> None:
    assert Pricing().cost_usd(route="r", model=None, input_tokens=10, output_tokens=1) is None
    assert Pricing().price_of(route="r", model=None) is None


def test_catalogue_can_be_turned_off() -> None:
    pricing = Pricing({"fast": ModelPrice(1.0, 1.0)}, use_genai_prices=False)
    assert pricing.cost_usd(route="x", model="gpt-4o", input_tokens=10, output_tokens=10) is None
    assert pricing.cost_usd(
        route="fast", model="gpt-4o", input_tokens=10, output_tokens=10
    ) == pytest.approx(2e-5)


@pytest.mark.parametrize(
    ("name", "genai_id", "model"),
    [
        ("google_genai", "google", "gemini-2.5-flash"),
        ("google_vertexai", "google", "gemini-2.5-pro"),
        ("Vertex", "google", "gemini-2.5-flash"),
        ("Gemini_LLM", "google", "gemini-2.5-flash"),
        ("amazon_bedrock", "aws", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ("bedrock_converse", "aws", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ("mistralai", "mistral", "mistral-large-latest"),
        ("xai", "x-ai", "grok-4"),
        ("chat-deepseek", "deepseek", "deepseek-chat"),
        ("groq-chat", "groq", "llama-3.3-70b-versatile"),
        ("fireworks_ai", "fireworks", "accounts/fireworks/models/deepseek-v3p2"),
        ("openai_llm", "openai", "gpt-4o"),
        ("anthropic-chat", "anthropic", "claude-sonnet-4-5"),
    ],
)
def test_framework_provider_names_map_to_genai_prices_ids(
    name: str, genai_id: str, model: str
) -> None:
    tokens: dict[str, Any] = {
        "input_tokens": 40_000,
        "output_tokens": 3_000,
        "cache_read_tokens": 1_000,
    }
    now = _utc("2026-06-01T20:00:00")  # fixed: deepseek prices vary by the hour
    cost = Pricing(clock=_Clock(now)).cost_usd(route=None, model=model, provider=name, **tokens)
    when = datetime.fromtimestamp(now, timezone.utc)
    assert cost == pytest.approx(_genai_usd(model, genai_id, when, **tokens), rel=1e-12)


def test_azure_names_use_azure_prices_not_openai() -> None:
    """genai-prices alone would read "azure_openai" as OpenAI; Azure prices davinci differently."""
    tokens: dict[str, Any] = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    azure = _genai_usd("davinci", "azure", **tokens)
    assert azure != _genai_usd("davinci", "openai", **tokens)  # the case this test is about
    pricing = Pricing()
    for name in ("azure", "azure_openai", "AzureOpenAI", "azure-openai-chat", "azure_openai_llm"):
        assert pricing.cost_usd(
            route=None, model="davinci", provider=name, **tokens
        ) == pytest.approx(azure)


def test_time_of_day_prices_follow_the_clock() -> None:
    clock = _Clock(_utc("2026-06-01T02:00:00"))
    pricing = Pricing(clock=clock)
    tokens: dict[str, Any] = {"input_tokens": 100_000, "output_tokens": 10_000}
    peak = pricing.cost_usd(route=None, model="deepseek-chat", provider="deepseek", **tokens)
    clock.now = _utc("2026-06-01T20:00:00")
    off_peak = pricing.cost_usd(route=None, model="deepseek-chat", provider="deepseek", **tokens)
    for cost, at in ((peak, "2026-06-01T02:00:00"), (off_peak, "2026-06-01T20:00:00")):
        when = datetime.fromisoformat(at).replace(tzinfo=timezone.utc)
        assert cost == pytest.approx(
            _genai_usd("deepseek-chat", "deepseek", when, **tokens), rel=1e-12
        )
    assert peak != off_peak


def test_a_dated_price_change_is_picked_up_by_a_cached_lookup() -> None:
    """Opus 4.6 drops its long-prompt surcharge on 2026-03-13; a long-running process follows."""
    clock = _Clock(_utc("2026-03-12T12:00:00"))
    pricing = Pricing(clock=clock)
    tokens: dict[str, Any] = {"input_tokens": 300_000, "output_tokens": 10_000}
    before = pricing.cost_usd(route=None, model="claude-opus-4-6", provider="anthropic", **tokens)
    clock.now = _utc("2026-03-14T12:00:00")
    after = pricing.cost_usd(route=None, model="claude-opus-4-6", provider="anthropic", **tokens)
    for cost, at in ((before, "2026-03-12T12:00:00"), (after, "2026-03-14T12:00:00")):
        when = datetime.fromisoformat(at).replace(tzinfo=timezone.utc)
        assert cost == pytest.approx(
            _genai_usd("claude-opus-4-6", "anthropic", when, **tokens), rel=1e-12
        )
    assert before != after


def test_per_request_fees_are_included() -> None:
    """Perplexity's sonar charges per request on top of tokens, so even 0 tokens cost something."""
    pricing = Pricing()
    cost = pricing.cost_usd(
        route=None, model="sonar", provider="perplexity", input_tokens=0, output_tokens=0
    )
    assert cost == pytest.approx(_genai_usd("sonar", "perplexity", input_tokens=0, output_tokens=0))
    assert cost is not None and cost > 0


# -- caching -------------------------------------------------------------------------------------


def test_repeated_calls_do_not_look_the_model_up_again(monkeypatch: pytest.MonkeyPatch) -> None:
    pricing = Pricing()
    first = pricing.cost_usd(
        route=None, model="gpt-4o", provider="openai", input_tokens=100, output_tokens=10
    )
    calls: list[str] = []

    def spy(model: str, *args: Any) -> Any:
        calls.append(model)
        raise AssertionError("the catalogue was asked again")

    monkeypatch.setattr(pricing_module, "_calc", spy)
    again = pricing.cost_usd(
        route=None, model="gpt-4o", provider="openai", input_tokens=100, output_tokens=10
    )
    assert again == first
    assert (
        pricing.cost_usd(
            route=None, model="gpt-4o", provider="openai", input_tokens=0, output_tokens=5
        )
        is not None
    )
    assert calls == []


def test_unknown_models_are_cached_too(monkeypatch: pytest.MonkeyPatch) -> None:
    pricing = Pricing()
    assert (
        pricing.cost_usd(route=None, model="no-such-model", input_tokens=1, output_tokens=1) is None
    )
    monkeypatch.setattr(pricing_module, "_calc", lambda *a: pytest.fail("looked up again"))
    assert (
        pricing.cost_usd(route=None, model="no-such-model", input_tokens=1, output_tokens=1) is None
    )


def test_the_lookup_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pricing_module, "_CACHE_SIZE", 3)
    pricing = Pricing()
    for i in range(10):
        pricing.cost_usd(route=None, model=f"no-such-model-{i}", input_tokens=1, output_tokens=1)
    assert len(pricing._cache) <= 3
    assert ("no-such-model-9", None) in pricing._cache  # the newest stays


def test_prices_the_application_installs_replace_cached_ones() -> None:
    """An app running `genai_prices.UpdatePrices` gets its fresh prices, not our stale cache."""
    from genai_prices import data_snapshot, types

    pricing = Pricing()
    assert (
        pricing.cost_usd(route=None, model="my-model", input_tokens=1_000, output_tokens=0) is None
    )
    mine = types.Provider(
        id="mine",
        name="Mine",
        api_pattern="https://mine.example",
        model_match=types.ClauseEquals(equals="my-model"),
        models=[
            types.ModelInfo(
                id="my-model",
                match=types.ClauseEquals(equals="my-model"),
                prices=types.ModelPrice(input_mtok=Decimal(7), output_mtok=Decimal(9)),
            )
        ],
    )
    data_snapshot.set_custom_snapshot(
        data_snapshot.DataSnapshot(providers=[mine], from_auto_update=True)
    )
    try:
        cost = pricing.cost_usd(route=None, model="my-model", input_tokens=1_000, output_tokens=0)
        assert cost == pytest.approx(1_000 * 7 / 1e6, rel=1e-12)
    finally:
        data_snapshot.set_custom_snapshot(None)
    assert (
        pricing.cost_usd(route=None, model="my-model", input_tokens=1_000, output_tokens=0) is None
    )


# -- offline -------------------------------------------------------------------------------------


def test_pricing_never_starts_the_genai_prices_updater() -> None:
    pricing = Pricing()
    pricing.cost_usd(
        route=None, model="gpt-4o", provider="openai", input_tokens=10, output_tokens=1
    )
    pricing.price_of(route=None, model="deepseek-chat", provider="deepseek")
    assert not [t for t in threading.enumerate() if t.name.startswith("genai_prices")]


def test_importing_pricing_does_not_load_genai_prices() -> None:
    code = (
        "import sys, routing_chat_model.pricing as p; "
        "p.Pricing({'r': {'input_per_mtok': 1, 'output_per_mtok': 1}})"
        ".cost_usd(route='r', model='gpt-4o', input_tokens=1, output_tokens=1); "
        "print('genai_prices' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_repr_shows_overrides() -> None:
    text = repr(Pricing({"fast": ModelPrice(1.0, 2.0)}))
    assert "'fast'" in text and "input_per_mtok" in text
