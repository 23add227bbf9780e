"""How a search space, its values and configurations are written for an LLM: the prompt table,
the JSON schema of an answer and its llama.cpp grammar (one place for every prompt and schema).

The space (:mod:`raytune_llm.space`) is plain data and knows nothing of prompts; this module sits
above it and reads it through :meth:`~raytune_llm.space.SearchSpace.describe` and the parameters'
bounds.

Example:
    >>> from raytune_llm.space import CategoricalParam, FloatParam, IntParam, SearchSpace
    >>> space = SearchSpace((FloatParam("lr", 1e-4, 0.1, log=True), IntParam("layers", 1, 4),
    ...                      CategoricalParam("act", ("relu", "tanh"))))
    >>> print(space_table(space))
    name | type | low | high | scale | choices
    act | choice | | | | "relu", "tanh"
    layers | int | 1 | 4 | linear |
    lr | float | 0.0001 | 0.1 | log |
    >>> space_schema(space, 2)["properties"]["configs"]["items"]["properties"]["layers"]
    {'type': 'integer', 'minimum': 1, 'maximum': 4}
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from raytune_llm.errors import SearchSpaceError
from raytune_llm.llm.gbnf import schema_to_gbnf
from raytune_llm.space import CategoricalParam, FloatParam, IntParam, Param, SearchSpace

__all__ = ["SPACE_HEADER", "config_schema", "format_config", "format_value", "param_schema", "space_grammar",
           "space_schema", "space_table", "trial_lines"]


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


def space_table(space: SearchSpace) -> str:
    """The space as prompts show it: one ``name | type | low | high | scale | choices`` row per
    parameter, numbers to 6 significant digits (an unbounded normal prior leaves its bounds empty)."""
    lines = ["name | type | low | high | scale | choices"]
    for p in space.params:
        d = p.describe()
        if p.kind == "categorical":
            lines.append(f"{p.name} | choice | | | | {', '.join(json.dumps(c) for c in d['choices'])}")
            continue
        scale = d.get("prior") or d["scale"]
        if d.get("q"):
            scale += f", step {d['q']}"
        lo = "" if not math.isfinite(d["low"]) else f"{d['low']:.6g}"
        hi = "" if not math.isfinite(d["high"]) else f"{d['high']:.6g}"
        lines.append(f"{p.name} | {d['type']} | {lo} | {hi} | {scale} |")
    return "\n".join(lines)


def trial_lines(space: SearchSpace, metric: str, best: Sequence[Any], recent: Sequence[Any], n: int,
                *, best_title: str = "Best trials:") -> list[str]:
    """The best ``n`` and the ``n`` most recent trials (objects with ``config`` and ``value``)."""
    lines: list[str] = []
    for title, trials in ((best_title, list(best)[:n]), ("Most recent trials:", list(recent)[-n:])):
        if trials:
            lines.append(title)
            lines += [f"- {metric}={format_value(t.value)} | {format_config(space, t.config)}" for t in trials]
    return lines


def param_schema(param: Param) -> dict[str, Any]:
    """JSON schema of one parameter's value: a bounded number, a bounded integer (the allowed values
    as an ``enum`` when a step leaves at most 64 of them), or the ``enum`` of a choice's labels."""
    if isinstance(param, CategoricalParam):
        return {"enum": list(param.labels)}
    if isinstance(param, IntParam):
        if param.q != 1 and param.size <= 64:
            return {"enum": [param.first + k * param.q for k in range(param.size)]}
        return {"type": "integer", "minimum": param.first, "maximum": param.last}
    if isinstance(param, FloatParam):
        schema: dict[str, Any] = {"type": "number"}
        lo, hi = param.bounds
        if math.isfinite(lo):
            schema["minimum"] = lo
        if math.isfinite(hi):
            schema["maximum"] = hi
        return schema
    raise TypeError(f"param must be a FloatParam, IntParam or CategoricalParam, got {type(param).__name__}: "
                    f"{param!r}")


def config_schema(space: SearchSpace) -> dict[str, Any]:
    """JSON schema of one flat configuration (parameters only, in coordinate order, all required)."""
    return {
        "type": "object",
        "properties": {p.name: param_schema(p) for p in space.params},
        "required": space.names,
        "additionalProperties": False,
    }


def space_schema(space: SearchSpace, n: int | None = None, *, key: str = "configs") -> dict[str, Any]:
    """JSON schema of an LLM answer.

    Args:
        space: the search space.
        n: ``None`` for one configuration object (:func:`config_schema`); otherwise an object
            ``{key: [...]}`` holding exactly ``n`` configurations.
        key: the array's property name.

    Raises:
        SearchSpaceError: if ``n < 1``.
    """
    one = config_schema(space)
    if n is None:
        return one
    if n < 1:
        raise SearchSpaceError(f"n (configurations per answer) must be >= 1, got n={n}; "
                               "pass n=None for a single configuration object")
    return {
        "type": "object",
        "properties": {key: {"type": "array", "items": one, "minItems": n, "maxItems": n}},
        "required": [key],
        "additionalProperties": False,
    }


def space_grammar(space: SearchSpace, n: int | None = None, *, key: str = "configs") -> str:
    """A llama.cpp GBNF grammar for :func:`space_schema` (same arguments), with exact integer and
    choice bounds (see :mod:`raytune_llm.llm.gbnf`)."""
    return schema_to_gbnf(space_schema(space, n, key=key))
