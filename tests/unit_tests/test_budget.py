"""Budget gate: per-call cap, tenant budgets per period, the ledger, holds, both adapters."""

from __future__ import annotations

import asyncio
import math
import threading
from datetime import datetime, timezone
from typing import Any

import pytest

from routing_chat_model.errors import NoCandidateError, RouteConfigError, RoutingInputError
from routing_chat_model.policy.budget import Budget, BudgetExceededError
from routing_chat_model.policy.gate import Gate
from routing_chat_model.policy.ledger import InMemoryLedger, Ledger, period_bounds
from routing_chat_model.pricing import ModelPrice, Pricing
from routing_chat_model.request import RoutingRequest, Turn
from routing_chat_model.router import Router, Usage

PRICES: dict[str, Any] = {
    "cheap": {"input_per_mtok": 1.0, "output_per_mtok": 2.0},
    "dear": {"input_per_mtok": 10.0, "output_per_mtok": 20.0},
}
JUNE = datetime(2025, 6, 10, 12, tzinfo=timezone.utc).timestamp()
PROMPT = "x" * 4000  # ~1000 prompt tokens


class Clock:
    def __init__(self, now: float = JUNE) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def req(tenant: str | None = "acme", text: str = PROMPT) -> RoutingRequest:
    metadata = {} if tenant is None else {"tenant_id": tenant}
    return RoutingRequest.from_turns([Turn("user", text)], metadata=metadata)


def make(budget: Budget, prefer: str = "dear") -> Router:
    """Both models; the selector always wants `prefer`, the other is the fallback."""
    return Router(
        ["dear", "cheap"],
        selector=lambda request: prefer,
        pricing=Pricing(PRICES, use_genai_prices=False),
        gates=[budget],
    )


USAGE = Usage(1000, 1000)


def call(router: Router, request: RoutingRequest, usage: Usage | None = USAGE) -> Any:
    decision = router.decide(request)
    _, decision = router.run(decision, lambda route: "ok")
    return router.with_usage(decision, usage)


def tenant_budget(clock: Clock, **kw: Any) -> Budget:
    kw.setdefault("tenant_budget", 0.05)
    return Budget(prices=PRICES, expected_output_tokens=1000, clock=clock, **kw)


# -- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tenant_budget": -1.0}, "tenant_budget"),
        ({"tenant_budget": math.nan}, "tenant_budget"),
        ({"tenant_budget": {"acme": -2.0}}, "tenant_budget['acme']"),
        ({"max_cost_per_call": math.inf}, "max_cost_per_call"),
        ({"max_cost_per_call": True}, "max_cost_per_call"),
        ({"tenant_budget": 1.0, "period": "week"}, "period"),
        ({"tenant_budget": 1.0, "period": 0}, "period"),
        ({"tenant_budget": 1.0, "expected_output_tokens": -5}, "expected_output_tokens"),
        ({"tenant_budget": 1.0, "unknown_price": "maybe"}, "unknown_price"),
        ({"tenant_budget": 1.0, "missing_tenant": "skip"}, "missing_tenant"),
        ({"tenant_budget": 1.0, "hold_seconds": 0}, "hold_seconds"),
        ({"tenant_budget": 1.0, "tenant_key": ""}, "tenant_key"),
        ({"tenant_budget": 1.0, "ledger": object()}, "ledger"),
        ({}, "max_cost_per_call"),
    ],
)
def test_bad_settings_are_rejected_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(RouteConfigError, match=re_escape(field)):
        Budget(prices=PRICES, **kwargs)


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


def test_prices_come_from_exactly_one_source_and_are_checked() -> None:
    with pytest.raises(RouteConfigError, match="exactly one"):
        Budget(tenant_budget=1.0)
    with pytest.raises(RouteConfigError, match="exactly one"):
        Budget(prices=PRICES, pricing=Pricing(), tenant_budget=1.0)
    with pytest.raises(RouteConfigError, match=r"Budget\.prices.*input_per_mtok"):
        Budget(prices={"cheap": {"input": 1.0}}, tenant_budget=1.0)


def test_a_rolling_period_longer_than_the_ledger_keeps_spend_is_rejected() -> None:
    ledger = InMemoryLedger(max_age=3600)
    with pytest.raises(RouteConfigError, match="max_age"):
        Budget(prices=PRICES, tenant_budget=1.0, period="day", ledger=ledger)
    Budget(prices=PRICES, tenant_budget=1.0, period=1800, ledger=ledger)  # fits


def test_budget_is_a_gate_and_its_error_a_no_candidate_error() -> None:
    assert isinstance(Budget(prices=PRICES, max_cost_per_call=1.0), Gate)
    assert issubclass(BudgetExceededError, NoCandidateError)
    assert isinstance(InMemoryLedger(), Ledger)


# -- cost per call ---------------------------------------------------------------------------


def test_per_call_cap_excludes_models_whose_estimate_is_over_it() -> None:
    # ~1000 prompt + 1000 output tokens: cheap ~$0.003, dear ~$0.03
    budget = Budget(prices=PRICES, max_cost_per_call=0.01, expected_output_tokens=1000)
    decision = call(make(budget), req(tenant=None))
    assert decision.route == "cheap" and decision.selected == "cheap"
    assert decision.candidates == ("cheap",)
    assert decision.restrictions[0].startswith("budget: over $0.01 a call: dear (~$0.03)")
    # a short prompt fits the dear model: no restriction at all
    short = RoutingRequest.from_turns([Turn("user", "hi")])
    small = Budget(prices=PRICES, max_cost_per_call=0.01, expected_output_tokens=100)
    assert make(small).decide(short).restrictions == ()


def test_per_call_cap_refuses_when_no_model_fits_and_says_how_to_fix_it() -> None:
    budget = Budget(prices=PRICES, max_cost_per_call=0.001, expected_output_tokens=1000)
    with pytest.raises(BudgetExceededError) as info:
        make(budget).decide(req(tenant=None))
    message = str(info.value)
    assert "max_cost_per_call=$0.001" in message and "'cheap'" in message
    assert "Raise max_cost_per_call" in message
    assert info.value.cheapest == pytest.approx(0.003) and info.value.tenant is None


def test_unknown_prices_are_allowed_and_flagged_or_denied() -> None:
    prices = {"dear": PRICES["dear"]}  # cheap has no price
    allow = Budget(prices=prices, max_cost_per_call=0.01, expected_output_tokens=1000)
    decision = make(allow, prefer="cheap").decide(req(tenant=None))
    assert decision.route == "cheap"
    assert "price unknown, allowed: cheap" in decision.restrictions[0]
    deny = Budget(
        prices=prices, max_cost_per_call=1.0, unknown_price="deny", expected_output_tokens=1000
    )
    decision = make(deny, prefer="cheap").decide(req(tenant=None))
    assert decision.route == "dear" and decision.candidates == ("dear",)
    only_unknown = Budget(
        prices={"other": PRICES["dear"]}, max_cost_per_call=1.0, unknown_price="deny"
    )
    with pytest.raises(BudgetExceededError, match="no candidate has a known price"):
        make(only_unknown).decide(req(tenant=None))


def test_prices_from_a_pricing_and_model_names() -> None:
    pricing = Pricing({"dear-v2": ModelPrice(10.0, 20.0), "cheap-v1": ModelPrice(1.0, 2.0)})
    budget = Budget(
        pricing=pricing,
        model_names={"dear": "dear-v2", "cheap": "cheap-v1"},
        max_cost_per_call=0.01,
        expected_output_tokens=1000,
    )
    assert budget.estimate("dear", 1000) == pytest.approx(0.03)
    assert make(budget).decide(req(tenant=None)).route == "cheap"


# -- tenant budgets --------------------------------------------------------------------------


def test_a_tenant_degrades_to_cheaper_models_then_is_refused_clearly() -> None:
    clock = Clock()
    budget = tenant_budget(clock)
    router = make(budget)
    routes = []
    with pytest.raises(BudgetExceededError) as info:
        for _ in range(20):
            routes.append(call(router, req()).route)
    # dear costs $0.03, cheap $0.003: one dear call, then cheap until < $0.003 is left
    assert routes == ["dear"] + ["cheap"] * 6
    error = info.value
    assert (error.tenant, error.budget) == ("acme", 0.05)
    assert error.spent == pytest.approx(0.048)
    assert error.resets_at == datetime(2025, 7, 1, tzinfo=timezone.utc).timestamp()
    message = str(error)
    for part in ("tenant 'acme'", "$0.048 of its $0.05 budget this month", "'cheap'"):
        assert part in message
    assert (
        "resets at 2025-07-01T00:00:00+00:00" in message and "Raise the tenant's budget" in message
    )
    # other tenants are not affected, and the month's end resets the budget
    assert call(router, req("globex")).route == "dear"
    clock.now = datetime(2025, 7, 1, 0, 0, 1, tzinfo=timezone.utc).timestamp()
    assert call(router, req()).route == "dear"


def test_the_decision_says_what_is_left_and_what_was_too_dear() -> None:
    clock = Clock()
    router = make(tenant_budget(clock))
    first = call(router, req())
    assert first.restrictions[0].startswith("budget: $0.05 of $0.05 left this month (hold ")
    second = call(router, req())
    assert "$0.02 of $0.05 left this month, too dear now: dear (~$0.03)" in second.restrictions[0]
    assert "acme" not in second.restrictions[0]  # the tenant id is not in the decision


def test_spend_is_the_decision_cost_or_the_estimate_when_unknown() -> None:
    clock = Clock()
    budget = tenant_budget(clock, tenant_budget=1.0)
    router = make(budget)
    call(router, req(), Usage(100, 50))  # dear: 100 * 10 + 50 * 20 per million
    assert budget.status("acme").spent == pytest.approx(0.002)
    call(router, req(), usage=None)  # no usage reported: the estimate for dear
    assert budget.status("acme").spent == pytest.approx(0.002 + 0.03)


def test_unpriced_answers_are_counted_not_recorded() -> None:
    clock = Clock()
    budget = Budget(prices={"dear": PRICES["dear"]}, tenant_budget=1.0, clock=clock)
    router = Router(
        ["cheap"], selector=lambda r: None, gates=[budget], pricing=Pricing(use_genai_prices=False)
    )
    decision = call(router, req())
    assert "price unknown, allowed: cheap" in decision.restrictions[0]
    assert budget.status("acme").spent == 0 and budget.unpriced_calls == 1


def test_daily_and_rolling_periods() -> None:
    clock = Clock()
    daily = tenant_budget(clock, tenant_budget=0.03, period="day")
    router = make(daily)
    assert call(router, req()).route == "dear"
    with pytest.raises(BudgetExceededError, match="today"):
        call(router, req())
    clock.now += 12 * 3600  # the next day (UTC)
    assert call(router, req()).route == "dear"

    clock = Clock()
    rolling = tenant_budget(clock, tenant_budget=0.03, period=3600)
    router = make(rolling)
    assert call(router, req()).route == "dear"
    clock.now += 1800
    with pytest.raises(BudgetExceededError, match="rolling 3600 s window"):
        call(router, req())
    clock.now += 1900  # the first call left the window
    assert call(router, req()).route == "dear"


def test_calendar_periods_follow_the_time_zone() -> None:
    from datetime import timedelta

    tz = timezone(timedelta(hours=-5))
    now = datetime(2025, 6, 30, 22, tzinfo=timezone.utc).timestamp()  # 17:00 on the 30th, -5
    start, end = period_bounds("month", now, tz)
    assert start == datetime(2025, 6, 1, tzinfo=tz).timestamp()
    assert end == datetime(2025, 7, 1, tzinfo=tz).timestamp()
    start, end = period_bounds("day", datetime(2025, 12, 31, 23, tzinfo=tz).timestamp(), tz)
    assert end == datetime(2026, 1, 1, tzinfo=tz).timestamp()
    assert period_bounds(60.0, 1000.0, tz) == (940.0, None)


def test_per_tenant_budgets_with_a_default_and_a_function() -> None:
    clock = Clock()
    plans = tenant_budget(clock, tenant_budget={"acme": 1.0, "*": 0.01})
    router = make(plans)
    assert call(router, req("acme")).route == "dear"
    assert call(router, req("newco")).route == "cheap"  # $0.01 fits only cheap
    strict = tenant_budget(clock, tenant_budget={"acme": 1.0})
    with pytest.raises(BudgetExceededError, match="tenant 'newco' has no budget"):
        make(strict).decide(req("newco"))
    unlimited_vip = tenant_budget(clock, tenant_budget=lambda t: None if t == "vip" else 0.0)
    assert call(make(unlimited_vip), req("vip")).route == "dear"
    with pytest.raises(BudgetExceededError):
        make(unlimited_vip).decide(req("acme"))


def test_a_request_without_a_tenant_is_refused_or_let_through() -> None:
    clock = Clock()
    with pytest.raises(RoutingInputError, match=r"'tenant_id'.*routing_metadata"):
        make(tenant_budget(clock)).decide(req(tenant=None))
    lenient = tenant_budget(clock, missing_tenant="allow", tenant_budget=0.0)
    assert call(make(lenient), req(tenant=None)).route == "dear"


def test_calls_in_flight_hold_their_estimate_until_observed() -> None:
    clock = Clock()
    budget = tenant_budget(clock, tenant_budget=0.04)
    router = make(budget)
    first = router.decide(req())  # dear admitted, $0.03 held
    assert budget.status("acme").held == pytest.approx(0.03)
    assert router.decide(req()).route == "cheap"  # only $0.01 is left to others
    _, done = router.run(first, lambda r: "ok")
    router.with_usage(done, Usage(100, 100))  # cost $0.003, not the $0.03 held
    router.with_usage(done, Usage(100, 100))  # observing twice records once
    status = budget.status("acme")
    assert status.spent == pytest.approx(0.003) and status.held == pytest.approx(0.003)


def test_a_hold_never_observed_is_released_and_a_late_answer_still_counts() -> None:
    clock = Clock()
    budget = tenant_budget(clock, tenant_budget=0.04, hold_seconds=60)
    router = make(budget)
    slow = router.decide(req())
    assert router.decide(req()).route == "cheap"
    clock.now += 61
    assert budget.status("acme").held == 0
    router.with_usage(slow.evolve(cost_usd=0.02), None)  # the answer arrives late
    assert budget.status("acme").spent == pytest.approx(0.02)


# -- the ledger ------------------------------------------------------------------------------


def test_in_memory_ledger_sums_windows_and_drops_old_spend() -> None:
    ledger = InMemoryLedger(resolution=60, max_age=3600)
    ledger.add("a", 1.0, at=0.0)
    ledger.add("a", 2.0, at=59.0)
    ledger.add("a", 4.0, at=60.0)
    assert ledger.spent("a", 0.0) == 7.0
    assert ledger.spent("a", 60.0) == 4.0
    assert ledger.spent("a", 30.0) == 7.0  # a window starting mid-bucket counts the bucket
    assert ledger.spent("b", 0.0) == 0.0
    for minute in range(2, 500):
        ledger.add("a", 1.0, at=minute * 60.0)
    assert ledger.buckets("a") <= 3600 / 60 + 2
    assert ledger.spent("a", 499 * 60.0 - 600) == 11.0
    with pytest.raises(ValueError, match="amount"):
        ledger.add("a", -1.0, at=0.0)
    with pytest.raises(RouteConfigError, match="resolution"):
        InMemoryLedger(resolution=0)


def test_in_memory_ledger_forgets_idle_keys() -> None:
    ledger = InMemoryLedger(resolution=1, max_age=10)
    for i in range(3000):
        ledger.add(f"tenant-{i}", 1.0, at=float(i))
    assert len(ledger.keys()) <= 1100  # swept every 1024 adds


def test_in_memory_ledger_is_thread_safe() -> None:
    ledger = InMemoryLedger()

    def spend() -> None:
        for _ in range(2000):
            ledger.add("acme", 0.5, at=JUNE)

    threads = [threading.Thread(target=spend) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ledger.spent("acme", 0.0) == 4000.0


def test_a_shared_ledger_is_any_object_with_spent_and_add() -> None:
    class Rows:
        def __init__(self) -> None:
            self.rows: list[tuple[str, float, float]] = []

        def spent(self, key: str, period_start: float) -> float:
            return sum(a for k, a, at in self.rows if k == key and at >= period_start)

        def add(self, key: str, amount: float, at: float) -> None:
            self.rows.append((key, amount, at))

    rows = Rows()
    clock = Clock()
    router = make(tenant_budget(clock, ledger=rows))
    call(router, req())
    [(key, amount, at)] = rows.rows
    assert (key, at) == ("acme", clock.now) and amount == pytest.approx(0.03)


# -- through the adapters --------------------------------------------------------------------

LC_PRICES = {
    "dear": {"input_per_mtok": 10_000.0, "output_per_mtok": 10_000.0},
    "cheap": {"input_per_mtok": 1_000.0, "output_per_mtok": 1_000.0},
}


def lc_router(budget: Budget, latency_s: float = 0.0) -> Any:
    from routing_chat_model.langchain import RoutingChatModel
    from routing_chat_model.testing import ScriptedChatModel

    return RoutingChatModel(
        models={
            "dear": ScriptedChatModel(model="dear-llm", latency_s=latency_s),
            "cheap": ScriptedChatModel(model="cheap-llm", latency_s=latency_s),
        },
        selector=lambda request: "dear",
        prices=LC_PRICES,
        gates=[budget],
    )


def test_langchain_adapter_records_each_answer_and_degrades() -> None:
    pytest.importorskip("langchain_core")
    budget = Budget(prices=LC_PRICES, tenant_budget=0.5, expected_output_tokens=20)
    router = lc_router(budget)
    config = {"metadata": {"tenant_id": "acme"}}
    costs, routes = [], []
    with pytest.raises(BudgetExceededError, match="tenant 'acme'"):
        for _ in range(100):
            routing = router.invoke("summarise this ticket", config=config).response_metadata[
                "routing"
            ]
            routes.append(routing["route"])
            costs.append(routing["cost_usd"])
    assert routes[0] == "dear" and routes[-1] == "cheap"
    assert budget.status("acme").spent == pytest.approx(sum(costs))
    assert sum(costs) <= 0.5
    # streaming records the answer's cost once as well
    other = {"metadata": {"tenant_id": "globex"}}
    chunks = list(router.stream("summarise this ticket", config=other))
    streamed = sum(chunks[1:], chunks[0]).response_metadata["routing"]
    assert budget.status("globex").spent == pytest.approx(streamed["cost_usd"])


async def test_concurrent_calls_under_one_tenant_never_overspend() -> None:
    pytest.importorskip("langchain_core")
    # the estimate (prompt tokens + 20 output tokens) is above every answer's real cost, so
    # holds keep the tenant within its budget even with all 100 calls in flight at once
    budget = Budget(prices=LC_PRICES, tenant_budget=0.6, expected_output_tokens=20)
    router = lc_router(budget, latency_s=0.001)
    config = {"metadata": {"tenant_id": "acme"}}
    results = await asyncio.gather(
        *(router.ainvoke(f"question {i} about my invoice", config=config) for i in range(100)),
        return_exceptions=True,
    )
    answers = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert refused and all(isinstance(r, BudgetExceededError) for r in refused)
    decisions = [a.response_metadata["routing"] for a in answers]
    assert {d["route"] for d in decisions} == {"dear", "cheap"}
    total = sum(d["cost_usd"] for d in decisions)
    status = budget.status("acme")
    assert status.spent == pytest.approx(total) and status.held == 0
    assert total <= 0.6


def test_llama_index_adapter_records_spend_per_tenant() -> None:
    pytest.importorskip("llama_index.core")
    from llama_index.core.base.llms.types import ChatMessage, MessageRole

    from routing_chat_model.llama_index import RoutingChatModel
    from routing_chat_model.testing import ScriptedLLM

    budget = Budget(prices=LC_PRICES, tenant_budget=0.3, expected_output_tokens=20)
    router = RoutingChatModel(
        models={"dear": ScriptedLLM(model="dear"), "cheap": ScriptedLLM(model="cheap")},
        selector=lambda request: "dear",
        prices=LC_PRICES,
        gates=[budget],
    )
    messages = [ChatMessage(role=MessageRole.USER, content="where is my order")]
    routes, costs = [], []
    with pytest.raises(BudgetExceededError, match="tenant 'acme'"):
        for _ in range(100):
            routing = router.chat(
                messages, routing_metadata={"tenant_id": "acme"}
            ).additional_kwargs["routing"]
            routes.append(routing["route"])
            costs.append(routing["cost_usd"])
    assert routes[0] == "dear" and routes[-1] == "cheap"
    assert budget.status("acme").spent == pytest.approx(sum(costs)) and sum(costs) <= 0.3
    with pytest.raises(RoutingInputError, match="routing_metadata"):
        router.chat(messages)


def test_cookbook_per_customer_budget_degrades_then_refuses_then_renews(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("langchain_core")
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "cookbook" / "per_customer_budget.py"
    spec = importlib.util.spec_from_file_location("cookbook_per_customer_budget", path)
    assert spec is not None and spec.loader is not None
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    assert recipe.__doc__ and "Run it" in recipe.__doc__
    records = recipe.main()
    globex = [r for r in records if r["customer"] == "globex"]
    june, july = globex[:-1], globex[-1]
    routes = [r["route"] for r in june]
    # premium first, then only cheaper models as the budget runs low, then a refusal
    assert routes[0] == "premium" and routes[-1] is None
    served = routes[:-1]
    assert served == sorted(served, key=["premium", "standard", "economy"].index)
    assert {"standard", "economy"} <= set(served)
    assert "renews on 2025-07-01" in june[-1]["refused"]
    assert "tenant 'globex'" in june[-1]["error"] and "tenant_budget" in june[-1]["error"]
    spent = sum(r["cost_usd"] for r in june if r["cost_usd"] is not None)
    assert spent <= recipe.PLANS["globex"]
    assert july["route"] == "premium"  # a new month, a renewed budget
    assert all(r["route"] == "premium" for r in records if r["customer"] == "acme")
    assert "Your plan's AI budget" in capsys.readouterr().out
