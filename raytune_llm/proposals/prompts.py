"""Prompt templates. Each builder returns chat messages; none calls a model."""

from __future__ import annotations

from raytune_llm.llm.base import Message
from raytune_llm.proposals.render import space_table
from raytune_llm.space import SearchSpace

SYSTEM_EXPERT = (
    "You are a machine-learning expert who tunes hyperparameters. You answer with JSON only, using "
    "exactly the parameter names given, with every value inside its range."
)


def propose_messages(space: SearchSpace, n: int, *, metric: str, mode: str, task: str = "") -> list[Message]:
    """Ask for ``n`` promising, diverse configurations before any trial has run (zero-shot).

    Args:
        space: the search space, rendered as a table.
        n: how many configurations to ask for.
        metric: the metric being optimised.
        mode: ``"min"`` or ``"max"``.
        task: one line describing the model and data, if known.
    """
    goal = "minimise" if mode == "min" else "maximise"
    lines = [
        f"Task: {task}" if task else "",
        f"Goal: {goal} {metric}.",
        "Search space (log scale: think in orders of magnitude):",
        space_table(space),
        f"Propose {n} different configurations that are likely to work well. Spread them over the space "
        "rather than repeating one idea.",
    ]
    return [
        {"role": "system", "content": SYSTEM_EXPERT},
        {"role": "user", "content": "\n".join(line for line in lines if line)},
    ]
