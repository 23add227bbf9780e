"""How values and configurations are written in prompts (one place for every prompt)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from raytune_llm.space import SearchSpace


def format_value(x: Any, digits: int = 4) -> str:
    """A value as prompts show it: ``digits`` significant digits, ints and text as they are."""
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return str(x)
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if not isinstance(x, (float, np.floating)):
        return str(x)
    x = float(x)
    if not math.isfinite(x):
        return "failed"
    return f"{x:.{digits}g}"


def format_config(space: SearchSpace, config: dict[str, Any], digits: int = 4) -> str:
    """``name=value, ...`` in the space's parameter order (categories by the label the LLM sees)."""
    parts = []
    for p in space.params:
        if p.name not in config:
            continue
        value = config[p.name]
        if p.kind == "categorical" and p.index(value) is not None:
            value = p.labels[p.index(value)]
        parts.append(f"{p.name}={format_value(value, digits)}")
    return ", ".join(parts)


SPACE_HEADER = "Search space (log scale means think in orders of magnitude):"


def trial_lines(space: SearchSpace, metric: str, best: Sequence[Any], recent: Sequence[Any], n: int,
                *, best_title: str = "Best trials:") -> list[str]:
    """The best ``n`` and the ``n`` most recent trials (objects with ``config`` and ``value``)."""
    lines: list[str] = []
    for title, trials in ((best_title, list(best)[:n]), ("Most recent trials:", list(recent)[-n:])):
        if trials:
            lines.append(title)
            lines += [f"- {metric}={format_value(t.value)} | {format_config(space, t.config)}" for t in trials]
    return lines
