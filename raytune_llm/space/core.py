"""The search space type: typed parameters plus constants, mapped to and from the unit cube."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from raytune_llm.errors import SearchSpaceError
from raytune_llm.space import validation
from raytune_llm.space.params import Param
from raytune_llm.space.tune import read_tune, unflatten

__all__ = ["SearchSpace"]


@dataclass
class SearchSpace:
    """A search space: typed parameters (the dimensions) plus constants.

    Build one with :meth:`from_tune` from a Ray Tune ``param_space``/``config`` dictionary, or
    directly from :class:`FloatParam`, :class:`IntParam` and :class:`CategoricalParam` objects.
    How a space is shown to an LLM (prompt table, answer schema, grammar) is
    :mod:`raytune_llm.proposals.render`'s job, not the space's.

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
                ``Tuner(param_space=...)``, possibly nested. A :class:`SearchSpace` is returned as is.

        Returns:
            The search space.

        Raises:
            SearchSpaceError: for grid searches, ``sample_from``, domains inside lists, and spaces
                with nothing to search; the message names the key and what to do instead.
        """
        if isinstance(param_space, SearchSpace):
            return param_space
        params, constants = read_tune(param_space)
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
    def check(self, config: Mapping[str, Any], *, strict: bool = False) -> list[str]:
        """Every problem of a configuration (nested or flat), one line each; empty when valid.

        Missing parameters, wrong types, values out of range or off the quantization grid, and
        unknown categories are problems. Constants and extra keys are ignored, unless ``strict``:
        then a key that names nothing in the space (a typo) and a constant given another value
        (it would be silently overridden) are problems too.
        """
        return validation.check(self, config, strict=strict)

    def validate(self, config: Mapping[str, Any]) -> None:
        """Raise :class:`ConfigValidationError` listing every problem of ``config``."""
        validation.validate(self, config)

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
        return validation.repair(self, config, flat=flat)

    def coerce(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The flat parameters of ``config`` after lossless conversions only (``2.0`` for an integer,
        a numpy scalar, a number written as text); unlike :meth:`repair`, nothing is clipped,
        snapped or matched to a near category.

        Raises:
            ConfigValidationError: listing every value that would have to change.
        """
        return validation.coerce(self, config)

    def key(self, config: Mapping[str, Any]) -> str:
        """A canonical text key for de-duplication: equal for configurations that repair to the same
        values (floats compared to 6 significant digits)."""
        flat = self.repair(config, flat=True)
        return "|".join(f"{p.name}={p.key(flat[p.name])}" for p in self.params)

    # ---------------------------------------------------------------- description and state
    def describe(self) -> list[dict[str, Any]]:
        """One dict per parameter (name, type, low, high, scale, q, choices)."""
        return [p.describe() for p in self.params]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (for saved state and fingerprints; constants by ``repr``)."""
        return {"params": self.describe(), "constants": {k: repr(v) for k, v in sorted(self.constants.items())}}

    def fingerprint(self) -> str:
        """A short hash of :meth:`to_dict`, to check a restored searcher sees the same space."""
        import hashlib

        text = json.dumps(self.to_dict(), sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # ---------------------------------------------------------------- deprecated rendering
    def to_prompt(self) -> str:
        """Deprecated: use :func:`raytune_llm.proposals.render.space_table`."""
        return _renderer("to_prompt", "space_table")(self)

    def config_schema(self) -> dict[str, Any]:
        """Deprecated: use :func:`raytune_llm.proposals.render.config_schema`."""
        return _renderer("config_schema", "config_schema")(self)

    def json_schema(self, n: int | None = None, *, key: str = "configs") -> dict[str, Any]:
        """Deprecated: use :func:`raytune_llm.proposals.render.space_schema`."""
        return _renderer("json_schema", "space_schema")(self, n, key=key)

    def gbnf(self, n: int | None = None, *, key: str = "configs") -> str:
        """Deprecated: use :func:`raytune_llm.proposals.render.space_grammar`."""
        return _renderer("gbnf", "space_grammar")(self, n, key=key)


def _renderer(method: str, function: str) -> Callable[..., Any]:
    """Warn that ``SearchSpace.<method>`` is deprecated and return its replacement (imported lazily:
    rendering sits above the space)."""
    warnings.warn(f"SearchSpace.{method}() is deprecated and will be removed; use "
                  f"raytune_llm.proposals.render.{function}(space, ...) instead",
                  DeprecationWarning, stacklevel=3)
    from raytune_llm.proposals import render

    return getattr(render, function)
