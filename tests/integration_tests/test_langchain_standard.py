"""LangChain's standard integration suite (`ChatModelIntegrationTests`) through the router.

The children are `ScriptedChatModel`s that really answer offline (tools, structured output,
usage, streaming), so every call here goes through routing, delegation and fallback code.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from langchain_core.language_models import BaseChatModel
from langchain_tests.integration_tests import ChatModelIntegrationTests

from routing_chat_model import Rule, RuleSelector
from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.testing import ScriptedChatModel

# A 1x1 PNG: the multimodal tests download media from the internet; offline, they get this.
_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
_MEDIA = {".png": _PNG, ".pdf": b"%PDF-1.4\n%%EOF\n", ".wav": b"RIFF\x24\x00\x00\x00WAVEfmt "}


class _Download:
    def __init__(self, url: str) -> None:
        self.content = next((data for ext, data in _MEDIA.items() if ext in url), _PNG)


@pytest.fixture(autouse=True)
def _offline_media(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serve the suite's media downloads locally (tests run with sockets disabled)."""
    monkeypatch.setattr(httpx, "get", lambda url, **_: _Download(url))
    monkeypatch.setenv("LANGCHAIN_TESTS_USER_AGENT", "routing-chat-model-tests")


def _params() -> dict[str, Any]:
    return {
        "models": {
            # Only alpha takes images, PDFs and audio: such requests must be routed to it,
            # whatever the rules say.
            "alpha": ScriptedChatModel(
                model="fake-alpha",
                profile={"image_inputs": True, "pdf_inputs": True, "audio_inputs": True},
            ),
            "beta": ScriptedChatModel(model="fake-beta"),
        },
        "selector": RuleSelector([Rule(route="beta", keywords=["prove", "theorem"])]),
    }


class TestRoutingChatModelIntegration(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return RoutingChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return _params()

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_image_tool_message(self) -> bool:
        return True

    @property
    def supports_pdf_inputs(self) -> bool:
        return True

    @property
    def supports_pdf_tool_message(self) -> bool:
        return True

    @property
    def supports_audio_inputs(self) -> bool:
        return True

    @property
    def supports_anthropic_inputs(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        # `model=<route name>` forces the route; the answer's model_name is "fake-beta".
        return "beta"


class TestRoutingChatModelJsonSchema(TestRoutingChatModelIntegration):
    @property
    def structured_output_kwargs(self) -> dict[str, Any]:
        return {"method": "json_schema"}
