"""Searcher overhead per trial, and suggest() latency while the LLM is slow.

    python -m benchmarks.overhead --trials 1000 --out benchmarks/results/overhead-YYYY-MM-DD

Drives the searchers in-process (benchmarks.harness.run_searcher, concurrency 8, Rastrigin 5-D)
and reports the mean time spent in ``suggest`` + ``on_trial_complete`` per trial, and the p99 of
``suggest()``. Rows:

* ``pso``: LLMPSOSearcher(llm=None);
* ``llm-pso (LLM takes 10 s)``: LLMPSOSearcher with a scripted LLM that answers after 10 s
  (``wait_for_llm=False``, the default): what matters is that suggest() never waits for it;
* ``llm-pso (instant LLM, every answer applied)``: a scripted LLM answering at once and
  ``wait_for_llm=True``, so every answer is applied: the cost of prompt building, the worker
  round trip, screening and surrogate ranking is included;
* ``optuna``: Ray's OptunaSearch (TPE) beside it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import numpy as np

from benchmarks.functions import FUNCTIONS
from benchmarks.harness import environment_info, make_searcher, run_searcher
from raytune_llm import LLMPSOSearcher
from raytune_llm.llm.testing import ScriptedBackend


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="searcher overhead")
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--out", default=f"benchmarks/results/overhead-{dt.date.today().isoformat()}")
    args = parser.parse_args(argv)
    fn = FUNCTIONS["rastrigin"]
    slow_answer = {"configs": [{f"x{i}": 0.1 for i in range(5)}] * 4}
    rng = np.random.default_rng(0)

    def fresh_answer(messages, schema):  # new configurations every time, so none is a duplicate
        n = schema["properties"]["configs"]["minItems"]
        return {"configs": [{f"x{i}": float(v) for i, v in enumerate(rng.uniform(-5, 5, 5))} for _ in range(n)]}

    makers = {
        "pso": lambda: LLMPSOSearcher(seed=0, llm=None, telemetry=False),
        "llm-pso (LLM takes 10 s)": lambda: LLMPSOSearcher(
            seed=0, llm=ScriptedBackend([slow_answer], delay_s=10.0), telemetry=False,
            worker_options={"timeout_s": 60}),
        "llm-pso (instant LLM, every answer applied)": lambda: LLMPSOSearcher(
            seed=0, llm=ScriptedBackend([fresh_answer]), wait_for_llm=True, telemetry=False),
        "optuna": lambda: make_searcher("optuna", 0),
    }
    rows = []
    for name, make in makers.items():
        searcher = make()
        r = run_searcher(searcher, fn, 5, budget=args.trials, concurrency=8, seed=0, name=name)
        rows.append({"searcher": name, "trials": len(r.values),
                     "overhead_ms_per_trial": r.overhead_s_per_trial * 1e3,
                     "suggest_p99_ms": r.suggest_s_p99 * 1e3, "wall_s": r.wall_time_s,
                     "llm_positions_used": getattr(searcher, "counters", {}).get("llm_used", "")})
        if hasattr(searcher, "close"):
            searcher.close()
    env = environment_info()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"environment": env, "rows": rows}, indent=2))
    lines = [f"# Searcher overhead ({env['date']})", "",
             f"Machine: {env['machine']['platform']}, {env['machine']['cpu_count']} CPUs. "
             f"Rastrigin 5-D, concurrency 8, {args.trials} trials, in-process (no Ray cluster).", "",
             "| searcher | trials | overhead per trial (ms) | suggest() p99 (ms) | LLM positions used |",
             "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['searcher']} | {r['trials']} | {r['overhead_ms_per_trial']:.3f} | {r['suggest_p99_ms']:.3f} | {r['llm_positions_used']} |"
              for r in rows]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
