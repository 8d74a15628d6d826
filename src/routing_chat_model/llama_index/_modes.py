"""Cascade and parallel modes for the LlamaIndex adapter: the core's modes over the children.

One function per entry point (`chat`, `achat`, `stream_chat`, `astream_chat`, `complete`...),
taking the call's `ChatCall`/`CompletionCall`. Without a mode, for a route forced by the
caller, a tool round, or a call with tools, each is the plain routed call of `_delegate`.

Each child call runs in the router's `CallScope` (its events tagged with the route, legacy
callbacks not counted twice), as in a routed call. The response carries the decision with
`mode`, `accepted` and `steps` in `additional_kwargs["routing"]`; one `RoutingDecisionEvent`
follows.

Streaming contract: an answer is chosen only once complete (it must pass its checks), so a
streamed call in a mode yields the chosen answer as one chunk (`delta` = the whole text).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    MessageRole,
)
from llama_index.core.instrumentation.span import active_span_id
from llama_index.core.llms.llm import LLM

from routing_chat_model.decision import RoutingDecision
from routing_chat_model.llama_index import _delegate
from routing_chat_model.llama_index._calls import ChatCall, CompletionCall
from routing_chat_model.llama_index._convert import model_name_of, usage_of
from routing_chat_model.modes import Answer, Binding, Cascade, Outcome, Parallel, Score
from routing_chat_model.modes.checks import AJudgeFn, JudgeFn
from routing_chat_model.modes.prompts import (
    JUDGE_SYSTEM,
    SYNTHESIS_SYSTEM,
    judge_user,
    parse_rating,
    synthesis_user,
)

if TYPE_CHECKING:
    from routing_chat_model.llama_index.chat_model import RoutingChatModel

__all__ = [
    "achat",
    "acomplete",
    "astream_chat",
    "astream_complete",
    "bind_judge",
    "chat",
    "complete",
    "describe",
    "stream_chat",
    "stream_complete",
]

R = TypeVar("R", ChatResponse, CompletionResponse)

Mode = Cascade | Parallel


def _mode(owner: RoutingChatModel, decision: RoutingDecision, tools: bool) -> Mode | None:
    mode = getattr(owner, "mode", None)
    if mode is None or tools or not mode.applies(decision):
        return None
    return cast("Mode", mode.bind_judges("llama_index", bind_judge))


def _text(response: ChatResponse | CompletionResponse) -> str:
    if isinstance(response, ChatResponse):
        return response.message.content or ""
    return response.text


def _mean_logprob(response: ChatResponse | CompletionResponse) -> float | None:
    rows = response.logprobs
    if not rows:
        return None
    values = [row[0].logprob for row in rows if row]
    return sum(values) / len(values) if values else None


def describe(response: ChatResponse | CompletionResponse) -> Answer:
    """A child's response as the mode's `Answer` (text, usage, log-probabilities)."""
    raw = response.raw
    finish = None
    if isinstance(raw, dict):
        choices = raw.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            finish = choices[0].get("finish_reason")
    return Answer(
        text=_text(response),
        usage=usage_of(response),
        model_name=model_name_of(response),
        logprob=_mean_logprob(response),
        finish_reason=finish,
    )


def _binding(
    owner: RoutingChatModel,
    mode: Any,
    question: str,
    invoke: Callable[[str], R],
    ainvoke: Callable[[str], Awaitable[R]],
    chat: bool,
) -> Binding[R]:
    span_id = active_span_id.get()

    def call(route: str) -> R:
        with owner._scope(route, span_id).active():
            return _named(owner, route, invoke(route))

    async def acall(route: str) -> R:
        with owner._scope(route, span_id).active():
            return _named(owner, route, await ainvoke(route))

    synth, asynth = _synthesizers(owner, mode, chat)
    return Binding(question, describe, call, acall, synth, asynth)


def _named(owner: RoutingChatModel, route: str, response: R) -> R:
    """The response with the child's model name in `raw` when it reported none (pricing)."""
    if model_name_of(response) is None and isinstance(response.raw, (dict, type(None))):
        name = owner._child_model_name(route)
        if name is not None:
            response.raw = {**(response.raw or {}), "model": name}
    return response


def _synthesizers(owner: RoutingChatModel, mode: Any, chat: bool) -> tuple[Any, Any]:
    target = getattr(mode, "synthesizer", None)
    if target is None:
        return None, None
    if isinstance(target, str) and target in owner.models:
        target = owner.models[target]
    if isinstance(target, LLM):
        llm = target

        def messages(question: str, answers: Sequence[Answer]) -> list[ChatMessage]:
            user = synthesis_user(question, [a.text for a in answers])
            return [
                ChatMessage(role=MessageRole.SYSTEM, content=SYNTHESIS_SYSTEM),
                ChatMessage(role=MessageRole.USER, content=user),
            ]

        def synthesize(question: str, answers: Sequence[Answer]) -> Any:
            if chat:
                return llm.chat(messages(question, answers))
            prompt = f"{SYNTHESIS_SYSTEM}\n\n{synthesis_user(question, [a.text for a in answers])}"
            return llm.complete(prompt)

        async def asynthesize(question: str, answers: Sequence[Answer]) -> Any:
            if chat:
                return await llm.achat(messages(question, answers))
            prompt = f"{SYNTHESIS_SYSTEM}\n\n{synthesis_user(question, [a.text for a in answers])}"
            return await llm.acomplete(prompt)

        return synthesize, asynthesize
    fn: Callable[[str, list[str]], str] = target

    def from_fn(question: str, answers: Sequence[Answer]) -> Any:
        text = fn(question, [a.text for a in answers])
        if chat:
            return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))
        return CompletionResponse(text=text)

    async def afrom_fn(question: str, answers: Sequence[Answer]) -> Any:
        return from_fn(question, answers)

    return from_fn, afrom_fn


def bind_judge(model: object) -> tuple[JudgeFn, AJudgeFn | None] | None:
    """Judge callables asking a LlamaIndex LLM to rate an answer 0-10 (None: not an LLM)."""
    if not isinstance(model, LLM):
        return None
    llm = model

    def prompt(question: str, answer: str) -> list[ChatMessage]:
        return [
            ChatMessage(role=MessageRole.SYSTEM, content=JUDGE_SYSTEM),
            ChatMessage(role=MessageRole.USER, content=judge_user(question, answer)),
        ]

    def score(response: ChatResponse) -> Score:
        answer = describe(response)
        name = answer.model_name or llm.metadata.model_name
        return Score(parse_rating(answer.text), answer.usage, name, llm.class_name())

    def fn(question: str, answer: str) -> Score:
        return score(llm.chat(prompt(question, answer)))

    async def afn(question: str, answer: str) -> Score:
        return score(await llm.achat(prompt(question, answer)))

    return fn, afn


def _finish(owner: RoutingChatModel, outcome: Outcome[R], span_id: str | None) -> R:
    decision = outcome.decision
    model_name = decision.model_name
    if model_name is None and decision.route in owner.models:
        model_name = owner._child_model_name(decision.route)
    final = owner.router.with_usage(decision, None, model_name=model_name)
    _delegate.dispatch(owner, final, span_id)
    return _delegate.tag(outcome.result, outcome.routing(final))


def _one_chunk(response: R) -> R:
    """The whole answer as one streamed chunk."""
    if isinstance(response, ChatResponse):
        return response.model_copy(update={"delta": response.message.content or ""})
    return response.model_copy(update={"delta": response.text})


# -- chat -----------------------------------------------------------------------------------


def chat(owner: RoutingChatModel, decision: RoutingDecision, call: ChatCall) -> ChatResponse:
    """`chat` in the owner's mode."""
    mode = _mode(owner, decision, call.has_tools)
    if mode is None:
        return _delegate.run(owner, decision, call.chat, tools=call.has_tools)
    bind = _binding(owner, mode, call.request.text, call.chat, call.achat, chat=True)
    return _finish(owner, mode.run(owner.router, decision, bind), active_span_id.get())


async def achat(owner: RoutingChatModel, decision: RoutingDecision, call: ChatCall) -> ChatResponse:
    """Async `chat`: branches run as tasks; losers of "first_valid" are cancelled."""
    mode = _mode(owner, decision, call.has_tools)
    if mode is None:
        return await _delegate.arun(owner, decision, call.achat, tools=call.has_tools)
    bind = _binding(owner, mode, call.request.text, call.chat, call.achat, chat=True)
    return _finish(owner, await mode.arun(owner.router, decision, bind), active_span_id.get())


def stream_chat(
    owner: RoutingChatModel, decision: RoutingDecision, call: ChatCall
) -> Generator[ChatResponse, None, None]:
    """`stream_chat` in the owner's mode: the chosen answer as one chunk."""
    if _mode(owner, decision, call.has_tools) is None:
        return _delegate.stream(owner, decision, call.stream, tools=call.has_tools)

    def gen() -> Generator[ChatResponse, None, None]:
        yield _one_chunk(chat(owner, decision, call))

    return gen()


def astream_chat(
    owner: RoutingChatModel, decision: RoutingDecision, call: ChatCall
) -> AsyncGenerator[ChatResponse, None]:
    """Async `stream_chat`."""
    if _mode(owner, decision, call.has_tools) is None:
        return _delegate.astream(owner, decision, call.astream, tools=call.has_tools)

    async def gen() -> AsyncGenerator[ChatResponse, None]:
        yield _one_chunk(await achat(owner, decision, call))

    return gen()


# -- complete -------------------------------------------------------------------------------


def complete(
    owner: RoutingChatModel, decision: RoutingDecision, call: CompletionCall
) -> CompletionResponse:
    """`complete` in the owner's mode."""
    mode = _mode(owner, decision, False)
    if mode is None:
        return _delegate.run(owner, decision, call.complete)
    bind = _binding(owner, mode, call.request.text, call.complete, call.acomplete, chat=False)
    return _finish(owner, mode.run(owner.router, decision, bind), active_span_id.get())


async def acomplete(
    owner: RoutingChatModel, decision: RoutingDecision, call: CompletionCall
) -> CompletionResponse:
    """Async `complete`."""
    mode = _mode(owner, decision, False)
    if mode is None:
        return await _delegate.arun(owner, decision, call.acomplete)
    bind = _binding(owner, mode, call.request.text, call.complete, call.acomplete, chat=False)
    return _finish(owner, await mode.arun(owner.router, decision, bind), active_span_id.get())


def stream_complete(
    owner: RoutingChatModel, decision: RoutingDecision, call: CompletionCall
) -> Generator[CompletionResponse, None, None]:
    """`stream_complete` in the owner's mode: the chosen answer as one chunk."""
    if _mode(owner, decision, False) is None:
        return _delegate.stream(owner, decision, call.stream)

    def gen() -> Generator[CompletionResponse, None, None]:
        yield _one_chunk(complete(owner, decision, call))

    return gen()


def astream_complete(
    owner: RoutingChatModel, decision: RoutingDecision, call: CompletionCall
) -> AsyncGenerator[CompletionResponse, None]:
    """Async `stream_complete`."""
    if _mode(owner, decision, False) is None:
        return _delegate.astream(owner, decision, call.astream)

    async def gen() -> AsyncGenerator[CompletionResponse, None]:
        yield _one_chunk(await acomplete(owner, decision, call))

    return gen()
