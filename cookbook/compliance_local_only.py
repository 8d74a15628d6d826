"""Recipe: personal data and secrets never leave the building, even when the local model fails.

A `Compliance` gate marks a request sensitive when any turn of the conversation holds an email,
phone number, payment card, IBAN, national id or an API key/secret (or when the caller says so
with `metadata={"sensitive": True}`). A sensitive request may then only go to the models listed
as local, on every path:

1. Selection: the selector is skipped, so the text never reaches its (possibly remote) encoder;
   the default or first local model answers.
2. Fallback: when the local model fails, only other local models are tried; when they all fail
   the call fails (`AllModelsFailedError`) instead of leaving.
3. Overrides: `model="cloud"` on a sensitive request fails closed (`NoCandidateError`).
4. Conversations stay sensitive: PII in an earlier turn keeps later, benign turns local.

The decision records which rule applied ("compliance: sensitive (email): local models only"),
never the matched text. Offline: `ScriptedChatModel`s stand in for Ollama and a cloud model.

Run it: `python cookbook/compliance_local_only.py`
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
from langchain_core.messages import AIMessage, HumanMessage

from routing_chat_model import AllModelsFailedError, NoCandidateError
from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.policy.compliance import DEFAULT_DETECTORS, Compliance
from routing_chat_model.testing import ScriptedChatModel


def employee_id(text: str) -> bool:
    """A house rule: employee ids look like `EMP-123456`."""
    return "EMP-" in text


def build_router(local: ScriptedChatModel | None = None) -> RoutingChatModel:
    """A cloud model for everything, a local one for anything sensitive."""
    return RoutingChatModel(
        models={
            "cloud": ScriptedChatModel(model="gpt-cloud"),
            "local": local or ScriptedChatModel(model="llama-local"),
        },
        default="cloud",
        gates=[Compliance(local=["local"], detectors=[*DEFAULT_DETECTORS, employee_id])],
    )


def show(label: str, message: AIMessage) -> dict[str, Any]:
    """Print and return the route and the restriction of one answer."""
    routing = message.response_metadata["routing"]
    print(f"{label:<28} -> {routing['route']:<6} {routing['restrictions']}")
    return {"label": label, "route": routing["route"], "restrictions": routing["restrictions"]}


def main() -> dict[str, Any]:
    """Route a few requests and show where each went and why."""
    router = build_router()
    records = [
        show("benign question", router.invoke("What is the capital of France?")),
        show("email in the prompt", router.invoke("Draft a reply to jane.doe@example.org")),
        show("card number", router.invoke("Why was 4111 1111 1111 1111 charged twice?")),
        show("house rule (EMP-...)", router.invoke("Summarise the file of EMP-204518")),
        show(
            "PII in an earlier turn",
            router.invoke(
                [
                    HumanMessage("My IBAN is GB82 WEST 1234 5698 7654 32."),
                    AIMessage("Thanks, noted."),
                    HumanMessage("And what's the weather like?"),
                ]
            ),
        ),
        show(
            "flagged by the caller",
            router.invoke("Summarise this contract", config={"metadata": {"sensitive": True}}),
        ),
    ]

    outcomes: dict[str, str] = {}
    try:
        router.invoke("Email jane.doe@example.org", model="cloud")
    except NoCandidateError as exc:
        outcomes["override"] = type(exc).__name__
        print(f"\nmodel='cloud' on a sensitive request: {type(exc).__name__}: {exc}")

    request = httpx.Request("POST", "http://localhost:11434/v1/chat/completions")
    down = openai.InternalServerError(
        "local model down", response=httpx.Response(503, request=request), body=None
    )
    failing = build_router(ScriptedChatModel(model="llama-local", errors=[down]))
    try:
        failing.invoke("Call me on +44 20 7946 0958")
    except AllModelsFailedError as exc:
        outcomes["local_down"] = type(exc).__name__
        print(f"local model down: {type(exc).__name__}: {exc}")
    cloud = failing.models["cloud"]
    assert isinstance(cloud, ScriptedChatModel)
    print(f"calls the cloud model received meanwhile: {len(cloud.calls)}")
    return {"records": records, "outcomes": outcomes, "cloud_calls": len(cloud.calls)}


if __name__ == "__main__":
    main()
