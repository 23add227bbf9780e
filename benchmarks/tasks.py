"""The LSTM and CNN tasks through Ray Tune: best validation metric at 10, 20, 40 trials, trials-to-target.

    python -m benchmarks.tasks --tasks lstm,cnn --seeds 3 --trials 40 --budgets 10,20,40 \\
        --searchers optuna,hyperopt,nevergrad-pso,nevergrad-cma,random,llm-pso-gated-reset,pso,llm,sobol \\
        --out benchmarks/results/tasks-YYYY-MM-DD

Each (task, searcher, seed) is one ``tune.Tuner`` run of ``--trials`` trials of the packaged
trainable (``trainables.train_lstm``: ``val_rmse``, minimised; ``trainables.train_cnn``:
``val_accuracy``, maximised; spaces ``lstm_space()``/``cnn_space()`` through
:func:`raytune_llm.tuning.make_task`) with the searcher built by the benchmark registry
(:func:`benchmarks.harness.make_searcher`; raytune-llm's own from :mod:`benchmarks.searchers`).
A callback records each trial's final metric in completion order; the best value at each of
``--budgets`` is read off that run's best-so-far trace, so budgets 10, 20 and 40 cost one
40-trial run. Trials-to-target is the first completed trial at or beyond the target: given with
``--target TASK=VALUE``, otherwise the median, over every run of the task (all searchers and
seeds), of the best value at the largest budget, i.e. a value half the runs reach.

Each finished run is appended to ``<out>-runs.jsonl``; ``--resume`` keeps those and runs the rest.

Runs are real training jobs: on a laptop-class machine a full table takes hours. ``--quick``
runs one tiny LSTM job per searcher (3 trials, 1 epoch, 5 % of the data) to check the plumbing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import logging
import math
import os
import shlex
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ray.tune import Callback

from benchmarks.harness import (
    PEERS,
    RunLog,
    RunResult,
    _quantiles,
    close_searcher,
    compute_evals_to_target,
    make_searcher,
    plot_traces,
    write_results,
)

logger = logging.getLogger(__name__)

TASK_NAMES = ("lstm", "cnn")
#: Searchers that need the task (past experiments of other data sets): MetaLLMiXSearcher with the
#: embedded model and with the meta-learner alone (``llm=None``), warm-started from the seed
#: meta-dataset without the task's data set and its siblings; both hand over to plain PSO.
META_SEARCHERS = {"metallmix": "embedded", "metallmix-meta": None}
ALL_SEARCHERS = ("optuna,hyperopt,nevergrad-pso,nevergrad-cma,random,llm-pso-gated-reset,pso,llm,sobol,metallmix,"
                 "metallmix-meta")


class CompletionOrder(Callback):
    """A Tune callback that records each trial's final metric value in completion order.

    Args:
        metric: the metric read from each trial's last result (None when missing, not finite,
            or the trial errored).
    """

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.values: list[float | None] = []
        self.trial_ids: list[str] = []

    def _record(self, trial: Any) -> None:
        value = (trial.last_result or {}).get(self.metric)
        ok = isinstance(value, (int, float)) and math.isfinite(float(value))
        self.values.append(float(value) if ok else None)
        self.trial_ids.append(trial.trial_id)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._record(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._record(trial)


def best_at(values: Sequence[float | None], budgets: Sequence[int], mode: str) -> dict[str, float | None]:
    """Best value among the first ``b`` completed trials, for each budget ``b`` (None: none scored)."""
    from raytune_llm.tuning import best_so_far

    trace = best_so_far(values, mode)
    out: dict[str, float | None] = {}
    for b in budgets:
        v = trace[min(b, len(trace)) - 1] if trace else math.nan
        out[str(b)] = None if math.isnan(v) else v
    return out


def n_tuned(task: Any) -> int:
    """Number of searched hyperparameters of a task's space (the constants excluded)."""
    return sum(1 for v in task.space.values() if hasattr(v, "sample"))


def meta_store_without(dataset: str, workdir: str | Path) -> str:
    """Path of a copy of the packaged seed meta-dataset without the experiments of ``dataset`` and
    of the seed data sets derived from the same data (:data:`benchmarks.metallmix_bench.SIBLINGS`).

    MetaLLMiX is benchmarked as on a new data set: the task's own past results, or a near-copy's,
    would tell it the answer. The copy keeps every data set's meta-features (the target's included,
    so that it can be described) and is made once per ``workdir`` (written whole, then moved in
    place, so a killed run never leaves half a store to be reused).
    """
    from benchmarks.metallmix_bench import loo_store
    from raytune_llm._io import atomic_path
    from raytune_llm.meta import MetaStore

    path = Path(workdir) / f"meta-without-{dataset}.sqlite"
    if not path.exists():
        with atomic_path(path, suffix=".sqlite") as tmp, MetaStore.seed() as seed_store:
            loo_store(seed_store, dataset, tmp).close()
    return str(path)


def make_task_searcher(name: str, task: Any, seed: int, workdir: str | Path) -> Any:
    """The searcher ``name`` for ``task``: a registered one, or MetaLLMiX on a store without the task's data."""
    if name not in META_SEARCHERS:
        return make_searcher(name, seed)
    from raytune_llm import LLMPSOSearcher, MetaLLMiXSearcher
    from raytune_llm.tuning import META_TASKS, metallmix_dataset

    dataset = metallmix_dataset(task.name, task.space.get("dataset"))
    return MetaLLMiXSearcher(meta=meta_store_without(dataset, workdir), dataset=dataset,
                             model=META_TASKS[task.name][1], llm=META_SEARCHERS[name], seed=seed, telemetry=False,
                             inner=LLMPSOSearcher(llm=None, seed=seed, telemetry=False))


def run_task(task: Any, searcher_name: str, seed: int, *, trials: int, concurrency: int, storage: str,
             budgets: Sequence[int]) -> RunResult:
    """One Tune run of ``searcher_name`` on ``task`` (a :class:`raytune_llm.tuning.Task`)."""
    from ray import tune

    from raytune_llm.tuning import best_so_far

    searcher = make_task_searcher(searcher_name, task, seed, storage)
    recorder = CompletionOrder(task.metric)
    start = time.perf_counter()
    tune.Tuner(
        tune.with_resources(task.trainable, {"cpu": 1}), param_space=task.space,
        tune_config=tune.TuneConfig(metric=task.metric, mode=task.mode, search_alg=searcher, num_samples=trials,
                                    max_concurrent_trials=concurrency, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=storage, name=f"{task.name}-{searcher_name}-s{seed}", verbose=0,
                                  callbacks=[recorder]),
    ).fit()
    wall = time.perf_counter() - start
    hook = getattr(searcher, "benchmark_extra", None)
    extra: dict[str, Any] = dict(hook() or {}) if callable(hook) else {}
    close_searcher(searcher)
    values = recorder.values
    scored = [v for v in values if v is not None]
    best = (min if task.mode == "min" else max)(scored) if scored else None
    extra.update({"metric": task.metric, "mode": task.mode, "best_at": best_at(values, budgets, task.mode),
                  "trial_ids": recorder.trial_ids})
    return RunResult(
        searcher=searcher_name, function=task.name, dim=n_tuned(task), concurrency=concurrency, seed=seed,
        budget=trials, target=math.nan, durations="ray-tune", values=values,
        best_trace=best_so_far(values, task.mode), evals_to_target=None, best_at_budget=best, best_config=None,
        overhead_s_per_trial=0.0, suggest_s_mean=0.0, suggest_s_p99=0.0, complete_s_mean=0.0,
        n_suggest_calls=0, n_started=len(values), stalled=False, finished=False, sim_time=wall,
        wall_time_s=wall, extra=extra,
    )


def apply_targets(results: Sequence[RunResult], targets: dict[str, float]) -> dict[str, float]:
    """Sets ``target`` and ``evals_to_target`` of every run; returns the target used per task.

    A task without a given target gets the median, over its runs, of the best value at the
    largest budget.
    """
    used: dict[str, float] = {}
    for task in sorted({r.function for r in results}):
        runs = [r for r in results if r.function == task]
        if task in targets:
            used[task] = float(targets[task])
        else:
            finals = [r.best_at_budget for r in runs if r.best_at_budget is not None]
            used[task] = float(np.median(finals)) if finals else math.nan
        for r in runs:
            r.target = used[task]
            r.evals_to_target = (None if math.isnan(used[task])
                                 else compute_evals_to_target(r.values, used[task], r.extra["mode"]))
    return used


def summarize_tasks(results: Sequence[RunResult], budgets: Sequence[int]) -> list[dict[str, Any]]:
    """Median and IQR of the best value at each budget and of trials-to-target, per (task, searcher)."""
    groups: dict[tuple[str, str], list[RunResult]] = defaultdict(list)
    for r in results:
        groups[(r.function, r.searcher)].append(r)
    rows = []
    for (task, searcher), runs in sorted(groups.items()):
        row: dict[str, Any] = {"task": task, "searcher": searcher, "runs": len(runs), "metric": runs[0].extra["metric"],
                               "mode": runs[0].extra["mode"], "trials": runs[0].budget, "target": runs[0].target,
                               "success_rate": sum(r.evals_to_target is not None for r in runs) / len(runs),
                               "failed_trials": sum(v is None for r in runs for v in r.values),
                               "wall_s_median": float(np.median([r.wall_time_s for r in runs]))}
        for b in budgets:
            q25, med, q75 = _quantiles([r.extra["best_at"][str(b)] for r in runs
                                        if r.extra["best_at"].get(str(b)) is not None])
            row[f"best_at_{b}"] = {"median": med, "q25": q25, "q75": q75}
        q25, med, q75 = _quantiles([r.evals_to_target if r.evals_to_target is not None else r.budget + 1
                                    for r in runs])
        row["trials_to_target"] = {"median": med, "q25": q25, "q75": q75}
        rows.append(row)
    return rows


def _iqr(stats: dict[str, float | None], fmt: str, cap: int | None = None) -> str:
    def f(x: float | None) -> str:
        if x is None:
            return "-"
        if cap is not None and x > cap:
            return f">{cap}"
        return format(x, fmt)

    return f"{f(stats['median'])} [{f(stats['q25'])}, {f(stats['q75'])}]"


def to_markdown(rows: Sequence[dict[str, Any]], budgets: Sequence[int]) -> str:
    """The tasks table, newline-terminated."""
    head = " | ".join(f"best at {b} trials, median [IQR]" for b in budgets)
    lines = [f"| task (metric) | searcher | runs | {head} | target | success | trials to target, median [IQR] "
             "| failed trials | wall s per run |",
             "|---|---|---:|" + "---:|" * len(budgets) + "---:|---:|---:|---:|---:|"]
    for r in rows:
        bests = " | ".join(_iqr(r[f"best_at_{b}"], ".4g") for b in budgets)
        arrow = "lower" if r["mode"] == "min" else "higher"
        lines.append(f"| {r['task']} ({r['metric']}, {arrow} is better) | {r['searcher']} | {r['runs']} | {bests} "
                     f"| {r['target']:.4g} | {100 * r['success_rate']:.0f}% "
                     f"| {_iqr(r['trials_to_target'], 'g', cap=r['trials'])} | {r['failed_trials']} "
                     f"| {r['wall_s_median']:.0f} |")
    return "\n".join(lines) + "\n"


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tasks", description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="lstm,cnn", help=f"comma-separated, of {TASK_NAMES}")
    parser.add_argument("--searchers", default=ALL_SEARCHERS, help="comma-separated registered names")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=40, help="trials per run (the largest budget)")
    parser.add_argument("--budgets", default="10,20,40", help="budgets read off each run's best-so-far trace")
    parser.add_argument("--concurrency", type=int, default=2, help="trials at a time (1 CPU each)")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    parser.add_argument("--max-epochs", type=int, default=None, help="epochs per trial (default: the trainable's)")
    parser.add_argument("--data-fraction", type=float, default=None, help="fraction of the data (default: all)")
    parser.add_argument("--dataset", default="mnist-lowres",
                        help="cnn data set (trainables.data.IMAGE_DATASETS); default mnist-lowres: textures "
                             "reaches 100%% validation accuracy within a few trials, which ranks no searcher")
    parser.add_argument("--target", action="append", default=[], metavar="TASK=VALUE",
                        help="trials-to-target threshold (default: the median best at the largest budget)")
    parser.add_argument("--storage", default=None, help="Tune storage (default: a temporary directory)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already in <out>-runs.jsonl (written after every run) and run the rest")
    parser.add_argument("--quick", action="store_true",
                        help="tiny plumbing check: lstm, 3 trials, 1 epoch, 5%% of the data, 1 seed, random,pso")
    parser.add_argument("--out", default=f"benchmarks/results/tasks-{dt.date.today().isoformat()}")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.searchers, args.seeds, args.trials, args.budgets = "lstm", "random,pso", 1, 3, "1,2,3"
        args.max_epochs, args.data_fraction, args.concurrency = 1, 0.05, 1
    importlib.import_module("benchmarks.searchers")  # registers raytune-llm's searchers
    tasks, searchers = _csv(args.tasks), _csv(args.searchers)
    if not tasks or any(t not in TASK_NAMES for t in tasks):
        parser.error(f"--tasks must be a comma-separated subset of {TASK_NAMES}, got {args.tasks!r}")
    unknown = [s for s in searchers if s not in PEERS and s not in META_SEARCHERS]
    if unknown or not searchers:
        parser.error(f"unknown searcher(s) {unknown}; known: {', '.join(sorted([*PEERS, *META_SEARCHERS]))}")
    try:
        budgets = sorted({int(b) for b in _csv(args.budgets)})
    except ValueError:
        parser.error(f"--budgets must be comma-separated integers, got {args.budgets!r}")
    if not budgets or budgets[0] < 1 or budgets[-1] > args.trials:
        parser.error(f"--budgets must lie in 1..--trials ({args.trials}), got {args.budgets!r}")
    if min(args.seeds, args.trials, args.concurrency) < 1:
        parser.error("--seeds, --trials and --concurrency must be >= 1")
    targets: dict[str, float] = {}
    for spec in args.target:
        name, sep, value = spec.partition("=")
        try:
            if not sep or name not in tasks:
                raise ValueError
            targets[name] = float(value)
        except ValueError:
            parser.error(f"--target expects TASK=VALUE with TASK in {tasks}, got {spec!r}")

    settings = {"trials": args.trials, "concurrency": args.concurrency, "max_epochs": args.max_epochs,
                "data_fraction": args.data_fraction, "dataset": args.dataset, "budgets": budgets}
    try:
        log = RunLog(f"{args.out}-runs.jsonl", settings, resume=args.resume)
    except ValueError as exc:
        parser.error(str(exc))

    import ray

    from raytune_llm.tuning import make_task

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}})
    results: list[RunResult] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            storage = os.path.abspath(os.path.expanduser(args.storage)) if args.storage else tmp
            for name in tasks:
                task = make_task(name, max_epochs=args.max_epochs, data_fraction=args.data_fraction,
                                 dataset=args.dataset)
                for searcher in searchers:
                    for seed in range(args.seeds):
                        r = log.done(searcher, name, n_tuned(task), args.concurrency, seed)
                        if r is not None:
                            results.append(r)
                            continue
                        r = run_task(task, searcher, seed, trials=args.trials, concurrency=args.concurrency,
                                     storage=storage, budgets=budgets)
                        log.append(r)
                        results.append(r)
                        print(f"{name} {searcher} seed {seed}: best {r.best_at_budget} after {len(r.values)} trials "
                              f"({r.wall_time_s:.0f} s)", flush=True)
    finally:
        ray.shutdown()
    used = apply_targets(results, targets)
    rows = summarize_tasks(results, budgets)
    table = to_markdown(rows, budgets)
    notes = (f"Ray Tune runs of the packaged trainables, {args.trials} trials each, {args.concurrency} at a time "
             f"(1 CPU per trial), seeds 0..{args.seeds - 1}; max_epochs {args.max_epochs or 'default (3)'}, data "
             f"fraction {args.data_fraction or 1}" + (f", CNN data set {args.dataset}" if "cnn" in tasks else "")
             + ". Best values at smaller budgets are read off each run's best-so-far trace. "
             "Target per task: " + ", ".join(f"{t} {v:.4g}" + (" (given)" if t in targets else
                                                               " (median best at the largest budget)")
                                               for t, v in used.items())
             + "; runs that never reach it count as trials+1 (shown as `>trials`).")
    out = Path(args.out)
    md_path, json_path = write_results(rows, results, out, command="python -m benchmarks.tasks " + shlex.join(argv),
                                       table=table, title="Ray Tune tasks", notes=notes, extra={"targets": used})
    for name in tasks:
        if any(r.function == name and r.best_trace for r in results):
            metric = next(r.extra["metric"] for r in results if r.function == name)
            plot_traces(results, out.with_name(f"{out.name}-{name}.png"), function=name,
                        zoom_from=min(5, args.trials), ylabel=f"best {metric} so far")
    print(table, end="")
    print(f"wrote {md_path} and {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
