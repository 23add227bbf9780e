"""Plain asynchronous PSO against the surrogate-screened, categorical-aware swarm, and Optuna's TPE.

    python -m benchmarks.swarm_ablation --out benchmarks/results/swarm-ablation-2026-12-06.json

In-process, no Ray: 100 evaluations per run with 4 in flight (ask until 4 are pending, then tell
one of them chosen at random), on shifted test functions of :mod:`benchmarks.functions` in 2-D,
5-D and 10-D and on the mixed problem of :mod:`benchmarks.surrogate_fit` (continuous, integer and
categorical coordinates). Methods:

* ``pso``: :class:`~raytune_llm.pso.AsyncPSO` as LLMPSOSearcher(llm=None) runs it today (8
  particles, every coordinate a float; the cost function reads categories and integers from the
  float's cell, as the search space does);
* ``pso-screened``: the same swarm with the move options: ``kinds`` (integers on their grid,
  categories as probability vectors), ``screen`` (a :class:`~raytune_llm.surrogate.SurrogateScreen`:
  GP, minus log EI, pending trials as kriging-believer fantasies; 8 candidate moves) and
  ``stagnation=16`` (trust-region restarts);
* ``pso-screened-only``: ``kinds`` and ``screen`` without the trust region (to attribute the gain);
* ``tpe``: ``optuna.samplers.TPESampler(seed=...)`` with its defaults (as Ray's OptunaSearch uses
  it), through Optuna's ask/tell: floats in [0, 1], integers and categories as Optuna's own.

Reports the median best cost (regret: every optimum is 0) at 25, 50 and 100 evaluations, sign
counts per problem (the seeds where one method ends strictly below the other), and the
evaluations each method's median curve (the median over seeds of the best so far) needs to reach
the plain swarm's final median.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.surrogate_fit import MIXED, Problem, function_problem
from raytune_llm._io import atomic_write
from raytune_llm.pso import AsyncPSO
from raytune_llm.surrogate import SurrogateScreen, normalize_kinds

PROBLEMS = [function_problem("levy", 2), function_problem("rosenbrock", 2), function_problem("ackley", 5),
            function_problem("rastrigin", 5), function_problem("rosenbrock", 5), function_problem("levy", 10),
            function_problem("styblinski_tang", 10), MIXED]
METHODS = ("pso", "pso-screened", "pso-screened-only", "tpe")
BUDGET, IN_FLIGHT, SWARM = 100, 4, 8
CHECKPOINTS = (25, 50, 100)


def run_pso(problem: Problem, seed: int, *, screened: bool, stagnation: int | None) -> list[float]:
    """Costs in evaluation order."""
    screen = SurrogateScreen(problem.dim, kinds=problem.kinds, seed=seed) if screened else None
    options: dict[str, Any] = {"kinds": problem.kinds, "screen": screen, "stagnation": stagnation} if screened else {}
    pso = AsyncPSO(problem.dim, swarm_size=SWARM, seed=seed, horizon=BUDGET, **options)
    order = np.random.default_rng([seed, 99])
    pending, values, asked = [], [], 0
    while len(values) < BUDGET:
        while len(pending) < IN_FLIGHT and asked < BUDGET:
            p = pso.ask()
            if screen is not None:
                screen.add_pending(p.id, p.x)
            pending.append(p)
            asked += 1
        p = pending.pop(int(order.integers(len(pending))))
        value = problem.cost(p.x)
        pso.tell(p.id, value)
        if screen is not None:
            screen.observe(p.x, value, key=p.id)
        values.append(value)
    return values


def run_tpe(problem: Problem, seed: int) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    kinds = normalize_kinds(problem.kinds, problem.dim)
    order = np.random.default_rng([seed, 99])

    def ask() -> tuple[Any, np.ndarray]:
        trial = study.ask()
        x = np.empty(problem.dim)
        for j, k in enumerate(kinds):
            if k == "cont":
                x[j] = trial.suggest_float(f"x{j}", 0.0, 1.0)
            elif k[0] == "int":
                x[j] = k[1][trial.suggest_int(f"x{j}", 0, len(k[1]) - 1)]
            else:
                x[j] = (trial.suggest_categorical(f"x{j}", list(range(k[1]))) + 0.5) / k[1]
        return trial, x

    pending, values, asked = [], [], 0
    while len(values) < BUDGET:
        while len(pending) < IN_FLIGHT and asked < BUDGET:
            pending.append(ask())
            asked += 1
        trial, x = pending.pop(int(order.integers(len(pending))))
        value = problem.cost(x)
        study.tell(trial, value)
        values.append(value)
    return values


def run(problem: Problem, method: str, seed: int) -> list[float]:
    if method == "tpe":
        return run_tpe(problem, seed)
    return run_pso(problem, seed, screened=method != "pso", stagnation=16 if method == "pso-screened" else None)


def best_so_far(values: Sequence[float]) -> list[float]:
    """The best cost after each evaluation (6 significant digits, to keep the result file small)."""
    return [float(f"{v:.6g}") for v in np.minimum.accumulate(np.asarray(values, dtype=float))]


def summarise(curves: dict[str, list[list[float]]]) -> dict[str, Any]:
    out: dict[str, Any] = {"median": {m: {str(c): float(np.median([cv[c - 1] for cv in curves[m]]))
                                          for c in CHECKPOINTS} for m in curves}}
    signs = {}
    for a, b in (("pso-screened", "pso"), ("pso-screened", "tpe"), ("pso-screened-only", "pso"),
                 ("pso", "tpe"), ("pso-screened", "pso-screened-only")):
        if a in curves and b in curves:
            fa, fb = [cv[-1] for cv in curves[a]], [cv[-1] for cv in curves[b]]
            signs[f"{a} vs {b}"] = {"below": int(sum(x < y for x, y in zip(fa, fb))),
                                    "above": int(sum(x > y for x, y in zip(fa, fb))),
                                    "ties": int(sum(x == y for x, y in zip(fa, fb)))}
    out["signs"] = signs
    if "pso" in curves:
        target = float(np.median([cv[-1] for cv in curves["pso"]]))
        reach = {}
        for m in curves:
            median_curve = np.median(np.array(curves[m]), axis=0)
            hit = np.nonzero(median_curve <= target)[0]
            reach[m] = int(hit[0]) + 1 if len(hit) else None
        out["evals_to_pso_final_median"] = reach
    return out


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.swarm_ablation", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="JSON file to write (a .md table is written beside it)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--problems", default=",".join(p.name for p in PROBLEMS))
    parser.add_argument("--machine", default="2-core CPU dev machine")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    methods = args.methods.split(",")
    problems = [p for p in PROBLEMS if p.name in args.problems.split(",")]
    started = time.perf_counter()
    results = []
    with threadpool_limits(1):
        for problem in problems:
            curves: dict[str, list[list[float]]] = {}
            seconds: dict[str, float] = {}
            for method in methods:
                t0 = time.perf_counter()
                curves[method] = [best_so_far(run(problem, method, seed)) for seed in range(args.seeds)]
                seconds[method] = (time.perf_counter() - t0) / args.seeds
            summary = summarise(curves)
            results.append({"problem": problem.name, "dim": problem.dim, "seconds_per_run": seconds,
                            **summary, "curves": curves})
            print(problem.name, json.dumps({m: summary["median"][m][str(BUDGET)] for m in methods}),
                  json.dumps(summary["signs"]), flush=True)
    result = {"benchmark": "swarm-ablation", "date": dt.date.today().isoformat(), "machine": args.machine,
              "command": "python -m benchmarks.swarm_ablation " + shlex.join(argv), "seeds": args.seeds,
              "budget": BUDGET, "in_flight": IN_FLIGHT, "swarm_size": SWARM,
              "wall_seconds": round(time.perf_counter() - started, 1), "problems": results}
    atomic_write(args.out, json.dumps(result, separators=(",", ":")))
    md = args.out[:-5] + ".md" if args.out.endswith(".json") else args.out + ".md"
    atomic_write(md, render(result))
    print(f"wrote {args.out} and {md} in {result['wall_seconds']} s")
    return 0


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def render(result: dict[str, Any]) -> str:
    rows = result["problems"]
    methods = list(rows[0]["median"])
    lines = [f"# Swarm ablation ({result['date']}, {result['machine']})", "",
             f"`{result['command']}`: {result['seeds']} seeds, {result['budget']} evaluations, "
             f"{result['in_flight']} in flight (told in random order), swarm of {result['swarm_size']}; "
             f"{result['wall_seconds']} s in all. Optimum 0 everywhere: the values are regrets.", "",
             "Median best cost at 25 / 50 / 100 evaluations:", "",
             "| problem | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for r in rows:
        lines.append(f"| {r['problem']} | " + " | ".join(
            " / ".join(_fmt(r["median"][m][str(c)]) for c in CHECKPOINTS) for m in methods) + " |")
    pairs = list(rows[0]["signs"])
    lines += ["", "Sign counts at 100 evaluations (seeds where the first ends strictly below the second, above, "
                  "ties), per problem and summed:", "", "| problem | " + " | ".join(pairs) + " |",
              "|---|" + "---|" * len(pairs)]
    for r in rows:
        lines.append(f"| {r['problem']} | " + " | ".join(
            f"{r['signs'][p]['below']}-{r['signs'][p]['above']}-{r['signs'][p]['ties']}" for p in pairs) + " |")
    total = {p: [sum(r["signs"][p][k] for r in rows) for k in ("below", "above", "ties")] for p in pairs}
    lines.append("| all | " + " | ".join(f"{t[0]}-{t[1]}-{t[2]} (p={_sign_p(t[0], t[1]):.2g})"
                                          for t in total.values()) + " |")
    if "evals_to_pso_final_median" in rows[0]:
        lines += ["", "Evaluations until the median best-so-far curve (over seeds) reaches the plain swarm's final "
                      "median (- : not within the budget):",
                  "", "| problem | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for r in rows:
            lines.append(f"| {r['problem']} | " + " | ".join(
                _fmt(r["evals_to_pso_final_median"][m]) for m in methods) + " |")
    lines += ["", "Wall seconds per run (the method and the cost function; a shared machine):", "",
              "| problem | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for r in rows:
        lines.append(f"| {r['problem']} | " + " | ".join(f"{r['seconds_per_run'][m]:.2f}" for m in methods) + " |")
    return "\n".join(lines) + "\n"


def _sign_p(below: int, above: int) -> float:
    """Two-sided sign test p-value (ties dropped)."""
    from scipy.stats import binomtest

    n = below + above
    return 1.0 if n == 0 else float(binomtest(below, n, 0.5).pvalue)


if __name__ == "__main__":
    raise SystemExit(main())
