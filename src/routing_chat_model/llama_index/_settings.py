"""Checks of the LlamaIndex `RoutingChatModel`'s settings, and what its children can serve.

LlamaIndex components ignore unknown constructor arguments silently (pydantic's default), so a
misspelt setting would be lost; unknown arguments and malformed routing settings raise
`RouteConfigError` here, naming the field and the fix, before pydantic sees them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llama_index.core.base.llms.types import LLMMetadata, MessageRole
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM

from routing_chat_model._settings import (
    capability_overrides,
    check_known_arguments,
    check_routing_settings,
    with_override,
)
from routing_chat_model.errors import RouteConfigError
from routing_chat_model.router import ModelCapabilities

__all__ = ["check_settings", "merged_metadata", "metadata_of", "model_capabilities"]


def check_settings(cls: type[LLM], kwargs: Mapping[str, Any]) -> None:
    """Raise `RouteConfigError` for unknown arguments and malformed routing settings."""
    check_known_arguments(
        cls,
        LLM,
        kwargs,
        base_settings="LLM's (callback_manager, system_prompt, pydantic_program_mode...)",
        child="child LLM",
    )
    models = kwargs.get("models")
    if not isinstance(models, Mapping) or not models:
        raise RouteConfigError(
            "models must be a non-empty dict of name -> LlamaIndex LLM, e.g. "
            "models={'fast': OpenAI(model='gpt-4o-mini'), 'strong': OpenAI(model='gpt-4o')}; "
            f"got {models!r:.80}."
        )
    for name, child in models.items():
        if not isinstance(child, LLM):
            hint = (
                " For LangChain chat models use routing_chat_model.langchain.RoutingChatModel."
                if type(child).__module__.startswith("langchain")
                else ""
            )
            raise RouteConfigError(
                f"models[{name!r}] is a {type(child).__name__}, not a LlamaIndex LLM "
                f"(llama_index.core.llms.LLM).{hint}"
            )
    check_routing_settings(models, kwargs)
    model_capabilities(models, kwargs.get("capabilities"))


def metadata_of(name: str, child: LLM) -> LLMMetadata:
    """A child's `metadata`, with a clear error when computing it fails."""
    try:
        return child.metadata
    except Exception as exc:
        raise RouteConfigError(
            f"models[{name!r}].metadata failed ({type(exc).__name__}: {exc}); the router reads "
            "each child's context window and function calling from it. Fix the child's "
            "settings (e.g. its model name) so that its metadata can be read."
        ) from exc


def _capabilities_of(
    name: str, child: LLM, override: Mapping[str, Any] | None
) -> ModelCapabilities:
    meta = metadata_of(name, child)
    can_call = isinstance(child, FunctionCallingLLM) and bool(meta.is_function_calling_model)
    window = meta.context_window
    caps = ModelCapabilities(
        tool_calling=can_call,
        max_input_tokens=window if isinstance(window, int) and window > 0 else None,
    )
    if override is None:
        return caps
    if override.get("tool_calling") is True and not isinstance(child, FunctionCallingLLM):
        raise RouteConfigError(
            f"capabilities[{name!r}]['tool_calling'] is True, but {type(child).__name__} is not "
            "a FunctionCallingLLM, so it cannot format tools; remove the override or use a "
            "function-calling LLM."
        )
    return with_override(name, caps, override)


def model_capabilities(models: Mapping[str, LLM], overrides: Any) -> dict[str, ModelCapabilities]:
    """What each child can serve: its `metadata`, with the user's overrides applied.

    `metadata.is_function_calling_model` (on a `FunctionCallingLLM`) gives `tool_calling`,
    `metadata.context_window` gives `max_input_tokens`.
    """
    checked = capability_overrides(models, overrides)
    return {
        name: _capabilities_of(name, child, checked.get(name)) for name, child in models.items()
    }


def merged_metadata(
    models: Mapping[str, LLM], caps: Mapping[str, ModelCapabilities], model_name: str
) -> LLMMetadata:
    """The router's metadata, merged from its children's.

    - `context_window`: the largest child window. The router filters candidates per request by
      window, so a prompt that only the largest child can take goes to it.
    - `num_output`: the largest known (-1 when no child knows), so prompt packing reserves
      room for the longest answer any child may write.
    - `is_chat_model`: True only when every child is a chat model; every LlamaIndex LLM
      serves both chat and complete, so either way works, but a completion-only child is never
      handed chat-formatted prompts it was not tuned for.
    - `is_function_calling_model`: True when any child can call tools; calls with tools go
      only to those children.
    - `system_role`: the children's common one, else SYSTEM.
    """
    metas = [metadata_of(name, child) for name, child in models.items()]
    windows = [c.max_input_tokens for c in caps.values() if c.max_input_tokens is not None]
    outputs = [m.num_output for m in metas if m.num_output > 0]
    roles = {m.system_role for m in metas}
    return LLMMetadata(
        context_window=max(windows) if windows else LLMMetadata().context_window,
        num_output=max(outputs) if outputs else -1,
        is_chat_model=all(m.is_chat_model for m in metas),
        is_function_calling_model=any(c.tool_calling is not False for c in caps.values()),
        model_name=model_name,
        system_role=roles.pop() if len(roles) == 1 else MessageRole.SYSTEM,
    )
