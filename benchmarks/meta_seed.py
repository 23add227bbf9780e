"""Build MetaLLMiX's seed meta-dataset by training the project's own trainables.

Every run is a real training of ``trainables.cnn.fit_cnn`` (image classification, metric
``val_accuracy``, maximised) or of the LSTM of ``trainables.lstm`` (NO2 forecasting, metric
``val_rmse`` in µg/m³, minimised), called directly (no Ray) with configurations drawn from the
trainables' own Tune spaces (``cnn_space``/``lstm_space``) by scrambled Sobol points
(``raytune_llm.proposal_queue.SpaceFiller`` mapped through ``SearchSpace.from_unit``). The value stored is
the metric after the last epoch; ``train_time_s`` is the wall time of the whole fit (data loading
from the per-process cache included, on a shared 2-core CPU machine unless the sidecar says
otherwise).

Two phases:

1. ``run``: train and append one JSON line per run to ``--runs`` (resumable: runs already in the
   file are skipped, so an interrupted generation continues where it stopped).
2. ``build``: compute each data set's meta-features (``dataset_meta_features``), write a fresh
   :class:`~raytune_llm.meta.MetaStore` with the data sets and the runs to ``--out/seed.sqlite``
   and a sidecar ``seed.json`` (command line, date, machine, versions, per data set counts and
   times).

Usage (from the repository root)::

    python -m benchmarks.meta_seed                 # both phases, defaults below
    python -m benchmarks.meta_seed --phase build   # rebuild the store from the runs file

The LSTM variants (``aq-no2-hourly``, ``aq-no2-daily``, ``aq-bgno2-hourly``) are the trainable's
``variant`` config key (``hourly``, ``daily``, ``background``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RUNS = REPO / "benchmarks" / "results" / "meta-seed-runs.jsonl"
DEFAULT_OUT = REPO / "raytune_llm" / "meta" / "data"
SOURCE = "raytune-llm seed (benchmarks/meta_seed.py)"

logger = logging.getLogger("meta_seed")


def seed_plan() -> dict[str, dict[str, Any]]:
    """Per data set: task, model, metric/mode, the Tune space (constants included), configs to run.

    The data-set names and their fixed settings (``data_fraction``, ``max_epochs``, variant)
    come from :data:`raytune_llm.meta.features.SEED_DATASETS`, so the meta-features describe
    exactly the data the runs trained on.
    """
    from ray import tune

    from raytune_llm.meta.features import SEED_DATASETS
    from trainables.configs import cnn_space, lstm_space

    plan = {}
    for name, spec in SEED_DATASETS.items():
        fixed = {"max_epochs": spec["max_epochs"], "data_fraction": spec["data_fraction"], "seed": 0}
        if spec["task"] == "image-classification":
            space = cnn_space(spec["dataset"], **fixed)
            plan[name] = {"task": spec["task"], "model": "cnn", "metric": "val_accuracy", "mode": "max",
                          "space": space}
        else:
            space = lstm_space(**fixed)
            if spec["variant"] == "daily":  # 1,095 days: windows of up to 72 days leave ~1 validation sample
                space["lookback"] = tune.choice([3, 7, 14, 28])
            plan[name] = {"task": spec["task"], "model": "lstm", "metric": "val_rmse", "mode": "min",
                          "space": space, "variant": spec["variant"]}
    return plan


def fit_lstm_variant(config: dict[str, Any], variant: str, log_dir: str) -> float:
    """Train the trainables' LSTM on an air-quality variant; the last epoch's ``val_rmse`` (µg/m³)."""
    from trainables.lstm import fit_lstm

    trainer, _ = fit_lstm({**config, "variant": variant}, log_dir=log_dir)
    return float(trainer.callback_metrics["val_rmse"])


def run_one(name: str, entry: dict[str, Any], config: dict[str, Any]) -> tuple[float, float]:
    """Train one configuration; ``(metric value, wall seconds)``."""
    from trainables.cnn import fit_cnn

    log_dir = tempfile.mkdtemp(prefix="meta-seed-")
    try:
        start = time.perf_counter()
        if entry["model"] == "cnn":
            trainer, _ = fit_cnn(config, log_dir=log_dir)
            value = float(trainer.callback_metrics[entry["metric"]])
        else:
            value = fit_lstm_variant(config, entry["variant"], log_dir)
        return value, time.perf_counter() - start
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)


def sobol_configs(space: dict[str, Any], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` configurations of a Tune space at scrambled Sobol points (constants included)."""
    from raytune_llm.proposal_queue import SpaceFiller
    from raytune_llm.space import SearchSpace

    parsed = SearchSpace.from_tune(space)
    filler = SpaceFiller(parsed.dim, seed=seed)
    return [parsed.from_unit(filler.next()) for _ in range(n)]


def _done(runs_path: Path) -> set[tuple[str, int]]:
    if not runs_path.exists():
        return set()
    done = set()
    for line in runs_path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            done.add((row["dataset"], int(row["index"])))
    return done


def phase_run(runs_path: Path, n_configs: int, datasets: list[str] | None, seed: int) -> None:
    """Train every planned configuration not yet in ``runs_path`` and append its line."""
    plan = seed_plan()
    names = datasets or list(plan)
    unknown = sorted(set(names) - set(plan))
    if unknown:
        raise SystemExit(f"unknown data sets {unknown}; known: {sorted(plan)}")
    done = _done(runs_path)
    runs_path.parent.mkdir(parents=True, exist_ok=True)
    for name in names:
        entry = plan[name]
        for index, config in enumerate(sobol_configs(entry["space"], n_configs, seed)):
            if (name, index) in done:
                continue
            try:
                value, seconds = run_one(name, entry, config)
                error = None
            except Exception as exc:  # noqa: BLE001 - a failed run is recorded, not fatal
                value, seconds, error = float("nan"), float("nan"), f"{type(exc).__name__}: {exc}"
                logger.exception("%s #%d failed", name, index)
            row = {"dataset": name, "index": index, "task": entry["task"], "model": entry["model"],
                   "config": config, "metric": entry["metric"], "mode": entry["mode"],
                   "value": value if math.isfinite(value) else None,
                   "train_time_s": round(seconds, 3) if math.isfinite(seconds) else None,
                   "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "error": error}
            with runs_path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            logger.info("%s #%d %s=%s (%.1f s)", name, index, entry["metric"], row["value"], seconds)


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("torch", "pytorch-lightning", "numpy", "scikit-learn", "scikit-image", "mlxtend", "aqeval", "ray"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def phase_build(runs_path: Path, out_dir: Path, argv: list[str]) -> Path:
    """Write ``out_dir/seed.sqlite`` and ``seed.json``, each whole or not at all."""
    from raytune_llm._io import atomic_path, atomic_write
    from raytune_llm.meta.features import SEED_DATASETS, dataset_meta_features
    from raytune_llm.meta.store import MetaStore

    rows = [json.loads(line) for line in runs_path.read_text().splitlines() if line.strip()]
    ok = [r for r in rows if r["value"] is not None]
    failed = [r for r in rows if r["value"] is None]
    target = out_dir / "seed.sqlite"
    summary: dict[str, dict[str, Any]] = {}
    with atomic_path(target, suffix=".sqlite") as tmp, MetaStore(tmp) as store:
        for name in sorted({r["dataset"] for r in ok}):
            store.add_dataset(name, SEED_DATASETS[name]["task"], dataset_meta_features(name))
        store.add_experiments(
            {"dataset": r["dataset"], "model": r["model"], "config": r["config"], "metric": r["metric"],
             "mode": r["mode"], "value": r["value"], "train_time_s": r["train_time_s"], "source": SOURCE,
             "date": r["date"]} for r in ok)
        for name, group in store.experiments().groupby("dataset"):
            summary[name] = {"runs": int(len(group)), "metric": group["metric"].iloc[0],
                             "best": float(group["value"].max() if group["mode"].iloc[0] == "max"
                                           else group["value"].min()),
                             "worst": float(group["value"].min() if group["mode"].iloc[0] == "max"
                                            else group["value"].max()),
                             "train_time_s_total": round(float(group["train_time_s"].sum()), 1)}
    times = [r["train_time_s"] for r in ok]
    sidecar = {
        "command": "python -m benchmarks.meta_seed " + " ".join(argv),
        "run_command": (f"python -m benchmarks.meta_seed --phase run --configs {1 + max(r['index'] for r in rows)}"
                        if rows else None),
        "note": ("train_time_s is the wall time of each fit on the machine below, measured while other jobs "
                 "shared its cores: honest but noisy"),
        "built": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "runs_dates": [min(r["date"] for r in rows), max(r["date"] for r in rows)] if rows else None,
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "gpu": _gpu()},
        "versions": _versions(),
        "runs": len(ok), "failed_runs": [{k: r[k] for k in ("dataset", "index", "error")} for r in failed],
        "train_time_s_total": round(sum(times), 1),
        "datasets": summary,
        "settings": {name: {k: v for k, v in spec.items()} for name, spec in SEED_DATASETS.items()},
    }
    atomic_write(out_dir / "seed.json", json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
    return target


def _gpu() -> str:
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU)"
    except ImportError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=["all", "run", "build"], default="all")
    parser.add_argument("--configs", type=int, default=14, help="Sobol configurations per data set")
    parser.add_argument("--datasets", nargs="*", default=None, help="subset of the seed data sets (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="Sobol scrambling seed")
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="JSON-lines file of the runs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory of seed.sqlite and seed.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    if args.phase in ("all", "run"):
        phase_run(args.runs, args.configs, args.datasets, args.seed)
    if args.phase in ("all", "build"):
        path = phase_build(args.runs, args.out, argv)
        print(f"wrote {path} and {path.with_name('seed.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
