"""LangChain's standard chat-model suites, run directly against `ScriptedChatModel`.

They prove the fake behaves like a provider integration (tool calling, structured output,
usage, streaming), which is what lets the router's own run of the suites use it as children.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from routing_chat_model.testing import ScriptedChatModel


class TestScriptedChatModelUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return ScriptedChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "scripted-unit"}


class TestScriptedChatModelIntegration(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return ScriptedChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "scripted-integration"}

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return False

    @property
    def model_override_value(self) -> str:
        # The fake answers under the per-call `model=` name, as providers do.
        return "scripted-override"


class TestScriptedChatModelJsonSchema(TestScriptedChatModelIntegration):
    @property
    def structured_output_kwargs(self) -> dict[str, Any]:
        return {"method": "json_schema"}
