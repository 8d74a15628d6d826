"""Recipe: a coding assistant that escalates to a stronger model when the generated code fails.

The cheapest model writes the function first. A validator runs a tiny unit test on the code it
returned; when the test fails, the same request goes to the next model (`Cascade`), up to the
strongest. The answer's `routing` says which model wrote the accepted code, why each earlier
answer was rejected, and what the whole call cost: rejected answers are paid for too.

Offline: the models are `ScriptedChatModel`s scripted with a buggy and a correct answer. In an
application they would be e.g. `ChatOllama(model="qwen2.5-coder:1.5b")`,
`ChatOpenAI(model="gpt-4o-mini")` and `ChatOpenAI(model="gpt-4o")`.

Run it: `python cookbook/cascade_coding_assistant.py`
"""

from __future__ import annotations

from typing import Any

from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.modes import Cascade
from routing_chat_model.testing import ScriptedChatModel

BUGGY = "def median(xs):\n    return sorted(xs)[len(xs) // 2]"
CORRECT = (
    "def median(xs):\n"
    "    s = sorted(xs)\n"
    "    mid = len(s) // 2\n"
    "    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2"
)


def passes_tests(code: str) -> bool:
    """The unit test the generated code must pass (run it in a sandbox in production)."""
    scope: dict[str, Any] = {}
    exec(code, scope)
    median = scope["median"]
    return bool(median([3, 1, 2]) == 2 and median([4, 1, 3, 2]) == 2.5)


def build_router() -> RoutingChatModel:
    """Three models, cheapest first; the cascade escalates while the tests fail."""
    return RoutingChatModel(
        models={
            "local": ScriptedChatModel(model="qwen2.5-coder:1.5b", responses=[BUGGY]),
            "mini": ScriptedChatModel(model="gpt-4o-mini", responses=[BUGGY]),
            "strong": ScriptedChatModel(model="gpt-4o", responses=[CORRECT]),
        },
        mode=Cascade(checks=[passes_tests]),
        prices={
            "local": {"input_per_mtok": 0.0, "output_per_mtok": 0.0},
            "mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6},
            "strong": {"input_per_mtok": 2.5, "output_per_mtok": 10.0},
        },
    )


def main() -> dict[str, Any]:
    """Ask for a median function; print who wrote the accepted code and each step."""
    router = build_router()
    message = router.invoke("Write a Python function median(xs) for a list of numbers.")
    routing = message.response_metadata["routing"]
    print(f"accepted code from {routing['route']!r} (accepted={routing['accepted']}):")
    print(message.content)
    for step in routing["steps"]:
        verdict = "accepted" if step["accepted"] else f"rejected ({step['reason']})"
        print(f"  {step['route']:>6}: {verdict}, cost ${step['cost_usd']:.8f}")
    print(f"total cost ${routing['cost_usd']:.8f}")
    return {
        "route": routing["route"],
        "steps": [(s["route"], s["accepted"]) for s in routing["steps"]],
        "cost_usd": routing["cost_usd"],
        "code": message.content,
    }


if __name__ == "__main__":
    main()
