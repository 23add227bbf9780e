"""The history prompt of LLMSearcher (Zhang et al. 2023), compressed to a bounded size.

However many trials have run, the model sees: the task and the space, a summary (trials done and
failed, best and median value, and for each parameter the range it spans among the top quarter
of trials), the best trials and the most recent trials, and the remaining budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from raytune_llm.llm.base import Message
from raytune_llm.proposals.render import SPACE_HEADER, format_value, space_schema, space_table, trial_lines
from raytune_llm.proposals.swarm import Trial
from raytune_llm.space import SearchSpace

#: The ``analysis`` field's length cap. A small model spends up to a token per character (digits and
#: letters in lists), so a request's token budget adds this many tokens: a full-length analysis
#: must never cut the configurations after it.
ANALYSIS_MAX_CHARS = 200

SYSTEM = (
    "You are a machine-learning expert helping to tune hyperparameters. You study the trials run so far and "
    "propose the next configurations to try. Answer with JSON only, using exactly the parameter names given, "
    "every value inside its range."
)


def summary_lines(space: SearchSpace, history: Sequence[dict[str, Any]], mode: str) -> list[str]:
    """Count, failures, best and median value, and the top quarter's range of each parameter."""
    scored = [h for h in history if h["value"] is not None]
    lines = [f"Trials completed: {len(history)} ({len(history) - len(scored)} failed)."]
    if not scored:
        return lines
    values = np.array([h["value"] for h in scored], dtype=float)
    best = values.min() if mode == "min" else values.max()
    lines.append(f"Best value {format_value(best)}, median {format_value(float(np.median(values)))}.")
    if len(scored) >= 8:
        order = np.argsort(values if mode == "min" else -values)
        top = [scored[i]["config"] for i in order[: max(2, len(scored) // 4)]]
        parts = []
        for p in space.params:
            seen = [c[p.name] for c in top if p.name in c]
            if p.kind == "categorical":
                parts.append(f"{p.name} in {sorted({str(v) for v in seen})}")
            else:
                parts.append(f"{p.name} {format_value(min(seen))}..{format_value(max(seen))}")
        lines.append("Top quarter of trials: " + "; ".join(parts) + ".")
    return lines


def history_messages(
    space: SearchSpace,
    *,
    metric: str,
    mode: str,
    n: int,
    history: Sequence[dict[str, Any]],
    best: Sequence[Trial],
    recent: Sequence[Trial],
    budget_left: int | None = None,
    task: str = "",
    analysis: bool = False,
    max_trials: int = 8,
    max_chars: int = 6000,
) -> list[Message]:
    """Ask for the next ``n`` configurations given the (compressed) history."""
    goal = "minimise" if mode == "min" else "maximise"
    while True:
        lines = [f"Task: {task}" if task else "", f"Goal: {goal} {metric}.",
                 SPACE_HEADER, space_table(space), ""]
        lines += summary_lines(space, history, mode)
        lines += trial_lines(space, metric, best, recent, max_trials)
        if budget_left is not None:
            lines.append(f"Trials left in the budget: {budget_left}.")
        ask = (f"Propose {n} new configurations, different from every trial above, that are likely to improve "
               f"on the best {metric}.")
        if not history:
            ask = f"No trial has run yet. Propose {n} diverse configurations that are likely to work well."
        if analysis:
            ask += " First write a short analysis of the trials in the 'analysis' field."
        lines += ["", ask]
        text = "\n".join(line for line in lines if line is not None)
        if len(text) <= max_chars or max_trials <= 1:
            break
        max_trials -= 1
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text.strip()}]


def answer_schema(space: SearchSpace, n: int, *, analysis: bool) -> dict[str, Any]:
    """``{"analysis"?: str, "configs": [n configurations]}``."""
    schema = space_schema(space, n)
    if analysis:
        schema = {**schema, "properties": {"analysis": {"type": "string", "maxLength": ANALYSIS_MAX_CHARS},
                                           **schema["properties"]}, "required": ["analysis", "configs"]}
    return schema


__all__ = ["ANALYSIS_MAX_CHARS", "answer_schema", "history_messages", "summary_lines"]
