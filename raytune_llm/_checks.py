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
