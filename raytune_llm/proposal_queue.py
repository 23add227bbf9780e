"""The pure core of LLM-from-history search (Zhang et al. 2023): a queue of screened proposals
and a space-filling fallback. No Ray, no LLM: the searcher adapter feeds it answers.
"""

from __future__ import annotations

import warnings
from collections import deque
from typing import Any

import numpy as np


class SpaceFiller:
    """Scrambled Sobol points in the unit cube, one at a time, resumable from a count.

    Args:
        dim: dimensions.
        seed: scrambling seed.
    """

    def __init__(self, dim: int, *, seed: int | None = None, drawn: int = 0) -> None:
        from scipy.stats import qmc

        self.dim = dim
        self.seed = seed
        self._sobol = qmc.Sobol(d=dim, scramble=True, seed=seed)
        self.drawn = 0
        if drawn:
            self._sobol.fast_forward(drawn)
            self.drawn = drawn

    def next(self) -> np.ndarray:
        """The next point of the sequence."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # balance warnings for non-powers of two
            x = self._sobol.random(1)[0]
        self.drawn += 1
        return x

    def get_state(self) -> dict[str, Any]:
        return {"dim": self.dim, "seed": self.seed, "drawn": self.drawn}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SpaceFiller:
        return cls(int(state["dim"]), seed=state["seed"], drawn=int(state["drawn"]))


class ProposalQueue:
    """Validated configurations waiting for a trial, oldest first, with their keys."""

    def __init__(self) -> None:
        self._items: deque[tuple[str, dict[str, Any]]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> set[str]:
        return {k for k, _ in self._items}

    def push(self, key: str, config: dict[str, Any]) -> None:
        self._items.append((key, config))

    def pop(self) -> tuple[str, dict[str, Any]] | None:
        return self._items.popleft() if self._items else None

    def get_state(self) -> list[list[Any]]:
        return [[k, c] for k, c in self._items]

    @classmethod
    def from_state(cls, items: list[list[Any]]) -> ProposalQueue:
        queue = cls()
        for key, config in items:
            queue.push(key, dict(config))
        return queue
