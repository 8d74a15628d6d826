"""Recipe: declare a router in a TOML or YAML file and load it in LangChain or LlamaIndex.

`configs/router.toml` and `configs/router.yaml` describe the same support bot: billing
questions go to a fine-tuned model, anything mentioning a password or passport stays on a local
model (which never falls back to a remote one), everything else goes to a small model. Two gates
sit in front of the rules: a compliance gate keeps any request holding an email address, a card
number or an API key on the local model, and a budget gate caps each call's estimated cost and
gives each customer a monthly budget (the customer comes from the call's metadata). The file
holds models as `provider:model` strings, rules, gates, fallbacks, capabilities and prices;
code holds nothing but the path:

```python
router = RoutingChatModel.from_config("configs/router.toml")          # LangChain
llm = llama_index_RoutingChatModel.from_config("configs/router.yaml")  # LlamaIndex
```

LangChain builds each model with `init_chat_model`; LlamaIndex with the provider's integration
class (`llama_index.llms.openai.OpenAI`, ...). A mistake in the file fails at load time with the
file and the key (`router.toml: rules[1].keywords: expected a list of strings, got 'refund'`).

Offline: `models=` swaps the file's models for scripted fakes (what you would do in tests), so
neither provider packages nor keys are needed. Remove it to get the real models.

Run it: `python cookbook/from_config.py`
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole

from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.llama_index import RoutingChatModel as LlamaIndexRouter
from routing_chat_model.policy import Budget
from routing_chat_model.testing import ScriptedChatModel, ScriptedLLM

CONFIGS = Path(__file__).resolve().parent / "configs"
QUESTIONS = [
    "I was charged twice on my last invoice",
    "hello! what can you help me with?",
    "my passport number is X123, can you store it?",
    "refund the invoice and send it to jane@example.com",  # billing words, but an email
]
CUSTOMER = {"customer": "acme"}


def langchain_router() -> RoutingChatModel:
    """The TOML file in LangChain, with fakes in place of the three providers."""
    fakes = {name: ScriptedChatModel(model=f"{name}-llm") for name in ("chat", "billing", "local")}
    return RoutingChatModel.from_config(CONFIGS / "router.toml", models=fakes)


def llama_index_router() -> LlamaIndexRouter:
    """The YAML file in LlamaIndex, with fakes in place of the three providers."""
    fakes = {name: ScriptedLLM(model=f"{name}-llm") for name in ("chat", "billing", "local")}
    return LlamaIndexRouter.from_config(CONFIGS / "router.yaml", models=fakes)


def main() -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {"toml": [], "yaml": []}
    router = langchain_router()
    llm = llama_index_router()
    print("question -> route (reason) | TOML + LangChain | YAML + LlamaIndex")
    for question in QUESTIONS:
        answer = router.invoke(question, config={"metadata": CUSTOMER})
        lc = answer.response_metadata["routing"]
        message = ChatMessage(role=MessageRole.USER, content=question)
        li = llm.chat([message], routing_metadata=CUSTOMER).additional_kwargs["routing"]
        results["toml"].append({"route": lc["route"], "reason": lc["reason"]})
        results["yaml"].append({"route": li["route"], "reason": li["reason"]})
        print(f"{question[:40]!r:44} -> {lc['route']:8} ({lc['reason']}) | {li['route']}")
    budget = next(g for g in router.gates if isinstance(g, Budget))
    status = budget.status(CUSTOMER["customer"])
    print(f"acme spent ${status.spent:.6f} of its ${status.budget:.2f} this month (LangChain)")
    return results


if __name__ == "__main__":
    main()
