"""Run a tuning job on one of the packaged tasks: what ``raytune-llm tune`` and ``make demo`` do.

Kept apart from the CLI so that it can be called from Python and tested without a shell.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger("raytune_llm.tuning")

SEARCHERS = ("llm-pso", "pso", "llm", "sobol", "metallmix", "optuna", "random")
#: the searchers of :data:`SEARCHERS` that ask an LLM
LLM_SEARCHERS = ("llm-pso", "llm", "metallmix")
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
    #: seconds each trial ran (Tune's ``time_total_s``), in the results' order
    durations: list[float] = field(default_factory=list)
    #: wall-clock seconds of the whole run
    elapsed_s: float | None = None
    #: why an LLM searcher ran no LLM-proposed trial (see :func:`llm_note`), else ``None``
    llm_note: str | None = None
    #: per origin, proposals made, accepted by the gate, trials and improvements (LLMPSOSearcher.origin_stats)
    origin_stats: dict[str, dict[str, int]] | None = None


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


def uses_llm(name: str, llm: str | None) -> bool:
    """Whether the searcher of CLI name ``name`` asks the LLM ``llm`` (``None``/``"none"``: no LLM)."""
    return name in LLM_SEARCHERS and llm not in (None, "none")


def make_searcher(name: str, *, seed: int, llm: str | None, metric: str, mode: str, concurrency: int = 1,
                  task: Task | None = None, meta: str | None = None, wait_for_llm: bool = False) -> Any:
    """A searcher by its CLI name, seeded (``metallmix`` needs ``task``, and uses ``meta``: a store path
    or ``None`` for the packaged seed meta-dataset). ``wait_for_llm``: ``llm-pso`` and ``llm`` let
    ``suggest()`` wait for an outstanding LLM answer (``metallmix`` always waits for its warm start)."""
    if name in ("llm-pso", "pso"):
        from raytune_llm import LLMPSOSearcher

        return LLMPSOSearcher(seed=seed, llm=llm if name == "llm-pso" else None, metric=metric, mode=mode,
                              wait_for_llm=wait_for_llm and name == "llm-pso")
    if name in ("llm", "sobol"):
        from raytune_llm import LLMSearcher

        return LLMSearcher(seed=seed, llm=llm if name == "llm" else None, metric=metric, mode=mode,
                           wait_for_llm=wait_for_llm and name == "llm")
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
    from raytune_llm._checks import check_resource

    check_resource("--cpus-per-trial", cpus_per_trial, unit="CPU", allow_zero=False)
    check_resource("--gpus-per-trial", gpus_per_trial, unit="GPU")
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
        resume: bool = False, meta: str | None = None, wait_for_llm: bool = False,
        verbose: bool = False) -> RunSummary:
    """Run one searcher on ``task`` through ``tune.Tuner`` and summarise it.

    Prints one line per finished trial (:class:`~raytune_llm.progress.TrialProgress`); with
    ``verbose``, Ray Tune's own trial tables too. ``wait_for_llm``: see :func:`make_searcher`.
    """
    import time

    from ray import tune

    from raytune_llm.progress import TrialProgress

    check_resources(gpus_per_trial, cpus_per_trial, concurrency, trials)
    searcher = make_searcher(searcher_name, seed=seed, llm=llm, metric=task.metric, mode=task.mode,
                             concurrency=concurrency, task=task, meta=meta, wait_for_llm=wait_for_llm)
    trainable = tune.with_resources(task.trainable, {"cpu": cpus_per_trial, "gpu": gpus_per_trial})
    local = local_storage(storage)
    root = storage.rstrip("/") if local is None else local
    path = f"{root}/{name}" if local is None else os.path.join(root, name)
    restoring = resume and tune.Tuner.can_restore(path)
    if resume and not restoring:
        logger.warning("nothing to resume at %s (no experiment of that name there); starting a new one", path)
    progress = TrialProgress(label=searcher_name, metric=task.metric, mode=task.mode, total=trials, searcher=searcher,
                             watch_llm=uses_llm(searcher_name, llm))
    if restoring:
        # the restored experiment keeps the RunConfig it was started with (its progress view included)
        tuner = tune.Tuner.restore(path, trainable=trainable, param_space=task.space, resume_unfinished=True,
                                   restart_errored=True)
    else:
        tuner = tune.Tuner(
            trainable, param_space=task.space,
            tune_config=tune.TuneConfig(metric=task.metric, mode=task.mode, search_alg=searcher, num_samples=trials,
                                        max_concurrent_trials=None if searcher_name == "random" else concurrency,
                                        reuse_actors=True),
            run_config=tune.RunConfig(storage_path=root, name=name, verbose=1 if verbose else 0,
                                      callbacks=[progress]),
        )
    started = time.monotonic()
    try:
        with _ray_tables(verbose):
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
        summary = summarise(results, task, searcher_name, searcher, path, llm=llm)
        summary.elapsed_s = time.monotonic() - started
        if uses_llm(searcher_name, llm) and searcher_name != "metallmix":
            first = None if restoring else progress.first_llm_request  # a restored run used its pickled callback
            summary.llm_note = llm_note(summary, counters=dict(getattr(searcher, "counters", {})),
                                        warmup=getattr(searcher, "warmup", None), wait_for_llm=wait_for_llm,
                                        unanswered_s=None if first is None else progress.elapsed_s - first[0],
                                        asked_after=None if first is None else first[1])
        return summary
    finally:
        if hasattr(searcher, "close"):
            searcher.close()


@contextlib.contextmanager
def _ray_tables(show: bool) -> Iterator[None]:
    """Ray Tune's own progress output (the experiment box, trial tables) only when ``show``.

    Ray 2.x's output engine prints its experiment box at every verbosity; its legacy engine, chosen by
    ``RAY_AIR_NEW_OUTPUT=0`` (as Ray's own examples of custom reporters do), prints nothing at
    ``verbose=0``. The variable is set for this run only and put back afterwards.
    """
    if show:
        yield
        return
    before = os.environ.get("RAY_AIR_NEW_OUTPUT")
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = before


def summarise(results: Any, task: Task, searcher_name: str, searcher: Any, path: str, *,
              llm: str | None = None) -> RunSummary:
    """The :class:`RunSummary` of a finished ``Tuner.fit()`` (``llm``: the LLM spec the searcher was
    given, whose usage the summary reports)."""
    frame = results.get_dataframe()
    values: list[float | None] = []
    if task.metric in frame:
        for v in frame[task.metric].tolist():
            values.append(float(v) if v is not None and math.isfinite(float(v)) else None)
    durations = [float(v) for v in frame["time_total_s"].tolist()] if "time_total_s" in frame else []
    origins = [h["origin"] for h in getattr(searcher, "history", [])]
    best_value, best_config, trials_to_best = None, None, None
    scored = [(i, v) for i, v in enumerate(values) if v is not None]
    if scored:
        pick = min if task.mode == "min" else max
        i_best, best_value = pick(scored, key=lambda iv: iv[1])
        trials_to_best = i_best + 1
        best = results.get_best_result(metric=task.metric, mode=task.mode)
        best_config = {k: v for k, v in best.config.items()}
    usage = searcher.llm_usage.summary() if uses_llm(searcher_name, llm) and hasattr(searcher, "llm_usage") else None
    stats = searcher.origin_stats() if callable(getattr(searcher, "origin_stats", None)) else None
    return RunSummary(searcher_name, len(values), best_value, best_config, trials_to_best, values, origins, usage, path,
                      durations=[d for d in durations if math.isfinite(d)], origin_stats=stats)


def llm_note(summary: RunSummary, *, counters: dict[str, int] | None = None, warmup: int | None = None,
             wait_for_llm: bool = False, unanswered_s: float | None = None,
             asked_after: int | None = None) -> str | None:
    """Why a run of an LLM searcher ran no LLM-proposed trial, from what was measured; ``None`` when
    some trial came from the LLM (or the run used no LLM).

    Args:
        summary: the run's summary (its origins, LLM usage, trial durations and wall time).
        counters: the searcher's ``counters`` (``llm_accepted``, ``llm_rejected``, ``llm_gated``...).
        warmup: trials an LLM-PSO searcher completes before its first request.
        wait_for_llm: whether ``suggest()`` waited for answers (then the advice is a faster model).
        unanswered_s: seconds from the first request to the end of the trials.
        asked_after: trials finished when the first request went out.

    Returns:
        A sentence naming the measured numbers and what to change, or ``None``.
    """
    usage = summary.llm_usage
    if usage is None or summary.origins.count("llm") > 0:
        return None
    counters = counters or {}
    trials_take = f"trials take {_seconds(_median(summary.durations))}" if summary.durations else "trial times unknown"
    faster = "a faster model (--llm openai:MODEL, or a llama.cpp/vLLM server)"
    advice = f"use {faster}" if wait_for_llm else f"use --wait-for-llm or {faster}"
    requests, succeeded, failed = (int(usage.get(k, 0) or 0) for k in ("requests", "succeeded", "failed"))
    if requests == 0:
        when = f" (it asks after {warmup} finished trials)" if warmup else ""
        return (f"the LLM was not asked in {summary.trials} trials{when}: run more trials (--trials) to let it "
                f"propose configurations")
    if succeeded == 0 and failed == 0:
        if unanswered_s is not None:
            sent = f", sent after trial {asked_after}," if asked_after else ""
            waited = (f"answers take more than {_seconds(unanswered_s)} here: its first request{sent} was unanswered "
                      f"when the trials ended")
        else:
            waited = f"no answer in the run's {_seconds(summary.elapsed_s or 0.0)}"
        return f"the LLM answered 0 times before the trials finished ({waited}; {trials_take}): {advice}"
    if succeeded == 0:
        errors = ", ".join(f"{k} x{v}" for k, v in sorted((usage.get("errors") or {}).items())) or "no error recorded"
        return (f"the LLM answered 0 of {requests} requests: {failed} failed ({errors}); check the --llm spec, "
                f"the server and its logs")
    latency = usage.get("latency_p50_s")
    took = f"answers take {_seconds(latency)} (median)" if isinstance(latency, (int, float)) else "answers came"
    accepted, rejected = int(counters.get("llm_accepted", 0)), int(counters.get("llm_rejected", 0))
    gated = int(counters.get("llm_gated", 0))
    if accepted == 0:
        return (f"the LLM answered {succeeded} times ({took}) but every proposal was rejected ({rejected} invalid "
                f"or already tried): try a stronger model (--llm openai:MODEL)")
    if gated and int(counters.get("llm_used", 0)) == 0:
        return (f"the LLM answered {succeeded} times ({took}); the surrogate gate set aside all {gated} proposals "
                f"that passed screening, since the history predicted them worse than the particles they would "
                f"replace")
    return (f"the LLM answered {succeeded} times but the trials finished before its proposals ran ({took}, "
            f"{trials_take}): {advice}")


def _seconds(x: float) -> str:
    return f"{x:.2g} s" if x < 1 else f"{x:.1f} s" if x < 100 else f"{x:.0f} s"


def _median(xs: Sequence[float]) -> float:
    data = sorted(xs)
    mid = len(data) // 2
    return data[mid] if len(data) % 2 else (data[mid - 1] + data[mid]) / 2


def best_so_far(values: Sequence[float | None], mode: str) -> list[float]:
    out, best = [], math.nan
    for v in values:
        if v is not None and (math.isnan(best) or (v < best if mode == "min" else v > best)):
            best = v
        out.append(best)
    return out


#: line styles and markers of the convergence plot's curves, in draw order (cycled beyond)
LINE_STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def coinciding_ranges(a: Sequence[float], b: Sequence[float], *, rel_tol: float = 1e-9) -> list[tuple[int, int]]:
    """The 1-based trial ranges ``(first, last)`` over which two best-so-far curves are equal
    (both undefined counts as equal), over their common length."""
    ranges: list[tuple[int, int]] = []
    start = None
    n = min(len(a), len(b))
    for i in range(n):
        x, y = a[i], b[i]
        same = (math.isnan(x) and math.isnan(y)) or (not math.isnan(x) and not math.isnan(y)
                                                      and math.isclose(x, y, rel_tol=rel_tol, abs_tol=1e-12))
        if same and start is None:
            start = i + 1
        elif not same and start is not None:
            ranges.append((start, i))
            start = None
    if start is not None:
        ranges.append((start, n))
    return ranges


def _coincidence_text(ranges: list[tuple[int, int]], n: int) -> str:
    if ranges == [(1, n)]:
        return "throughout"
    parts = [f"trial {a}" if a == b else f"trials {a}-{b}" for a, b in ranges[:3]]
    return ", ".join(parts) + (", ..." if len(ranges) > 3 else "")


def convergence_figure(summaries: Sequence[RunSummary], task: Task) -> Any:
    """Best value by trial, one curve per searcher, every curve visible where curves coincide.

    Each curve has its own line style and marker; curves drawn later are thinner and on top, with
    their markers shifted along the trials, so that a curve lying on an earlier one still shows; the
    legend says which curves coincide, and over which trials.

    Raises:
        MissingExtraError: matplotlib is not installed (extra ``train`` or ``bench``).
    """
    from raytune_llm._imports import require

    matplotlib = require("matplotlib", extra="train", feature="the convergence plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    curves = [best_so_far(s.values, task.mode) for s in summaries]
    k = max(1, len(summaries))
    for i, (s, curve) in enumerate(zip(summaries, curves)):
        label = s.searcher
        same = []
        for j in range(i):
            ranges = coinciding_ranges(curves[j], curve)
            if ranges and not all(math.isnan(v) for a, b in ranges for v in curve[a - 1:b]):
                same.append(f"= {summaries[j].searcher} {_coincidence_text(ranges, min(len(curve), len(curves[j])))}")
        if same:
            label += " (" + "; ".join(same) + ")"
        n = len(curve)
        every = max(1, n // 12)
        ax.plot(range(1, n + 1), curve, label=label, drawstyle="steps-post",
                linestyle=LINE_STYLES[i % len(LINE_STYLES)], marker=MARKERS[i % len(MARKERS)],
                markevery=(min(n - 1, (i * every) // k), every) if n else None, markersize=6 - min(i, 3),
                linewidth=max(1.0, 3.0 - 0.8 * i), zorder=2 + i, alpha=0.9)
    ax.set_xlabel("trial")
    ax.set_ylabel(f"best {task.metric}")
    ax.set_title(f"{task.name}: best {task.metric} by trial")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot(summaries: Sequence[RunSummary], task: Task, path: str | Path) -> Path | None:
    """Write :func:`convergence_figure` as a PNG; returns its path (``None`` without matplotlib)."""
    from raytune_llm.errors import MissingExtraError

    try:
        fig = convergence_figure(summaries, task)
    except MissingExtraError:
        logger.warning("matplotlib is not installed (extra 'train' or 'bench'); no plot written")
        return None
    return save_figure(fig, path, dpi=100)


def save_figure(fig: Any, path: str | Path, *, dpi: int = 110) -> Path:
    """Write a matplotlib figure as PNG (creating its folder), close it, and return the path."""
    import matplotlib.pyplot as plt

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def format_proposals(stats: dict[str, dict[str, int]] | None) -> str:
    """Per proposer (``llm``, ``model``, ``perturb``): ``accepted/proposed (improved)``, e.g.
    ``llm 2/8 (0), model 5/6 (2)``; ``-`` when none proposed."""
    parts = [f"{o} {stats[o]['accepted']}/{stats[o]['proposed']} ({stats[o]['improved']})"
             for o in ("llm", "model", "perturb") if stats and stats.get(o, {}).get("proposed")]
    return ", ".join(parts) or "-"


def format_table(summaries: Sequence[RunSummary], task: Task) -> str:
    lines = [f"| searcher | trials | best {task.metric} | reached at trial | LLM trials | LLM calls | LLM tokens "
             "| proposals accepted/made (improved the best) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in summaries:
        usage = s.llm_usage or {}
        tokens = (usage.get("prompt_tokens", 0) or 0) + (usage.get("completion_tokens", 0) or 0)
        best = "-" if s.best_value is None else f"{s.best_value:.4g}"
        lines.append(f"| {s.searcher} | {s.trials} | {best} | {s.trials_to_best or '-'} | {s.origins.count('llm')} | "
                     f"{usage.get('succeeded', '-') if usage else '-'} | {tokens if usage else '-'} | "
                     f"{format_proposals(s.origin_stats)} |")
    return "\n".join(lines)
