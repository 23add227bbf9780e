"""LLMPSOSearcher: a surrogate-screened asynchronous particle swarm whose worst particles proposers compete for.

Ray Tune adapter over :class:`raytune_llm.pso.AsyncPSO` (Hameed et al. 2025, "LLM-enhanced PSO",
made asynchronous) and, by default (``surrogate="gp"``), a :class:`~raytune_llm.surrogate.SurrogateScreen`
(a Gaussian process of the history with the trials in flight as fantasies, and an acquisition):

* every move of a particle is the best of several candidate moves by the screen; categorical
  parameters move as probability vectors, integers on their grid; a stagnating swarm restarts its
  worst particles in a trust region around the best (origin ``"trust"``);
* every ``llm_every`` completed trials (after ``warmup``) a round of proposals competes for the worst
  ``replace_fraction`` particles: the LLM's answers (origin ``"llm"``, when it answers: it is asked in
  the background and never waited for unless ``wait_for_llm=True``), acquisition optima of the screen
  (``"model"``) and perturbations of the best trials (``"perturb"``). One gate, the screen's
  acquisition, gives a particle a proposal only where it scores better than the particle's own
  planned move; each accepted proposal enters the screen as a fantasy before the next is chosen.

``surrogate=None`` is plain asynchronous PSO, the control: LLM answers are then ranked and gated
by a kernel regression of the history against each replaced particle's own best, as before the
surrogate existed. Per origin, the searcher counts proposals, acceptances, trials and improvements
(:meth:`LLMPSOSearcher.origin_stats`, telemetry, ``benchmark_extra()``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from raytune_llm._checks import check_bool, check_int, check_number, check_options
from raytune_llm.proposals.render import space_schema
from raytune_llm.proposals.screening import screen_configs
from raytune_llm.proposals.swarm import (ANSWERS, ParticleView, apply_edits, edit_schema, editable,
                                         swarm_messages)
from raytune_llm.pso import AsyncPSO
from raytune_llm.searchers.base import LLMSearcherBase
from raytune_llm.surrogate.kernel import kernel_predict
from raytune_llm.surrogate.kinds import kinds_from_space, snap
from raytune_llm.surrogate.proposers import model_proposals, perturb_proposals


#: values of ``surrogate``
SURROGATES = ("gp", None)
#: origins of the proposals that compete for replaced particles (counted by the gate)
PROPOSERS = ("llm", "model", "perturb")
#: ``surrogate_options`` keys: the screen's, the GP's, the refit schedule's and the proposers'
SURROGATE_OPTIONS = ("acquisition", "fantasy", "beta", "eta", "min_points", "window", "keep_best", "fit_points",
                     "restarts", "warp", "max_iter", "refit_every", "refit_growth", "proposers", "model_candidates",
                     "model_refine")
_SCREEN_KEYS = ("acquisition", "fantasy", "beta", "eta", "min_points")
_GP_KEYS = ("window", "keep_best", "fit_points", "restarts", "warp", "max_iter")
#: defaults of ``surrogate_options`` (the screen's and GP's other defaults are theirs)
SURROGATE_DEFAULTS: dict[str, Any] = {"acquisition": "hedge", "warp": "auto", "max_iter": 50, "refit_every": 5,
                                      "refit_growth": 8, "proposers": ("model", "perturb"), "model_candidates": 512,
                                      "model_refine": 0}


def check_surrogate_options(options: Any) -> dict[str, Any]:
    """``surrogate_options`` checked (unknown keys and bad values named) and completed with
    :data:`SURROGATE_DEFAULTS`.

    Raises:
        ValueError: an unknown key (the valid ones listed) or a bad value.
    """
    from raytune_llm.surrogate.gp import MixedGP
    from raytune_llm.surrogate.screen import SurrogateScreen

    options = {**SURROGATE_DEFAULTS, **check_options("surrogate_options", options, SURROGATE_OPTIONS)}
    options["refit_every"] = check_int("surrogate_options refit_every", options["refit_every"], minimum=1)
    options["refit_growth"] = check_int("surrogate_options refit_growth", options["refit_growth"], minimum=1)
    options["model_candidates"] = check_int("surrogate_options model_candidates", options["model_candidates"],
                                            minimum=1)
    options["model_refine"] = check_int("surrogate_options model_refine", options["model_refine"], minimum=0)
    proposers = options["proposers"]
    if isinstance(proposers, str) or not all(p in ("model", "perturb") for p in proposers):
        raise ValueError(f"surrogate_options proposers must be a list of 'model' and 'perturb' (the LLM is "
                         f"set by llm=), got {proposers!r}")
    options["proposers"] = tuple(dict.fromkeys(proposers))
    try:  # the screen and the GP check their own arguments
        MixedGP(1, **{k: options[k] for k in _GP_KEYS if k in options})
        SurrogateScreen(1, **{k: options[k] for k in _SCREEN_KEYS if k in options})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"surrogate_options: {exc}") from None
    return options


class LLMPSOSearcher(LLMSearcherBase):
    """LLM-enhanced, surrogate-screened asynchronous particle swarm optimisation for Ray Tune.

    Args:
        swarm_size: particles; default ``max(8, max concurrency)``.
        warmup: completed trials before the first round of proposals (default: swarm size).
        llm_every: completed trials between rounds of proposals (and LLM requests; default: swarm size).
        replace_fraction: fraction of particles a round may replace (default 0.25).
        candidates_per_slot: configurations asked of the LLM per replaced particle.
        surrogate: ``"gp"`` (default): screened moves, categories as probability vectors, pending
            trials as fantasies, trust-region restarts, and model-based and perturbation proposers
            beside the LLM; ``None``: plain asynchronous PSO (the control; with an LLM, its answers
            are gated by a kernel regression of the history as before the surrogate existed).
        surrogate_options: with ``surrogate="gp"``: the screen's ``acquisition`` (``"hedge"``, the
            default: EI or LCB, whichever the run's results reward, GP-Hedge; ``"ei"``, ``"lcb"``,
            ``"mean"``), ``fantasy``, ``beta``, ``eta`` (hedge's learning rate), ``min_points``; the GP's ``window``,
            ``keep_best``, ``fit_points``, ``restarts``, ``warp`` (``"auto"``, the default: standardised or
            log-scaled costs, whichever the marginal likelihood prefers at each refit; ``"standard"``,
            ``"log"``, ``"rank"``), ``max_iter`` (L-BFGS iterations per
            hyperparameter fit, default 50); the refit schedule: hyperparameters are refitted when a
            trial completes, every ``max(refit_every, n // refit_growth)`` results (defaults 5, 8), never
            in ``suggest()``; ``proposers`` (default ``("model", "perturb")``) and
            ``model_candidates`` (random and near-best points scored per model proposal round, 512) and
            ``model_refine`` (rounds of local search around the best of them, 0).
        surrogate_gate: (default ``True``) a proposal replaces a particle only where the gate
            scores it better: with ``surrogate="gp"``, better by the acquisition than the particle's
            own planned move; with ``None``, predicted better by the kernel regression than the
            particle's own best. Until ``min_points`` (3) trials have a value nothing is gated.
            Stopped LLM proposals are counted in ``counters["llm_gated"]``.
        ask: ``"configs"`` (default): the LLM writes whole configurations; ``"edits"``: the LLM
            picks one of the best trials, one numeric parameter and its new value (a short answer
            that a small model follows more reliably; see docs/llm-pso.md for what each measured).
            A space without numeric parameters is asked for configurations.
        pso_options: options of :class:`~raytune_llm.pso.AsyncPSO`: ``w_start``, ``w_end``, ``c1``,
            ``c2``, ``v_max``, ``reset_injected_velocity``, and the move options ``categorical``,
            ``screen_candidates``, ``stagnation``, ``trust_radius``, ``trust_min``, ``trust_fraction``,
            ``subspace`` (with ``surrogate="gp"``, ``screen_candidates`` defaults to 32 and ``stagnation`` to
            ``max(16, 2 * swarm_size)``; with
            ``None``, the move options are off unless given).
        **kwargs: ``space``, ``metric``, ``mode``, ``points_to_evaluate``, ``seed``, ``llm``
            (``"embedded"`` default, ``"llama-cpp:/path.gguf"``, ``"openai:MODEL"``, a backend, or
            ``None``: no LLM proposals), ``llm_options``, ``max_evaluations``,
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
    surrogate = None  # what a searcher pickled before the option was: plain PSO
    screen = None
    _answer = None

    def __init__(
        self,
        *,
        swarm_size: int | None = None,
        warmup: int | None = None,
        llm_every: int | None = None,
        replace_fraction: float = 0.25,
        candidates_per_slot: int = 2,
        surrogate: str | None = "gp",
        surrogate_options: dict[str, Any] | None = None,
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
        if surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be 'gp' (the default) or None (plain PSO), got {surrogate!r}")
        if surrogate is None and surrogate_options:
            raise ValueError(f"surrogate_options {sorted(surrogate_options)} need surrogate='gp'; "
                             "drop them or the surrogate=None")
        if ask not in ANSWERS:
            raise ValueError(f"ask must be one of {ANSWERS}, got {ask!r}")
        AsyncPSO.check_options("pso_options", **check_options(
            "pso_options", pso_options, AsyncPSO.OPTIONS + AsyncPSO.MOVE_OPTIONS,
            refused={"swarm_size": "pass swarm_size= to the searcher", "seed": "pass seed= to the searcher",
                     "horizon": "it is the budget: pass max_evaluations= (or Tune's num_samples)",
                     "kinds": "they come from the search space (surrogate='gp' uses them)",
                     "screen": "pass surrogate='gp' (and surrogate_options) to the searcher"}))
        self.ask = ask
        self._swarm_size = swarm_size
        self._warmup = warmup
        self._llm_every = llm_every
        self.replace_fraction = replace_fraction
        self.candidates_per_slot = candidates_per_slot
        self.surrogate = surrogate
        self._surrogate_options = check_surrogate_options(surrogate_options) if surrogate == "gp" else {}
        self.surrogate_gate = surrogate_gate
        self._pso_options = dict(pso_options or {})
        self.pso: AsyncPSO | None = None
        self.screen = None
        self._refit_n = 0  # finite results at the last hyperparameter fit
        self._rng = np.random.default_rng()
        self._injected: dict[int, dict[str, Any]] = {}  # particle -> exact LLM config (no unit-cube round trip)
        self._last_llm_at = 0  # completed trials at the last round of proposals
        self._answer: tuple[list[dict[str, Any]], int] | None = None  # an LLM answer whose round waits
        self._unit_cache: tuple[Any, int, list[np.ndarray], list[float]] = (None, 0, [], [])
        super().__init__(**kwargs)
        self.counters["llm_gated"] = 0
        if surrogate == "gp":
            self._trials.gated_origins = set(PROPOSERS)

    # ------------------------------------------------------------------ hooks
    def _build(self) -> None:
        assert self.space is not None
        size = self._swarm_size or max(8, self._max_concurrency or 0)
        horizon = self.budget or 25 * size
        options = dict(self._pso_options)
        if self.surrogate == "gp":
            from raytune_llm.surrogate.screen import SurrogateScreen

            kinds = kinds_from_space(self.space)
            opts = self._surrogate_options
            self.screen = SurrogateScreen(self.space.dim, kinds=kinds, seed=self._seed,
                                          **{k: opts[k] for k in _SCREEN_KEYS if k in opts},
                                          gp_options={k: opts[k] for k in _GP_KEYS if k in opts})
            options = {"kinds": kinds, "screen": self.screen, "stagnation": max(16, 2 * size), "screen_candidates": 32,
                       **options}
            self._rng = np.random.default_rng(None if self._seed is None else [self._seed, 7])
        self.pso = AsyncPSO(self.space.dim, swarm_size=size, seed=self._seed, horizon=horizon, **options)

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
        if proposal.origin in ("pso", "init") or (self.screen is not None and proposal.origin != "llm"):
            flat = self._nudge_if_seen(proposal, flat)
        return flat, proposal.origin, proposal.id

    def _launch(self, trial_id: str, flat: dict[str, Any], origin: str, token: Any) -> dict[str, Any]:
        config = super()._launch(trial_id, flat, origin, token)
        if self.screen is not None:
            assert self.space is not None
            self.screen.add_pending(trial_id, self.space.to_unit(flat))
        return config

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if self.screen is not None:
            self.screen.remove_pending(trial_id)  # observed (without its key) by _observe
        super().on_trial_complete(trial_id, result, error)
        if self._answer is not None:  # an LLM answer taken in suggest(): its round runs here, off suggest()
            configs, k = self._answer
            self._answer = None
            self._llm_round(configs, k)

    def _observe(self, live: dict[str, Any], cost: float) -> None:
        assert self.pso is not None
        self.pso.tell(live["token"], cost)
        self._screen_observe(live["config"], cost)

    def _observe_external(self, flat: dict[str, Any], cost: float) -> None:
        assert self.pso is not None and self.space is not None
        self.pso.tell_external(self.space.to_unit(flat), cost)
        self._screen_observe(flat, cost)

    def _screen_observe(self, flat: dict[str, Any], cost: float) -> None:
        """Enter a result into the screen and condition its model now (refitting hyperparameters on
        the schedule of ``surrogate_options``), so that ``suggest()`` only adds the pending trials."""
        if self.screen is None:
            return
        assert self.space is not None
        self.screen.observe(self.space.to_unit(flat), cost)
        n = self.screen.n_finite
        opts = self._surrogate_options
        due = n - self._refit_n >= max(opts["refit_every"], n // opts["refit_growth"]) or self._refit_n == 0
        if n >= self.screen.min_points and due:
            self._refit_n = n
        self.screen.refresh(optimize_hyperparameters=n >= self.screen.min_points and due)

    def _record_extra(self, step: int) -> None:
        if self.pso is not None:
            self.telemetry.scalar("swarm/diversity", self.pso.diversity(), step)
        if self.screen is not None and self.screen.acquisition == "hedge":
            for name, p in self.screen.hedge_probabilities().items():
                self.telemetry.scalar(f"surrogate/p_{name}", p, step)

    def _nudge_if_seen(self, proposal: Any, flat: dict[str, Any]) -> dict[str, Any]:
        """Integer/categorical spaces make PSO land on tried configurations; move it slightly."""
        assert self.space is not None and self.pso is not None
        if self.space.key(flat) not in self._trials.keys:
            return flat
        particle = self.pso.particles[proposal.particle]
        for scale in (0.05, 0.1, 0.2, 0.35):
            x = np.clip(particle.x + self.pso.rng.normal(0, scale, self.space.dim), 0, 1)
            if self.screen is not None:
                x = snap(x, self.pso.kinds)
            candidate = self.space.flat_from_unit(x)
            if self.space.key(candidate) not in self._trials.keys:
                particle.x = x
                return candidate
        return flat

    # ------------------------------------------------------------------ rounds of proposals
    @property
    def slots(self) -> int:
        """Particles one round of proposals may replace."""
        assert self.pso is not None
        return max(1, round(self.replace_fraction * self.pso.swarm_size))

    def _after_complete(self) -> None:
        done = len(self.history)
        proposers = self._llm.active or (self.screen is not None and bool(self._surrogate_options["proposers"]))
        if not proposers or done < self.warmup:
            return
        if self._last_llm_at and done - self._last_llm_at < self.llm_every:
            return
        if self._llm.active and self._llm.busy and self.screen is None:
            return  # the control: rounds are the LLM's answers
        assert self.pso is not None
        self._last_llm_at = done
        k = self.slots
        if self._llm.active and not self._llm.busy:
            messages, schema, max_tokens, meta = self._replacement_request(k * self.candidates_per_slot, done)
            if self._llm.submit(messages, schema, max_tokens=max_tokens, tag="pso-replace", meta={"k": k, **meta}):
                return  # the round runs with the answer (or without it, if the request fails)
        if self.screen is not None:
            self._compete([], k)

    def _llm_round(self, configs: list[dict[str, Any]], k: int) -> None:
        """The round of an LLM answer (its screened configurations), with its ``llm_answer`` event."""
        gated_before, used_before = self.counters.get("llm_gated", 0), self.counters["llm_used"]
        self._compete(configs, k)
        self.telemetry.event("llm_answer", accepted=len(configs), used=self.counters["llm_used"] - used_before,
                             gated=self.counters.get("llm_gated", 0) - gated_before)

    def _on_llm_failure(self, error: BaseException) -> None:
        """The round the request was for runs without the LLM (when the answer would have run)."""
        if self.screen is None or self.pso is None:
            return
        if self.wait_for_llm:
            self._compete([], self.slots)
        elif self._answer is None:
            self._answer = ([], self.slots)

    def _model_proposals(self, k: int) -> list[np.ndarray]:
        """``k`` acquisition optima (:func:`raytune_llm.surrogate.proposers.model_proposals`)."""
        assert self.screen is not None and self.pso is not None
        return model_proposals(self.screen, self.pso.kinds, k, self._rng,
                               candidates=self._surrogate_options["model_candidates"],
                               refine=self._surrogate_options.get("model_refine", 0))

    def _perturb_proposals(self, k: int) -> list[np.ndarray]:
        """``k`` perturbations of the best results (:func:`raytune_llm.surrogate.proposers.perturb_proposals`)."""
        assert self.screen is not None and self.pso is not None
        X, y = self.screen.history()
        return perturb_proposals(X, y, self.pso.kinds, k, self._rng)

    def _compete(self, llm_configs: list[dict[str, Any]], k: int) -> list[int]:
        """One round: the LLM's screened configurations, the model's and the perturbation proposals
        compete for the ``k`` worst particles free to take a position; returns the particles given one.

        The gate (the screen's acquisition, pending trials as fantasies) takes the particles worst
        first and gives each the best-scoring proposal left, if it scores better than the particle's
        own planned move (:meth:`AsyncPSO.planned_position`); an accepted proposal enters the screen
        as a fantasy before the next choice, so one round does not send two particles to one spot.
        With ``surrogate_gate=False`` the ``k`` best-scoring proposals are taken, and before the
        screen has ``min_points`` results, the proposals in order (the LLM's first)."""
        assert self.space is not None and self.pso is not None and self.screen is not None
        seen = self._seen_keys()
        items: list[tuple[str, np.ndarray, dict[str, Any] | None]] = []
        for config in llm_configs:
            items.append(("llm", self.space.to_unit(config), config))
        opts = self._surrogate_options["proposers"]
        judged = self.screen.n_finite >= self.screen.min_points
        if judged and "model" in opts:
            items += [("model", x, None) for x in self._model_proposals(k)]
        if judged and "perturb" in opts:
            items += [("perturb", x, None) for x in self._perturb_proposals(k)]
        keys, proposals = set(seen), []
        for origin, x, config in items:  # new configurations only, each once
            key = self.space.key(config if config is not None else self.space.flat_from_unit(x))
            if key not in keys:
                keys.add(key)
                proposals.append((origin, x, config))
        targets = self.pso.injection_targets()[:k]
        chosen: list[tuple[int, int]] = []  # (proposal, particle)
        if targets and proposals:
            if not judged:
                chosen = list(zip(range(len(proposals)), targets))
            elif not self.surrogate_gate:
                order = np.argsort(self.screen(np.array([x for _, x, _ in proposals])), kind="stable")
                chosen = list(zip(order.tolist(), targets))
            else:
                chosen = self._gate_round(proposals, targets)
        counts = {origin: [0, 0] for origin, _, _ in proposals}
        for origin, _, _ in proposals:
            counts[origin][0] += 1
        used = []
        for j, particle in chosen:
            origin, x, config = proposals[j]
            self.pso.inject([x], origin=origin, particles=[particle])
            if config is not None:
                self._injected[particle] = config
            counts[origin][1] += 1
            used.append(particle)
        if counts:
            self._trials.count_proposals({o: (p, a) for o, (p, a) in counts.items()})
        llm_proposed, llm_used = counts.get("llm", (0, 0))
        self.counters["llm_used"] += llm_used
        self.counters["llm_gated"] = self.counters.get("llm_gated", 0) + llm_proposed - llm_used
        return used

    def _gate_round(self, proposals: list[tuple[str, np.ndarray, Any]], targets: list[int]) -> list[tuple[int, int]]:
        """The gate of :meth:`_compete`: ``(proposal, particle)`` pairs."""
        assert self.pso is not None and self.screen is not None
        xs = np.array([x for _, x, _ in proposals])
        planned = np.array([self.pso.planned_position(i) for i in targets])
        left, chosen, fantasies = list(range(len(proposals))), [], []
        try:
            for t, particle in enumerate(targets):
                if not left:
                    break
                scores = self.screen(np.vstack([xs[left], planned[t:t + 1]]))
                j = int(np.argmin(scores[:-1]))
                if scores[j] < scores[-1]:
                    chosen.append((left[j], particle))
                    key = ("gate", len(fantasies))
                    self.screen.add_pending(key, xs[left[j]])
                    fantasies.append(key)
                    del left[j]
        finally:
            for key in fantasies:
                self.screen.remove_pending(key)
        return chosen

    # ------------------------------------------------------------------ LLM requests
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
        return messages, space_schema(self.space, n), 60 + 25 * self.space.dim * n, {}

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
        rejected = [r for _, r in screened.rejected][:5]
        if self.screen is not None:  # the LLM's answers compete with the other proposers
            if rejected:
                self.telemetry.event("llm_rejected", rejected=rejected)
            if self.wait_for_llm:  # used before the next suggestion, as asked
                self._llm_round(screened.accepted, k)
            else:  # at the next completion (now, if this is one), never in suggest()
                waiting = self._answer or ([], k)
                self._answer = (waiting[0] + screened.accepted, max(waiting[1], k))
            return
        if not screened.accepted:
            self.telemetry.event("llm_answer", accepted=0, rejected=rejected)
            return
        gated_before = self.counters.get("llm_gated", 0)
        xs, configs, particles = self._choose_replacements(screened.accepted, k)
        used = self.pso.inject(list(xs), origin="llm", particles=particles)
        for particle, config in zip(used, configs):
            self._injected[particle] = config
        self.counters["llm_used"] += len(used)
        self.telemetry.event("llm_answer", accepted=len(screened.accepted), used=len(used),
                             gated=self.counters.get("llm_gated", 0) - gated_before, rejected=rejected)

    def _choose_replacements(self, configs: list[dict[str, Any]],
                             k: int) -> tuple[np.ndarray, list[dict[str, Any]], list[int] | None]:
        """With ``surrogate=None``: the at most ``k`` screened configurations to inject, most promising
        first, with their unit-cube positions and the particles they go to (``None``: the worst, in order).

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
        state = {"pso": self.pso.get_state(), "injected": {str(k): self._encode(v) for k, v in self._injected.items()},
                 "last_llm_at": self._last_llm_at}
        if self.screen is not None and self.surrogate == "gp":
            state["surrogate"] = {"screen": self.screen.get_state(), "refit_n": self._refit_n,
                                  "rng": self._rng.bit_generator.state,
                                  "answer": None if self._answer is None else
                                  [[self._encode(c) for c in self._answer[0]], self._answer[1]]}
        return state

    def _load_core_state(self, state: dict[str, Any]) -> None:
        saved = state.get("surrogate")
        if (saved is None) != (self.surrogate != "gp"):
            raise ValueError(f"cannot restore a searcher saved with surrogate={'gp' if saved else None!r} into one "
                             f"built with surrogate={self.surrogate!r}; pass the same surrogate= as the saved run")
        if saved is not None:
            from raytune_llm.surrogate.screen import SurrogateScreen

            self.screen = SurrogateScreen.from_state(saved["screen"])
            self._refit_n = int(saved["refit_n"])
            self._rng.bit_generator.state = saved["rng"]
            answer = saved.get("answer")
            self._answer = None if answer is None else ([self._decode(c) for c in answer[0]], int(answer[1]))
            self.screen.refresh(optimize_hyperparameters=False)  # the saved hyperparameters, refitted data
        self.pso = AsyncPSO.from_state(state["pso"], screen=self.screen if self.surrogate == "gp" else None)
        self._injected = {int(k): self._decode(v) for k, v in state["injected"].items()}
        self._last_llm_at = int(state["last_llm_at"])

    # ------------------------------------------------------------------ results
    def origin_stats(self) -> dict[str, dict[str, int]]:
        """Per origin (init, pso, trust, llm, model, perturb, user, warm-start): proposals made,
        proposals the gate accepted, trials completed, and trials that improved the best so far.
        A swarm move (init, pso, trust), a user point and a warm start count as proposed and accepted
        when they start (or are added)."""
        return self._trials.origin_stats()

    def benchmark_extra(self) -> dict[str, Any]:
        """Origins, per-origin counts (:meth:`origin_stats`), LLM counters and usage, for benchmark records."""
        extra = {**super().benchmark_extra(), "per_origin": self.origin_stats()}
        if self.screen is not None and self.screen.acquisition == "hedge":
            from raytune_llm.surrogate.screen import HEDGE

            extra["hedge_chosen"] = dict(zip(HEDGE, self.screen.hedge_chosen))
        return extra

