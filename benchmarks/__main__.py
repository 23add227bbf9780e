"""One entry point for every benchmark: ``python -m benchmarks PART [--quick] [--out DIR] [OPTIONS]``.

Parts (each delegates to its module, whose own options can follow and override the defaults):

* ``functions``: sample efficiency on test functions, simulated clock (:mod:`benchmarks.harness`):
  Rastrigin, Ackley, Rosenbrock, Griewank in 2, 5 and 10 dimensions, concurrency 1 and 8, 10
  seeds, 100 trials; every peer (Optuna TPE, HyperOpt, Nevergrad PSO and CMA, random) and every
  raytune-llm searcher with the embedded model (``llm-pso-gated-reset``, LLMPSOSearcher's
  defaults; ``llm``) and without (``pso``, ``sobol``), and ``pso-random-configs-gated-reset`` (the
  same pipeline fed random configurations: the control that tells the model's contribution from
  the pipeline's); trace plots. The committed results up to and including 2026-11-26, but for
  ``llm-pso-gated-reset-*``, ran ``llm-pso`` (the searcher without its ``surrogate_gate`` and
  ``reset_injected_velocity``, the defaults until then).
* ``tasks``: the LSTM and CNN trainables through Ray Tune, same searchers plus MetaLLMiX (embedded
  model and meta-learner alone, from the seed meta-dataset without the task's data set and the
  data sets derived from the same data), 3 seeds, best value at 10, 20 and 40 trials and
  trials-to-target (:mod:`benchmarks.tasks`). Two runs: the CNN on MNIST at 14x14
  (``tasks-cnn-DATE``) and the LSTM at the ``make demo`` size, 2 epochs on half the series
  (``tasks-lstm-DATE``).
* ``overhead``: searcher overhead per trial at 100, 1,000 and 5,000 trials
  (:mod:`benchmarks.overhead`).
* ``utilisation``: 32 simulated slots, heavy-tailed durations, asynchronous against
  generation-synchronous PSO (:mod:`benchmarks.utilisation`).
* ``llm-cost``: prompt tokens as the history grows to 1,000 trials, tokens per trial of the
  committed LLM runs (:mod:`benchmarks.llm_cost`).
* ``metallmix-loo``: MetaLLMiX zero-shot, leave one data set (and its siblings) out of the seed
  meta-dataset: the recommendation (embedded model, and the meta-learner alone) against the best
  of 20 and 50 random trainings, in metric and in time (:mod:`benchmarks.metallmix_bench`; every
  training is kept in ``<stem>-runs.jsonl`` and reused on a rerun).
* ``llm-rank-probe``: can the model pick the best of 8 untried candidates, against chance and the
  kernel surrogate (:mod:`benchmarks.llm_rank_probe`); ``--quick`` uses a scripted test double.
* ``llm-proposal-probe``: do the model's answers to the searchers' prompts beat the best so far
  more often than random, near-best and model-based proposals (:mod:`benchmarks.llm_proposal_probe`).
* ``load``: 1,000 trials, 32 in flight, against an LLM server that cycles its faults, in process and
  through Ray Tune: trials lost, exceptions, ``suggest()`` latency, memory (:mod:`benchmarks.load`).
* ``all``: every part above, in that order (extra options are not allowed).
* ``report``: not a benchmark: regenerates ``docs/results.md`` from the result files
  (:mod:`benchmarks.report`; ``report --check`` only says whether the page is stale).

Results go to ``DIR/<part>-<date>.{md,json,png}`` (default DIR ``benchmarks/results``), each with
the date, machine, versions and the exact command. ``--quick`` runs a tiny budget of each part
(what the test suite runs; the file names get a ``-quick`` suffix so that they never replace
real results); ``functions --quick`` leaves out the two searchers that call the embedded
model. ``raytune-llm bench ...`` forwards here.

Example::

    python -m benchmarks utilisation --quick --out /tmp/bench
    python -m benchmarks functions --seeds 3 --searchers pso,optuna   # options of the harness
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

# benchmarks.harness.BASELINES, not imported here: the harness pulls in Ray
PEER_NAMES = "optuna,hyperopt,nevergrad-pso,nevergrad-cma,random"
# llm-pso-gated-reset is LLMPSOSearcher's defaults (benchmarks.searchers pins every name's options)
OWN_NAMES = "llm-pso-gated-reset,pso,llm,sobol"
PARTS = ("functions", "tasks", "overhead", "utilisation", "llm-cost", "metallmix-loo", "llm-rank-probe", "llm-proposal-probe",
         "load")
#: commands that are not benchmarks: name -> module whose ``main(argv)`` gets the rest of the command line
TOOLS = {"report": "benchmarks.report", "gpu-check": "benchmarks.gpu_check"}


def _functions(stem: str, quick: bool) -> list[tuple[str, list[str]]]:
    if quick:
        args = ["--functions", "rastrigin", "--dims", "2", "--concurrency", "1,2", "--seeds", "2",
                "--budget", "8", "--searchers", f"{PEER_NAMES},pso,sobol"]
    else:
        args = ["--functions", "rastrigin,ackley,rosenbrock,griewank", "--dims", "2,5,10", "--concurrency", "1,8",
                "--seeds", "10", "--budget", "100", "--searchers", f"{PEER_NAMES},{OWN_NAMES},pso-random-configs-gated-reset"]
    return [("benchmarks.harness", ["--import", "benchmarks.searchers", *args, "--plot", "--out", stem])]


def _tasks(stem: str, quick: bool) -> list[tuple[str, list[str]]]:
    if quick:
        return [("benchmarks.tasks", ["--quick", "--out", stem])]
    common = ["--seeds", "3", "--trials", "40", "--budgets", "10,20,40",
              "--searchers", f"{PEER_NAMES},{OWN_NAMES},metallmix,metallmix-meta"]
    path = Path(stem)
    # the CNN on MNIST at 14x14 (textures reaches 100% in a few trials); the LSTM at the `make demo`
    # size (a full-data LSTM trial takes minutes on a CPU); one output stem each: tasks-cnn-DATE...
    return [("benchmarks.tasks", ["--tasks", "cnn", "--dataset", "mnist-lowres", *common, "--out",
                                  str(path.with_name(path.name.replace("tasks-", "tasks-cnn-", 1)))]),
            ("benchmarks.tasks", ["--tasks", "lstm", "--max-epochs", "2", "--data-fraction", "0.5", *common, "--out",
                                  str(path.with_name(path.name.replace("tasks-", "tasks-lstm-", 1)))])]


def _overhead(stem: str, quick: bool) -> list[tuple[str, list[str]]]:
    return [("benchmarks.overhead", ["--trials", "20,40" if quick else "100,1000,5000", "--out", stem])]


def _utilisation(stem: str, quick: bool) -> list[tuple[str, list[str]]]:
    if quick:
        return [("benchmarks.utilisation", ["--slots", "4", "--budget", "16", "--seeds", "2", "--out", stem])]
    return [("benchmarks.utilisation", ["--slots", "32", "--budget", "320", "--seeds", "10",
                                        "--durations", "lognormal,pareto", "--out", stem])]


def _llm_cost(stem: str, quick: bool) -> list[tuple[str, list[str]]]:
    if quick:
        return [("benchmarks.llm_cost", ["--trials", "24", "--dims", "2", "--out", stem])]
    return [("benchmarks.llm_cost", ["--trials", "1000", "--dims", "5,10", "--verify", "--out", stem])]


def _metallmix_loo(stem: str, quick: bool) -> list[tuple[str, list[str]]]:
    if quick:
        return [("benchmarks.metallmix_bench", ["--quick", "--out", stem])]
    return [("benchmarks.metallmix_bench", ["--random", "20,50", "--cap", "digits=20", "--seeds", "2", "--llm",
                                            "embedded", "--cache", f"{stem}-runs.jsonl", "--plot", "--out", stem])]


def _llm_rank_probe(stem: str, quick: bool) -> list[tuple[str, list[str]]]:
    if quick:
        return [("benchmarks.llm_rank_probe", ["--quick", "--llm", "scripted-first", "--out", stem])]
    return [("benchmarks.llm_rank_probe", ["--probes", "15", "--llm", "embedded", "--out", stem])]


def _llm_proposal_probe(stem: str, quick: bool) -> list[tuple[str, list[str]]]:
    if quick:
        return [("benchmarks.llm_proposal_probe", ["--quick", "--llm", "scripted-empty", "--out", stem])]
    return [("benchmarks.llm_proposal_probe", ["--llm", "embedded", "--out", stem])]


def _load(stem: str, quick: bool) -> list[tuple[str, list[str]]]:
    if quick:
        return [("benchmarks.load", ["--trials", "60", "--concurrency", "8", "--tune-trials", "16", "--out", stem])]
    return [("benchmarks.load", ["--trials", "1000", "--concurrency", "32", "--tune-trials", "200", "--out", stem])]


#: part -> ``(output stem, quick) -> [(module, argv), ...]``
COMMANDS: dict[str, Callable[[str, bool], list[tuple[str, list[str]]]]] = {
    "functions": _functions,
    "tasks": _tasks,
    "overhead": _overhead,
    "utilisation": _utilisation,
    "llm-cost": _llm_cost,
    "metallmix-loo": _metallmix_loo,
    "llm-rank-probe": _llm_rank_probe,
    "llm-proposal-probe": _llm_proposal_probe,
    "load": _load,
}


def build_parser() -> argparse.ArgumentParser:
    """Parser of ``python -m benchmarks``."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run raytune-llm's benchmarks; options after PART that are not listed here go to the part's "
                    "own command (e.g. --seeds 3 for functions).")
    parser.add_argument("part", choices=[*PARTS, "all", *TOOLS],
                        help="which benchmark (or a tool: 'report' regenerates docs/results.md)")
    parser.add_argument("--quick", action="store_true", help="a tiny budget (what the test suite runs)")
    parser.add_argument("--out", default="benchmarks/results", help="output directory (default benchmarks/results)")
    parser.add_argument("--date", default=dt.datetime.now(dt.timezone.utc).date().isoformat(),
                        help="date in the file names (default: today, UTC)")
    return parser


def plan(part: str, *, quick: bool, out: str | Path, date: str,
         extra: Sequence[str] = ()) -> list[tuple[str, list[str]]]:
    """The ``(module, argv)`` commands that ``python -m benchmarks`` runs, in order."""
    parts = PARTS if part == "all" else (part,)
    commands = []
    for name in parts:
        stem = str(Path(out) / f"{name}-{date}{'-quick' if quick else ''}")
        commands.extend((module, [*argv, *extra]) for module, argv in COMMANDS[name](stem, quick))
    return commands


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (the first non-zero one of the parts)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in TOOLS:
        return importlib.import_module(TOOLS[argv[0]]).main(argv[1:])
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.part == "all":
        parser.error(f"options for a part's own command need a single part, not 'all': {' '.join(extra)}")
    for module, part_argv in plan(args.part, quick=args.quick, out=args.out, date=args.date, extra=extra):
        print(f"$ python -m {module} {shlex.join(part_argv)}", flush=True)
        rc = importlib.import_module(module).main(part_argv)
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
