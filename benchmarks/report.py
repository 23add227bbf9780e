"""The results page, generated: ``python -m benchmarks report`` writes ``docs/results.md``.

One page of the current results, built from the files in ``benchmarks/results`` alone and never
edited by hand: the same files give the same page, byte for byte (a test regenerates it and
compares, so a page that lags behind its files fails). Where several files answer one question
the newest supersedes the older ones (per run, by the date the file was written, for the
function grids; per file, by the date in its name, for the other benchmarks). Each table says
which files it came from, the code that produced them (the git commit in the run log's header,
when the run kept one), the machine, the date and the command.

The grids are compared with :mod:`benchmarks.compare` (per-cell medians at the final budget,
seeds better than the base, exact two-sided sign test); the other benchmarks' tables are the
ones each benchmark wrote into its own ``.md`` summary.

Example::

    python -m benchmarks report                 # rewrite docs/results.md
    python -m benchmarks report --check         # exit 1 if docs/results.md is stale
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import statistics
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from benchmarks import compare
from benchmarks.resultfiles import open_text, read_json, resolve

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = REPO / "benchmarks" / "results"
DEFAULT_OUT = REPO / "docs" / "results.md"
COMMAND = "python -m benchmarks report"

#: what each searcher name of the result files runs (benchmarks/searchers.py and benchmarks/harness.py pin them)
SEARCHERS: dict[str, str] = {
    "llm-pso-gated-reset": "LLMPSOSearcher with its defaults since 2026-11-26: embedded model, `surrogate_gate=True`, "
                           "`reset_injected_velocity=True`, `replace_fraction=0.25`, LLM answers waited for",
    "llm-pso": "LLMPSOSearcher as configured before 2026-11-26 (pre-2026-11-26 configuration): embedded model, "
               "no surrogate gate, no velocity reset, LLM answers waited for",
    "pso-random-configs-gated-reset": "the control of `llm-pso-gated-reset`: the same pipeline fed uniformly random "
                                      "configurations in the model's place",
    "pso-random-configs": "the control of `llm-pso`: the same pipeline fed uniformly random configurations",
    "pso": "LLMPSOSearcher(llm=None, surrogate=None): plain asynchronous PSO",
    "pso-gp": "LLMPSOSearcher(llm=None) with `surrogate=\"gp\"` as it was by default until 2026-12-06 (EI, 8 "
              "screened candidate moves): the GP-screened asynchronous swarm (pending-trial fantasies, model-based "
              "and perturbation proposers, trust region)",
    "pso-gp-hedge-c32-autowarp": "LLMPSOSearcher(llm=None) with its defaults since 2026-12-07: `pso-gp` with the "
                                 "acquisition GP-Hedge (EI or LCB, whichever the run's results reward), 32 screened "
                                 "candidate moves, and the GP's target warp (standardised or log-scaled costs) chosen "
                                 "by its marginal likelihood at each refit",
    "pso-gp-hedge-c32": "`pso-gp` with the acquisition GP-Hedge (EI or LCB, whichever the run's results reward) and 32 "
                        "screened candidate moves (the defaults since 2026-12-07 without the warp choice)",
    "llm": "LLMSearcher: embedded model, `batch_size=4`, `queue_target=0`, LLM answers waited for",
    "sobol": "LLMSearcher(llm=None): its Sobol space-filling fallback alone",
    "metallmix": "MetaLLMiXSearcher with the embedded model, from the seed meta-dataset without the task's data set",
    "metallmix-meta": "MetaLLMiXSearcher's meta-learner alone (no LLM), same meta-dataset",
    "optuna": "Optuna TPE (`TPESampler(seed=...)`) through Ray Tune's OptunaSearch",
    "hyperopt": "HyperOpt TPE through Ray Tune's HyperOptSearch",
    "nevergrad-pso": "Nevergrad PSO through Ray Tune's NevergradSearch",
    "nevergrad-cma": "Nevergrad CMA through Ray Tune's NevergradSearch",
    "random": "uniform random search",
    "optuna-gp": "Optuna's `GPSampler(seed=...)` (Gaussian process, log-EI) through Ray Tune's OptunaSearch",
    "optuna-cmaes": "Optuna's `CmaEsSampler(seed=...)` through Ray Tune's OptunaSearch (categorical parameters "
                    "sampled independently)",
    "hebo": "HEBO through Ray Tune's HEBOSearch",
    "pso-gp-lcb": "`pso-gp` with the screen's acquisition LCB (`mean - 2 std`) instead of log-EI",
    "pso-gp-half": "`pso-gp` with `replace_fraction=0.5`: half the swarm offered to the proposers every round "
                   "instead of a quarter",
    "pso-gp-rank": "`pso-gp` with the GP fitted to Gaussianised ranks of the costs (`warp=\"rank\"`) instead of "
                   "standardised costs",
    "pso-gp-refine": "`pso-gp` with three rounds of local search of the acquisition after its 512 random and "
                     "near-best candidates (`model_refine=3`)",
    "pso-gp-c32": "`pso-gp` scoring 32 candidate moves per particle move instead of 8",
    "pso-gp-notrust": "`pso-gp` without trust-region restarts (`stagnation=None`)",
    "pso-gp-hedge": "`pso-gp` with the acquisition GP-Hedge (EI or LCB drawn by their gains) instead of EI",
    "pso-gp-hedge-c32-autowarp-c64": "the defaults since 2026-12-07 scoring 64 candidate moves per particle move "
                                     "instead of 32",
    "pso-gp-hedge-c32-autowarp-every4": "the defaults since 2026-12-07 with a round of proposals every 4 results "
                                        "instead of every swarm's worth (8 or more)",
    "pso-gp-hedge-c32-autowarp-half": "the defaults since 2026-12-07 offering half the swarm to the proposers every "
                                      "round instead of a quarter",
    "pso-gp-hedge-c32-autowarp-full": "the defaults since 2026-12-07 offering the whole swarm to the proposers every "
                                      "4 results: a GP search (acquisition optima and perturbations) that the "
                                      "swarm's screened moves only compete with",
    "pso-gp-hedge-c32-autowarp-eighth": "the defaults since 2026-12-07 offering an eighth of the swarm to the "
                                        "proposers every round instead of a quarter",
    "pso-gp-hedge-c32-autowarp-noprop": "the defaults since 2026-12-07 without the model and perturbation "
                                        "proposers (`proposers=()`): the screened swarm alone",
    "pso-gp-hedge-c32-autowarp-sub": "the defaults since 2026-12-07 with half the swarm's perturbation candidates "
                                     "moving a random subset of the coordinates (`pso_options={\"subspace\": 0.5}`)",
    "pso-gp-hedge-c32-autowarp-w48": "the defaults since 2026-12-07 with a GP conditioned on 48 points (24 of them "
                                     "the best) instead of 128 (32 the best): a local model",
    "pso-gp-hedge-c32-autowarp-w64": "the defaults since 2026-12-07 with a GP conditioned on 64 points (48 of them "
                                     "the best) instead of 128 (32 the best): a local model",
}

PEERS = ("optuna", "hyperopt", "nevergrad-pso", "nevergrad-cma", "random")
#: issue 32's peers (benchmarks.harness.GRID32_SEARCHERS without the base, pso)
GRID32_PEERS = ("optuna", "optuna-gp", "optuna-cmaes", "hyperopt", "nevergrad-pso", "nevergrad-cma", "hebo", "random")
#: the settings of ``pso-gp`` probed one by one (benchmarks/searchers.py ``_GP_VARIANTS``)
_GP_PROBES = ("pso-gp-hedge-c32-autowarp", "pso-gp-hedge-c32", "pso-gp-hedge", "pso-gp-c32", "pso-gp-lcb",
              "pso-gp-half", "pso-gp-rank", "pso-gp-refine", "pso-gp-notrust")
#: probes of the defaults since 2026-12-07 (benchmarks/searchers.py ``_DEFAULT_PROBES``), on the goals' cells
_DEFAULT_PROBES = tuple(f"pso-gp-hedge-c32-autowarp-{s}" for s in ("c64", "every4", "half", "full", "eighth", "noprop",
                                                                      "sub", "w48", "w64"))
_DATE_IN_NAME = re.compile(r"-(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Grid:
    """A function-grid section: harness files by name prefix, compared against ``base``."""

    title: str
    prefixes: tuple[str, ...]
    budget: int
    base: str
    searchers: tuple[str, ...]
    control: tuple[str, str] | None  # (searcher, its control): one more paired row
    command: str
    intro: str
    also: tuple[str, ...] = ()  # name prefixes of other grids' files whose runs this grid reads too


#: the probes of the defaults on the goals' cells (their goal measures: the goals section)
DEFAULT_PROBES_GRID = Grid(
    "Settings of the defaults, probed: the goals' function cells", ("defaults-probes-",), 100,
    "pso-gp-hedge-c32-autowarp", _DEFAULT_PROBES, None,
    "python -m benchmarks.harness --import benchmarks.searchers --preset grid32 --searchers "
    "pso-gp-hedge-c32-autowarp-c64,... (and the classical functions; docs/benchmarks.md)",
    "Can a setting of the defaults since 2026-12-07 reach the goals it misses? One change each (two for `-full`), "
    "on the 66 function cells of the goals (100 evaluations, seeds 0-9); the goals' measures per setting are in "
    "the first section.",
    also=("grid32-functions-pso-gp-autowarp-", "grid32-functions-20d-pso-gp-autowarp-",
          "grid32-functions-conc1-8-pso-gp-autowarp-", "grid32-functions-conc1-8-10d-pso-gp-autowarp-",
          "classical-grid-shifted-pso-gp-autowarp-"))

GRIDS = (
    Grid("Function grid: LLM-PSO, plain PSO and peers", ("llm-pso-gated-reset-", "classical-grid-shifted-"), 100,
         "pso", ("pso-gp-hedge-c32-autowarp", "pso-gp", "llm-pso-gated-reset", "pso-random-configs-gated-reset",
                 *PEERS),
         ("llm-pso-gated-reset", "pso-random-configs-gated-reset"), "python -m benchmarks functions",
         "Shifted test functions (optimum moved off the centre of the box), simulated clock, 100 evaluations, "
         "seeds 0-9; every searcher of a seed starts from the same points."),
    Grid("LLM-PSO at 30 evaluations (seeds 10-19)", ("llm-pso-gated-reset-budget30-",), 30,
         "pso", ("llm-pso-gated-reset", "pso-random-configs-gated-reset"),
         ("llm-pso-gated-reset", "pso-random-configs-gated-reset"), "python -m benchmarks functions",
         "The small-budget regime where a model's prior could matter most: 30 evaluations, fresh seeds 10-19."),
    Grid("LLMSearcher grid", ("llm-searcher-",), 30, "random", ("llm", "sobol", "optuna"), None,
         "python -m benchmarks functions",
         "LLMSearcher (the model proposes every trial from the history) against random search, its own Sobol "
         "fallback and Optuna: shifted functions, 30 evaluations, seeds 0-9."),
    Grid("Wider function grid: more families, shifted and rotated", ("grid32-functions-",), 100, "pso",
         ("pso-gp-hedge-c32-autowarp", "pso-gp", *GRID32_PEERS), None, "python -m benchmarks.harness --preset grid32",
         "Plain asynchronous PSO against the peers on the added function families (Schwefel, "
         "Zakharov, ill-conditioned ellipsoid, bent cigar, Michalewicz, step), each shifted and rotated about its "
         "optimum; value = regret (every optimum is 0); simulated clock, 100 evaluations, seeds 0-9. The subset "
         "of the `grid32` preset that fits a 2-core CPU dev machine: 5-D and 10-D with 1, 4 and 8 trials in "
         "flight, 20-D with 4; Optuna's GP sampler (`optuna-gp`, slow) only at 5-D and 10-D with 4 in flight."),
    Grid("Categorical table: NAS-Bench-Graph", ("grid32-nasbench-",), 50, "pso",
         ("pso-gp-hedge-c32-autowarp", "pso-gp", *GRID32_PEERS), None,
         "python -m benchmarks.harness --preset grid32-table",
         "Plain asynchronous PSO against the peers on a categorical tabular benchmark: NAS-Bench-Graph's Cora, "
         "CiteSeer and PubMed tables (26,206 graph-network architectures, five categorical parameters; "
         "benchmarks/tabular.py); value = regret in validation-accuracy points against the table's best; "
         "50 evaluations, 1, 4 and 8 in flight, seeds 0-39 for `pso`, `pso-gp-hedge-c32-autowarp` and `optuna` "
         "(each cell's medians over 40 seeds), 0-19 for the others (`pso-gp`: 0-9, with the code of its "
         "file's commit, whose perturbations stepped across category cells instead of redrawing categories)."),
    Grid("Settings of the GP-screened swarm, probed: function grids", ("gp-variants-grid32-", "gp-variants-classical-"),
         100, "pso-gp", _GP_PROBES, None,
         "python -m benchmarks.harness --import benchmarks.searchers --searchers pso-gp,pso-gp-lcb,pso-gp-hedge,...",
         "Which settings make `pso-gp` (the defaults until 2026-12-06) better? Against one change each (two for "
         "`pso-gp-hedge-c32`, three for `pso-gp-hedge-c32-autowarp`, the defaults since 2026-12-07), on the cells "
         "of the two function grids above at 4 (the added families) and 1 and 8 (the classical functions) in flight "
         "(100 evaluations; seeds 0-9, and for LCB, GP-Hedge, 32 candidates and the warp choice also 10-19).",
         also=("grid32-functions-pso-gp-", "classical-grid-shifted-pso-gp-")),
    Grid("Settings of the GP-screened swarm, probed: NAS-Bench-Graph", ("gp-variants-nasbench-",), 50, "pso-gp",
         _GP_PROBES, None,
         "python -m benchmarks.harness --import benchmarks.searchers --preset grid32-table --searchers pso-gp,"
         "pso-gp-lcb,pso-gp-hedge,...",
         "The same changes on the categorical table (50 evaluations, 1, 4 and 8 in flight; seeds 0-9, and for "
         "LCB also 10-19). These runs predate 2026-12-07 05:00, when the swarm's and the proposers' perturbations "
         "began to redraw categories instead of stepping across their cells: they reproduce with the code of "
         "their files' commits, not with the current one.",
         also=("grid32-nasbench-pso-gp-2026", "grid32-nasbench-pso-gp-hedge-c32-", "grid32-nasbench-pso-gp-autowarp-")),
    DEFAULT_PROBES_GRID,
)

#: the other benchmarks: (section title, name prefix of its files, what to run)
SINGLE = (
    ("Ray Tune task: CNN", "tasks-cnn-", "python -m benchmarks tasks"),
    ("Ray Tune task: LSTM", "tasks-lstm-", "python -m benchmarks tasks"),
    ("Ray Tune task: CNN, the GP-screened swarm", "tasks-cnn-pso-gp-",
     "python -m benchmarks.tasks --tasks cnn --searchers pso-gp-hedge-c32-autowarp,pso-gp-hedge-c32,pso,optuna"),
    ("Ray Tune task: LSTM, the GP-screened swarm", "tasks-lstm-pso-gp-",
     "python -m benchmarks.tasks --tasks lstm --searchers pso-gp-hedge-c32-autowarp,pso-gp-hedge-c32,pso,optuna"),
    ("MetaLLMiX, leave one data set out", "metallmix-loo-", "python -m benchmarks metallmix-loo"),
    ("Searcher overhead and suggest() latency", "overhead-", "python -m benchmarks overhead"),
    ("LLM backends: embedded model latency and worker overhead", "llm-backends-", "python -m benchmarks.llm_backends"),
    ("LLM cost: prompt size and tokens per trial", "llm-cost-", "python -m benchmarks llm-cost"),
    ("Rank probe: can the model pick the best candidate?", "llm-rank-probe-", "python -m benchmarks llm-rank-probe"),
    ("Proposal probe: do the model's configurations beat the best so far?", "llm-proposal-probe-",
     "python -m benchmarks llm-proposal-probe"),
    ("Cluster utilisation: asynchronous against generation-synchronous PSO", "utilisation-",
     "python -m benchmarks utilisation"),
)


@functools.lru_cache(maxsize=256)
def _cached_json(path: str, mtime_ns: int, size: int) -> Any:
    return read_json(path)


def load(path: Path) -> Any:
    """A result file's JSON (read once per version of the file: the page reads each several times)."""
    path = resolve(path)
    stat = path.stat()
    return _cached_json(str(path), stat.st_mtime_ns, stat.st_size)


def stem_of(name: str) -> str:
    """``x.json`` or ``x.json.gz`` -> ``x``."""
    return name.removesuffix(".gz").removesuffix(".json")


def result_files(results: Path) -> list[str]:
    """The JSON result files of ``results`` (plain or gzipped, ``-quick`` runs left out), sorted by name."""
    names = {p.name for p in results.iterdir() if p.is_file() and p.name.endswith((".json", ".json.gz"))}
    # a rerun writes X.json beside a committed X.json.gz: the plain file is the newer one (resolve() reads it)
    names = {n for n in names if not (n.endswith(".gz") and n.removesuffix(".gz") in names)}
    return sorted(n for n in names if not stem_of(n).endswith("-quick"))


def run_log_version(results: Path, stem: str) -> dict[str, Any] | None:
    """The ``version`` (commit, modified, packages) in the header of ``<stem>-runs.jsonl[.gz]``, if any."""
    path = resolve(results / f"{stem}-runs.jsonl")
    if not path.exists():
        return None
    with open_text(path) as fh:
        first = fh.readline()
    try:
        head = json.loads(first)
    except ValueError:
        return None
    version = head.get("version") if isinstance(head, dict) else None
    return version if isinstance(version, dict) else None


def _date(data: dict[str, Any]) -> str:
    return str(data.get("date") or (data.get("environment") or {}).get("date") or "")


def _machine(data: dict[str, Any]) -> str:
    m = data.get("machine") or (data.get("environment") or {}).get("machine") or {}
    if not m:
        return "not recorded"
    return f"{m.get('platform', '?')}, {m.get('cpu_count', '?')} CPUs"


def _code(data: dict[str, Any], version: dict[str, Any] | None) -> str:
    packages = data.get("packages") or (data.get("environment") or {}).get("packages") or {}
    release = f"raytune-llm {packages.get('raytune-llm', '?')}"
    if version and version.get("commit"):
        dirty = " + local changes" if version.get("dirty") else ""
        return f"`{str(version['commit'])[:10]}`{dirty} ({release})"
    return f"{release}, commit not recorded"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def provenance(results: Path, names: Sequence[str]) -> str:
    """A table of where the numbers came from: file, date written, code, machine, command."""
    lines = ["| file | written (UTC) | code | machine | command |", "|---|---|---|---|---|"]
    for name in sorted(names, key=lambda n: (_date(load(results / n)), n)):
        data = load(results / name)
        version = run_log_version(results, stem_of(name))
        lines.append(f"| `{name}` | {_date(data)[:16].replace('T', ' ')} | {_code(data, version)} | "
                     f"{_cell(_machine(data))} | `{_cell(str(data.get('command') or 'not recorded'))}` |")
    return "\n".join(lines)


def legend(names: Sequence[str]) -> str:
    """One line per searcher name: what it runs."""
    return "\n".join(f"- `{n}`: {SEARCHERS.get(n, 'see benchmarks/searchers.py')}" for n in names)


def _budgets(results: Path, name: str) -> set[Any]:
    return {run.get("budget") for run in load(results / name).get("runs", [])}


def merge_newest(results: Path, names: Sequence[str]) -> dict[compare.Cell, dict[str, dict[int, dict[str, Any]]]]:
    """The runs of harness files by cell, searcher and seed; a run found in several files is taken from
    the one written last (a newer file supersedes an older one)."""
    merged: dict[compare.Cell, dict[str, dict[int, dict[str, Any]]]] = defaultdict(lambda: defaultdict(dict))
    for name in sorted(names, key=lambda n: (_date(load(results / n)), n)):
        for cell, by_searcher in compare.load_runs([results / name]).items():
            for searcher, seeds in by_searcher.items():
                merged[cell][searcher].update(seeds)
    return merged


def grid_files(results: Path, grid: Grid, files: Sequence[str]) -> list[str]:
    """The harness files of ``grid``: its name prefixes (not a longer grid's), its budget."""
    return [n for n in files if (n.startswith(grid.prefixes) and not n.startswith(_longer_prefixes(grid))
                                 or grid.also and n.startswith(grid.also)) and _budgets(results, n) == {grid.budget}]


def grid_section(results: Path, grid: Grid, files: Sequence[str]) -> tuple[str, list[str]]:
    """The Markdown of one grid section and the files it used."""
    names = grid_files(results, grid, files)
    out = [f"## {grid.title}", "", grid.intro, ""]
    if not names:
        return "\n".join([*out, f"No result files yet: run `{grid.command}`.", ""]), []
    runs = merge_newest(results, names)
    present = sorted({s for by in runs.values() for s in by})
    searchers = [s for s in grid.searchers if s in present and s != grid.base]
    used = [n for n in names if {r["searcher"] for r in load(results / n)["runs"]} & {grid.base, *searchers}]
    out += [f"Searchers (base: `{grid.base}`):", "", legend([grid.base, *searchers]), ""]
    if not searchers or grid.base not in present:
        out += [f"The files hold no runs of `{grid.base}` and another searcher to pair.", ""]
    else:
        rows = compare.compare(runs, grid.base, searchers=searchers)
        out += [f"Paired by cell and seed at the final budget ({grid.budget} evaluations); *p* is the exact "
                "two-sided sign test over seeds, ties left out; lower values are better.", "",
                compare.comparison_table(rows, grid.base, None), ""]
        if grid.control and all(s in present for s in grid.control):
            mine, control = grid.control
            out += [f"`{mine}` against its control `{control}`:", "",
                    compare.comparison_table(compare.compare(runs, control, searchers=[mine]), control, None), ""]
        out += ["Per cell: median best value at the final budget over the seeds and, in brackets, on how many "
                f"seeds the searcher ended better than `{grid.base}`.", "",
                compare.cell_table(runs, grid.base, searchers=[grid.base, *searchers]), ""]
    out += ["Files (a run found in several files is taken from the newest):", "", provenance(results, used), ""]
    return "\n".join(out), used


def _longer_prefixes(grid: Grid) -> tuple[str, ...]:
    """Prefixes of other grids that extend one of ``grid``'s (``llm-pso-gated-reset-budget30-``): not this grid's."""
    return tuple(p for g in GRIDS if g is not grid for p in g.prefixes
                 if any(p.startswith(q) and p != q for q in grid.prefixes))


#: issue 32's goals are measured for this searcher, on these grids (by a name prefix of theirs)
GOALS_SEARCHER = "pso-gp-hedge-c32-autowarp"
GOALS_FUNCTION_GRIDS = {"grid32-functions-": "the added families", "classical-grid-shifted-": "classical functions"}
GOALS_TABLE_GRID = "grid32-nasbench-"


def _grid_by_prefix(prefix: str) -> Grid:
    return next(g for g in GRIDS if prefix in g.prefixes)


def _medians(by_searcher: dict[str, dict[int, dict[str, Any]]]) -> dict[str, float]:
    """Each searcher's median value at the budget over its seeds in one cell."""
    return {n: statistics.median(compare._value(r, "best") for r in seeds.values())
            for n, seeds in by_searcher.items() if seeds}


def evals_to_reach(seeds: dict[int, dict[str, Any]], target: float, budget: int) -> int:
    """The first evaluation count after which the median over seeds of the best so far is at or below
    ``target`` (read from the runs' traces); ``budget + 1`` where it never is."""
    for n in range(1, budget + 1):
        if statistics.median(compare._value(r, "best", n) for r in seeds.values()) <= target:
            return n
    return budget + 1


class GoalCell(NamedTuple):
    """One function cell of the goals for a searcher."""

    best: str | None  # the best peer (None without peers)
    below: bool  # the searcher's median at or below the best peer's
    evals: int | None  # evaluations to reach the control's final median (None without it; budget + 1: never)
    budget: int
    medians: dict[str, float]  # every searcher's median at the budget


def _goal_cell(by_searcher: dict[str, dict[int, dict[str, Any]]], me: str, control: str) -> GoalCell:
    """The goals' measures of one function cell for ``me`` against its peers and ``control``."""
    med = _medians(by_searcher)
    peers = {n: m for n, m in med.items() if n in GRID32_PEERS}
    best = min(peers, key=lambda n: (peers[n], n)) if peers else None
    budget = int(next(iter(by_searcher[me].values()))["budget"])
    n = evals_to_reach(by_searcher[me], med[control], budget) if control in med else None
    return GoalCell(best, best is not None and med[me] <= peers[best], n, budget, med)


def _probe_goals(results: Path, files: Sequence[str], runs: dict[compare.Cell, dict[str, dict[int, dict[str, Any]]]],
                 me: str, control: str) -> list[str]:
    """The goals' function measures of each probe of ``me``'s settings that ran on all of ``me``'s cells."""
    grid = DEFAULT_PROBES_GRID
    probes = merge_newest(results, [n for n in grid_files(results, grid, files) if n.startswith(grid.prefixes)])
    rows = []
    for name in grid.searchers:
        cells = [c for c in runs if name in probes.get(c, {})]
        if not cells or len(cells) < len(runs):
            continue
        measured = [_goal_cell({**runs[c], name: probes[c][name]}, name, control) for c in cells]
        with_peers = [m for m in measured if m.best is not None]
        evals = [m.evals for m in measured if m.evals is not None]
        budget = measured[0].budget
        median_n = statistics.median(evals) if evals else None
        reach = ("" if median_n is None else f"{median_n:g} ({1 - median_n / budget:.0%} fewer)" if median_n <= budget
                 else f">{budget}")
        [vs] = compare.compare({c: {me: runs[c][me], name: probes[c][name]} for c in cells}, me, searchers=[name])
        rows.append(f"| `{name}` | {sum(m.below for m in with_peers)} of {len(with_peers)} | {reach} | "
                    f"{vs.wins}-{vs.losses} (p = {vs.p:.2g}) |")
    if not rows:
        return []
    return ["The settings of `" + me + "` probed on the same function cells (seeds 0-9; what each changes: the "
            "section \"" + grid.title + "\"): the goals' measures for each.", "",
            "| setting | median at or below the best peer's | evaluations to reach `" + control + "`'s final median "
            "(median over cells) | seeds better-worse than `" + me + "` |", "|---|---:|---:|---:|", *rows, ""]


def goals_section(results: Path, files: Sequence[str]) -> str:
    """Issue 32's goals for ``GOALS_SEARCHER`` as measured: against the best peer, TPE and plain PSO."""
    me, tpe, control = GOALS_SEARCHER, "optuna", "pso"
    out = ["## The GP-screened swarm against its peers: goals, measured", "",
           f"`{me}`: {SEARCHERS[me]}. Measured on the function grids at 100 evaluations (the two sections "
           "below: the added families, shifted and rotated, and the shifted classical functions) and on the "
           "NAS-Bench-Graph table at 50 evaluations; every comparison pairs runs by cell and seed. Plain PSO "
           f"(`{control}`) is the control, not a peer. *p*: exact two-sided sign test over seeds, ties left out.", ""]
    grids = [_grid_by_prefix(p) for p in GOALS_FUNCTION_GRIDS]
    labels = list(GOALS_FUNCTION_GRIDS.values())
    runs: dict[compare.Cell, dict[str, dict[int, dict[str, Any]]]] = {}
    grid_of: dict[compare.Cell, int] = {}
    for i, grid in enumerate(grids):
        found = merge_newest(results, grid_files(results, grid, files))
        runs.update(found)
        grid_of.update(dict.fromkeys(found, i))
    runs = {cell: s for cell, s in runs.items() if me in s}
    table_grid = _grid_by_prefix(GOALS_TABLE_GRID)
    table = {cell: s for cell, s in merge_newest(results, grid_files(results, table_grid, files)).items() if me in s}
    if not runs and not table:
        return "\n".join([*out, f"No runs of `{me}` yet: run `{grids[0].command} --searchers {me}`.", ""])
    ran = [(label, [n for n in GRID32_PEERS if any(n in s for c, s in runs.items() if grid_of[c] == i)])
           for i, label in enumerate(labels)]
    out += ["Peers that ran: " + "; ".join(f"{label}: " + ", ".join(f"`{n}`" for n in names)
                                          for label, names in ran if names) + ".", ""]
    rows = ["| goal | measured | met |", "|---|---|---|"]
    details = [f"| function | dim | conc | best peer: median | `{me}` median | `{control}` median | "
               f"evaluations `{me}` needs to reach `{control}`'s median |", "|---|---:|---:|---|---:|---:|---:|"]
    at_or_below, cells, reached, reductions = [0] * len(grids), [0] * len(grids), [], []
    for cell in sorted(runs):
        best, below, n, budget, med = _goal_cell(runs[cell], me, control)
        if best is not None:
            cells[grid_of[cell]] += 1
            at_or_below[grid_of[cell]] += below
        evals = ""
        if n is not None:
            reached.append(n)
            reductions.append(1.0 - n / budget)
            evals = str(n) if n <= budget else f">{budget}"
        details.append(f"| {cell[0]} | {cell[1]} | {cell[2]} | "
                       + (f"`{best}`: {compare._fmt(med[best])}" if best else "") + f" | {compare._fmt(med[me])} | "
                       + (compare._fmt(med[control]) if control in med else "") + f" | {evals} |")
    if sum(cells):
        share = sum(at_or_below) / sum(cells)
        split = "; ".join(f"{label} {k} of {n}" for label, k, n in zip(labels, at_or_below, cells) if n)
        rows.append(f"| median regret at or below the best peer's in >= 70% of cells (function grids, 100 "
                    f"evaluations) | {sum(at_or_below)} of {sum(cells)} cells ({share:.0%}; {split}) | "
                    f"{'yes' if share >= 0.7 else 'no'} |")
    vs_tpe = compare.compare(runs, tpe, searchers=[me]) if any(tpe in s for s in runs.values()) else []
    for c in vs_tpe:
        rows.append(f"| ahead of TPE (`{tpe}`) over the function grids, p < 0.01 | {c.wins} seeds better, {c.losses} "
                    f"worse, {c.ties} tied over {c.cells} cells; p = {c.p:.2g} | "
                    f"{'yes' if c.wins > c.losses and c.p < 0.01 else 'no'} |")
    if reached:
        median_n, median_cut = statistics.median(reached), statistics.median(reductions)
        rows.append(f"| >= 40% fewer evaluations than plain PSO to reach PSO's final median (median over cells; "
                    f"a cell never reached counts as budget + 1) | {median_n:g} evaluations of 100, median over "
                    f"{len(reached)} cells: {median_cut:.0%} fewer | {'yes' if median_cut >= 0.4 else 'no'} |")
    table_tpe = compare.compare(table, tpe, searchers=[me]) if any(tpe in s for s in table.values()) else []
    for c in table_tpe:
        paired = [cell for cell in table if tpe in table[cell]]
        below = sum(_medians(table[cell])[me] <= _medians(table[cell])[tpe] for cell in paired)
        rows.append(f"| at or below TPE on the categorical table (NAS-Bench-Graph, 50 evaluations; median regret "
                    f"at or below TPE's in every cell) | at or below in {below} of {len(paired)} cells; {c.wins} "
                    f"seeds better, {c.losses} worse, {c.ties} tied; p = {c.p:.2g} | "
                    f"{'yes' if below == len(paired) else 'no'} |")
    out += [*rows, ""]
    table_peers = [n for n in GRID32_PEERS if n != tpe and any(n in s for s in table.values())]
    if table_peers and any(me in s for s in table.values()):
        rivals = compare.compare(table, me, searchers=table_peers)
        top = max(rivals, key=lambda c: (c.wins - c.losses, c.searcher))
        out += [f"Beyond the goals, on the categorical table: of the other peers, `{top.searcher}` fares best against "
                f"`{me}`: better on {top.wins} seeds, worse on {top.losses}, {top.ties} tied (p = {top.p:.2g}).", ""]
    out += _probe_goals(results, files, runs, me, control)
    if runs:
        out += ["Per cell of the function grids: the best peer's median regret at 100 evaluations, "
                f"`{me}`'s and `{control}`'s, and the first evaluation count after which `{me}`'s median (over seeds) "
                f"best so far is at or below `{control}`'s final median.", "", *details, ""]
    return "\n".join(out)


def newest(files: Sequence[str], prefix: str, results: Path) -> str | None:
    """The newest file of a benchmark, by the date in its name, then the date written."""
    found = [n for n in files if n.startswith(prefix) and _DATE_IN_NAME.search(stem_of(n))
             and stem_of(n)[len(prefix):] == _DATE_IN_NAME.search(stem_of(n)).group(1)]
    if not found:
        return None
    return max(found, key=lambda n: (_DATE_IN_NAME.search(stem_of(n)).group(1), _date(load(results / n)), n))


def summary_body(md: str) -> str:
    """The body of a benchmark's own ``.md`` summary: its title and metadata lines dropped (the
    provenance table says them), headings moved two levels down, runs of blank lines collapsed."""
    lines = md.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    skip = ("- Date (UTC):", "- Machine:", "- Python ", "- Command:", "Machine:")
    kept: list[str] = []
    for line in lines:
        if line.startswith(skip):
            continue
        if line.startswith("#"):
            line = "##" + line
        if not line.strip() and (not kept or not kept[-1].strip()):
            continue
        kept.append(line.rstrip())
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept)


def single_section(results: Path, title: str, prefix: str, command: str, files: Sequence[str]) -> tuple[str, list[str]]:
    """The Markdown of one benchmark's section (its newest file) and the file it used."""
    out = [f"## {title}", ""]
    name = newest(files, prefix, results)
    if name is None:
        return "\n".join([*out, f"No result file yet: run `{command}`.", ""]), []
    data = load(results / name)
    names = sorted({str(r["searcher"]) for r in data.get("runs", []) if isinstance(r, dict) and "searcher" in r})
    known = [n for n in names if n in SEARCHERS]
    if known:
        out += ["Searchers:", "", legend(known), ""]
    if "llm-pso" in names:
        out += ["This run used the pre-2026-11-26 LLM-PSO configuration (`llm-pso`); LLMPSOSearcher's current "
                "defaults (`llm-pso-gated-reset`) have not been run on it.", ""]
    md = resolve(results / f"{stem_of(name)}.md")
    if md.exists():
        out += [summary_body(md.read_text(encoding="utf-8")), ""]
    out += ["File:", "", provenance(results, [name]), ""]
    return "\n".join(out), [name]


def render(results: str | Path) -> str:
    """The results page for the files in ``results``."""
    results = Path(results)
    files = result_files(results)
    sections: list[str] = [goals_section(results, files)]
    used: set[str] = set()
    for grid in GRIDS:
        text, names = grid_section(results, grid, files)
        sections.append(text)
        used.update(names)
    for title, prefix, command in SINGLE:
        text, names = single_section(results, title, prefix, command, files)
        sections.append(text)
        used.update(names)
    rest = [n for n in files if n not in used]
    index = ["## Other result files", "",
             "Earlier configurations, superseded runs, controls and ablations; each has its own `.md` summary "
             "beside it and can be compared with `python -m benchmarks.compare FILE... --base pso --cells`.", ""]
    index += [f"- `{n}`" for n in rest] if rest else ["None."]
    head = [
        "# Results",
        "",
        f"<!-- Generated by `{COMMAND}` from benchmarks/results: do not edit by hand; rerun the command. -->",
        "",
        f"Generated by `{COMMAND}` from the files in `benchmarks/results/` (file names below are in that folder); "
        "do not edit this page by hand. Every *p* on this page is an exact two-sided sign test over paired seeds "
        "(ties left out). How to run each benchmark: [benchmarks.md](benchmarks.md).",
        "",
    ]
    return "\n".join([*head, *sections, *index]).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks report``: write (or, with ``--check``, compare) the results page."""
    parser = argparse.ArgumentParser(prog=COMMAND, description="Regenerate docs/results.md from benchmarks/results.")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="folder of result files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the page to write (default docs/results.md)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the page differs")
    args = parser.parse_args(argv)
    if not args.results.is_dir():
        parser.error(f"--results {args.results} is not a folder; pass the folder of result files")
    try:
        page = render(args.results)
    except (OSError, ValueError, KeyError) as exc:
        parser.error(str(exc))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else None
        if current != page:
            print(f"{args.out} is stale: run `{COMMAND}` and commit it", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    from raytune_llm._io import atomic_write

    atomic_write(args.out, page)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
