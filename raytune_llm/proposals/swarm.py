"""The swarm prompt of LLM-enhanced PSO and the screening of its answers.

The LLM reads the task, the space, the best trials, the worst particles (position, last and own
best cost, direction of motion) and other recent trials, and proposes new configurations for the
worst particles. Everything shown is bounded (``max_trials``, ``max_particles``, ``max_recent``,
shortened further if the text exceeds ``max_chars``), so the prompt stays the same size after 10
or 10,000 trials.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from raytune_llm.llm.base import Message
from raytune_llm.proposals.render import SPACE_HEADER, format_config, format_value, space_table
from raytune_llm.space import SearchSpace

SYSTEM = (
    "You are an expert in hyperparameter optimisation helping a particle swarm. You read the swarm and the "
    "trials so far and propose new configurations that are likely to beat the best result. Answer with JSON "
    "only, using exactly the parameter names given, every value inside its range."
)


@dataclass(frozen=True)
class Trial:
    """A completed trial as the prompt shows it: flat config and metric value (user's units)."""

    config: dict[str, Any]
    value: float
    origin: str = ""


@dataclass(frozen=True)
class ParticleView:
    """One particle as the prompt shows it."""

    config: dict[str, Any]
    velocity: np.ndarray
    last: float
    best: float


def _direction(space: SearchSpace, velocity: np.ndarray) -> str:
    moves = [(abs(v), name, v) for name, v in zip(space.names, velocity) if abs(v) >= 0.02]
    moves.sort(reverse=True)
    if not moves:
        return "still"
    return ", ".join(f"{name} {'up' if v > 0 else 'down'}" for _, name, v in moves[:3])


def swarm_messages(
    space: SearchSpace,
    *,
    metric: str,
    mode: str,
    n: int,
    best: Sequence[Trial],
    recent: Sequence[Trial],
    particles: Sequence[ParticleView],
    completed: int,
    budget: int | None = None,
    max_trials: int = 5,
    max_particles: int = 5,
    max_recent: int = 3,
    digits: int = 3,
    max_chars: int = 4000,
    answer: str = "configs",
) -> list[Message]:
    """Build the replacement request.

    The prompt is compact on purpose (a 5-parameter swarm of 8 is ~550 tokens, a third of a
    naive rendering): numbers with ``digits`` significant digits, the worst particles only
    (those the answer replaces, and the ones next to them), and recent trials only where they
    are not already shown as a best trial or a particle. A small model answers faster and copies
    fewer digits; ``benchmarks/results`` has the measured effect.

    Args:
        space: the search space.
        metric: metric name; mode: ``"min"`` or ``"max"`` (values are shown in the user's units).
        n: configurations to ask for.
        best: best trials, best first.
        recent: most recent trials, newest last.
        particles: the swarm, worst first.
        completed: trials completed so far; budget: total, if known.
        max_trials: best trials shown; max_particles: particles shown; max_recent: other recent
            trials shown; digits: significant digits of every number; max_chars: text bound.
        answer: ``"configs"`` asks for whole configurations (:func:`~raytune_llm.proposals.render.space_schema`);
            ``"edits"`` numbers the best trials and asks for edits of them, one parameter each
            (:func:`edit_schema`, applied with :func:`apply_edits`). The numbered trials are never
            dropped to meet ``max_chars`` (the answer refers to them); the rest shrinks.
    """
    if answer not in ANSWERS:
        raise ValueError(f"answer must be one of {ANSWERS}, got {answer!r}")
    goal = "lower is better" if mode == "min" else "higher is better"
    while True:
        lines = [f"Metric: {metric} ({goal}). Trials completed: {completed}"
                 + (f" of {budget}." if budget else "."),
                 SPACE_HEADER, space_table(space), ""]
        shown: set[str] = set()
        if best:
            lines.append(f"Best trials ({metric} | configuration):")
            for i, t in enumerate(list(best)[:max_trials]):
                text = format_config(space, t.config, digits)
                shown.add(text)
                lines.append(f"{'#' + str(i + 1) if answer == 'edits' else '-'} {format_value(t.value)} | {text}")
        if particles:
            lines.append(f"Worst swarm particles (position | last {metric}, own best | moving):")
            for k, p in enumerate(particles[:max_particles]):
                text = format_config(space, p.config, digits)
                shown.add(text)
                lines.append(f"- p{k}: {text} | {format_value(p.last)}, {format_value(p.best)} | "
                             f"{_direction(space, p.velocity)}")
        others = [t for t in list(recent)[::-1] if format_config(space, t.config, digits) not in shown][:max_recent]
        if others:
            lines.append("Other recent trials:")
            lines += [f"- {format_value(t.value)} | {format_config(space, t.config, digits)}" for t in others]
        if answer == "edits":
            lines += ["", f"Propose {n} edits that turn best trials into new configurations for the worst "
                          "particles. Each edit names a best trial by its number, one numeric parameter, and "
                          "its new value (inside its range); the other parameters stay as they are. "
                          "Choose values you expect to improve the metric."]
        else:
            lines += ["", f"Propose {n} new configurations to replace the worst particles. Start from the best "
                          "trials and change one or two parameters in a promising direction. Keep each value's "
                          "sign, stay inside the ranges, do not repeat a trial."]
        text = "\n".join(lines)
        floor = max_trials if answer == "edits" else 1  # an edit refers to a numbered trial: keep them all
        if len(text) <= max_chars or (max_trials <= floor and max_particles <= 1 and max_recent == 0):
            break
        max_trials = max(floor, max_trials - 1)
        max_particles, max_recent = max(1, max_particles - 1), max(0, max_recent - 1)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]


ANSWERS = ("configs", "edits")


def editable(space: SearchSpace) -> list[str]:
    """The parameters an ``"edits"`` answer may change: the numeric ones (categories are left
    to the swarm, since one JSON number cannot name a choice reliably)."""
    return [p.name for p in space.params if p.kind != "categorical"]


def edit_schema(space: SearchSpace, n: int, n_base: int) -> dict[str, Any]:
    """JSON schema of an ``"edits"`` answer: ``{"edits": [{"trial", "param", "value"}] * n}``.

    ``trial`` is the 1-based number of a best trial (``1..n_base``), ``param`` one of the
    :func:`editable` parameters and ``value`` its new value (a number).
    """
    if n < 1 or n_base < 1:
        raise ValueError(f"n and n_base must be >= 1, got {n} and {n_base}")
    names = editable(space)
    if not names:
        raise ValueError("an 'edits' answer needs a numeric parameter; this space has only categorical ones")
    edit = {
        "type": "object",
        "properties": {
            "trial": {"type": "integer", "minimum": 1, "maximum": n_base},
            "param": {"enum": names},
            "value": {"type": "number"},
        },
        "required": ["trial", "param", "value"],
        "additionalProperties": False,
    }
    return {"type": "object",
            "properties": {"edits": {"type": "array", "items": edit, "minItems": n, "maxItems": n}},
            "required": ["edits"], "additionalProperties": False}


def apply_edits(items: Any, bases: Sequence[dict[str, Any]], space: SearchSpace) -> tuple[list[dict[str, Any]], list[tuple[Any, str]]]:
    """Turn an ``"edits"`` answer into configurations (to be screened like any proposal).

    Args:
        items: the answer's ``edits`` list.
        bases: the best trials' flat configurations, in the numbering the prompt showed.
        space: the search space.

    Returns:
        ``(configs, rejected)``: one unscreened configuration per usable edit, and
        ``(item, reason)`` for each edit that names no shown trial or no parameter.
    """
    configs: list[dict[str, Any]] = []
    rejected: list[tuple[Any, str]] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            rejected.append((item, f"not an object: {item!r}"))
            continue
        trial, param = item.get("trial"), item.get("param")
        if isinstance(trial, bool) or not isinstance(trial, int) or not 1 <= trial <= len(bases):
            rejected.append((item, f"trial must be a number from 1 to {len(bases)}, got {trial!r}"))
            continue
        if param not in editable(space):
            rejected.append((item, f"not a numeric parameter: {param!r}"))
            continue
        config = dict(bases[trial - 1])
        config[param] = item.get("value")
        configs.append(config)
    return configs, rejected
