"""What a model can serve, and the usage it reports: plain data the router filters and prices by."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from routing_chat_model.errors import RouteConfigError

__all__ = ["ModelCapabilities", "Usage"]


@dataclass(frozen=True)
class ModelCapabilities:
    """What a model can serve; None means unknown (assumed able).

    Attributes:
        tool_calling: Can call tools.
        structured_output: Can answer in a JSON schema.
        image_inputs: Accepts images.
        audio_inputs: Accepts audio.
        video_inputs: Accepts video.
        pdf_inputs: Accepts PDF documents.
        max_input_tokens: Context window, in tokens.
    """

    tool_calling: bool | None = None
    structured_output: bool | None = None
    image_inputs: bool | None = None
    max_input_tokens: int | None = None
    audio_inputs: bool | None = None
    video_inputs: bool | None = None
    pdf_inputs: bool | None = None

    @classmethod
    def from_mapping(cls, where: str, data: Mapping[str, Any]) -> ModelCapabilities:
        """Build from a dict such as a LangChain model profile, ignoring unrelated keys."""
        values = {k: data[k] for k in _FLAGS if k in data}
        for key, value in values.items():
            if value is not None and not isinstance(value, bool):
                raise RouteConfigError(
                    f"{where}[{key!r}] must be True, False or None, got {value!r}."
                )
        limit = data.get("max_input_tokens")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0
        ):
            raise RouteConfigError(
                f"{where}['max_input_tokens'] must be a positive int, got {limit!r}."
            )
        return cls(max_input_tokens=limit, **values)

    def merged(self, override: ModelCapabilities) -> ModelCapabilities:
        """These capabilities with every field `override` sets replacing ours."""
        return ModelCapabilities(
            tool_calling=_pick(override.tool_calling, self.tool_calling),
            structured_output=_pick(override.structured_output, self.structured_output),
            image_inputs=_pick(override.image_inputs, self.image_inputs),
            max_input_tokens=_pick(override.max_input_tokens, self.max_input_tokens),
            audio_inputs=_pick(override.audio_inputs, self.audio_inputs),
            video_inputs=_pick(override.video_inputs, self.video_inputs),
            pdf_inputs=_pick(override.pdf_inputs, self.pdf_inputs),
        )


_FLAGS = (
    "tool_calling",
    "structured_output",
    "image_inputs",
    "audio_inputs",
    "video_inputs",
    "pdf_inputs",
)


def _pick(first: Any, second: Any) -> Any:
    return second if first is None else first


@dataclass(frozen=True)
class Usage:
    """Token usage of one answer, as the model reported it."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
