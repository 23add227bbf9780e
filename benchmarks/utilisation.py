"""Cluster utilisation, simulated: the asynchronous swarm against a generation-synchronous PSO.

    python -m benchmarks.utilisation --slots 32 --budget 320 --seeds 10 \\
        --durations lognormal,pareto --out benchmarks/results/utilisation-YYYY-MM-DD

32 slots stand for 8 GPUs running 4 fractional trials each. Trial durations are heavy-tailed
(``lognormal``: sigma 1; ``pareto``: shape 1.5, see :data:`benchmarks.harness.DURATIONS`), drawn
from the run's seed, so every searcher sees the same duration sequence for a seed. Searchers:

* ``async-pso``: LLMPSOSearcher(llm=None) with a swarm of ``--slots`` particles: a particle moves
  again as soon as its own trial is in;
* ``sync-pso``: the same searcher and swarm behind :class:`GenerationBarrier`: a generation is the
  swarm (``--slots`` trials) and no trial of the next generation starts before every trial of
  the current one has reported, as in textbook PSO (and Nevergrad's/DEAP's generation loop);
* ``random`` and ``optuna`` (TPE) as references (no barrier at all).

Measures per run (benchmarks.harness.run_searcher, simulated clock): the busy fraction of
slot-time (sum of trial durations / (slots x makespan)), the time to the budget (makespan) and the
best value at the budget; medians and IQR over seeds. Nothing here calls an LLM.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shlex
import sys
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ray.tune.search import Searcher

from benchmarks.functions import FUNCTIONS
from benchmarks.harness import (
    DURATIONS,
    RunResult,
    _quantiles,
    close_searcher,
    make_searcher,
    run_searcher,
    warm_up,
    write_results,
)
from raytune_llm import LLMPSOSearcher
from raytune_llm.tuning import save_figure

logger = logging.getLogger(__name__)

SEARCHERS = ("async-pso", "sync-pso", "random", "optuna")


class GenerationBarrier(Searcher):
    """Makes any searcher generation-synchronous: ``generation`` suggestions, then a barrier.

    ``suggest`` hands out at most ``generation`` configurations; after that it returns None
    until every one of them has completed (or errored), and only then starts the next
    generation. Everything else is forwarded to the wrapped searcher.

    Args:
        inner: the searcher that proposes the configurations.
        generation: trials per generation (>= 1), e.g. the swarm size of a PSO.

    Example:
        >>> from ray import tune
        >>> from raytune_llm import LLMPSOSearcher
        >>> pso = LLMPSOSearcher(llm=None, seed=0, swarm_size=2, metric="v", mode="min",
        ...                      space={"x": tune.uniform(-1, 1)})
        >>> sync = GenerationBarrier(pso, generation=2)
        >>> a, b = sync.suggest("a"), sync.suggest("b")
        >>> sync.suggest("c") is None  # generation 0 is out, nothing has reported
        True
        >>> sync.on_trial_complete("a", {"v": a["x"] ** 2})
        >>> sync.suggest("c") is None  # "b" is still running
        True
        >>> sync.on_trial_complete("b", {"v": b["x"] ** 2})
        >>> isinstance(sync.suggest("c"), dict)
        True
    """

    def __init__(self, inner: Searcher, *, generation: int) -> None:
        if generation < 1:
            raise ValueError(f"generation must be >= 1, got {generation}")
        super().__init__(metric=inner.metric, mode=inner.mode)
        self.inner = inner
        self.generation = int(generation)
        self.generations_started = 0
        self._issued = 0  # suggestions handed out in the current generation
        self._outstanding: set[str] = set()

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        accepted = self.inner.set_search_properties(metric, mode, config, **spec)
        self._metric, self._mode = self.inner.metric, self.inner.mode
        return accepted

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self._issued >= self.generation:
            if self._outstanding:
                return None  # the barrier: the generation has not all reported
            self._issued = 0
        config = self.inner.suggest(trial_id)
        if isinstance(config, dict):
            if self._issued == 0:
                self.generations_started += 1
            self._issued += 1
            self._outstanding.add(trial_id)
        return config

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self._outstanding.discard(trial_id)
        self.inner.on_trial_complete(trial_id, result, error)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.inner.on_trial_result(trial_id, result)

    def benchmark_extra(self) -> dict[str, Any]:
        hook = getattr(self.inner, "benchmark_extra", None)
        extra = dict(hook() or {}) if callable(hook) else {}
        return {**extra, "generations": self.generations_started}


def make(name: str, seed: int, slots: int) -> Searcher:
    """A searcher of :data:`SEARCHERS`, seeded; both PSOs have ``slots`` particles."""
    if name == "async-pso":
        return LLMPSOSearcher(seed=seed, llm=None, swarm_size=slots, telemetry=False)
    if name == "sync-pso":
        return GenerationBarrier(LLMPSOSearcher(seed=seed, llm=None, swarm_size=slots, telemetry=False),
                                 generation=slots)
    if name in ("random", "optuna"):
        return make_searcher(name, seed)
    raise ValueError(f"unknown searcher {name!r}; choose from {', '.join(SEARCHERS)}")


def best_by_time(run: RunResult, t: float) -> float | None:
    """Best value among the trials of ``run`` completed by simulated time ``t`` (None if none)."""
    done = [v for v, ft in zip(run.values, run.finish_times) if ft <= t]
    return min(done) if done else None


def summarize_utilisation(results: Sequence[RunResult]) -> list[dict[str, Any]]:
    """Median and IQR of busy fraction, time to budget and best value per (durations, searcher).

    ``best_at_common_time`` compares the searchers at equal time: for each (durations, seed),
    the earliest time any searcher finished its budget; each run's best value by then.
    """
    groups: dict[tuple[str, str], list[RunResult]] = defaultdict(list)
    common: dict[tuple[str, int], float] = {}
    for r in results:
        groups[(r.durations, r.searcher)].append(r)
        common[(r.durations, r.seed)] = min(common.get((r.durations, r.seed), float("inf")), r.sim_time)
    rows = []
    for (durations, searcher), runs in sorted(groups.items()):
        row: dict[str, Any] = {"durations": durations, "searcher": searcher, "runs": len(runs),
                               "slots": runs[0].concurrency, "budget": runs[0].budget,
                               "function": runs[0].function, "dim": runs[0].dim,
                               "completed_median": float(np.median([r.n_completed for r in runs]))}
        for key, xs in (("busy_fraction", [r.busy_fraction for r in runs if r.busy_fraction is not None]),
                        ("time_to_budget", [r.sim_time for r in runs]),
                        ("best_at_budget", [r.best_at_budget for r in runs if r.best_at_budget is not None]),
                        ("best_at_common_time", [b for b in (best_by_time(r, common[(r.durations, r.seed)])
                                                             for r in runs) if b is not None])):
            q25, med, q75 = _quantiles(xs)
            row.update({f"{key}_median": med, f"{key}_q25": q25, f"{key}_q75": q75})
        rows.append(row)
    return rows


def _iqr(row: dict[str, Any], key: str, fmt: str) -> str:
    if row[f"{key}_median"] is None:
        return "-"
    return (f"{format(row[f'{key}_median'], fmt)} "
            f"[{format(row[f'{key}_q25'], fmt)}, {format(row[f'{key}_q75'], fmt)}]")


def to_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The utilisation table, newline-terminated."""
    lines = ["| durations | searcher | runs | slots | budget | busy fraction of slot-time, median [IQR] "
             "| time to budget, median [IQR] | best value at budget, median [IQR] "
             "| best value when the first searcher finished, median [IQR] |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['durations']} | {r['searcher']} | {r['runs']} | {r['slots']} | {r['budget']} "
                     f"| {_iqr(r, 'busy_fraction', '.3f')} | {_iqr(r, 'time_to_budget', '.1f')} "
                     f"| {_iqr(r, 'best_at_budget', '.3g')} | {_iqr(r, 'best_at_common_time', '.3g')} |")
    return "\n".join(lines) + "\n"


def plot(results: Sequence[RunResult], path: str | Path) -> Path:
    """Busy fraction per searcher (box plots) and median best-so-far against simulated time."""
    from raytune_llm._imports import require

    matplotlib = require("matplotlib", extra="bench", feature="the utilisation plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    durations = sorted({r.durations for r in results})
    searchers = [s for s in SEARCHERS if any(r.searcher == s for r in results)]
    fig, axes = plt.subplots(2, len(durations), figsize=(6 * len(durations), 8), squeeze=False)
    for col, dur in enumerate(durations):
        sel = [r for r in results if r.durations == dur]
        ax = axes[0][col]
        data = [[r.busy_fraction for r in sel if r.searcher == s and r.busy_fraction is not None] for s in searchers]
        ax.boxplot(data, tick_labels=searchers)
        ax.set_ylabel("busy fraction of slot-time")
        ax.set_title(f"{dur} durations, {sel[0].concurrency} slots, budget {sel[0].budget}")
        ax = axes[1][col]
        horizon = max(r.sim_time for r in sel)
        grid = np.linspace(0.0, horizon, 200)
        for s in searchers:
            curves = []
            for r in (r for r in sel if r.searcher == s and r.finish_times):
                idx = np.searchsorted(np.asarray(r.finish_times), grid, side="right") - 1
                best = np.asarray(r.best_trace)
                curves.append(np.where(idx >= 0, best[np.maximum(idx, 0)], np.nan))
            if curves:
                with warnings.catch_warnings():  # before the first completion every curve is NaN
                    warnings.simplefilter("ignore", RuntimeWarning)
                    median = np.nanmedian(np.vstack(curves), axis=0)
                ax.plot(grid, median, label=f"{s} (n={len(curves)})")
        ax.set_xlabel("simulated time")
        ax.set_ylabel("best value so far (median over seeds)")
        ax.set_title(f"{sel[0].function}, dim {sel[0].dim}")
        ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.utilisation", description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=32, help="concurrent trial slots (default 32 = 8 GPUs x 4)")
    parser.add_argument("--budget", type=int, default=320, help="trials per run (default 320)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    parser.add_argument("--durations", default="lognormal,pareto", help=f"comma-separated, of {DURATIONS}")
    parser.add_argument("--searchers", default=",".join(SEARCHERS), help=f"comma-separated, of {SEARCHERS}")
    parser.add_argument("--function", default="rastrigin", choices=sorted(FUNCTIONS))
    parser.add_argument("--dim", type=int, default=5)
    parser.add_argument("--shift", type=int, default=1,
                        help="move the optimum off the centre (TestFunction.shifted(SEED)); -1: textbook")
    parser.add_argument("--out", default=f"benchmarks/results/utilisation-{dt.date.today().isoformat()}",
                        help="output stem: <out>.md, <out>.json, <out>.png")
    args = parser.parse_args(argv)
    durations = [d.strip() for d in args.durations.split(",") if d.strip()]
    searchers = [s.strip() for s in args.searchers.split(",") if s.strip()]
    if not durations or any(d not in DURATIONS for d in durations):
        parser.error(f"--durations must be a comma-separated subset of {DURATIONS}, got {args.durations!r}")
    if not searchers or any(s not in SEARCHERS for s in searchers):
        parser.error(f"--searchers must be a comma-separated subset of {SEARCHERS}, got {args.searchers!r}")
    if min(args.slots, args.budget, args.seeds, args.dim) < 1:
        parser.error("--slots, --budget, --seeds and --dim must be >= 1")
    fn = FUNCTIONS[args.function] if args.shift < 0 else FUNCTIONS[args.function].shifted(args.shift)
    if "optuna" in searchers:
        warm_up("optuna")

    results: list[RunResult] = []
    for dur in durations:
        for name in searchers:
            for seed in range(args.seeds):
                searcher = make(name, seed, args.slots)
                results.append(run_searcher(searcher, fn, args.dim, budget=args.budget, concurrency=args.slots,
                                            seed=seed, durations=dur, name=name))
                r = results[-1]
                logger.info("%s %s seed %d: busy %.3f, time %.1f, best %.3g", dur, name, seed,
                            r.busy_fraction or 0.0, r.sim_time, r.best_at_budget or float("nan"))
                close_searcher(searcher)

    rows = summarize_utilisation(results)
    table = to_markdown(rows)
    command = "python -m benchmarks.utilisation " + shlex.join(argv)
    notes = (f"Simulated clock: the machine does not change these numbers. {args.slots} slots, {args.budget} "
             f"trials per run, {fn.name} in {args.dim} dimensions, seeds 0..{args.seeds - 1}; the durations of a "
             "seed are the same for every searcher. Busy fraction = sum of trial durations / (slots x time of the "
             "last completion); time to budget = time of the last completion; the last column is each run's best "
             "value at the time the fastest searcher finished the same seed's budget (equal time, not equal "
             "trials). `sync-pso` is `async-pso` (LLMPSOSearcher(llm=None), swarm = slots) behind a generation "
             "barrier of one swarm.")
    out = Path(args.out)
    md_path, json_path = write_results(rows, results, out, command=command, table=table,
                                       title="Cluster utilisation, simulated", notes=notes)
    png = plot(results, out.with_name(out.name + ".png"))
    print(table, end="")
    print(f"wrote {md_path}, {json_path} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
