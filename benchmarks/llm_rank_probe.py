"""Can the LLM tell a good untried configuration from a bad one? A ranking probe, before building on it.

Asking an LLM to *rank* candidates that a cheap generator made (instead of writing new
configurations) is one of the ways of asking that the LLM-PSO issue lists. It is only worth
building if the model ranks better than chance. This probe measures exactly that, with no search
around it, on problems whose true values are known:

* ``functions``: shifted Rastrigin, Ackley, Rosenbrock and Griewank in 5-D (the benchmark's test
  functions with the optimum moved off the centre). Per probe, ``--history`` uniform random points
  with their values are shown, and ``--candidates`` other uniform random points without.
* ``meta``: the packaged seed meta-dataset: 16 real trainings per data set (CNNs on six image
  data sets, LSTMs on three air-quality series) with named hyperparameters (``lr``, ``dropout``,
  ``hidden_size``...), so a model's prior knowledge of deep learning can show. Per probe, a random
  half of a data set's experiments is the history and the other half the candidates.

The model (default the embedded SmolLM2-135M) sees the task, the space, the history (best first)
and the numbered candidates (in random order) and answers ``{"pick": N}`` (a grammar keeps N in
range). Scored: the true rank of the picked candidate among the candidates (1 = best; ties share
the better rank), how often it is the best, how often it is in the better half. Beside it, on the
same probes: chance (a uniform pick, exact per probe: (m+1)/2 without ties), the kernel
surrogate that LLM-PSO already uses to screen proposals
(:func:`raytune_llm.surrogate.kernel_predict` on the history), and the candidate nearest
to the best trial so far (in the unit cube). Intervals resample whole problems, since the probes
of one problem share its data. Also the positions the model picked,
to show a bias to the first or last item.

Usage (repository root)::

    python -m benchmarks.llm_rank_probe --probes 15 --out benchmarks/results/llm-rank-probe-YYYY-MM-DD
    python -m benchmarks.llm_rank_probe --quick --llm scripted-first --out /tmp/probe   # tests
    python -m benchmarks.llm_rank_probe --lora out/adapter.gguf --out ...   # the model with and without a LoRA

With ``--lora``, the same model with that GGUF LoRA adapter (``raytune-llm finetune`` writes one)
answers every probe too, as the picker ``llm_lora``, beside the model without it (``llm``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shlex
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.compare import problem_bootstrap
from benchmarks.harness import write_results
from raytune_llm.llm.gguf_header import adapter_provenance
from raytune_llm.proposals.pick import pick_messages, pick_schema

logger = logging.getLogger("llm_rank_probe")

FUNCTIONS = ("rastrigin", "ackley", "rosenbrock", "griewank")


@dataclass
class Probe:
    """One question: a history with values, candidates whose values the model does not see."""

    source: str  # "functions" or "meta"
    problem: str  # e.g. "rastrigin-shift1-d5" or a data set name
    task: str  # one line for the prompt
    metric: str
    mode: str
    space: Any  # SearchSpace
    history: list[tuple[dict[str, Any], float]]
    candidates: list[dict[str, Any]]
    values: list[float]  # true values of the candidates (hidden from the model)


def true_rank(values: Sequence[float], index: int, mode: str) -> int:
    """1-based rank of ``values[index]`` (1 = best; ties share the better rank)."""
    sign = 1.0 if mode == "min" else -1.0
    v = sign * values[index]
    return 1 + sum(1 for w in values if sign * w < v)


def messages(probe: Probe) -> list[dict[str, str]]:
    """The chat messages of one probe (the package's pick prompt: history best first, candidates from 1)."""
    return pick_messages(probe.space, probe.history, probe.candidates, task=probe.task, metric=probe.metric,
                         mode=probe.mode)


def kernel_pick(probe: Probe) -> int:
    """Index of the candidate the kernel surrogate of the history predicts best."""
    from raytune_llm.surrogate import kernel_predict

    sign = 1.0 if probe.mode == "min" else -1.0
    xh = np.array([probe.space.to_unit(c) for c, _ in probe.history])
    yh = np.array([sign * v for _, v in probe.history])
    xc = np.array([probe.space.to_unit(c) for c in probe.candidates])
    return int(np.argmin(kernel_predict(xh, yh, xc)))


def nearest_best_pick(probe: Probe) -> int:
    """Index of the candidate nearest (unit cube) to the best trial of the history."""
    sign = 1.0 if probe.mode == "min" else -1.0
    best = min(probe.history, key=lambda cv: sign * cv[1])[0]
    xb = np.array(probe.space.to_unit(best))
    xc = np.array([probe.space.to_unit(c) for c in probe.candidates])
    return int(np.argmin(((xc - xb) ** 2).sum(axis=1)))


# ----------------------------------------------------------------------------------------- probes
def function_probes(n: int, *, history: int, candidates: int, seed: int, dim: int = 5) -> list[Probe]:
    """``n`` probes per shifted test function (uniform random points, seeded)."""
    from benchmarks.functions import get_function
    from raytune_llm.space import SearchSpace

    probes = []
    for name in FUNCTIONS:
        fn = get_function(name).shifted(1)
        space = SearchSpace.from_tune(fn.param_space(dim))
        rng = np.random.default_rng([seed, zlib.crc32(name.encode()), dim])
        for _ in range(n):
            points = [space.flat_from_unit(rng.random(dim)) for _ in range(history + candidates)]
            vals = [float(fn(p)) for p in points]
            probes.append(Probe("functions", f"{fn.name}-d{dim}", "minimise a black-box function of "
                                f"{dim} real inputs", "value", "min", space,
                                list(zip(points[:history], vals[:history])), points[history:], vals[history:]))
    return probes


def meta_probes(n: int, *, candidates: int, seed: int) -> list[Probe]:
    """``n`` probes per data set of the seed meta-dataset (a random split of its experiments)."""
    from benchmarks.meta_seed import seed_plan
    from raytune_llm.meta import MetaStore
    from raytune_llm.space import SearchSpace

    plan = seed_plan()
    probes = []
    with MetaStore.seed() as store:
        frame = store.experiments()
    for name in sorted(plan):
        entry = plan[name]
        rows = frame[frame["dataset"] == name].to_dict("records")
        space = SearchSpace.from_tune(entry["space"])
        task = (f"a small CNN classifying the '{name}' images" if entry["model"] == "cnn"
                else f"an LSTM forecasting NO2 air pollution ('{name}' series)")
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        for _ in range(n):
            order = rng.permutation(len(rows))
            cand, hist = order[:candidates], order[candidates:]
            probes.append(Probe("meta", name, task, entry["metric"], entry["mode"], space,
                                [(rows[i]["config"], float(rows[i]["value"])) for i in hist],
                                [rows[i]["config"] for i in cand], [float(rows[i]["value"]) for i in cand]))
    return probes


# ---------------------------------------------------------------------------------------- running
def ask(backend: Any, probe: Probe, *, timeout_s: float) -> tuple[int | None, float, str | None]:
    """The model's pick (0-based) for one probe, its latency, and an error text when it failed."""
    from raytune_llm.errors import LLMError

    start = time.perf_counter()
    try:
        value, _ = backend.complete_json(messages(probe), pick_schema(len(probe.candidates)), temperature=0.0,
                                         max_tokens=16, seed=0, timeout=timeout_s)
        pick = int(value["pick"])
        if not 1 <= pick <= len(probe.candidates):
            return None, time.perf_counter() - start, f"pick out of range: {pick}"
        return pick - 1, time.perf_counter() - start, None
    except (LLMError, KeyError, TypeError, ValueError) as exc:
        return None, time.perf_counter() - start, f"{type(exc).__name__}: {exc}"[:200]


def run_probes(probes: Sequence[Probe], backend: Any, *, timeout_s: float = 120.0,
               progress: Callable[[int, int], None] | None = None, lora: Any = None) -> list[dict[str, Any]]:
    """Ask every probe; one record per probe with the ranks of every picker (``lora``: a second
    backend, the model with an adapter, scored as ``llm_lora``)."""
    records = []
    for i, probe in enumerate(probes):
        m = len(probe.candidates)
        llm, seconds, error = ask(backend, probe, timeout_s=timeout_s)
        ranks = [true_rank(probe.values, j, probe.mode) for j in range(m)]  # a uniform pick's ranks (ties!)
        rec = {"source": probe.source, "problem": probe.problem, "m": m,
               "chance_rank": float(np.mean(ranks)), "chance_best": float(np.mean([r == 1 for r in ranks])),
               "chance_top_half": float(np.mean([r <= m // 2 for r in ranks])),
               "llm_pick": llm, "llm_error": error, "llm_seconds": seconds,
               "llm_rank": None if llm is None else true_rank(probe.values, llm, probe.mode),
               "kernel_rank": true_rank(probe.values, kernel_pick(probe), probe.mode),
               "nearest_best_rank": true_rank(probe.values, nearest_best_pick(probe), probe.mode),
               "best_possible_rank": 1}
        if lora is not None:
            pick, seconds, error = ask(lora, probe, timeout_s=timeout_s)
            rec.update({"llm_lora_pick": pick, "llm_lora_error": error, "llm_lora_seconds": seconds,
                        "llm_lora_rank": None if pick is None else true_rank(probe.values, pick, probe.mode)})
        records.append(rec)
        if progress:
            progress(i + 1, len(probes))
    return records


PICKERS = ("llm", "llm_lora", "kernel", "nearest_best")  # llm_lora: only in records of a --lora run


def summarize(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per source, per picker: mean rank (95% bootstrap interval over problems), P(best), P(better
    half); chance is a uniform pick on the same probes (ties share the better rank)."""
    rows = []
    for source in sorted({r["source"] for r in records}):
        group = [r for r in records if r["source"] == source]
        rows.append({"source": source, "picker": "chance", "probes": len(group),
                     "mean_rank": float(np.mean([r["chance_rank"] for r in group])), "ci": None,
                     "p_best": float(np.mean([r["chance_best"] for r in group])),
                     "p_top_half": float(np.mean([r["chance_top_half"] for r in group])), "failed": 0})
        for picker in [p for p in PICKERS if any(f"{p}_rank" in r for r in group)]:
            scored = [r for r in group if r[f"{picker}_rank"] is not None]
            ranks = np.array([r[f"{picker}_rank"] for r in scored], dtype=float)
            failed = len(group) - len(ranks)
            if not len(ranks):
                rows.append({"source": source, "picker": picker, "probes": len(group), "mean_rank": None, "ci": None,
                             "p_best": None, "p_top_half": None, "failed": failed})
                continue
            halves = np.array([r[f"{picker}_rank"] <= r["m"] // 2 for r in scored])
            rows.append({"source": source, "picker": picker, "probes": len(group), "mean_rank": float(ranks.mean()),
                         "ci": problem_bootstrap(scored, f"{picker}_rank"),
                         "p_best": float((ranks == 1).mean()), "p_top_half": float(halves.mean()),
                         "failed": failed})
    return rows


def positions(records: Sequence[dict[str, Any]], picker: str = "llm") -> dict[str, dict[int, int]]:
    """Per source: how often the model (``picker``: ``"llm"`` or ``"llm_lora"``) picked each (1-based) position."""
    out: dict[str, dict[int, int]] = {}
    for source in sorted({r["source"] for r in records}):
        c = Counter(r[f"{picker}_pick"] + 1 for r in records
                    if r["source"] == source and r.get(f"{picker}_pick") is not None)
        out[source] = dict(sorted(c.items()))
    return out


def table(rows: Sequence[dict[str, Any]], pos: dict[str, dict[int, int]]) -> str:
    def f(x: Any, spec: str = ".2f") -> str:
        return "-" if x is None else format(x, spec)

    lines = ["| source | picker | probes | mean rank of the pick (1 = best) [95% CI] | picked the best | "
             "picked the better half | failed |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        ci = f" [{r['ci'][0]:.2f}, {r['ci'][1]:.2f}]" if r["ci"] else ""
        lines.append(f"| {r['source']} | {r['picker']} | {r['probes']} | {f(r['mean_rank'])}{ci} | "
                     f"{f(r['p_best'], '.0%')} | {f(r['p_top_half'], '.0%')} | {r['failed']} |")
    lines.append("")
    for source, counts in pos.items():
        lines.append(f"Positions the model picked ({source}): "
                     + ", ".join(f"#{k}: {v}" for k, v in counts.items()) + ".")
    return "\n".join(lines) + "\n"


class FirstPick:
    """A test double that always picks candidate 1 (``--llm scripted-first``): plumbing only."""

    def complete_json(self, messages: Any, schema: Any, **kw: Any) -> tuple[dict[str, int], Any]:
        from raytune_llm.llm.base import Usage

        return {"pick": 1}, Usage(prompt_tokens=0, completion_tokens=0, latency_s=0.0, model="first")


def build_parser() -> argparse.ArgumentParser:
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    p = argparse.ArgumentParser(prog="python -m benchmarks.llm_rank_probe", description=__doc__.splitlines()[0])
    p.add_argument("--sources", default="functions,meta", help="functions, meta or both")
    p.add_argument("--probes", type=int, default=15, help="probes per function / per data set")
    p.add_argument("--history", type=int, default=10, help="functions: history points shown")
    p.add_argument("--candidates", type=int, default=8, help="candidates per probe (meta: at most 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--llm", default="embedded", help="a backend spec, or scripted-first (a test double)")
    p.add_argument("--lora", default=None, help="a GGUF LoRA adapter: the same model with it answers too (llm_lora)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per LLM call")
    p.add_argument("--quick", action="store_true", help="2 probes per problem (what the tests run)")
    p.add_argument("--out", default=f"benchmarks/results/llm-rank-probe-{today}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    if not sources or any(s not in ("functions", "meta") for s in sources):
        parser.error(f"--sources must be functions, meta or both, got {args.sources!r}")
    if args.quick:
        args.probes = 2
    if args.probes < 1 or args.history < 2 or not 2 <= args.candidates <= 8:
        parser.error("--probes >= 1, --history >= 2 and --candidates in 2..8 (the meta-dataset has 16 per data set)")
    probes: list[Probe] = []
    if "functions" in sources:
        probes += function_probes(args.probes, history=args.history, candidates=args.candidates, seed=args.seed)
    if "meta" in sources:
        probes += meta_probes(args.probes, candidates=args.candidates, seed=args.seed)
    if args.llm == "scripted-first":
        backend: Any = FirstPick()
    else:
        from raytune_llm.llm import get_backend

        backend = get_backend(args.llm)
    lora = None
    if args.lora:
        from raytune_llm.llm import get_backend

        lora = FirstPick() if args.llm == "scripted-first" else get_backend(args.llm, lora=args.lora)
    start = time.perf_counter()
    records = run_probes(probes, backend, timeout_s=args.timeout,
                         progress=lambda i, n: logger.info("probe %d/%d", i, n) if i % 10 == 0 or i == n else None,
                         lora=lora)
    rows = summarize(records)
    pos = positions(records)
    if lora is not None:
        pos.update({f"{source} (with the LoRA)": c for source, c in positions(records, "llm_lora").items()})
    notes = (f"{len(probes)} probes, {args.candidates} candidates each (functions: {args.history} history points; "
             f"meta: the other {16 - args.candidates} experiments of the data set), model `{args.llm}`"
             + (f" without and with (llm_lora) the LoRA adapter `{args.lora}` ({adapter_provenance(args.lora)})"
                if args.lora else "")
             + ", temperature 0, "
             f"{time.perf_counter() - start:.0f} s. Candidates are shown in random order. Rank 1 = the best of the "
             f"candidates (ties share the better rank); chance = a uniform pick on the same probes, exactly. 95% CI: "
             f"bootstrap of the mean, resampling problems (functions, data sets), then probes within them.")
    stem = args.out
    md, js = write_results(rows, [], stem, command="python -m benchmarks.llm_rank_probe " + shlex.join(argv),
                           table=table(rows, pos), title="LLM rank probe", notes=notes,
                           extra={"probes": records, "positions": pos})
    print(table(rows, pos), end="")
    print(f"wrote {md} and {js}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
