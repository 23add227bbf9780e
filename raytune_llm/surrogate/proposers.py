"""Proposers that compete with the LLM for a swarm's replaced particles (pure: numpy only).

* :func:`model_proposals`: acquisition optima of a :class:`~raytune_llm.surrogate.screen.SurrogateScreen`
  (the best-scoring of many random and near-best candidate points);
* :func:`perturb_proposals`: local steps around the best results.

Both read the history in the unit cube (``X``, costs ``y``, lower is better) and return unit-cube
points snapped to the coordinates' kinds (integers on their grid, categories at a cell's centre).
Their local steps (:func:`local_steps`) move continuous and integer coordinates by Gaussian steps and
categorical ones by redrawing a category: a category's neighbour in the list of choices is no nearer
than any other, so a Gaussian step across category cells would be a float rounded into a category.
:class:`~raytune_llm.searchers.LLMPSOSearcher` offers them at its gate beside the LLM's answers;
``benchmarks/llm_proposal_probe.py`` uses the same ones as controls of the LLM's proposals.

Example:
    >>> from raytune_llm.surrogate.screen import SurrogateScreen
    >>> rng = np.random.default_rng(0)
    >>> screen = SurrogateScreen(1, seed=0)
    >>> for x in (0.1, 0.3, 0.6, 0.9):
    ...     screen.observe([x], (x - 0.5) ** 2)
    >>> [best] = model_proposals(screen, ["cont"], 1, rng)
    >>> bool(abs(best[0] - 0.5) < 0.15)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from raytune_llm._checks import check_number
from raytune_llm.surrogate.kinds import categorical_columns, category, snap

__all__ = ["local_steps", "model_candidates", "model_proposals", "perturb_proposals", "reflect"]


def reflect(x: np.ndarray) -> np.ndarray:
    """``x`` mirrored back into the unit cube at its faces (then clipped)."""
    return np.clip(np.where(x < 0, -x, np.where(x > 1, 2 - x, x)), 0.0, 1.0)


def local_steps(centres: np.ndarray, sigma: np.ndarray | float, kinds: Sequence[Any], rng: np.random.Generator,
                *, redraw: float = 0.2, weights: Sequence[np.ndarray] | None = None,
                subspace: float = 0.0) -> np.ndarray:
    """Steps around the rows of ``centres`` (unit cube), snapped: continuous and integer coordinates
    move by Gaussian steps of width ``sigma`` (a scalar or one per row), mirrored at the faces; each
    categorical coordinate keeps its centre's category or, with probability ``redraw``, takes another
    one: uniformly, or drawn from ``weights`` (one vector per categorical coordinate, in the order of
    ``kinds``: e.g. a particle's category probabilities) without the centre's category. In a space of
    categories alone at least one category with a choice changes (a step never repeats its centre).
    With probability ``subspace`` a row's Gaussian step moves only a random subset of the continuous
    and integer coordinates (its size uniform from one to all of them; in the spirit of DYCORS's
    perturbation of a few coordinates at a time), the others keep the centre's values; a subset step
    that lands back on its centre's numeric coordinates (integers that stayed in their cells) takes
    the full step instead. Without categorical coordinates and with ``subspace=0`` (or fewer than
    two numeric coordinates) the random draws are those of the Gaussian step alone.

    Raises:
        ValueError: ``sigma`` neither a scalar nor one width per row; ``subspace`` outside [0, 1].
    """
    centres = np.atleast_2d(np.asarray(centres, dtype=float))
    n, dim = centres.shape
    sigma = np.asarray(sigma, dtype=float)
    if sigma.size not in (1, n):
        raise ValueError(f"sigma must be a scalar or one width per row ({n}), got shape {sigma.shape}")
    subspace = check_number("subspace", subspace, low=0, high=1)
    noise = rng.standard_normal((n, dim))
    widths = np.broadcast_to(sigma.reshape(-1, 1), (n, 1))
    steps = reflect(centres + widths * noise)
    cat_cols = categorical_columns(kinds)
    num = np.setdiff1d(np.arange(dim), cat_cols)
    if subspace > 0 and len(num) > 1:
        rows = np.nonzero(rng.random(n) < subspace)[0]
        size = rng.integers(1, len(num) + 1, size=len(rows))
        rank = np.argsort(np.argsort(rng.random((len(rows), len(num))), axis=1), axis=1)
        masked = noise[rows].copy()
        masked[:, num] *= rank < size[:, None]
        sub = reflect(centres[rows] + widths[rows] * masked)
        moved = np.any(snap(sub, kinds)[:, num] != snap(centres[rows], kinds)[:, num], axis=1)
        steps[rows[moved]] = sub[moved]
    vectors = dict(zip(cat_cols, weights)) if weights is not None else {}
    cats = [(j, kinds[j][1]) for j in cat_cols if kinds[j][1] > 1]  # a single choice never changes
    if not cats:
        return snap(steps, kinds)
    cols = np.array([j for j, _ in cats])
    sizes = np.array([m for _, m in cats])
    now = category(centres[:, cols], sizes)
    change = rng.random((n, len(cats))) < redraw
    if len(cat_cols) == dim:
        change[np.arange(n), rng.integers(len(cats), size=n)] = True
    if weights is None:  # another category: the centre's plus 1 .. m-1 places, modulo m
        shift = 1 + np.floor(rng.random((n, len(cats))) * (sizes - 1)).astype(int)
        new = np.where(change, (now + shift) % sizes, now)
    else:
        new = now.copy()
        for i, c in zip(*np.nonzero(change)):
            others = np.delete(np.asarray(vectors[cols[c]], dtype=float), now[i, c]) + 1e-12
            k = int(rng.choice(sizes[c] - 1, p=others / others.sum()))
            new[i, c] = k + (k >= now[i, c])
    steps[:, cols] = (new + 0.5) / sizes
    return snap(steps, kinds)


def model_candidates(X: np.ndarray, y: np.ndarray, dim: int, kinds: Sequence[Any], n: int,
                     rng: np.random.Generator) -> np.ndarray:
    """``n`` candidate points: half uniform, half local steps (:func:`local_steps`, Gaussian widths
    log-uniform in [0.005, 0.2]) around the five best of the history ``(X, y)`` (all uniform without
    a history), snapped."""
    cands = rng.random((n - n // 2, dim))
    if len(y):
        top = X[np.argsort(y, kind="stable")[:5]]
        centres = top[rng.integers(len(top), size=n // 2)]
        sigma = np.exp(rng.uniform(np.log(0.005), np.log(0.2), (n // 2, 1)))
        return np.vstack([snap(cands, kinds), local_steps(centres, sigma, kinds, rng)])
    return snap(cands, kinds)


def model_proposals(screen: Any, kinds: Sequence[Any], k: int, rng: np.random.Generator, *,
                    candidates: int = 512, refine: int = 0) -> list[np.ndarray]:
    """The ``k`` best of ``candidates`` points (:func:`model_candidates` around the screen's
    history) by the screen's acquisition (pending trials as fantasies), best first.

    ``refine`` rounds of local search follow: each scores ``candidates // 2`` Gaussian steps around
    the eight best points so far (:func:`local_steps`), the widths log-uniform up to 0.05 and halved
    at every round (a random search finds an acquisition's basin, not its optimum, which is narrow
    late in a run)."""
    X, y = screen.history()
    cands = model_candidates(X, y, screen.dim, kinds, candidates, rng)
    scores = np.asarray(screen(cands), dtype=float)
    n = max(candidates // 2, 8)
    for r in range(refine):
        top = cands[np.argsort(scores, kind="stable")[:8]]
        sigma = 0.05 * 0.5 ** r * np.exp(rng.uniform(np.log(0.02), 0.0, (n, 1)))
        steps = local_steps(top[rng.integers(len(top), size=n)], sigma, kinds, rng)
        cands, scores = np.vstack([cands, steps]), np.concatenate([scores, np.asarray(screen(steps), dtype=float)])
    if refine:  # one scoring of the whole pool: a screen may draw its acquisition per call (``"hedge"``)
        scores = np.asarray(screen(cands), dtype=float)
    return [cands[i] for i in np.argsort(scores, kind="stable")[:k]]


def perturb_proposals(X: np.ndarray, y: np.ndarray, kinds: Sequence[Any], k: int,
                      rng: np.random.Generator) -> list[np.ndarray]:
    """``k`` local steps (:func:`local_steps`, Gaussian width log-uniform in [0.01, 0.1]) around the
    three best of the history, in turn. Empty without a history."""
    if not len(y):
        return []
    top = X[np.argsort(y, kind="stable")[:3]]
    return [local_steps(top[i % len(top)], np.exp(rng.uniform(np.log(0.01), np.log(0.1))), kinds, rng)[0]
            for i in range(k)]
