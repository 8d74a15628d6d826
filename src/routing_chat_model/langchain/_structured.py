"""Provider-native structured output (json_schema, json_mode) routed per call."""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks.manager import adispatch_custom_event, dispatch_custom_event
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
)
from langchain_core.runnables import (
    Runnable,
    RunnableConfig,
    RunnableLambda,
    RunnableMap,
    RunnablePassthrough,
)
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass

from routing_chat_model.decision import RoutingDecision
from routing_chat_model.langchain._convert import usage_of
from routing_chat_model.langchain._delegate import complete
from routing_chat_model.langchain._events import ROUTE_CONFIG_KEY, ROUTING_EVENT
from routing_chat_model.langchain._request import routing_request

if TYPE_CHECKING:
    from routing_chat_model.langchain.chat_model import RoutingChatModel

__all__ = ["function_calling", "structured_router"]


def function_calling(
    owner: RoutingChatModel, schema: Any, *, include_raw: bool, strict: bool | None
) -> Runnable[LanguageModelInput, Any]:
    """Structured output as a forced tool call, through the router's own `bind_tools`.

    LangChain's base implementation drops `strict`; here it reaches each child's `bind_tools`
    (OpenAI's strict schema mode, for example), and only when the caller set it.
    """
    strict_kwargs = {} if strict is None else {"strict": strict}
    llm = owner.bind_tools(
        [schema],
        tool_choice="any",
        ls_structured_output_format={
            "kwargs": {"method": "function_calling", **strict_kwargs},
            "schema": schema,
        },
        **strict_kwargs,
    )
    parser: Runnable[Any, Any]
    if isinstance(schema, type) and is_basemodel_subclass(schema):
        parser = PydanticToolsParser(tools=[schema], first_tool_only=True)
    else:
        key_name = convert_to_openai_tool(schema)["function"]["name"]
        parser = JsonOutputKeyToolsParser(key_name=key_name, first_tool_only=True)
    if not include_raw:
        return llm | parser
    parse = RunnablePassthrough.assign(
        parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
    )
    no_parse = RunnablePassthrough.assign(parsed=lambda _: None)
    return RunnableMap(raw=llm) | parse.with_fallbacks([no_parse], exception_key="parsing_error")


def structured_router(
    owner: RoutingChatModel,
    schema: Any,
    *,
    include_raw: bool,
    method: str,
    strict: bool | None,
    **kwargs: Any,
) -> Runnable[LanguageModelInput, Any]:
    """A runnable that routes, then runs the chosen model's own `with_structured_output`.

    Only the chosen model's chat-model run exists (under this runnable's run), so callbacks see
    one chat model start; its metadata carries `routing_route` / `routing_selector`. The
    decision is dispatched as the `routing_decision` event of this runnable's run and, with
    `include_raw=True`, put on the raw message's `response_metadata`.
    """
    built: dict[str, Runnable[LanguageModelInput, Any]] = {}
    options: dict[str, Any] = {"include_raw": include_raw, "method": method, **kwargs}
    if strict is not None:
        options["strict"] = strict

    def child(route: str) -> Runnable[LanguageModelInput, Any]:
        if route not in built:  # built once per route, on first use
            built[route] = owner.models[route].with_structured_output(schema, **options)
        return built[route]

    def decide_on(input: LanguageModelInput, config: RunnableConfig) -> Any:
        messages = owner._convert_input(input).to_messages()
        forced = (config.get("configurable") or {}).get(ROUTE_CONFIG_KEY)
        return routing_request(
            owner, messages, {}, config.get("metadata") or {}, forced, structured=True
        )

    def child_config(
        config: RunnableConfig, route: str, decision: RoutingDecision
    ) -> RunnableConfig:
        metadata = {
            **(config.get("metadata") or {}),
            "routing_route": route,
            "routing_selector": decision.selector,
        }
        return {**config, "metadata": metadata}

    def finish(output: Any, decision: RoutingDecision) -> RoutingDecision:
        raw = output.get("raw") if isinstance(output, dict) else None
        if not isinstance(raw, AIMessage):
            return complete(owner, decision, None, None)
        decision = complete(owner, decision, usage_of(raw), raw.response_metadata.get("model_name"))
        raw.response_metadata["routing"] = decision.to_dict()
        return decision

    def route(input: LanguageModelInput, config: RunnableConfig) -> Any:
        decision = owner.router.decide(decide_on(input, config))
        output, decision = owner.router.run(
            decision, lambda r: child(r).invoke(input, child_config(config, r, decision))
        )
        decision = finish(output, decision)
        if owner.emit_routing_event:
            dispatch_custom_event(ROUTING_EVENT, decision.to_dict(), config=config)
        return output

    async def aroute(input: LanguageModelInput, config: RunnableConfig) -> Any:
        decision = await owner.router.adecide(decide_on(input, config))
        output, decision = await owner.router.arun(
            decision, lambda r: child(r).ainvoke(input, child_config(config, r, decision))
        )
        decision = finish(output, decision)
        if owner.emit_routing_event:
            await adispatch_custom_event(ROUTING_EVENT, decision.to_dict(), config=config)
        return output

    return RunnableLambda(route, afunc=aroute, name="RoutingChatModel")
