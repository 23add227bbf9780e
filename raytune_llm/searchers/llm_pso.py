"""LLMPSOSearcher: an asynchronous particle swarm whose worst particles an LLM replaces.

Ray Tune adapter over :class:`raytune_llm.pso.AsyncPSO` (Hameed et al. 2025, "LLM-enhanced PSO",
made asynchronous): phase 1 is plain PSO; from then on, every ``llm_every`` completed trials the
swarm is shown to an LLM in the background, its proposals are screened (validated against the
space, de-duplicated, ranked by a kernel surrogate of the history) and the best become the next
positions of the worst ``replace_fraction`` particles, each only where the surrogate predicts it
better than that particle's own best (``surrogate_gate``); a replaced particle starts at rest
(``reset_injected_velocity``). ``suggest()`` never waits for the LLM unless ``wait_for_llm=True``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from raytune_llm._checks import check_bool, check_int, check_number, check_options
from raytune_llm.proposals.screening import screen_configs
from raytune_llm.proposals.swarm import (ANSWERS, ParticleView, apply_edits, edit_schema, editable, kernel_predict,
                                         swarm_messages)
from raytune_llm.pso import AsyncPSO
from raytune_llm.searchers.base import LLMSearcherBase


class LLMPSOSearcher(LLMSearcherBase):
    """LLM-enhanced asynchronous particle swarm optimisation for Ray Tune.

    Args:
        swarm_size: particles; default ``max(8, max concurrency)``.
        warmup: completed trials of plain PSO before the first LLM request (default: swarm size).
        llm_every: completed trials between LLM requests (default: swarm size).
        replace_fraction: fraction of particles the LLM's proposals replace (default 0.25).
        candidates_per_slot: configurations asked per replaced particle; a kernel surrogate of the
            history keeps the most promising.
        surrogate_gate: (default ``True``) a kept proposal replaces a particle only where the kernel
            surrogate also predicts it better than that particle's own best, so that a proposal the history speaks
            against costs no trial (counted in ``counters["llm_gated"]``). Until 3 trials have a
            value the surrogate cannot judge, and proposals pass ungated.
        ask: ``"configs"`` (default): the LLM writes whole configurations; ``"edits"``: the LLM
            picks one of the best trials, one numeric parameter and its new value (a short answer
            that a small model follows more reliably; see docs/llm-pso.md for what each measured).
            A space without numeric parameters is asked for configurations.
        pso_options: options of :class:`~raytune_llm.pso.AsyncPSO` (``w_start``, ``c1``, ``v_max``...).
        **kwargs: ``space``, ``metric``, ``mode``, ``points_to_evaluate``, ``seed``, ``llm``
            (``"embedded"`` default, ``"llama-cpp:/path.gguf"``, ``"openai:MODEL"``, a backend, or
            ``None`` for plain asynchronous PSO), ``llm_options``, ``max_evaluations``,
            ``wait_for_llm``, ``llm_timeout_s``, ``worker_options``, ``log_dir``, ``telemetry``:
            see :class:`~raytune_llm.searchers.base.LLMSearcherBase`.

    Example:
        >>> from ray import tune
        >>> searcher = LLMPSOSearcher(metric="loss", mode="min", llm=None, seed=0,
        ...                           space={"x": tune.uniform(-1, 1)})
        >>> config = searcher.suggest("t1")
        >>> searcher.on_trial_complete("t1", {"loss": config["x"] ** 2})
    """

    surrogate_gate = True  # also what a searcher pickled before the option gets

    def __init__(
        self,
        *,
        swarm_size: int | None = None,
        warmup: int | None = None,
        llm_every: int | None = None,
        replace_fraction: float = 0.25,
        candidates_per_slot: int = 2,
        surrogate_gate: bool = True,
        ask: str = "configs",
        pso_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        swarm_size = check_int("swarm_size", swarm_size, minimum=2, optional=True)
        warmup = check_int("warmup", warmup, minimum=1, optional=True)
        llm_every = check_int("llm_every", llm_every, minimum=1, optional=True)
        replace_fraction = check_number("replace_fraction", replace_fraction, low=0, high=1, low_open=True)
        candidates_per_slot = check_int("candidates_per_slot", candidates_per_slot, minimum=1)
        surrogate_gate = check_bool("surrogate_gate", surrogate_gate)
        if ask not in ANSWERS:
            raise ValueError(f"ask must be one of {ANSWERS}, got {ask!r}")
        AsyncPSO.check_options("pso_options", **check_options(
            "pso_options", pso_options, AsyncPSO.OPTIONS,
            refused={"swarm_size": "pass swarm_size= to the searcher", "seed": "pass seed= to the searcher",
                     "horizon": "it is the budget: pass max_evaluations= (or Tune's num_samples)"}))
        self.ask = ask
        self._swarm_size = swarm_size
        self._warmup = warmup
        self._llm_every = llm_every
        self.replace_fraction = replace_fraction
        self.candidates_per_slot = candidates_per_slot
        self.surrogate_gate = surrogate_gate
        self._pso_options = dict(pso_options or {})
        self.pso: AsyncPSO | None = None
        self._injected: dict[int, dict[str, Any]] = {}  # particle -> exact LLM config (no unit-cube round trip)
        self._last_llm_at = 0
        self._unit_cache: tuple[Any, int, list[np.ndarray], list[float]] = (None, 0, [], [])
        super().__init__(**kwargs)
        self.counters["llm_gated"] = 0

    # ------------------------------------------------------------------ hooks
    def _build(self) -> None:
        assert self.space is not None
        size = self._swarm_size or max(8, self._max_concurrency or 0)
        horizon = self.budget or 25 * size
        self.pso = AsyncPSO(self.space.dim, swarm_size=size, seed=self._seed, horizon=horizon, **self._pso_options)

    def _on_max_concurrency(self) -> None:
        if self.pso is not None and self._swarm_size is None:
            self.pso.resize(max(self.pso.swarm_size, self._max_concurrency or 0))

    @property
    def warmup(self) -> int:
        return self._warmup or (self.pso.swarm_size if self.pso else 8)

    @property
    def llm_every(self) -> int:
        return self._llm_every or (self.pso.swarm_size if self.pso else 8)

    def _propose(self, trial_id: str) -> tuple[dict[str, Any], str, Any] | None:
        assert self.space is not None and self.pso is not None
        proposal = self.pso.ask()
        if proposal is None:
            return None
        flat = self._injected.pop(proposal.particle, None) if proposal.origin == "llm" else None
        if flat is None:
            flat = self.space.flat_from_unit(proposal.x)
        if proposal.origin in ("pso", "init"):
            flat = self._nudge_if_seen(proposal, flat)
        return flat, proposal.origin, proposal.id

    def _observe(self, live: dict[str, Any], cost: float) -> None:
        assert self.pso is not None
        self.pso.tell(live["token"], cost)

    def _observe_external(self, flat: dict[str, Any], cost: float) -> None:
        assert self.pso is not None and self.space is not None
        self.pso.tell_external(self.space.to_unit(flat), cost)

    def _record_extra(self, step: int) -> None:
        if self.pso is not None:
            self.telemetry.scalar("swarm/diversity", self.pso.diversity(), step)

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
                return candidate
        return flat

    # ------------------------------------------------------------------ LLM phase
    def _after_complete(self) -> None:
        done = len(self.history)
        if self._backend is None or self._future is not None or done < self.warmup:
            return
        if self._llm_requests and done - self._last_llm_at < self.llm_every:
            return
        assert self.pso is not None
        k = max(1, round(self.replace_fraction * self.pso.swarm_size))
        messages, schema, max_tokens, meta = self._replacement_request(k * self.candidates_per_slot, done)
        if self._submit(messages, schema, max_tokens=max_tokens, tag="pso-replace", meta={"k": k, **meta}):
            self._last_llm_at = done

    def _replacement_request(self, n: int, done: int) -> tuple[list[Any], dict[str, Any], int, dict[str, Any]]:
        """The request for ``n`` candidates: ``(messages, answer schema, max_tokens, meta)``;
        ``meta`` reaches :meth:`_on_llm_answer` with the answer."""
        assert self.space is not None
        best = self.best_trials(5)
        edits = self.ask == "edits" and bool(editable(self.space)) and bool(best)  # else whole configs
        messages = swarm_messages(self.space, metric=self._metric, mode=self._mode, n=n, best=best,
                                  recent=self.recent_trials(5), particles=self._particle_views(),
                                  completed=done, budget=self.budget, answer="edits" if edits else "configs")
        if edits:
            return messages, edit_schema(self.space, n, len(best)), 60 + 40 * n, {"bases": [t.config for t in best]}
        return messages, self.space.json_schema(n), 60 + 25 * self.space.dim * n, {}

    def _on_llm_answer(self, answer: Any, meta: dict[str, Any]) -> None:
        assert self.space is not None and self.pso is not None
        k = int(meta.get("k", 1))
        answer = answer if isinstance(answer, dict) else {}
        bad: list[tuple[Any, str]] = []
        if "edits" in answer:
            items, bad = apply_edits(answer["edits"], meta.get("bases", []), self.space)
        else:
            items = answer.get("configs", [])
        screened = screen_configs(items, self.space, seen=self._seen_keys())
        screened.rejected[:0] = bad
        self.counters["llm_rejected"] += len(screened.rejected)
        self.counters["llm_accepted"] += len(screened.accepted)
        if not screened.accepted:
            self.telemetry.event("llm_answer", accepted=0, rejected=[r for _, r in screened.rejected][:5])
            return
        gated_before = self.counters.get("llm_gated", 0)
        xs, configs, particles = self._choose_replacements(screened.accepted, k)
        used = self.pso.inject(list(xs), origin="llm", particles=particles)
        for particle, config in zip(used, configs):
            self._injected[particle] = config
        self.counters["llm_used"] += len(used)
        self.telemetry.event("llm_answer", accepted=len(screened.accepted), used=len(used),
                             gated=self.counters.get("llm_gated", 0) - gated_before,
                             rejected=[r for _, r in screened.rejected][:5])

    def _choose_replacements(self, configs: list[dict[str, Any]],
                             k: int) -> tuple[np.ndarray, list[dict[str, Any]], list[int] | None]:
        """The at most ``k`` screened configurations to inject, most promising first, with their
        unit-cube positions and the particles they go to (``None``: the worst, in order).

        Ranked by the kernel surrogate of the history when there are more than ``k``; with
        ``surrogate_gate``, always ranked, then gated (:meth:`_gate`)."""
        assert self.space is not None
        xs = np.array([self.space.to_unit(c) for c in configs])
        x_hist, y_hist = self._unit_history()
        if len(y_hist) < 3:  # too little history to rank or gate on
            return xs[:k], configs[:k], None
        if len(xs) > k or self.surrogate_gate:
            order = np.argsort(kernel_predict(x_hist, y_hist, xs), kind="stable")
            xs, configs = xs[order], [configs[i] for i in order]
        xs, configs = xs[:k], configs[:k]
        if not self.surrogate_gate:
            return xs, configs, None
        return self._gate(xs, configs, x_hist, y_hist)

    def _gate(self, xs: np.ndarray, configs: list[dict[str, Any]], x_hist: np.ndarray,
              y_hist: np.ndarray) -> tuple[np.ndarray, list[dict[str, Any]], list[int]]:
        """Pair the ranked proposals with the particles :meth:`AsyncPSO.injection_targets` names (the
        best proposal with the worst particle) and keep the pairs where the surrogate predicts the
        proposal better than the particle's own best (predicted the same way); each kept proposal
        goes to the particle it was checked against."""
        targets, refs = self._gate_targets(len(xs))
        if not targets:
            return xs[:0], [], []
        better = kernel_predict(x_hist, y_hist, xs[:len(refs)]) < kernel_predict(x_hist, y_hist, refs)
        keep = [j for j in range(len(refs)) if better[j]]
        self.counters["llm_gated"] = self.counters.get("llm_gated", 0) + len(refs) - len(keep)
        return xs[keep], [configs[j] for j in keep], [targets[j] for j in keep]

    def _gate_targets(self, n: int) -> tuple[list[int], np.ndarray]:
        """The first ``n`` particles :meth:`AsyncPSO.injection_targets` names and the unit-cube
        positions the gate compares proposals against: each particle's own best, or its position
        while it has none."""
        assert self.pso is not None
        targets = self.pso.injection_targets()[:n]
        particles = [self.pso.particles[i] for i in targets]
        return targets, np.array([p.best_x if p.best_x is not None else p.x for p in particles])

    def _unit_history(self) -> tuple[np.ndarray, np.ndarray]:
        """The scored history in the unit cube and its costs, encoded once per trial (cached)."""
        assert self.space is not None
        if self._unit_cache[0] is not self.history or self._unit_cache[1] > len(self.history):
            self._unit_cache = (self.history, 0, [], [])
        history, done, xs, ys = self._unit_cache
        for h in history[done:]:
            if h["value"] is not None:
                xs.append(self.space.to_unit(h["config"]))
                ys.append(self._cost(h["value"]))
        self._unit_cache = (history, len(history), xs, ys)
        return np.array(xs).reshape(len(xs), self.space.dim), np.array(ys, dtype=float)

    def _particle_views(self) -> list[ParticleView]:
        assert self.space is not None and self.pso is not None
        sign = 1 if self._mode == "min" else -1
        return [ParticleView(self.space.flat_from_unit(p.x), p.v, sign * p.last_f, sign * p.best_f)
                for p in (self.pso.particles[i] for i in self.pso.worst_particles(self.pso.swarm_size))]

    # ------------------------------------------------------------------ state
    def _core_state(self) -> dict[str, Any]:
        assert self.pso is not None
        return {"pso": self.pso.get_state(), "injected": {str(k): self._encode(v) for k, v in self._injected.items()},
                "last_llm_at": self._last_llm_at}

    def _load_core_state(self, state: dict[str, Any]) -> None:
        self.pso = AsyncPSO.from_state(state["pso"])
        self._injected = {int(k): self._decode(v) for k, v in state["injected"].items()}
        self._last_llm_at = int(state["last_llm_at"])
