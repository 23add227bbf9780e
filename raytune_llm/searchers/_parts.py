"""What every raytune-llm searcher exposes over its parts, written once.

:class:`~raytune_llm.searchers.base.LLMSearcherBase` (the adapter over a pure core) and
:class:`~raytune_llm.searchers.metallmix.MetaLLMiXSearcher` (a wrapper around another searcher)
both keep their trials in a :class:`~raytune_llm.searchers._trials.TrialLog` (``self._trials``),
their LLM in an :class:`~raytune_llm.searchers._llm_link.LLMLink` (``self._llm``) and their
telemetry in ``self.telemetry``; this mixin builds them (:meth:`SearcherParts._init_parts`, which also checks the
settings both take) and gives both the same results, usage and checkpoint methods. A class using
it calls ``_init_parts`` before ``Searcher.__init__`` and defines ``get_state``/``set_state``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from raytune_llm._checks import check_bool, check_int, check_seed
from raytune_llm.llm import UsageStats
from raytune_llm.proposals.swarm import Trial
from raytune_llm.searchers._llm_link import LLMLink
from raytune_llm.searchers._state import read_state, write_state
from raytune_llm.searchers._trials import TrialLog
from raytune_llm.space import SearchSpace
from raytune_llm.telemetry import Telemetry


def check_metric_mode(metric: Any, mode: Any) -> None:
    """Raise ``ValueError`` unless ``metric`` is a name or ``None`` and ``mode`` is min, max or ``None``."""
    if mode not in (None, "min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    if metric is not None and not isinstance(metric, str):
        raise ValueError(f"metric must be the name of a reported metric (a str) or None, got {metric!r}")


def check_points(points: Any) -> list[dict[str, Any]]:
    """``points_to_evaluate`` as a list of dicts (checked against the space once it is known)."""
    if points is None:
        return []
    if isinstance(points, Mapping):
        raise ValueError("points_to_evaluate must be a list of configurations; for one configuration, wrap it "
                         f"in a list: points_to_evaluate=[{{...}}], got the dict {points!r:.200}")
    if isinstance(points, (str, bytes)) or not isinstance(points, Iterable):
        raise ValueError(f"points_to_evaluate must be a list of configuration dicts, got {points!r:.200}")
    points = list(points)
    for i, point in enumerate(points):
        if not isinstance(point, Mapping):
            raise ValueError(f"points_to_evaluate[{i}] must be a configuration dict ({{name: value}}), "
                             f"got {type(point).__name__}: {point!r:.200}")
    return [dict(p) for p in points]


class SearcherParts:
    """Results, LLM usage and checkpoints of a searcher built on a trial log, an LLM link and telemetry."""

    def _init_parts(self, *, metric: str | None, mode: str | None,
                    points_to_evaluate: Sequence[Mapping[str, Any]] | None, seed: int | None, llm: Any,
                    llm_options: Mapping[str, Any] | None, max_evaluations: int | None, wait_for_llm: bool,
                    llm_timeout_s: float, worker_options: Mapping[str, Any] | None, log_dir: Any, telemetry: bool,
                    counters: Sequence[str] | None = None) -> None:
        """Check the settings every searcher of the package takes and build its parts (LLM link,
        telemetry, trial log); called before ``Searcher.__init__``, so that a bad ``mode`` gets
        this package's error, not Ray's assertion.

        Raises:
            ValueError: a bad setting; the message names it and what is expected.
        """
        check_metric_mode(metric, mode)
        max_evaluations = check_int("max_evaluations", max_evaluations, minimum=1, optional=True)
        wait_for_llm = check_bool("wait_for_llm", wait_for_llm)
        telemetry = check_bool("telemetry", telemetry)
        if log_dir is not None and not isinstance(log_dir, (str, os.PathLike)):
            raise ValueError(f"log_dir must be a folder path (a str) or None, got {log_dir!r:.200}")
        seed = check_seed(seed)
        points = check_points(points_to_evaluate)
        self._llm = LLMLink(llm, llm_options=llm_options, timeout_s=llm_timeout_s, worker_options=worker_options,
                            seed=seed)
        self._seed = seed
        self._points: list[dict[str, Any]] = points
        self._max_concurrency: int | None = None
        self._num_samples: int | None = None
        self.max_evaluations = max_evaluations
        self.wait_for_llm = wait_for_llm
        self.telemetry = Telemetry(log_dir, enabled=telemetry)
        self._trials = TrialLog(self.telemetry, *([counters] if counters is not None else []))
        self.space: SearchSpace | None = None
        self._pending_state: dict[str, Any] | None = None

    # ------------------------------------------------------------------ trials
    @property
    def budget(self) -> int | None:
        """Trials the search is expected to run, if known (``max_evaluations`` or Tune's ``num_samples``)."""
        return self.max_evaluations or self._num_samples

    @property
    def history(self) -> list[dict[str, Any]]:
        """Completed trials in order: ``{"config" (flat), "value" (None: failed), "origin", "trial_id"}``."""
        return self._trials.history

    @property
    def counters(self) -> dict[str, int]:
        """Counts of the LLM's proposals and failed requests (and, for MetaLLMiX, warm results and write-backs)."""
        return self._trials.counters

    @property
    def _live(self) -> dict[str, dict[str, Any]]:
        """Trials in flight: ``{trial_id: {"token", "origin", "config"}}``."""
        return self._trials.live

    @property
    def llm_usage(self) -> UsageStats:
        """LLM usage so far, kept across save/restore."""
        return self._llm.usage

    # ------------------------------------------------------------------ results
    @property
    def best(self) -> dict[str, Any] | None:
        """The best completed trial: ``{"config", "value", "origin", "trial_id"}``, or ``None``."""
        return self._trials.best(self._mode)

    def best_trials(self, n: int) -> list[Trial]:
        """The ``n`` best completed trials, best first."""
        return self._trials.best_trials(n, self._mode)

    def recent_trials(self, n: int) -> list[Trial]:
        """The ``n`` most recent trials, newest last (failed ones with value NaN)."""
        return self._trials.recent_trials(n)

    def origin_counts(self) -> dict[str, int]:
        """Completed trials per origin."""
        return self._trials.origin_counts()

    # ------------------------------------------------------------------ checkpoints
    def save(self, checkpoint_path: str) -> None:
        """Write :meth:`get_state` as JSON atomically (temp file + ``os.replace``)."""
        write_state(checkpoint_path, self.get_state())
        self.telemetry.flush()

    def restore(self, checkpoint_path: str) -> None:
        """Read a file :meth:`save` wrote and :meth:`set_state` from it."""
        self.set_state(read_state(checkpoint_path))

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        self.telemetry.attach(checkpoint_dir)
        super().save_to_dir(checkpoint_dir, session_str)

    def restore_from_dir(self, checkpoint_dir: str) -> None:
        super().restore_from_dir(checkpoint_dir)
        self.telemetry.attach(checkpoint_dir)
