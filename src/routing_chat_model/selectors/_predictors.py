"""The predictors behind `LearnedSelector`: kNN memory, ridge, logistic, matrix factorisation.

Each predicts, for embedded requests, every model's expected quality and cost; all learn from
one more observation without a refit (see `LearnedSelector.record_feedback`).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from routing_chat_model.errors import RouteConfigError

__all__ = ["Factorization", "Logistic", "Memory", "Ridge", "check_wtp", "knn", "unit"]

_F32 = npt.NDArray[np.float32]
_F64 = npt.NDArray[np.float64]


def unit(vectors: _F32) -> _F32:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0))


def check_wtp(value: float | None) -> float:
    if value is None:
        return math.inf
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise RouteConfigError(
            f"willingness_to_pay={value!r}: give USD per quality point, a number > 0 "
            "(math.inf or None for best quality whatever the cost)."
        )
    if value <= 0:
        raise RouteConfigError(
            f"willingness_to_pay={value!r} must be > 0 (USD one quality point is worth)."
        )
    return float(value)


class Memory:
    """kNN memory: unit embeddings with per-model quality and cost (NaN = unknown), growable.

    Rows appended after construction (observed outcomes) are bounded: past `max_added` of them,
    each new row overwrites the oldest added one, so a long-running service keeps flat memory.
    """

    def __init__(self, vectors: _F32, quality: _F64, cost: _F64, max_added: int = 100_000) -> None:
        self.n = len(vectors)
        self.base = self.n
        self.max_added = max_added
        self.added = 0
        cap = max(16, self.n)
        self.x = np.zeros((cap, vectors.shape[1]), dtype=np.float32)
        self.q = np.full((cap, quality.shape[1]), np.nan)
        self.c = np.full((cap, quality.shape[1]), np.nan)
        self.x[: self.n], self.q[: self.n], self.c[: self.n] = vectors, quality, cost

    def append(self, vector: _F32, model: int, quality: float, cost: float) -> None:
        if self.n - self.base >= self.max_added:  # full: overwrite the oldest added row
            row = self.base + self.added % self.max_added
            self.q[row], self.c[row] = np.nan, np.nan
        else:
            if self.n == len(self.x):
                grow = min(len(self.x), self.base + self.max_added - self.n)
                self.x = np.concatenate([self.x, np.zeros((grow, self.x.shape[1]), np.float32)])
                self.q = np.concatenate([self.q, np.full((grow, self.q.shape[1]), np.nan)])
                self.c = np.concatenate([self.c, np.full((grow, self.c.shape[1]), np.nan)])
            row = self.n
            self.n += 1
        self.x[row] = vector
        self.q[row, model] = quality
        self.c[row, model] = cost
        self.added += 1


def knn(sims: _F64, values: _F64, k: int) -> _F64:
    """Per query row and model: similarity-weighted mean of the k nearest rows having a value.

    Weights are `max(sim, 0) + 1e-6`; rows without a value (NaN) never count as neighbours.
    """
    valid = ~np.isnan(values)  # (N, m)
    if valid.all():  # every row counts for every model: one neighbour search for all models
        kk = min(k, sims.shape[1])
        idx = np.argpartition(-sims, kk - 1, axis=1)[:, :kk] if kk < sims.shape[1] else None
        top = sims if idx is None else np.take_along_axis(sims, idx, axis=1)
        w = np.maximum(top, 0.0) + 1e-6
        vals = values[None] if idx is None else values[idx]  # (q, k, m)
        return np.asarray(np.einsum("qk,qkm->qm", w, vals) / w.sum(axis=1)[:, None])
    filled = np.where(valid, values, 0.0)
    out = np.empty((sims.shape[0], values.shape[1]))
    for lo in range(0, sims.shape[0], 64):
        s = np.where(valid.T[None], sims[lo : lo + 64, None, :], -np.inf)  # (q, m, N)
        kk = min(k, s.shape[2])
        idx = np.argpartition(-s, kk - 1, axis=2)[:, :, :kk] if kk < s.shape[2] else None
        top = s if idx is None else np.take_along_axis(s, idx, axis=2)
        w = np.where(np.isfinite(top), np.maximum(top, 0.0) + 1e-6, 0.0)
        cols = np.arange(values.shape[1])[None, :, None]
        vals = filled.T[None] if idx is None else filled[idx, cols]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[lo : lo + 64] = (w * vals).sum(axis=2) / w.sum(axis=2)
    return out


class Ridge:
    """Per-model ridge regressions on [embedding, 1], kept as sufficient statistics."""

    def __init__(self, a: _F64, b: _F64) -> None:
        self.a, self.b = a, b  # (2, m, d+1, d+1), (2, m, d+1): [quality, log cost]
        self.w = np.stack([np.linalg.solve(a[t], b[t][..., None])[..., 0] for t in range(2)])

    @classmethod
    def fit(cls, x: _F32, quality: _F64, cost: _F64, alpha: float) -> Ridge:
        z = np.hstack([x, np.ones((len(x), 1), np.float32)]).astype(np.float64)
        m, d = quality.shape[1], z.shape[1]
        a = np.zeros((2, m, d, d))
        b = np.zeros((2, m, d))
        for t, target in enumerate((quality, np.log(np.maximum(cost, 1e-12)))):
            for j in range(m):
                ok = ~np.isnan(quality[:, j])
                zj = z[ok]
                penalty = np.full(d, alpha)
                penalty[-1] = 1e-6  # the intercept is not shrunk (only kept invertible)
                a[t, j] = zj.T @ zj + np.diag(penalty)
                b[t, j] = zj.T @ target[ok, j]
        return cls(a, b)

    def predict(self, x: _F32) -> tuple[_F64, _F64]:
        z = np.hstack([x, np.ones((len(x), 1), np.float32)]).astype(np.float64)
        return np.clip(z @ self.w[0].T, 0.0, 1.0), np.exp(z @ self.w[1].T)

    def update(self, vector: _F32, model: int, quality: float, cost: float) -> None:
        z = np.append(vector, 1.0).astype(np.float64)
        targets = [(0, quality)] + ([] if math.isnan(cost) else [(1, math.log(max(cost, 1e-12)))])
        for t, y in targets:
            self.a[t, model] += np.outer(z, z)
            self.b[t, model] += z * y
            self.w[t, model] = np.linalg.solve(self.a[t, model], self.b[t, model])


def _sigmoid(z: _F64) -> _F64:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


class Logistic:
    """Per-model L2 logistic regressions of quality on [embedding, 1] (soft 0..1 labels allowed).

    Keeps each model's weights and Hessian (the Laplace posterior precision), so feedback is one
    online Newton step; costs come from a ridge regression of log cost (`Ridge`).
    """

    def __init__(self, w: _F64, h: _F64, cost: Ridge) -> None:
        self.w, self.h, self.cost = w, h, cost  # (m, d+1), (m, d+1, d+1)
        self.wt = np.ascontiguousarray(w.T)
        self.ct = np.ascontiguousarray(cost.w[1].T)

    @classmethod
    def fit(cls, x: _F32, quality: _F64, cost: _F64, alpha: float) -> Logistic:
        z = np.hstack([x, np.ones((len(x), 1), np.float32)]).astype(np.float64)
        m, d = quality.shape[1], z.shape[1]
        penalty = np.full(d, alpha)
        penalty[-1] = 1e-6  # the intercept is not shrunk
        w = np.zeros((m, d))
        h = np.zeros((m, d, d))
        for j in range(m):
            ok = ~np.isnan(quality[:, j])
            zj, y = z[ok], quality[ok, j]
            wj = np.zeros(d)
            for _ in range(30):  # Newton / IRLS; converges in ~6-10 steps
                p = _sigmoid(zj @ wj)
                hess = (zj * (p * (1 - p))[:, None]).T @ zj + np.diag(penalty)
                step = np.linalg.solve(hess, zj.T @ (p - y) + penalty * wj)
                wj -= step
                if float(np.abs(step).max()) < 1e-5:
                    break
            p = _sigmoid(zj @ wj)
            w[j] = wj
            h[j] = (zj * (p * (1 - p))[:, None]).T @ zj + np.diag(penalty)
        return cls(w, h, Ridge.fit(x, quality, cost, alpha))

    def predict(self, x: _F32) -> tuple[_F64, _F64]:
        z = np.hstack([x, np.ones((len(x), 1), np.float32)]).astype(np.float64)
        return _sigmoid(z @ self.wt), np.exp(z @ self.ct)

    def update(self, vector: _F32, model: int, quality: float, cost: float) -> None:
        z = np.append(vector, 1.0).astype(np.float64)
        p = float(_sigmoid(np.asarray(z @ self.w[model])))
        self.h[model] += max(p * (1 - p), 1e-3) * np.outer(z, z)
        self.w[model] -= np.linalg.solve(self.h[model], z * (p - quality))
        self.wt[:, model] = self.w[model]
        self.cost.update(vector, model, quality, cost)
        self.ct[:, model] = self.cost.w[1, model]


class Factorization:
    """Matrix factorisation in the RouteLLM style: `p(correct) = sigmoid(<v_m, W x + b> + c_m)`.

    A learned embedding `v_m` (and bias `c_m`) per model scores a learned projection of the
    prompt embedding; fitted with Adam on the masked binary cross-entropy of every observed
    (prompt, model) quality (soft labels allowed), with L2 weight decay. Costs come from a ridge
    regression of log cost (`Ridge`). Feedback is one online Newton step on that model's
    `(v_m, c_m)` with the projection fixed (a logistic regression on the projected prompt), its
    Hessian `h` kept as in `Logistic`: well-known directions move little, and a model that
    keeps failing on one kind of prompt loses that kind first.
    """

    def __init__(self, w: _F64, b: _F64, v: _F64, c: _F64, h: _F64, cost: Ridge) -> None:
        self.w, self.b, self.v, self.c, self.cost = w, b, v, c, cost  # (d,k) (k,) (m,k) (m,)
        self.h = h  # (m, k+1, k+1): per model, the Hessian of its loss in (v_m, c_m)
        self.ct = np.ascontiguousarray(cost.w[1].T)

    @classmethod
    def fit(
        cls,
        x: _F32,
        quality: _F64,
        cost: _F64,
        *,
        dim: int,
        alpha: float,
        ridge_alpha: float,
        steps: int = 400,
        lr: float = 0.01,
        seed: int = 0,
    ) -> Factorization:
        xs = x.astype(np.float64)
        n, d = xs.shape
        m = quality.shape[1]
        mask = ~np.isnan(quality)
        y = np.where(mask, quality, 0.0)
        count = max(int(mask.sum()), 1)
        rng = np.random.default_rng(seed)
        mean = np.clip(np.nanmean(np.where(mask, quality, np.nan), axis=0), 0.02, 0.98)
        params = [
            rng.normal(0.0, 1.0 / math.sqrt(d), (d, dim)),  # W
            np.zeros(dim),  # b
            rng.normal(0.0, 0.1, (m, dim)),  # V
            np.log(mean / (1 - mean)),  # c: starts at each model's mean quality
        ]
        first = [np.zeros_like(p) for p in params]
        second = [np.zeros_like(p) for p in params]
        beta1, beta2 = 0.9, 0.999
        for step in range(1, steps + 1):
            w, b, v, c = params
            h = xs @ w + b  # (n, k)
            p = _sigmoid(h @ v.T + c)
            g = np.where(mask, p - y, 0.0) / count  # d(loss)/d(logit), (n, m)
            gh = g @ v
            grads = [
                xs.T @ gh + alpha * w / n,
                gh.sum(axis=0),
                g.T @ h + alpha * v / n,
                g.sum(axis=0),
            ]
            for i, grad in enumerate(grads):
                first[i] = beta1 * first[i] + (1 - beta1) * grad
                second[i] = beta2 * second[i] + (1 - beta2) * grad * grad
                fixed = first[i] / (1 - beta1**step)
                scale = np.sqrt(second[i] / (1 - beta2**step)) + 1e-8
                params[i] = params[i] - lr * fixed / scale
        w, b, v, c = params
        z = np.hstack([xs @ w + b, np.ones((n, 1))])  # the projected prompts, with a 1
        p = _sigmoid(z[:, :-1] @ v.T + c)
        prior = np.diag(np.append(np.full(dim, max(alpha, 1e-3)), 1e-3))
        h = np.stack([
            (z * np.where(mask[:, j], p[:, j] * (1 - p[:, j]), 0.0)[:, None]).T @ z + prior
            for j in range(m)
        ])  # fmt: skip
        return cls(w, b, v, c, h, Ridge.fit(x, quality, cost, ridge_alpha))

    def predict(self, x: _F32) -> tuple[_F64, _F64]:
        xs = x.astype(np.float64)
        z = np.hstack([xs, np.ones((len(x), 1))])
        return _sigmoid((xs @ self.w + self.b) @ self.v.T + self.c), np.exp(z @ self.ct)

    def update(self, vector: _F32, model: int, quality: float, cost: float) -> None:
        z = np.append(vector.astype(np.float64) @ self.w + self.b, 1.0)
        theta = np.append(self.v[model], self.c[model])
        p = float(_sigmoid(np.asarray(z @ theta)))
        self.h[model] += max(p * (1 - p), 1e-3) * np.outer(z, z)
        theta -= np.linalg.solve(self.h[model], z * (p - quality))
        self.v[model], self.c[model] = theta[:-1], theta[-1]
        self.cost.update(vector, model, quality, cost)
        self.ct[:, model] = self.cost.w[1, model]
