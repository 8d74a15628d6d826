"""Cascade and parallel modes for the LangChain adapter: the core's modes over the children.

Same signatures as `_delegate.generate/agenerate/stream/astream`, which they fall back to when
the router has no mode, for a route forced by the caller, a tool round, or a call with tools
bound (checks read text; a tool call has none).

Children are called inline (`child._generate`) without the router's run manager: only the
answer the mode returns reaches callbacks, so a rejected answer's tokens are never shown.

Streaming contract: an answer is chosen only once it is complete (it must pass its checks), so
a streamed call in a mode yields the chosen answer as one chunk, carrying the decision.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from routing_chat_model.decision import RoutingDecision
from routing_chat_model.langchain import _delegate
from routing_chat_model.langchain._convert import chunk_of, usage_of
from routing_chat_model.langchain._stream import StreamRelay
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
    from routing_chat_model.langchain.chat_model import RoutingChatModel

__all__ = ["agenerate", "astream", "bind_judge", "describe", "generate", "stream"]

Mode = Cascade | Parallel


def _mode(
    owner: RoutingChatModel, decision: RoutingDecision, kwargs: Mapping[str, Any]
) -> Mode | None:
    """The owner's mode with judge models bound, or None when this call runs without it."""
    mode = getattr(owner, "mode", None)
    if mode is None or not mode.applies(decision) or kwargs.get("tools"):
        return None
    return cast("Mode", mode.bind_judges("langchain", bind_judge))


def _question(messages: Sequence[BaseMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message.text
    return messages[-1].text if messages else ""


def describe(result: ChatResult) -> Answer:
    """A child's `ChatResult` as the mode's `Answer` (text, usage, log-probabilities)."""
    message = result.generations[0].message
    meta = message.response_metadata
    return Answer(
        text=message.text,
        usage=usage_of(message),
        model_name=meta.get("model_name"),
        provider=meta.get("model_provider"),
        logprob=_mean_logprob(meta.get("logprobs")),
        finish_reason=meta.get("finish_reason"),
    )


def _mean_logprob(logprobs: Any) -> float | None:
    """Mean token log-probability from OpenAI's `{"content": [{"logprob": ...}]}` shape."""
    content = logprobs.get("content") if isinstance(logprobs, Mapping) else logprobs
    if not isinstance(content, list) or not content:
        return None
    values = [t.get("logprob") for t in content if isinstance(t, Mapping)]
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    return sum(numbers) / len(numbers) if numbers else None


def _named(owner: RoutingChatModel, route: str, result: ChatResult) -> ChatResult:
    """Fill the model name and provider a child left out (pricing and usage callbacks need it)."""
    ls = owner.models[route]._get_ls_params()
    for generation in result.generations:
        meta = generation.message.response_metadata
        if not meta.get("model_name"):
            meta["model_name"] = ls.get("ls_model_name")
        meta.setdefault("model_provider", ls.get("ls_provider"))
    return result


def _binding(
    owner: RoutingChatModel,
    mode: Mode,
    messages: list[BaseMessage],
    stop: list[str] | None,
    kwargs: Mapping[str, Any],
) -> Binding[ChatResult]:
    def call(route: str) -> ChatResult:
        child, child_kwargs = _delegate.child_call(owner, route, kwargs)
        if child.rate_limiter:
            child.rate_limiter.acquire(blocking=True)
        return _named(owner, route, child._generate(messages, stop=stop, **child_kwargs))

    async def acall(route: str) -> ChatResult:
        child, child_kwargs = _delegate.child_call(owner, route, kwargs)
        if child.rate_limiter:
            await child.rate_limiter.aacquire(blocking=True)
        result = await child._agenerate(messages, stop=stop, **child_kwargs)
        return _named(owner, route, result)

    synth, asynth = _synthesizers(owner, mode)
    return Binding(_question(messages), describe, call, acall, synth, asynth)


def _synthesizers(owner: RoutingChatModel, mode: Mode) -> tuple[Any, Any]:
    """`Binding.synthesize`/`asynthesize` for `Parallel(aggregate="synthesize")`."""
    target = getattr(mode, "synthesizer", None)
    if target is None:
        return None, None
    if isinstance(target, str) and target in owner.models:
        target = owner.models[target]
    if isinstance(target, BaseChatModel):
        model = target

        def synthesize(question: str, answers: Sequence[Answer]) -> ChatResult:
            prompt = _synthesis_messages(question, answers)
            return _as_result(model.invoke(prompt), model)

        async def asynthesize(question: str, answers: Sequence[Answer]) -> ChatResult:
            prompt = _synthesis_messages(question, answers)
            return _as_result(await model.ainvoke(prompt), model)

        return synthesize, asynthesize
    fn: Callable[[str, list[str]], str] = target

    def from_fn(question: str, answers: Sequence[Answer]) -> ChatResult:
        text = fn(question, [a.text for a in answers])
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])

    async def afrom_fn(question: str, answers: Sequence[Answer]) -> ChatResult:
        return from_fn(question, answers)

    return from_fn, afrom_fn


def _synthesis_messages(question: str, answers: Sequence[Answer]) -> list[BaseMessage]:
    return [
        SystemMessage(SYNTHESIS_SYSTEM),
        HumanMessage(synthesis_user(question, [a.text for a in answers])),
    ]


def _as_result(message: BaseMessage, model: BaseChatModel) -> ChatResult:
    ls = model._get_ls_params()
    meta = message.response_metadata
    if not meta.get("model_name"):
        meta["model_name"] = ls.get("ls_model_name")
    meta.setdefault("model_provider", ls.get("ls_provider"))
    ai = message if isinstance(message, AIMessage) else AIMessage(message.content)
    return ChatResult(generations=[ChatGeneration(message=ai)])


def bind_judge(model: object) -> tuple[JudgeFn, AJudgeFn | None] | None:
    """Judge callables asking a LangChain chat model to rate an answer 0-10 (None: not one)."""
    if not isinstance(model, BaseChatModel):
        return None
    judge = model

    def score(reply: BaseMessage) -> Score:
        answer = describe(_as_result(reply, judge))
        value = parse_rating(answer.text)
        return Score(value, answer.usage, answer.model_name, answer.provider)

    def fn(question: str, answer: str) -> Score:
        prompt = [SystemMessage(JUDGE_SYSTEM), HumanMessage(judge_user(question, answer))]
        return score(judge.invoke(prompt))

    async def afn(question: str, answer: str) -> Score:
        prompt = [SystemMessage(JUDGE_SYSTEM), HumanMessage(judge_user(question, answer))]
        return score(await judge.ainvoke(prompt))

    return fn, afn


def _annotate(owner: RoutingChatModel, outcome: Outcome[ChatResult]) -> RoutingDecision:
    """Complete the decision (gates observe the total cost) and put it on the result."""
    decision = outcome.decision
    if decision.route in owner.models and decision.model_name is None:
        name = owner.models[decision.route]._get_ls_params().get("ls_model_name")
        decision = decision.evolve(model_name=name)
    final = owner.router.with_usage(decision, None, model_name=decision.model_name)
    _delegate.attach(outcome.result, outcome.routing(final), final.model_name)
    return final


def generate(
    owner: RoutingChatModel,
    decision: RoutingDecision,
    messages: list[BaseMessage],
    stop: list[str] | None,
    run_manager: CallbackManagerForLLMRun | None,
    kwargs: Mapping[str, Any],
) -> tuple[ChatResult, RoutingDecision]:
    """Answer in the owner's mode (or as a plain routed call, see the module doc)."""
    mode = _mode(owner, decision, kwargs)
    if mode is None:
        return _delegate.generate(owner, decision, messages, stop, run_manager, kwargs)
    outcome = mode.run(owner.router, decision, _binding(owner, mode, messages, stop, kwargs))
    return outcome.result, _annotate(owner, outcome)


async def agenerate(
    owner: RoutingChatModel,
    decision: RoutingDecision,
    messages: list[BaseMessage],
    stop: list[str] | None,
    run_manager: AsyncCallbackManagerForLLMRun | None,
    kwargs: Mapping[str, Any],
) -> tuple[ChatResult, RoutingDecision]:
    """Async `generate`: branches run as tasks, losers of "first_valid" are cancelled."""
    mode = _mode(owner, decision, kwargs)
    if mode is None:
        return await _delegate.agenerate(owner, decision, messages, stop, run_manager, kwargs)
    bind = _binding(owner, mode, messages, stop, kwargs)
    outcome = await mode.arun(owner.router, decision, bind)
    return outcome.result, _annotate(owner, outcome)


def stream(
    owner: RoutingChatModel,
    decision: RoutingDecision,
    messages: list[BaseMessage],
    stop: list[str] | None,
    run_manager: CallbackManagerForLLMRun | None,
    kwargs: Mapping[str, Any],
    relay: StreamRelay,
    commit: Callable[[Any], bool] | None = None,
) -> Iterator[ChatGenerationChunk]:
    """The chosen answer as one chunk; `relay.decision` is set to the final decision."""
    if _mode(owner, decision, kwargs) is None:
        yield from _delegate.stream(
            owner, decision, messages, stop, run_manager, kwargs, relay, commit
        )
        return
    result, final = generate(owner, decision, messages, stop, run_manager, kwargs)
    relay.decision = final
    yield chunk_of(result.generations[0])


async def astream(
    owner: RoutingChatModel,
    decision: RoutingDecision,
    messages: list[BaseMessage],
    stop: list[str] | None,
    run_manager: AsyncCallbackManagerForLLMRun | None,
    kwargs: Mapping[str, Any],
    relay: StreamRelay,
    commit: Callable[[Any], bool] | None = None,
) -> AsyncIterator[ChatGenerationChunk]:
    """Async `stream`."""
    if _mode(owner, decision, kwargs) is None:
        async for chunk in _delegate.astream(
            owner, decision, messages, stop, run_manager, kwargs, relay, commit
        ):
            yield chunk
        return
    result, final = await agenerate(owner, decision, messages, stop, run_manager, kwargs)
    relay.decision = final
    yield chunk_of(result.generations[0])
