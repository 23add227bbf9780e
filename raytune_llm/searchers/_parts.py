"""What every raytune-llm searcher exposes over its parts, written once.

:class:`~raytune_llm.searchers.base.LLMSearcherBase` (the adapter over a pure core) and
:class:`~raytune_llm.searchers.metallmix.MetaLLMiXSearcher` (a wrapper around another searcher)
both keep their trials in a :class:`~raytune_llm.searchers._trials.TrialLog` (``self._trials``),
their LLM in an :class:`~raytune_llm.searchers._llm_link.LLMLink` (``self._llm``) and their
telemetry in ``self.telemetry``; this mixin gives both the same results, usage and checkpoint
methods. A class using it sets those three attributes and ``_mode``, ``max_evaluations`` and
``_num_samples``, and defines ``get_state``/``set_state``.
"""

from __future__ import annotations

from typing import Any

from raytune_llm.llm import UsageStats
from raytune_llm.proposals.swarm import Trial
from raytune_llm.searchers._state import read_state, write_state


class SearcherParts:
    """Results, LLM usage and checkpoints of a searcher built on a trial log, an LLM link and telemetry."""

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
