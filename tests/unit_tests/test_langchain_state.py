"""One router, many calls: no cross-talk between concurrent calls, and copies that stay consistent."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from langchain_core.callbacks import BaseCallbackHandler

from routing_chat_model import Rule, RuleSelector
from routing_chat_model.langchain import RoutingChatModel
from routing_chat_model.testing import ScriptedChatModel

ROUTES = ("alpha", "beta", "gamma")


def make_router(children: dict[str, ScriptedChatModel] | None = None) -> RoutingChatModel:
    return RoutingChatModel(
        models=children or {r: ScriptedChatModel(model=f"fake-{r}") for r in ROUTES},
        selector=RuleSelector([Rule(route=r, keywords=[f"use-{r}"]) for r in ROUTES[1:]]),
    )


class Recorder(BaseCallbackHandler):
    """Keeps, per chat model run, the route in its metadata and the route of its event."""

    def __init__(self) -> None:
        self.started: dict[object, str] = {}
        self.events: dict[object, str] = {}

    def on_chat_model_start(self, serialized, messages, *, run_id, metadata=None, **kw):
        self.started[run_id] = (metadata or {})["routing_route"]

    def on_custom_event(self, name, data, *, run_id, **kw):
        self.events[run_id] = data["route"]


async def test_concurrent_ainvoke_calls_each_keep_their_own_route() -> None:
    router = make_router()
    recorder = Recorder()
    prompts = [f"request {i} use-{ROUTES[i % 3]}" for i in range(150)]
    replies = await asyncio.gather(
        *(router.ainvoke(p, config={"callbacks": [recorder]}) for p in prompts)
    )
    for i, (prompt, reply) in enumerate(zip(prompts, replies, strict=True)):
        route = ROUTES[i % 3]
        assert reply.response_metadata["routing"]["route"] == route
        assert reply.content == f"[fake-{route}] {prompt}"
    assert len(recorder.started) == len(prompts)
    assert recorder.events == recorder.started  # each run's event names its own route


async def test_concurrent_astream_calls_do_not_mix_tokens() -> None:
    router = make_router()

    async def collect(prompt: str) -> str:
        return "".join([str(c.content) async for c in router.astream(prompt)])

    prompts = [f"stream {i} use-{ROUTES[i % 3]}" for i in range(60)]
    texts = await asyncio.gather(*(collect(p) for p in prompts))
    for i, (prompt, text) in enumerate(zip(prompts, texts, strict=True)):
        route = ROUTES[i % 3]
        assert text == f"[fake-{route}] {prompt}"


def test_sync_invoke_from_many_threads() -> None:
    children = {r: ScriptedChatModel(model=f"fake-{r}") for r in ROUTES}
    router = make_router(children)
    recorder = Recorder()
    prompts = [f"thread {i} use-{ROUTES[i % 3]}" for i in range(96)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(
            pool.map(lambda p: router.invoke(p, config={"callbacks": [recorder]}), prompts)
        )
    routes = [r.response_metadata["routing"]["route"] for r in replies]
    assert routes == [ROUTES[i % 3] for i in range(96)]
    assert recorder.events == recorder.started
    calls = {r: len(children[r].calls) for r in ROUTES}
    assert calls == {"alpha": 32, "beta": 32, "gamma": 32}


def test_model_copy_with_update_rebuilds_the_routing() -> None:
    router = make_router()
    assert router.invoke("hello use-beta").response_metadata["routing"]["route"] == "beta"
    copy = router.model_copy(update={"default": "gamma", "selector": None})
    assert copy.invoke("hello use-beta").response_metadata["routing"]["route"] == "gamma"
    assert router.invoke("hello use-beta").response_metadata["routing"]["route"] == "beta"
    from routing_chat_model import RouteConfigError

    with pytest.raises(RouteConfigError, match="default='ghost'"):
        router.model_copy(update={"default": "ghost"})


def test_deep_copies_route_independently() -> None:
    import copy

    router = make_router()
    clone = copy.deepcopy(router)
    deep = router.model_copy(deep=True, update={"default": "gamma"})
    assert clone.models["alpha"] is not router.models["alpha"]
    assert clone.selector is router.selector
    assert clone.invoke("x use-beta").response_metadata["routing"]["route"] == "beta"
    assert deep.invoke("plain").response_metadata["routing"]["route"] == "gamma"
    assert router.invoke("plain").response_metadata["routing"]["route"] == "alpha"
