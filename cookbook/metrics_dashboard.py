"""Recipe: a metrics dashboard for a support bot's router, a Prometheus endpoint and a decision log.

A support bot sends billing questions to a fine-tuned model and everything else to a small,
cheap one. Operations want to know, per model and per selector: how many calls, what they cost,
how long deciding and calling took, how often a model failed over to another, and how often the
router fell back to its default because no rule matched. One `RoutingMetricsHandler` in the
run's callbacks collects all of it, whatever chain or agent the router sits in:

- `handler.metrics.table()`: a text table for logs or a terminal;
- `handler.metrics.to_dict()`: the same numbers as JSON for your own dashboard;
- `handler.metrics.to_prometheus()`: Prometheus text, served here on `/metrics` by the standard
  library's HTTP server (bound to 127.0.0.1 on a free port, scraped once, then stopped);
- a `DecisionLog`: one JSON line per call (model, reason, attempts, cost, never the prompt),
  for audits and offline analysis.

Offline: `ScriptedChatModel`s stand in for the providers; the fine-tuned model is rate limited
on its third call, so one billing question falls back to the small model.

Run it: `python cookbook/metrics_dashboard.py`
"""

from __future__ import annotations

import json
import tempfile
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from routing_chat_model import Rule, RuleSelector
from routing_chat_model.langchain import RoutingChatModel, RoutingMetricsHandler
from routing_chat_model.metrics import DecisionLog, RoutingMetrics
from routing_chat_model.testing import ScriptedChatModel

QUESTIONS = [
    "Hi! How are you today?",
    "Why was my invoice charged twice this month?",
    "Can I get a refund for the annual plan?",
    "Thanks, that was helpful!",
    "My billing address is wrong on the last invoice.",
    "What's a good name for a cat?",
]


class RateLimitError(Exception):
    """Stands in for a provider's 429 (any SDK's RateLimitError is recognised by name)."""

    status_code = 429


def build_router() -> RoutingChatModel:
    """Billing questions to the fine-tuned model, the rest (and its failures) to the small one."""
    return RoutingChatModel(
        models={
            "small": ScriptedChatModel(model="small-chat", provider="acme"),
            "billing-ft": ScriptedChatModel(
                model="billing-ft-v3", provider="acme", errors=[None, None, RateLimitError(), None]
            ),
        },
        selector=RuleSelector(
            [Rule(route="billing-ft", keywords=["invoice", "refund", "billing", "charged"])]
        ),
        default="small",
        prices={
            "small": {"input_per_mtok": 0.15, "output_per_mtok": 0.60},
            "billing-ft": {"input_per_mtok": 3.00, "output_per_mtok": 12.00},
        },
    )


def serve_metrics(metrics: RoutingMetrics) -> ThreadingHTTPServer:
    """A `/metrics` endpoint on 127.0.0.1 (any web framework's handler does the same)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = metrics.to_prometheus().encode("utf-8")
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the recipe's output readable

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> dict[str, Any]:
    """Answer the questions through a chain, then show the table, the scrape and the log."""
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "decisions.jsonl"
        handler = RoutingMetricsHandler(log=DecisionLog(log_path))
        chain = (
            ChatPromptTemplate.from_messages(
                [("system", "You are a helpful support agent."), ("human", "{question}")]
            )
            | build_router()
            | StrOutputParser()
        )
        for question in QUESTIONS:
            chain.invoke({"question": question}, config={"callbacks": [handler]})
        assert handler.log is not None
        handler.log.close()

        print("== handler.metrics.table()")
        print(handler.metrics.table())

        server = serve_metrics(handler.metrics)
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                scraped = response.read().decode("utf-8")
        finally:
            server.shutdown()
            server.server_close()
        print("\n== GET /metrics (first lines)")
        print("\n".join(scraped.splitlines()[:9]))

        lines = log_path.read_text(encoding="utf-8").splitlines()
        print(f"\n== {log_path.name}: {len(lines)} lines, e.g.")
        first = json.loads(lines[1])
        print(
            json.dumps(
                {k: first[k] for k in ("route", "selector", "reason", "attempts", "cost_usd")}
            )
        )
    return {
        "questions": len(QUESTIONS),
        "metrics": handler.metrics.to_dict(),
        "prometheus": scraped,
        "log_lines": len(lines),
    }


if __name__ == "__main__":
    main()
