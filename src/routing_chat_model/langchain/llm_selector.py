"""`LLMRouterSelector`: a LangChain chat model picks the route, through structured output.

```python
from routing_chat_model.langchain import LLMRouterSelector, RoutingChatModel

selector = LLMRouterSelector(
    ChatOpenAI(model="gpt-4o-mini", max_retries=0),
    routes={"billing": "invoices, refunds, payment problems", "chat": "anything else"},
)
router = RoutingChatModel(models={"chat": small, "billing": tuned}, selector=selector)
```

The routing model answers through `with_structured_output` with a schema whose `route` field is
an enum of the candidate routes; a model without structured output (no `bind_tools`) is asked
for the name as plain text instead. Its runs carry the tags `nostream` (LangGraph does not stream
its tokens to the user) and `routing_chat_model:llm_router`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig

from routing_chat_model.errors import RouteConfigError
from routing_chat_model.selectors.llm import LLMSelector, RoutePrompt, route_schema

__all__ = ["LLMRouterSelector", "StructuredMethod"]

StructuredMethod = Literal["function_calling", "json_schema", "json_mode", "text"]
"""How the routing model answers: a `with_structured_output` method, or plain text."""

_TAGS = ["nostream", "routing_chat_model:llm_router"]
_MAX_RUNNABLES = 32
"""Structured runnables kept, one per distinct candidate set."""


class LLMRouterSelector(LLMSelector):
    """Asks a LangChain chat model which route fits each request.

    Args:
        chat_model: The routing model (a cheap one; turn its retries down so a slow provider
            does not stall every call: a failure abstains to the router's default anyway).
        routes: Route (model) name -> what requests belong to it.
        method: The `with_structured_output` method (None: the model's default), or "text"
            to ask for the name as plain text. A model that cannot do structured output
            falls back to text on its own.
        instructions: System instructions replacing the default ones.
        cache_size: Decisions kept (LRU keyed by a hash of the text); 0 disables the cache.
        max_chars: The routing text is cut to this many characters before it is sent.
        name: Shown in decisions as the selector.
    """

    def __init__(
        self,
        chat_model: BaseChatModel,
        routes: Mapping[str, str],
        *,
        method: StructuredMethod | None = None,
        instructions: str | None = None,
        cache_size: int = 1024,
        max_chars: int = 4000,
        name: str = "llm",
    ) -> None:
        if not isinstance(chat_model, BaseChatModel):
            raise RouteConfigError(
                f"LLMRouterSelector chat_model must be a LangChain BaseChatModel, got "
                f"{type(chat_model).__name__}."
            )
        if method not in (None, "function_calling", "json_schema", "json_mode", "text"):
            raise RouteConfigError(
                f"LLMRouterSelector method={method!r}: use None, 'function_calling', "
                "'json_schema', 'json_mode' or 'text'."
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
        self.chat_model = chat_model
        self.method: StructuredMethod | None = method
        self._runnables: OrderedDict[tuple[str, ...], Runnable[Any, Any]] = OrderedDict()
        self._runnables_lock = threading.Lock()

    @property
    def structured(self) -> bool:
        """Whether the routing model answers through structured output (not plain text)."""
        return self.method != "text" and type(self.chat_model).bind_tools is not (
            BaseChatModel.bind_tools
        )

    def _runnable(self, candidates: tuple[str, ...]) -> Runnable[Any, Any]:
        with self._runnables_lock:
            found = self._runnables.get(candidates)
            if found is not None:
                self._runnables.move_to_end(candidates)
                return found
        runnable: Runnable[Any, Any] = self.chat_model
        if self.method != "text":
            kwargs: dict[str, Any] = {} if self.method is None else {"method": self.method}
            try:
                runnable = self.chat_model.with_structured_output(
                    route_schema(candidates), **kwargs
                )
            except NotImplementedError:  # no structured output: ask for the name as text
                runnable = self.chat_model
        with self._runnables_lock:
            self._runnables[candidates] = runnable
            while len(self._runnables) > _MAX_RUNNABLES:
                self._runnables.popitem(last=False)
        return runnable

    @staticmethod
    def _messages(prompt: RoutePrompt) -> list[BaseMessage]:
        return [SystemMessage(content=prompt.system), HumanMessage(content=prompt.user)]

    @staticmethod
    def _config() -> RunnableConfig:
        return {"tags": list(_TAGS), "run_name": "llm_router"}

    @staticmethod
    def _answer(result: Any) -> Any:
        return result.text if isinstance(result, BaseMessage) else result

    def _choose_sync(self, prompt: RoutePrompt) -> Any:
        runnable = self._runnable(prompt.candidates)
        return self._answer(runnable.invoke(self._messages(prompt), self._config()))

    async def _choose_async(self, prompt: RoutePrompt) -> Any:
        runnable = self._runnable(prompt.candidates)
        return self._answer(await runnable.ainvoke(self._messages(prompt), self._config()))

    def __repr__(self) -> str:
        return (
            f"LLMRouterSelector({type(self.chat_model).__name__}, routes={sorted(self.routes)}, "
            f"method={self.method!r})"
        )
