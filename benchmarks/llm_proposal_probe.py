"""Do the LLM's proposals beat the best so far more often than random, near-best and model-based ones?

When a searcher asks its LLM for new configurations (LLM-PSO's swarm prompt, or LLMSearcher's
history prompt), the answer is only worth the wait if it holds a configuration better than every
trial the prompt shows more often than cheap proposers do. This probe measures exactly that,
offline, on problems whose true values are known and that the model was never trained on:

* ``functions``: shifted Rastrigin, Ackley, Rosenbrock and Griewank in 5-D (the benchmark's test
  functions with the optimum moved off the centre; more problems than four use further shifts).
* ``salomon``: generated problems of the held-out Salomon family
  (:func:`raytune_llm.finetune.problems.make_problem`, seeds 1000, 1001, ..., at most 8
  parameters) with realistic hyperparameter names, a metric minimised or maximised.

Per problem, a search runs in-process (:func:`raytune_llm.finetune.trajectories.run_search`:
``pso`` builds the swarm prompts, ``random`` the history prompts; the problem's probes are shared
between the two, alternating which gets the odd one) and ``--probes`` of the requests it built,
spread over the run (at least 8 trials done), become probes. A probe is the request (messages,
answer schema, ``n`` configurations asked for), the history it shows (exactly
``history[:done]``) and the objective. On each probe, every proposer makes ``n`` configurations:

* ``llm``: the model (default the embedded SmolLM2-135M) answers the request as the searcher
  sends it (temperature 0.7, the searcher's ``max_tokens``, a seed fixed per probe); its
  configurations are screened (:func:`raytune_llm.proposals.screen_configs`: repaired, new ones
  only) as the searcher screens them. ``llm_lora``: the same model with ``--lora``'s adapter.
* ``random``: uniform configurations of the space.
* ``near_best``: Gaussian steps (sd 0.02 of each unit-cube range) around the best trial shown.
* ``model``: the ``n`` best of 512 candidates (half uniform, half steps of log-uniform width in
  [0.005, 0.2] around the 5 best trials) by the GP screen's acquisition fitted on the history
  shown: LLM-PSO's own model-based proposer (:mod:`raytune_llm.surrogate.proposers`).

Scored per probe and proposer: ``valid`` (screened configurations / asked), ``improved`` (1 when a
proposed configuration's true value beats the best value shown, in the metric's direction; a
failed answer or one with no valid configuration scores 0), ``gain`` (the best proposal's
improvement over the best shown, divided by the spread of the values shown; 0 when not improved).
Summary per source and proposer: mean valid fraction, P(improved) with a 95% bootstrap interval
(resampling problems, then probes within them, since one problem's probes share its run), mean
gain, failures; and exact two-sided sign tests of ``llm`` against each control on ``improved``
(paired by probe, ties dropped), and of ``llm_lora`` against ``llm`` and the controls.

Usage (repository root)::

    python -m benchmarks.llm_proposal_probe --out benchmarks/results/llm-proposal-probe-YYYY-MM-DD
    python -m benchmarks.llm_proposal_probe --quick --llm scripted-empty --out /tmp/probe   # tests
    python -m benchmarks.llm_proposal_probe --lora out/adapter.gguf --out ...   # with and without a LoRA
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import shlex
import sys
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.compare import problem_bootstrap, sign_test_p
from benchmarks.harness import write_results
from raytune_llm.finetune.trajectories import Request, run_search
from raytune_llm.llm.gguf_header import adapter_provenance
from raytune_llm.proposals.screening import screen_configs

logger = logging.getLogger("llm_proposal_probe")

SOURCES = ("functions", "salomon")
FUNCTIONS = ("rastrigin", "ackley", "rosenbrock", "griewank")
DIM = 5  # the functions' dimension
MAX_PARAMS = 8  # salomon problems: at most this many parameters
MIN_DONE = 8  # a probe's prompt shows at least this many trials
SEARCHERS = ("pso", "random")  # the prompts: pso -> "pso-replace" (swarm), random -> "history"
CONTROLS = ("random", "near_best", "model")
PROPOSERS = ("llm", "llm_lora", *CONTROLS)  # llm_lora: only in records of a --lora run
TEMPERATURE = 0.7  # what the searchers send (LLMLink.submit's default)
NEAR_BEST_SD = 0.02


@dataclass
class Target:
    """A problem to search: its space, metric, direction, task line and true objective."""

    source: str
    name: str
    space: Any  # SearchSpace
    metric: str
    mode: str
    task: str
    objective: Callable[[dict[str, Any]], float]


@dataclass
class Probe:
    """One request a searcher built, the history it shows and the objective to score answers on."""

    source: str
    problem: str
    space: Any  # SearchSpace
    metric: str
    mode: str
    objective: Callable[[dict[str, Any]], float]
    request: Request
    shown: list[dict[str, Any]]  # exactly the run's history[:request.done]
    seed: int

    @property
    def n(self) -> int:
        return asked(self.request)

    def seen(self) -> set[str]:
        """Keys of the configurations the prompt shows (a proposal must be new)."""
        return {self.space.key(h["config"]) for h in self.shown}


def asked(request: Request) -> int:
    """Configurations (or edits) the request asks for."""
    props = request.schema.get("properties", {})
    return int(props.get("configs", props.get("edits", {})).get("minItems", 0))


def max_tokens(request: Request, dim: int) -> int:
    """The ``max_tokens`` the searcher sends with this request (``LLMPSOSearcher._replacement_request``,
    ``LLMSearcher._request`` without analysis)."""
    n = asked(request)
    if "edits" in request.schema.get("properties", {}):
        return 60 + 40 * n
    return 60 + 25 * dim * n


def _cost(value: float | None, mode: str) -> float:
    """Lower is better; a missing or non-finite value is the worst."""
    if value is None or not math.isfinite(value):
        return math.inf
    return value if mode == "min" else -value


def _value(objective: Callable[[dict[str, Any]], float], config: dict[str, Any]) -> float | None:
    v = float(objective(config))
    return v if math.isfinite(v) else None


# ---------------------------------------------------------------------------------------- problems
def function_targets(n: int, *, dim: int = DIM) -> list[Target]:
    """``n`` shifted test functions: the four in turn, shift seed 1, then 2, ..."""
    from benchmarks.functions import get_function
    from raytune_llm.space import SearchSpace

    out = []
    for i in range(n):
        fn = get_function(FUNCTIONS[i % len(FUNCTIONS)]).shifted(1 + i // len(FUNCTIONS))
        out.append(Target("functions", f"{fn.name}-d{dim}", SearchSpace.from_tune(fn.param_space(dim)), "value",
                          "min", f"minimise a black-box function of {dim} real inputs", fn))
    return out


def salomon_targets(n: int) -> list[Target]:
    """``n`` generated problems of the held-out Salomon family (seeds 1000, 1001, ...; the
    generator draws the dimension, here from 1 to :data:`MAX_PARAMS`)."""
    from raytune_llm.finetune.problems import make_problem

    out = []
    for i in range(n):
        p = make_problem(family="salomon", seed=1000 + i, dims=(1, MAX_PARAMS))
        out.append(Target("salomon", p.name, p.space, p.metric, p.mode, p.task, p))
    return out


def _spread(items: Sequence[Any], k: int) -> list[Any]:
    """``k`` items spread evenly over ``items`` (first and last included), in order."""
    if len(items) <= k:
        return list(items)
    return [items[i] for i in sorted(set(np.linspace(0, len(items) - 1, k).round().astype(int).tolist()))]


def _probe_seed(problem: str, run_seed: int, done: int) -> int:
    """The seed of one probe (the LLM's sampling seed; the controls' generators start from it)."""
    return zlib.crc32(f"{problem}:{run_seed}:{done}".encode()) % (2 ** 31)


def target_probes(target: Target, *, probes: int, budget: int, seed: int, index: int = 0) -> list[Probe]:
    """``probes`` probes of one problem, shared between the swarm and the history prompt (problem
    ``index`` decides which prompt gets the odd one), each from its own run, spread over it."""
    order = SEARCHERS if index % 2 == 0 else SEARCHERS[::-1]
    counts = {order[0]: -(-probes // 2), order[1]: probes // 2}
    out: list[Probe] = []
    for j, searcher in enumerate(SEARCHERS):
        if not counts[searcher]:
            continue
        run_seed = (seed * 1_000_003 + index * 7 + j) % (2 ** 31)
        trajectory = run_search(target.objective, space=target.space, metric=target.metric, mode=target.mode,
                                searcher=searcher, budget=budget, seed=run_seed, task=target.task)
        eligible, dones = [], set()
        for request in trajectory.requests:  # the first request per number of trials done
            shown = trajectory.history[:request.done]
            if (request.done < MIN_DONE or request.done in dones or asked(request) < 1
                    or sum(h["value"] is not None for h in shown) < 2):
                continue
            dones.add(request.done)
            eligible.append(request)
        picked = _spread(eligible, counts[searcher])
        if len(picked) < counts[searcher]:
            logger.warning("%s, %s: %d of %d probes (budget %d leaves %d requests after %d trials)", target.name,
                           searcher, len(picked), counts[searcher], budget, len(eligible), MIN_DONE)
        out += [Probe(target.source, target.name, target.space, target.metric, target.mode, target.objective,
                      request, trajectory.history[:request.done], _probe_seed(target.name, run_seed, request.done))
                for request in picked]
    return out


def make_probes(sources: Sequence[str], *, problems: int, probes: int, budget: int, seed: int) -> list[Probe]:
    """The probes of every source's ``problems`` problems."""
    out: list[Probe] = []
    for source in sources:
        targets = function_targets(problems) if source == "functions" else salomon_targets(problems)
        for i, target in enumerate(targets):
            out += target_probes(target, probes=probes, budget=budget, seed=seed, index=i)
    return out


# --------------------------------------------------------------------------------------- proposers
def _fill(probe: Probe, draw: Callable[[int], np.ndarray], *, rounds: int = 20) -> list[dict[str, Any]]:
    """Up to ``probe.n`` new configurations from ``draw(round) -> unit points`` (screened as an
    answer is: new, valid, distinct), drawing again while some are missing."""
    seen = probe.seen()
    accepted: list[dict[str, Any]] = []
    for r in range(rounds):
        if len(accepted) >= probe.n:
            break
        items = [probe.space.flat_from_unit(x) for x in draw(r)]
        screened = screen_configs(items, probe.space, seen=seen, limit=probe.n - len(accepted))
        accepted += screened.accepted
        seen |= {probe.space.key(c) for c in screened.accepted}
    return accepted


def random_proposals(probe: Probe, rng: np.random.Generator) -> list[dict[str, Any]]:
    """``n`` uniform configurations of the space."""
    return _fill(probe, lambda r: rng.random((probe.n, probe.space.dim)))


def _best_shown(probe: Probe, k: int = 1) -> list[dict[str, Any]]:
    """The ``k`` best trials shown, best first (failed trials last)."""
    return sorted(probe.shown, key=lambda h: _cost(h["value"], probe.mode))[:k]


def near_best_proposals(probe: Probe, rng: np.random.Generator, sd: float = NEAR_BEST_SD) -> list[dict[str, Any]]:
    """``n`` Gaussian steps (``sd`` of each unit-cube range) around the best trial shown, snapped to
    the space's grid; where a step lands on a configuration already tried (integers, categories),
    the next draws double the step (at most 8 times)."""
    from raytune_llm.surrogate.kinds import kinds_from_space, snap

    kinds = kinds_from_space(probe.space)
    centre = probe.space.to_unit(_best_shown(probe)[0]["config"])
    return _fill(probe, lambda r: snap(centre + sd * 2 ** min(r, 8) * rng.standard_normal((probe.n, len(centre))),
                                       kinds))


def model_proposals(probe: Probe, rng: np.random.Generator, *, candidates: int | None = None) -> list[dict[str, Any]]:
    """The ``n`` best new configurations of ``candidates`` (default 512: LLM-PSO's) by the GP screen
    fitted on the history shown, half uniform and half steps of log-uniform width in [0.005, 0.2]
    around the 5 best trials, as LLM-PSO makes them (:func:`raytune_llm.surrogate.proposers.model_candidates`)."""
    from raytune_llm.searchers.llm_pso import SURROGATE_DEFAULTS
    from raytune_llm.surrogate.kinds import kinds_from_space
    from raytune_llm.surrogate.proposers import model_candidates
    from raytune_llm.surrogate.screen import SurrogateScreen

    space = probe.space
    kinds = kinds_from_space(space)
    m = int(candidates or SURROGATE_DEFAULTS["model_candidates"])
    screen = SurrogateScreen(space.dim, kinds=kinds, seed=probe.seed,
                             gp_options={"max_iter": SURROGATE_DEFAULTS["max_iter"]})
    for h in probe.shown:
        screen.observe(space.to_unit(h["config"]), _cost(h["value"], probe.mode))
    screen.refresh(optimize_hyperparameters=True)
    X, y = screen.history()
    cands = model_candidates(X, y, space.dim, kinds, m, rng)
    order = np.argsort(screen(cands), kind="stable")
    ranked = [space.flat_from_unit(cands[i]) for i in order]
    return screen_configs(ranked, space, seen=probe.seen(), limit=probe.n).accepted


def llm_proposals(backend: Any, probe: Probe, *, timeout_s: float) -> tuple[list[dict[str, Any]], str | None, float]:
    """The model's answer to the probe's request, screened: ``(configurations, error, seconds)``;
    ``error`` also names an answer without a valid configuration."""
    from raytune_llm.errors import LLMError
    from raytune_llm.proposals.swarm import apply_edits

    start = time.perf_counter()
    try:
        answer, _ = backend.complete_json(probe.request.messages, probe.request.schema, temperature=TEMPERATURE,
                                          max_tokens=max_tokens(probe.request, probe.space.dim), seed=probe.seed,
                                          timeout=timeout_s)
    except (LLMError, KeyError, TypeError, ValueError) as exc:
        return [], f"{type(exc).__name__}: {exc}"[:200], time.perf_counter() - start
    seconds = time.perf_counter() - start
    if not isinstance(answer, Mapping):
        return [], f"not an object: {answer!r}"[:200], seconds
    bad: list[tuple[Any, str]] = []
    if "edits" in answer:  # the swarm prompt's "edits" form: bases are the 5 best trials shown, best first
        items, bad = apply_edits(answer["edits"], [h["config"] for h in _best_shown(probe, 5)], probe.space)
    else:
        items = answer.get("configs", [])
    screened = screen_configs(items if isinstance(items, list) else [], probe.space, seen=probe.seen(),
                              limit=probe.n)
    if not screened.accepted:
        reasons = [r for _, r in bad + screened.rejected][:3]
        return [], "no valid configuration" + (f" ({'; '.join(reasons)})" if reasons else ""), seconds
    return screened.accepted, None, seconds


# ----------------------------------------------------------------------------------------- scoring
def score(values: Sequence[float | None], shown: Sequence[float | None], mode: str, n: int) -> dict[str, Any]:
    """Scores of one proposer's configurations on one probe.

    Args:
        values: the true values of the (screened) configurations proposed (``None``: failed).
        shown: the values of the trials the prompt shows.
        mode: ``"min"`` or ``"max"``.
        n: configurations asked for.

    Returns:
        ``valid`` (configurations / asked), ``improved`` (1 when one beats every value shown, else 0),
        ``gain`` (the best one's improvement over the best shown, divided by the spread of the values
        shown; 0 when not improved) and ``best`` (the best value proposed, ``None`` without one).
    """
    finite = [v for v in shown if v is not None and math.isfinite(v)]
    bar = min((_cost(v, mode) for v in finite), default=math.inf)
    spread = (max(finite) - min(finite)) if finite else 0.0
    costs = [_cost(v, mode) for v in values]
    best = min(costs, default=math.inf)
    improved = int(best < bar)
    gain = (bar - best) / (spread if spread > 0 else 1.0) if improved and math.isfinite(bar) else 0.0
    best_value = None if not math.isfinite(best) else (best if mode == "min" else -best)
    return {"valid": len(values) / n if n else 0.0, "improved": improved, "gain": float(gain),
            "best": best_value}


def _scored(probe: Probe, configs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    values = [_value(probe.objective, c) for c in configs]
    out = score(values, [h["value"] for h in probe.shown], probe.mode, probe.n)
    out["values"] = [None if v is None else float(f"{v:.6g}") for v in values]
    return out


def run_probe(probe: Probe, backend: Any, *, timeout_s: float = 300.0, lora: Any = None) -> dict[str, Any]:
    """Every proposer on one probe: one record with their scores (``{proposer}_{valid, improved,
    gain, best, values}``, and the models' ``_error`` and ``_seconds``)."""
    shown = [h["value"] for h in probe.shown if h["value"] is not None]
    best_shown = min(shown) if probe.mode == "min" else max(shown)
    rec: dict[str, Any] = {"source": probe.source, "problem": probe.problem, "prompt": probe.request.tag,
                           "done": probe.request.done, "n": probe.n, "mode": probe.mode, "seed": probe.seed,
                           "shown_best": best_shown, "shown_spread": max(shown) - min(shown)}
    models = [("llm", backend)] + ([("llm_lora", lora)] if lora is not None else [])
    for name, model in models:
        configs, error, seconds = llm_proposals(model, probe, timeout_s=timeout_s)
        rec.update({f"{name}_{k}": v for k, v in _scored(probe, configs).items()})
        rec.update({f"{name}_error": error, f"{name}_failed": int(not configs), f"{name}_seconds": seconds})
    controls: dict[str, Callable[[np.random.Generator], list[dict[str, Any]]]] = {
        "random": lambda rng: random_proposals(probe, rng),
        "near_best": lambda rng: near_best_proposals(probe, rng),
        "model": lambda rng: model_proposals(probe, rng),
    }
    for j, (name, propose) in enumerate(controls.items()):
        configs = propose(np.random.default_rng([probe.seed, zlib.crc32(name.encode()), j]))
        rec.update({f"{name}_{k}": v for k, v in _scored(probe, configs).items()})
        rec[f"{name}_failed"] = int(not configs)
    return rec


def run_probes(probes: Sequence[Probe], backend: Any, *, timeout_s: float = 300.0, lora: Any = None,
               progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """:func:`run_probe` on every probe, in order."""
    records = []
    for i, probe in enumerate(probes):
        records.append(run_probe(probe, backend, timeout_s=timeout_s, lora=lora))
        if progress:
            progress(i + 1, len(probes))
    return records


# ----------------------------------------------------------------------------------------- summary
def summarize(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per source, per proposer: probes, mean valid fraction, P(improved) with its 95% interval
    (resampling problems, then probes), mean gain and failures (no valid configuration)."""
    rows = []
    for source in sorted({r["source"] for r in records}):
        group = [r for r in records if r["source"] == source]
        for name in [p for p in PROPOSERS if any(f"{p}_improved" in r for r in group)]:
            rows.append({"source": source, "proposer": name, "probes": len(group),
                         "valid": float(np.mean([r[f"{name}_valid"] for r in group])),
                         "p_improved": float(np.mean([r[f"{name}_improved"] for r in group])),
                         "ci": problem_bootstrap(group, f"{name}_improved"),
                         "gain": float(np.mean([r[f"{name}_gain"] for r in group])),
                         "failed": int(sum(r[f"{name}_failed"] for r in group))})
    return rows


def sign_test(records: Sequence[dict[str, Any]], a: str, b: str) -> dict[str, Any]:
    """Paired exact two-sided sign test of ``a`` vs ``b`` on ``improved`` (ties dropped)."""
    a_only = sum(1 for r in records if r[f"{a}_improved"] > r[f"{b}_improved"])
    b_only = sum(1 for r in records if r[f"{a}_improved"] < r[f"{b}_improved"])
    return {"a": a, "b": b, "a_only": a_only, "b_only": b_only, "ties": len(records) - a_only - b_only,
            "p": sign_test_p(a_only, b_only)}


def sign_tests(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``llm`` vs each control and (with ``llm_lora`` records) ``llm_lora`` vs ``llm`` and each
    control; per source and over all sources."""
    pairs = [("llm", c) for c in CONTROLS]
    if any("llm_lora_improved" in r for r in records):
        pairs += [("llm_lora", "llm")] + [("llm_lora", c) for c in CONTROLS]
    out = []
    sources = sorted({r["source"] for r in records})
    for source in sources + (["all"] if len(sources) > 1 else []):
        group = [r for r in records if source in ("all", r["source"])]
        out += [{"source": source, **sign_test(group, a, b)} for a, b in pairs]
    return out


def table(rows: Sequence[dict[str, Any]], tests: Sequence[dict[str, Any]]) -> str:
    lines = ["| source | proposer | probes | valid configurations | P(beats the best shown) [95% CI] | "
             "mean gain (/ spread shown) | failed |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        ci = f" [{r['ci'][0]:.0%}, {r['ci'][1]:.0%}]" if r["ci"] else ""
        lines.append(f"| {r['source']} | {r['proposer']} | {r['probes']} | {r['valid']:.0%} | "
                     f"{r['p_improved']:.0%}{ci} | {r['gain']:.3f} | {r['failed']} |")
    lines += ["", "Paired sign tests on beating the best shown (exact, two-sided, ties dropped):", "",
              "| source | comparison | only the first | only the second | ties | p |", "|---|---|---:|---:|---:|---:|"]
    for t in tests:
        lines.append(f"| {t['source']} | {t['a']} vs {t['b']} | {t['a_only']} | {t['b_only']} | {t['ties']} | "
                     f"{t['p']:.3g} |")
    return "\n".join(lines) + "\n"


class EmptyAnswers:
    """A test double that answers ``{"configs": []}`` (``--llm scripted-empty``): plumbing only."""

    spec = "scripted-empty"

    def complete_json(self, messages: Any, schema: Any, **kw: Any) -> tuple[dict[str, list[Any]], Any]:
        from raytune_llm.llm.base import Usage

        return {"configs": []}, Usage(prompt_tokens=0, completion_tokens=0, latency_s=0.0, model="empty")


def build_parser() -> argparse.ArgumentParser:
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    p = argparse.ArgumentParser(prog="python -m benchmarks.llm_proposal_probe", description=__doc__.splitlines()[0])
    p.add_argument("--sources", default=",".join(SOURCES), help="functions, salomon or both (comma-separated)")
    p.add_argument("--probes", type=int, default=6, help="probes per problem (shared by the two prompts)")
    p.add_argument("--problems", type=int, default=4, help="problems per source (functions: 4, then more shifts)")
    p.add_argument("--budget", type=int, default=40, help="trials per search run the probes come from")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--llm", default="embedded", help="a backend spec, or scripted-empty (a test double)")
    p.add_argument("--lora", default=None, help="a GGUF LoRA adapter: the same model with it answers too (llm_lora)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per LLM call")
    p.add_argument("--quick", action="store_true", help="1 probe per problem, 2 problems, budget 20 (the tests)")
    p.add_argument("--out", default=f"benchmarks/results/llm-proposal-probe-{today}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    bad = [s for s in sources if s not in SOURCES]
    if not sources or bad:
        parser.error(f"--sources must be functions, salomon or both, got {args.sources!r}")
    if args.quick:
        args.probes, args.problems, args.budget = 1, 2, 20
    if args.probes < 1:
        parser.error(f"--probes must be >= 1, got {args.probes}")
    if args.problems < 1:
        parser.error(f"--problems must be >= 1, got {args.problems}")
    if args.budget <= MIN_DONE:
        parser.error(f"--budget must be > {MIN_DONE} (probes show at least {MIN_DONE} trials), got {args.budget}")
    if not args.timeout > 0:
        parser.error(f"--timeout must be > 0 seconds, got {args.timeout}")
    if args.llm == "scripted-empty":
        backend: Any = EmptyAnswers()
        lora: Any = EmptyAnswers() if args.lora else None
    else:
        from raytune_llm.llm import get_backend

        backend = get_backend(args.llm)
        lora = get_backend(args.llm, lora=args.lora) if args.lora else None
    start = time.perf_counter()
    probes = make_probes(sources, problems=args.problems, probes=args.probes, budget=args.budget, seed=args.seed)
    if not probes:
        parser.error("no probes: raise --budget")
    logger.info("%d probes", len(probes))
    records = run_probes(probes, backend, timeout_s=args.timeout, lora=lora,
                         progress=lambda i, n: logger.info("probe %d/%d", i, n) if i % 5 == 0 or i == n else None)
    rows = summarize(records)
    tests = sign_tests(records)
    prompts = {tag: sum(r["prompt"] == tag for r in records) for tag in sorted({r["prompt"] for r in records})}
    notes = (f"{len(probes)} probes ({', '.join(f'{n} {t}' for t, n in prompts.items())} prompts) from "
             f"{args.problems} problems per source, runs of {args.budget} trials (seed {args.seed}), model "
             f"`{args.llm}`" + (f" without and with (llm_lora) the LoRA adapter `{args.lora}` "
                                f"({adapter_provenance(args.lora)})" if args.lora else "")
             + f", temperature {TEMPERATURE}, {time.perf_counter() - start:.0f} s. Each proposer makes as many "
             "configurations as the request asks for; 'beats the best shown': one of them is better than every "
             "trial the prompt shows (a failed answer or one without a valid configuration does not). Gain: the "
             "best proposal's improvement over the best shown / the spread of the values shown (0 without one). "
             "95% CI: bootstrap of the mean, resampling problems, then probes within them.")
    md, js = write_results(rows, [], args.out, command="python -m benchmarks.llm_proposal_probe " + shlex.join(argv),
                           table=table(rows, tests), title="LLM proposal probe", notes=notes,
                           extra={"probes": records, "sign_tests": tests})
    print(table(rows, tests), end="")
    print(f"wrote {md} and {js}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
