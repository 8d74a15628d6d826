"""`LLMRouterSelector`: a LlamaIndex LLM picks the route, through structured prediction.

```python
from llama_index.llms.openai import OpenAI
from routing_chat_model.llama_index import LLMRouterSelector, RoutingChatModel

selector = LLMRouterSelector(
    OpenAI(model="gpt-4o-mini", max_retries=0),
    routes={"billing": "invoices, refunds, payment problems", "chat": "anything else"},
)
llm = RoutingChatModel(models={"chat": small, "billing": tuned}, selector=selector)
```

The routing LLM answers through `structured_predict` / `astructured_predict` with a pydantic
class whose `route` field is an enum of the candidate routes: a function-calling LLM is forced
to call it as a tool, any other LLM is asked for JSON that is parsed and validated (LlamaIndex
picks the program). `method="text"` asks for the name as plain text instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms.llm import LLM
from llama_index.core.prompts import ChatPromptTemplate

from routing_chat_model.errors import RouteConfigError
from routing_chat_model.selectors.llm import LLMSelector, RoutePrompt, route_schema

__all__ = ["LLMRouterSelector"]

# The prompt's texts are template *values*, never template text: braces in a route description
# or in the request are not read as placeholders.
_TEMPLATE = ChatPromptTemplate(
    message_templates=[
        ChatMessage(role=MessageRole.SYSTEM, content="{routing_system}"),
        ChatMessage(role=MessageRole.USER, content="{routing_request}"),
    ]
)


class LLMRouterSelector(LLMSelector):
    """Asks a LlamaIndex LLM which route fits each request.

    Args:
        llm: The routing LLM (a cheap one; turn its retries down: a failure abstains to the
            router's default anyway).
        routes: Route (model) name -> what requests belong to it.
        method: "structured" (`structured_predict`, default) or "text" (`chat`, the answer's
            text parsed for a route name).
        instructions: System instructions replacing the default ones.
        cache_size: Decisions kept (LRU keyed by a hash of the text); 0 disables the cache.
        max_chars: The routing text is cut to this many characters before it is sent.
        name: Shown in decisions as the selector.
    """

    def __init__(
        self,
        llm: LLM,
        routes: Mapping[str, str],
        *,
        method: Literal["structured", "text"] = "structured",
        instructions: str | None = None,
        cache_size: int = 1024,
        max_chars: int = 4000,
        name: str = "llm",
    ) -> None:
        if not isinstance(llm, LLM):
            raise RouteConfigError(
                f"LLMRouterSelector llm must be a LlamaIndex LLM, got {type(llm).__name__}."
            )
        if method not in ("structured", "text"):
            raise RouteConfigError(
                f"LLMRouterSelector method={method!r}: use 'structured' or 'text'."
            )
        super().__init__(
            routes,
            self._choose_sync,
            self._choose_async,
            instructions=instructions,
            cache_size=cache_size,
            max_chars=max_chars,
            name=name,
        )
        self.llm = llm
        self.method = method

    @staticmethod
    def _messages(prompt: RoutePrompt) -> list[ChatMessage]:
        return [
            ChatMessage(role=MessageRole.SYSTEM, content=prompt.system),
            ChatMessage(role=MessageRole.USER, content=prompt.user),
        ]

    def _choose_sync(self, prompt: RoutePrompt) -> Any:
        if self.method == "text":
            return self.llm.chat(self._messages(prompt)).message.content
        return self.llm.structured_predict(
            route_schema(prompt.candidates),
            _TEMPLATE,
            routing_system=prompt.system,
            routing_request=prompt.user,
        )

    async def _choose_async(self, prompt: RoutePrompt) -> Any:
        if self.method == "text":
            return (await self.llm.achat(self._messages(prompt))).message.content
        return await self.llm.astructured_predict(
            route_schema(prompt.candidates),
            _TEMPLATE,
            routing_system=prompt.system,
            routing_request=prompt.user,
        )

    def __repr__(self) -> str:
        return (
            f"LLMRouterSelector({type(self.llm).__name__}, routes={sorted(self.routes)}, "
            f"method={self.method!r})"
        )
