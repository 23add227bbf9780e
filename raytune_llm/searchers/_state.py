"""Searcher state as data: a versioned, JSON-able dict, configurations encoded, saved atomically.

Every raytune-llm searcher saves the same top-level entries (:data:`STATE_KEYS`, then
:data:`OPTIONAL_STATE_KEYS`, which older states may lack) plus ``"version"`` and ``"searcher"``;
its own algorithm's state goes under ``"core"``. Categorical values are saved by their index in
the choices (choices may be tuples, classes or other objects JSON cannot hold).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from raytune_llm._io import atomic_write
from raytune_llm.errors import SearchSpaceError
from raytune_llm.space import SearchSpace

if TYPE_CHECKING:
    from raytune_llm.searchers._llm_link import LLMLink
    from raytune_llm.searchers._trials import TrialLog

STATE_VERSION = 1
#: the keys every state has besides "version" and "searcher" (set_state needs each)
STATE_KEYS = ("metric", "mode", "seed", "space_fingerprint", "core", "live", "points", "history", "started",
              "num_samples", "best_value", "llm_requests", "usage", "counters")
#: keys written since, read with defaults
OPTIONAL_STATE_KEYS = ("max_concurrency", "llm", "origins")


class ConfigCodec:
    """Flat configurations of ``space`` to JSON and back: categories as ``{"$choice": index}``.

    Args:
        space: the search space, or ``None`` (not known yet: configurations pass unchanged).
    """

    def __init__(self, space: SearchSpace | None) -> None:
        self.space = space

    def encode(self, config: Mapping[str, Any], *, nested: bool = False) -> dict[str, Any]:
        """``config`` (flat, or a user's nested configuration with ``nested=True``) as JSON."""
        space = self.space
        if space is None:
            return dict(config)
        flat = space.repair(config, flat=True) if nested else dict(config)
        out = {}
        for name, value in flat.items():
            param = space[name] if name in space.names else None
            if param is not None and param.kind == "categorical" and param.index(value) is not None:
                out[name] = {"$choice": param.index(value)}
            else:
                out[name] = value
        return out

    def decode(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Undo :meth:`encode`."""
        space = self.space
        if space is None:
            return dict(config)
        return {name: space[name].choices[v["$choice"]] if isinstance(v, dict) and "$choice" in v else v
                for name, v in config.items()}


def check_state(state: Mapping[str, Any], searcher: str) -> None:
    """Raise ``ValueError`` unless ``state`` is a state of this version written by ``searcher``
    (a class name) with every key of :data:`STATE_KEYS`."""
    if not isinstance(state, Mapping):
        raise ValueError(f"cannot restore {searcher} from {type(state).__name__} {state!r:.100}; pass what "
                         "get_state() (or save()) wrote")
    if state.get("version") != STATE_VERSION or state.get("searcher") != searcher:
        raise ValueError(f"cannot restore {searcher} from state version {state.get('version')!r} "
                         f"of {state.get('searcher')!r}")
    missing = [k for k in STATE_KEYS if k not in state]
    if missing:
        raise ValueError(f"cannot restore {searcher}: the state lacks {missing}; pass what get_state() (or save()) "
                         "of this raytune-llm version wrote")


def build_state(searcher: str, *, metric: str | None, mode: str | None, seed: int | None, space: SearchSpace | None,
                core: dict[str, Any] | None, points: Sequence[Mapping[str, Any]], num_samples: int | None,
                max_concurrency: int | None, trials: TrialLog, llm: LLMLink) -> dict[str, Any]:
    """The state of a searcher (``searcher``: its class name) with the algorithm's own state ``core``.

    Args:
        points: the ``points_to_evaluate`` not run yet (saved as given while the space is unknown).
        trials: the searcher's trials (in flight and completed, counters).
        llm: the searcher's LLM link (requests, usage, the backend's recipe).
    """
    codec = ConfigCodec(space)
    return {
        "version": STATE_VERSION,
        "searcher": searcher,
        "metric": metric,
        "mode": mode,
        "seed": seed,
        "space_fingerprint": space.fingerprint() if space else None,
        "core": core,
        "points": [dict(p) for p in points] if space is None else [codec.encode(p, nested=True) for p in points],
        "num_samples": num_samples,
        "max_concurrency": max_concurrency,
        **trials.state(codec.encode),
        **llm.state(),
    }


def check_space(state: Mapping[str, Any], space: SearchSpace) -> None:
    """Raise :class:`SearchSpaceError` when ``state`` was saved for another search space than ``space``."""
    if state["space_fingerprint"] not in (None, space.fingerprint()):
        raise SearchSpaceError("the saved searcher was built for a different search space; restore it with the "
                               "same param_space")


def write_state(path: str | os.PathLike[str], state: Mapping[str, Any]) -> None:
    """Write ``state`` as JSON to ``path`` atomically (a reader sees the old file or the new one)."""
    atomic_write(path, lambda f: json.dump(state, f))


def read_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The state :func:`write_state` wrote to ``path``."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)
