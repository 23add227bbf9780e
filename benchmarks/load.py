"""Load benchmark: many trials in flight, an LLM server that keeps failing, nothing lost.

    python -m benchmarks.load --trials 1000 --concurrency 32 --out benchmarks/results/load-YYYY-MM-DD

Each searcher (``LLMPSOSearcher`` and ``LLMSearcher``) asks an OpenAI-compatible LLM served by the
test suite's fault server (``tests/support/fault_server.py``), which cycles through its faults:
timeouts (a request that hangs), 500/502/503, 429 with ``Retry-After``, HTML instead of JSON, prose,
truncated and 2 MB answers, dropped connections, and valid answers (random configurations in the
answer schema). Two runs per searcher:

* in-process: ``suggest()``/``on_trial_complete()`` driven directly with ``--concurrency`` trials in
  flight, each lasting a random ``--trial-s`` seconds of real time (so the LLM's answers, failures
  and retries arrive while trials run), ``--error-rate`` of them reported as failed, ``--trials``
  trials in all;
* through Ray Tune: a ``tune.Tuner`` with ``max_concurrent_trials=--concurrency`` and
  ``--tune-trials`` trials of a trainable that sleeps as long and reports the same function.

For each run it reports the trials lost (suggested but never recorded by the searcher, or never
finished: must be 0), the exceptions (raised by ``suggest``/``on_trial_complete``, logged at ERROR
by raytune-llm, or trial errors in Tune: must be 0), the latency of ``suggest()`` (p50, p99, max; the
goal is p99 < 20 ms), the process's resident memory at the start, the middle and the end, and what
the LLM did (requests, answers, failures by kind, retries, circuit-breaker trips, proposals used).
It writes ``<out>.json`` and ``<out>.md`` and exits 1 when a trial was lost or an exception seen.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import logging
import math
import os
import shlex
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ray import tune
from ray.tune.search import Searcher

from raytune_llm import LLMPSOSearcher, LLMSearcher

#: the fault server's modes, cycled one per request (``tests/support/fault_server.py`` names them)
FAULT_CYCLE = ("ok", "500", "garbage", "slow:0.3", "429:0.2", "invalid", "ok", "hang", "truncated", "503", "drop",
               "ok", "huge", "502", "ok")
SEARCHERS = ("llm-pso", "llm")
DIM = 5
METRIC = "loss"
SUGGEST_GOAL_MS = 20.0


def space(dim: int = DIM) -> dict[str, Any]:
    """The trivial function's Tune space: ``dim`` uniform coordinates in [-5.12, 5.12]."""
    return {f"x{i}": tune.uniform(-5.12, 5.12) for i in range(dim)}


def sphere(config: dict[str, Any]) -> float:
    """The trivial function: the sum of the squared ``x*`` coordinates."""
    return float(sum(float(v) ** 2 for k, v in config.items() if k.startswith("x")))


class RandomAnswers:
    """The fault server's valid answer: random configurations that fit the request's schema
    (``{"configs": [...]}`` with exactly as many as the schema asks), seeded and thread-safe."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        fmt = body.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") or fmt.get("schema") or {}
        configs = (schema.get("properties") or {}).get("configs") or {}
        n = int(configs.get("minItems") or 1)
        props = (configs.get("items") or {}).get("properties") or {}
        with self._lock:
            return {"configs": [{name: self._value(spec) for name, spec in props.items()} for _ in range(n)]}

    def _value(self, spec: dict[str, Any]) -> Any:
        if "enum" in spec:
            return spec["enum"][int(self._rng.integers(len(spec["enum"])))]
        low, high = float(spec.get("minimum", 0.0)), float(spec.get("maximum", 1.0))
        if spec.get("type") == "integer":
            return int(self._rng.integers(int(low), int(high) + 1))
        return round(float(self._rng.uniform(low, high)), 4)


def rss_mib() -> float | None:
    """This process's resident memory in MiB (``/proc/self/status``), or ``None`` off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class ErrorLog(logging.Handler):
    """Counts the records at ERROR and above that raytune-llm's loggers emit (and keeps a few)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.count = 0
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.messages) < 5:
            self.messages.append(f"{record.name}: {record.getMessage()}"[:300])


class _TimedSuggest:
    """Records how long each ``suggest()`` took, in seconds (``suggest_s``)."""

    def __init__(self, **kwargs: Any) -> None:
        self.suggest_s: list[float] = []
        super().__init__(**kwargs)

    def suggest(self, trial_id: str) -> Any:
        start = time.perf_counter()
        try:
            return super().suggest(trial_id)
        finally:
            self.suggest_s.append(time.perf_counter() - start)


class TimedLLMPSOSearcher(_TimedSuggest, LLMPSOSearcher):
    """:class:`~raytune_llm.LLMPSOSearcher` that times its ``suggest()`` calls."""


class TimedLLMSearcher(_TimedSuggest, LLMSearcher):
    """:class:`~raytune_llm.LLMSearcher` that times its ``suggest()`` calls."""


def make_searcher(kind: str, *, url: str, seed: int, llm_timeout_s: float, log_dir: str) -> Any:
    """An LLM searcher of ``kind`` asking the fault server at ``url``, with retries and a circuit
    breaker short enough to go through several cycles of faults in one run."""
    cls = {"llm-pso": TimedLLMPSOSearcher, "llm": TimedLLMSearcher}[kind]
    return cls(llm="openai:load-test", seed=seed, llm_timeout_s=llm_timeout_s, log_dir=log_dir,
               llm_options={"base_url": url, "api_key": "load-test", "response_format": "json_schema"},
               worker_options={"backoff_s": 0.05, "backoff_max_s": 0.5, "breaker_cooldown_s": 1.0})


def _percentiles_ms(seconds: Sequence[float]) -> dict[str, float | None]:
    if not seconds:
        return {"p50": None, "p99": None, "max": None}
    ms = np.asarray(seconds) * 1000
    return {"p50": round(float(np.percentile(ms, 50)), 3), "p99": round(float(np.percentile(ms, 99)), 3),
            "max": round(float(ms.max()), 3)}


def _llm_report(searcher: Any) -> dict[str, Any]:
    usage = searcher.llm_usage.summary()
    return {"usage": {k: usage.get(k) for k in ("requests", "succeeded", "failed", "attempts", "retries", "timeouts",
                                               "invalid_answers", "breaker_trips", "errors", "latency_p50_s")},
            "counters": dict(searcher.counters), "origins": searcher.origin_counts()}


def _lost(searcher: Any, suggested: Sequence[str], finished: int) -> int:
    """Trials suggested but not in the searcher's history, plus history entries of no suggested
    trial, plus trials that never finished."""
    recorded = Counter(h["trial_id"] for h in searcher.history)
    wanted = Counter(suggested)
    return sum((wanted - recorded).values()) + sum((recorded - wanted).values()) + max(0, len(suggested) - finished)


def drive(kind: str, *, trials: int, concurrency: int, seed: int, trial_s: tuple[float, float], error_rate: float,
          url: str, llm_timeout_s: float, log_dir: str) -> dict[str, Any]:
    """The in-process run: ``trials`` trials, ``concurrency`` in flight, real time."""
    errors = ErrorLog()
    logging.getLogger("raytune_llm").addHandler(errors)
    searcher = make_searcher(kind, url=url, seed=seed, llm_timeout_s=llm_timeout_s, log_dir=log_dir)
    rng = np.random.default_rng(seed)
    exceptions: list[str] = []
    suggested: list[str] = []
    complete_s: list[float] = []
    flight: list[tuple[float, int, str, float, bool]] = []
    memory: dict[str, float | None] = {}
    finished = nones = 0
    stalled = False
    started = time.perf_counter()
    try:
        searcher.set_search_properties(METRIC, "min", space(), num_samples=trials)
        searcher.set_max_concurrency(concurrency)
        memory["start"] = rss_mib()
        while True:
            while len(flight) < concurrency and len(suggested) < trials:
                trial_id = f"t{len(suggested):05d}"
                try:
                    config = searcher.suggest(trial_id)
                except Exception as exc:  # noqa: BLE001 - counted: the benchmark's result
                    exceptions.append(f"suggest: {type(exc).__name__}: {exc}"[:300])
                    config = None
                if config is None:
                    nones += 1
                    break
                if config == Searcher.FINISHED:
                    break
                suggested.append(trial_id)
                failed = bool(rng.random() < error_rate)
                heapq.heappush(flight, (time.perf_counter() + rng.uniform(*trial_s), len(suggested), trial_id,
                                        sphere(config), failed))
            if not flight:
                if len(suggested) >= trials or nones > 1000:
                    stalled = len(suggested) < trials
                    break
                time.sleep(0.01)  # nothing in flight and no configuration: try again shortly
                continue
            due, _, trial_id, value, failed = heapq.heappop(flight)
            time.sleep(max(0.0, due - time.perf_counter()))
            t0 = time.perf_counter()
            try:
                searcher.on_trial_complete(trial_id, None if failed else {METRIC: value}, error=failed)
            except Exception as exc:  # noqa: BLE001 - counted: the benchmark's result
                exceptions.append(f"on_trial_complete: {type(exc).__name__}: {exc}"[:300])
            complete_s.append(time.perf_counter() - t0)
            finished += 1
            if finished == trials // 2:
                memory["middle"] = rss_mib()
        memory["end"] = rss_mib()
        wall = time.perf_counter() - started
        report = {"searcher": kind, "mode": "in-process", "trials": trials, "concurrency": concurrency,
                  "started": len(suggested), "finished": finished, "lost": _lost(searcher, suggested, finished),
                  "stalled": stalled, "suggest_returned_none": nones,
                  "exceptions": len(exceptions) + errors.count, "exception_messages": exceptions[:5] + errors.messages,
                  "suggest_ms": _percentiles_ms(searcher.suggest_s), "complete_ms": _percentiles_ms(complete_s),
                  "rss_mib": {k: None if v is None else round(v, 1) for k, v in memory.items()},
                  "wall_s": round(wall, 2), **_llm_report(searcher)}
    finally:
        searcher.close()
        logging.getLogger("raytune_llm").removeHandler(errors)
    return report


def _sleepy(config: dict[str, Any]) -> None:
    """A Tune trial: sleep ``_low``..``_high`` seconds (read off the configuration), report the sphere."""
    frac = math.modf(abs(float(config["x0"])) * 1000)[0]
    time.sleep(config["_low"] + (config["_high"] - config["_low"]) * frac)
    tune.report({METRIC: sphere(config)})


class MemoryAtHalf(tune.Callback):
    """Samples the driver's resident memory when half of ``trials`` have finished."""

    def __init__(self, trials: int) -> None:
        self.trials = trials
        self.done = 0
        self.middle: float | None = None

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.done += 1
        if self.done == self.trials // 2:
            self.middle = rss_mib()


def drive_tune(kind: str, *, trials: int, concurrency: int, seed: int, trial_s: tuple[float, float], url: str,
               llm_timeout_s: float, storage: str) -> dict[str, Any]:
    """The Ray Tune run (Ray must be initialised with at least ``concurrency`` CPUs)."""
    errors = ErrorLog()
    logging.getLogger("raytune_llm").addHandler(errors)
    searcher = make_searcher(kind, url=url, seed=seed, llm_timeout_s=llm_timeout_s, log_dir=storage)
    half = MemoryAtHalf(trials)
    exceptions: list[str] = []
    memory: dict[str, float | None] = {"start": rss_mib()}
    started = time.perf_counter()
    try:
        tuner = tune.Tuner(
            tune.with_resources(_sleepy, {"cpu": 1}),
            param_space={**space(), "_low": trial_s[0], "_high": trial_s[1]},
            tune_config=tune.TuneConfig(metric=METRIC, mode="min", search_alg=searcher, num_samples=trials,
                                        max_concurrent_trials=concurrency, reuse_actors=True),
            run_config=tune.RunConfig(storage_path=storage, name=f"load-{kind}", verbose=0, callbacks=[half]),
        )
        try:
            results = tuner.fit()
        except Exception as exc:  # noqa: BLE001 - counted: the benchmark's result
            exceptions.append(f"Tuner.fit: {type(exc).__name__}: {exc}"[:300])
            results = None
        memory["middle"], memory["end"] = half.middle, rss_mib()
        finished = 0 if results is None else sum(1 for r in results if r.error is None and METRIC in r.metrics)
        if results is not None:
            exceptions += [f"trial error: {r.error}"[:300] for r in results if r.error is not None]
        ran = [] if results is None else [r.metrics.get("trial_id") for r in results]  # the trials Tune ran
        report = {"searcher": kind, "mode": "ray-tune", "trials": trials, "concurrency": concurrency,
                  "started": len(ran), "finished": finished,
                  "lost": (trials - len(ran)) + _lost(searcher, ran, finished),
                  "stalled": False, "suggest_returned_none": None,
                  "exceptions": len(exceptions) + errors.count, "exception_messages": exceptions[:5] + errors.messages,
                  "suggest_ms": _percentiles_ms(searcher.suggest_s), "complete_ms": None,
                  "rss_mib": {k: None if v is None else round(v, 1) for k, v in memory.items()},
                  "wall_s": round(time.perf_counter() - started, 2), **_llm_report(searcher)}
    finally:
        searcher.close()
        logging.getLogger("raytune_llm").removeHandler(errors)
    return report


def to_markdown(runs: Sequence[dict[str, Any]]) -> str:
    """One row per run."""
    lines = ["| searcher | run | trials | in flight | lost | exceptions | suggest p50 / p99 / max (ms) | "
             "RSS start / middle / end (MiB) | LLM requests | answered | failed | retries | breaker trips | "
             "LLM trials | wall (s) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]

    def fmt(x: Any) -> str:
        return "-" if x is None else f"{x:g}" if isinstance(x, float) else str(x)

    for r in runs:
        s, m, u = r["suggest_ms"], r["rss_mib"], r["usage"]
        lines.append(f"| {r['searcher']} | {r['mode']} | {r['finished']}/{r['trials']} | {r['concurrency']} | "
                     f"{r['lost']} | {r['exceptions']} | {fmt(s['p50'])} / {fmt(s['p99'])} / {fmt(s['max'])} | "
                     f"{fmt(m.get('start'))} / {fmt(m.get('middle'))} / {fmt(m.get('end'))} | {u['requests']} | "
                     f"{u['succeeded']} | {u['failed']} | {u['retries']} | {u['breaker_trips']} | "
                     f"{r['origins'].get('llm', 0)} | {r['wall_s']} |")
    return "\n".join(lines) + "\n"


def verdict(runs: Sequence[dict[str, Any]]) -> list[str]:
    """What failed the benchmark's rules: a lost trial, an exception, a stall (empty: passed)."""
    problems = []
    for r in runs:
        name = f"{r['searcher']} ({r['mode']})"
        if r["lost"]:
            problems.append(f"{name}: {r['lost']} trial(s) lost")
        if r["exceptions"]:
            problems.append(f"{name}: {r['exceptions']} exception(s): {r['exception_messages'][:2]}")
        if r["stalled"]:
            problems.append(f"{name}: stalled after {r['started']} trials")
    return problems


def goals(runs: Sequence[dict[str, Any]]) -> list[str]:
    """How the runs fared against the goals beyond the rules: ``suggest()`` p99 under
    :data:`SUGGEST_GOAL_MS` and flat memory (end minus start)."""
    missed = [f"{r['searcher']} {r['mode']} ({r['suggest_ms']['p99']:g} ms)" for r in runs
              if r["suggest_ms"]["p99"] is not None and r["suggest_ms"]["p99"] >= SUGGEST_GOAL_MS]
    met = [f"{r['searcher']} {r['mode']}" for r in runs
           if r["suggest_ms"]["p99"] is not None and r["suggest_ms"]["p99"] < SUGGEST_GOAL_MS]
    lines = [f"suggest() p99 under {SUGGEST_GOAL_MS:g} ms: " + (", ".join(met) or "no run")
             + ("; missed by " + ", ".join(missed) if missed else "")]
    growth = [f"{r['searcher']} {r['mode']} {r['rss_mib']['end'] - r['rss_mib']['start']:+.0f} MiB" for r in runs
              if r["rss_mib"].get("start") is not None and r["rss_mib"].get("end") is not None]
    if growth:
        lines.append("resident memory, end minus start: " + ", ".join(growth))
    return lines


def _pair(parser: argparse.ArgumentParser, text: str) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        parser.error(f"--trial-s must be LOW,HIGH seconds (e.g. 0.05,0.5), got {text!r}")
    if not 0 <= low <= high:
        parser.error(f"--trial-s must have 0 <= LOW <= HIGH, got {text!r}")
    return low, high


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000, help="trials of each in-process run (default 1000)")
    parser.add_argument("--concurrency", type=int, default=32, help="trials in flight (default 32)")
    parser.add_argument("--tune-trials", type=int, default=200,
                        help="trials of each Ray Tune run (default 200; 0: no Tune run)")
    parser.add_argument("--searchers", default=",".join(SEARCHERS), help="llm-pso, llm or both (default)")
    parser.add_argument("--trial-s", default="0.05,0.5", help="a trial's duration, LOW,HIGH seconds (default 0.05,0.5)")
    parser.add_argument("--error-rate", type=float, default=0.02, help="trials reported as failed (default 0.02)")
    parser.add_argument("--llm-timeout-s", type=float, default=1.0, help="seconds one LLM attempt may take (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="result path: <out>.json and <out>.md are written")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: 0 when no trial was lost and no exception seen."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    trial_s = _pair(parser, args.trial_s)
    kinds = [k.strip() for k in args.searchers.split(",") if k.strip()]
    bad = [k for k in kinds if k not in SEARCHERS]
    if bad or not kinds:
        parser.error(f"--searchers takes {', '.join(SEARCHERS)}, got {args.searchers!r}")
    if args.trials < 1 or args.concurrency < 1 or args.tune_trials < 0:
        parser.error("--trials and --concurrency must be >= 1 and --tune-trials >= 0")
    if not 0 <= args.error_rate < 1:
        parser.error(f"--error-rate must be in [0, 1), got {args.error_rate}")
    root = str(Path(__file__).resolve().parents[1])  # the repository root, where tests/support lies
    if root not in sys.path:
        sys.path.insert(0, root)
    import openai  # noqa: F401 - imported here, not inside the first LLM attempt's timeout

    from benchmarks.harness import write_results
    from tests.support.fault_server import FaultServer

    cycle = list(itertools.islice(itertools.cycle(FAULT_CYCLE), 100_000))
    runs: list[dict[str, Any]] = []
    with FaultServer(modes=cycle, answer=RandomAnswers(args.seed)) as server, \
            tempfile.TemporaryDirectory(prefix="raytune-llm-load-") as scratch:
        for kind in kinds:
            print(f"{kind}: {args.trials} trials in process, {args.concurrency} in flight...", flush=True)
            runs.append(drive(kind, trials=args.trials, concurrency=args.concurrency, seed=args.seed, trial_s=trial_s,
                              error_rate=args.error_rate, url=server.url, llm_timeout_s=args.llm_timeout_s,
                              log_dir=os.path.join(scratch, f"telemetry-{kind}")))
        if args.tune_trials:
            import ray

            ray.init(num_cpus=max(args.concurrency, os.cpu_count() or 1), include_dashboard=False,
                     log_to_driver=False)
            try:
                for kind in kinds:
                    print(f"{kind}: {args.tune_trials} trials through Ray Tune, {args.concurrency} at a time...",
                          flush=True)
                    runs.append(drive_tune(kind, trials=args.tune_trials, concurrency=args.concurrency,
                                           seed=args.seed, trial_s=trial_s, url=server.url,
                                           llm_timeout_s=args.llm_timeout_s, storage=os.path.join(scratch, "tune")))
            finally:
                ray.shutdown()
        faults = Counter(server.applied)
    table = to_markdown(runs)
    problems = verdict(runs)
    notes = (f"The LLM is the fault server cycling {', '.join(FAULT_CYCLE)} (one mode per request; "
             f"{sum(faults.values())} requests served). A trial lasts {trial_s[0]}-{trial_s[1]} s of real time; {args.error_rate:.0%} of the "
             f"in-process trials report an error. Lost: suggested but not recorded by the searcher or never finished. "
             f"Exceptions: raised by suggest()/on_trial_complete(), logged at ERROR by raytune-llm, or trial errors. "
             f"Rules: 0 lost, 0 exceptions: "
             + ("held." if not problems else "FAILED: " + "; ".join(problems) + ".")
             + f" Goals: {'; '.join(goals(runs))}. Wall-clock latencies include whatever else the machine ran "
             f"(load average above).")
    md, js = write_results([], [], Path(args.out), command="python -m benchmarks.load " + shlex.join(argv),
                           table=table, title="Load benchmark", notes=notes,
                           extra={"load_runs": runs, "faults_served": dict(faults), "problems": problems})
    print(table)
    print("\n".join(problems) or "0 trials lost, 0 exceptions")
    print(f"wrote {md} and {js}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
