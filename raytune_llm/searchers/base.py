"""The Ray Tune adapter that raytune-llm's own searchers share (:class:`LLMSearcherBase`).

It does the Tune side only: metric and mode, the trial ids and the trials in flight,
``points_to_evaluate``, ``FINISHED`` after ``max_evaluations``, ``add_evaluated_point``, state and
checkpoints. Its parts live in their own modules: the trials and their telemetry in
:mod:`~raytune_llm.searchers._trials`, the LLM worker in :mod:`~raytune_llm.searchers._llm_link`,
the state codec in :mod:`~raytune_llm.searchers._state`. A subclass drives its pure core through
these hooks:

* ``_build()``: create the core once the space is known;
* ``_propose(trial_id) -> (flat_config, origin, token) | None``: the next configuration;
* ``_observe(live, cost)``: a suggested trial finished (``cost`` minimised; ``inf`` = failed);
* ``_observe_external(flat, cost)``: a point the searcher did not propose (user, warm start);
* ``_after_complete()``: after each completion (e.g. send an LLM request with ``self._llm.submit``);
* ``_on_llm_answer(value, meta)``: an LLM answer arrived (``meta["result"]`` is the whole
  :class:`~raytune_llm.llm.LLMResult`, with usage and attempts);
* ``_on_llm_failure(error)``: an LLM request failed;
* ``_core_state()`` / ``_load_core_state(state)``: the core's JSON-able state.

:class:`~raytune_llm.searchers.metallmix.MetaLLMiXSearcher` wraps another searcher instead and
composes the same parts without this class.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ray.tune.search import Searcher

from raytune_llm.errors import SearchSpaceError
from raytune_llm.searchers._llm_link import DEFAULT_LLM
from raytune_llm.searchers._parts import SearcherParts, check_metric_mode
from raytune_llm.searchers._state import ConfigCodec, build_state, check_space, check_state
from raytune_llm.searchers._trials import cost, metric_value
from raytune_llm.space import SearchSpace, unflatten

logger = logging.getLogger("raytune_llm.searchers")


def check_points_in_space(points: Sequence[Mapping[str, Any]], space: SearchSpace) -> None:
    """Raise :class:`SearchSpaceError` naming the first of ``points`` that is not a configuration of ``space``."""
    for i, point in enumerate(points):
        problems = space.check(point, strict=True)
        if problems:
            raise SearchSpaceError(f"points_to_evaluate[{i}] is not valid for the search space: " + "; ".join(problems))


def evaluated_point(space: SearchSpace | None, parameters: Mapping[str, Any], value: Any,
                    error: bool) -> tuple[dict[str, Any], float | None]:
    """``add_evaluated_point``'s arguments as a flat configuration and a finite value (``None``: failed)."""
    if space is None:
        raise RuntimeError("add_evaluated_point needs the search space first (space= or set_search_properties)")
    try:
        flat = space.coerce(parameters)
    except SearchSpaceError as exc:
        raise SearchSpaceError("add_evaluated_point: the parameters are not a configuration of the search space "
                               f"(pass the values the trial really ran with): {exc}") from exc
    if error or value is None:
        return flat, None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"add_evaluated_point: value must be the metric's number (or error=True for a "
                         f"failed trial), got {value!r} ({type(value).__name__})") from None
    return flat, v if math.isfinite(v) else None


class LLMSearcherBase(SearcherParts, Searcher):
    """Base class of raytune-llm's searchers (see the module docstring for the hooks).

    Args:
        space: a Tune search space, usually left ``None`` and taken from Tune.
        metric: metric to optimise (taken from Tune when ``None``).
        mode: ``"min"`` or ``"max"`` (taken from Tune when ``None``).
        points_to_evaluate: configurations to evaluate first (validated against the space).
        seed: seed of everything random.
        llm: LLM spec (default ``"embedded"``), backend object, or ``None``. Left out, a restored
            state's LLM is rebuilt; given (``"embedded"`` included), it is kept on restore.
        llm_options: backend options (``base_url``, ``api_key``, ``n_gpu_layers``...).
        max_evaluations: ``suggest()`` returns ``Searcher.FINISHED`` after this many trials.
        wait_for_llm: let ``suggest()`` wait (bounded by ``llm_timeout_s``) for an outstanding answer.
        llm_timeout_s: seconds one LLM attempt may take.
        worker_options: :class:`~raytune_llm.llm.LLMWorker` options.
        log_dir: telemetry directory (default: Tune's experiment directory).
        telemetry: ``False`` to record none.
    """

    def __init__(
        self,
        *,
        space: Mapping[str, Any] | SearchSpace | None = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
        seed: int | None = None,
        llm: Any = DEFAULT_LLM,
        llm_options: Mapping[str, Any] | None = None,
        max_evaluations: int | None = None,
        wait_for_llm: bool = False,
        llm_timeout_s: float = 120.0,
        worker_options: Mapping[str, Any] | None = None,
        log_dir: str | None = None,
        telemetry: bool = True,
    ) -> None:
        self._init_parts(metric=metric, mode=mode, points_to_evaluate=points_to_evaluate, seed=seed, llm=llm,
                         llm_options=llm_options, max_evaluations=max_evaluations, wait_for_llm=wait_for_llm,
                         llm_timeout_s=llm_timeout_s, worker_options=worker_options, log_dir=log_dir,
                         telemetry=telemetry)
        super().__init__(metric=metric, mode=mode)
        if space is not None:
            self._setup(space)

    # ------------------------------------------------------------------ hooks
    def _build(self) -> None:
        raise NotImplementedError

    def _propose(self, trial_id: str) -> tuple[dict[str, Any], str, Any] | None:
        raise NotImplementedError

    def _observe(self, live: dict[str, Any], cost: float) -> None:
        raise NotImplementedError

    def _observe_external(self, flat: dict[str, Any], cost: float) -> None:
        raise NotImplementedError

    def _after_complete(self) -> None:
        """Called after every completion; default: nothing."""

    def _on_llm_answer(self, value: Any, meta: dict[str, Any]) -> None:
        raise NotImplementedError

    def _on_llm_failure(self, error: BaseException) -> None:
        """An LLM request failed with ``error``; default: nothing (the classical core carries on)."""

    def _on_max_concurrency(self) -> None:
        """React to a new max concurrency (e.g. grow a swarm); default: nothing."""

    def _record_extra(self, step: int) -> None:
        """More telemetry after each trial; default: nothing."""

    def _core_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _load_core_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ Tune contract
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        if self.space is not None:
            return False
        if metric:
            self._metric = metric
        if mode:
            check_metric_mode(None, mode)
            self._mode = mode
        if spec.get("num_samples") and spec["num_samples"] > 0:
            self._num_samples = int(spec["num_samples"])
        self._setup(config)
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        self._max_concurrency = int(max_concurrent)
        self._on_max_concurrency()
        return False  # ConcurrencyLimiter enforces the limit

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        name = type(self).__name__
        if self.space is None:
            raise RuntimeError(f"{name} has no search space: pass config=/param_space= to Tune or space= to it")
        if self._metric is None or self._mode is None:
            raise RuntimeError(f"{name} needs metric and mode: pass them to the searcher or to Tune")
        if self.max_evaluations is not None and self._trials.started >= self.max_evaluations:
            return Searcher.FINISHED
        if self._points:
            flat = self.space.repair(self._points.pop(0), flat=True)
            return self._launch(trial_id, flat, "user", None)
        self._poll_llm(block=self.wait_for_llm)
        proposal = self._propose(trial_id)
        if proposal is None:
            return None
        flat, origin, token = proposal
        return self._launch(trial_id, flat, origin, token)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        live = self._trials.live.pop(trial_id, None)
        if live is None or self.space is None:
            logger.debug("on_trial_complete for unknown trial %s ignored", trial_id)
            return
        value = None if error else metric_value(result, self._metric)
        if live["origin"] == "user":
            self._observe_external(live["config"], self._cost(value))
        else:
            self._observe(live, self._cost(value))
        self._record(live["config"], value, live["origin"], trial_id)
        self._after_complete()
        self._poll_llm(block=False)

    def add_evaluated_point(self, parameters: dict, value: float, error: bool = False, pruned: bool = False,
                            intermediate_values: list | None = None) -> None:
        flat, v = evaluated_point(self.space, parameters, value, error)
        self._observe_external(flat, self._cost(v))
        self._record(flat, v, "warm-start", None)

    # ------------------------------------------------------------------ shared internals
    def _setup(self, config: Mapping[str, Any] | SearchSpace) -> None:
        self.space = SearchSpace.from_tune(config)
        pending, self._pending_state = self._pending_state, None
        if pending is not None:  # restored (restore_from_dir) before Tune gave the space
            self._build()
            self.set_state(pending)
            return
        check_points_in_space(self._points, self.space)
        self._build()

    def _cost(self, value: float | None) -> float:
        return cost(value, self._mode)

    def _launch(self, trial_id: str, flat: dict[str, Any], origin: str, token: Any) -> dict[str, Any]:
        assert self.space is not None
        self._trials.launch(trial_id, flat, key=self.space.key(flat), origin=origin, token=token)
        return unflatten({**self.space.constants, **flat})

    def _record(self, config: dict[str, Any], value: float | None, origin: str, trial_id: str | None) -> None:
        assert self.space is not None
        step = self._trials.record(config, value, origin, trial_id, key=self.space.key(config), mode=self._mode)
        self._record_extra(step)

    def _seen_keys(self) -> set[str]:
        """Keys of tried and in-flight configurations."""
        assert self.space is not None
        return self._trials.seen(self.space.key)

    def _encode(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """A flat configuration as JSON (see :class:`~raytune_llm.searchers._state.ConfigCodec`)."""
        return ConfigCodec(self.space).encode(config)

    def _decode(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return ConfigCodec(self.space).decode(config)

    # ------------------------------------------------------------------ LLM
    def _poll_llm(self, *, block: bool) -> None:
        """Take the outstanding LLM request's outcome if it has one (with ``block``, wait for it, bounded)."""
        outcome = self._llm.poll(block=block)
        if outcome is None:
            return
        self._trials.note_llm(outcome)
        if outcome.error is not None:
            self._on_llm_failure(outcome.error)
        else:
            self._on_llm_answer(outcome.result.value, outcome.meta)
        self._trials.write_counters()

    # ------------------------------------------------------------------ results
    def benchmark_extra(self) -> dict[str, Any]:
        """Origins, LLM counters and usage, for benchmark records."""
        return {"origins": self.origin_counts(), "llm": dict(self.counters), "usage": self.llm_usage.summary()}

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        """A JSON-able, versioned snapshot: core, in-flight trials, history, LLM spec and usage."""
        return build_state(type(self).__name__, metric=self._metric, mode=self._mode, seed=self._seed,
                           space=self.space, core=self._core_state() if self.space else None, points=self._points,
                           num_samples=self._num_samples, max_concurrency=self._max_concurrency,
                           trials=self._trials, llm=self._llm)

    def set_state(self, state: dict[str, Any]) -> None:
        check_state(state, type(self).__name__)
        if self.space is None:
            # Ray's pattern restores a searcher before Tune gives it the space: finish in _setup
            self._pending_state = state
            self._metric, self._mode = state["metric"], state["mode"]
            return
        check_space(state, self.space)
        codec = ConfigCodec(self.space)
        self._metric, self._mode, self._seed = state["metric"], state["mode"], state["seed"]
        self._points = [codec.decode(p) for p in state["points"]]
        self._num_samples = state["num_samples"]
        self._max_concurrency = state.get("max_concurrency")
        self._trials.load_state(state, codec.decode, self.space.key)
        self._llm.load_state(state)
        if state["core"] is not None:
            self._load_core_state(state["core"])

    def close(self) -> None:
        """Stop the LLM worker (its usage is kept) and flush telemetry. A request still running
        fails as the searcher's other failed requests do (an in-process llama.cpp generation
        stops at the next token); the searcher stays usable, its next request starts a new worker."""
        self._llm.close()
        self.telemetry.close()
