"""Evaluation of routing on real data: datasets, cost/quality metrics, calibration, plots.

Nothing here imports matplotlib until a plot is drawn (`pip install 'routing-chat-model[eval]'`).
"""

from __future__ import annotations

from routing_chat_model.evaluation.dataset import Dataset, DatasetError, load_dataset
from routing_chat_model.evaluation.metrics import (
    KNOBS,
    Point,
    aiq,
    apgr,
    calibrate,
    frontier,
    model_points,
    oracle_point,
    summary,
    sweep,
)
from routing_chat_model.evaluation.report import evaluate, render_table, write_report

__all__ = [
    "KNOBS",
    "Dataset",
    "DatasetError",
    "Point",
    "aiq",
    "apgr",
    "calibrate",
    "evaluate",
    "frontier",
    "load_dataset",
    "model_points",
    "oracle_point",
    "render_table",
    "summary",
    "sweep",
    "write_report",
]
