"""LangChain's standard unit suite (`ChatModelUnitTests`) run against `RoutingChatModel`.

Children are `ScriptedChatModel`s whose model names contain the route names.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_tests.unit_tests import ChatModelUnitTests

from routing_chat_model import Rule, RuleSelector
from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.testing import ScriptedChatModel


class TestRoutingChatModelUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return RoutingChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "models": {
                "alpha": ScriptedChatModel(model="fake-alpha"),
                "beta": ScriptedChatModel(model="fake-beta"),
            },
            "selector": RuleSelector([Rule(route="beta", keywords=["prove", "theorem"])]),
        }

    @property
    def standard_chat_model_params(self) -> dict[str, Any]:
        # A router takes no provider settings: it holds no credentials and opens no
        # connection, so `api_key`, `timeout` and `max_retries` belong on each child model
        # (and RoutingChatModel rejects unknown arguments rather than silently dropping them).
        # temperature / max_tokens / stop are kept: the router passes them to the chosen model.
        params = dict(super().standard_chat_model_params)
        for provider_only in ("api_key", "timeout", "max_retries"):
            params.pop(provider_only)
        return params
