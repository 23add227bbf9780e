"""Experiment records from Ray Tune results: an experiment directory read with ``ExperimentAnalysis``.

The one part of the meta-dataset that knows Ray; :meth:`MetaStore.ingest_tune
<raytune_llm.meta.store.MetaStore.ingest_tune>` writes what :func:`tune_records` returns.
"""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path
from typing import Any

from raytune_llm._checks import finite_or_none
from raytune_llm.meta.errors import MetaDataError
from raytune_llm.meta.records import is_jsonable

logger = logging.getLogger(__name__)

SCOPES: tuple[str, ...] = ("last", "all")


def tune_records(path: str | Path, *, dataset: str, model: str, metric: str | None = None, mode: str | None = None,
                 source: str | None = None, scope: str = "last") -> list[dict[str, Any]]:
    """One experiment record per trial of a Ray Tune experiment directory.

    Reads the directory with ``ray.tune.ExperimentAnalysis`` (works for ``tune.run`` and
    ``Tuner.fit`` results). Each trial's ``config`` becomes the record's configuration
    (non-JSON values such as classes are stored as their ``str()``), ``time_total_s`` its
    ``train_time_s`` and the time of its last result its ``date``. Trials that never reported a
    finite value of the metric (errored early) are skipped with a warning.

    Args:
        path: the experiment directory (e.g. ``~/ray_results/my_run``).
        dataset: the data set the trials trained on.
        model: the model name to record.
        metric: the metric; default: the one the run was configured with, when the directory
            records it (``Tuner``), else an error asks for it.
        mode: ``"min"``/``"max"``; default: as recorded by the run.
        source: default ``"ray-tune:<path>"``.
        scope: ``"last"`` (the trial's last reported value, as Tune's ``scope="last"``) or
            ``"all"`` (its best value over all reports).

    Returns:
        The records (at least one).

    Raises:
        MetaDataError: for a path that is not a directory, a bad ``scope`` or ``mode``, a metric
            that cannot be told, or no trial with a finite value.
    """
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise MetaDataError(f"ingest_tune: {directory} is not a directory; pass a Tune experiment directory "
                            "such as ~/ray_results/<name>")
    if scope not in SCOPES:
        raise MetaDataError(f"ingest_tune: scope must be 'last' or 'all', got {scope!r}")
    metric, mode = _metric_and_mode(directory, metric, mode)
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(str(directory))
    frames = analysis.trial_dataframes if scope == "all" else {}
    records, skipped = [], 0
    for trial in analysis.trials:
        frame = frames.get(trial.trial_id)  # every reported result of the trial, keyed by trial id
        last = trial.last_result or {}
        value = last.get(metric)
        if scope == "all" and frame is not None and metric in frame:
            series = frame[metric].dropna()
            value = (series.max() if mode == "max" else series.min()) if len(series) else None
        value = finite_or_none(value)
        if value is None:
            skipped += 1
            continue
        config = {k: (v if is_jsonable(v) else str(v)) for k, v in (trial.config or {}).items()}
        stamp = last.get("timestamp")
        date = _dt.datetime.fromtimestamp(stamp, _dt.timezone.utc).isoformat() if stamp else None
        seconds = last.get("time_total_s")
        records.append({"dataset": dataset, "model": model, "config": config, "metric": metric, "mode": mode,
                        "value": value, "train_time_s": float(seconds) if seconds is not None else None,
                        "source": source or f"ray-tune:{directory}", "date": date})
    if skipped:
        logger.warning("ingest_tune: skipped %d of %d trials of %s without a finite %r", skipped,
                       len(analysis.trials), directory, metric)
    if not records:
        raise MetaDataError(f"ingest_tune: no trial of {directory} reported a finite {metric!r} "
                            f"({len(analysis.trials)} trials); check the metric name")
    return records


def _metric_and_mode(directory: Path, metric: str | None, mode: str | None) -> tuple[str, str]:
    if metric is None or mode is None:
        recorded_metric, recorded_mode = recorded_metric_and_mode(directory)
        metric = metric or recorded_metric
        mode = mode or recorded_mode
    if metric is None or mode is None:
        raise MetaDataError(
            f"ingest_tune: {directory} does not record the metric and mode of the run; pass them, "
            "e.g. ingest_tune(path, dataset=..., model=..., metric='val_loss', mode='min')")
    if mode not in ("min", "max"):
        raise MetaDataError(f"ingest_tune: mode must be 'min' or 'max', got {mode!r}")
    return metric, mode


def recorded_metric_and_mode(directory: str | Path) -> tuple[str | None, str | None]:
    """Metric and mode a Tune run recorded: ``Tuner``'s ``tuner.pkl`` (TuneConfig), else ``(None, None)``."""
    tuner_file = Path(directory) / "tuner.pkl"
    if tuner_file.is_file():
        try:
            import ray.cloudpickle as pickle

            with tuner_file.open("rb") as fh:
                state = pickle.load(fh)  # written by this user's own Tuner run
            config = state.get("_tune_config") if isinstance(state, dict) else getattr(state, "_tune_config", None)
            if config is not None:
                return getattr(config, "metric", None), getattr(config, "mode", None)
        except Exception:  # noqa: BLE001 - unreadable: ask the caller for the metric instead
            logger.debug("could not read %s", tuner_file, exc_info=True)
    return None, None
