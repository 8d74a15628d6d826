"""Review regressions: gates and modes together, detector false positives and scan cost."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from routing_chat_model._capabilities import Usage
from routing_chat_model.modes import Answer, Binding, Cascade, NoAcceptedAnswerError, Parallel
from routing_chat_model.policy.budget import Budget
from routing_chat_model.policy.compliance import Compliance
from routing_chat_model.policy.detectors import PHONE_DETECTOR, SECRET_DETECTOR
from routing_chat_model.pricing import Pricing
from routing_chat_model.request import RoutingRequest, Turn
from routing_chat_model.router import Router

PRICES = {
    "local": {"input_per_mtok": 1.0, "output_per_mtok": 2.0},
    "remote": {"input_per_mtok": 10.0, "output_per_mtok": 20.0},
}
SENSITIVE = "my email is jane.doe@example.org, summarise my account"


def _request(text: str, **metadata: Any) -> RoutingRequest:
    return RoutingRequest.from_turns([Turn("user", text)], metadata=metadata)


def _describe(result: dict[str, Any]) -> Answer:
    return Answer(text=result["text"], usage=Usage(10, 5), model_name=result["route"])


class _Calls:
    def __init__(self) -> None:
        self.routes: list[str] = []
        self.lock = threading.Lock()

    def call(self, route: str) -> dict[str, Any]:
        with self.lock:
            self.routes.append(route)
        return {"route": route, "text": f"answer from {route}"}

    async def acall(self, route: str) -> dict[str, Any]:
        return self.call(route)


# -- compliance: a synthesiser that is a route is a model call too --------------------------


@pytest.mark.parametrize("use_async", [False, True])
def test_synthesizer_route_excluded_by_compliance_is_never_called(use_async: bool) -> None:
    router = Router(
        ["local", "remote"],
        selector=lambda request: None,
        gates=[Compliance(local=["local"])],
        pricing=Pricing(PRICES, use_genai_prices=False),
    )
    decision = router.decide(_request(SENSITIVE))
    assert decision.candidates == ("local",)
    calls = _Calls()
    synthesized: list[str] = []

    def synthesize(question: str, answers: Any) -> dict[str, Any]:
        synthesized.append("remote")  # the adapters call the route's model here
        return {"route": "remote", "text": "merged"}

    async def asynthesize(question: str, answers: Any) -> dict[str, Any]:
        return synthesize(question, answers)

    mode = Parallel(routes=["local", "remote"], aggregate="synthesize", synthesizer="remote")
    bind = Binding("q", _describe, calls.call, calls.acall, synthesize, asynthesize)
    if use_async:
        outcome = asyncio.run(mode.arun(router, decision, bind))
    else:
        outcome = mode.run(router, decision, bind)
    assert synthesized == []
    assert calls.routes == ["local"]
    assert outcome.decision.route == "local"


def test_mode_never_widens_an_empty_candidate_list_to_every_model() -> None:
    router = Router(["local", "remote"], selector=lambda request: None)
    decision = router.decide(_request("hello")).evolve(route="local", candidates=(), plan=())
    calls = _Calls()
    bind = Binding("q", _describe, calls.call, calls.acall)
    Cascade(order=["local", "remote"], checks=[lambda text: False]).run(router, decision, bind)
    Parallel(routes=["local", "remote"]).run(router, decision, bind)
    assert set(calls.routes) == {"local"}


# -- budget: rejected answers are paid for even when the mode raises -----------------------


@pytest.mark.parametrize("mode", ["cascade", "parallel"])
def test_spend_of_rejected_answers_is_recorded_when_the_mode_raises(mode: str) -> None:
    budget = Budget(prices=PRICES, tenant_budget=100.0, clock=lambda: 1_700_000_000.0)
    router = Router(
        ["local", "remote"],
        selector=lambda request: None,
        gates=[budget],
        pricing=Pricing(PRICES, use_genai_prices=False),
    )
    decision = router.decide(_request("hello", tenant_id="acme"))
    calls = _Calls()
    bind = Binding("q", _describe, calls.call, calls.acall)
    reject = [lambda text: False]
    chosen = (
        Cascade(checks=reject, if_none_pass="raise")
        if mode == "cascade"
        else Parallel(k=2, routes=["local", "remote"], checks=reject, if_none_pass="raise")
    )
    with pytest.raises(NoAcceptedAnswerError) as info:
        chosen.run(router, decision, bind)
    paid = (10 * 1.0 + 5 * 2.0 + 10 * 10.0 + 5 * 20.0) / 1e6
    assert info.value.decision is not None
    assert info.value.decision.cost_usd == pytest.approx(paid)
    status = budget.status("acme")
    assert status.spent == pytest.approx(paid)
    assert status.held == 0.0


# -- detectors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["total 10 000 000 000 000 USD", "ref 001-234-567-890", "code 000 123 456 789"]
)
def test_prices_and_references_with_leading_zeros_are_not_phone_numbers(text: str) -> None:
    assert not PHONE_DETECTOR.detect(text)


@pytest.mark.parametrize("text", ["020 7946 0958", "06 12 34 56 78", "tel 0800 123 4567"])
def test_national_phone_numbers_still_detected(text: str) -> None:
    assert PHONE_DETECTOR.detect(text)


def test_secret_scan_of_repeated_key_names_is_linear() -> None:
    # Each "key" used to start a scan to the end of the text: ~25 s for 45k characters.
    text = "key" * 40_000 + "="
    done = threading.Event()
    result: list[bool] = []

    def scan() -> None:
        result.append(SECRET_DETECTOR.detect(text))
        done.set()

    threading.Thread(target=scan, daemon=True).start()
    assert done.wait(30), "secret detector backtracks quadratically"  # a hang guard, not a speed
    assert result == [False]
    assert SECRET_DETECTOR.detect('api_key = "q8Zr2LmX9vKpT4wN"')


def test_schema_rejection_reason_never_quotes_an_extra_key_of_the_answer() -> None:
    from routing_chat_model.modes import JsonSchema

    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "additionalProperties": False,
    }
    answer = Answer(text='{"a": 1, "jane.doe@example.org": 2}')
    verdict = JsonSchema(schema).check("q", answer)
    assert not verdict.ok
    assert "jane" not in verdict.reason
