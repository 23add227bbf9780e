"""How values and configurations are written in prompts (one place for every prompt)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from raytune_llm.space import SearchSpace


def format_value(x: Any) -> str:
    """A value as prompts show it: 4 significant digits, ints and text as they are."""
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return str(x)
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if not isinstance(x, (float, np.floating)):
        return str(x)
    x = float(x)
    if not math.isfinite(x):
        return "failed"
    return f"{x:.4g}"


def format_config(space: SearchSpace, config: dict[str, Any]) -> str:
    """``name=value, ...`` in the space's parameter order (categories by the label the LLM sees)."""
    parts = []
    for p in space.params:
        if p.name not in config:
            continue
        value = config[p.name]
        if p.kind == "categorical" and p.index(value) is not None:
            value = p.labels[p.index(value)]
        parts.append(f"{p.name}={format_value(value)}")
    return ", ".join(parts)
