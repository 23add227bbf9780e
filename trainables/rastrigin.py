"""Rastrigin benchmark function as a Ray Tune function trainable."""

from __future__ import annotations

import math
import re
from numbers import Real
from typing import Any, Mapping, Sequence

_KEY = re.compile(r"^x(\d+)$")

#: The search box of the Rastrigin function in every dimension.
RASTRIGIN_BOUNDS: tuple[float, float] = (-5.12, 5.12)


def rastrigin_value(xs: Sequence[float], a: float = 10.0) -> float:
    """Rastrigin function ``a n + sum(x_i^2 - a cos(2 pi x_i))``; global minimum 0 at the origin.

    Args:
        xs: the coordinates.
        a: the usual constant 10.

    Returns:
        The function value.
    """
    return a * len(xs) + sum(x * x - a * math.cos(2.0 * math.pi * x) for x in xs)


def rastrigin_coordinates(config: Mapping[str, Any]) -> list[float]:
    """The values of keys ``x0``, ``x1``, ... in numeric order (``x2`` before ``x10``).

    Other keys are ignored.

    Raises:
        ValueError: if there is no ``x<i>`` key or a value is not a finite number.
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"rastrigin needs a config dict with keys x0, x1, ...; got {config!r:.200}")
    keys = sorted((int(m.group(1)), k) for k in config if isinstance(k, str) and (m := _KEY.match(k)))
    if not keys:
        raise ValueError(f"rastrigin needs config keys x0, x1, ...; got {sorted(map(str, config))}")
    if [i for i, _ in keys] != list(range(len(keys))):
        raise ValueError(f"rastrigin needs the keys x0 ... x{len(keys) - 1}, each once with no gap; got "
                         f"{[k for _, k in keys]} (rastrigin_space(dim) builds them)")
    xs = []
    for _, key in keys:
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
            raise ValueError(f"{key} must be a finite number, got {value!r}")
        xs.append(float(value))
    return xs


def rastrigin(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: reports ``{"value": f}`` once (minimise ``value``).

    Args:
        config: ``x0`` ... ``xN`` (any dimension, sorted numerically).
    """
    from ray import tune

    tune.report({"value": rastrigin_value(rastrigin_coordinates(config))})


def rastrigin_space(dim: int) -> dict[str, Any]:
    """``{"x0": tune.uniform(-5.12, 5.12), ..., "x{dim-1}": ...}``.

    Args:
        dim: number of dimensions (>= 1).
    """
    from ray import tune

    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    return {f"x{i}": tune.uniform(*RASTRIGIN_BOUNDS) for i in range(dim)}
