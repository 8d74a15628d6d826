"""Prometheus text exposition format (version 0.0.4) for `RoutingMetrics.to_prometheus()`.

Written by hand so that the package needs no Prometheus client: serve the text from any HTTP
handler at `/metrics`, or write it to a file for node_exporter's textfile collector.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Family", "Sample", "escape_help", "escape_label", "format_value", "render"]


@dataclass(frozen=True)
class Sample:
    """One line: the family name plus `suffix`, its labels and value."""

    labels: Mapping[str, str]
    value: float
    suffix: str = ""


@dataclass
class Family:
    """One metric family: a `# HELP` and a `# TYPE` line, then its samples."""

    name: str
    kind: str
    """`counter`, `gauge` or `histogram`."""
    help: str
    samples: list[Sample] = field(default_factory=list)


def escape_label(value: str) -> str:
    """Escape a label value: backslash, double quote and newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    """Escape HELP text: backslash and newline."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it (`+Inf`, `NaN`, integers without `.0`)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def render(families: Sequence[Family]) -> str:
    """The exposition text of `families`, one block per family, ending with a newline."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for sample in family.samples:
            labels = _labels(sample.labels)
            lines.append(f"{family.name}{sample.suffix}{labels} {format_value(sample.value)}")
    return "\n".join(lines) + "\n"
