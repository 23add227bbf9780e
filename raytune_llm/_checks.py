"""Argument checks shared by the public constructors: one message style, naming the value and the fix.

A wrong type is reported before it reaches a comparison deep inside (``'<' not supported between
'str' and 'int'``) or numpy. Numpy scalars count as the numbers they hold and whole floats as ints
(``2.0``, ``1e3``: what a config file or pandas gives); ``bool`` is never taken for a number.
The checks return the value normalised to a Python ``int``/``float``/``bool``: keep that, so that
no numpy scalar reaches a JSON schema or a saved state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np


def _got(value: Any) -> str:
    return f"got {value!r} ({type(value).__name__})"


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None,
              optional: bool = False) -> int | None:
    """``value`` as an int in ``[minimum, maximum]``; ``None`` passes when ``optional``.

    Raises:
        ValueError: naming ``name``, the allowed range and the value given.
    """
    if value is None and optional:
        return None
    rng = (f" in [{minimum}, {maximum}]" if minimum is not None and maximum is not None
           else f" >= {minimum}" if minimum is not None else f" <= {maximum}" if maximum is not None else "")
    what = f"{name} must be an int{rng}" + (" or None" if optional else "")
    whole = isinstance(value, Integral) or (isinstance(value, Real) and math.isfinite(value) and float(value).is_integer())
    if _is_bool(value) or not whole:
        raise ValueError(f"{what}, {_got(value)}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{what}, got {value!r}")
    return value


def check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, optional: bool = False, allow_inf: bool = False) -> float | None:
    """``value`` as a float in ``[low, high]`` (``(low, high]`` with ``low_open``); finite unless
    ``allow_inf`` (``math.inf`` meaning "never", for a timeout or a cool-down).

    Raises:
        ValueError: naming ``name``, the allowed range and the value given.
    """
    if value is None and optional:
        return None
    left = "(" if low_open else "["
    rng = (f" in {left}{low}, {high}]" if low is not None and high is not None
           else (f" > {low}" if low_open else f" >= {low}") if low is not None
           else f" <= {high}" if high is not None else "")
    what = (f"{name} must be a {'' if allow_inf else 'finite '}number{rng}"
            + (" (or math.inf)" if allow_inf else "") + (" or None" if optional else ""))
    if _is_bool(value) or not isinstance(value, Real):
        raise ValueError(f"{what}, {_got(value)}")
    x = float(value)
    if (math.isnan(x) or (math.isinf(x) and not (allow_inf and x > 0))
            or (low is not None and (x <= low if low_open else x < low)) or (high is not None and x > high)):
        raise ValueError(f"{what}, got {value!r}")
    return x


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is a bool (``"no"`` or ``0`` would silently mean something else)."""
    if not _is_bool(value):
        raise ValueError(f"{name} must be True or False, {_got(value)}")
    return bool(value)


def check_seed(value: Any) -> int | None:
    """A seed: ``None`` (fresh entropy) or an int >= 0, what ``numpy.random.default_rng`` takes."""
    return check_int("seed", value, minimum=0, optional=True)


def check_options(name: str, options: Any, allowed: Sequence[str],
                  refused: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``options`` as a dict whose keys are all in ``allowed`` and none in ``refused``.

    ``refused`` maps a key that belongs elsewhere to what to use instead (the error says so).

    Raises:
        ValueError: naming the unknown or refused key and listing the valid ones.
    """
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValueError(f"{name} must be a dict of options, {_got(options)}")
    refused = refused or {}
    valid = [k for k in allowed if k not in refused]
    for key in options:
        if key in refused:
            raise ValueError(f"{name} cannot set {key!r}: {refused[key]}")
        if key not in valid:
            raise ValueError(f"{name} has an unknown option {key!r}; valid: {', '.join(sorted(valid))}")
    return dict(options)


def finite_or_none(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` for NaN, infinities, ``None`` and non-numbers.

    The one test of "is this a usable metric value" (trial results, meta-store rows, training data).

    Example:
        >>> finite_or_none("0.5"), finite_or_none(float("nan")), finite_or_none(None), finite_or_none(True)
        (0.5, None, None, None)
    """
    if _is_bool(value):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def check_resource(name: str, value: Any, *, unit: str = "GPU", allow_zero: bool = True,
                   error: type[ValueError] = ValueError) -> float:
    """``value`` as an amount of a Ray resource (CPUs, GPUs) for a trial or an actor.

    The one rule for every request of resources in the project: a finite number, ``>= 0`` (``> 0``
    unless ``allow_zero``), and a fraction below 1 or a whole number, since Ray schedules nothing
    in between (1.5 GPUs cannot be granted).

    Args:
        name: how the caller calls it (``"gpus"``, ``"--gpus-per-trial"``, ``"num_gpus"``).
        value: the amount.
        unit: what one unit is (``"GPU"``, ``"CPU"``, ``"unit"`` for a custom resource), for the
            examples in the message.
        allow_zero: whether 0 is allowed (no GPU: yes; no CPU for a trial: no).
        error: the exception to raise, ``ValueError`` or a subclass of it.

    Raises:
        ValueError: (or ``error``) naming ``name``, the rule, the value and the fix.

    Example:
        >>> check_resource("gpus", 0.25), check_resource("gpus", 2)
        (0.25, 2.0)
        >>> check_resource("gpus", 1.5)
        Traceback (most recent call last):
        ...
        ValueError: gpus must be a fraction below 1 or a whole number, got gpus=1.5: Ray schedules fractions only below 1 (gpus=0.5: two share one GPU); use gpus=1 or 2
    """
    example = (f"{name}=0.25 (four share one GPU), {name}=1 or {name}=0" if unit == "GPU"
               else f"{name}=1 or {name}=0.5")
    if _is_bool(value) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise error(f"{name} must be a finite number, got {value!r}; use e.g. {example}")
    x = float(value)
    if x < 0 or (x == 0 and not allow_zero):
        raise error(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {x:g}; use e.g. {example}")
    if x > 1 and not x.is_integer():
        raise error(f"{name} must be a fraction below 1 or a whole number, got {name}={x:g}: Ray schedules "
                    f"fractions only below 1 ({name}=0.5: two share one {unit}); "
                    f"use {name}={math.floor(x)} or {math.ceil(x)}")
    return x
