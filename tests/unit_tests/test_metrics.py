"""Routing metrics: aggregation, Prometheus text, JSONL decision log, and both framework handlers."""

from __future__ import annotations

import asyncio
import io
import json
import math
import re
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from routing_chat_model import AllModelsFailedError, RoutingDecision, Rule, RuleSelector
from routing_chat_model.decision import Attempt
from routing_chat_model.errors import RouteConfigError
from routing_chat_model.langchain import RoutingChatModel, RoutingMetricsHandler
from routing_chat_model.metrics import DecisionLog, RoutingMetrics
from routing_chat_model.testing import ScriptedChatModel

SECRET = "zebra quartz violet 7731"
"""Prompt text that must never reach a decision log."""

# -- decisions built by hand --------------------------------------------------------------------


def decision(
    route: str = "fast",
    *,
    selected: str | None = None,
    selector: str = "rules",
    abstained: bool = False,
    latency_ms: float = 0.5,
    attempts: tuple[Attempt, ...] | None = None,
    cost_usd: float | None = 0.001,
    restrictions: tuple[str, ...] = (),
    tokens: tuple[int, int] | None = (10, 5),
) -> RoutingDecision:
    return RoutingDecision(
        route=route,
        selected=selected or route,
        selector=selector,
        reason="test",
        abstained=abstained,
        latency_ms=latency_ms,
        attempts=attempts if attempts is not None else (Attempt(route, latency_ms=20.0),),
        cost_usd=cost_usd,
        restrictions=restrictions,
        input_tokens=tokens[0] if tokens else None,
        output_tokens=tokens[1] if tokens else None,
    )


def test_record_counts_fallbacks_abstentions_restrictions_and_unknown_costs():
    metrics = RoutingMetrics()
    metrics.record(decision("fast", cost_usd=0.001))
    metrics.record(decision("fast", abstained=True, selector="embedding", cost_usd=None))
    metrics.record(
        decision(
            "fast",
            selected="strong",
            selector="embedding",
            cost_usd=0.002,
            attempts=(
                Attempt("strong", "RateLimitError", "rate_limit", 3.0),
                Attempt("fast", None, None, 30.0),
            ),
            restrictions=("compliance: personal data", "budget: low"),
        ).to_dict()  # dicts (response_metadata["routing"]) count the same as objects
    )
    metrics.record(decision("strong", cost_usd=None, tokens=None))

    snap = metrics.to_dict()
    assert snap["calls"] == 4
    assert snap["fallbacks"] == 1
    assert snap["abstentions"] == 1
    assert snap["restricted"] == 1
    assert snap["cost_usd"] == pytest.approx(0.003)
    assert snap["cost_unknown"] == 2
    assert (snap["input_tokens"], snap["output_tokens"]) == (30, 15)
    assert snap["restrictions_by_gate"] == {"budget": 1, "compliance": 1}
    assert snap["failed_attempts_by_kind"] == {"rate_limit": 1}
    assert snap["attempts"] == 5

    fast, strong = snap["routes"]["fast"], snap["routes"]["strong"]
    assert (fast["calls"], fast["selected"], fast["fallbacks"], fast["abstentions"]) == (3, 2, 1, 1)
    assert (fast["cost_unknown"], fast["attempts"], fast["failed_attempts"]) == (1, 3, 0)
    # strong was chosen twice, answered once, failed once with a rate limit
    assert (strong["calls"], strong["selected"], strong["cost_unknown"]) == (1, 2, 1)
    assert strong["failed_attempts_by_kind"] == {"rate_limit": 1}

    rules, embedding = snap["selectors"]["rules"], snap["selectors"]["embedding"]
    assert (rules["calls"], rules["abstentions"], rules["fallbacks"]) == (2, 0, 0)
    assert (embedding["calls"], embedding["abstentions"], embedding["fallbacks"]) == (2, 1, 1)
    assert embedding["cost_usd"] == pytest.approx(0.002)
    assert embedding["decision_latency_ms"]["count"] == 2
    json.dumps(snap)  # a plain, serialisable snapshot


def test_latency_percentiles_are_exact_until_the_reservoir_fills():
    metrics = RoutingMetrics()
    for ms in range(1, 101):  # decision latencies 1..100 ms, attempts 10x that
        metrics.record(
            decision(latency_ms=float(ms), attempts=(Attempt("fast", latency_ms=ms * 10.0),))
        )
    snap = metrics.to_dict()
    lat = snap["decision_latency_ms"]
    assert (lat["count"], lat["sum"], lat["mean"]) == (100, 5050.0, 50.5)
    assert lat["p50"] == pytest.approx(50.5)
    assert lat["p95"] == pytest.approx(95.05)
    assert snap["routes"]["fast"]["attempt_latency_ms"]["p95"] == pytest.approx(950.5)


def test_reservoir_keeps_memory_bounded_and_counts_everything():
    metrics = RoutingMetrics(reservoir_size=16)
    for ms in range(1000):
        metrics.record(decision(latency_ms=float(ms % 100)))
    lat = metrics.to_dict()["decision_latency_ms"]
    assert lat["count"] == 1000
    assert lat["sum"] == pytest.approx(sum(ms % 100 for ms in range(1000)))
    assert 0 <= lat["p50"] <= 99
    assert len(metrics._decision_latency.sample) == 16


def test_record_error_counts_each_failed_attempt_by_kind():
    metrics = RoutingMetrics()
    error = AllModelsFailedError(
        "all failed", [TimeoutError("slow"), ConnectionError("down")], routes=["fast", "strong"]
    )
    metrics.record_error(error, route="fast", selector="rules")
    metrics.record_error("PermissionError")
    snap = metrics.to_dict()
    assert (snap["calls"], snap["errors"]) == (0, 2)
    assert snap["errors_by_type"] == {"AllModelsFailedError": 1, "PermissionError": 1}
    assert snap["failed_attempts_by_kind"] == {"connection": 1, "timeout": 1}
    assert snap["failed_attempts_by_kind"] == {"connection": 1, "timeout": 1}
    assert snap["routes"]["fast"]["errors"] == 1
    assert snap["selectors"]["rules"]["errors"] == 1
    assert metrics.errors == 2


def test_reset_forgets_everything():
    metrics = RoutingMetrics()
    metrics.record(decision())
    metrics.record_error("TimeoutError")
    metrics.reset()
    snap = metrics.to_dict()
    assert (snap["calls"], snap["errors"], snap["routes"], snap["selectors"]) == (0, 0, {}, {})
    assert "routing_calls_total{" not in metrics.to_prometheus()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"reservoir_size": 0}, "reservoir_size"),
        ({"reservoir_size": 2.5}, "reservoir_size"),
        ({"decision_buckets_ms": []}, "decision_buckets_ms"),
        ({"decision_buckets_ms": [1.0, 1.0]}, "decision_buckets_ms"),
        ({"attempt_buckets_ms": [float("nan")]}, "attempt_buckets_ms"),
        ({"attempt_buckets_ms": [-1.0, 5.0]}, "attempt_buckets_ms"),
        ({"namespace": "9bad name"}, "namespace"),
    ],
)
def test_invalid_settings_name_the_field(kwargs: dict[str, Any], field: str):
    with pytest.raises(RouteConfigError, match=field):
        RoutingMetrics(**kwargs)


def test_table_shows_a_row_per_route_and_selector():
    metrics = RoutingMetrics()
    metrics.record(decision("fast", selector="rules"))
    metrics.record(decision("strong", selector="embedding", cost_usd=None))
    table = metrics.table()
    assert table.splitlines()[0].startswith("2 calls answered, 0 failed")
    assert "(+1 calls of unknown cost)" in table
    rows = {line.split()[0] for line in table.splitlines() if line and line[0].isalpha()}
    assert {"fast", "strong", "rules", "embedding", "route", "selector"} <= rows
    assert "(none)" in RoutingMetrics().table()


# -- Prometheus text ----------------------------------------------------------------------------

_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def parse_prometheus(text: str) -> dict[str, dict[str, Any]]:
    """A strict little parser of the text format: family -> {type, help, samples}."""
    assert text.endswith("\n")
    families: dict[str, dict[str, Any]] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            assert name not in families, f"family {name} declared twice"
            families[name] = {"help": help_, "type": None, "samples": []}
            current = name
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert name == current and kind in ("counter", "gauge", "histogram")
            families[name]["type"] = kind
        else:
            match = _SAMPLE_RE.match(line)
            assert match, f"not a sample line: {line!r}"
            name, _, raw_labels, raw_value = match.groups()
            assert current is not None
            kind = families[current]["type"]
            allowed = (
                {current}
                if kind == "counter"
                else {f"{current}_bucket", f"{current}_sum", f"{current}_count"}
            )
            assert name in allowed, f"{name} outside its family {current}"
            labels: dict[str, str] = {}
            rest = raw_labels or ""
            while rest:
                label = _LABEL_RE.match(rest)
                assert label, f"bad labels: {raw_labels!r}"
                assert label.group(1) not in labels
                labels[label.group(1)] = _unescape(label.group(2))
                rest = rest[label.end() :]
            value = float(raw_value)  # also parses +Inf / NaN
            families[current]["samples"].append((name, labels, value))
    return families


def test_prometheus_text_parses_back_with_escaped_labels_and_histograms():
    metrics = RoutingMetrics()
    odd = 'we"ird\\route\nname'
    metrics.record(
        decision(
            odd,
            selected="strong",
            selector="rules",
            cost_usd=0.25,
            latency_ms=0.3,
            attempts=(
                Attempt("strong", "APITimeoutError", "timeout", 4.0),
                Attempt(odd, None, None, 40.0),
            ),
            restrictions=("compliance: pii",),
        )
    )
    metrics.record(decision("fast", abstained=True, cost_usd=None, latency_ms=2.0))
    metrics.record_error("AllModelsFailedError", route="fast", selector="rules")
    families = parse_prometheus(metrics.to_prometheus())

    for name, family in families.items():
        assert family["help"] and family["type"], name
        assert name.startswith("routing_")
        if family["type"] == "counter":
            assert name.endswith("_total")

    def value(name: str, **labels: str) -> float:
        family = re.sub(r"_(sum|count)$", "", name) if name not in families else name
        (match,) = [v for n, lab, v in families[family]["samples"] if n == name and lab == labels]
        return float(match)

    assert value("routing_calls_total", route=odd, selector="rules") == 1
    assert value("routing_fallbacks_total", route=odd, selector="rules") == 1
    assert value("routing_abstentions_total", route="fast", selector="rules") == 1
    assert value("routing_cost_usd_total", route=odd, selector="rules") == 0.25
    assert value("routing_cost_unknown_calls_total", route="fast", selector="rules") == 1
    assert value("routing_attempt_failures_total", route="strong", kind="timeout") == 1
    assert value("routing_restrictions_total", gate="compliance") == 1
    assert (
        value("routing_errors_total", route="fast", selector="rules", error="AllModelsFailedError")
        == 1
    )

    histogram = families["routing_decision_latency_seconds"]
    assert histogram["type"] == "histogram"
    buckets = [
        (float(lab["le"]), v)
        for n, lab, v in histogram["samples"]
        if n.endswith("_bucket") and lab["selector"] == "rules"
    ]
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
    assert buckets[-1] == (math.inf, 2)
    assert dict(buckets)[0.0005] == 1  # 0.3 ms <= 0.5 ms; 2.0 ms is above
    assert value("routing_decision_latency_seconds_count", selector="rules") == 2
    assert value("routing_decision_latency_seconds_sum", selector="rules") == pytest.approx(0.0023)
    assert value("routing_attempt_latency_seconds_count", route=odd) == 1


def test_prometheus_client_parser_accepts_the_text():
    parser = pytest.importorskip("prometheus_client.parser")
    metrics = RoutingMetrics(namespace="myapp_routing")
    metrics.record(
        decision("fast", selected="strong", attempts=(Attempt("strong", "X", "timeout", 5.0),))
    )
    families = {f.name: f for f in parser.text_string_to_metric_families(metrics.to_prometheus())}
    assert families["myapp_routing_calls"].type == "counter"
    assert families["myapp_routing_decision_latency_seconds"].type == "histogram"
    odd = 'a"b\\c\nd'
    metrics.record(decision(odd))
    families = {f.name: f for f in parser.text_string_to_metric_families(metrics.to_prometheus())}
    routes = {s.labels["route"] for s in families["myapp_routing_calls"].samples}
    assert routes == {"fast", odd}


# -- JSONL decision log -------------------------------------------------------------------------


def test_decision_log_writes_one_json_object_per_line(tmp_path: Path):
    path = tmp_path / "logs" / "decisions.jsonl"
    with DecisionLog(path, clock=lambda: 0.0) as log:
        log.write(decision("fast"))
        log.write({**decision("strong").to_dict(), "prompt": SECRET})  # unknown keys dropped
    lines = path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["route"] for r in records] == ["fast", "strong"]
    assert records[0]["logged_at"] == "1970-01-01T00:00:00.000+00:00"
    assert records[0]["attempts"][0]["route"] == "fast"
    assert SECRET not in path.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="closed"):
        log.write(decision())


def test_decision_log_rotates_by_size(tmp_path: Path):
    probe = io.StringIO()
    DecisionLog(probe, clock=lambda: 0.0).write(decision())
    line_bytes = len(probe.getvalue().encode("utf-8"))
    path = tmp_path / "d.jsonl"
    with DecisionLog(path, max_bytes=3 * line_bytes, backups=2, clock=lambda: 0.0) as log:
        for _ in range(10):
            log.write(decision())
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in tmp_path.iterdir()}
    # 10 lines, 3 per file: the current file holds the 10th, two backups hold 3 each,
    # the oldest 3 lines were dropped with the third backup
    assert sizes == {"d.jsonl": 1, "d.jsonl.1": 3, "d.jsonl.2": 3}
    for file in tmp_path.iterdir():
        for line in file.read_text(encoding="utf-8").splitlines():
            assert json.loads(line)["route"] == "fast"


def test_decision_log_settings_are_checked(tmp_path: Path):
    with pytest.raises(RouteConfigError, match="flush_every"):
        DecisionLog(io.StringIO(), flush_every=0)
    with pytest.raises(RouteConfigError, match="max_bytes"):
        DecisionLog(io.StringIO(), max_bytes=100)
    with pytest.raises(RouteConfigError, match="target"):
        DecisionLog(42)  # type: ignore[arg-type]


def test_decision_log_is_thread_safe_on_a_stream():
    stream = io.StringIO()
    log = DecisionLog(stream, flush_every=50)

    def work() -> None:
        for _ in range(200):
            log.write(decision("fast"))

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 16 * 200 == log.lines_written
    assert all(json.loads(line)["route"] == "fast" for line in lines)
    assert not stream.closed  # a stream passed in belongs to the caller


# -- the LangChain handler, through real runs ---------------------------------------------------


def lc_router(strong_errors: int = 0, **kwargs: Any) -> RoutingChatModel:
    """fast (priced) answers by default; "prove" goes to strong (unpriced: cost unknown)."""
    strong_script: list[BaseException | None] = [TimeoutError("slow")] * strong_errors + [None]
    return RoutingChatModel(
        models={
            "fast": ScriptedChatModel(model="fast-llm"),
            "strong": ScriptedChatModel(model="strong-llm", errors=strong_script),
        },
        selector=RuleSelector([Rule(route="strong", keywords=["prove"])]),
        default="fast",
        prices={"fast": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}},
        **kwargs,
    )


def counters(snap: Mapping[str, Any]) -> dict[str, Any]:
    """The exact parts of a snapshot (latency values and float sums vary with timing/order)."""
    keys = ("calls", "fallbacks", "abstentions", "cost_unknown", "attempts", "errors")
    return {
        **{k: snap[k] for k in keys},
        "failed": snap["failed_attempts_by_kind"],
        "cost_usd": round(snap["cost_usd"], 12),
        "routes": {
            name: (r["calls"], r["selected"], r["fallbacks"], r["attempts"], r["failed_attempts"])
            for name, r in snap["routes"].items()
        },
        "selectors": {
            name: (s["calls"], s["abstentions"]) for name, s in snap["selectors"].items()
        },
        "decisions_timed": snap["decision_latency_ms"]["count"],
    }


def expected_from(messages: list[Any]) -> dict[str, Any]:
    """What the metrics must say: each answer's own `response_metadata["routing"]`, summed."""
    metrics = RoutingMetrics()
    for message in messages:
        metrics.record(message.response_metadata["routing"])
    return counters(metrics.to_dict())


def test_handler_in_a_chain_counts_each_routed_call(tmp_path: Path):
    log_path = tmp_path / "decisions.jsonl"
    handler = RoutingMetricsHandler(log=DecisionLog(log_path))
    router = lc_router(strong_errors=1)
    chain = ChatPromptTemplate.from_messages([("human", "{question}")]) | router | StrOutputParser()
    questions = ["hi there", f"prove that {SECRET}", "prove it again", f"thanks {SECRET}"]
    answers = chain.batch([{"question": q} for q in questions], config={"callbacks": [handler]})
    assert len(answers) == 4
    handler.log.close()  # type: ignore[union-attr]

    snap = handler.metrics.to_dict()
    assert snap["calls"] == 4
    assert snap["fallbacks"] == 1  # strong timed out once, fast answered
    assert snap["abstentions"] == 2  # no rule matched: the default answered
    assert snap["failed_attempts_by_kind"] == {"timeout": 1}
    assert snap["routes"]["strong"]["calls"] == 1 and snap["routes"]["strong"]["selected"] == 2
    assert snap["cost_unknown"] == 1  # strong has no price
    assert snap["cost_usd"] > 0

    lines = log_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4
    assert sorted(json.loads(line)["route"] for line in lines) == ["fast", "fast", "fast", "strong"]
    assert SECRET not in log_path.read_text(encoding="utf-8")
    assert "zebra" not in log_path.read_text(encoding="utf-8")


def test_handler_on_the_router_itself_counts_from_the_answer_once():
    """Constructor callbacks get no custom event (LangChain sends those to inheritable
    handlers only): the decision is read from the answer instead, still once per call."""
    on_router = RoutingMetricsHandler()
    in_config = RoutingMetricsHandler()
    router = lc_router(callbacks=[on_router])
    messages = [router.invoke("hi", config={"callbacks": [in_config]})]
    messages.append(router.invoke("prove it", config={"callbacks": [in_config]}))
    chunks = list(router.stream("hello again", config={"callbacks": [in_config]}))
    assert chunks
    assert on_router.metrics.calls == in_config.metrics.calls == 3
    assert counters(on_router.metrics.to_dict()) == counters(in_config.metrics.to_dict())
    assert counters(on_router.metrics.to_dict())["routes"]["strong"][0] == 1


def test_handler_counts_a_call_that_failed_on_every_model():
    handler = RoutingMetricsHandler()
    router = RoutingChatModel(
        models={
            "fast": ScriptedChatModel(model="fast-llm", errors=[TimeoutError("slow")]),
            "strong": ScriptedChatModel(model="strong-llm", errors=[ConnectionError("down")]),
        },
        default="fast",
    )
    with pytest.raises(AllModelsFailedError):
        router.invoke("hi", config={"callbacks": [handler]})
    snap = handler.metrics.to_dict()
    assert (snap["calls"], snap["errors"]) == (0, 1)
    assert snap["errors_by_type"] == {"AllModelsFailedError": 1}
    assert snap["failed_attempts_by_kind"] == {"connection": 1, "timeout": 1}
    assert snap["routes"]["fast"]["errors"] == 1  # the model chosen first


async def test_100_concurrent_ainvoke_count_exactly_the_decisions_returned():
    handler = RoutingMetricsHandler()
    router = lc_router(strong_errors=10)
    questions = [("prove claim" if i % 2 else "hello") + f" {i}" for i in range(100)]
    messages = await asyncio.gather(
        *(router.ainvoke(q, config={"callbacks": [handler]}) for q in questions)
    )
    got = counters(handler.metrics.to_dict())
    assert got == expected_from(messages)
    assert (got["calls"], got["fallbacks"], got["abstentions"]) == (100, 10, 50)
    assert got["decisions_timed"] == 100


def test_16_threads_share_one_handler():
    handler = RoutingMetricsHandler()
    router = lc_router(strong_errors=5)
    results: list[Any] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        for i in range(10):
            question = "prove this" if (index + i) % 3 == 0 else "hey"
            message = router.invoke(question, config={"callbacks": [handler]})
            with lock:
                results.append(message)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = counters(handler.metrics.to_dict())
    assert got == expected_from(results)
    assert got["calls"] == 160 and got["fallbacks"] == 5


def test_16_threads_recording_directly_lose_nothing():
    metrics = RoutingMetrics(reservoir_size=64)

    def work() -> None:
        for i in range(500):
            metrics.record(decision("fast" if i % 2 else "strong", cost_usd=0.5))

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = metrics.to_dict()
    assert snap["calls"] == 8000 and snap["cost_usd"] == 4000.0
    assert snap["routes"]["fast"]["calls"] == snap["routes"]["strong"]["calls"] == 4000
    assert snap["decision_latency_ms"]["count"] == 8000


# -- the LlamaIndex handler, through real runs --------------------------------------------------


@pytest.fixture
def llama_handler(tmp_path: Path) -> Iterator[Any]:
    from llama_index.core.instrumentation import get_dispatcher

    from routing_chat_model.llama_index import RoutingMetricsHandler as LlamaMetricsHandler

    log = DecisionLog(tmp_path / "llama.jsonl")
    handler = LlamaMetricsHandler(log=log)
    root = get_dispatcher()
    root.add_event_handler(handler)
    try:
        yield handler
    finally:
        root.event_handlers.remove(handler)
        log.close()


def li_router(**models: Any) -> Any:
    from routing_chat_model.llama_index import RoutingChatModel as LlamaRouter

    return LlamaRouter(
        models=models,
        selector=RuleSelector([Rule(route="strong", keywords=["prove"])]),
        default="fast",
        prices={"fast": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}},
    )


def user(text: str) -> list[Any]:
    from llama_index.core.base.llms.types import ChatMessage, MessageRole

    return [ChatMessage(role=MessageRole.USER, content=text)]


async def test_llama_index_handler_counts_chat_decisions(llama_handler: Any, tmp_path: Path):
    from routing_chat_model.testing import ScriptedLLM

    router = li_router(
        fast=ScriptedLLM(model="fast-llm"),
        strong=ScriptedLLM(model="strong-llm", errors=[TimeoutError("slow"), None]),
    )
    responses = [router.chat(user(f"hi {SECRET}")), router.chat(user("prove it"))]
    responses.append(await router.achat(user("prove it again")))
    streamed = list(router.stream_chat(user("hello")))
    responses.append(streamed[-1])

    expected = RoutingMetrics()
    for response in responses:
        expected.record(response.additional_kwargs["routing"])
    got = llama_handler.metrics.to_dict()
    assert counters(got) == counters(expected.to_dict())
    assert (got["calls"], got["fallbacks"], got["abstentions"]) == (4, 1, 2)
    assert got["failed_attempts_by_kind"] == {"timeout": 1}

    llama_handler.log.flush()
    text = (tmp_path / "llama.jsonl").read_text(encoding="utf-8")
    assert [json.loads(line)["route"] for line in text.splitlines()] == [
        r.additional_kwargs["routing"]["route"] for r in responses
    ]
    assert SECRET not in text


def test_llama_index_handler_counts_failed_calls_once(llama_handler: Any):
    from routing_chat_model.testing import ScriptedLLM

    router = li_router(
        fast=ScriptedLLM(model="fast-llm", errors=[TimeoutError("slow")]),
        strong=ScriptedLLM(model="strong-llm", errors=[PermissionError("denied")]),
    )
    with pytest.raises(PermissionError):  # not a provider failure: propagates at once
        router.chat(user("prove it"))
    router = li_router(
        fast=ScriptedLLM(model="fast-llm", errors=[TimeoutError("slow")]),
        strong=ScriptedLLM(model="strong-llm", errors=[ConnectionError("down")]),
    )
    with pytest.raises(AllModelsFailedError):
        router.predict(_prompt("hi"))  # predict's own span wraps chat: still one error
    snap = llama_handler.metrics.to_dict()
    assert snap["calls"] == 0
    assert snap["errors_by_type"] == {"AllModelsFailedError": 1, "PermissionError": 1}
    assert snap["failed_attempts_by_kind"] == {"connection": 1, "timeout": 1}


def _prompt(text: str) -> Any:
    from llama_index.core.prompts import PromptTemplate

    return PromptTemplate(text)


# -- the cookbook recipe ------------------------------------------------------------------------


def test_metrics_dashboard_recipe_runs_offline(capsys: pytest.CaptureFixture[str]):
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "cookbook" / "metrics_dashboard.py"
    spec = importlib.util.spec_from_file_location("cookbook_metrics_dashboard", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.__doc__ and "Run it" in module.__doc__
    result = module.main()
    out = capsys.readouterr().out
    assert "route" in out and "selector" in out and "# TYPE routing_calls_total counter" in out
    assert result["metrics"]["calls"] == result["questions"]
    assert result["metrics"]["fallbacks"] >= 1
    assert result["log_lines"] == result["questions"]
    families = parse_prometheus(result["prometheus"])
    assert sum(v for _, _, v in families["routing_calls_total"]["samples"]) == result["questions"]


def test_metrics_benchmark_script_runs_and_writes_json(tmp_path: Path):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "metrics.json"
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    proc = subprocess.run(
        [
            sys.executable,
            "benchmarks/metrics.py",
            "--rounds",
            "5",
            "--warmup",
            "1",
            "--out",
            str(out),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"wrote {out}" in proc.stdout
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["benchmark"] == "metrics"
    contestants = {(r["framework"], r["mode"], r["contestant"]) for r in data["rows"]}
    for framework, mode in (
        ("langchain", "invoke"),
        ("langchain", "ainvoke"),
        ("llama_index", "chat"),
    ):
        for name in ("direct", "passthrough", "ours_handler", "ours_handler_log"):
            assert (framework, mode, name) in contestants
    assert {r["operation"].split(" ")[0] for r in data["core"]} == {
        "RoutingMetrics.record",
        "DecisionLog.write",
        "RoutingMetrics.to_prometheus",
    }
