"""LLMPSOSearcher: an asynchronous particle swarm whose worst particles an LLM replaces.

Ray Tune adapter over :class:`raytune_llm.pso.AsyncPSO` (Hameed et al. 2025, "LLM-enhanced PSO",
made asynchronous): phase 1 is plain PSO; from then on, every ``llm_every`` completed trials the
swarm is shown to an LLM in the background, its proposals are screened (validated against the
space, de-duplicated, ranked by a kernel surrogate of the history) and the best become the next
positions of the worst ``replace_fraction`` particles. ``suggest()`` never waits for the LLM
unless ``wait_for_llm=True``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np
from ray.tune.search import Searcher

from raytune_llm.errors import LLMError, RaytuneLLMError, SearchSpaceError
from raytune_llm.llm import LLMRequest, LLMWorker, UsageStats, backend_spec, get_backend
from raytune_llm.proposals.screening import screen_configs
from raytune_llm.proposals.swarm import ParticleView, Trial, kernel_predict, swarm_messages
from raytune_llm.pso import AsyncPSO
from raytune_llm.space import SearchSpace, unflatten
from raytune_llm.telemetry import Telemetry

logger = logging.getLogger("raytune_llm.searchers")

STATE_VERSION = 1
ORIGINS = ("init", "pso", "llm", "user", "warm-start")


class LLMPSOSearcher(Searcher):
    """LLM-enhanced asynchronous particle swarm optimisation for Ray Tune.

    Args:
        space: a Tune search space; usually left ``None`` and taken from ``tune.run(config=...)``
            or ``Tuner(param_space=...)``.
        metric: metric to optimise (taken from Tune when ``None``).
        mode: ``"min"`` or ``"max"`` (taken from Tune when ``None``).
        points_to_evaluate: configurations to evaluate first; they then join the swarm.
        seed: seed of everything random (swarm, LLM sampling seeds).
        llm: LLM spec (``"embedded"``, ``"llama-cpp:/path.gguf"``, ``"openai:MODEL"``), a backend
            object, or ``None`` for plain asynchronous PSO.
        llm_options: options for the backend (``base_url``, ``n_gpu_layers``...).
        swarm_size: particles; default ``max(8, max concurrency)``.
        max_evaluations: stop suggesting (``Searcher.FINISHED``) after this many trials.
        warmup: completed trials of plain PSO before the first LLM request (default: swarm size).
        llm_every: completed trials between LLM requests (default: swarm size).
        replace_fraction: fraction of particles the LLM's proposals replace (default 0.25).
        candidates_per_slot: configurations asked per replaced particle; the surrogate keeps the best.
        wait_for_llm: make ``suggest()`` wait (bounded by ``llm_timeout_s``) for an outstanding
            answer: the paper's synchronous behaviour, for evaluation-counting benchmarks.
        llm_timeout_s: seconds one LLM attempt may take.
        worker_options: options of :class:`~raytune_llm.llm.LLMWorker` (retries, breaker...).
        pso_options: options of :class:`~raytune_llm.pso.AsyncPSO` (``w_start``, ``c1``, ``v_max``...).
        log_dir: where telemetry goes (default: Tune's experiment directory).
        telemetry: set ``False`` to record none.

    Example:
        >>> from ray import tune
        >>> searcher = LLMPSOSearcher(metric="loss", mode="min", llm=None, seed=0,
        ...                           space={"x": tune.uniform(-1, 1)})
        >>> config = searcher.suggest("t1")
        >>> searcher.on_trial_complete("t1", {"loss": config["x"] ** 2})
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
        swarm_size: int | None = None,
        max_evaluations: int | None = None,
        warmup: int | None = None,
        llm_every: int | None = None,
        replace_fraction: float = 0.25,
        candidates_per_slot: int = 2,
        wait_for_llm: bool = False,
        llm_timeout_s: float = 120.0,
        worker_options: Mapping[str, Any] | None = None,
        pso_options: Mapping[str, Any] | None = None,
        log_dir: str | None = None,
        telemetry: bool = True,
    ) -> None:
        if mode not in (None, "min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if swarm_size is not None and swarm_size < 2:
            raise ValueError(f"swarm_size must be >= 2, got {swarm_size}")
        if max_evaluations is not None and max_evaluations < 1:
            raise ValueError(f"max_evaluations must be >= 1, got {max_evaluations}")
        if not 0 < replace_fraction <= 1:
            raise ValueError(f"replace_fraction must be in (0, 1], got {replace_fraction}")
        for name, value in (("warmup", warmup), ("llm_every", llm_every)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if candidates_per_slot < 1:
            raise ValueError(f"candidates_per_slot must be >= 1, got {candidates_per_slot}")
        super().__init__(metric=metric, mode=mode)
        self._seed = seed
        self._llm_arg = llm
        self._llm_options = dict(llm_options or {})
        self._backend = get_backend(llm, **self._llm_options)
        self._worker_options = {"timeout_s": llm_timeout_s, **dict(worker_options or {})}
        self._worker: LLMWorker | None = None
        self._swarm_size = swarm_size
        self._max_concurrency: int | None = None
        self.max_evaluations = max_evaluations
        self._warmup = warmup
        self._llm_every = llm_every
        self.replace_fraction = replace_fraction
        self.candidates_per_slot = candidates_per_slot
        self.wait_for_llm = wait_for_llm
        self.llm_timeout_s = llm_timeout_s
        self._pso_options = dict(pso_options or {})
        self._points: list[dict[str, Any]] = [dict(p) for p in (points_to_evaluate or [])]
        self._num_samples: int | None = None
        self.telemetry = Telemetry(log_dir, enabled=telemetry)
        # run state
        self.space: SearchSpace | None = None
        self.pso: AsyncPSO | None = None
        self._live: dict[str, dict[str, Any]] = {}
        self._injected: dict[int, dict[str, Any]] = {}  # particle -> exact LLM config (no round trip)
        self.history: list[dict[str, Any]] = []
        self._keys: set[str] = set()
        self._started = 0
        self._best_value: float | None = None
        self._llm_requests = 0
        self._last_llm_at = 0
        self._future: Future | None = None
        self._usage = UsageStats()
        self.counters: dict[str, int] = {"llm_accepted": 0, "llm_rejected": 0, "llm_improved": 0,
                                         "llm_failed": 0, "llm_used": 0}
        if space is not None:
            self._setup(space)

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
        if self.pso is not None and self._swarm_size is None:
            self.pso.resize(max(self.pso.swarm_size, self._max_concurrency))
        return False  # let ConcurrencyLimiter enforce the limit; the swarm is sized to fill it

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self.space is None or self.pso is None:
            raise RuntimeError(
                "LLMPSOSearcher has no search space: pass config=/param_space= to Tune or space= to the searcher"
            )
        if self._metric is None or self._mode is None:
            raise RuntimeError("LLMPSOSearcher needs metric and mode: pass them to the searcher or to Tune")
        if self.max_evaluations is not None and self._started >= self.max_evaluations:
            return Searcher.FINISHED
        if self._points:
            flat = self.space.repair(self._points.pop(0), flat=True)
            return self._launch(trial_id, flat, origin="user", proposal=None)
        self._poll_llm(block=self.wait_for_llm)
        proposal = self.pso.ask()
        if proposal is None:
            return None
        flat = self._injected.pop(proposal.particle, None) if proposal.origin == "llm" else None
        if flat is None:
            flat = self.space.flat_from_unit(proposal.x)
        if proposal.origin in ("pso", "init"):
            flat = self._nudge_if_seen(proposal, flat)
        return self._launch(trial_id, flat, origin=proposal.origin, proposal=proposal.id)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        live = self._live.pop(trial_id, None)
        if live is None or self.pso is None:
            logger.debug("on_trial_complete for unknown trial %s ignored", trial_id)
            return
        value = None if error else self._metric_value(result)
        cost = math.inf if value is None else (value if self._mode == "min" else -value)
        if live["proposal"] is None:
            self.pso.tell_external(np.array(live["x"]), cost)
        else:
            self.pso.tell(live["proposal"], cost)
        self._record(live["config"], value, live["origin"], trial_id)
        self._maybe_request_llm()
        self._poll_llm(block=False)

    def add_evaluated_point(self, parameters: dict, value: float, error: bool = False, pruned: bool = False,
                            intermediate_values: list | None = None) -> None:
        if self.space is None or self.pso is None:
            raise RuntimeError("add_evaluated_point needs the search space first (space= or set_search_properties)")
        flat = self.space.repair(parameters, flat=True)
        ok = not error and value is not None and math.isfinite(float(value))
        v = float(value) if ok else None
        cost = math.inf if v is None else (v if self._mode == "min" else -v)
        self.pso.tell_external(self.space.to_unit(flat), cost)
        self._record(flat, v, "warm-start", None)

    # ------------------------------------------------------------------ internals
    def _setup(self, config: Mapping[str, Any] | SearchSpace) -> None:
        self.space = SearchSpace.from_tune(config)
        size = self._swarm_size or max(8, self._max_concurrency or 0)
        horizon = self.max_evaluations or self._num_samples or 25 * size
        self.pso = AsyncPSO(self.space.dim, swarm_size=size, seed=self._seed, horizon=horizon, **self._pso_options)
        bad = [i for i, p in enumerate(self._points) if self.space.check(p)]
        if bad:
            problems = self.space.check(self._points[bad[0]])
            raise SearchSpaceError(f"points_to_evaluate[{bad[0]}] is not valid for the search space: "
                                   + "; ".join(problems))

    @property
    def warmup(self) -> int:
        return self._warmup or (self.pso.swarm_size if self.pso else 8)

    @property
    def llm_every(self) -> int:
        return self._llm_every or (self.pso.swarm_size if self.pso else 8)

    def _launch(self, trial_id: str, flat: dict[str, Any], *, origin: str, proposal: int | None) -> dict[str, Any]:
        assert self.space is not None
        self._started += 1
        self._keys.add(self.space.key(flat))
        x = self.space.to_unit(flat).tolist() if proposal is None else self.pso.particles[self.pso._in_flight[proposal]].x.tolist()
        self._live[trial_id] = {"proposal": proposal, "x": x, "origin": origin, "config": flat}
        return _nest(self.space, flat)

    def _nudge_if_seen(self, proposal: Any, flat: dict[str, Any]) -> dict[str, Any]:
        """Integer/categorical spaces make PSO land on tried configurations; move it slightly."""
        assert self.space is not None and self.pso is not None
        if self.space.key(flat) not in self._keys:
            return flat
        particle = self.pso.particles[proposal.particle]
        for scale in (0.05, 0.1, 0.2, 0.35):
            x = np.clip(particle.x + self.pso.rng.normal(0, scale, self.space.dim), 0, 1)
            candidate = self.space.flat_from_unit(x)
            if self.space.key(candidate) not in self._keys:
                particle.x = x
                proposal.x = x
                return candidate
        return flat

    def _metric_value(self, result: dict | None) -> float | None:
        if not result or self._metric not in result:
            return None
        try:
            value = float(result[self._metric])
        except (TypeError, ValueError):
            return None
        return value if math.isfinite(value) else None

    def _record(self, config: dict[str, Any], value: float | None, origin: str, trial_id: str | None) -> None:
        self.history.append({"config": config, "value": value, "origin": origin, "trial_id": trial_id})
        assert self.space is not None
        self._keys.add(self.space.key(config))
        step = len(self.history)
        improved = value is not None and (self._best_value is None or (
            value < self._best_value if self._mode == "min" else value > self._best_value))
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
        if self.pso is not None:
            self.telemetry.scalar("swarm/diversity", self.pso.diversity(), step)

    # ------------------------------------------------------------------ LLM phase
    def _ensure_worker(self) -> LLMWorker | None:
        if self._backend is None:
            return None
        if self._worker is None:
            self._worker = LLMWorker(self._backend, **self._worker_options)
        return self._worker

    def _maybe_request_llm(self) -> None:
        done = len(self.history)
        if self._backend is None or self._future is not None or done < self.warmup:
            return
        if self._llm_requests and done - self._last_llm_at < self.llm_every:
            return
        worker = self._ensure_worker()
        if worker is None:
            return
        assert self.space is not None and self.pso is not None
        k = max(1, round(self.replace_fraction * self.pso.swarm_size))
        n = k * self.candidates_per_slot
        messages = swarm_messages(self.space, metric=self._metric, mode=self._mode, n=n, best=self._best_trials(5),
                                  recent=self._recent_trials(5), particles=self._particle_views(),
                                  completed=done, budget=self.max_evaluations or self._num_samples)
        seed = None if self._seed is None else self._seed * 1000 + self._llm_requests
        self._future = worker.submit(LLMRequest(messages, self.space.json_schema(n), temperature=0.7,
                                                max_tokens=60 + 25 * self.space.dim * n, seed=seed, tag="pso-replace"))
        self._future_meta = {"k": k, "sent_at": time.perf_counter(), "completed": done}
        self._llm_requests += 1
        self._last_llm_at = done

    def _poll_llm(self, *, block: bool) -> None:
        future = self._future
        if future is None:
            return
        if not future.done():
            if not block:
                return
            try:
                future.exception(timeout=self.llm_timeout_s * 2)
            except TimeoutError:
                return
        self._future = None
        meta = getattr(self, "_future_meta", {"k": 1, "sent_at": time.perf_counter()})
        try:
            result = future.result(timeout=0)
        except (LLMError, RaytuneLLMError, TimeoutError, Exception) as exc:  # noqa: BLE001 - never stop the search
            self.counters["llm_failed"] += 1
            self.telemetry.event("llm_failed", error=f"{type(exc).__name__}: {exc}")
            self._sync_usage()
            return
        self._apply(result.value, meta["k"])
        self.telemetry.scalar("llm/latency_s", result.usage.latency_s, len(self.history))
        self.telemetry.scalar("llm/completion_tokens", result.usage.completion_tokens, len(self.history))
        self.telemetry.scalar("llm/prompt_tokens", result.usage.prompt_tokens, len(self.history))
        self._sync_usage()

    def _apply(self, answer: Any, k: int) -> None:
        assert self.space is not None and self.pso is not None
        items = answer.get("configs", []) if isinstance(answer, dict) else []
        pending = {self.space.key(live["config"]) for live in self._live.values()}
        screened = screen_configs(items, self.space, seen=self._keys | pending)
        self.counters["llm_rejected"] += len(screened.rejected)
        if not screened.accepted:
            self.telemetry.event("llm_answer", accepted=0, rejected=len(screened.rejected))
            return
        configs = screened.accepted
        xs = np.array([self.space.to_unit(c) for c in configs])
        scored = [(h["config"], h["value"]) for h in self.history if h["value"] is not None]
        if len(scored) >= 3 and len(xs) > k:
            x_hist = np.array([self.space.to_unit(c) for c, _ in scored])
            y_hist = np.array([v if self._mode == "min" else -v for _, v in scored])
            order = np.argsort(kernel_predict(x_hist, y_hist, xs), kind="stable")
            xs, configs = xs[order], [configs[i] for i in order]
        used = self.pso.inject(list(xs[:k]), origin="llm")
        for particle, config in zip(used, configs):
            self._injected[particle] = config
        self.counters["llm_accepted"] += len(screened.accepted)
        self.counters["llm_used"] += len(used)
        self.telemetry.event("llm_answer", accepted=len(screened.accepted), used=len(used),
                             rejected=[r for _, r in screened.rejected][:5])
        for name in ("llm_accepted", "llm_rejected", "llm_used", "llm_improved", "llm_failed"):
            self.telemetry.scalar(f"llm/{name}", self.counters[name], len(self.history))

    def _sync_usage(self) -> None:
        if self._worker is not None:
            base = self._usage_base if hasattr(self, "_usage_base") else UsageStats()
            merged = UsageStats.from_dict(self._worker.stats.to_dict())
            for name in ("requests", "succeeded", "failed", "attempts", "retries", "timeouts", "invalid_answers",
                         "breaker_trips", "prompt_tokens", "completion_tokens"):
                setattr(merged, name, getattr(merged, name) + getattr(base, name))
            merged.latency_s = (base.latency_s + merged.latency_s)[-1000:]
            for key, count in base.errors.items():
                merged.errors[key] = merged.errors.get(key, 0) + count
            self._usage = merged

    @property
    def llm_usage(self) -> UsageStats:
        """LLM usage so far (kept across save/restore)."""
        self._sync_usage()
        return self._usage

    def _scored(self) -> list[dict[str, Any]]:
        return [h for h in self.history if h["value"] is not None]

    def _best_trials(self, n: int) -> list[Trial]:
        scored = sorted(self._scored(), key=lambda h: h["value"], reverse=self._mode == "max")
        return [Trial(h["config"], h["value"], h["origin"]) for h in scored[:n]]

    def _recent_trials(self, n: int) -> list[Trial]:
        return [Trial(h["config"], h["value"] if h["value"] is not None else math.nan, h["origin"])
                for h in self.history[-n:]]

    def _particle_views(self) -> list[ParticleView]:
        assert self.space is not None and self.pso is not None
        sign = 1 if self._mode == "min" else -1
        views = []
        for i in self.pso.worst_particles(self.pso.swarm_size):
            p = self.pso.particles[i]
            views.append(ParticleView(self.space.flat_from_unit(p.x), p.v, sign * p.last_f, sign * p.best_f))
        return views

    # ------------------------------------------------------------------ results
    @property
    def best(self) -> dict[str, Any] | None:
        """The best completed trial: ``{"config", "value", "origin", "trial_id"}``."""
        scored = self._scored()
        if not scored:
            return None
        pick = min if self._mode == "min" else max
        return pick(scored, key=lambda h: h["value"])

    def benchmark_extra(self) -> dict[str, Any]:
        """Origins, LLM counters and usage, for benchmark records."""
        return {"origins": self.origin_counts(), "llm": dict(self.counters), "usage": self.llm_usage.summary()}

    def origin_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for h in self.history:
            counts[h["origin"]] = counts.get(h["origin"], 0) + 1
        return counts

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        """A JSON-able, versioned snapshot (swarm, in-flight trials, history, RNG, LLM spec and usage)."""
        self._sync_usage()
        return {
            "version": STATE_VERSION,
            "searcher": type(self).__name__,
            "metric": self._metric,
            "mode": self._mode,
            "seed": self._seed,
            "space_fingerprint": self.space.fingerprint() if self.space else None,
            "pso": self.pso.get_state() if self.pso else None,
            "live": self._live,
            "injected": {str(k): v for k, v in self._injected.items()},
            "points": self._points,
            "history": self.history,
            "started": self._started,
            "num_samples": self._num_samples,
            "best_value": self._best_value,
            "llm_requests": self._llm_requests,
            "last_llm_at": self._last_llm_at,
            "usage": self._usage.to_dict(),
            "counters": dict(self.counters),
            "llm": backend_spec(self._backend),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION or state.get("searcher") != type(self).__name__:
            raise ValueError(f"cannot restore {type(self).__name__} from state version {state.get('version')!r} "
                             f"of {state.get('searcher')!r}")
        if self.space is not None and state["space_fingerprint"] not in (None, self.space.fingerprint()):
            raise SearchSpaceError("the saved searcher was built for a different search space; restore it with the "
                                   "same param_space")
        self._metric, self._mode, self._seed = state["metric"], state["mode"], state["seed"]
        if state["pso"] is not None:
            self.pso = AsyncPSO.from_state(state["pso"])
        self._live = {k: dict(v) for k, v in state["live"].items()}
        self._injected = {int(k): dict(v) for k, v in state.get("injected", {}).items()}
        self._points = list(state["points"])
        self.history = list(state["history"])
        self._started = int(state["started"])
        self._num_samples = state["num_samples"]
        self._best_value = state["best_value"]
        self._llm_requests = int(state["llm_requests"])
        self._last_llm_at = int(state["last_llm_at"])
        self._usage = UsageStats.from_dict(state["usage"])
        self._usage_base = UsageStats.from_dict(state["usage"])
        self.counters = dict(state["counters"])
        if self.space is not None:
            self._keys = {self.space.key(h["config"]) for h in self.history}
            self._keys |= {self.space.key(v["config"]) for v in self._live.values()}
        # an explicitly given backend wins; otherwise rebuild the saved one from its spec
        if self._llm_arg == "embedded" and state.get("llm") and state["llm"]["spec"] != "embedded":
            try:
                self._backend = get_backend(state["llm"]["spec"], **state["llm"]["options"])
            except RaytuneLLMError as exc:
                logger.warning("could not rebuild LLM backend %s (%s); continuing without it", state["llm"], exc)
                self._backend = None
        self._future = None

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

    # ------------------------------------------------------------------ pickling (Tune pickles searchers)
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_worker"] = None
        state["_future"] = None
        state["_llm_options"] = {k: v for k, v in self._llm_options.items() if k != "api_key"}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def close(self) -> None:
        """Stop the LLM worker and flush telemetry."""
        if self._worker is not None:
            self._sync_usage()
            self._usage_base = self._usage
            self._worker.close()
            self._worker = None
        self.telemetry.close()


def _nest(space: SearchSpace, flat: dict[str, Any]) -> dict[str, Any]:
    return unflatten({**space.constants, **flat})
