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
    x = float(x)
    if not math.isfinite(x):
        return "failed"
    return f"{x:.4g}"


def format_config(space: SearchSpace, config: dict[str, Any]) -> str:
    """``name=value, ...`` in the space's parameter order."""
    return ", ".join(f"{name}={format_value(config[name])}" for name in space.names if name in config)
