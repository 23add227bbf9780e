"""Searcher overhead per trial at several history sizes, and suggest() latency while the LLM is slow.

    python -m benchmarks.overhead --trials 100,1000,5000 --out benchmarks/results/overhead-YYYY-MM-DD

Drives the searchers in-process (benchmarks.harness.run_searcher, concurrency 8, Rastrigin 5-D)
and reports, for each number of trials, the mean time spent in ``suggest`` + ``on_trial_complete``
per trial, and the p50 and p99 of ``suggest()``. Rows:

* ``pso``: LLMPSOSearcher(llm=None, surrogate=None), plain asynchronous PSO;
* ``pso-gp``: LLMPSOSearcher(llm=None) with the surrogate's settings of 2026-12-06 (``surrogate="gp"``:
  screened moves, pending trials as fantasies, model-based and perturbation proposals; hyperparameter
  refits run in ``on_trial_complete``, so they count in the overhead per trial but not in ``suggest()``);
* ``pso-gp-hedge-c32``: ``pso-gp`` with GP-Hedge and 32 screened candidate moves; ``pso-gp-hedge-c32-autowarp``:
  LLMPSOSearcher(llm=None)'s defaults since 2026-12-07 (that and the GP's warp chosen by its likelihood), as
  ``benchmarks.searchers`` pins them;
* ``llm-pso (LLM takes 10 s)``: LLMPSOSearcher (its defaults when the file was written) with a scripted LLM
  that answers after 10 s
  (``wait_for_llm=False``, the default): what matters is that suggest() never waits for it;
* ``llm-pso (instant LLM, every answer screened and gated)``: a scripted LLM answering at once
  and ``wait_for_llm=True``, so every answer is processed: the cost of prompt building, the
  worker round trip, screening, surrogate ranking and the surrogate gate (LLMPSOSearcher's
  defaults) is included (the committed results before 2026-11-26 ran without the gate, then
  labelled "every answer applied");
* ``sobol``: LLMSearcher(llm=None);
* ``llm (instant LLM, every answer applied)``: LLMSearcher as ``benchmarks.searchers`` runs it
  (a request per 4 trials, waited for) with the instant scripted LLM: the history prompt's cost;
* the peers beside them, as the other benchmarks build them (:data:`benchmarks.harness.BASELINES`):
  ``optuna`` (Ray's OptunaSearch, TPE), ``hyperopt`` (HyperOptSearch, TPE), ``nevergrad-pso`` and
  ``nevergrad-cma`` (NevergradSearch), ``random``. ``--peer-max-trials N`` caps the peers' runs at
  N trials (the table then says so), since the cost per trial of a model-based search grows with
  the history.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from ray.tune.search import Searcher

from benchmarks.functions import FUNCTIONS
from benchmarks.harness import BASELINES, close_searcher, make_searcher, run_searcher, warm_up, write_results
from benchmarks.searchers import llm_history
from raytune_llm import LLMPSOSearcher, LLMSearcher
from raytune_llm.llm.testing import ScriptedBackend

DIM = 5
CONCURRENCY = 8


#: Row key -> label in the table (see the module docstring).
ROWS = {
    "pso": "pso",
    "pso-gp": "pso-gp",
    "pso-gp-hedge-c32": "pso-gp-hedge-c32",
    "pso-gp-hedge-c32-autowarp": "pso-gp-hedge-c32-autowarp",
    "llm-pso-slow": "llm-pso (LLM takes 10 s)",
    "llm-pso-instant": "llm-pso (instant LLM, every answer screened and gated)",
    "sobol": "sobol",
    "llm-instant": "llm (instant LLM, every answer applied)",
    **{peer: peer for peer in BASELINES},
}


def makers(rng: np.random.Generator) -> dict[str, Callable[[], Searcher]]:
    """The measured searchers by row key (see :data:`ROWS`)."""
    slow_answer = {"configs": [{f"x{i}": 0.1 for i in range(DIM)}] * 4}

    def fresh_answer(messages: Any, schema: dict[str, Any]) -> dict[str, Any]:
        # new configurations every time, so none is a duplicate
        n = schema["properties"]["configs"]["minItems"]
        return {"configs": [{f"x{i}": float(v) for i, v in enumerate(rng.uniform(-5, 5, DIM))} for _ in range(n)]}

    return {
        "pso": lambda: LLMPSOSearcher(seed=0, llm=None, surrogate=None, telemetry=False),
        **{name: (lambda name=name: make_searcher(name, 0))
           for name in ("pso-gp", "pso-gp-hedge-c32", "pso-gp-hedge-c32-autowarp")},
        "llm-pso-slow": lambda: LLMPSOSearcher(
            seed=0, llm=ScriptedBackend([slow_answer], delay_s=10.0), telemetry=False,
            llm_timeout_s=60),
        "llm-pso-instant": lambda: LLMPSOSearcher(
            seed=0, llm=ScriptedBackend([fresh_answer]), wait_for_llm=True, telemetry=False),
        "sobol": lambda: LLMSearcher(seed=0, llm=None, telemetry=False),
        "llm-instant": lambda: llm_history(0, llm=ScriptedBackend([fresh_answer])),
        **{peer: (lambda peer=peer: make_searcher(peer, 0)) for peer in BASELINES},
    }


def timed(searcher: Searcher) -> list[float]:
    """Record the seconds of each of ``searcher``'s ``suggest()`` calls in the returned list (the
    harness keeps only their mean and p99)."""
    times: list[float] = []
    suggest = searcher.suggest

    def timed_suggest(trial_id: str) -> Any:
        t0 = time.perf_counter()
        try:
            return suggest(trial_id)
        finally:
            times.append(time.perf_counter() - t0)

    searcher.suggest = timed_suggest  # type: ignore[method-assign]
    return times


def to_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The overhead table, newline-terminated."""
    lines = ["| searcher | trials asked | trials run | overhead per trial (ms) | suggest() p50 (ms) "
             "| suggest() p99 (ms) | run wall time (s) | LLM positions used |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        run = f"{r['trials']}" + (f" (capped at {r['trials']}: --peer-max-trials)" if r["capped"] else "")
        lines.append(f"| {r['searcher']} | {r['requested_trials']} | {run} | {r['overhead_ms_per_trial']:.3f} "
                     f"| {r.get('suggest_p50_ms', math.nan):.3f}"
                     f" | {r['suggest_p99_ms']:.3f} | {r['wall_s']:.2f} | {r['llm_positions_used']} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overhead", description="searcher overhead")
    parser.add_argument("--trials", default="100,1000,5000", help="comma-separated trial counts")
    parser.add_argument("--searchers", default=",".join(ROWS), help=f"comma-separated row keys, of {list(ROWS)}")
    parser.add_argument("--peer-max-trials", type=int, default=None,
                        help="run the peers (Optuna, HyperOpt, Nevergrad, random) for at most this many trials "
                             "(a model-based search's cost grows with the history)")
    parser.add_argument("--out", default=f"benchmarks/results/overhead-{dt.date.today().isoformat()}")
    args = parser.parse_args(argv)
    try:
        sizes = [int(t) for t in args.trials.split(",") if t.strip()]
    except ValueError:
        parser.error(f"--trials must be comma-separated integers, got {args.trials!r}")
    if not sizes or min(sizes) < 1:
        parser.error(f"--trials needs positive integers, got {args.trials!r}")
    table_makers = makers(np.random.default_rng(0))
    names = [n.strip() for n in args.searchers.split(",") if n.strip()]
    unknown = [n for n in names if n not in table_makers]
    if unknown or not names:
        parser.error(f"unknown searcher(s) {unknown}; choose from {list(ROWS)}")
    for name in names:
        if name in BASELINES:
            warm_up(name)  # lazy imports and compilation are not overhead
    fn = FUNCTIONS["rastrigin"]
    rows = []
    for size in sizes:
        for name in names:
            budget = size
            if name in BASELINES and args.peer_max_trials is not None:
                budget = min(size, args.peer_max_trials)
            searcher = table_makers[name]()
            suggest_times = timed(searcher)
            r = run_searcher(searcher, fn, DIM, budget=budget, concurrency=CONCURRENCY, seed=0, name=name)
            rows.append({"searcher": ROWS[name], "key": name, "requested_trials": size, "trials": len(r.values),
                         "capped": budget < size, "overhead_ms_per_trial": r.overhead_s_per_trial * 1e3,
                         "suggest_p50_ms": float(np.percentile(suggest_times, 50)) * 1e3,
                         "suggest_p99_ms": r.suggest_s_p99 * 1e3, "wall_s": r.wall_time_s,
                         "llm_positions_used": getattr(searcher, "counters", {}).get("llm_used", "")})
            print(rows[-1], flush=True)
            close_searcher(searcher)
    notes = (f"Rastrigin {DIM}-D, concurrency {CONCURRENCY}, in-process (no Ray cluster): the mean wall time of "
             "`suggest` + `on_trial_complete` per trial over the whole run, and the p50 and p99 of one `suggest()` "
             "call. "
             "Wall times on a shared machine: compare rows of one file, not across machines.")
    table = to_markdown(rows)
    md_path, json_path = write_results(rows, [], args.out, command="python -m benchmarks.overhead " + shlex.join(argv),
                                       table=table, title="Searcher overhead", notes=notes)
    print(table, end="")
    print(f"wrote {md_path} and {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
