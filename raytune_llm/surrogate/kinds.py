"""Per-coordinate kinds of the unit cube: what a model or a move may assume about each coordinate.

The search space (:class:`raytune_llm.space.SearchSpace`) maps every parameter to ONE coordinate
of ``[0, 1]``: a float (linear or log) to a continuous coordinate, an integer to one of its
values' cells, a category ``k`` of ``n`` to the cell ``[k / n, (k + 1) / n)``. The layers above
the space (the surrogate, the swarm) only need to know which is which, as data:

* ``"cont"``: a continuous coordinate.
* ``("int", centres)``: an integer; ``centres`` are the unit coordinates of its allowed values
  (increasing). A position on the grid is one of them.
* ``("cat", n)``: a category among ``n``; the position of category ``k`` is ``(k + 0.5) / n``.

:func:`kinds_from_space` builds them from a space; :func:`normalize_kinds` checks a list given
by hand (JSON lists are accepted for tuples, so kinds survive a saved state).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

import numpy as np

#: One coordinate's kind: ``"cont"``, ``("int", centres)`` or ``("cat", n_choices)``.
Kind = Union[str, tuple]

#: Integers with more allowed values than this are treated as continuous coordinates (the space
#: rounds them; a grid of more than this many cells is finer than any move of the swarm).
MAX_GRID = 1024


def kinds_from_space(space: Any) -> list[Kind]:
    """The kind of each coordinate of a :class:`~raytune_llm.space.SearchSpace`, in order.

    Floats (quantised or not) are ``"cont"``; integers with at most :data:`MAX_GRID` values are
    ``("int", centres)``, larger ones ``"cont"``; categoricals are ``("cat", n)``.

    Example:
        >>> from raytune_llm.space import CategoricalParam, FloatParam, IntParam, SearchSpace
        >>> space = SearchSpace((FloatParam("lr", 1e-4, 1e-1, log=True), IntParam("layers", 1, 3),
        ...                      CategoricalParam("act", ("relu", "tanh"))))
        >>> space.names, kinds_from_space(space)
        (['act', 'layers', 'lr'], [('cat', 2), ('int', (0.16666666666666666, 0.5, 0.8333333333333334)), 'cont'])
    """
    kinds: list[Kind] = []
    for p in space.params:
        if p.kind == "categorical":
            kinds.append(("cat", len(p.choices)))
        elif p.kind == "int" and p.size <= MAX_GRID:
            kinds.append(("int", tuple(float(p.to_unit(p.first + k * p.q)) for k in range(p.size))))
        else:
            kinds.append("cont")
    return kinds


def normalize_kinds(kinds: Sequence[Any] | None, dim: int) -> list[Kind]:
    """Check ``kinds`` (``None``: every coordinate continuous) and return them as tuples.

    Raises:
        ValueError: a list of the wrong length or a kind that is none of the three forms.
    """
    if kinds is None:
        return ["cont"] * dim
    kinds = list(kinds)
    if len(kinds) != dim:
        raise ValueError(f"kinds must give one kind per coordinate ({dim}), got {len(kinds)}")
    out: list[Kind] = []
    for j, k in enumerate(kinds):
        if k == "cont":
            out.append("cont")
            continue
        if isinstance(k, (list, tuple)) and len(k) == 2 and k[0] == "cat":
            n = k[1]
            if isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1:
                out.append(("cat", int(n)))
                continue
        if isinstance(k, (list, tuple)) and len(k) == 2 and k[0] == "int":
            centres = np.asarray(k[1], dtype=float).reshape(-1)
            if centres.size >= 1 and np.all(np.isfinite(centres)) and np.all((centres >= 0) & (centres <= 1)) \
                    and np.all(np.diff(centres) > 0):
                out.append(("int", tuple(float(c) for c in centres)))
                continue
        raise ValueError(f"kinds[{j}] must be 'cont', ('int', increasing unit centres) or ('cat', n >= 1), "
                         f"got {k!r}")
    return out


def kinds_to_json(kinds: Sequence[Kind]) -> list[Any]:
    """``kinds`` as JSON values (tuples become lists)."""
    return [k if isinstance(k, str) else [k[0], list(k[1]) if k[0] == "int" else k[1]] for k in kinds]


def categorical_columns(kinds: Sequence[Kind]) -> list[int]:
    """The indices of the categorical coordinates (the others are continuous or integer: numeric)."""
    return [j for j, k in enumerate(kinds) if k != "cont" and k[0] == "cat"]


def category(u: np.ndarray | float, n: int) -> np.ndarray:
    """The category index of unit coordinate(s) ``u`` among ``n`` (the space's cells)."""
    return np.clip(np.floor(np.asarray(u, dtype=float) * n), 0, n - 1).astype(int)


def snap(x: np.ndarray, kinds: Sequence[Kind]) -> np.ndarray:
    """``x`` (one point or rows of points) with integer coordinates on their nearest centre and
    categorical ones at their category's centre; continuous coordinates clipped to ``[0, 1]``."""
    x = np.clip(np.array(x, dtype=float), 0.0, 1.0)
    flat = x.reshape(-1, x.shape[-1])
    for j, k in enumerate(kinds):
        if k == "cont":
            continue
        if k[0] == "cat":
            flat[:, j] = (category(flat[:, j], k[1]) + 0.5) / k[1]
        else:
            centres = np.asarray(k[1])
            idx = np.clip(np.searchsorted(centres, flat[:, j]), 1, max(len(centres) - 1, 1))
            if len(centres) == 1:
                flat[:, j] = centres[0]
                continue
            left, right = centres[idx - 1], centres[idx]
            flat[:, j] = np.where(flat[:, j] - left <= right - flat[:, j], left, right)
    return flat.reshape(x.shape)
