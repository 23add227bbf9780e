"""Per-trial wall time and peak memory of each trainable, and trials/minute with reuse_actors on/off.

    python -m benchmarks.trainables_bench --trials 6 --out benchmarks/results/trainables-YYYY-MM-DD

Each trainable runs ``--trials`` trials of its default configuration (``lstm``: 3 epochs on the
full air-quality series; ``cnn``: 3 epochs on texture patches; ``rastrigin``: 5-D) through
``tune.Tuner`` with 1 CPU per trial and 2 trials at a time. Wall time per trial is Tune's
``time_total_s``; peak memory is the largest resident set size of the worker process seen at
any report: ``VmHWM`` (the kernel's peak RSS) of the ``pid`` Tune attaches to every result, read
from ``/proc`` on the driver (Linux; with reuse_actors the process serves several trials).
Throughput is trials completed per minute of experiment wall time, with ``reuse_actors`` on and off.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune import Callback

from benchmarks.harness import environment_info


class PeakMemory(Callback):
    """Largest worker RSS (MB) seen per trial."""

    def __init__(self) -> None:
        self.peak: dict[str, float] = {}

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        try:
            with open(f"/proc/{int(result['pid'])}/status", encoding="ascii") as f:
                line = next(x for x in f if x.startswith("VmHWM:"))
        except (KeyError, OSError, StopIteration, ValueError):
            return
        rss = int(line.split()[1]) / 1024  # kB -> MB
        self.peak[trial.trial_id] = max(self.peak.get(trial.trial_id, 0.0), rss)


def tasks() -> dict[str, tuple[Any, dict[str, Any]]]:
    from trainables import cnn_space, lstm_space, rastrigin, rastrigin_space, train_cnn, train_lstm

    def fixed(space: dict[str, Any]) -> dict[str, Any]:  # the default configuration: no search
        return {k: v for k, v in space.items() if not hasattr(v, "sample")}

    return {
        "rastrigin": (rastrigin, {f"x{i}": 0.5 for i in range(5)}),
        "lstm": (train_lstm, fixed(lstm_space(max_epochs=3))),
        "cnn": (train_cnn, fixed(cnn_space("textures", max_epochs=3))),
    }


def run(name: str, trainable: Any, config: dict[str, Any], trials: int, reuse: bool, storage: str) -> dict[str, Any]:
    memory = PeakMemory()
    start = time.perf_counter()
    results = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}), param_space=config,
        tune_config=tune.TuneConfig(num_samples=trials, max_concurrent_trials=2, reuse_actors=reuse),
        run_config=tune.RunConfig(storage_path=storage, name=f"{name}-{'reuse' if reuse else 'fresh'}", verbose=0,
                                  callbacks=[memory]),
    ).fit()
    wall = time.perf_counter() - start
    times = [r.metrics.get("time_total_s", float("nan")) for r in results]
    return {"task": name, "reuse_actors": reuse, "trials": len(results), "errors": len(results.errors),
            "time_per_trial_s_median": statistics.median(times),
            "peak_rss_mb_max": max(memory.peak.values()) if memory.peak else None,
            "trials_per_min": len(results) / wall * 60, "wall_s": wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="trainables benchmark")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--tasks", default="rastrigin,lstm,cnn")
    parser.add_argument("--out", default=f"benchmarks/results/trainables-{dt.date.today().isoformat()}")
    args = parser.parse_args(argv)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": here}})
    rows = []
    with tempfile.TemporaryDirectory() as storage:
        for name, (trainable, config) in tasks().items():
            if name not in args.tasks.split(","):
                continue
            for reuse in (True, False):
                rows.append(run(name, trainable, config, args.trials, reuse, storage))
                print(json.dumps(rows[-1]), flush=True)
    ray.shutdown()
    env = environment_info()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    out.with_suffix(".json").write_text(json.dumps({"environment": env, "load_average_1_5_15": load, "rows": rows},
                                                   indent=2))
    lines = [f"# Trainables: wall time, memory, throughput ({env['date']})", "",
             f"Machine: {env['machine']['platform']}, {env['machine']['cpu_count']} CPUs, no GPU. "
             f"{args.trials} trials of each default configuration, 1 CPU per trial, 2 at a time; load average "
             f"{load[0]:.1f} at the end (other jobs ran beside it).", "",
             "| task | reuse_actors | trials | time per trial (median, s) | peak worker RSS (MB) | trials/min |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['task']} | {r['reuse_actors']} | {r['trials']} | {r['time_per_trial_s_median']:.2f} | "
              f"{r['peak_rss_mb_max'] or 0:.0f} | {r['trials_per_min']:.1f} |" for r in rows]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
