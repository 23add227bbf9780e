"""One typed search space: Ray Tune domains <-> unit cube <-> configurations.

Every searcher of raytune-llm sees a search space through :class:`SearchSpace`: the particle swarm
moves in the unit cube ``[0, 1] ** space.dim``, the LLM reads the space as a compact table and
answers in the JSON schema the space writes, and Tune receives nested configurations.

The mapping, one coordinate per parameter:

* ``float`` (``uniform``, ``quniform``): linear in ``[low, high]``; ``loguniform``/``qloguniform``:
  linear in log space; ``randn``/``qrandn``: through the normal quantile function (the unit cube
  covers the distribution's 1e-6..1-1e-6 quantiles). Quantized values are rounded to the nearest
  multiple of ``q`` inside the bounds.
* ``int`` (``randint``, ``qrandint``, ``lograndint``, ``qlograndint``): the allowed values (multiples
  of ``q`` inside the bounds, with Tune's exclusive upper bound for ``q == 1``) split the unit
  interval into equal bins (in log space for the log samplers); a value maps to its bin's centre.
* ``choice``: the categories split the unit interval into equal bins, in the order given.
  Categories next to each other are therefore "close" for the swarm: list ordinal choices in order.

Nested dictionaries are flattened to ``"a/b"`` keys and unflattened when a configuration is built;
constants are carried through unchanged and are not dimensions.

Example:
    >>> from ray import tune
    >>> space = SearchSpace.from_tune({"lr": tune.loguniform(1e-4, 1e-1), "layers": tune.randint(1, 5),
    ...                                "opt": {"name": tune.choice(["adam", "sgd"])}, "epochs": 3})
    >>> space.dim
    3
    >>> config = space.from_unit([0.5, 0.99, 0.0])
    >>> config["layers"], config["opt"]["name"], config["epochs"]
    (3, 'adam', 3)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from raytune_llm.errors import ConfigValidationError, SearchSpaceError

SEP = "/"
_NORMAL_EPS = 1e-6
_KEY_DIGITS = 6

__all__ = ["CategoricalParam", "FloatParam", "IntParam", "Param", "SearchSpace"]


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
        if self.q is not None and self.mean is None and self._grid_bounds[0] > self._grid_bounds[1]:
            raise SearchSpaceError(
                f"parameter {self.name!r}: no multiple of q={self.q} in [{self.low}, {self.high}]; widen the bounds "
                "or use a smaller q")

    @property
    def _grid_bounds(self) -> tuple[float, float]:
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
        lo, hi = self._grid_bounds
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
        lo, hi = self._grid_bounds
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

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "number"}
        lo, hi = self._grid_bounds
        if math.isfinite(lo):
            schema["minimum"] = lo
        if math.isfinite(hi):
            schema["maximum"] = hi
        return schema

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

    def json_schema(self) -> dict[str, Any]:
        if self.q != 1 and self.size <= 64:
            return {"enum": [self.first + k * self.q for k in range(self.size)]}
        return {"type": "integer", "minimum": self.first, "maximum": self.last}

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

    def json_schema(self) -> dict[str, Any]:
        return {"enum": list(self.labels)}

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


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dictionaries to ``"a/b"`` keys (lists and other values are leaves)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if not isinstance(key, str):
            raise SearchSpaceError(f"search space keys must be strings, got {key!r} at {prefix or 'top level'!r}")
        if SEP in key:
            raise SearchSpaceError(
                f"key {prefix + key!r} contains {SEP!r}, which raytune-llm uses for nesting; "
                "rename it or nest it as a dictionary"
            )
        name = prefix + key
        if isinstance(value, Mapping) and value and "grid_search" not in value:
            flat.update(flatten(value, name + SEP))
        else:
            flat[name] = value
    return flat


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten`."""
    nested: dict[str, Any] = {}
    for name, value in flat.items():
        node = nested
        *parents, leaf = name.split(SEP)
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _param_from_domain(name: str, domain: Any) -> Param:
    from ray.tune.search import sample

    sampler = domain.get_sampler()
    q = None
    if isinstance(sampler, sample.Quantized):
        q = sampler.q
        sampler = sampler.get_sampler()
    if isinstance(sampler, sample.Grid):
        raise SearchSpaceError(
            f"parameter {name!r} is a grid search; raytune-llm searchers choose the values themselves. "
            "Use tune.choice([...]) instead, or pass the grid points as points_to_evaluate"
        )
    if isinstance(domain, sample.Function):
        raise SearchSpaceError(
            f"parameter {name!r} uses tune.sample_from, a conditional or derived value that a model-based "
            "searcher cannot represent. Sample the independent parameters and compute this one inside "
            "your trainable from config"
        )
    if isinstance(domain, sample.Categorical):
        if _contains_domain(domain.categories):
            raise SearchSpaceError(
                f"parameter {name!r} is a tune.choice whose options contain Tune domains (a conditional "
                "space); raytune-llm searchers pass choices through as they are. Search the inner "
                "parameters as parameters of their own and pick among them inside your trainable"
            )
        return CategoricalParam(name, tuple(domain.categories))
    if isinstance(domain, sample.Integer):
        log = isinstance(sampler, sample.LogUniform)
        if q is not None and (isinstance(q, bool) or not float(q).is_integer()):
            raise SearchSpaceError(f"parameter {name!r}: an integer domain needs an integer step, got q={q!r}; "
                                   "use tune.qrandint(low, high, q) with an int q, or tune.quniform for a float grid")
        if q is None or q == 1:
            # Tune's integer samplers exclude the upper bound when q == 1
            return IntParam(name, int(domain.lower), int(domain.upper) - 1, log=log, q=1)
        return IntParam(name, int(domain.lower), int(domain.upper), log=log, q=int(q))
    if isinstance(domain, sample.Float):
        if isinstance(sampler, sample.Normal):
            return FloatParam(name, float(domain.lower), float(domain.upper), q=q,
                              mean=float(sampler.mean), sd=float(sampler.sd))
        log = isinstance(sampler, sample.LogUniform)
        return FloatParam(name, float(domain.lower), float(domain.upper), log=log, q=q)
    raise SearchSpaceError(f"parameter {name!r}: unsupported Tune domain {domain!r}")


@dataclass
class SearchSpace:
    """A search space: typed parameters (the dimensions) plus constants.

    Build one with :meth:`from_tune` from a Ray Tune ``param_space``/``config`` dictionary, or
    directly from :class:`FloatParam`, :class:`IntParam` and :class:`CategoricalParam` objects.

    Attributes:
        params: the dimensions, in a fixed order (sorted by name).
        constants: flattened name -> value for entries that are not searched.
    """

    params: tuple[Param, ...]
    constants: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.params = tuple(sorted(self.params, key=lambda p: p.name))
        names = [p.name for p in self.params]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SearchSpaceError(f"duplicate parameter names: {duplicates}")
        clash = sorted(set(names) & set(self.constants))
        if clash:
            raise SearchSpaceError(f"names used both as parameter and constant: {clash}")
        self._by_name = {p.name: p for p in self.params}

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_tune(cls, param_space: Mapping[str, Any]) -> SearchSpace:
        """Read a Ray Tune search space.

        Args:
            param_space: the dictionary given to ``tune.run(config=...)`` or
                ``Tuner(param_space=...)``, possibly nested.

        Returns:
            The search space.

        Raises:
            SearchSpaceError: for grid searches, ``sample_from``, domains inside lists, and spaces
                with nothing to search; the message names the key and what to do instead.
        """
        from ray.tune.search.sample import Domain

        if isinstance(param_space, SearchSpace):
            return param_space
        if not isinstance(param_space, Mapping):
            raise SearchSpaceError(
                f"a search space must be a dict of Tune domains, got {type(param_space).__name__}: {param_space!r}"
            )
        params: list[Param] = []
        constants: dict[str, Any] = {}
        for name, value in flatten(param_space).items():
            if isinstance(value, Domain):
                params.append(_param_from_domain(name, value))
            elif isinstance(value, Mapping) and "grid_search" in value:
                raise SearchSpaceError(
                    f"parameter {name!r} is tune.grid_search(...); raytune-llm searchers choose the values "
                    "themselves. Use tune.choice([...]) instead, or pass the grid points as points_to_evaluate"
                )
            elif callable(value) and not isinstance(value, type):
                raise SearchSpaceError(
                    f"parameter {name!r} is a function: conditional or derived values cannot be searched. "
                    "Sample the independent parameters and compute this one inside your trainable"
                )
            elif isinstance(value, (list, tuple)) and _contains_domain(value):
                raise SearchSpaceError(
                    f"parameter {name!r} is a list containing Tune domains; searchers cannot index into "
                    "lists. Use a dict ({'0': tune.uniform(...), ...}) instead"
                )
            else:
                constants[name] = value
        if not params:
            raise SearchSpaceError(
                "the search space has no Tune domains to search (only constants); add e.g. "
                "tune.uniform(...), tune.loguniform(...), tune.randint(...) or tune.choice([...])"
            )
        return cls(tuple(params), constants)

    # ---------------------------------------------------------------- basic properties
    @property
    def dim(self) -> int:
        """Number of unit-cube coordinates (one per parameter)."""
        return len(self.params)

    @property
    def names(self) -> list[str]:
        """Flattened parameter names, in coordinate order."""
        return [p.name for p in self.params]

    def __getitem__(self, name: str) -> Param:
        return self._by_name[name]

    def __len__(self) -> int:
        return self.dim

    # ---------------------------------------------------------------- unit cube
    def from_unit(self, vector: Sequence[float] | np.ndarray) -> dict[str, Any]:
        """The nested configuration (constants included) at a point of the unit cube.

        Coordinates outside ``[0, 1]`` are clipped.
        """
        flat = self.flat_from_unit(vector)
        return unflatten({**self.constants, **flat})

    def flat_from_unit(self, vector: Sequence[float] | np.ndarray) -> dict[str, Any]:
        """Like :meth:`from_unit` but flattened and without constants."""
        x = np.asarray(vector, dtype=float).reshape(-1)
        if x.shape[0] != self.dim:
            raise SearchSpaceError(f"expected a vector of length {self.dim}, got length {x.shape[0]}")
        if not np.all(np.isfinite(x)):
            raise SearchSpaceError(f"unit-cube vector must be finite, got {x.tolist()}")
        return {p.name: p.from_unit(u) for p, u in zip(self.params, x)}

    def to_unit(self, config: Mapping[str, Any]) -> np.ndarray:
        """The unit-cube point of a configuration (nested or flat); values are repaired first."""
        flat = self.repair(config, flat=True)
        return np.array([p.to_unit(flat[p.name]) for p in self.params], dtype=float)

    def sample_unit(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """``n`` uniform points of the unit cube, shape ``(n, dim)``."""
        return rng.random((n, self.dim))

    # ---------------------------------------------------------------- validation
    def _flat_values(self, config: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(config, Mapping):
            raise ConfigValidationError([f"a configuration must be a dict, got {type(config).__name__}: {config!r}"])
        if any(SEP in k for k in config if isinstance(k, str)):
            return dict(config)
        out: dict[str, Any] = {}
        for key, value in config.items():
            if isinstance(value, Mapping) and not any(p.name == key for p in self.params):
                out.update({f"{key}{SEP}{k}": v for k, v in flatten(value).items()})
            else:
                out[key] = value
        return out

    def check(self, config: Mapping[str, Any], *, strict: bool = False) -> list[str]:
        """Every problem of a configuration (nested or flat), one line each; empty when valid.

        Missing parameters, wrong types, values out of range or off the quantization grid, and
        unknown categories are problems. Constants and extra keys are ignored, unless ``strict``:
        then a key that names nothing in the space (a typo) and a constant given another value
        (it would be silently overridden) are problems too.
        """
        try:
            flat = self._flat_values(config)
        except ConfigValidationError as exc:
            return exc.problems
        problems = []
        if strict:
            names = set(self.names)
            items = []
            for key, value in flat.items():  # a mixed flat/nested point leaves nested dicts to flatten
                nested = isinstance(value, Mapping) and key not in names and key not in self.constants
                items += [(f"{key}{SEP}{k}", v) for k, v in flatten(value).items()] if nested else [(key, value)]
            for key, value in items:
                if key in names:
                    continue
                if key not in self.constants:
                    problems.append(f"unknown parameter {key!r} (the space has: {', '.join(self.names)})")
                elif _differs(value, self.constants[key]):
                    problems.append(f"{key!r} is fixed at {self.constants[key]!r} in the search space, got "
                                    f"{value!r}: drop it, or make it a Tune domain to search it")
        for p in self.params:
            if p.name not in flat:
                problems.append(f"missing parameter {p.name!r}")
                continue
            problem = p.check(flat[p.name])
            if problem:
                problems.append(problem)
        return problems

    def validate(self, config: Mapping[str, Any]) -> None:
        """Raise :class:`ConfigValidationError` listing every problem of ``config``."""
        problems = self.check(config)
        if problems:
            raise ConfigValidationError(problems)

    def repair(self, config: Mapping[str, Any], *, flat: bool = False) -> dict[str, Any]:
        """A valid configuration as close as possible to ``config``.

        Numbers given as text are parsed, values clipped into their range and snapped to their
        grid (integers rounded), categories matched exactly, then by case-insensitive text, then
        (numeric categories) by nearest value. Valid values are returned unchanged. Extra keys are
        dropped; constants are filled in.

        Args:
            config: nested or flat configuration.
            flat: return a flat dict of the parameters only (no constants).

        Raises:
            ConfigValidationError: when a parameter is missing or cannot be interpreted (a word
                for a number, a category that matches nothing); all such problems are listed.
        """
        values = self._flat_values(config)
        problems: list[str] = []
        out: dict[str, Any] = {}
        for p in self.params:
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
        return out if flat else unflatten({**self.constants, **out})

    def coerce(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The flat parameters of ``config`` after lossless conversions only (``2.0`` for an integer,
        a numpy scalar, a number written as text); unlike :meth:`repair`, nothing is clipped,
        snapped or matched to a near category.

        Raises:
            ConfigValidationError: listing every value that would have to change.
        """
        repaired = self.repair(config, flat=True)
        values = self._flat_values(config)
        problems = [problem for p in self.params
                    if (problem := p.check(values[p.name])) and not _same_value(values[p.name], repaired[p.name])]
        if problems:
            raise ConfigValidationError(problems)
        return repaired

    def key(self, config: Mapping[str, Any]) -> str:
        """A canonical text key for de-duplication: equal for configurations that repair to the same
        values (floats compared to 6 significant digits)."""
        flat = self.repair(config, flat=True)
        return "|".join(f"{p.name}={p.key(flat[p.name])}" for p in self.params)

    # ---------------------------------------------------------------- rendering
    def describe(self) -> list[dict[str, Any]]:
        """One dict per parameter (name, type, low, high, scale, q, choices)."""
        return [p.describe() for p in self.params]

    def to_prompt(self) -> str:
        """A compact table for prompts: ``name | type | low | high | scale | choices``."""
        lines = ["name | type | low | high | scale | choices"]
        for p in self.params:
            d = p.describe()
            if p.kind == "categorical":
                lines.append(f"{p.name} | choice | | | | {', '.join(json.dumps(c) for c in d['choices'])}")
                continue
            scale = d.get("prior") or d["scale"]
            if d.get("q"):
                scale += f", step {d['q']}"
            lo = "" if not math.isfinite(d["low"]) else _fmt(d["low"])
            hi = "" if not math.isfinite(d["high"]) else _fmt(d["high"])
            lines.append(f"{p.name} | {d['type']} | {lo} | {hi} | {scale} |")
        return "\n".join(lines)

    def config_schema(self) -> dict[str, Any]:
        """JSON schema of one flat configuration (parameters only, in coordinate order)."""
        return {
            "type": "object",
            "properties": {p.name: p.json_schema() for p in self.params},
            "required": self.names,
            "additionalProperties": False,
        }

    def json_schema(self, n: int | None = None, *, key: str = "configs") -> dict[str, Any]:
        """JSON schema of an LLM answer.

        Args:
            n: ``None`` for one configuration object; otherwise an object ``{key: [...]}`` holding
                exactly ``n`` configurations.
            key: the array's property name.
        """
        one = self.config_schema()
        if n is None:
            return one
        if n < 1:
            raise SearchSpaceError(f"n must be >= 1, got {n}")
        return {
            "type": "object",
            "properties": {key: {"type": "array", "items": one, "minItems": n, "maxItems": n}},
            "required": [key],
            "additionalProperties": False,
        }

    def gbnf(self, n: int | None = None, *, key: str = "configs") -> str:
        """A llama.cpp GBNF grammar for :meth:`json_schema` with exact integer and choice bounds."""
        from raytune_llm.llm.gbnf import schema_to_gbnf

        return schema_to_gbnf(self.json_schema(n, key=key))

    # ---------------------------------------------------------------- state
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (for saved state and fingerprints; constants by ``repr``)."""
        return {"params": self.describe(), "constants": {k: repr(v) for k, v in sorted(self.constants.items())}}

    def fingerprint(self) -> str:
        """A short hash of :meth:`to_dict`, to check a restored searcher sees the same space."""
        import hashlib

        text = json.dumps(self.to_dict(), sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


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


def _contains_domain(values: Iterable[Any]) -> bool:
    from ray.tune.search.sample import Domain

    for v in values:
        if isinstance(v, Domain):
            return True
        if isinstance(v, (list, tuple)) and _contains_domain(v):
            return True
        if isinstance(v, Mapping) and _contains_domain(v.values()):
            return True
    return False
