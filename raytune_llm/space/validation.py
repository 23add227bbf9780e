"""Checking and repairing configurations against a search space.

These functions do the work of :meth:`SearchSpace.check`, :meth:`~SearchSpace.validate`,
:meth:`~SearchSpace.repair` and :meth:`~SearchSpace.coerce` (documented there). A configuration may
be nested (as Tune passes it) or flat (``"a/b"`` keys, as searchers and LLM answers hold it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from raytune_llm.errors import ConfigValidationError
from raytune_llm.space.tune import SEP, flatten, unflatten

if TYPE_CHECKING:
    from raytune_llm.space.core import SearchSpace

__all__ = ["check", "coerce", "flat_values", "repair", "validate"]


def flat_values(space: SearchSpace, config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with nested dictionaries flattened to ``"a/b"`` keys, except where a parameter's
    own value is a dictionary; a configuration that already has ``"a/b"`` keys is taken as flat."""
    if not isinstance(config, Mapping):
        raise ConfigValidationError([f"a configuration must be a dict, got {type(config).__name__}: {config!r}"])
    if any(SEP in k for k in config if isinstance(k, str)):
        return dict(config)
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and not any(p.name == key for p in space.params):
            out.update({f"{key}{SEP}{k}": v for k, v in flatten(value).items()})
        else:
            out[key] = value
    return out


def check(space: SearchSpace, config: Mapping[str, Any], *, strict: bool = False) -> list[str]:
    """Every problem of ``config``, one line each (see :meth:`SearchSpace.check`)."""
    try:
        flat = flat_values(space, config)
    except ConfigValidationError as exc:
        return exc.problems
    problems = []
    if strict:
        names = set(space.names)
        items = []
        for key, value in flat.items():  # a mixed flat/nested point leaves nested dicts to flatten
            nested = isinstance(value, Mapping) and key not in names and key not in space.constants
            items += [(f"{key}{SEP}{k}", v) for k, v in flatten(value).items()] if nested else [(key, value)]
        for key, value in items:
            if key in names:
                continue
            if key not in space.constants:
                problems.append(f"unknown parameter {key!r} (the space has: {', '.join(space.names)})")
            elif _differs(value, space.constants[key]):
                problems.append(f"{key!r} is fixed at {space.constants[key]!r} in the search space, got "
                                f"{value!r}: drop it, or make it a Tune domain to search it")
    for p in space.params:
        if p.name not in flat:
            problems.append(f"missing parameter {p.name!r}")
            continue
        problem = p.check(flat[p.name])
        if problem:
            problems.append(problem)
    return problems


def validate(space: SearchSpace, config: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigValidationError` listing every problem of ``config``."""
    problems = check(space, config)
    if problems:
        raise ConfigValidationError(problems)


def repair(space: SearchSpace, config: Mapping[str, Any], *, flat: bool = False) -> dict[str, Any]:
    """A valid configuration as close as possible to ``config`` (see :meth:`SearchSpace.repair`)."""
    values = flat_values(space, config)
    problems: list[str] = []
    out: dict[str, Any] = {}
    for p in space.params:
        if p.name not in values:
            problems.append(f"missing parameter {p.name!r}")
            continue
        value = values[p.name]
        if p.check(value) is None:
            out[p.name] = value.item() if isinstance(value, np.generic) else value
            continue
        try:
            out[p.name] = p.repair(value)
        except ConfigValidationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigValidationError(problems)
    return out if flat else unflatten({**space.constants, **out})


def coerce(space: SearchSpace, config: Mapping[str, Any]) -> dict[str, Any]:
    """The flat parameters of ``config`` after lossless conversions only (see :meth:`SearchSpace.coerce`)."""
    repaired = repair(space, config, flat=True)
    values = flat_values(space, config)
    problems = [problem for p in space.params
                if (problem := p.check(values[p.name])) and not _same_value(values[p.name], repaired[p.name])]
    if problems:
        raise ConfigValidationError(problems)
    return repaired


def _same_value(given: Any, value: Any) -> bool:
    """Whether ``given`` and its repaired ``value`` are the same value in another type."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not isinstance(given, bool):
        try:
            return float(given) == float(value)
        except (TypeError, ValueError):
            return False
    return bool(given == value) if isinstance(given, type(value)) else False


def _differs(given: Any, fixed: Any) -> bool:
    """Whether a point's value for a constant is plainly another value. Only numbers, text and
    ``None`` are compared (Tune deep-copies constants, so objects lose their identity; arrays have
    no single truth value); NaN equals NaN."""
    plain = (type(None), bool, int, float, str, np.integer, np.floating)
    if not (isinstance(given, plain) and isinstance(fixed, plain)):
        return False
    if isinstance(given, (float, np.floating)) and isinstance(fixed, (float, np.floating)):
        return not (given == fixed or (math.isnan(given) and math.isnan(fixed)))
    return bool(given != fixed)
