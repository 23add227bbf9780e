"""A Gaussian process over the unit cube for mixed spaces (numpy/scipy only).

Kernel: ``s2 * Matern52(continuous and integer coordinates, one lengthscale each)
* exp(-sum_j w_j [c_j != c'_j])`` (an exponentiated overlap/Hamming kernel on the categories,
one weight each) plus noise. Targets are standardised (or Gaussianised ranks, ``warp="rank"``; or
log-scaled, ``warp="log"``; or either of standardised and log-scaled, whichever has the higher
marginal likelihood at each hyperparameter fit, ``warp="auto"``) and the prior mean is the worst
target (a pessimistic constant mean: a converged swarm's history covers one small region, and a GP
reverting to the average there calls the unexplored rest better than what was seen;
``benchmarks/surrogate_fit.py`` measured the difference); predictions are in that model scale, a
monotone transform of the cost, which is all a ranking or an acquisition needs
(:meth:`MixedGP.incumbent` is the best target in the same scale).

Hyperparameters maximise the log marginal likelihood plus log-normal priors (lengthscales
centred on ``sqrt(2) + log(d) / 2`` in log space, as Hvarfner et al. 2024 recommend for
dimension-robust GPs), by L-BFGS-B over log-parameters with analytic gradients, from the last
fit (warm start), the prior's centre and, at the first fit, a few random starts. They are refitted
only every ``refit_every`` new points; in between, new points only update the posterior (one
Cholesky). Above ``window`` points the model sees the ``keep_best`` best, the ``keep_recent``
most recent and points spread evenly over the rest (``benchmarks/surrogate_fit.py`` measured this
choice); the hyperparameter fit itself uses at
most ``fit_points`` of them, which bounds a refit's cost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import linalg, optimize
from scipy.stats import norm, rankdata

from raytune_llm._checks import check_int
from raytune_llm.surrogate.kinds import Kind, categorical_columns, category, kinds_to_json, normalize_kinds

SQRT5 = math.sqrt(5.0)
WARPS = ("standard", "rank", "log", "auto")
_NOISE_BOUNDS = (math.log(1e-6), math.log(0.5))
_SIGNAL_BOUNDS = (math.log(0.05), math.log(20.0))
_LENGTH_BOUNDS = (math.log(0.01), math.log(50.0))
_WEIGHT_BOUNDS = (math.log(1e-3), math.log(20.0))


class MixedGP:
    """Exact GP regression of the cost over the unit cube, with a mixed kernel.

    Args:
        dim: number of coordinates.
        kinds: per-coordinate kinds (:mod:`raytune_llm.surrogate.kinds`); ``None``: all continuous.
        seed: seed of the random restarts.
        refit_every: new points between two hyperparameter fits.
        window: most points the model conditions on.
        keep_best: of ``window``, how many are the best points.
        keep_recent: of ``window``, how many are the most recent points (default: half of what
            ``keep_best`` leaves); the rest are spread evenly over the older history.
        restarts: random starts of the first hyperparameter fit.
        fit_points: most points the hyperparameter fit uses (chosen from the window like the window
            from the history, a quarter of them the best); the posterior uses the whole window.
        warp: ``"standard"`` (standardised targets), ``"rank"`` (Gaussianised ranks), ``"log"``
            (standardised log costs) or ``"auto"`` (standard or log by marginal likelihood).
        max_iter: L-BFGS-B iterations per start of a hyperparameter fit (bounds a refit's cost;
            later fits start from the last one, so few iterations suffice).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X = rng.random((20, 2)); y = ((X - 0.5) ** 2).sum(axis=1)
        >>> gp = MixedGP(2, seed=0).fit(X, y)
        >>> mean, std = gp.predict(np.array([[0.5, 0.5], [0.0, 1.0]]))
        >>> bool(mean[0] < mean[1])
        True
    """

    def __init__(self, dim: int, *, kinds: Sequence[Any] | None = None, seed: int | None = None,
                 refit_every: int = 5, window: int = 128, keep_best: int = 32, keep_recent: int | None = None,
                 restarts: int = 2, fit_points: int = 128, warp: str = "standard", max_iter: int = 200) -> None:
        self.dim = check_int("dim", dim, minimum=1)
        self.kinds = normalize_kinds(kinds, self.dim)
        self.refit_every = check_int("refit_every", refit_every, minimum=1)
        self.window = check_int("window", window, minimum=2)
        self.keep_best = check_int("keep_best", keep_best, minimum=0, maximum=self.window)
        self.keep_recent = (self.window - self.keep_best) // 2 if keep_recent is None else \
            check_int("keep_recent", keep_recent, minimum=0, maximum=self.window)
        self.restarts = check_int("restarts", restarts, minimum=0)
        self.fit_points = check_int("fit_points", fit_points, minimum=2)
        self.max_iter = check_int("max_iter", max_iter, minimum=1)
        if warp not in WARPS:
            raise ValueError(f"warp must be one of {WARPS}, got {warp!r}")
        self.warp = warp
        self._auto_warp = "standard"  # with warp="auto": the warp of the last hyperparameter fit
        self.rng = np.random.default_rng(seed)
        self._cat = np.array(categorical_columns(self.kinds), dtype=int)
        self._cont = np.setdiff1d(np.arange(self.dim), self._cat)  # continuous and integer coordinates
        self._ncat = np.array([self.kinds[j][1] for j in self._cat], dtype=int)
        self.theta: np.ndarray | None = None
        self._fitted_at = -1
        self._X = self._y = self._L = self._alpha = None
        self._jitter = 1e-8

    # ------------------------------------------------------------------ features
    @property
    def n_params(self) -> int:
        return len(self._cont) + len(self._cat) + 2

    def _split(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        X = np.atleast_2d(np.asarray(X, dtype=float))
        if X.shape[1] != self.dim:
            raise ValueError(f"points must have {self.dim} coordinates, got shape {X.shape}")
        cats = np.stack([category(X[:, j], n) for j, n in zip(self._cat, self._ncat)], axis=1) \
            if len(self._cat) else np.zeros((len(X), 0), dtype=int)
        return X[:, self._cont], cats

    def _prior(self) -> tuple[np.ndarray, np.ndarray]:
        """Centre and scale of the log-normal priors, in the order of ``theta``."""
        dc, dk = len(self._cont), len(self._cat)
        loc = np.concatenate([np.full(dc, math.sqrt(2) + 0.5 * math.log(max(dc, 1))),
                              np.full(dk, -0.5 * math.log(max(dk, 1))), [0.0, math.log(1e-3)]])
        scale = np.concatenate([np.full(dc, math.sqrt(3)), np.full(dk, 1.5), [1.0, 2.0]])
        return loc, scale

    def _bounds(self) -> list[tuple[float, float]]:
        return ([_LENGTH_BOUNDS] * len(self._cont) + [_WEIGHT_BOUNDS] * len(self._cat)
                + [_SIGNAL_BOUNDS, _NOISE_BOUNDS])

    def _kernel(self, theta: np.ndarray, A: tuple[np.ndarray, np.ndarray],
                B: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        dc, dk = len(self._cont), len(self._cat)
        ls, w, s2 = np.exp(theta[:dc]), np.exp(theta[dc:dc + dk]), math.exp(theta[dc + dk])
        (ca, ka), (cb, kb) = A, B
        if dc:
            d2 = (((ca[:, None, :] - cb[None, :, :]) / ls) ** 2).sum(axis=2)
            r = np.sqrt(d2)
            k = (1 + SQRT5 * r + 5.0 / 3.0 * d2) * np.exp(-SQRT5 * r)
        else:
            k = np.ones((len(ka), len(kb)))
        if dk:
            k = k * np.exp(-((ka[:, None, :] != kb[None, :, :]) * w).sum(axis=2))
        return s2 * k

    # ------------------------------------------------------------------ likelihood
    def _nll(self, theta: np.ndarray, C: np.ndarray, K: np.ndarray, y: np.ndarray,
             D2: np.ndarray, Dk: np.ndarray) -> tuple[float, np.ndarray]:
        n, dc, dk = len(y), len(self._cont), len(self._cat)
        ls2, w = np.exp(2 * theta[:dc]), np.exp(theta[dc:dc + dk])
        s2, noise = math.exp(theta[dc + dk]), math.exp(theta[dc + dk + 1])
        if dc:
            d2 = np.tensordot(1.0 / ls2, D2, axes=1)
            r = np.sqrt(d2)
            e = np.exp(-SQRT5 * r)
            m = (1 + SQRT5 * r + 5.0 / 3.0 * d2) * e
        else:
            m = e = r = np.ones((n, n))
        c = np.exp(-np.tensordot(w, Dk, axes=1)) if dk else np.ones((n, n))
        Kf = s2 * m * c
        Kn = Kf + (noise + 1e-8) * np.eye(n)
        try:
            L = linalg.cholesky(Kn, lower=True)
        except linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        alpha = linalg.cho_solve((L, True), y)
        nll = 0.5 * y @ alpha + np.log(np.diag(L)).sum() + 0.5 * n * math.log(2 * math.pi)
        W = np.outer(alpha, alpha) - linalg.cho_solve((L, True), np.eye(n))
        grad = np.empty_like(theta)
        if dc:
            G = W * (s2 * c * (5.0 / 3.0) * (1 + SQRT5 * r) * e)
            grad[:dc] = -0.5 * np.tensordot(D2, G, axes=([1, 2], [0, 1])) / ls2
        if dk:
            grad[dc:dc + dk] = 0.5 * w * np.tensordot(Dk, W * Kf, axes=([1, 2], [0, 1]))
        grad[dc + dk] = -0.5 * (W * Kf).sum()
        grad[dc + dk + 1] = -0.5 * noise * np.trace(W)
        loc, scale = self._prior()
        z = (theta - loc) / scale
        return float(nll + 0.5 * (z ** 2).sum()), grad + z / scale

    def _optimize(self, C: np.ndarray, K: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
        """The MAP hyperparameters for targets ``y`` and their objective (negative log posterior)."""
        D2 = (C.T[:, :, None] - C.T[:, None, :]) ** 2 if len(self._cont) else np.zeros((0, len(y), len(y)))
        Dk = (K.T[:, :, None] != K.T[:, None, :]).astype(float) if len(self._cat) else np.zeros((0, len(y), len(y)))
        loc, scale = self._prior()
        bounds = self._bounds()
        lo, hi = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
        starts = [self.theta] if self.theta is not None else []
        starts.append(np.clip(loc, lo, hi))
        if self.theta is None:
            starts += [np.clip(loc + scale * self.rng.standard_normal(len(loc)), lo, hi) for _ in range(self.restarts)]
        best_theta, best_val = starts[0], math.inf
        for t0 in starts:
            res = optimize.minimize(self._nll, t0, args=(C, K, y, D2, Dk), jac=True, method="L-BFGS-B",
                                    bounds=bounds, options={"maxiter": self.max_iter})
            if np.all(np.isfinite(res.x)) and res.fun < best_val:
                best_theta, best_val = res.x, float(res.fun)
        return np.asarray(best_theta, dtype=float), best_val

    # ------------------------------------------------------------------ fit / predict
    def select(self, y: np.ndarray, window: int | None = None, keep_best: int | None = None,
               keep_recent: int | None = None) -> np.ndarray:
        """Indices of the points a fit on costs ``y`` (in time order) keeps, in their order: all of
        them up to ``window``; else the ``keep_best`` best, the ``keep_recent`` most recent, and
        evenly spaced ones of the rest (the history's wider picture: a converged swarm's recent
        points all lie in one small region, and a model of them alone calls the rest good)."""
        window = self.window if window is None else window
        keep_best = self.keep_best if keep_best is None else keep_best
        keep_recent = self.keep_recent if keep_recent is None else keep_recent
        n = len(y)
        if n <= window:
            return np.arange(n)
        chosen = set(np.argsort(y, kind="stable")[:keep_best].tolist())
        for i in range(n - 1, -1, -1):
            if len(chosen) >= min(window, keep_best + keep_recent):
                break
            chosen.add(i)
        rest = np.array([i for i in range(n) if i not in chosen], dtype=int)
        room = window - len(chosen)
        if room > 0 and len(rest):
            chosen.update(rest[np.unique(np.linspace(0, len(rest) - 1, room).round().astype(int))].tolist())
        return np.array(sorted(chosen), dtype=int)

    def _transform(self, y: np.ndarray, warp: str | None = None) -> np.ndarray:
        """Targets in model scale: standardised (``"standard"``), Gaussianised ranks (``"rank"``) or
        standardised ``log(y - min + (median - min) / 10)`` (``"log"``: heavy-tailed costs, orders of
        magnitude apart), then shifted so that the worst is 0, the prior mean: far from the data the
        model predicts the worst cost seen. ``"auto"`` uses the warp its last fit chose."""
        warp = warp or (self._auto_warp if self.warp == "auto" else self.warp)
        if warp == "rank":
            t = norm.ppf((rankdata(y) - 0.5) / len(y))
        else:
            z = self._warped(y, warp)
            sd = float(z.std())
            t = (z - z.mean()) / (sd if sd > 0 else 1.0)
        return t - t.max()

    def _warped(self, y: np.ndarray, warp: str) -> np.ndarray:
        """The costs before standardisation: ``log(y - min + offset)`` for ``"log"``, else ``y``."""
        return np.log(y - y.min() + self._log_offset(y)) if warp == "log" else y

    @staticmethod
    def _log_warp_fits(y: np.ndarray) -> bool:
        """Whether ``"auto"`` may try the log warp: not when a quarter of the costs sit (nearly) at
        the minimum (a plateau, ties at the best), where the logarithm would spike them apart and its
        Jacobian would buy it a likelihood the data do not support."""
        low, high = float(y.min()), float(y.max())
        return bool(np.mean(y - low <= 1e-6 * (high - low)) < 0.25)

    @staticmethod
    def _log_offset(y: np.ndarray) -> float:
        return max((float(np.median(y)) - float(y.min())) / 10, 1e-12)

    def _log_jacobian(self, y: np.ndarray, sub: np.ndarray, warp: str) -> float:
        """``-sum log |dt/dy|`` over ``y[sub]`` for the warp ``t`` fitted on ``y``: what turns the
        likelihood of the warped targets into one of the costs, so that warps compare. With
        ``t = (z - mean) / sd``: ``len(sub) log sd``, plus ``sum z`` for ``z = log(...)``
        (``dz/dy = exp(-z)``)."""
        z = self._warped(y, warp)
        sd = float(z.std())
        return float((z[sub].sum() if warp == "log" else 0.0) + len(sub) * math.log(sd if sd > 0 else 1.0))

    def fit(self, X: np.ndarray, y: np.ndarray, *, optimize_hyperparameters: bool | None = None) -> MixedGP:
        """Condition on the history ``(X, y)`` (finite costs; the whole history, in time order).

        Hyperparameters are refitted when ``optimize_hyperparameters`` is true, or by default when
        none were fitted yet or ``refit_every`` points came since the last fit.

        Raises:
            ValueError: shapes that do not match, no point, or a non-finite cost.
        """
        X = np.atleast_2d(np.asarray(X, dtype=float))
        y = np.asarray(y, dtype=float).reshape(-1)
        if len(X) != len(y) or len(y) == 0:
            raise ValueError(f"fit needs as many costs as points (at least one), "
                             f"got {len(X)} points and {len(y)} costs")
        if not np.all(np.isfinite(y)) or not np.all(np.isfinite(X)):
            raise ValueError("fit needs finite points and costs; drop failed trials or impute them first")
        n_seen = len(y)
        keep = self.select(y)
        X, y = X[keep], y[keep]
        refit = optimize_hyperparameters if optimize_hyperparameters is not None else (
            self.theta is None or n_seen - self._fitted_at >= self.refit_every or n_seen < self._fitted_at)
        if refit and len(y) >= 2:
            sub = self.select(y, self.fit_points, self.fit_points // 4, (self.fit_points * 3) // 8)
            if self.warp == "auto":  # the warp under which the costs are likelier (marginal likelihood)
                fits = []
                for warp in ("standard", "log") if self._log_warp_fits(y) else ("standard",):
                    theta, nll = self._optimize(*self._split(X[sub]), self._transform(y, warp)[sub])
                    fits.append((nll + self._log_jacobian(y, sub, warp), warp, theta))
                _, self._auto_warp, self.theta = min(fits, key=lambda f: f[0])
            else:
                self.theta, _ = self._optimize(*self._split(X[sub]), self._transform(y)[sub])
            self._fitted_at = n_seen
        elif self.theta is None:
            loc, _ = self._prior()
            self.theta = np.clip(loc, *np.array(self._bounds()).T)
        self._set_posterior(X, self._transform(y))
        return self

    def _set_posterior(self, X: np.ndarray, yt: np.ndarray) -> None:
        self._X, self._y = X, yt
        self._F = self._split(X)
        noise = math.exp(self.theta[-1])
        Kx = self._kernel(self.theta, self._F, self._F)
        jitter = 1e-8
        while True:
            try:
                self._L = linalg.cholesky(Kx + (noise + jitter) * np.eye(len(X)), lower=True)
                self._jitter = jitter
                break
            except linalg.LinAlgError:
                jitter *= 10
                if jitter > 1.0:
                    raise
        self._alpha = linalg.cho_solve((self._L, True), yt)

    @property
    def fitted(self) -> bool:
        return self._L is not None

    def incumbent(self) -> float:
        """The best (lowest) target in model scale."""
        self._need_fit()
        return float(self._y.min())

    def targets(self) -> np.ndarray:
        """The conditioned targets in model scale (a copy)."""
        self._need_fit()
        return self._y.copy()

    def _need_fit(self) -> None:
        if self._L is None:
            raise RuntimeError("the GP has no data yet: call fit(X, y) first")

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation (model scale) at the rows of ``X``."""
        self._need_fit()
        Fq = self._split(X)
        Ks = self._kernel(self.theta, Fq, self._F)
        mean = Ks @ self._alpha
        v = linalg.solve_triangular(self._L, Ks.T, lower=True)
        var = math.exp(self.theta[-2]) - (v ** 2).sum(axis=0)
        return mean, np.sqrt(np.maximum(var, 1e-12))

    def condition(self, X_new: np.ndarray, y_new: np.ndarray) -> MixedGP:
        """A copy conditioned on extra points with targets in model scale (fantasies for pending
        trials); hyperparameters and the target transform are kept."""
        self._need_fit()
        clone = MixedGP.__new__(MixedGP)
        clone.__dict__.update(self.__dict__)
        X_new = np.atleast_2d(np.asarray(X_new, dtype=float))
        X_all, y_all = np.vstack([self._X, X_new]), np.concatenate([self._y, np.asarray(y_new, dtype=float)])
        # a block update of the Cholesky factor: O(n^2 k) for k new points instead of O(n^3)
        F_new = self._split(X_new)
        K_cross = self._kernel(self.theta, self._F, F_new)
        K_new = self._kernel(self.theta, F_new, F_new) + (math.exp(self.theta[-1]) + self._jitter) * np.eye(len(X_new))
        B = linalg.solve_triangular(self._L, K_cross, lower=True)
        try:
            C = linalg.cholesky(K_new - B.T @ B, lower=True)
        except linalg.LinAlgError:  # new points (nearly) on old ones: refactor with more jitter
            clone._set_posterior(X_all, y_all)
            return clone
        n, k = len(self._X), len(X_new)
        L = np.zeros((n + k, n + k))
        L[:n, :n], L[n:, :n], L[n:, n:] = self._L, B.T, C
        clone._X, clone._y, clone._F, clone._L = X_all, y_all, self._split(X_all), L
        clone._alpha = linalg.cho_solve((L, True), y_all)
        return clone

    def fantasize(self, X_pending: np.ndarray, strategy: str = "believer") -> MixedGP:
        """A copy with pending points entered as fantasies: ``"believer"`` (kriging believer: the
        posterior mean there) or a constant liar ``"min"``, ``"mean"``, ``"max"`` of the targets."""
        X_pending = np.atleast_2d(np.asarray(X_pending, dtype=float))
        if X_pending.size == 0:
            return self
        if strategy == "believer":
            y_new = self.predict(X_pending)[0]
        elif strategy in ("min", "mean", "max"):
            y_new = np.full(len(X_pending), float(getattr(np, strategy)(self._y)))
        else:
            raise ValueError(f"strategy must be one of believer, min, mean, max, got {strategy!r}")
        return self.condition(X_pending, y_new)

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        """The settings, hyperparameters and RNG (JSON-able); the data are refitted on restore."""
        return {"dim": self.dim, "kinds": kinds_to_json(self.kinds), "refit_every": self.refit_every,
                "window": self.window, "keep_best": self.keep_best, "keep_recent": self.keep_recent,
                "restarts": self.restarts, "fit_points": self.fit_points, "warp": self.warp,
                "auto_warp": self._auto_warp, "max_iter": self.max_iter,
                "theta": None if self.theta is None else self.theta.tolist(), "fitted_at": self._fitted_at,
                "rng": self.rng.bit_generator.state}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MixedGP:
        gp = cls(state["dim"], kinds=state["kinds"], refit_every=state["refit_every"], window=state["window"],
                 keep_best=state["keep_best"], keep_recent=state.get("keep_recent"), restarts=state["restarts"],
                 fit_points=state.get("fit_points", 128), warp=state["warp"], max_iter=state.get("max_iter", 200))
        gp.theta = None if state["theta"] is None else np.array(state["theta"], dtype=float)
        gp._auto_warp = state.get("auto_warp", "standard")
        gp._fitted_at = int(state["fitted_at"])
        gp.rng.bit_generator.state = state["rng"]
        return gp


__all__ = ["MixedGP", "WARPS", "Kind"]
