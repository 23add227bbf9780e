"""A screen: the history, the trials in flight, a model and an acquisition behind one callable.

``screen(candidates) -> scores`` (lower is better) is what :class:`raytune_llm.pso.AsyncPSO`
asks when it chooses among candidate moves (its ``screen`` option), and what a gate can ask about
proposals. The screen keeps the history (:meth:`SurrogateScreen.observe`) and the pending trials
(:meth:`SurrogateScreen.add_pending`); pending trials enter the model as fantasies (kriging
believer by default), so that parallel suggestions spread instead of piling onto one optimum.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from raytune_llm._checks import check_int, check_number
from raytune_llm.surrogate.acquisition import log_expected_improvement, lower_confidence_bound
from raytune_llm.surrogate.gp import MixedGP
from raytune_llm.surrogate.kernel import kernel_predict
from raytune_llm.surrogate.kinds import kinds_to_json, normalize_kinds

MODELS = ("gp", "kernel")
ACQUISITIONS = ("ei", "lcb", "mean", "hedge")
#: the portfolio of ``acquisition="hedge"``
HEDGE = ("ei", "lcb")
FANTASIES = ("believer", "min", "mean", "max")


class SurrogateScreen:
    """Scores candidate points by an acquisition on a model of the history (lower is better).

    Args:
        dim: number of coordinates.
        kinds: per-coordinate kinds (:mod:`raytune_llm.surrogate.kinds`), for the GP's kernel.
        model: ``"gp"`` (:class:`~raytune_llm.surrogate.gp.MixedGP`) or ``"kernel"``
            (:func:`~raytune_llm.surrogate.kernel.kernel_predict`, no uncertainty: it scores by
            the predicted cost and ignores pending trials).
        acquisition: ``"ei"`` (minus log expected improvement), ``"lcb"`` (``mean - beta std``),
            ``"mean"`` (the predicted cost) or ``"hedge"``: EI or LCB, drawn at each call with
            probabilities ``softmax(eta * gains)``, where an acquisition's gain adds up minus the
            model's mean, refitted on the next result, at the candidate it ranked first (GP-Hedge,
            Hoffman et al. 2011: which of the two a problem rewards is learnt as the run goes).
        fantasy: how pending trials enter the GP: ``"believer"`` or a constant liar ``"min"``,
            ``"mean"``, ``"max"``.
        beta: LCB's weight on the standard deviation.
        eta: ``"hedge"``'s learning rate.
        min_points: finite results needed before the scores mean anything; below it every
            candidate scores 0 (so the caller's first candidate wins).
        seed: seed of the GP's restarts.
        gp_options: further :class:`MixedGP` arguments (``refit_every``, ``window``...).

    Example:
        >>> screen = SurrogateScreen(1, seed=0)
        >>> for x in (0.1, 0.4, 0.6, 0.9):
        ...     screen.observe([x], (x - 0.5) ** 2)
        >>> int(np.argmin(screen(np.array([[0.05], [0.5], [0.95]]))))
        1
    """

    def __init__(self, dim: int, *, kinds: Sequence[Any] | None = None, model: str = "gp",
                 acquisition: str = "ei", fantasy: str = "believer", beta: float = 2.0, eta: float = 1.0,
                 min_points: int = 3, seed: int | None = None, gp_options: dict[str, Any] | None = None) -> None:
        self.dim = check_int("dim", dim, minimum=1)
        self.kinds = normalize_kinds(kinds, self.dim)
        for name, value, allowed in (("model", model, MODELS), ("acquisition", acquisition, ACQUISITIONS),
                                     ("fantasy", fantasy, FANTASIES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        self.model, self.acquisition, self.fantasy = model, acquisition, fantasy
        self.beta = check_number("beta", beta, low=0)
        self.eta = check_number("eta", eta, low=0)
        self.hedge_rng = np.random.default_rng(None if seed is None else [seed, 11])
        self.gains = np.zeros(len(HEDGE))
        self.hedge_chosen = [0] * len(HEDGE)
        self._nominees: tuple[int, np.ndarray] | None = None  # (results seen, each acquisition's first pick)
        self.min_points = check_int("min_points", min_points, minimum=1)
        self.gp_options = dict(gp_options or {})
        self.gp = MixedGP(self.dim, kinds=self.kinds, seed=seed, **self.gp_options) if model == "gp" else None
        self.X: list[list[float]] = []
        self.y: list[float] = []
        self.pending: dict[Hashable, np.ndarray] = {}
        self._fitted_n = -1
        self._fantasy_model: MixedGP | None = None

    # ------------------------------------------------------------------ data
    def observe(self, x: Sequence[float] | np.ndarray, value: float, *, key: Hashable | None = None) -> None:
        """Add an evaluated point (a non-finite cost counts as the worst one seen); ``key`` also
        removes it from the pending trials."""
        x = np.asarray(x, dtype=float).reshape(-1)
        if x.shape[0] != self.dim:
            raise ValueError(f"a point must have {self.dim} coordinates, got {x.shape[0]}")
        self.X.append(x.tolist())
        self.y.append(float(value))
        if key is not None:
            self.pending.pop(key, None)
        self._fantasy_model = None

    def add_pending(self, key: Hashable, x: Sequence[float] | np.ndarray) -> None:
        """A trial in flight at ``x`` (entered as a fantasy until observed or removed)."""
        self.pending[key] = np.asarray(x, dtype=float).reshape(-1).copy()
        self._fantasy_model = None

    def remove_pending(self, key: Hashable) -> None:
        """Forget a trial in flight (it failed or was cancelled)."""
        if self.pending.pop(key, None) is not None:
            self._fantasy_model = None

    def history(self) -> tuple[np.ndarray, np.ndarray]:
        """The observed points and costs, non-finite costs replaced by the worst finite one
        (``(X, y)``, empty arrays before any finite cost)."""
        y = np.array(self.y, dtype=float)
        finite = np.isfinite(y)
        if not finite.any():
            return np.zeros((0, self.dim)), np.zeros(0)
        y = np.where(finite, y, y[finite].max())
        return np.array(self.X, dtype=float), y

    @property
    def n_finite(self) -> int:
        """Finite costs observed (counted once per new observation)."""
        counted = getattr(self, "_n_finite", (0, 0))
        if counted[0] != len(self.y):
            counted = (len(self.y), int(np.isfinite(np.array(self.y, dtype=float)).sum()) if self.y else 0)
            self._n_finite = counted
        return counted[1]

    # ------------------------------------------------------------------ scores
    def refresh(self, *, optimize_hyperparameters: bool | None = None) -> None:
        """Condition the model on the history now (with ``optimize_hyperparameters``, refit its
        hyperparameters first; ``None``: the GP's own ``refit_every`` rule), so that the next scores
        only add the pending trials. A caller that keeps scoring cheap calls this after each
        :meth:`observe`, where waiting costs nothing (e.g. when a trial completes)."""
        if self.gp is None or self.n_finite < self.min_points:
            return
        X, y = self.history()
        if self._fitted_n != len(y) or optimize_hyperparameters:
            self.gp.fit(X, y, optimize_hyperparameters=optimize_hyperparameters)
            self._fitted_n = len(y)
            self._fantasy_model = None

    def _fitted_gp(self) -> MixedGP:
        if self._fantasy_model is None:
            if self._fitted_n != len(self.y):
                X, y = self.history()
                self.gp.fit(X, y)
                self._fitted_n = len(y)
            pend = np.array(list(self.pending.values())) if self.pending else np.zeros((0, self.dim))
            self._fantasy_model = self.gp.fantasize(pend, self.fantasy) if len(pend) else self.gp
        return self._fantasy_model

    def predict(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation at ``candidates`` (GP model scale, pending trials
        included; the kernel model gives its prediction and zeros)."""
        candidates = np.atleast_2d(np.asarray(candidates, dtype=float))
        if self.n_finite < self.min_points:
            return np.zeros(len(candidates)), np.ones(len(candidates))
        if self.gp is None:
            X, y = self.history()
            return kernel_predict(X, y, candidates), np.zeros(len(candidates))
        return self._fitted_gp().predict(candidates)

    def __call__(self, candidates: np.ndarray) -> np.ndarray:
        """Scores of ``candidates`` (rows of unit-cube points), lower is better. Scores of one call
        compare; those of two calls may not (``"hedge"`` draws its acquisition per call): score
        everything that must be ranked together in one call."""
        candidates = np.atleast_2d(np.asarray(candidates, dtype=float))
        if self.n_finite < self.min_points:
            return np.zeros(len(candidates))
        mean, std = self.predict(candidates)
        if self.gp is None or self.acquisition == "mean":
            return mean
        if self.acquisition == "hedge":
            return self._hedge(candidates, mean, std)
        return self._score(self.acquisition, mean, std)

    def _score(self, acquisition: str, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        if acquisition == "lcb":
            return lower_confidence_bound(mean, std, self.beta)
        return -log_expected_improvement(mean, std, self._fitted_gp().incumbent())

    def hedge_probabilities(self) -> dict[str, float]:
        """``"hedge"``'s probability of drawing each acquisition now (``softmax(eta * gains)``)."""
        logits = np.exp(self.eta * (self.gains - self.gains.max()))
        return dict(zip(HEDGE, (logits / logits.sum()).tolist()))

    def _hedge(self, candidates: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        """GP-Hedge: reward the last nominees once a result came in, then draw this call's acquisition."""
        if self._nominees is not None and self._nominees[0] != len(self.y):
            self.gains -= self.predict(self._nominees[1])[0]
            self._nominees = None
        scores = [self._score(a, mean, std) for a in HEDGE]
        if self._nominees is None:
            self._nominees = (len(self.y), np.array([candidates[int(np.argmin(s))] for s in scores]))
        chosen = int(self.hedge_rng.choice(len(HEDGE), p=list(self.hedge_probabilities().values())))
        self.hedge_chosen[chosen] += 1
        return scores[chosen]

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        """Settings, history, pending trials (keys as strings) and the GP's state; JSON-able
        (non-finite costs as strings)."""
        return {"dim": self.dim, "kinds": kinds_to_json(self.kinds), "model": self.model,
                "acquisition": self.acquisition, "fantasy": self.fantasy, "beta": self.beta, "eta": self.eta,
                "hedge": {"gains": self.gains.tolist(), "chosen": list(self.hedge_chosen),
                          "rng": self.hedge_rng.bit_generator.state,
                          "nominees": None if self._nominees is None else
                          [self._nominees[0], self._nominees[1].tolist()]},
                "min_points": self.min_points, "gp_options": self.gp_options,
                "X": self.X, "y": [v if np.isfinite(v) else repr(v) for v in self.y],
                "pending": {str(k): v.tolist() for k, v in self.pending.items()},
                "gp": None if self.gp is None else self.gp.get_state()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SurrogateScreen:
        screen = cls(state["dim"], kinds=state["kinds"], model=state["model"], acquisition=state["acquisition"],
                     fantasy=state["fantasy"], beta=state["beta"], eta=state.get("eta", 1.0),
                     min_points=state["min_points"], gp_options=state["gp_options"])
        hedge = state.get("hedge")
        if hedge is not None:
            screen.gains = np.array(hedge["gains"], dtype=float)
            screen.hedge_chosen = [int(c) for c in hedge["chosen"]]
            screen.hedge_rng.bit_generator.state = hedge["rng"]
            nominees = hedge["nominees"]
            screen._nominees = None if nominees is None else (int(nominees[0]), np.array(nominees[1], dtype=float))
        screen.X = [list(map(float, x)) for x in state["X"]]
        screen.y = [float(v) for v in state["y"]]
        screen.pending = {k: np.array(v, dtype=float) for k, v in state["pending"].items()}
        if state["gp"] is not None:
            screen.gp = MixedGP.from_state(state["gp"])
        return screen
