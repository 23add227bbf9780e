"""What every raytune-llm searcher shares: the Ray Tune contract, history, the LLM worker, state.

Subclasses implement a few hooks over their pure core:

* ``_build()``: create the core once the space is known;
* ``_propose(trial_id) -> (flat_config, origin, token) | None``: the next configuration;
* ``_observe(live, cost)``: a suggested trial finished (``cost`` minimised; ``inf`` = failed);
* ``_observe_external(flat, cost)``: a point the searcher did not propose (user, warm start);
* ``_after_complete()``: after each completion (e.g. send an LLM request);
* ``_on_llm_answer(value, meta)``: an LLM answer arrived (``meta["result"]`` is the whole
  :class:`~raytune_llm.llm.LLMResult`, with usage and attempts);
* ``_on_llm_failure(error)``: an LLM request failed;
* ``_core_state()`` / ``_load_core_state(state)``: the core's JSON-able state.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import Any

from ray.tune.search import Searcher

from raytune_llm._checks import check_bool, check_int, check_number, check_options, check_seed
from raytune_llm.errors import RaytuneLLMError, SearchSpaceError
from raytune_llm.llm import LLMRequest, LLMWorker, UsageStats, backend_spec, get_backend
from raytune_llm.proposals.swarm import Trial
from raytune_llm.space import SearchSpace, unflatten
from raytune_llm.telemetry import Telemetry

logger = logging.getLogger("raytune_llm.searchers")

STATE_VERSION = 1
# the keys get_state() writes besides "version" and "searcher": set_state() needs the required ones, and
# reads the optional ones with defaults (tests/test_llm_pso.py checks that get_state() writes exactly these)
_STATE_KEYS = ("metric", "mode", "seed", "space_fingerprint", "core", "live", "points", "history", "started",
               "num_samples", "best_value", "llm_requests", "usage", "counters")
_OPTIONAL_STATE_KEYS = ("max_concurrency", "llm")
_USAGE_COUNTS = ("requests", "succeeded", "failed", "attempts", "retries", "timeouts", "invalid_answers",
                 "breaker_trips", "prompt_tokens", "completion_tokens")


def _check_points(points: Any) -> list[dict[str, Any]]:
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


class LLMSearcherBase(Searcher):
    """Base class of raytune-llm's searchers (see the module docstring for the hooks).

    Args:
        space: a Tune search space, usually left ``None`` and taken from Tune.
        metric: metric to optimise (taken from Tune when ``None``).
        mode: ``"min"`` or ``"max"`` (taken from Tune when ``None``).
        points_to_evaluate: configurations to evaluate first (validated against the space).
        seed: seed of everything random.
        llm: LLM spec, backend object, or ``None``.
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
        llm: Any = "embedded",
        llm_options: Mapping[str, Any] | None = None,
        max_evaluations: int | None = None,
        wait_for_llm: bool = False,
        llm_timeout_s: float = 120.0,
        worker_options: Mapping[str, Any] | None = None,
        log_dir: str | None = None,
        telemetry: bool = True,
    ) -> None:
        if mode not in (None, "min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if metric is not None and not isinstance(metric, str):
            raise ValueError(f"metric must be the name of a reported metric (a str) or None, got {metric!r}")
        max_evaluations = check_int("max_evaluations", max_evaluations, minimum=1, optional=True)
        llm_timeout_s = check_number("llm_timeout_s", llm_timeout_s, low=0, low_open=True)
        wait_for_llm = check_bool("wait_for_llm", wait_for_llm)
        telemetry = check_bool("telemetry", telemetry)
        if llm_options is not None and not isinstance(llm_options, Mapping):
            raise ValueError(f"llm_options must be a dict of backend options (base_url, api_key, n_gpu_layers...), "
                             f"got {llm_options!r:.200}")
        if log_dir is not None and not isinstance(log_dir, (str, os.PathLike)):
            raise ValueError(f"log_dir must be a folder path (a str) or None, got {log_dir!r:.200}")
        super().__init__(metric=metric, mode=mode)
        self._seed = check_seed(seed)
        # one way to set the attempt timeout: llm_timeout_s (wait_for_llm's bound reads it too)
        self._worker_options = {**check_options("worker_options", worker_options, LLMWorker.OPTIONS,
                                                refused={"timeout_s": "pass llm_timeout_s= to the searcher instead"}),
                                "timeout_s": llm_timeout_s}
        LLMWorker.check_options("worker_options", **self._worker_options)
        self._points: list[dict[str, Any]] = _check_points(points_to_evaluate)
        self._llm_arg = llm
        self._llm_options = dict(llm_options or {})
        self._backend = get_backend(llm, **self._llm_options)
        self._worker: LLMWorker | None = None
        self._max_concurrency: int | None = None
        self.max_evaluations = max_evaluations
        self.wait_for_llm = wait_for_llm
        self.llm_timeout_s = llm_timeout_s
        self._num_samples: int | None = None
        self.telemetry = Telemetry(log_dir, enabled=telemetry)
        self.space: SearchSpace | None = None
        self._live: dict[str, dict[str, Any]] = {}
        self.history: list[dict[str, Any]] = []
        self._keys: set[str] = set()
        self._started = 0
        self._best_value: float | None = None
        self._llm_requests = 0
        self._future: Future | None = None
        self._future_meta: dict[str, Any] = {}
        self._usage = UsageStats()
        self._usage_base = UsageStats()
        self.counters: dict[str, int] = {"llm_accepted": 0, "llm_rejected": 0, "llm_improved": 0,
                                         "llm_failed": 0, "llm_used": 0}
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
            if mode not in ("min", "max"):
                raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
            self._mode = mode
        if spec.get("num_samples") and spec["num_samples"] > 0:
            self._num_samples = int(spec["num_samples"])
        self._setup(config)
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        self._max_concurrency = int(max_concurrent)
        self._on_max_concurrency()
        return False  # ConcurrencyLimiter enforces the limit

    def _on_max_concurrency(self) -> None:
        """React to a new max concurrency (e.g. grow a swarm); default: nothing."""

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        name = type(self).__name__
        if self.space is None:
            raise RuntimeError(f"{name} has no search space: pass config=/param_space= to Tune or space= to it")
        if self._metric is None or self._mode is None:
            raise RuntimeError(f"{name} needs metric and mode: pass them to the searcher or to Tune")
        if self.max_evaluations is not None and self._started >= self.max_evaluations:
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
        live = self._live.pop(trial_id, None)
        if live is None or self.space is None:
            logger.debug("on_trial_complete for unknown trial %s ignored", trial_id)
            return
        value = None if error else self._metric_value(result)
        cost = self._cost(value)
        if live["origin"] == "user":
            self._observe_external(live["config"], cost)
        else:
            self._observe(live, cost)
        self._record(live["config"], value, live["origin"], trial_id)
        self._after_complete()
        self._poll_llm(block=False)

    def add_evaluated_point(self, parameters: dict, value: float, error: bool = False, pruned: bool = False,
                            intermediate_values: list | None = None) -> None:
        if self.space is None:
            raise RuntimeError("add_evaluated_point needs the search space first (space= or set_search_properties)")
        try:
            flat = self.space.coerce(parameters)
        except SearchSpaceError as exc:
            raise SearchSpaceError("add_evaluated_point: the parameters are not a configuration of the search space "
                                   f"(pass the values the trial really ran with): {exc}") from exc
        v = None
        if not error and value is not None:
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"add_evaluated_point: value must be the metric's number (or error=True for a "
                                 f"failed trial), got {value!r} ({type(value).__name__})") from None
            v = v if math.isfinite(v) else None
        self._observe_external(flat, self._cost(v))
        self._record(flat, v, "warm-start", None)

    # ------------------------------------------------------------------ shared internals
    def _setup(self, config: Mapping[str, Any] | SearchSpace) -> None:
        self.space = SearchSpace.from_tune(config)
        pending, self._pending_state = getattr(self, "_pending_state", None), None
        if pending is not None:  # restored (restore_from_dir) before Tune gave the space
            self._build()
            self.set_state(pending)
            return
        for i, point in enumerate(self._points):
            problems = self.space.check(point, strict=True)
            if problems:
                raise SearchSpaceError(f"points_to_evaluate[{i}] is not valid for the search space: "
                                       + "; ".join(problems))
        self._build()

    @property
    def budget(self) -> int | None:
        """Trials the search is expected to run, if known (``max_evaluations`` or Tune's ``num_samples``)."""
        return self.max_evaluations or self._num_samples

    def _cost(self, value: float | None) -> float:
        if value is None:
            return math.inf
        return value if self._mode == "min" else -value

    def _launch(self, trial_id: str, flat: dict[str, Any], origin: str, token: Any) -> dict[str, Any]:
        assert self.space is not None
        self._started += 1
        self._keys.add(self.space.key(flat))
        self._live[trial_id] = {"token": token, "origin": origin, "config": flat}
        return unflatten({**self.space.constants, **flat})

    def _metric_value(self, result: dict | None) -> float | None:
        if not result or self._metric not in result:
            return None
        try:
            value = float(result[self._metric])
        except (TypeError, ValueError):
            return None
        return value if math.isfinite(value) else None

    def _record(self, config: dict[str, Any], value: float | None, origin: str, trial_id: str | None) -> None:
        assert self.space is not None
        self.history.append({"config": config, "value": value, "origin": origin, "trial_id": trial_id})
        self._keys.add(self.space.key(config))
        step = len(self.history)
        improved = value is not None and (self._best_value is None or self._cost(value) < self._cost(self._best_value))
        if improved:
            self._best_value = value
            if origin == "llm":
                self.counters["llm_improved"] += 1
        self.telemetry.event("trial", trial_id=trial_id, origin=origin, value=value, config=config,
                             improved=improved)
        if self._best_value is not None:
            self.telemetry.scalar("search/best", self._best_value, step)
        if value is not None:
            self.telemetry.scalar(f"search/value_{origin}", value, step)
        self._record_extra(step)

    def _record_extra(self, step: int) -> None:
        """More telemetry after each trial; default: nothing."""

    def _seen_keys(self) -> set[str]:
        """Keys of tried and in-flight configurations."""
        assert self.space is not None
        return self._keys | {self.space.key(live["config"]) for live in self._live.values()}

    # ------------------------------------------------------------------ LLM plumbing
    def _submit(self, messages: list[dict[str, Any]], schema: dict[str, Any], *, max_tokens: int,
                temperature: float = 0.7, tag: str, meta: dict[str, Any]) -> bool:
        """Send one request unless one is outstanding; return whether it was sent."""
        if self._backend is None or self._future is not None:
            return False
        if self._worker is None:
            self._worker = LLMWorker(self._backend, **self._worker_options)
        seed = None if self._seed is None else self._seed * 1000 + self._llm_requests
        self._future = self._worker.submit(LLMRequest(messages, schema, temperature=temperature,
                                                      max_tokens=max_tokens, seed=seed, tag=tag))
        self._future_meta = dict(meta)
        self._llm_requests += 1
        return True

    def _poll_llm(self, *, block: bool) -> None:
        future = self._future
        if future is None:
            return
        if not future.done():
            if not block:
                return
            try:
                future.exception(timeout=self._wait_bound_s())
            except FutureTimeoutError:
                return
        self._future = None
        try:
            result = future.result(timeout=0)
        except Exception as exc:  # noqa: BLE001 - an LLM failure never stops the search
            self.counters["llm_failed"] += 1
            self.telemetry.event("llm_failed", error=f"{type(exc).__name__}: {exc}")
            self._on_llm_failure(exc)
            return
        step = len(self.history)
        self.telemetry.scalar("llm/latency_s", result.usage.latency_s, step)
        self.telemetry.scalar("llm/completion_tokens", result.usage.completion_tokens, step)
        self.telemetry.scalar("llm/prompt_tokens", result.usage.prompt_tokens, step)
        self._on_llm_answer(result.value, {**self._future_meta, "result": result})
        for name, count in self.counters.items():
            self.telemetry.scalar(f"llm/{name}", count, step)

    def _wait_bound_s(self) -> float:
        """How long ``wait_for_llm`` waits for one answer: every attempt of the request, plus back-off."""
        worker = self._worker
        if worker is None:
            return self.llm_timeout_s
        return worker.timeout_s * (worker.max_retries + 1) + worker.backoff_max_s * worker.max_retries

    def _on_llm_failure(self, error: BaseException) -> None:
        """An LLM request failed with ``error``; default: nothing (the classical core carries on)."""

    @property
    def llm_usage(self) -> UsageStats:
        """LLM usage so far, kept across save/restore."""
        if self._worker is None:
            return self._usage_base
        merged = self._worker.snapshot()
        base = self._usage_base
        for name in _USAGE_COUNTS:
            setattr(merged, name, getattr(merged, name) + getattr(base, name))
        merged.latency_s = (base.latency_s + merged.latency_s)[-1000:]
        for key, count in base.errors.items():
            merged.errors[key] = merged.errors.get(key, 0) + count
        return merged

    # ------------------------------------------------------------------ results
    def _scored(self) -> list[dict[str, Any]]:
        return [h for h in self.history if h["value"] is not None]

    @property
    def best(self) -> dict[str, Any] | None:
        """The best completed trial: ``{"config", "value", "origin", "trial_id"}``, or ``None``."""
        scored = self._scored()
        return min(scored, key=lambda h: self._cost(h["value"])) if scored else None

    def best_trials(self, n: int) -> list[Trial]:
        """The ``n`` best completed trials, best first."""
        scored = sorted(self._scored(), key=lambda h: self._cost(h["value"]))
        return [Trial(h["config"], h["value"], h["origin"]) for h in scored[:n]]

    def recent_trials(self, n: int) -> list[Trial]:
        """The ``n`` most recent trials, newest last (failed ones with value NaN)."""
        return [Trial(h["config"], h["value"] if h["value"] is not None else math.nan, h["origin"])
                for h in self.history[-n:]]

    def origin_counts(self) -> dict[str, int]:
        """Completed trials per origin."""
        counts: dict[str, int] = {}
        for h in self.history:
            counts[h["origin"]] = counts.get(h["origin"], 0) + 1
        return counts

    def benchmark_extra(self) -> dict[str, Any]:
        """Origins, LLM counters and usage, for benchmark records."""
        return {"origins": self.origin_counts(), "llm": dict(self.counters), "usage": self.llm_usage.summary()}

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        """A JSON-able, versioned snapshot: core, in-flight trials, history, LLM spec and usage."""
        return {
            "version": STATE_VERSION,
            "searcher": type(self).__name__,
            "metric": self._metric,
            "mode": self._mode,
            "seed": self._seed,
            "space_fingerprint": self.space.fingerprint() if self.space else None,
            "core": self._core_state() if self.space else None,
            "live": {k: {**v, "config": self._encode(v["config"])} for k, v in self._live.items()},
            "points": self._points if self.space is None else [self._encode(p, nested=True) for p in self._points],
            "history": [{**h, "config": self._encode(h["config"])} for h in self.history],
            "started": self._started,
            "num_samples": self._num_samples,
            "max_concurrency": self._max_concurrency,
            "best_value": self._best_value,
            "llm_requests": self._llm_requests,
            "usage": self.llm_usage.to_dict(),
            "counters": dict(self.counters),
            "llm": backend_spec(self._backend),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        name = type(self).__name__
        if state.get("version") != STATE_VERSION or state.get("searcher") != name:
            raise ValueError(f"cannot restore {name} from state version {state.get('version')!r} "
                             f"of {state.get('searcher')!r}")
        missing = [k for k in _STATE_KEYS if k not in state]
        if missing:
            raise ValueError(f"cannot restore {name}: the state lacks {missing}; pass what get_state() (or save()) "
                             "of this raytune-llm version wrote")
        if self.space is None:
            # Ray's pattern restores a searcher before Tune gives it the space: finish in _setup
            self._pending_state = state
            self._metric, self._mode = state["metric"], state["mode"]
            return
        if state["space_fingerprint"] not in (None, self.space.fingerprint()):
            raise SearchSpaceError("the saved searcher was built for a different search space; restore it with the "
                                   "same param_space")
        self._metric, self._mode, self._seed = state["metric"], state["mode"], state["seed"]
        self._live = {k: {**v, "config": self._decode(v["config"])} for k, v in state["live"].items()}
        self._points = [self._decode(p) for p in state["points"]]
        self.history = [{**h, "config": self._decode(h["config"])} for h in state["history"]]
        self._started = int(state["started"])
        self._num_samples = state["num_samples"]
        self._max_concurrency = state.get("max_concurrency")
        self._best_value = state["best_value"]
        self._llm_requests = int(state["llm_requests"])
        self._usage_base = UsageStats.from_dict(state["usage"])
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        self.counters = dict(state["counters"])
        self._keys = {self.space.key(h["config"]) for h in self.history}
        self._keys |= {self.space.key(v["config"]) for v in self._live.values()}
        if state["core"] is not None:
            self._load_core_state(state["core"])
        # a backend given to this instance wins; otherwise rebuild the saved one from its spec
        saved = state.get("llm")
        if self._llm_arg == "embedded" and saved and saved["spec"] != "embedded":
            try:
                self._backend = get_backend(saved["spec"], **saved["options"])
            except RaytuneLLMError as exc:
                logger.warning("could not rebuild LLM backend %s (%s); continuing without it", saved, exc)
                self._backend = None
        self._future = None

    def _encode(self, config: Mapping[str, Any], *, nested: bool = False) -> dict[str, Any]:
        """A config as JSON: categories by index (choices may be tuples or arbitrary objects)."""
        assert self.space is not None
        flat = dict(config) if not nested else self.space.repair(config, flat=True)
        out = {}
        for name, value in flat.items():
            param = self.space[name] if name in self.space.names else None
            if param is not None and param.kind == "categorical" and param.index(value) is not None:
                out[name] = {"$choice": param.index(value)}
            else:
                out[name] = value
        return out

    def _decode(self, config: Mapping[str, Any]) -> dict[str, Any]:
        if self.space is None:
            return dict(config)
        return {name: self.space[name].choices[v["$choice"]] if isinstance(v, dict) and "$choice" in v else v
                for name, v in config.items()}

    def save(self, checkpoint_path: str) -> None:
        """Write :meth:`get_state` as JSON atomically (temp file + ``os.replace``)."""
        directory = os.path.dirname(os.path.abspath(checkpoint_path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".raytune_llm-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.get_state(), f)
            os.replace(tmp, checkpoint_path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        self.telemetry.flush()

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, encoding="utf-8") as f:
            self.set_state(json.load(f))

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        self.telemetry.attach(checkpoint_dir)
        super().save_to_dir(checkpoint_dir, session_str)

    def restore_from_dir(self, checkpoint_dir: str) -> None:
        super().restore_from_dir(checkpoint_dir)
        self.telemetry.attach(checkpoint_dir)

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles searchers into experiment files: no live threads, futures or secrets
        state = dict(self.__dict__)
        state["_usage_base"] = self.llm_usage
        state["_worker"] = None
        state["_future"] = None
        state["_llm_options"] = {k: v for k, v in self._llm_options.items() if k != "api_key"}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def close(self) -> None:
        """Stop the LLM worker (its usage is kept) and flush telemetry. A request still running
        fails as the searcher's other failed requests do (an in-process llama.cpp generation
        stops at the next token); the searcher stays usable, its next request starts a new worker."""
        if self._worker is not None:
            self._usage_base = self.llm_usage
            self._worker.close()
            self._worker = None
        self.telemetry.close()
