"""LLMSearcher: the LLM proposes the next configurations from the trial history (Zhang et al. 2023).

The model is told it is an ML expert and shown the space, the metric and its direction, the
remaining budget and a compressed history (summary statistics, the best and the most recent
trials); it answers with as many configurations as there are free trial slots plus a small queue
kept ahead of demand, so one request fills a cluster. Every proposal is screened (repaired or
rejected, de-duplicated against tried, in-flight and queued configurations). When the queue is
empty and the LLM is slow or failing, a scrambled Sobol point is used instead (origin
``"sobol"``), so ``suggest()`` never stalls; with ``wait_for_llm`` an answer that brings nothing new
is asked for again, a bounded number of times, before that.
"""

from __future__ import annotations

from typing import Any

from raytune_llm._checks import check_bool, check_int
from raytune_llm.proposal_queue import ProposalQueue, SpaceFiller
from raytune_llm.proposals.history_prompt import ANALYSIS_MAX_CHARS, answer_schema, history_messages
from raytune_llm.proposals.screening import screen_configs
from raytune_llm.searchers.base import LLMSearcherBase

MAX_BATCH = 16
WAIT_ANSWERS = 3  # with wait_for_llm: answers awaited for one trial before it gets a Sobol point


class LLMSearcher(LLMSearcherBase):
    """LLM proposals from the trial history, with a space-filling fallback.

    Args:
        batch_size: configurations per request when the free slots are unknown (default 4);
            with a known max concurrency a request asks for the free slots plus the queue target.
        queue_target: validated proposals to keep ahead of demand (default: batch size).
        analysis: ask for a short analysis before the configurations (the chain-of-thought variant);
            it is logged to telemetry, never trusted.
        task: one line describing the model and data, shown to the LLM.
        **kwargs: ``space``, ``metric``, ``mode``, ``points_to_evaluate``, ``seed``, ``llm``,
            ``llm_options``, ``max_evaluations``, ``wait_for_llm``, ``llm_timeout_s``,
            ``worker_options``, ``log_dir``, ``telemetry``: see
            :class:`~raytune_llm.searchers.base.LLMSearcherBase`. With ``llm=None`` it is a Sobol
            (quasi-random) search.

    Example:
        >>> from ray import tune
        >>> searcher = LLMSearcher(metric="loss", mode="min", llm=None, seed=0,
        ...                        space={"lr": tune.loguniform(1e-4, 1e-1)})
        >>> config = searcher.suggest("t1")
        >>> searcher.on_trial_complete("t1", {"loss": 0.5})
    """

    def __init__(self, *, batch_size: int = 4, queue_target: int | None = None, analysis: bool = False,
                 task: str = "", **kwargs: Any) -> None:
        batch_size = check_int("batch_size", batch_size, minimum=1, maximum=MAX_BATCH)
        queue_target = check_int("queue_target", queue_target, minimum=0, optional=True)
        analysis = check_bool("analysis", analysis)
        if not isinstance(task, str):
            raise ValueError(f"task must be a one-line description of the model and data (a str), got {task!r:.200}")
        self.batch_size = batch_size
        self._queue_target = queue_target
        self.analysis = analysis
        self.task = task
        self.queue = ProposalQueue()
        self.filler: SpaceFiller | None = None
        super().__init__(**kwargs)

    @property
    def queue_target(self) -> int:
        return self.batch_size if self._queue_target is None else self._queue_target

    # ------------------------------------------------------------------ hooks
    def _build(self) -> None:
        assert self.space is not None
        self.filler = SpaceFiller(self.space.dim, seed=self._seed)

    def _propose(self, trial_id: str) -> tuple[dict[str, Any], str, Any] | None:
        assert self.space is not None and self.filler is not None
        seen = self._seen_keys()
        config = self._pop_new(seen)
        if config is not None:
            self._request(taking=1)
            self.counters["llm_used"] += 1
            return config, "llm", None
        self._request()  # this trial still needs a configuration: it counts among the free slots
        if self.wait_for_llm:
            config = self._await_config(seen)
            if config is not None:
                self.counters["llm_used"] += 1
                return config, "llm", None
        for _ in range(100):
            flat = self.space.flat_from_unit(self.filler.next())
            if self.space.key(flat) not in seen:
                break
        return flat, "sobol", None

    def _pop_new(self, seen: set[str]) -> dict[str, Any] | None:
        """The first queued configuration not in ``seen`` (those before it are dropped), or None."""
        while len(self.queue):
            key, config = self.queue.pop()
            if key not in seen:
                return config
        return None

    def _await_config(self, seen: set[str]) -> dict[str, Any] | None:
        """``wait_for_llm``: wait for the outstanding answer and take its first new configuration.

        An answer that brings none (every configuration rejected or already tried) is asked for again,
        up to ``WAIT_ANSWERS`` answers for this trial; a request that timed out or failed is not
        repeated (waiting again would only stall the trial). ``None``: the trial gets a Sobol point.
        """
        for attempt in range(WAIT_ANSWERS):
            if attempt:
                self._request()
            if not self._llm.busy:
                return None
            failed = self.counters["llm_failed"]
            self._poll_llm(block=True)
            config = self._pop_new(seen)
            if config is not None:
                return config
            if self._llm.busy or self.counters["llm_failed"] > failed:
                return None
        return None

    def _observe(self, live: dict[str, Any], cost: float) -> None:
        """Nothing to update: the history (kept by the base class) is the model."""

    def _observe_external(self, flat: dict[str, Any], cost: float) -> None:
        """Likewise: user and warm-start points only enter the history."""

    def _after_complete(self) -> None:
        self._request()

    # ------------------------------------------------------------------ LLM
    def _free_slots(self, taking: int = 0) -> int:
        if self._max_concurrency:
            return max(0, self._max_concurrency - len(self._live) - taking)
        return self.batch_size

    def _request(self, taking: int = 0) -> None:
        """Ask for enough configurations to fill the free slots and the queue, if none is outstanding.

        Args:
            taking: slots about to be taken by the trial being suggested.
        """
        if not self._llm.active or self._llm.busy or self.space is None:
            return
        wanted = self._free_slots(taking) + self.queue_target - len(self.queue)
        if wanted <= 0:
            return
        n = min(MAX_BATCH, max(1, wanted))
        budget_left = None if self.budget is None else max(0, self.budget - self._trials.started)
        if budget_left == 0:
            return
        messages = history_messages(self.space, metric=self._metric, mode=self._mode, n=n, history=self.history,
                                    best=self.best_trials(8), recent=self.recent_trials(8),
                                    budget_left=budget_left, task=self.task, analysis=self.analysis)
        max_tokens = 60 + 25 * self.space.dim * n + (ANALYSIS_MAX_CHARS + 10 if self.analysis else 0)
        self._llm.submit(messages, answer_schema(self.space, n, analysis=self.analysis), max_tokens=max_tokens,
                         tag="history", meta={"n": n})

    def _on_llm_answer(self, answer: Any, meta: dict[str, Any]) -> None:
        assert self.space is not None
        items = answer.get("configs", []) if isinstance(answer, dict) else []
        screened = screen_configs(items, self.space, seen=self._seen_keys() | self.queue.keys())
        for config in screened.accepted:
            self.queue.push(self.space.key(config), config)
        self.counters["llm_accepted"] += len(screened.accepted)
        self.counters["llm_rejected"] += len(screened.rejected)
        analysis = answer.get("analysis") if isinstance(answer, dict) else None
        self.telemetry.event("llm_answer", accepted=len(screened.accepted), analysis=analysis,
                             rejected=[r for _, r in screened.rejected][:5])

    # ------------------------------------------------------------------ state
    def _core_state(self) -> dict[str, Any]:
        assert self.filler is not None
        return {"queue": [[k, self._encode(c)] for k, c in self.queue.get_state()], "filler": self.filler.get_state()}

    def _load_core_state(self, state: dict[str, Any]) -> None:
        self.queue = ProposalQueue.from_state([[k, self._decode(c)] for k, c in state["queue"]])
        self.filler = SpaceFiller.from_state(state["filler"])
