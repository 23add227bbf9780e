"""Sample-efficiency benchmark harness for Ray Tune searchers on test functions.

The harness drives :class:`ray.tune.search.Searcher` objects in-process,
without Ray Tune: a simulated clock and ``concurrency`` simulated worker slots
replace the trial runner. This is fast, needs no Ray cluster, and is exactly
reproducible for a given seed (the trial durations come from
``np.random.default_rng(seed)``; the test functions are deterministic).

Event loop (see :func:`run_searcher`):

* While fewer than ``budget`` trials have started and a slot is free, the
  harness calls ``searcher.suggest("t0000")``, ``"t0001"``, ...; a config
  starts a trial of duration 1.0 (``durations="unit"``), a lognormal draw
  (``durations="lognormal"``, mu 0, sigma 1.0: mean 1.65) or a Pareto draw
  (``durations="pareto"``, scale 1, shape 1.5: mean 3, infinite variance).
* ``None`` means "cannot suggest now": the clock advances to the next
  completion. If nothing is running, the harness retries a bounded number of
  times with a short real sleep (the searcher may be waiting for a background
  LLM call); if it still gets ``None``, the run stops with ``stalled=True``.
* ``Searcher.FINISHED`` stops starting trials; running trials still complete.
* At each completion time all trials finishing at that instant are reported
  (in start order) with ``on_trial_complete(trial_id, {"value": v,
  "training_iteration": 1, "config": cfg})`` before slots are refilled, so
  unit durations give synchronous batches of ``concurrency`` trials.

The wall time spent inside ``suggest`` and ``on_trial_complete`` is measured
with :func:`time.perf_counter` as the searcher's overhead.

Peers are registered in :data:`PEERS` (``optuna``, ``hyperopt``,
``nevergrad-pso``, ``nevergrad-cma``, ``random``); other searchers can be added
with :func:`register_searcher`. Example::

    python -m benchmarks.harness --functions rastrigin,ackley --dims 2,5 \\
        --concurrency 1,8 --seeds 10 --budget 100 --searchers optuna,random \\
        --out benchmarks/results/functions-2025-01-01
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime as _dt
import functools
import heapq
import importlib
import json
import logging
import math
import os
import platform
import shlex
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata as _metadata
from pathlib import Path
from typing import Any, Union

import numpy as np
from ray.tune.search import Searcher
from ray.tune.search.sample import Categorical, Domain, Float, Integer, LogUniform, Uniform
from ray.tune.search.variant_generator import assign_value, parse_spec_vars

from benchmarks.functions import FUNCTIONS, GRID32_FAMILIES, TestFunction, get_function
from benchmarks.resultfiles import read_json, read_text, resolve
from benchmarks.tabular import TABLES, TabularBenchmark
from raytune_llm._imports import require
from raytune_llm._io import atomic_write

logger = logging.getLogger(__name__)

#: Metric name reported to the searchers (always minimised).
METRIC = "value"
#: Supported trial-duration models.
DURATIONS = ("unit", "lognormal", "pareto")
#: Shape of the ``"pareto"`` durations (scale 1): mean 3, infinite variance.
PARETO_SHAPE = 1.5
#: Packages whose versions are recorded in result files.
RECORDED_PACKAGES = ("ray", "numpy", "scipy", "optuna", "nevergrad", "hyperopt", "raytune-llm")

SearcherFactory = Callable[[int], Searcher]
#: What a run minimises: a test function, or a tabular benchmark with the same interface.
Objective = Union[TestFunction, TabularBenchmark]

#: The peers of issue 32's grid, in table order (``optuna-gp``, ``optuna-cmaes``, ``hebo`` and ``pso`` are
#: registered by :mod:`benchmarks.searchers`; a peer whose package is missing is skipped with a message).
GRID32_SEARCHERS = "pso,optuna,optuna-gp,optuna-cmaes,hyperopt,nevergrad-pso,nevergrad-cma,hebo,random"
#: Named grids for ``--preset``: the options each sets (options after ``--preset`` on the command line
#: override them; options before it are replaced). ``grid32`` is issue 32's function grid: every family,
#: shifted and rotated, 2-20 dimensions, 1, 4 and 8 in flight, 10 seeds, 100 evaluations;
#: ``grid32-table`` its categorical part: three NAS-Bench-Graph tables at 50 evaluations.
PRESETS: dict[str, dict[str, Any]] = {
    "grid32": {"functions": ",".join([*GRID32_FAMILIES, *(f for f in FUNCTIONS if f not in GRID32_FAMILIES)]),
               "dims": "2,5,10,20", "concurrency": "1,4,8", "seeds": 10, "first_seed": 0, "budget": 100,
               "searchers": GRID32_SEARCHERS, "shift": 1, "rotate": 1, "plot": False},
    "grid32-table": {"functions": "nasbench_graph_cora,nasbench_graph_citeseer,nasbench_graph_pubmed", "dims": "5",
                     "concurrency": "1,4,8", "seeds": 10, "first_seed": 0, "budget": 50,
                     "searchers": GRID32_SEARCHERS, "shift": None, "rotate": None, "plot": False},
}


# --------------------------------------------------------------------------- #
# Results
# --------------------------------------------------------------------------- #
@dataclass
class RunResult:
    """Outcome of one searcher run on one test function.

    Attributes:
        searcher: Searcher name (registry name or class name).
        function: Test-function name.
        dim: Number of dimensions.
        concurrency: Number of simulated parallel slots.
        seed: Seed of the searcher and of the duration model.
        budget: Maximum number of trials started.
        target: Target value used for ``evals_to_target``.
        durations: Duration model (``"unit"`` or ``"lognormal"``).
        values: Objective values in completion order.
        best_trace: Best-so-far value after each completed trial.
        evals_to_target: 1-based index (completion order) of the first trial whose
            value is ``<= target``, or None if never reached.
        best_at_budget: Best value over all completed trials (None if none).
        best_config: Config of the best trial (None if none).
        overhead_s_per_trial: Mean wall seconds spent in ``suggest`` plus
            ``on_trial_complete`` per started trial.
        suggest_s_mean: Mean wall seconds per ``suggest`` call (all calls,
            including those returning None).
        suggest_s_p99: 99th percentile of the per-call ``suggest`` time.
        complete_s_mean: Mean wall seconds per ``on_trial_complete`` call.
        n_suggest_calls: Number of ``suggest`` calls.
        n_started: Number of trials started.
        stalled: True if the searcher kept returning None with nothing running.
        finished: True if the searcher returned ``Searcher.FINISHED``.
        sim_time: Simulated makespan (time of the last completion).
        wall_time_s: Real wall time of the whole run.
        extra: Free-form data, e.g. LLM usage (see :func:`run_searcher`).
        busy_time: Sum of the simulated durations of the completed trials (slot-time
            spent running trials); None in result files written before it existed.
        finish_times: Simulated completion time of each value in ``values``.
    """

    searcher: str
    function: str
    dim: int
    concurrency: int
    seed: int
    budget: int
    target: float
    durations: str
    values: list[float]
    best_trace: list[float]
    evals_to_target: int | None
    best_at_budget: float | None
    best_config: dict[str, Any] | None
    overhead_s_per_trial: float
    suggest_s_mean: float
    suggest_s_p99: float
    complete_s_mean: float
    n_suggest_calls: int
    n_started: int
    stalled: bool
    finished: bool
    sim_time: float
    wall_time_s: float
    extra: dict[str, Any] = field(default_factory=dict)
    busy_time: float | None = None
    finish_times: list[float] = field(default_factory=list)

    @property
    def n_completed(self) -> int:
        """Number of completed trials."""
        return len(self.values)

    @property
    def busy_fraction(self) -> float | None:
        """Fraction of the slot-time ``concurrency * sim_time`` spent running trials.

        None when ``busy_time`` was not recorded or nothing completed.
        """
        if self.busy_time is None or self.sim_time <= 0:
            return None
        return self.busy_time / (self.concurrency * self.sim_time)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict of all fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        """Rebuilds a result from :meth:`to_dict` output (unknown keys ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def best_so_far(values: Sequence[float]) -> list[float]:
    """Running minimum of ``values``.

    Args:
        values: Objective values in completion order.

    Returns:
        The best (lowest) value after each element.
    """
    from raytune_llm.tuning import best_so_far as running_best

    return running_best(values, "min")


def compute_evals_to_target(values: Sequence[float | None], target: float, mode: str = "min") -> int | None:
    """1-based index of the first value ``<= target`` (``>= target`` with ``mode="max"``).

    Args:
        values: Objective values in completion order (None for a failed trial).
        target: Target value.
        mode: ``"min"`` or ``"max"``.

    Returns:
        The 1-based index, or None if no value reaches the target.
    """
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    for i, v in enumerate(values, start=1):
        if v is not None and (v <= target if mode == "min" else v >= target):
            return i
    return None


# --------------------------------------------------------------------------- #
# Driving a searcher
# --------------------------------------------------------------------------- #
def _is_finished(cfg: Any) -> bool:
    return isinstance(cfg, str) and cfg == Searcher.FINISHED


def _draw_duration(durations: str, rng: np.random.Generator) -> float:
    """One simulated trial duration of the model ``durations`` (see :data:`DURATIONS`)."""
    if durations == "unit":
        return 1.0
    if durations == "lognormal":
        return float(rng.lognormal(0.0, 1.0))
    return 1.0 + float(rng.pareto(PARETO_SHAPE))


def run_searcher(
    searcher: Searcher,
    fn: Objective,
    dim: int,
    *,
    budget: int,
    concurrency: int,
    seed: int,
    durations: str = "unit",
    name: str | None = None,
    target: float | None = None,
    max_stall_retries: int = 100,
    stall_sleep_s: float = 0.05,
) -> RunResult:
    """Runs one searcher on one test function with a simulated clock.

    Args:
        searcher: Any Ray Tune searcher; its search space is set with
            ``set_search_properties("value", "min", fn.param_space(dim))`` (a
            False return means it already has a space, which is accepted).
        fn: Test function (or tabular benchmark) to minimise.
        dim: Number of dimensions (5 for a tabular benchmark).
        budget: Maximum number of trials to start (>= 1).
        concurrency: Number of simulated parallel slots (>= 1).
        seed: Seed of the trial-duration model (``np.random.default_rng(seed)``);
            recorded in the result. The searcher must be seeded by its factory.
        durations: ``"unit"`` (every trial takes 1.0), ``"lognormal"``
            (lognormal with mu 0, sigma 1.0: heavy-tailed) or ``"pareto"`` (Pareto,
            scale 1, shape :data:`PARETO_SHAPE`: heavier-tailed).
        name: Name recorded in the result; defaults to the class name.
        target: Target value; defaults to ``fn.target_value(dim)``.
        max_stall_retries: Extra ``suggest`` attempts when the searcher returns
            None while no trial is running, before the run is marked stalled.
        stall_sleep_s: Real sleep between those attempts.

    Returns:
        The :class:`RunResult`. If the searcher has a callable
        ``benchmark_extra()`` method, its dict is stored in ``extra``.

    Raises:
        ValueError: On invalid arguments.
    """
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if durations not in DURATIONS:
        raise ValueError(f"durations must be one of {DURATIONS}, got {durations!r}")
    target_value = fn.target_value(dim) if target is None else float(target)
    run_name = name or type(searcher).__name__

    accepted = searcher.set_search_properties(METRIC, "min", fn.param_space(dim))
    if not accepted:
        logger.debug("%s kept its own search space (set_search_properties returned False)", run_name)

    rng = np.random.default_rng(seed)
    wall_start = time.perf_counter()
    clock = 0.0
    # (finish_time, start_index, trial_id, config, value, duration)
    running: list[tuple[float, int, str, dict[str, Any], float, float]] = []
    values: list[float] = []
    finish_times: list[float] = []
    busy_time = 0.0
    configs: list[dict[str, Any]] = []
    suggest_times: list[float] = []
    complete_times: list[float] = []
    started = 0
    stalled = finished = False

    def timed_suggest(trial_id: str) -> Any:
        t0 = time.perf_counter()
        cfg = searcher.suggest(trial_id)
        suggest_times.append(time.perf_counter() - t0)
        return cfg

    while True:
        # Fill free slots.
        while not (stalled or finished) and started < budget and len(running) < concurrency:
            trial_id = f"t{started:04d}"
            cfg = timed_suggest(trial_id)
            if cfg is None and not running:
                for _ in range(max_stall_retries):
                    time.sleep(stall_sleep_s)
                    cfg = timed_suggest(trial_id)
                    if cfg is not None:
                        break
                if cfg is None:
                    logger.warning(
                        "%s stalled on %s (dim %d, seed %d) after %d trials: suggest() kept returning None",
                        run_name, fn.name, dim, seed, started,
                    )
                    stalled = True
                    break
            if cfg is None:
                break  # wait for the next completion
            if _is_finished(cfg):
                finished = True
                break
            value = float(fn(cfg))
            duration = _draw_duration(durations, rng)
            heapq.heappush(running, (clock + duration, started, trial_id, cfg, value, duration))
            started += 1

        if not running:
            break
        # Complete every trial that finishes at the next completion time.
        clock = running[0][0]
        while running and running[0][0] == clock:
            _, _, trial_id, cfg, value, duration = heapq.heappop(running)
            result = {METRIC: value, "training_iteration": 1, "config": cfg}
            t0 = time.perf_counter()
            searcher.on_trial_complete(trial_id, result)
            complete_times.append(time.perf_counter() - t0)
            values.append(value)
            finish_times.append(clock)
            busy_time += duration
            configs.append(cfg)

    extra: dict[str, Any] = {}
    hook = getattr(searcher, "benchmark_extra", None)
    if callable(hook):
        try:
            extra.update(hook() or {})
        except Exception:  # noqa: BLE001 - the hook is best-effort reporting
            logger.exception("%s.benchmark_extra() failed", run_name)

    best_idx = int(np.argmin(values)) if values else None
    total_overhead = float(sum(suggest_times) + sum(complete_times))
    return RunResult(
        searcher=run_name,
        function=fn.name,
        dim=dim,
        concurrency=concurrency,
        seed=seed,
        budget=budget,
        target=target_value,
        durations=durations,
        values=values,
        best_trace=best_so_far(values),
        evals_to_target=compute_evals_to_target(values, target_value),
        best_at_budget=None if best_idx is None else values[best_idx],
        best_config=None if best_idx is None else _jsonable(configs[best_idx]),
        overhead_s_per_trial=total_overhead / max(started, 1),
        suggest_s_mean=float(np.mean(suggest_times)) if suggest_times else 0.0,
        suggest_s_p99=float(np.percentile(suggest_times, 99)) if suggest_times else 0.0,
        complete_s_mean=float(np.mean(complete_times)) if complete_times else 0.0,
        n_suggest_calls=len(suggest_times),
        n_started=started,
        stalled=stalled,
        finished=finished,
        sim_time=clock,
        wall_time_s=time.perf_counter() - wall_start,
        extra=extra,
        busy_time=busy_time,
        finish_times=finish_times,
    )


# --------------------------------------------------------------------------- #
# Searchers
# --------------------------------------------------------------------------- #
class RandomSearcher(Searcher):
    """Seeded uniform random search over a Ray Tune param space.

    Every domain gets its own ``np.random.Generator`` (spawned from ``seed`` in
    sorted path order), so adding a parameter does not change the samples of
    the others. ``tune.uniform`` domains are sampled with
    ``Generator.uniform(lower, upper)``; other domains with
    ``domain.sample(random_state=generator)``.

    Args:
        space: Optional Ray Tune param space (otherwise set by
            ``set_search_properties``).
        metric: Metric name.
        mode: ``"min"`` or ``"max"``.
        seed: Seed for the generators.
    """

    def __init__(
        self,
        space: dict[str, Any] | None = None,
        metric: str | None = None,
        mode: str | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        self._seed = seed
        self._template: dict[str, Any] | None = None
        self._domains: list[tuple[tuple, Domain, np.random.Generator]] = []
        if space:
            self._set_space(space)

    def _set_space(self, space: dict[str, Any]) -> None:
        _, domain_vars, grid_vars = parse_spec_vars(space)
        if grid_vars:
            raise ValueError("RandomSearcher does not support grid_search parameters")
        domain_vars = sorted(domain_vars, key=lambda pv: tuple(str(p) for p in pv[0]))
        children = np.random.SeedSequence(self._seed).spawn(len(domain_vars))
        self._domains = [
            (path, domain, np.random.default_rng(child))
            for (path, domain), child in zip(domain_vars, children)
        ]
        self._template = copy.deepcopy(space)

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any
    ) -> bool:
        """Sets the space unless one was given at construction (then returns False)."""
        if self._template is not None:
            return False
        self._set_space(config)
        if metric:
            self._metric = metric
        if mode:
            self._mode = mode
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        """Samples one config."""
        if self._template is None:
            raise RuntimeError("RandomSearcher has no search space; call set_search_properties first")
        config = copy.deepcopy(self._template)
        for path, domain, rng in self._domains:
            if isinstance(domain, Float) and isinstance(domain.get_sampler(), Uniform):
                value: Any = float(rng.uniform(domain.lower, domain.upper))
            elif isinstance(domain, Float) and isinstance(domain.get_sampler(), LogUniform):
                value = float(np.exp(rng.uniform(np.log(domain.lower), np.log(domain.upper))))
            elif isinstance(domain, Integer) and isinstance(domain.get_sampler(), Uniform):
                value = int(rng.integers(domain.lower, domain.upper))
            elif isinstance(domain, Categorical) and isinstance(domain.get_sampler(), Uniform):
                value = domain.categories[int(rng.integers(len(domain.categories)))]
            else:
                value = domain.sample(random_state=rng)
            assign_value(config, path, value)
        return config

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Random search ignores results."""


def _make_random(seed: int) -> Searcher:
    return RandomSearcher(seed=seed)


def _make_optuna(seed: int) -> Searcher:
    optuna = require("optuna", extra="bench", feature="the optuna searcher")
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return OptunaSearch(sampler=optuna.samplers.TPESampler(seed=seed))


def _make_hyperopt(seed: int) -> Searcher:
    require("hyperopt", extra="bench", feature="the hyperopt searcher")
    from ray.tune.search.hyperopt import HyperOptSearch

    return HyperOptSearch(random_state_seed=seed)


@functools.lru_cache(maxsize=None)
def _seeded_nevergrad_class() -> type:
    """Builds (lazily, nevergrad is optional) a NevergradSearch with a seeded parametrization."""
    from ray.tune.search.nevergrad import NevergradSearch

    class SeededNevergradSearch(NevergradSearch):
        """NevergradSearch whose parametrization gets ``np.random.RandomState(seed)``.

        NevergradSearch builds the optimizer from the converted Tune space in
        ``set_search_properties``; nevergrad optimizers draw all randomness from
        ``parametrization.random_state``, which otherwise is seeded from the
        global numpy RNG. Seeding it before the optimizer is built makes runs
        reproducible.
        """

        def __init__(self, *args: Any, seed: int, **kwargs: Any) -> None:
            self._ng_seed = seed
            super().__init__(*args, **kwargs)

        def convert_search_space(self, spec: dict[str, Any]) -> Any:  # type: ignore[override]
            parametrization = NevergradSearch.convert_search_space(spec)
            parametrization.random_state = np.random.RandomState(self._ng_seed)
            return parametrization

    return SeededNevergradSearch


def _make_nevergrad(optimizer_name: str) -> SearcherFactory:
    def factory(seed: int) -> Searcher:
        ng = require("nevergrad", extra="bench", feature=f"the nevergrad searcher ({optimizer_name})")
        return _seeded_nevergrad_class()(optimizer=getattr(ng.optimizers, optimizer_name), seed=seed)

    factory.__name__ = f"make_nevergrad_{optimizer_name.lower()}"
    return factory


#: Registered searcher factories: name -> ``factory(seed) -> Searcher``.
PEERS: dict[str, SearcherFactory] = {
    "optuna": _make_optuna,
    "hyperopt": _make_hyperopt,
    "nevergrad-pso": _make_nevergrad("PSO"),
    "nevergrad-cma": _make_nevergrad("CMA"),
    "random": _make_random,
}

#: The built-in peers (other libraries' searchers and random search), in table order; ``PEERS``
#: also holds what :func:`register_searcher` adds (raytune-llm's own searchers, test doubles).
BASELINES: tuple[str, ...] = tuple(PEERS)


def register_searcher(name: str, factory: SearcherFactory, *, overwrite: bool = False) -> None:
    """Registers a searcher factory under ``name``.

    Args:
        name: Registry name (used on the command line and in results).
        factory: ``factory(seed) -> Searcher``; must seed the searcher fully.
        overwrite: Allow replacing an existing entry.

    Raises:
        ValueError: If the name exists and ``overwrite`` is False.
    """
    if name in PEERS and not overwrite:
        raise ValueError(f"searcher {name!r} is already registered (pass overwrite=True)")
    PEERS[name] = factory


def make_searcher(name: str, seed: int) -> Searcher:
    """Builds a registered searcher.

    Args:
        name: Registry name.
        seed: Seed passed to the factory.

    Returns:
        A fresh searcher.

    Raises:
        ValueError: If the name is unknown (the message lists known names).
    """
    try:
        factory = PEERS[name]
    except KeyError:
        raise ValueError(f"unknown searcher {name!r}; known: {', '.join(sorted(PEERS))}") from None
    return factory(seed)


def warm_up(name: str) -> None:
    """Runs a tiny throw-away run so lazy imports do not count as overhead.

    Several searchers import or compile code on their first call (e.g. the
    ``cma`` package inside nevergrad), which would inflate the measured
    overhead of whichever run comes first.

    Args:
        name: Registered searcher name.
    """
    searcher = make_searcher(name, 0)
    try:
        run_searcher(searcher, FUNCTIONS["sphere"], 2, budget=4, concurrency=2, seed=0, name=name)
    finally:
        close_searcher(searcher)


def close_searcher(searcher: Searcher) -> None:
    """Closes a searcher that has ``close()`` (raytune-llm's: stops its LLM worker, and with it a
    model request still running), so that nothing of one run goes on computing into the next.
    Best-effort: an error while closing is logged, never raised over a finished run's result."""
    close = getattr(searcher, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # noqa: BLE001 - the run it belongs to is over and recorded
            logger.exception("closing %s failed", type(searcher).__name__)


# --------------------------------------------------------------------------- #
# Aggregation and output
# --------------------------------------------------------------------------- #
def _quantiles(xs: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    if len(xs) == 0:
        return None, None, None
    q25, q50, q75 = np.percentile(np.asarray(xs, dtype=float), [25, 50, 75])
    return float(q25), float(q50), float(q75)


def summarize(results: Iterable[RunResult]) -> list[dict[str, Any]]:
    """Aggregates runs by (searcher, function, dim, concurrency).

    Runs that never reach the target count as ``budget + 1`` evaluations for the
    evals-to-target statistics; ``success_rate`` is the fraction that did.

    Args:
        results: Run results.

    Returns:
        One dict per group, sorted by function, dim, concurrency, searcher, with
        keys ``searcher, function, dim, concurrency, durations, runs, budget,
        target, success_rate, evals_to_target_{median,q25,q75},
        best_at_budget_{median,q25,q75}, overhead_s_per_trial_median,
        suggest_s_p99_median, stalled_runs``.
    """
    groups: dict[tuple[str, str, int, int], list[RunResult]] = defaultdict(list)
    for r in results:
        groups[(r.searcher, r.function, r.dim, r.concurrency)].append(r)
    rows = []
    for key in sorted(groups, key=lambda k: (k[1], k[2], k[3], k[0])):
        runs = sorted(groups[key], key=lambda r: r.seed)
        e2t = [r.evals_to_target if r.evals_to_target is not None else r.budget + 1 for r in runs]
        best = [r.best_at_budget for r in runs if r.best_at_budget is not None]
        e_q25, e_med, e_q75 = _quantiles(e2t)
        b_q25, b_med, b_q75 = _quantiles(best)
        targets = sorted({r.target for r in runs})
        rows.append(
            {
                "searcher": key[0],
                "function": key[1],
                "dim": key[2],
                "concurrency": key[3],
                "durations": ",".join(sorted({r.durations for r in runs})),
                "runs": len(runs),
                "budget": max(r.budget for r in runs),
                "target": targets[0] if len(targets) == 1 else targets,
                "success_rate": sum(r.evals_to_target is not None for r in runs) / len(runs),
                "evals_to_target_median": e_med,
                "evals_to_target_q25": e_q25,
                "evals_to_target_q75": e_q75,
                "best_at_budget_median": b_med,
                "best_at_budget_q25": b_q25,
                "best_at_budget_q75": b_q75,
                "overhead_s_per_trial_median": float(np.median([r.overhead_s_per_trial for r in runs])),
                "suggest_s_p99_median": float(np.median([r.suggest_s_p99 for r in runs])),
                "stalled_runs": sum(r.stalled for r in runs),
            }
        )
    return rows


def _fmt_evals(x: float | None, budget: int) -> str:
    if x is None:
        return "-"
    if x > budget:
        return f">{budget}"
    return f"{x:g}"


def _fmt_value(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def to_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Renders :func:`summarize` rows as a Markdown table.

    Args:
        rows: Rows from :func:`summarize`.

    Returns:
        The table (header, separator and one line per row), newline-terminated.
    """
    header = (
        "| function | dim | conc | searcher | runs | target | success | evals to target, median [IQR] "
        "| best at budget, median [IQR] | overhead ms/trial | stalled |"
    )
    sep = "|" + "|".join(["---"] * 4 + ["---:"] * 7) + "|"
    lines = [header, sep]
    for r in rows:
        b = int(r["budget"])
        target = r["target"]
        target_s = _fmt_value(target) if isinstance(target, (int, float)) else ",".join(_fmt_value(t) for t in target)
        evals = (
            f"{_fmt_evals(r['evals_to_target_median'], b)} "
            f"[{_fmt_evals(r['evals_to_target_q25'], b)}, {_fmt_evals(r['evals_to_target_q75'], b)}]"
        )
        best = (
            f"{_fmt_value(r['best_at_budget_median'])} "
            f"[{_fmt_value(r['best_at_budget_q25'])}, {_fmt_value(r['best_at_budget_q75'])}]"
        )
        lines.append(
            f"| {r['function']} | {r['dim']} | {r['concurrency']} | {r['searcher']} | {r['runs']} "
            f"| {target_s} | {100.0 * r['success_rate']:.0f}% | {evals} | {best} "
            f"| {1000.0 * r['overhead_s_per_trial_median']:.2f} | {r['stalled_runs']} |"
        )
    return "\n".join(lines) + "\n"


def _jsonable(obj: Any) -> Any:
    """Converts numpy scalars/arrays and non-finite floats for strict JSON."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def environment_info() -> dict[str, Any]:
    """Date, machine, Python and package versions for result files."""
    packages: dict[str, str] = {}
    for pkg in RECORDED_PACKAGES:
        try:
            packages[pkg] = _metadata.version(pkg)
        except _metadata.PackageNotFoundError:
            continue
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
        },
        "python": sys.version.split()[0],
        "packages": packages,
        # the machine may be shared: wall-time measurements are only as good as the load beside them
        "load_average_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


#: What the Markdown of :func:`write_results` says about function runs by default.
FUNCTION_NOTES = (
    "Searchers are driven in-process with a simulated clock (no Ray Tune). "
    "\"evals to target\" is the 1-based completion index of the first trial at or "
    "below the target; runs that never reach it count as budget+1 (shown as `>budget`). "
    "Overhead is the wall time spent in `suggest` + `on_trial_complete` per trial."
)


def _load_text(env: dict[str, Any]) -> str:
    load = env.get("load_average_1_5_15")
    return "" if not load else f", load average {load[0]:.1f} (1 min) when written"


def write_results(
    rows: Sequence[dict[str, Any]],
    results: Sequence[RunResult],
    path_stem: str | Path,
    *,
    command: str,
    table: str | None = None,
    title: str = "Searcher benchmark",
    notes: str = FUNCTION_NOTES,
    extra: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Writes ``<stem>.md`` (table plus metadata) and ``<stem>.json`` (everything).

    Every benchmark of ``python -m benchmarks`` writes its results through this function, so
    that each file records the date, machine, Python and package versions and the command.

    Args:
        rows: Rows from :func:`summarize` (or another summary: any JSON-able dicts).
        results: The individual runs (stored in the JSON file).
        path_stem: Output path without suffix; parent directories are created.
        command: The command line that produced the results.
        table: The Markdown table; default ``to_markdown(rows)``.
        title: Heading of the Markdown file (followed by the stem's name).
        notes: Paragraph explaining the table.
        extra: More top-level JSON entries (must not reuse the standard keys).

    Returns:
        The Markdown and JSON paths.
    """
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    env = environment_info()
    table = to_markdown(rows) if table is None else table
    md_path = stem.with_name(stem.name + ".md")
    json_path = stem.with_name(stem.name + ".json")
    pkgs = ", ".join(f"{k} {v}" for k, v in sorted(env["packages"].items()))
    machine = env["machine"]
    md = (
        f"# {title}: {stem.name}\n\n"
        f"- Date (UTC): {env['date']}\n"
        f"- Machine: {machine['platform']}, processor {machine['processor']!s}, "
        f"{machine['cpu_count']} CPUs{_load_text(env)}\n"
        f"- Python {env['python']}; {pkgs}\n"
        f"- Command: `{command}`\n\n"
        f"{notes}\n\n"
        f"{table}"
    )
    md_path.write_text(md, encoding="utf-8")
    payload = {
        **env,
        "command": command,
        "table_markdown": table,
        "rows": list(rows),
        "runs": [r.to_dict() for r in results],
    }
    clash = set(extra or {}) & set(payload)
    if clash:
        raise ValueError(f"extra must not reuse the standard keys, got {sorted(clash)}")
    payload.update(extra or {})
    json_path.write_text(json.dumps(_jsonable(payload), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    logger.info("wrote %s and %s", md_path, json_path)
    return md_path, json_path


def code_version() -> dict[str, Any]:
    """The git commit of the repository (and whether its tracked files differ from it) and the
    recorded package versions: what a run log checks before mixing old and new runs."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=10, check=True).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"commit": commit, "dirty": dirty, "packages": environment_info()["packages"]}


class RunLog:
    """Append-only JSON-lines file of finished runs: a long benchmark that is stopped resumes.

    The first line records the settings that every run of the file shares (budget, shift,
    durations...) and the code version (:func:`code_version`); each further line is one
    :class:`RunResult`. With ``resume=True`` the runs already in the file are kept and
    :meth:`done` returns them, so the caller skips those (searcher, function, dim, concurrency,
    seed) keys; resuming with different settings raises ``ValueError`` naming both (a run of
    another budget is not the same run), and a different code version is reported on stderr (the
    results then mix two versions: rerun without ``--resume`` if the change matters). Without
    ``resume`` an existing log that holds runs is kept as ``<path>.bak`` and a new one started.
    What happened is said on stderr.

    Args:
        path: The ``.jsonl`` file (parent directories are created). Where only its gzipped copy
            ``path.gz`` exists (committed results), that is read, and replaced by the plain file.
        settings: JSON-able settings that must match to resume.
        resume: Keep the runs of an existing file.
    """

    def __init__(self, path: str | Path, settings: dict[str, Any], *, resume: bool) -> None:
        self.path = Path(path)
        self.settings = json.loads(json.dumps(_jsonable(settings), sort_keys=True))
        self.version = code_version()
        self._runs: dict[tuple, RunResult] = {}
        source = resolve(self.path)  # the plain log, or the gzipped one that committed results keep
        lines = read_text(source).splitlines() if source.exists() else []
        lines = [ln for ln in lines if ln.strip()]
        if resume:
            if not lines:
                print(f"--resume: no runs logged in {self.path} yet; starting afresh", file=sys.stderr)
            else:
                self._load(lines)
        elif len(lines) > 1:
            backup = source.with_name(source.name + ".bak")
            os.replace(source, backup)
            print(f"{self.path} held {len(lines) - 1} runs: kept as {backup} (pass --resume to continue a run)",
                  file=sys.stderr)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        head = {"settings": self.settings, "version": self.version}
        # rewritten whole: drops a cut-short last line
        atomic_write(self.path, "".join(json.dumps(_jsonable(d), sort_keys=True) + "\n" for d in
                                        [head, *(r.to_dict() for r in self._runs.values())]))
        if source != self.path and source.exists():
            os.remove(source)  # its runs are in the plain log now: one log per run

    def _load(self, lines: list[str]) -> None:
        try:
            head = json.loads(lines[0])
            logged = head["settings"]
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"cannot resume {self.path}: its first line is not a run-log header ({exc}); "
                             "use another --out or no --resume") from exc
        if logged != self.settings:
            raise ValueError(f"cannot resume {self.path}: it was written with settings {logged}, "
                             f"this run has {self.settings}; use the same options, another --out, or no --resume")
        old = head.get("version") or {}
        if (old.get("commit"), old.get("dirty")) != (self.version["commit"], self.version["dirty"]) or \
                old.get("packages") != self.version["packages"]:
            print(f"--resume: {self.path} was started by another version of the code ({old.get('commit')}, "
                  f"modified {old.get('dirty')}) than this run ({self.version['commit']}, modified "
                  f"{self.version['dirty']}); its runs are kept: rerun without --resume if the change matters",
                  file=sys.stderr)
        skipped = 0
        for line in lines[1:]:
            try:
                run = RunResult.from_dict(json.loads(line))
            except (ValueError, TypeError, AttributeError):  # a line cut short when the run was killed
                skipped += 1
                continue
            self._runs[self.key(run)] = run
        print(f"--resume: {len(self._runs)} runs kept from {self.path}"
              + (f" ({skipped} unreadable lines dropped)" if skipped else ""), file=sys.stderr)

    @staticmethod
    def key(run: RunResult) -> tuple:
        """The identity of a run within one file."""
        return (run.searcher, run.function, run.dim, run.concurrency, run.seed)

    def done(self, searcher: str, function: str, dim: int, concurrency: int, seed: int) -> RunResult | None:
        """The logged run with this key, or None."""
        return self._runs.get((searcher, function, dim, concurrency, seed))

    def append(self, run: RunResult) -> None:
        """Logs a finished run (one line, flushed)."""
        self._runs[self.key(run)] = run
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(_jsonable(run.to_dict()), sort_keys=True) + "\n")
            fh.flush()


def load_results(path: str | Path) -> list[RunResult]:
    """Loads the runs from a JSON file written by :func:`write_results` (or its gzipped ``.json.gz``)."""
    data = read_json(path)
    return [RunResult.from_dict(d) for d in data["runs"]]


def plot_traces(
    results: Sequence[RunResult],
    path: str | Path,
    *,
    function: str | None = None,
    dim: int | None = None,
    concurrency: int | None = None,
    zoom_from: int | None = None,
    ylabel: str = "best value so far",
) -> Path:
    """Plots the median (and IQR band) best-so-far trace per searcher.

    The results (after the optional filters) must cover exactly one
    (function, dim, concurrency) combination.

    Args:
        results: Run results.
        path: Output image path (format from the suffix, e.g. ``.png``).
        function: Keep only this function.
        dim: Keep only this dimension.
        concurrency: Keep only this concurrency.
        zoom_from: None: a symmetric-log y axis over everything (test functions span
            orders of magnitude). A trial number: a linear y axis limited to the bands from
            that trial on (a validation metric whose differences are small once a few
            trials have run).
        ylabel: What the y axis shows (the metric).

    Returns:
        The written path.

    Raises:
        ValueError: If no or several (function, dim, concurrency) groups remain.
        MissingExtraError: matplotlib is not installed (extra ``bench``).
    """
    matplotlib = require("matplotlib", extra="bench", feature="the benchmark plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sel = [
        r
        for r in results
        if (function is None or r.function == function)
        and (dim is None or r.dim == dim)
        and (concurrency is None or r.concurrency == concurrency)
    ]
    combos = sorted({(r.function, r.dim, r.concurrency) for r in sel})
    if len(combos) != 1:
        raise ValueError(f"plot_traces needs exactly one (function, dim, concurrency) group, got {combos}")
    fname, d, conc = combos[0]
    by_searcher: dict[str, list[RunResult]] = defaultdict(list)
    for r in sel:
        by_searcher[r.searcher].append(r)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    shown: list[np.ndarray] = []
    lowest = math.inf
    for i, searcher in enumerate(sorted(by_searcher)):
        traces = [r.best_trace for r in by_searcher[searcher] if r.best_trace]
        if not traces:
            continue
        n = max(len(t) for t in traces)
        # Pad shorter (stalled/finished) traces with their last value.
        mat = np.array([t + [t[-1]] * (n - len(t)) for t in traces], dtype=float)
        q25, med, q75 = np.percentile(mat, [25, 50, 75], axis=0)
        x = np.arange(1, n + 1)
        (line,) = ax.plot(x, med, label=f"{searcher} (n={len(traces)})",
                          linestyle=("-", "--", ":")[i // 10 % 3])  # the colour cycle has 10 colours
        ax.fill_between(x, q25, q75, color=line.get_color(), alpha=0.2)
        lowest = min(lowest, float(np.nanmin(q25)))
        if zoom_from is not None:
            shown += [q25[zoom_from - 1:], q75[zoom_from - 1:]]
    targets = sorted({r.target for r in sel if math.isfinite(r.target)})
    for j, t in enumerate(targets):  # in the legend: searchers 11-20 are dashed too
        ax.axhline(t, color="k", linestyle="--", linewidth=0.8, label="target" if j == 0 else None)
    if zoom_from is None:
        ax.set_yscale("symlog", linthresh=1e-3)
        floor = min([lowest, *targets])
        if floor >= 0:  # else the symlog margins add decades of negative values that nothing reaches
            ax.set_ylim(bottom=10 ** math.floor(math.log10(floor)) if floor > 1e-3 else 0)
    elif shown:
        values = np.concatenate(shown)
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        pad = 0.05 * (hi - lo) or 0.01 * abs(hi) or 0.01
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlim(left=zoom_from)
    ax.set_xlabel("completed trials")
    ax.set_ylabel(f"{ylabel} (median, IQR band)")
    ax.set_title(f"{fname}, dim {d}, concurrency {conc}")
    ax.legend()
    fig.tight_layout()
    from raytune_llm.tuning import save_figure

    return save_figure(fig, path, dpi=120)


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #
def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _int_list(parser: argparse.ArgumentParser, text: str, what: str) -> list[int]:
    try:
        out = [int(t) for t in _csv(text)]
    except ValueError:
        parser.error(f"--{what} must be a comma-separated list of integers, got {text!r}")
    if not out or min(out) < 1:
        parser.error(f"--{what} needs positive integers, got {text!r}")
    return out


class _PresetAction(argparse.Action):
    """``--preset NAME``: sets the grid options of :data:`PRESETS` at the point where it appears, so that
    options after it override the preset and options before it are replaced."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        for key, value in PRESETS[values].items():
            setattr(namespace, key, value)
        imports = list(getattr(namespace, "imports", None) or [])
        setattr(namespace, "imports", imports + [m for m in ("benchmarks.searchers",) if m not in imports])
        setattr(namespace, self.dest, values)


def resolve_objective(name: str) -> Objective:
    """A test function or tabular benchmark by its registry name.

    Raises:
        ValueError: If the name is unknown (the message lists known names).
    """
    if name in TABLES:
        return TABLES[name]
    try:
        return get_function(name)
    except ValueError:
        raise ValueError(f"unknown function {name!r}; known: {', '.join(sorted(FUNCTIONS))}; tabular: "
                         f"{', '.join(TABLES)}") from None


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``python -m benchmarks.harness``."""
    today = _dt.datetime.now(_dt.timezone.utc).date().isoformat()
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.harness",
        description="Compare Ray Tune searchers on test functions (simulated clock, no Ray Tune).",
    )
    p.add_argument("--preset", action=_PresetAction, choices=sorted(PRESETS),
                   help="a named grid: sets --functions, --dims, --concurrency, --seeds, --first-seed, --budget, "
                        "--searchers, --shift, --rotate and --plot (later options override it) and imports "
                        "benchmarks.searchers; grid32 is issue 32's function grid, grid32-table its NAS tables")
    p.add_argument("--functions", default="rastrigin,ackley",
                   help=f"comma-separated; known: {','.join(sorted(FUNCTIONS))}, or 'all'; tabular benchmarks "
                        f"(--dims 5): {','.join(TABLES)}")
    p.add_argument("--dims", default="2,5", help="comma-separated dimensions")
    p.add_argument("--concurrency", default="1", help="comma-separated numbers of parallel slots")
    p.add_argument("--seeds", type=int, default=10,
                   help="number of seeds (FIRST..FIRST+N-1, same for all searchers)")
    p.add_argument("--first-seed", type=int, default=0, metavar="FIRST",
                   help="first seed (default 0); e.g. --first-seed 10 --seeds 10 for seeds that earlier runs "
                        "with --seeds 10 did not use, to check a result on new seeds")
    p.add_argument("--budget", type=int, default=100, help="trials per run")
    p.add_argument("--searchers", default="random,optuna",
                   help=f"comma-separated registered names; known: {','.join(sorted(PEERS))}")
    p.add_argument("--durations", choices=DURATIONS, default="unit", help="simulated trial durations")
    p.add_argument("--target", action="append", default=[], metavar="FUNCTION=VALUE",
                   help="override a function's target (repeatable)")
    p.add_argument("--shift", type=int, default=None, metavar="SEED",
                   help="move each function's minimiser to a seeded point of the box "
                        "(TestFunction.shifted(SEED); default: textbook functions)")
    p.add_argument("--rotate", type=int, default=None, metavar="SEED",
                   help="rotate each function about its minimiser by a seeded random orthogonal matrix "
                        "(TestFunction.rotated(SEED)), after any --shift; default: not rotated")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="import MODULE first (e.g. one that calls register_searcher); repeatable")
    p.add_argument("--out", default=f"benchmarks/results/functions-{today}",
                   help="output path stem: writes <out>.md, <out>.json and, run by run, <out>-runs.jsonl")
    p.add_argument("--resume", action="store_true",
                   help="keep the runs already in <out>-runs.jsonl (written after every run) and run the rest")
    p.add_argument("--plot", action="store_true", default=False,
                   help="also write <out>-<function>-d<dim>-c<conc>.png trace plots")
    p.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        Process exit code (0 on success; argument errors exit with 2).
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    for module in args.imports:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            parser.error(f"--import {module}: {exc}")

    fnames = sorted(FUNCTIONS) if args.functions.strip() == "all" else _csv(args.functions)
    unknown = [f for f in fnames if f not in FUNCTIONS and f not in TABLES]
    if unknown or not fnames:
        parser.error(f"unknown function(s) {unknown}; known: {', '.join(sorted(FUNCTIONS))}; "
                     f"tabular: {', '.join(TABLES)}")
    snames = _csv(args.searchers)
    unknown = [s for s in snames if s not in PEERS]
    if unknown or not snames:
        parser.error(f"unknown searcher(s) {unknown}; known: {', '.join(sorted(PEERS))}")
    dims = _int_list(parser, args.dims, "dims")
    concs = _int_list(parser, args.concurrency, "concurrency")
    if args.seeds < 1 or args.budget < 1:
        parser.error("--seeds and --budget must be >= 1")
    if args.first_seed < 0:
        parser.error(f"--first-seed must be >= 0, got {args.first_seed}")

    tables = [f for f in fnames if f in TABLES]
    if tables and (args.shift is not None or args.rotate is not None):
        parser.error(f"--shift and --rotate move test functions; the tabular benchmarks {tables} have neither: "
                     "run them in a command of their own")
    if tables and dims != [5]:
        parser.error(f"the tabular benchmarks {tables} have 5 parameters: run them with --dims 5, got {dims}")
    functions: dict[str, Objective] = {name: resolve_objective(name) for name in fnames}
    for spec in args.target:
        name, sep, value = spec.partition("=")
        if not sep or name not in functions:
            parser.error(f"--target expects FUNCTION=VALUE with FUNCTION in {fnames}, got {spec!r}")
        try:
            functions[name] = functions[name].with_target(float(value))
        except ValueError:
            parser.error(f"--target {spec!r}: {value!r} is not a number")
    if args.shift is not None:
        functions = {name: f.shifted(args.shift) for name, f in functions.items()}
    if args.rotate is not None:
        functions = {name: f.rotated(args.rotate) for name, f in functions.items()}

    command = "python -m benchmarks.harness " + shlex.join(argv)
    settings = {"budget": args.budget, "durations": args.durations, "shift": args.shift}
    if args.rotate is not None:  # only when set, so that logs written before --rotate existed still resume
        settings["rotate"] = args.rotate
    try:
        log = RunLog(f"{args.out}-runs.jsonl", settings, resume=args.resume)
    except ValueError as exc:
        parser.error(str(exc))
    jobs = [(fname, dim, conc, sname, seed) for fname in fnames for dim in dims for conc in concs
            for sname in snames for seed in range(args.first_seed, args.first_seed + args.seeds)]
    kept: dict[tuple[str, int, int, str, int], RunResult] = {}
    for fname, dim, conc, sname, seed in jobs:
        r = log.done(sname, functions[fname].name, dim, conc, seed)
        if r is not None and r.target == functions[fname].target_value(dim):  # else --target changed: rerun
            kept[fname, dim, conc, sname, seed] = r
    # Warm up only the searchers with a run to do: a rerun that only rewrites the tables starts no searcher
    # (an LLM searcher's warm-up would leave a model request running at exit).
    skipped: list[str] = []
    for sname in dict.fromkeys(job[3] for job in jobs if job not in kept):
        try:
            warm_up(sname)
        except ImportError as exc:  # MissingExtraError: a peer whose package is not installed
            print(f"skipping searcher {sname!r}: {exc}", file=sys.stderr)
            skipped.append(sname)
    if skipped:
        jobs = [job for job in jobs if job[3] not in skipped]
        if not jobs:
            parser.error(f"every searcher to run was skipped ({', '.join(skipped)}): install their packages")
    results: list[RunResult] = []
    for done, (fname, dim, conc, sname, seed) in enumerate(jobs, start=1):
        r = kept.get((fname, dim, conc, sname, seed))
        if r is None:
            searcher = make_searcher(sname, seed)
            try:
                r = run_searcher(
                    searcher, functions[fname], dim,
                    budget=args.budget, concurrency=conc, seed=seed,
                    durations=args.durations, name=sname,
                )
                log.append(r)
            finally:
                close_searcher(searcher)
        results.append(r)
        logger.info(
            "[%d/%d] %s %s d=%d c=%d seed=%d: best %.4g, evals_to_target %s",
            done, len(jobs), sname, fname, dim, conc, seed,
            r.best_at_budget if r.best_at_budget is not None else float("nan"),
            r.evals_to_target,
        )

    rows = summarize(results)
    md_path, json_path = write_results(rows, results, args.out, command=command)
    print(to_markdown(rows), end="")
    print(f"wrote {md_path} and {json_path}")
    if args.plot:
        for fname in fnames:
            for dim in dims:
                for conc in concs:
                    out = Path(f"{args.out}-{functions[fname].name}-d{dim}-c{conc}.png")
                    plot_traces(results, out, function=functions[fname].name, dim=dim, concurrency=conc)
                    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    # Delegate to the importable module so that --import plugins calling
    # register_searcher() update the same PEERS registry that main() reads.
    from benchmarks.harness import main as _main

    sys.exit(_main())
