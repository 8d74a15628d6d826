"""Observability: aggregate routing decisions into metrics, and log them as JSONL.

```python
from routing_chat_model.metrics import DecisionLog, RoutingMetrics

metrics = RoutingMetrics()
metrics.record(message.response_metadata["routing"])   # or let a framework handler do it
print(metrics.table())
metrics.to_prometheus()                                # text for a /metrics endpoint
```

Framework-free; the handlers that feed it from runs live in
`routing_chat_model.langchain.RoutingMetricsHandler` and
`routing_chat_model.llama_index.RoutingMetricsHandler`.
"""

from __future__ import annotations

from routing_chat_model.metrics._latency import ATTEMPT_BUCKETS_MS, DECISION_BUCKETS_MS
from routing_chat_model.metrics.aggregate import RoutingMetrics
from routing_chat_model.metrics.log import DecisionLog

__all__ = ["ATTEMPT_BUCKETS_MS", "DECISION_BUCKETS_MS", "DecisionLog", "RoutingMetrics"]
