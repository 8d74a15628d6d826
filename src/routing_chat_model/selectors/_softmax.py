"""The model behind `ClassifierSelector`: its examples, L2 multinomial logistic regression, temperature.

Plain numpy: the loss is minimised with L-BFGS (a few dozen to a few hundred full-batch
gradient evaluations), and one temperature is fitted on held-out logits by minimising their
negative log-likelihood (golden-section search on log T), which calibrates the probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from routing_chat_model.errors import RouteConfigError

__all__ = [
    "check_route_of",
    "fit_softmax",
    "fit_temperature",
    "held_out",
    "parse_examples",
    "softmax",
]

MIN_HELD_OUT = 20
"""Fewer held-out examples than this leave the probabilities uncalibrated (temperature 1)."""

_F32 = npt.NDArray[np.float32]
_F64 = npt.NDArray[np.float64]
_Objective = Callable[[_F64], tuple[float, _F64]]


def softmax(logits: _F64) -> _F64:
    """Row-wise softmax, stable for large logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


def _lbfgs(objective: _Objective, x: _F64, max_iter: int, memory: int = 10) -> _F64:
    """Minimise a smooth convex function with L-BFGS and a backtracking (Armijo) line search."""
    fx, grad = objective(x)
    steps: list[tuple[_F64, _F64, float]] = []
    for _ in range(max_iter):
        q = grad.copy()
        alphas = []
        for s, y, rho in reversed(steps):
            a = rho * float(s @ q)
            q -= a * y
            alphas.append(a)
        if steps:
            s, y, _ = steps[-1]
            q *= float(s @ y) / float(y @ y)
        for (s, y, rho), a in zip(steps, reversed(alphas), strict=True):
            q += s * (a - rho * float(y @ q))
        direction = -q
        slope = float(grad @ direction)
        if slope >= 0:  # not a descent direction: restart from the gradient
            steps.clear()
            direction, slope = -grad, -float(grad @ grad)
        t = 1.0 if steps else 1.0 / max(float(np.linalg.norm(grad)), 1e-12)
        while True:
            x_new = x + t * direction
            f_new, g_new = objective(x_new)
            if f_new <= fx + 1e-4 * t * slope or t < 1e-12:
                break
            t *= 0.5
        s, y = x_new - x, g_new - grad
        sy = float(s @ y)
        if sy > 1e-12:
            steps.append((s, y, 1.0 / sy))
            if len(steps) > memory:
                steps.pop(0)
        improvement = fx - f_new
        x, fx, grad = x_new, f_new, g_new
        if float(np.abs(grad).max()) < 1e-5 or 0 <= improvement < 1e-9 * max(1.0, abs(fx)):
            break
    return x


def fit_softmax(
    x: _F32,
    labels: npt.NDArray[np.intp],
    n_classes: int,
    l2: float,
    max_iter: int,
    init: tuple[_F64, _F64] | None = None,
) -> tuple[_F64, _F64]:
    """Weights `(d, k)` and bias `(k,)` minimising mean cross-entropy + `l2/2 |W|^2`.

    The bias is not penalised. `init` warm-starts the fit (e.g. from a fit on a subset).
    """
    n, d = x.shape
    k = n_classes
    rows = np.arange(n)
    onehot = np.zeros((n, k), dtype=np.float32)
    onehot[rows, labels] = 1.0

    def objective(theta: _F64) -> tuple[float, _F64]:
        w = theta[: d * k].reshape(d, k).astype(np.float32)
        b = theta[d * k :].astype(np.float32)
        logits = x @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        total = exp.sum(axis=1)
        loss = float(np.mean(np.log(total) - logits[rows, labels])) + 0.5 * l2 * float(
            np.sum(w.astype(np.float64) ** 2)
        )
        residual = (exp / total[:, None] - onehot) / n
        grad_w = x.T @ residual + l2 * w
        return loss, np.concatenate([grad_w.ravel(), residual.sum(axis=0)]).astype(np.float64)

    start = (
        np.zeros(d * k + k)
        if init is None
        else np.concatenate([init[0].ravel(), init[1]]).astype(np.float64)
    )
    theta = _lbfgs(objective, start, max_iter)
    return theta[: d * k].reshape(d, k), theta[d * k :].copy()


def fit_temperature(logits: _F64, labels: npt.NDArray[np.intp]) -> float:
    """The temperature T in [0.05, 20] minimising the NLL of `softmax(logits / T)`."""
    rows = np.arange(len(labels))

    def nll(log_t: float) -> float:
        scaled = logits / math.exp(log_t)
        scaled = scaled - scaled.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(scaled).sum(axis=1)) - scaled[rows, labels]))

    lo, hi = math.log(0.05), math.log(20.0)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(b)
    return math.exp((lo + hi) / 2)


def parse_examples(examples: object) -> tuple[list[str], list[str]]:
    """Flatten either form of examples into texts and labels, checking every entry."""
    texts: list[str] = []
    labels: list[str] = []
    if isinstance(examples, Mapping):
        for label, items in examples.items():
            if isinstance(items, str):
                raise RouteConfigError(
                    f"ClassifierSelector examples[{label!r}] is one string; give a list of "
                    "texts per label, or pass (text, label) pairs: list(mapping.items())."
                )
            for i, text in enumerate(items):
                _check_text(text, label, f"examples[{label!r}][{i}]")
                texts.append(text)
                labels.append(label)
    elif isinstance(examples, (str, bytes)) or not isinstance(examples, Iterable):
        raise RouteConfigError(
            "ClassifierSelector examples must be a mapping label -> texts or an iterable of "
            f"(text, label) pairs, got {type(examples).__name__}."
        )
    else:
        for i, pair in enumerate(examples):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise RouteConfigError(
                    f"ClassifierSelector examples[{i}] must be a (text, label) pair, got "
                    f"{type(pair).__name__}."
                )
            _check_text(pair[0], pair[1], f"examples[{i}]")
            texts.append(pair[0])
            labels.append(pair[1])
    if len(set(labels)) < 2:
        raise RouteConfigError(
            f"ClassifierSelector needs examples of at least 2 labels to learn to tell them "
            f"apart; got {sorted(set(labels)) or 'none'}."
        )
    return texts, labels


def _check_text(text: object, label: object, where: str) -> None:
    if not isinstance(label, str) or not label.strip():
        raise RouteConfigError(
            f"ClassifierSelector {where}: the label must be a non-empty string, got {label!r}."
        )
    if not isinstance(text, str) or not text.strip():
        raise RouteConfigError(
            f"ClassifierSelector {where} (label {label!r}): every example must be a non-empty "
            "string."
        )


def check_route_of(labels: Sequence[str], route_of: object) -> dict[str, str]:
    if route_of is None:
        return {label: label for label in labels}
    if not isinstance(route_of, Mapping):
        raise RouteConfigError(
            f"ClassifierSelector route_of must be a mapping label -> route, got "
            f"{type(route_of).__name__}."
        )
    missing = [label for label in labels if label not in route_of]
    if missing:
        raise RouteConfigError(
            f"ClassifierSelector route_of does not map the label(s) {missing[:5]}; map every "
            "example label to a route."
        )
    mapping = {label: route_of[label] for label in labels}
    for label, route in mapping.items():
        if not isinstance(route, str) or not route.strip():
            raise RouteConfigError(
                f"ClassifierSelector route_of[{label!r}] must be a non-empty route name."
            )
    if len(set(mapping.values())) < 2:
        raise RouteConfigError(
            "ClassifierSelector route_of maps every label to one route; a classifier needs at "
            "least 2 routes (use that route as the router's default instead)."
        )
    return mapping


def held_out(y: npt.NDArray[np.intp], share: float, seed: int) -> npt.NDArray[np.intp] | None:
    """Indices of a stratified held-out slice, or None when too small to calibrate on."""
    if share <= 0:
        return None
    rng = np.random.default_rng(seed)
    picked: list[npt.NDArray[np.intp]] = []
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        take = min(round(share * len(rows)), len(rows) - 1)
        if take > 0:
            picked.append(rng.permutation(rows)[:take])
    held = np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.intp)
    return held if len(held) >= MIN_HELD_OUT else None
