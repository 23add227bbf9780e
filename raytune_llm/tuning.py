"""Run a tuning job on one of the packaged tasks: what ``raytune-llm tune`` and ``make demo`` do.

Kept apart from the CLI so that it can be called from Python and tested without a shell.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger("raytune_llm.tuning")

SEARCHERS = ("llm-pso", "pso", "llm", "sobol", "metallmix", "optuna", "random")
TASKS = ("rastrigin", "lstm", "cnn")


@dataclass
class Task:
    """A packaged objective: trainable, search space, metric and direction."""

    name: str
    trainable: Callable[..., Any]
    space: dict[str, Any]
    metric: str
    mode: str


@dataclass
class RunSummary:
    """What one searcher achieved on a task."""

    searcher: str
    trials: int
    best_value: float | None
    best_config: dict[str, Any] | None
    trials_to_best: int | None
    values: list[float | None] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    llm_usage: dict[str, Any] | None = None
    path: str = ""


def make_task(name: str, *, dim: int = 5, max_epochs: int | None = None, data_fraction: float | None = None,
              dataset: str = "textures") -> Task:
    """Build a :class:`Task` (imports the trainables lazily; they need the ``train`` extra)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    if name == "rastrigin":
        from trainables import rastrigin, rastrigin_space

        if dim < 1:
            raise ValueError(f"--dim must be >= 1, got {dim}")
        return Task(name, rastrigin, rastrigin_space(dim), "value", "min")
    from raytune_llm._imports import require

    require("pytorch_lightning", extra="train", feature=f"the {name} task")
    fixed: dict[str, Any] = {}
    if max_epochs is not None:
        fixed["max_epochs"] = max_epochs
    if data_fraction is not None:
        fixed["data_fraction"] = data_fraction
    if name == "lstm":
        from trainables import lstm_space, train_lstm

        return Task(name, train_lstm, lstm_space(**fixed), "val_rmse", "min")
    from trainables import cnn_space, train_cnn

    return Task(name, train_cnn, cnn_space(dataset, **fixed), "val_accuracy", "max")


#: packaged task -> (meta-learning task, model, default meta-dataset data set) for ``metallmix``
META_TASKS = {"cnn": ("image-classification", "cnn", "textures"),
              "lstm": ("timeseries-regression", "lstm", "aq-no2-hourly")}


def metallmix_dataset(task_name: str, dataset: str | None = None) -> str:
    """The meta-dataset data set ``metallmix`` warm-starts a packaged task from.

    Raises:
        ValueError: the task has no meta-dataset (rastrigin).
    """
    if task_name not in META_TASKS:
        raise ValueError(f"the metallmix searcher needs a task with past experiments in the meta-dataset "
                         f"({', '.join(META_TASKS)}), got --task {task_name!r}")
    if task_name == "cnn" and dataset:
        return dataset
    return META_TASKS[task_name][2]


def make_searcher(name: str, *, seed: int, llm: str | None, metric: str, mode: str, concurrency: int = 1,
                  task: Task | None = None, meta: str | None = None) -> Any:
    """A searcher by its CLI name, seeded (``metallmix`` needs ``task``, and uses ``meta``: a store path
    or ``None`` for the packaged seed meta-dataset)."""
    if name in ("llm-pso", "pso"):
        from raytune_llm import LLMPSOSearcher

        return LLMPSOSearcher(seed=seed, llm=llm if name == "llm-pso" else None, metric=metric, mode=mode)
    if name in ("llm", "sobol"):
        from raytune_llm import LLMSearcher

        return LLMSearcher(seed=seed, llm=llm if name == "llm" else None, metric=metric, mode=mode)
    if name == "optuna":
        from raytune_llm._imports import require

        optuna = require("optuna", extra="bench", feature="the optuna searcher")
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(sampler=optuna.samplers.TPESampler(seed=seed), metric=metric, mode=mode)
    if name == "random":
        from ray.tune.search import BasicVariantGenerator

        return BasicVariantGenerator(random_state=seed, max_concurrent=concurrency)
    if name == "metallmix":
        from raytune_llm import LLMPSOSearcher, MetaLLMiXSearcher

        if task is None:
            raise ValueError("the metallmix searcher needs the task (cnn or lstm) to find its past experiments")
        dataset = metallmix_dataset(task.name, task.space.get("dataset"))
        llm = None if llm == "none" else llm
        return MetaLLMiXSearcher(meta=meta, dataset=dataset, model=META_TASKS[task.name][1], llm=llm, seed=seed,
                                 metric=metric, mode=mode, inner=LLMPSOSearcher(llm=None, seed=seed))
    raise ValueError(f"unknown searcher {name!r}; choose one of {', '.join(SEARCHERS)}")


def check_resources(gpus_per_trial: float, cpus_per_trial: float, concurrency: int, trials: int) -> None:
    """Reject impossible resource requests with a message naming the value and the fix."""
    if not (cpus_per_trial > 0):
        raise ValueError(f"--cpus-per-trial must be > 0, got {cpus_per_trial}")
    if gpus_per_trial < 0 or (gpus_per_trial > 1 and gpus_per_trial != int(gpus_per_trial)):
        raise ValueError(f"--gpus-per-trial must be a fraction in [0, 1] or a whole number, got {gpus_per_trial}")
    if concurrency < 1:
        raise ValueError(f"--concurrency must be >= 1, got {concurrency}")
    if trials < 1:
        raise ValueError(f"--trials must be >= 1, got {trials}")


def local_storage(storage: str) -> str | None:
    """The absolute local folder ``storage`` names, or ``None`` where it is a URI (``s3://``,
    ``gs://``, ...) that Tune writes to directly."""
    return None if "://" in storage else os.path.abspath(os.path.expanduser(storage))


def fresh_experiment_name(root: str, name: str, suffixes: Sequence[str] = ("",)) -> str:
    """``name`` if every folder ``root/name+suffix`` is free (missing or empty), else the first
    ``name-2``, ``name-3``, ... for which they all are.

    ``raytune-llm tune`` runs each new experiment under such a name, so that it never writes into
    the folder of an earlier one, where its trials would mix with the old ones in TensorBoard and in
    ``ExperimentAnalysis`` (``--compare a,b`` writes ``NAME-a`` and ``NAME-b``: pass ``suffixes``).
    """
    def taken(candidate: str) -> bool:
        for suffix in suffixes:
            folder = os.path.join(root, candidate + suffix)
            if os.path.exists(folder) and (not os.path.isdir(folder) or os.listdir(folder)):
                return True
        return False

    if not taken(name):
        return name
    n = 2
    while taken(f"{name}-{n}"):
        n += 1
    return f"{name}-{n}"


def run(task: Task, searcher_name: str, *, trials: int, concurrency: int, seed: int, llm: str | None,
        storage: str, name: str, gpus_per_trial: float = 0.0, cpus_per_trial: float = 1.0,
        resume: bool = False, meta: str | None = None) -> RunSummary:
    """Run one searcher on ``task`` through ``tune.Tuner`` and summarise it."""
    from ray import tune

    check_resources(gpus_per_trial, cpus_per_trial, concurrency, trials)
    searcher = make_searcher(searcher_name, seed=seed, llm=llm, metric=task.metric, mode=task.mode,
                             concurrency=concurrency, task=task, meta=meta)
    trainable = tune.with_resources(task.trainable, {"cpu": cpus_per_trial, "gpu": gpus_per_trial})
    local = local_storage(storage)
    root = storage.rstrip("/") if local is None else local
    path = f"{root}/{name}" if local is None else os.path.join(root, name)
    restoring = resume and tune.Tuner.can_restore(path)
    if resume and not restoring:
        logger.warning("nothing to resume at %s (no experiment of that name there); starting a new one", path)
    if restoring:
        tuner = tune.Tuner.restore(path, trainable=trainable, param_space=task.space, resume_unfinished=True,
                                   restart_errored=True)
    else:
        tuner = tune.Tuner(
            trainable, param_space=task.space,
            tune_config=tune.TuneConfig(metric=task.metric, mode=task.mode, search_alg=searcher, num_samples=trials,
                                        max_concurrent_trials=None if searcher_name == "random" else concurrency,
                                        reuse_actors=True),
            run_config=tune.RunConfig(storage_path=root, name=name, verbose=1),
        )
    try:
        results = tuner.fit()
        if restoring and hasattr(searcher, "history"):
            # Tuner.restore ran the searcher it had pickled, not this one: read back the state that it
            # saved at the end (into a searcher given the space first, as Tune gives it), so that the
            # summary counts every trial's origin and the LLM's usage
            try:
                if local is None:
                    raise ValueError("it is not a local folder")
                searcher.set_search_properties(task.metric, task.mode, task.space)
                searcher.restore_from_dir(path)
            except Exception as exc:  # the trials are done and saved: say what the summary lacks, go on
                logger.warning("could not read the restored searcher's state from %s (%s): the summary's "
                               "'LLM trials' and LLM usage leave out the resumed experiment's trials", path, exc)
        return summarise(results, task, searcher_name, searcher, path)
    finally:
        if hasattr(searcher, "close"):
            searcher.close()


def summarise(results: Any, task: Task, searcher_name: str, searcher: Any, path: str) -> RunSummary:
    """The :class:`RunSummary` of a finished ``Tuner.fit()``."""
    frame = results.get_dataframe()
    values: list[float | None] = []
    if task.metric in frame:
        for v in frame[task.metric].tolist():
            values.append(float(v) if v is not None and math.isfinite(float(v)) else None)
    origins = [h["origin"] for h in getattr(searcher, "history", [])]
    best_value, best_config, trials_to_best = None, None, None
    scored = [(i, v) for i, v in enumerate(values) if v is not None]
    if scored:
        pick = min if task.mode == "min" else max
        i_best, best_value = pick(scored, key=lambda iv: iv[1])
        trials_to_best = i_best + 1
        best = results.get_best_result(metric=task.metric, mode=task.mode)
        best_config = {k: v for k, v in best.config.items()}
    usage = searcher.llm_usage.summary() if hasattr(searcher, "llm_usage") and getattr(searcher, "_backend", None) else None
    return RunSummary(searcher_name, len(values), best_value, best_config, trials_to_best, values, origins, usage, path)


def best_so_far(values: Sequence[float | None], mode: str) -> list[float]:
    out, best = [], math.nan
    for v in values:
        if v is not None and (math.isnan(best) or (v < best if mode == "min" else v > best)):
            best = v
        out.append(best)
    return out


def plot(summaries: Sequence[RunSummary], task: Task, path: str | Path) -> Path | None:
    """Best value by trial, one line per searcher; returns the PNG path (None without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed (extra 'train' or 'bench'); no plot written")
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    for s in summaries:
        ax.plot(range(1, len(s.values) + 1), best_so_far(s.values, task.mode), label=s.searcher, drawstyle="steps-post")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"best {task.metric}")
    ax.set_title(f"{task.name}: best {task.metric} by trial")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def save_figure(fig: Any, path: str | Path, *, dpi: int = 110) -> Path:
    """Write a matplotlib figure as PNG (creating its folder), close it, and return the path."""
    import matplotlib.pyplot as plt

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def format_table(summaries: Sequence[RunSummary], task: Task) -> str:
    lines = [f"| searcher | trials | best {task.metric} | reached at trial | LLM trials | LLM calls | LLM tokens |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for s in summaries:
        usage = s.llm_usage or {}
        tokens = (usage.get("prompt_tokens", 0) or 0) + (usage.get("completion_tokens", 0) or 0)
        best = "-" if s.best_value is None else f"{s.best_value:.4g}"
        lines.append(f"| {s.searcher} | {s.trials} | {best} | {s.trials_to_best or '-'} | {s.origins.count('llm')} | "
                     f"{usage.get('succeeded', '-') if usage else '-'} | {tokens if usage else '-'} |")
    return "\n".join(lines)
