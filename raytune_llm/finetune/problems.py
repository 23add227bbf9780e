"""Synthetic tuning problems to train the proposal model on: many families, never the benchmark's.

Each :class:`Problem` is a Ray Tune ``param_space`` with realistic hyperparameter names and ranges
(``lr`` on a log scale, ``num_layers`` an integer, ``optimizer`` a choice...), a metric with a
direction (``val_loss`` down, ``val_accuracy`` up) and a cheap objective on it. The objective is
a test function of a family that the benchmarks never report (see :data:`FAMILIES`; the
benchmark grid's functions are :data:`BENCHMARK_FAMILIES`, refused here),
randomly shifted, rotated and scaled in the space's unit cube, plus a random effect per category.
So a model trained on these learns how search trajectories improve, not where one benchmark's
optimum lies.

Example:
    >>> problem = make_problem(family="bumps", seed=3, dim=4)
    >>> problem.family, problem.dim
    ('bumps', 4)
    >>> config = problem.space.flat_from_unit([0.5] * problem.space.dim)
    >>> isinstance(problem(config), float)
    True
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from raytune_llm.space import SearchSpace

#: Objective families. None of them is in the benchmark grid (``benchmarks/functions.py``).
FAMILIES: tuple[str, ...] = ("fourier", "bumps", "alpine", "salomon", "different_powers", "sharp_ridge",
                              "cumsum_ridge")
#: The families held out for validation by default (never trained on).
VALIDATION_FAMILIES: tuple[str, ...] = ("salomon",)
#: The families of ``benchmarks/functions.py``: refused here, so no training problem is a benchmark's.
BENCHMARK_FAMILIES: tuple[str, ...] = ("rastrigin", "ackley", "rosenbrock", "sphere", "griewank", "levy",
                                       "styblinski_tang", "schwefel", "zakharov", "ellipsoid", "bent_cigar",
                                       "michalewicz", "step")

# name -> (kind, arguments of the Tune domain). Ranges are the usual ones for the name.
_PARAMETERS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "lr": ("loguniform", (1e-5, 1e-1)),
    "weight_decay": ("loguniform", (1e-6, 1e-2)),
    "dropout": ("uniform", (0.0, 0.6)),
    "batch_size": ("choice", ([16, 32, 64, 128, 256],)),
    "num_layers": ("randint", (1, 9)),
    "hidden_size": ("lograndint", (16, 1025)),
    "momentum": ("uniform", (0.5, 0.99)),
    "optimizer": ("choice", (["adam", "adamw", "sgd", "rmsprop"],)),
    "activation": ("choice", (["relu", "gelu", "tanh", "silu"],)),
    "warmup_steps": ("qrandint", (0, 2000, 100)),
    "label_smoothing": ("uniform", (0.0, 0.3)),
    "max_depth": ("randint", (2, 13)),
    "n_estimators": ("lograndint", (50, 2001)),
    "subsample": ("uniform", (0.5, 1.0)),
    "colsample_bytree": ("uniform", (0.3, 1.0)),
    "min_child_weight": ("loguniform", (0.1, 20.0)),
    "l2_reg": ("loguniform", (1e-8, 1e-1)),
    "grad_clip": ("loguniform", (0.1, 10.0)),
    "kernel_size": ("choice", ([3, 5, 7],)),
    "num_heads": ("choice", ([1, 2, 4, 8],)),
    "lr_decay": ("uniform", (0.8, 1.0)),
    "embedding_dim": ("lograndint", (8, 513)),
    "epochs": ("randint", (5, 101)),
    "beta1": ("uniform", (0.8, 0.99)),
    "temperature": ("loguniform", (0.01, 10.0)),
    "num_leaves": ("lograndint", (8, 513)),
    "scheduler": ("choice", (["cosine", "step", "constant", "linear"],)),
    "sequence_length": ("qrandint", (16, 512, 16)),
    "gamma": ("uniform", (0.9, 0.999)),
    "alpha": ("loguniform", (1e-4, 10.0)),
}

_METRICS: tuple[tuple[str, str], ...] = (("val_loss", "min"), ("val_rmse", "min"), ("mae", "min"),
                                         ("val_accuracy", "max"), ("val_f1", "max"), ("val_auc", "max"))


def _domain(kind: str, args: tuple[Any, ...]) -> Any:
    from ray import tune

    return getattr(tune, kind)(*args)


@dataclass(frozen=True)
class Problem:
    """One synthetic tuning problem.

    Attributes:
        name: ``"<family>-s<seed>-d<dim>"``.
        family: the objective family (one of :data:`FAMILIES`).
        seed: the seed it was drawn with.
        param_space: the Ray Tune ``param_space``.
        space: the same as a :class:`~raytune_llm.space.SearchSpace`.
        metric: the metric name; mode: ``"min"`` or ``"max"``.
        task: one line describing the (pretended) task, as a searcher's ``task`` argument.
    """

    name: str
    family: str
    seed: int
    param_space: dict[str, Any]
    space: SearchSpace
    metric: str
    mode: str
    task: str
    _objective: Callable[[np.ndarray], float] = field(repr=False, compare=False)

    @property
    def dim(self) -> int:
        """Number of parameters."""
        return len(self.space.params)

    def cost(self, config: Mapping[str, Any]) -> float:
        """The objective to minimise (>= 0, 0 at the optimum) of a flat configuration."""
        return self.cost_at(self.space.to_unit(config))

    def cost_at(self, unit: Sequence[float]) -> float:
        """The objective to minimise at a point of the space's unit cube (one coordinate per parameter)."""
        return float(self._objective(np.asarray(unit, dtype=float)))

    def __call__(self, config: Mapping[str, Any]) -> float:
        """The metric value of a flat configuration, in the metric's units and direction."""
        c = self.cost(config)
        if self.mode == "min":
            return 0.05 + c
        return 0.98 - 0.6 * c / (1.0 + c)


def _family_objective(family: str, dim: int, rng: np.random.Generator) -> Callable[[np.ndarray], float]:
    """The family's function of a point ``z`` (already shifted, rotated and scaled), >= 0, 0 at z = 0."""
    if family == "different_powers":  # BBOB's: sum |z_i|^(2 + k i / (d - 1)), flatter far from 0 in some axes
        powers = 2 + rng.uniform(2, 4) * np.linspace(0, 1, dim)
        return lambda z: float(np.sum(np.abs(z) ** powers))
    if family == "sharp_ridge":  # BBOB's: a smooth first axis, a sharp ridge across the others
        return lambda z: float(z[0] ** 2 + _ridge(z))
    if family == "alpine":
        return lambda z: float(np.sum(np.abs(z * np.sin(z) + 0.1 * z)))
    if family == "salomon":
        return lambda z: float(1 - math.cos(2 * math.pi * np.linalg.norm(z)) + 0.1 * np.linalg.norm(z))
    if family == "cumsum_ridge":  # Schwefel's problem 1.2 (not the benchmark's Schwefel 2.26): cumulative sums
        return lambda z: float(np.sum(np.cumsum(z) ** 2))
    if family == "fourier":  # a random smooth function (random Fourier features) on a wide bowl
        k = 64
        w = rng.normal(0.0, rng.uniform(0.5, 2.0), size=(k, dim))
        b = rng.uniform(0, 2 * math.pi, k)
        a = rng.normal(0, 1, k) / math.sqrt(k)
        f0 = float(np.sum(a * np.cos(b)))

        def fourier(z: np.ndarray) -> float:
            return float(np.sum(a * np.cos(w @ z + b)) - f0 + 0.05 * np.sum(z ** 2))

        lowest = min(fourier(rng.normal(0, 1.5, dim)) for _ in range(256))
        return lambda z: max(0.0, fourier(z) - min(lowest, 0.0) * 1.0)
    if family == "bumps":  # multimodal: Gaussian wells of random depth, the deepest at z = 0
        m = int(rng.integers(3, 9))
        centres = np.vstack([np.zeros(dim), rng.normal(0, 1.5, size=(m - 1, dim))])
        depths = np.concatenate([[1.0], rng.uniform(0.3, 0.8, m - 1)])
        widths = rng.uniform(0.3, 1.0, m) * math.sqrt(dim)

        def bumps(z: np.ndarray) -> float:
            d2 = np.sum((centres - z) ** 2, axis=1)
            return float(1.0 - np.sum(depths * np.exp(-d2 / (2 * widths ** 2))) + 0.02 * np.sum(z ** 2))

        floor = bumps(np.zeros(dim))
        return lambda z: max(0.0, bumps(z) - floor)
    raise ValueError(f"unknown family {family!r}; use one of {FAMILIES}")


def _ridge(z: np.ndarray) -> float:
    """``3 * sqrt(sum z[1:]^2)``: the sharp ridge's non-smooth part (0 in one dimension)."""
    return 3.0 * float(np.sqrt(np.sum(z[1:] ** 2)))


def _dimension(rng: np.random.Generator, low: int, high: int) -> int:
    dims = np.arange(low, high + 1)
    weights = 1.0 / dims ** 0.9  # small spaces are the common case, up to 20 parameters
    return int(rng.choice(dims, p=weights / weights.sum()))


def make_problem(*, family: str, seed: int, dim: int | None = None, dims: tuple[int, int] = (1, 20)) -> Problem:
    """Draw one problem of ``family`` (deterministic in ``family``, ``seed`` and ``dim``).

    Args:
        family: one of :data:`FAMILIES`.
        seed: the problem's seed.
        dim: number of parameters (default: drawn from ``dims``, small ones more often).
        dims: the range ``dim`` is drawn from when not given.

    Raises:
        ValueError: unknown or benchmark family, or a dimension outside 1..len(parameter names).
    """
    if family in BENCHMARK_FAMILIES:
        raise ValueError(f"{family!r} is a benchmark function; training on it would leak the benchmarks. "
                         f"Use one of {FAMILIES}")
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; use one of {FAMILIES}")
    rng = np.random.default_rng([zlib.crc32(family.encode()), int(seed)])
    if dim is None:
        dim = _dimension(rng, *dims)
    if not 1 <= dim <= len(_PARAMETERS):
        raise ValueError(f"dim must be in 1..{len(_PARAMETERS)}, got {dim}")
    names = sorted(rng.choice(sorted(_PARAMETERS), size=dim, replace=False).tolist())
    param_space = {name: _domain(*_PARAMETERS[name]) for name in names}
    space = SearchSpace.from_tune(param_space)
    metric, mode = _METRICS[int(rng.integers(len(_METRICS)))]
    numeric = [i for i, p in enumerate(space.params) if p.kind != "categorical"]
    categorical = [(i, len(p.choices)) for i, p in enumerate(space.params) if p.kind == "categorical"]
    n = len(numeric)
    centre = rng.uniform(0.1, 0.9, n)
    rotation = np.linalg.qr(rng.normal(size=(n, n)))[0] if n > 1 and rng.random() < 0.7 else np.eye(n)
    scale = rng.uniform(2.0, 6.0) * np.exp(rng.normal(0, 0.3, n))
    inner = _family_objective(family, n, rng) if n else (lambda z: 0.0)
    effects = [(i, k, rng.uniform(0, 1.0, k) * rng.uniform(0.2, 1.0)) for i, k in categorical]
    for _, _, e in effects:
        e -= e.min()  # one category is the best (no penalty)

    def objective(u: np.ndarray) -> float:
        value = inner(rotation @ (scale * (u[numeric] - centre))) if n else 0.0
        for i, k, e in effects:
            value += float(e[min(int(u[i] * k), k - 1)])
        return value

    kind = "a gradient-boosted tree model" if {"max_depth", "n_estimators", "num_leaves"} & set(names) else \
        "a neural network"
    task = f"tune {kind} ({metric}, {'lower' if mode == 'min' else 'higher'} is better)"
    return Problem(name=f"{family}-s{seed}-d{dim}", family=family, seed=int(seed), param_space=param_space,
                   space=space, metric=metric, mode=mode, task=task, _objective=objective)


def make_problems(n: int, *, seed: int = 0, families: Sequence[str] = FAMILIES,
                  dims: tuple[int, int] = (1, 20)) -> list[Problem]:
    """``n`` problems, families in turn, seeds derived from ``seed`` (deterministic)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not families:
        raise ValueError("families must name at least one family")
    return [make_problem(family=families[i % len(families)], seed=seed * 100_003 + i, dims=dims) for i in range(n)]


def is_validation(problem: Problem, *, families: Sequence[str] = VALIDATION_FAMILIES,
                  seed_fraction: float = 0.1) -> bool:
    """Whether ``problem`` belongs to the validation split: its family is held out, or its seed falls
    in the held-out ``seed_fraction`` (by a hash, so the split never depends on the order)."""
    if problem.family in families:
        return True
    return zlib.crc32(f"{problem.family}:{problem.seed}".encode()) % 1000 < seed_fraction * 1000


__all__ = ["BENCHMARK_FAMILIES", "FAMILIES", "Problem", "VALIDATION_FAMILIES", "is_validation", "make_problem",
           "make_problems"]
