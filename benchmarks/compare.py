"""Paired comparison of searchers in harness results: ``python -m benchmarks.compare FILE... --base pso``.

A median over 10 seeds moves a lot from one block of seeds to the next (plain PSO's median best on
shifted Rosenbrock-5D at concurrency 8 is 66.5 on seeds 20-29 and 138 on seeds 40-49,
``injection-grid-50seeds-shifted-2026-11-26.md``), so two medians say little on their own. Every
searcher of a harness run sees the same seeds, and seed ``s`` starts every swarm of it from the
same points: the comparison that uses this pairs the runs by (function, dim, concurrency, seed)
and counts on how many seeds a searcher ended better than the base, with an exact two-sided sign
test (ties left out).

For each searcher against ``--base``, over every cell both ran (``--by`` splits them further):
seeds better, worse and tied; the sign test's p; the cells where its median is better; the median
over cells of its median over the base's. ``--cells`` adds the per-cell table; ``--common`` keeps
only the cells where every compared searcher ran, so that the rows cover the same cells. ``--at N``
compares at a smaller budget, read from the result files' traces: the best value after the first ``N``
evaluations (``best_trace[N - 1]``), or, with ``--metric evals``, the target reached within ``N``.

Reads the ``.json`` (or ``.json.gz``) files the harness writes (a plain name also finds its gzipped
file, :func:`benchmarks.resultfiles.resolve`); several files are merged, and a run found in two files
with different results is an error rather than a silent choice.

Example::

    python -m benchmarks.compare benchmarks/results/injection-grid-50seeds-shifted-2026-11-26.json.gz --base pso
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.resultfiles import read_json

Cell = tuple[str, int, int]  # function, dim, concurrency
GROUPS = ("function", "dim", "concurrency")


def sign_test_p(wins: int, losses: int) -> float:
    """Exact two-sided sign-test p-value of ``wins`` against ``losses`` (ties already left out).

    >>> round(sign_test_p(8, 2), 3)
    0.109
    >>> sign_test_p(0, 0)
    1.0
    """
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n  # int / int: exact for any n
    return min(1.0, 2.0 * tail)


def problem_bootstrap(group: Sequence[dict[str, Any]], key: str, n: int = 2000) -> list[float] | None:
    """95% interval of the mean of ``key`` over records, resampling whole problems (``record["problem"]``:
    the records of one problem share its data, so they are not independent), then records within them;
    ``None`` values are left out, ``None`` when nothing is left (the LLM probes' intervals)."""
    problems = sorted({r["problem"] for r in group})
    by_problem = [np.array([r[key] for r in group if r["problem"] == p and r[key] is not None], dtype=float)
                  for p in problems]
    by_problem = [a for a in by_problem if len(a)]
    if not by_problem:
        return None
    rng = np.random.default_rng(0)
    means = []
    for _ in range(n):
        picked = [by_problem[i] for i in rng.integers(0, len(by_problem), len(by_problem))]
        means.append(np.concatenate([rng.choice(a, len(a)) for a in picked]).mean())
    return [float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))]


def load_runs(paths: Iterable[str | Path]) -> dict[Cell, dict[str, dict[int, dict[str, Any]]]]:
    """Runs of harness result files by cell, searcher and seed.

    Raises:
        ValueError: a file that is not a harness result, or a run found twice with different results.
    """
    out: dict[Cell, dict[str, dict[int, dict[str, Any]]]] = defaultdict(lambda: defaultdict(dict))
    origin: dict[tuple[Cell, str, int], str] = {}
    settings: dict[Cell, tuple[tuple[Any, Any], str]] = {}  # the budget and durations every run of a cell shares
    for path in map(Path, paths):
        data = read_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
            raise ValueError(f"{path} is not a harness result (a JSON object with a 'runs' list)")
        for run in data["runs"]:
            cell = (str(run["function"]), int(run["dim"]), int(run["concurrency"]))
            key = (cell, str(run["searcher"]), int(run["seed"]))
            shared = (run.get("budget"), run.get("durations"))
            first, where = settings.setdefault(cell, (shared, str(path)))
            if shared != first:
                raise ValueError(f"{cell} has runs with budget and durations {first} ({where}) and {shared} ({path}); "
                                 "compare runs of one budget and duration model")
            seen = out[cell][key[1]].get(key[2])
            if seen is not None and (seen.get("best_at_budget"), seen.get("evals_to_target")) != (
                    run.get("best_at_budget"), run.get("evals_to_target")):
                raise ValueError(f"{key[1]} on {cell}, seed {key[2]}, differs between {origin[key]} and {path}; "
                                 "compare runs of one version of the code")
            out[cell][key[1]][key[2]] = run
            origin.setdefault(key, str(path))
    return out


def _value(run: dict[str, Any], metric: str, at: int | None = None) -> float:
    """The run's value, lower is better; a run with no value (no trial completed, NaN) counts as the worst.

    The value is taken at the run's budget or, with ``at``, after its first ``at`` evaluations:
    the best so far then (``best_trace[at - 1]``; a run that completed fewer trials, its last), or
    the evaluations to the target, counted as the limit + 1 where it took more.

    Raises:
        ValueError: ``at`` below 1 or above the run's budget, a run without a trace to read ``at``
            from, or a run that missed its target without a budget to count it by.
    """
    budget = run.get("budget")
    if at is not None and (at < 1 or (budget is not None and at > budget)):
        raise ValueError(f"at={at} is outside 1..{budget}, the budget of a run of {run.get('searcher')!r} "
                         f"on {run.get('function')}; compare within every compared run's budget")
    limit = budget if at is None else at
    if metric == "evals":
        evals = run.get("evals_to_target")
        if evals is not None and (at is None or evals <= at):
            return float(evals)
        if limit is None:
            raise ValueError(f"a run of {run.get('searcher')!r} that missed its target has no budget to count "
                             "it as budget + 1; use --metric best")
        return float(limit + 1)
    if at is None:
        best = run.get("best_at_budget")
    else:
        trace = run.get("best_trace")
        if trace is None:
            raise ValueError(f"a run of {run.get('searcher')!r} on {run.get('function')} has no best_trace to read "
                             f"the best after {at} evaluations from; compare it at its budget")
        best = trace[min(at, len(trace)) - 1] if trace else None
    return math.inf if best is None or math.isnan(float(best)) else float(best)


@dataclass
class Comparison:
    """One searcher against the base over a group of cells."""

    searcher: str
    group: str
    wins: int = 0
    losses: int = 0
    ties: int = 0
    cells: int = 0
    cells_better: int = 0
    ratios: list[float] = field(default_factory=list)

    @property
    def p(self) -> float:
        return sign_test_p(self.wins, self.losses)

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.ratios) if self.ratios else math.nan


def compare(runs: dict[Cell, dict[str, dict[int, dict[str, Any]]]], base: str, *, metric: str = "best",
            by: str | None = None, searchers: Sequence[str] | None = None, common: bool = False,
            at: int | None = None) -> list[Comparison]:
    """Pair every searcher's runs with ``base``'s by cell and seed; one :class:`Comparison` per
    searcher (and per value of ``by``: ``function``, ``dim`` or ``concurrency``). With ``common``,
    only the cells where every searcher (of ``searchers``, else of the runs) ran count; with ``at``,
    the runs are compared after their first ``at`` evaluations (see :func:`_value`).

    Raises:
        ValueError: ``base`` ran in none of the cells, ``by`` is not one of :data:`GROUPS`, or a run's
            value cannot be read (``at`` beyond its budget, no trace: see :func:`_value`).
    """
    if by is not None and by not in GROUPS:
        raise ValueError(f"by must be one of {GROUPS} or None, got {by!r}")
    names = sorted({n for s in runs.values() for n in s})
    if not names:
        raise ValueError("no runs to compare")
    if base not in names:
        raise ValueError(f"base {base!r} ran in none of the cells; searchers found: {', '.join(names)}")
    unknown = [n for n in searchers or [] if n not in names]
    if unknown:
        raise ValueError(f"searchers {unknown} ran in none of the cells; searchers found: {', '.join(names)}")
    found: dict[tuple[str, str], Comparison] = {}
    for cell in sorted(runs):
        by_searcher = runs[cell]
        if base not in by_searcher or (common and any(n not in by_searcher for n in searchers or names)):
            continue
        group = "all" if by is None else str(cell[GROUPS.index(by)])
        for name in searchers or sorted(by_searcher):
            if name == base or name not in by_searcher:
                continue
            seeds = sorted(set(by_searcher[name]) & set(by_searcher[base]))
            if not seeds:
                continue
            c = found.setdefault((name, group), Comparison(name, group))
            mine = [_value(by_searcher[name][s], metric, at) for s in seeds]
            theirs = [_value(by_searcher[base][s], metric, at) for s in seeds]
            c.wins += sum(a < b for a, b in zip(mine, theirs))
            c.losses += sum(a > b for a, b in zip(mine, theirs))
            c.ties += sum(a == b for a, b in zip(mine, theirs))
            m, mb = statistics.median(mine), statistics.median(theirs)
            c.cells += 1
            c.cells_better += m < mb
            if mb > 0 and math.isfinite(m) and math.isfinite(mb):
                c.ratios.append(m / mb)
    order = {n: i for i, n in enumerate(searchers or [])}
    return sorted(found.values(), key=lambda c: (order.get(c.searcher, len(order)), c.searcher,
                                                   _group_key(c.group)))


def _group_key(group: str) -> tuple[int, Any]:
    return (0, int(group)) if group.isdigit() else (1, group)


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3g}"


def comparison_table(rows: Sequence[Comparison], base: str, by: str | None, at: int | None = None) -> str:
    """The comparisons as a Markdown table (``at``: the evaluations they were compared after, said in the head)."""
    when = "" if at is None else f" after {at} evaluations"
    head = ["searcher", *([by] if by else []), f"seeds better than {base}{when}", "worse", "tied", "sign test p",
            "cells with a better median", f"median over cells of median / {base}'s (cells where it is > 0)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in rows:
        cells = [c.searcher, *([c.group] if by else []), str(c.wins), str(c.losses), str(c.ties), f"{c.p:.2g}",
                 f"{c.cells_better} of {c.cells}", _fmt(c.median_ratio)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cell_table(runs: dict[Cell, dict[str, dict[int, dict[str, Any]]]], base: str, *, metric: str = "best",
               searchers: Sequence[str] | None = None, common: bool = False, at: int | None = None) -> str:
    """Per cell: each searcher's median over all its seeds and, in brackets, the seeds (of those the
    base also ran) on which it is better than ``base``; with ``common``, only the cells where all ran."""
    names = list(searchers) if searchers else sorted({n for s in runs.values() for n in s})
    names = [base, *[n for n in names if n != base]]
    lines = ["| function | dim | conc | " + " | ".join(names) + " |", "|---|---:|---:|" + "---:|" * len(names)]
    for cell in sorted(runs):
        s = runs[cell]
        if common and any(n not in s for n in names):
            continue
        row = []
        for n in names:
            if n not in s:
                row.append("")
                continue
            med = statistics.median(_value(r, metric, at) for r in s[n].values())
            if n == base or base not in s:
                row.append(_fmt(med))
            else:
                wins = sum(_value(s[n][k], metric, at) < _value(s[base][k], metric, at) for k in set(s[n]) & set(s[base]))
                row.append(f"{_fmt(med)} ({wins})")
        lines.append(f"| {cell[0]} | {cell[1]} | {cell[2]} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare",
                                     description="Paired, per-seed comparison of searchers in harness results.")
    parser.add_argument("files", nargs="+", help="harness result files (.json or .json.gz), merged")
    parser.add_argument("--base", default="pso", help="the searcher every other is paired with (default pso)")
    parser.add_argument("--searchers", help="comma-separated searchers to compare (default: all found)")
    parser.add_argument("--metric", choices=("best", "evals"), default="best",
                        help="best value at the budget (default) or evaluations to the target")
    parser.add_argument("--by", choices=GROUPS, help="one row per value of this field as well")
    parser.add_argument("--common", action="store_true",
                        help="only the cells where every compared searcher ran (so that the rows share their cells)")
    parser.add_argument("--cells", action="store_true", help="also print the per-cell table")
    parser.add_argument("--at", type=int, metavar="N",
                        help="compare after the first N evaluations of each run (read from its trace) instead of "
                             "at its budget")
    args = parser.parse_args(argv)
    searchers = [s for s in args.searchers.split(",") if s] if args.searchers else None
    try:
        runs = load_runs(args.files)
        rows = compare(runs, args.base, metric=args.metric, searchers=searchers, common=args.common, at=args.at)
        if args.by:
            rows += compare(runs, args.base, metric=args.metric, by=args.by, searchers=searchers, common=args.common,
                            at=args.at)
            rows.sort(key=lambda c: ((searchers or []).index(c.searcher) if searchers else 0, c.searcher,
                                     c.group != "all", _group_key(c.group)))
        table = cell_table(runs, args.base, metric=args.metric, searchers=searchers, common=args.common,
                           at=args.at) if args.cells else None
    except (OSError, ValueError, KeyError) as exc:
        parser.error(str(exc))
    print(comparison_table(rows, args.base, args.by, args.at))
    if table is not None:
        print()
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
