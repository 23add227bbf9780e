"""Training examples cut from search runs: the searcher's prompt in, better configurations out.

An example is one request a searcher built during a run (:mod:`raytune_llm.finetune.trajectories`,
so its messages are exactly the prompt the searcher sends) and, as the assistant's answer, the
configurations the model should have proposed: ``n`` configurations (as many as the prompt asks
for), each better than every trial the prompt shows, best first. They come from

* the run itself: trials it completed *after* the prompt that beat everything in it, and
* where the objective is known (generated problems): edits of the prompt's best trials (one or two
  parameters changed, as the swarm prompt asks) evaluated on the objective, keeping improvements.

A request with fewer than ``n`` such configurations gives no example (counted, not guessed). The
answer is the JSON the searcher's grammar allows (``{"configs": [...]}``, parameters in the
space's order, numbers to 4 significant digits).

Sources: :func:`generated_examples` (synthetic problems, with a family/seed split for validation),
:func:`experiment_examples` (a user's past trials, replayed through the history prompt) and the
meta-dataset's recommender examples (:func:`raytune_llm.meta.finetune.store_examples`). Rows with
NaN values, failed trials or parameters outside the space are skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from raytune_llm._checks import finite_or_none
from raytune_llm.finetune.problems import FAMILIES, VALIDATION_FAMILIES, Problem, is_validation, make_problems
from raytune_llm.finetune.trajectories import SEARCHERS, Request, Trajectory, run_search
from raytune_llm.space import SearchSpace


@dataclass
class Examples:
    """Chat examples and the count of everything left out, by reason.

    Each example is ``{"messages": [system, user, assistant], "source", "problem", "kind", "split"}``
    (the chat format fine-tuning tools read, plus provenance).
    """

    examples: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)

    def extend(self, other: Examples) -> None:
        self.examples += other.examples
        self.skipped.update(other.skipped)

    def split(self, name: str) -> list[dict[str, Any]]:
        """The examples of split ``name`` (``"train"`` or ``"validation"``)."""
        return [e for e in self.examples if e.get("split") == name]

    def summary(self) -> str:
        """One line: examples per split and source, and skipped rows by reason."""
        counts = Counter((e.get("split", "?"), e.get("source", "?")) for e in self.examples)
        text = ", ".join(f"{n} {source} ({split})" for (split, source), n in sorted(counts.items())) or "no examples"
        if self.skipped:
            text += "; skipped: " + ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        return text


def _round(x: float) -> float:
    return float(f"{x:.4g}")


def answer_value(space: SearchSpace, config: Mapping[str, Any]) -> dict[str, Any]:
    """A configuration as the answer writes it: the space's order, labels for choices, 4 significant
    digits for floats (kept inside the range)."""
    out: dict[str, Any] = {}
    for p in space.params:
        value = config[p.name]
        if p.kind == "categorical":
            out[p.name] = p.labels[p.index(value) if p.index(value) is not None else p.index(p.repair(value))]
        elif p.kind == "int":
            out[p.name] = int(value)
        else:
            lo, hi = p.bounds
            out[p.name] = min(max(_round(float(value)), lo), hi)
    return out


def answer_text(space: SearchSpace, configs: Sequence[Mapping[str, Any]]) -> str:
    """The assistant's answer: ``{"configs": [...]}`` as compact JSON."""
    return json.dumps({"configs": [answer_value(space, c) for c in configs]}, separators=(",", ":"),
                      ensure_ascii=False)


def _cost(value: float | None, mode: str) -> float:
    return math.inf if value is None else (value if mode == "min" else -value)


def _edits(space: SearchSpace, bases: Sequence[Mapping[str, Any]], rng: np.random.Generator,
           n: int) -> list[dict[str, Any]]:
    """``n`` edits of the ``bases``: one or two parameters of a base changed."""
    out = []
    for _ in range(n):
        base = bases[int(rng.integers(len(bases)))]
        u = space.to_unit(base)
        for i in rng.choice(space.dim, size=min(space.dim, int(rng.integers(1, 3))), replace=False):
            p = space.params[i]
            if p.kind == "categorical":
                u[i] = (int(rng.integers(len(p.choices))) + 0.5) / len(p.choices)
            else:
                u[i] = float(np.clip(u[i] + rng.normal(0, rng.choice([0.03, 0.1, 0.25])), 0, 1))
        out.append(space.flat_from_unit(u))
    return out


def targets(
    request: Request,
    history: Sequence[Mapping[str, Any]],
    *,
    space: SearchSpace,
    mode: str,
    objective: Callable[[dict[str, Any]], float] | None = None,
    rng: np.random.Generator | None = None,
    edits: int = 128,
    better: int | None = None,
) -> list[dict[str, Any]] | None:
    """The ``request.n`` configurations the answer should hold, best first, or ``None`` when fewer
    than ``better`` (default: all ``n``) beat every trial the prompt shows.

    Args:
        request: the recorded request (it shows ``history[:request.done]``).
        history: the whole run (``{"config", "value"}``, in order).
        space: the search space; mode: ``"min"`` or ``"max"``.
        objective: the true objective, for edits of the best trials (``None``: the run only).
        rng: the generator of the edits.
        edits: how many edits to evaluate.
        better: how many of the ``n`` must beat the prompt's best; the rest are the best of the
            run's later trials (past runs, where nothing else can be evaluated).
    """
    shown = history[:request.done]
    scored = [h for h in shown if h["value"] is not None]
    if not scored or request.n < 1:
        return None
    bar = min(_cost(h["value"], mode) for h in scored)
    seen = {space.key(h["config"]) for h in shown}
    found: dict[str, tuple[float, dict[str, Any]]] = {}
    later: dict[str, tuple[float, dict[str, Any]]] = {}
    for h in history[request.done:]:
        c = _cost(h["value"], mode)
        key = space.key(h["config"])
        if key not in seen and math.isfinite(c):
            (found if c < bar else later).setdefault(key, (c, dict(h["config"])))
    if objective is not None:
        rng = rng or np.random.default_rng(0)
        bases = [h["config"] for h in sorted(scored, key=lambda h: _cost(h["value"], mode))[:3]]
        for config in _edits(space, bases, rng, edits):
            key = space.key(config)
            value = finite_or_none(objective(config))
            c = _cost(value, mode)
            if c < bar and key not in seen:
                found.setdefault(key, (c, config))
    need = request.n if better is None else min(better, request.n)
    if len(found) < need:
        return None
    ranked = sorted(found.values(), key=lambda cv: cv[0])
    if len(ranked) < request.n:
        ranked += sorted(later.values(), key=lambda cv: cv[0])[:request.n - len(ranked)]
    if len(ranked) < request.n:
        return None
    return [config for _, config in ranked[:request.n]]


def trajectory_examples(
    trajectory: Trajectory,
    *,
    space: SearchSpace,
    mode: str,
    source: str,
    problem: str,
    split: str = "train",
    objective: Callable[[dict[str, Any]], float] | None = None,
    per_run: int = 6,
    seed: int = 0,
    better: int | None = None,
) -> Examples:
    """Up to ``per_run`` examples from one run: requests spread over the run, each with its targets
    (``better``: see :func:`targets`)."""
    out = Examples()
    rng = np.random.default_rng(seed)
    usable = []
    requests = [r for r in trajectory.requests if r.n >= 1]
    if len(requests) > 3 * per_run:  # spread over the run; a few spare ones for those without targets
        requests = [requests[i] for i in sorted(set(np.linspace(0, len(requests) - 1, 3 * per_run)
                                                    .round().astype(int).tolist()))]
    for request in requests:
        configs = targets(request, trajectory.history, space=space, mode=mode, objective=objective, rng=rng,
                          better=better)
        if configs is None:
            out.skipped["requests without enough improving configurations"] += 1
        else:
            usable.append((request, configs))
    if len(usable) > per_run:  # spread over the run
        picks = sorted(set(np.linspace(0, len(usable) - 1, per_run).round().astype(int).tolist()))
        out.skipped["requests not picked (per_run)"] += len(usable) - len(picks)
        usable = [usable[i] for i in picks]
    for request, configs in usable:
        out.examples.append({
            "messages": [*request.messages, {"role": "assistant", "content": answer_text(space, configs)}],
            "source": source, "problem": problem, "kind": request.tag, "split": split,
        })
    return out


def generated_examples(
    n_problems: int,
    *,
    seed: int = 0,
    budget: int = 60,
    per_run: int = 6,
    families: Sequence[str] = FAMILIES,
    validation_families: Sequence[str] = VALIDATION_FAMILIES,
    seed_fraction: float = 0.1,
    dims: tuple[int, int] = (1, 20),
    searchers: Sequence[str] = SEARCHERS,
    progress: Callable[[int, int], None] | None = None,
) -> Examples:
    """Examples from ``n_problems`` generated problems, each searched once by every searcher.

    Problems of ``validation_families`` and a ``seed_fraction`` of the others' seeds form the
    ``"validation"`` split; the rest ``"train"``.
    """
    for name in searchers:
        if name not in SEARCHERS:
            raise ValueError(f"searchers must be among {SEARCHERS}, got {name!r}")
    out = Examples()
    problems: list[Problem] = make_problems(n_problems, seed=seed, families=families, dims=dims)
    for i, problem in enumerate(problems):
        split = "validation" if is_validation(problem, families=validation_families,
                                              seed_fraction=seed_fraction) else "train"
        for j, name in enumerate(searchers):
            run_seed = (seed * 1_000_003 + i * 7 + j) % (2 ** 31)
            trajectory = run_search(problem, space=problem.space, metric=problem.metric, mode=problem.mode,
                                    searcher=name, budget=budget, seed=run_seed, task=problem.task)
            out.extend(trajectory_examples(trajectory, space=problem.space, mode=problem.mode,
                                           source=f"generated-{name}", problem=problem.name, split=split,
                                           objective=problem, per_run=per_run, seed=run_seed))
        if progress:
            progress(i + 1, len(problems))
    return out


def _pick_points(space: SearchSpace, rng: np.random.Generator, n: int, bases: Sequence[np.ndarray]) -> np.ndarray:
    """``n`` points of the unit cube: uniform, or (when ``bases`` are given, half the time) a base
    moved by a normal step of a random width, as a search's candidates are."""
    out = []
    for _ in range(n):
        if bases and rng.random() < 0.5:
            base = bases[int(rng.integers(len(bases)))]
            out.append(np.clip(base + rng.normal(0, rng.choice([0.03, 0.1, 0.25]), space.dim), 0, 1))
        else:
            out.append(rng.random(space.dim))
    return np.array(out)


def pick_examples(
    n: int,
    *,
    seed: int = 0,
    candidates: int = 8,
    history: tuple[int, int] = (6, 16),
    per_problem: int = 4,
    families: Sequence[str] = FAMILIES,
    validation_families: Sequence[str] = VALIDATION_FAMILIES,
    seed_fraction: float = 0.1,
    dims: tuple[int, int] = (1, 10),
    black_box: float = 0.3,
) -> Examples:
    """``n`` examples of the pick task (:mod:`raytune_llm.proposals.pick`): a history with values,
    ``candidates`` numbered configurations, and as the answer the one whose true value is best.

    Problems are generated (:func:`~raytune_llm.finetune.problems.make_problems`, ``per_problem``
    examples each). A history is uniform points, or (half the time) uniform points followed by steps
    around the best so far, as a search's history is; candidates are uniform or steps around the
    history's best three. A ``black_box`` fraction of the examples shows the problem as a black-box
    function of real inputs ``x0, x1, ...`` (metric ``value``, minimised), the rest with the
    problem's hyperparameter names and metric. Probes where several candidates tie for the best are
    left out (counted).
    """
    from raytune_llm.proposals.pick import pick_answer, pick_messages
    from raytune_llm.space import FloatParam

    if n < 0 or candidates < 2 or per_problem < 1 or not 2 <= history[0] <= history[1]:
        raise ValueError(f"pick_examples needs n >= 0, candidates >= 2, per_problem >= 1 and 2 <= history[0] <= "
                         f"history[1]; got n={n}, candidates={candidates}, per_problem={per_problem}, "
                         f"history={history}")
    out = Examples()
    problems = make_problems(-(-n // per_problem), seed=seed * 7_919 + 1, families=families, dims=dims)
    for i, problem in enumerate(problems):
        split = "validation" if is_validation(problem, families=validation_families,
                                              seed_fraction=seed_fraction) else "train"
        rng = np.random.default_rng([seed, i, 0x9E3])
        for _ in range(min(per_problem, n - i * per_problem)):
            if rng.random() < black_box:
                bound = float(rng.choice([1.0, 2.0, 5.0, 5.12, 10.0, 32.768, 100.0, 500.0]))
                space = SearchSpace(tuple(FloatParam(f"x{j}", -bound, bound) for j in range(problem.dim)))
                task, metric, mode = f"minimise a black-box function of {problem.dim} real inputs", "value", "min"

                def value(u: np.ndarray, problem: Problem = problem) -> float:
                    return problem.cost_at(u)
            else:
                space, task, metric, mode = problem.space, problem.task, problem.metric, problem.mode

                def value(u: np.ndarray, problem: Problem = problem, space: SearchSpace = space) -> float:
                    return problem(space.flat_from_unit(u))
            k = int(rng.integers(history[0], history[1] + 1))
            if rng.random() < 0.5:
                first = _pick_points(space, rng, k // 2, [])
                hist_u = list(first)
                hist_v = [value(u) for u in first]
                for _ in range(k - len(first)):
                    sign = 1.0 if mode == "min" else -1.0
                    best = hist_u[int(np.argmin([sign * v for v in hist_v]))]
                    u = _pick_points(space, rng, 1, [best])[0]
                    hist_u.append(u)
                    hist_v.append(value(u))
            else:
                hist_u = list(_pick_points(space, rng, k, []))
                hist_v = [value(u) for u in hist_u]
            sign = 1.0 if mode == "min" else -1.0
            top = [hist_u[j] for j in np.argsort([sign * v for v in hist_v])[:3]]
            cand_u = _pick_points(space, rng, candidates, top)
            cand_v = np.array([sign * value(u) for u in cand_u])
            if int(np.sum(cand_v <= cand_v.min() + 1e-12 * max(1.0, abs(cand_v.min())))) > 1:
                out.skipped["pick probes where candidates tie for the best"] += 1
                continue
            shown = [(space.flat_from_unit(u), float(v)) for u, v in zip(hist_u, hist_v)]
            messages = pick_messages(space, shown, [space.flat_from_unit(u) for u in cand_u], task=task,
                                     metric=metric, mode=mode)
            out.examples.append({
                "messages": [*messages, {"role": "assistant", "content": pick_answer(int(np.argmin(cand_v)) + 1)}],
                "source": "generated-pick", "problem": problem.name, "kind": "pick", "split": split,
            })
    return out


def experiment_examples(
    rows: Iterable[Mapping[str, Any]],
    *,
    space: Mapping[str, Any] | SearchSpace,
    metric: str,
    mode: str,
    name: str,
    task: str = "",
    per_run: int = 12,
    split: str = "train",
    seed: int = 0,
) -> Examples:
    """Examples from past trials (``{"config", "value"}`` rows in the order they ran), replayed
    through :class:`~raytune_llm.searchers.LLMSearcher` so the prompts are its history prompts.
    With no objective to evaluate, an answer is the run's later trials, best first, of which at
    least the first beat everything the prompt shows.

    Rows whose value is missing or not finite (failed trials) or whose configuration is outside
    ``space`` are skipped and counted; the rest keep their order.
    """
    space = SearchSpace.from_tune(space)
    out = Examples()
    kept: list[tuple[dict[str, Any], float]] = []
    for row in rows:
        value = finite_or_none(row.get("value"))
        config = row.get("config")
        if value is None:
            out.skipped["rows with a missing, NaN or infinite value (failed trials)"] += 1
            continue
        if not isinstance(config, Mapping) or space.check(config):
            out.skipped["rows with parameters missing or outside the space"] += 1
            continue
        kept.append((space.repair(config, flat=True), value))
    if len(kept) < 2:
        if kept:
            out.skipped["rows of runs too short to learn from (< 2 usable trials)"] += len(kept)
        return out
    values = iter([v for _, v in kept])
    trajectory = run_search(lambda config: next(values), space=space, metric=metric, mode=mode, searcher="random",
                            budget=len(kept), seed=seed, points=[c for c, _ in kept], task=task)
    out.extend(trajectory_examples(trajectory, space=space, mode=mode, source="experiment", problem=name,
                                   split=split, per_run=per_run, seed=seed, better=1))
    return out


def write_examples(examples: Iterable[Mapping[str, Any]], path: Any) -> int:
    """Write examples as JSONL (atomically); return the count."""
    from raytune_llm.meta.finetune import write_jsonl

    return write_jsonl(examples, path)


def read_examples(path: Any) -> list[dict[str, Any]]:
    """Read a JSONL of chat examples, checking each has system/user/assistant messages.

    Raises:
        ValueError: a line is not JSON or not a chat example; the message names the line.
    """
    out = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                example = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc}); each line must be one chat example") from exc
            messages = example.get("messages") if isinstance(example, dict) else None
            if not (isinstance(messages, list) and messages and isinstance(messages[-1], dict)
                    and messages[-1].get("role") == "assistant"):
                raise ValueError(f"{path}:{number}: not a chat example; expected {{\"messages\": [..., "
                                 "{\"role\": \"assistant\", \"content\": ...}]}")
            out.append(example)
    return out


__all__ = ["Examples", "answer_text", "answer_value", "experiment_examples", "generated_examples", "pick_examples", "read_examples",
           "targets", "trajectory_examples", "write_examples"]
