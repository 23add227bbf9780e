"""The parameter types of a search space: :class:`FloatParam`, :class:`IntParam`, :class:`CategoricalParam`.

Each maps a value to one coordinate of the unit interval and back (``to_unit``/``from_unit``, as
the package docstring of :mod:`raytune_llm.space` describes), checks a value (``check`` returns the
problem or ``None``), repairs it into its range (``repair``), describes itself as plain data
(``describe``) and writes a de-duplication key (``key``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from raytune_llm.errors import ConfigValidationError, SearchSpaceError

_NORMAL_EPS = 1e-6
_KEY_DIGITS = 6

__all__ = ["CategoricalParam", "FloatParam", "IntParam", "Param"]


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _round_to_grid(value: float, q: float) -> float:
    """``value`` rounded to the nearest multiple of ``q``, written without binary noise."""
    k = round(value / q)
    decimals = max(0, -math.floor(math.log10(abs(q)))) + 6 if q != 0 else 12
    return float(round(k * q, decimals))


@dataclass(frozen=True)
class FloatParam:
    """A real-valued parameter.

    Attributes:
        name: flattened name (``"a/b"`` for nested keys).
        low: smallest allowed value (``-inf`` for an unbounded normal).
        high: largest allowed value (``inf`` for an unbounded normal).
        log: whether the unit coordinate is linear in ``log(value)``.
        q: quantization step, or ``None``.
        mean: mean of a normal prior (``randn``), or ``None``.
        sd: standard deviation of a normal prior, or ``None``.
    """

    name: str
    low: float
    high: float
    log: bool = False
    q: float | None = None
    mean: float | None = None
    sd: float | None = None

    kind = "float"

    def __post_init__(self) -> None:
        if self.mean is None:
            if not (math.isfinite(self.low) and math.isfinite(self.high)):
                raise SearchSpaceError(
                    f"parameter {self.name!r}: a uniform float needs finite bounds, got "
                    f"(low={self.low}, high={self.high}); use tune.randn for an unbounded parameter"
                )
            if not self.low <= self.high:
                raise SearchSpaceError(
                    f"parameter {self.name!r}: `low <= high` must hold, but got (low={self.low}, high={self.high})"
                )
            if self.log and not self.low > 0:
                raise SearchSpaceError(
                    f"parameter {self.name!r}: a log-scaled float needs low > 0, but got low={self.low}"
                )
        elif not (self.sd is not None and self.sd > 0):
            raise SearchSpaceError(f"parameter {self.name!r}: a normal prior needs sd > 0, got sd={self.sd}")
        if self.q is not None and not self.q > 0:
            raise SearchSpaceError(f"parameter {self.name!r}: quantization q must be > 0, got q={self.q}")
        if self.q is not None and self.mean is None and self.bounds[0] > self.bounds[1]:
            raise SearchSpaceError(
                f"parameter {self.name!r}: no multiple of q={self.q} in [{self.low}, {self.high}]; widen the bounds "
                "or use a smaller q")

    @property
    def bounds(self) -> tuple[float, float]:
        """The smallest and largest allowed value: ``(low, high)`` moved inward onto the grid of ``q``."""
        if self.q is None:
            return self.low, self.high
        lo = self.low if not math.isfinite(self.low) else math.ceil(self.low / self.q - 1e-9) * self.q
        hi = self.high if not math.isfinite(self.high) else math.floor(self.high / self.q + 1e-9) * self.q
        return lo, hi

    def from_unit(self, u: float) -> float:
        u = min(max(float(u), 0.0), 1.0)
        if self.mean is not None:
            from scipy.special import ndtri

            x = self.mean + self.sd * float(ndtri(min(max(u, _NORMAL_EPS), 1 - _NORMAL_EPS)))
        elif self.log:
            x = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            x = self.low + u * (self.high - self.low)
        return self._snap(x)

    def _snap(self, x: float) -> float:
        lo, hi = self.bounds
        if self.q is not None:
            x = _round_to_grid(x, self.q)
        return float(min(max(x, lo), hi))

    def to_unit(self, value: float) -> float:
        x = float(value)
        if self.mean is not None:
            from scipy.special import ndtr

            u = float(ndtr((x - self.mean) / self.sd))
        elif self.high == self.low:
            u = 0.5
        elif self.log:
            x = max(x, self.low * 1e-300) if x <= 0 else x
            u = (math.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        else:
            u = (x - self.low) / (self.high - self.low)
        return min(max(u, 0.0), 1.0)

    def check(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            return f"{self.name!r} must be a number, got {value!r} ({type(value).__name__})"
        if not math.isfinite(float(value)):
            return f"{self.name!r} must be finite, got {value!r}"
        lo, hi = self.bounds
        if not lo - 1e-12 * max(1.0, abs(lo)) <= value <= hi + 1e-12 * max(1.0, abs(hi)):
            return f"{self.name!r} must be in [{_fmt(lo)}, {_fmt(hi)}], got {value!r}"
        if self.q is not None and not math.isclose(value / self.q, round(value / self.q), abs_tol=1e-6):
            return f"{self.name!r} must be a multiple of {self.q}, got {value!r}"
        return None

    def repair(self, value: Any) -> float:
        x = _coerce_number(self.name, value)
        return self._snap(x)

    def describe(self) -> dict[str, Any]:
        if self.mean is not None:
            return {"name": self.name, "type": "float", "prior": f"normal(mean={self.mean}, sd={self.sd})",
                    "low": self.low, "high": self.high, "q": self.q}
        return {"name": self.name, "type": "float", "low": self.low, "high": self.high,
                "scale": "log" if self.log else "linear", "q": self.q}

    def key(self, value: Any) -> str:
        return f"{float(value):.{_KEY_DIGITS}g}"


@dataclass(frozen=True)
class IntParam:
    """An integer parameter whose allowed values are the multiples of ``q`` in ``[low, high]``.

    Attributes:
        name: flattened name.
        low: smallest allowed value (inclusive).
        high: largest allowed value (inclusive; Tune's exclusive bounds are converted on import).
        log: whether the unit coordinate is linear in ``log(value)``.
        q: step between allowed values (1 for every integer).
    """

    name: str
    low: int
    high: int
    log: bool = False
    q: int = 1

    kind = "int"

    def __post_init__(self) -> None:
        if not (isinstance(self.q, (int, np.integer)) and self.q >= 1):
            raise SearchSpaceError(f"parameter {self.name!r}: integer step q must be an int >= 1, got q={self.q!r}")
        if self.first > self.last:
            raise SearchSpaceError(
                f"parameter {self.name!r}: no allowed integer in [{self.low}, {self.high}] with step {self.q}; "
                "widen the bounds"
            )
        if self.log and not self.first > 0:
            raise SearchSpaceError(f"parameter {self.name!r}: a log-scaled integer needs low > 0, got low={self.low}")

    @property
    def first(self) -> int:
        return -((-self.low) // self.q) * self.q

    @property
    def last(self) -> int:
        return (self.high // self.q) * self.q

    @property
    def size(self) -> int:
        return (self.last - self.first) // self.q + 1

    def _log_edges(self) -> tuple[float, float]:
        # value v owns [v, v + q) in log space, as Tune's lograndint floors exp(uniform(log lo, log hi))
        return math.log(self.first), math.log(self.last + self.q)

    def from_unit(self, u: float) -> int:
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            lo, hi = self._log_edges()
            x = math.exp(lo + u * (hi - lo))
            k = math.floor((x - self.first) / self.q + 1e-9)
        else:
            k = math.floor(u * self.size)
        k = min(max(k, 0), self.size - 1)
        return int(self.first + k * self.q)

    def to_unit(self, value: float) -> float:
        v = self._snap(float(value))
        if self.log:
            lo, hi = self._log_edges()
            centre = 0.5 * (math.log(v) + math.log(v + self.q))
            return min(max((centre - lo) / (hi - lo), 0.0), 1.0)
        k = (v - self.first) // self.q
        return (k + 0.5) / self.size

    def _snap(self, x: float) -> int:
        k = round((x - self.first) / self.q)
        k = min(max(k, 0), self.size - 1)
        return int(self.first + k * self.q)

    def check(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            return f"{self.name!r} must be an integer, got {value!r} ({type(value).__name__})"
        if not self.first <= value <= self.last:
            return f"{self.name!r} must be in [{self.first}, {self.last}], got {value!r}"
        if (value - self.first) % self.q:
            return f"{self.name!r} must be a multiple of {self.q}, got {value!r}"
        return None

    def repair(self, value: Any) -> int:
        return self._snap(_coerce_number(self.name, value))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": "int", "low": self.first, "high": self.last,
                "scale": "log" if self.log else "linear", "q": None if self.q == 1 else self.q}

    def key(self, value: Any) -> str:
        return str(int(value))


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str)) and not (
        isinstance(value, float) and not math.isfinite(value)
    )


@dataclass(frozen=True)
class CategoricalParam:
    """A choice among categories, in the order given.

    Categories that are JSON scalars (str, int, float, bool, None) are shown to LLMs as they are;
    any other object is shown by its ``str()`` and mapped back from that text.
    """

    name: str
    choices: tuple[Any, ...]

    kind = "categorical"

    def __post_init__(self) -> None:
        if not self.choices:
            raise SearchSpaceError(f"parameter {self.name!r}: tune.choice needs at least one category")

    @property
    def labels(self) -> tuple[Any, ...]:
        """The categories as JSON values (their ``str()`` for non-JSON objects)."""
        return tuple(c if _jsonable(c) else str(c) for c in self.choices)

    def from_unit(self, u: float) -> Any:
        k = min(max(math.floor(float(u) * len(self.choices)), 0), len(self.choices) - 1)
        return self.choices[k]

    def index(self, value: Any) -> int | None:
        """Position of ``value`` among the choices (exact match, type-aware), or ``None``."""
        for i, c in enumerate(self.choices):
            if type(c) is type(value) and c == value:
                return i
        for i, c in enumerate(self.choices):
            if c is value or (not isinstance(value, bool) and not isinstance(c, bool) and c == value):
                return i
        return None

    def to_unit(self, value: Any) -> float:
        k = self.index(value)
        if k is None:
            k = self._match(value)
        return (k + 0.5) / len(self.choices)

    def _match(self, value: Any) -> int:
        k = self.index(value)
        if k is not None:
            return k
        text = str(value).strip().lower()
        for i, label in enumerate(self.labels):
            if str(label).strip().lower() == text:
                return i
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            numeric = [(i, c) for i, c in enumerate(self.choices) if isinstance(c, (int, float)) and not isinstance(c, bool)]
            if numeric:
                return min(numeric, key=lambda ic: abs(ic[1] - value))[0]
        raise ConfigValidationError([f"{self.name!r} must be one of {list(self.labels)}, got {value!r}"])

    def check(self, value: Any) -> str | None:
        if self.index(value) is None:
            return f"{self.name!r} must be one of {list(self.labels)}, got {value!r}"
        return None

    def repair(self, value: Any) -> Any:
        return self.choices[self._match(value)]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": "choice", "choices": list(self.labels)}

    def key(self, value: Any) -> str:
        return f"#{self._match(value)}"


Param = FloatParam | IntParam | CategoricalParam


def _coerce_number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ConfigValidationError([f"{name!r} must be a number, got a boolean {value!r}"])
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ConfigValidationError([f"{name!r} must be a number, got the text {value!r}"]) from None
    if not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigValidationError([f"{name!r} must be a number, got {value!r} ({type(value).__name__})"])
    x = float(value)
    if not math.isfinite(x):
        raise ConfigValidationError([f"{name!r} must be finite, got {value!r}"])
    return x
