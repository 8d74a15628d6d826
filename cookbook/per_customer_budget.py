"""Recipe: a monthly AI budget per customer of a SaaS help desk, degrading before refusing.

A help-desk product drafts replies to support tickets with an LLM. Each customer's plan includes
a monthly AI budget. Contract and refund questions go to a premium model, everything else to a
standard one. As a customer's budget runs low, the `Budget` gate lets only the models whose
estimated cost still fits, so that customer's traffic degrades to cheaper models instead of
failing; when not even the cheapest fits, the call is refused with a `BudgetExceededError` that
names the customer, the budget, the spend and when it resets, and the app shows a clear message.

- The customer comes from the call's metadata: `config={"metadata": {"tenant_id": ...}}`.
- Spend is recorded from each answer's real cost (`response_metadata["routing"]["cost_usd"]`)
  in a ledger (in memory here; a Redis or SQL store can implement the two-method `Ledger`).
- Budgets are per calendar month; a fixed clock makes the run reproducible, and the last step
  moves it to the next month to show the budget renewing.

Offline: `ScriptedChatModel`s stand in for the providers (they echo the ticket, so answers are
about as long as the prompt), priced per million tokens like real models. The plans' budgets are
tiny so that a few tickets use them up.

Run it: `python cookbook/per_customer_budget.py`
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from routing_chat_model import Rule, RuleSelector
from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.policy.budget import Budget, BudgetExceededError
from routing_chat_model.testing import ScriptedChatModel

PRICES = {  # USD per million tokens, as the providers bill them
    "premium": {"input_per_mtok": 15.00, "output_per_mtok": 75.00},
    "standard": {"input_per_mtok": 3.00, "output_per_mtok": 15.00},
    "economy": {"input_per_mtok": 1.00, "output_per_mtok": 4.00},
}
PLANS = {"acme": 0.50, "globex": 0.016}  # each customer's monthly AI budget, USD

TICKET = (
    "Customer message: we were charged twice for the annual plan this month and our finance "
    "team needs the duplicate charge reversed before the quarter closes. Account history: "
    "upgraded from monthly to annual on the 3rd, card on file unchanged, two invoices issued "
    "minutes apart. Previous agent notes: asked the customer for the invoice numbers, received "
    "both, escalated to billing, no answer yet. "
)


class Clock:
    """A settable clock, so the month in the demo does not depend on today's date."""

    def __init__(self, when: datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        """The current time, seconds since the epoch."""
        return self.now


def build(clock: Clock) -> tuple[RoutingChatModel, Budget]:
    """The router (premium for contracts and refunds, standard otherwise) and its budget gate."""
    budget = Budget(
        prices=PRICES,  # the same prices as the router's, to estimate each model's cost
        tenant_budget=PLANS,  # per customer; a "*" key would give every other customer one
        tenant_key="tenant_id",
        period="month",
        expected_output_tokens=150,  # a drafted reply is rarely longer
        clock=clock,
    )
    router = RoutingChatModel(
        models={
            "premium": ScriptedChatModel(model="premium-llm"),
            "standard": ScriptedChatModel(model="standard-llm"),
            "economy": ScriptedChatModel(model="economy-llm"),
        },
        selector=RuleSelector([Rule(route="premium", keywords=["contract", "refund"])]),
        default="standard",
        prices=PRICES,
        gates=[budget],
    )
    return router, budget


def draft_reply(router: RoutingChatModel, customer: str, question: str) -> dict[str, Any]:
    """Draft one reply for `customer`; a refusal becomes a message the app can show."""
    prompt = f"{TICKET}\nAgent asks: {question}"
    config: Any = {"metadata": {"tenant_id": customer}}
    try:
        answer = router.invoke(prompt, config=config)
    except BudgetExceededError as exc:
        renews = (
            datetime.fromtimestamp(exc.resets_at, timezone.utc).date().isoformat()
            if exc.resets_at is not None
            else "soon"
        )
        return {
            "customer": customer,
            "question": question,
            "route": None,
            "cost_usd": None,
            "refused": f"Your plan's AI budget for this month is used up; it renews on {renews}.",
            "error": str(exc),
        }
    routing = answer.response_metadata["routing"]
    return {
        "customer": customer,
        "question": question,
        "route": routing["route"],
        "cost_usd": routing["cost_usd"],
        "refused": None,
        "restrictions": routing["restrictions"],
    }


def main() -> list[dict[str, Any]]:
    """Serve a month of tickets for two customers, then the first ticket of the next month."""
    clock = Clock(datetime(2025, 6, 10, 9, 30, tzinfo=timezone.utc))
    router, budget = build(clock)
    questions = [
        ("acme", "Can we get a refund for the duplicate charge?"),
        ("globex", "Can we get a refund for the duplicate charge?"),
        ("globex", "Draft a short apology for the delay."),
        ("globex", "Does the contract allow a partial refund?"),
        ("globex", "Summarise the ticket for the billing team."),
        ("globex", "Suggest a follow-up question to the customer."),
        ("globex", "Draft a reminder to the billing team."),
        ("globex", "Draft an update for the customer."),
        ("globex", "Translate the update into German."),
        ("globex", "Shorten the update to two sentences."),
        ("globex", "Draft a final update for the customer."),
        ("globex", "Draft a closing note for the ticket."),
        ("acme", "Does the contract allow a partial refund?"),
    ]
    questions.append(("globex", "Can we get a refund for the duplicate charge?"))
    records = []
    for i, (customer, question) in enumerate(questions):
        if i == len(questions) - 1:  # the last ticket arrives in July: budgets renewed
            clock.now = datetime(2025, 7, 1, 8, 0, tzinfo=timezone.utc).timestamp()
        record = draft_reply(router, customer, question)
        record["left_usd"] = budget.status(customer).remaining
        records.append(record)

    print(f"{'customer':8}  {'model':8}  {'cost':>8}  {'left':>8}  question / outcome")
    for r in records:
        left = f"${r['left_usd']:.5f}"
        if r["refused"]:
            print(f"{r['customer']:8}  {'-':8}  {'-':>8}  {left}  {r['question']}")
            print(f"{'':40}{r['refused']}")
        else:
            cost = f"${r['cost_usd']:.5f}"
            print(f"{r['customer']:8}  {r['route']:8}  {cost}  {left}  {r['question']}")
    refused = next(r for r in records if r["refused"])
    print(f"\nWhat the developer sees in the refusal:\n  {refused['error']}")
    print("\nBudgets now (July):")
    for customer in PLANS:
        status = budget.status(customer)
        print(
            f"  {customer}: spent ${status.spent:.5f} of ${status.budget:.3f}, "
            f"${status.remaining:.5f} left"
        )
    return records


if __name__ == "__main__":
    main()
