"""raytune-llm's own searchers for the benchmark harness (``--import benchmarks.searchers``).

* ``llm-pso``: LLMPSOSearcher with the embedded model, ``wait_for_llm=True`` so that runs count
  evaluations the way the paper does (the LLM answer is used before the next suggestion).
* ``llm-pso-async``: the same without waiting (as in production, where ``wait_for_llm=False``: no
  time lost on the LLM).
* ``pso``: LLMPSOSearcher(llm=None, surrogate=None), plain asynchronous PSO, the baseline of every LLM gain.
* ``pso-gp``: LLMPSOSearcher(llm=None) with the surrogate's settings of 2026-12-06, pinned (``PSO_GP``: EI, 8
  screened candidates per move; ``surrogate="gp"``: screened moves, pending trials as fantasies, trust region,
  model and perturbation proposers behind one gate).
* ``pso-gp-hedge-c32-autowarp``: LLMPSOSearcher(llm=None)'s defaults since 2026-12-07, pinned: ``pso-gp`` with
  the acquisition GP-Hedge over EI and LCB, 32 screened candidates per move and the GP's target warp
  (standardised or log-scaled costs) chosen by marginal likelihood at each refit; ``pso-gp-hedge-c32``
  the same without the warp choice.
* ``llm-pso-gp``: LLMPSOSearcher's defaults with the embedded model (its answers compete with the model's
  proposals), ``wait_for_llm=True``.
* ``pso-gp-lcb``, ``pso-gp-half``, ``pso-gp-rank``, ``pso-gp-refine``, ``pso-gp-c32``, ``pso-gp-notrust``,
  ``pso-gp-hedge``...: probes of ``pso-gp``'s settings (``_GP_VARIANTS``): LCB instead of EI, half the swarm
  offered to the proposers every round, a rank-warped GP, three rounds of local search of the acquisition
  (``model_refine=3``), 32 screened candidates per move, no trust-region restarts, GP-Hedge.
* ``pso-gp-hedge-c32-autowarp-c64``, ``-every4``, ``-half``, ``-full``, ``-eighth``, ``-noprop``, ``-sub``,
  ``-w48``, ``-w64``: probes of the defaults since 2026-12-07 (``_DEFAULT_PROBES``): 64 screened candidates, a
  round of proposals every 4 results, half, all (every 4 results) or an eighth of the swarm offered to the
  proposers, no model or perturbation proposers, half the swarm's perturbations along a random subset of the
  coordinates (``subspace=0.5``), a GP conditioned on fewer points, weighted to the best (a local model: 48
  points, 24 of them the best; 64 points, 48 the best; the defaults: 128 points, 32 the best).
* ``llm-pso-edits``: ``llm-pso`` with ``ask="edits"`` (the LLM edits one parameter of a best trial).
* ``pso-random-edits``: the control of ``llm-pso-edits``: the same pipeline (edits, screening,
  surrogate ranking, replacement) with the LLM replaced by uniformly random edits. An LLM gain
  is real only where ``llm-pso-edits`` beats this as well as ``pso``.
* ``pso-random-configs``: the control of ``llm-pso``: the same pipeline (as many configurations as
  the LLM is asked for, screening, surrogate ranking, replacement) fed uniformly random
  configurations. An LLM gain is real only where ``llm-pso`` beats this as well as ``pso``.
* ``pso-near-best``: ``llm-pso``'s pipeline fed configurations next to the best so far (sd 0.02 of
  each range): a mechanical control that separates the cost of replacing particles at all from the
  quality of the replacements.
* ``llm-pso-percent``: ``llm-pso`` with every numeric parameter shown and answered as an integer
  percentage of its range (its unit-cube coordinate x 100, log ranges on a log scale): no signs,
  no decimals, the same scale for every parameter. A probe of the issue's "units, normalisation"
  question (the model writes round numbers and drops minus signs in the user's units); it lives
  here, not in the package, until it measurably helps.
* ``llm-pso-gated``: ``llm-pso`` with ``surrogate_gate=True``: a screened configuration replaces a
  particle only if the kernel surrogate predicts it better than that particle's own best (predicted
  the same way), so that a proposal the history speaks against is not spent on a trial.
  ``pso-random-configs-gated`` and ``pso-near-best-gated`` are its controls (random
  configurations, points next to the best so far, through the same gate).
* ``llm-pso-reset``, ``pso-random-configs-reset``, ``pso-near-best-reset``: the same with
  ``pso_options={"reset_injected_velocity": True}`` (a replaced particle starts at rest instead of
  carrying on its old velocity from the new position).
* ``llm-pso-gated-reset``, ``pso-random-configs-gated-reset``, ``pso-near-best-gated-reset``: the gate
  and the reset together.
* ``llm-pso-gated-reset-eighth``, ``pso-random-configs-gated-reset-eighth``: the defaults and their
  random control with ``replace_fraction=0.125`` (one particle of a swarm of 8 replaced per request
  instead of two).
* ``pso-random-configs-gated-reset-matched``: ``pso-random-configs-gated-reset`` whose gate pairs
  proposals with particles by a maximum matching instead of in order (:class:`MatchedGateLLMPSOSearcher`).

* ``llm``: LLMSearcher with the embedded model, ``batch_size=4``, ``queue_target=0``, waited for. Measured
  (benchmarks/results/llm-cost-*): about one request per trial, most asking for 1 configuration,
  since each proposal taken from the queue triggers a request for the slot it frees.
* ``sobol``: LLMSearcher(llm=None), its space-filling fallback alone.

Peers beside the harness's own (``optuna``, ``hyperopt``, ``nevergrad-pso``, ``nevergrad-cma``, ``random``), for
issue 32's grid: ``optuna-gp`` (Optuna's ``GPSampler`` through OptunaSearch), ``optuna-cmaes`` (``CmaEsSampler``)
and ``hebo`` (HEBOSearch, where the ``hebo`` package is installed; else skipped with a message).

Every LLM-PSO name but the ``-gp`` ones sets ``surrogate=None``, ``surrogate_gate``,
``reset_injected_velocity`` and ``replace_fraction`` explicitly (:data:`PINNED`: the first two on only where the name says ``gated`` or ``reset``, 1/4
replaced but where it says ``eighth``), so that a name means one configuration in every result
file, whatever LLMPSOSearcher's defaults are when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.harness import register_searcher
from raytune_llm import LLMPSOSearcher, LLMSearcher
from raytune_llm.llm.testing import ScriptedBackend
from raytune_llm.proposals.render import space_schema
from raytune_llm.surrogate import kernel_predict


#: what every registered LLM-PSO name sets unless its name says otherwise (``-gated``, ``-reset``,
#: ``-eighth``), so that a name means one configuration in every result file, whatever
#: LLMPSOSearcher's defaults
PINNED: dict[str, Any] = {"surrogate": None, "surrogate_gate": False,
                          "pso_options": {"reset_injected_velocity": False}, "replace_fraction": 0.25}


def llm_pso(seed: int, *, wait: bool = True, llm: Any = "embedded", cls: type[LLMPSOSearcher] = LLMPSOSearcher,
            **options: Any) -> LLMPSOSearcher:
    """The ``llm-pso`` searcher (``llm-pso-async`` with ``wait=False``); ``llm`` replaceable for tests,
    ``options`` passed on to :class:`LLMPSOSearcher` (or the subclass ``cls``) over :data:`PINNED`."""
    return cls(seed=seed, llm=llm, wait_for_llm=wait, telemetry=False, **{**PINNED, **options})


def _random_answers_pso(seed: int, stream: int,
                        answer: Callable[[LLMPSOSearcher, dict[str, Any], np.random.Generator], dict[str, Any]],
                        **options: Any) -> LLMPSOSearcher:
    """``llm-pso`` (with ``options``) with the LLM replaced by ``answer(searcher, schema, rng)``,
    seeded by ``(seed, stream)``: the same pipeline fed answers that owe nothing to a model."""
    rng = np.random.default_rng([seed, stream])
    searcher: list[LLMPSOSearcher] = []
    backend = ScriptedBackend([lambda messages, schema: answer(searcher[0], schema, rng)])
    searcher.append(llm_pso(seed, llm=backend, **options))
    return searcher[0]


def _random_edits(searcher: LLMPSOSearcher, schema: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    space = searcher.space
    items = schema["properties"]["edits"]
    n, n_base = items["minItems"], items["items"]["properties"]["trial"]["maximum"]
    edits = []
    for _ in range(n):
        param = str(rng.choice(space.names))
        edits.append({"trial": int(rng.integers(1, n_base + 1)), "param": param,
                      "value": space.flat_from_unit(rng.random(space.dim))[param]})
    return {"edits": edits}


def _random_configs(searcher: LLMPSOSearcher, schema: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    space, n = searcher.space, schema["properties"]["configs"]["minItems"]
    return {"configs": [space.flat_from_unit(rng.random(space.dim)) for _ in range(n)]}


def _configs_near_best(searcher: LLMPSOSearcher, schema: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    space, n = searcher.space, schema["properties"]["configs"]["minItems"]
    assert searcher.pso is not None and searcher.pso.best_x is not None
    return {"configs": [space.flat_from_unit(np.clip(searcher.pso.best_x + rng.normal(0.0, 0.02, space.dim), 0, 1))
                        for _ in range(n)]}


def random_edits_pso(seed: int) -> LLMPSOSearcher:
    """``pso-random-edits``: ``llm-pso-edits`` with uniformly random edits instead of the LLM's."""
    return _random_answers_pso(seed, 17, _random_edits, ask="edits")


def random_configs_pso(seed: int, **options: Any) -> LLMPSOSearcher:
    """``pso-random-configs``: ``llm-pso`` with uniformly random configurations instead of the LLM's."""
    return _random_answers_pso(seed, 19, _random_configs, **options)


def near_best_pso(seed: int, **options: Any) -> LLMPSOSearcher:
    """``pso-near-best``: ``llm-pso`` fed configurations next to the best so far (Gaussian, sd 0.02 of
    each range): what replacing the worst particles costs even when the replacements are good."""
    return _random_answers_pso(seed, 23, _configs_near_best, **options)


class MatchedGateLLMPSOSearcher(LLMPSOSearcher):
    """``pso-random-configs-gated-reset-matched``: the surrogate gate pairing proposals with particles
    by a maximum matching instead of in order.

    LLMPSOSearcher's gate pairs the best proposal with the worst particle, the second with the
    second worst, and so on, and keeps the pairs that pass; with predictions (1, 5) and particle
    bests (10, 3) it keeps one pair where (1 with 3, 5 with 10) keeps two. This keeps as many pairs
    as any pairing can (the most constrained proposal first, each to the worst particle it beats).
    A probe of whether keeping more helps; measured on the random control, where it does not
    (docs/llm-pso.md), so the package keeps the simpler pairing.
    """

    def _gate(self, xs: np.ndarray, configs: list[dict[str, Any]], x_hist: np.ndarray,
              y_hist: np.ndarray) -> tuple[np.ndarray, list[dict[str, Any]], list[int]]:
        targets, refs = self._gate_targets(len(xs))
        if not targets:
            return xs[:0], [], []
        xs = xs[:len(refs)]
        pred, ref = kernel_predict(x_hist, y_hist, xs), kernel_predict(x_hist, y_hist, refs)
        free, pairs = list(range(len(refs))), []
        for i in sorted(range(len(xs)), key=lambda i: -pred[i]):  # the proposal fewest particles admit first
            beaten = [j for j in free if ref[j] > pred[i]]
            if beaten:  # the admitted sets are nested, so any choice keeps the matching maximal
                j = max(beaten, key=lambda j: ref[j])
                free.remove(j)
                pairs.append((i, j))
        pairs.sort()  # most promising proposal first, as the package's gate returns them
        self.counters["llm_gated"] = self.counters.get("llm_gated", 0) + len(refs) - len(pairs)
        return xs[[i for i, _ in pairs]], [configs[i] for i, _ in pairs], [targets[j] for _, j in pairs]


class PercentLLMPSOSearcher(LLMPSOSearcher):
    """``llm-pso-percent``: the swarm prompt and the answer in percentages of each numeric range.

    The prompt, the schema and the screening are the package's; only the space the LLM sees
    changes: each numeric parameter becomes an integer 0-100 (its unit-cube coordinate x 100),
    categories stay. Answers are mapped back into the real space and handled like ``llm-pso``'s.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(ask="configs", **kwargs)

    def _setup(self, config: Any) -> None:
        super()._setup(config)
        assert self.space is not None
        normal = [p.name for p in self.space.params if getattr(p, "mean", None) is not None]
        if normal:
            # a normal prior has no range to take a percentage of: its unit coordinate is a quantile
            raise ValueError(f"llm-pso-percent needs bounded ranges, but {normal} have normal priors "
                             "(tune.randn/qrandn); use llm-pso for such spaces")

    def _percent_space(self) -> Any:
        from raytune_llm.space import IntParam, SearchSpace

        assert self.space is not None
        return SearchSpace(tuple(p if p.kind == "categorical" else IntParam(p.name, 0, 100) for p in self.space.params))

    def _to_percent(self, config: dict[str, Any]) -> dict[str, Any]:
        assert self.space is not None
        return {p.name: config[p.name] if p.kind == "categorical" else int(round(100 * p.to_unit(config[p.name])))
                for p in self.space.params if p.name in config}

    def _from_percent(self, config: Any) -> Any:
        assert self.space is not None
        if not isinstance(config, dict):
            return config  # screening rejects it with its reason
        out = dict(config)
        for p in self.space.params:
            v = config.get(p.name)
            if p.kind != "categorical" and isinstance(v, (int, float)) and not isinstance(v, bool):
                out[p.name] = p.from_unit(min(max(v / 100, 0.0), 1.0))
        return out

    def _replacement_request(self, n: int, done: int) -> tuple[list[Any], dict[str, Any], int, dict[str, Any]]:
        from raytune_llm.proposals.swarm import ParticleView, Trial, swarm_messages

        assert self.space is not None
        pct = self._percent_space()
        best = [Trial(self._to_percent(t.config), t.value, t.origin) for t in self.best_trials(5)]
        recent = [Trial(self._to_percent(t.config), t.value, t.origin) for t in self.recent_trials(5)]
        particles = [ParticleView(self._to_percent(p.config), p.velocity, p.last, p.best) for p in self._particle_views()]
        messages = swarm_messages(pct, metric=self._metric, mode=self._mode, n=n, best=best, recent=recent,
                                  particles=particles, completed=done, budget=self.budget)
        messages[-1]["content"] = messages[-1]["content"].replace(
            "Search space (log scale means think in orders of magnitude):",
            "Search space: every number is a percentage of its parameter's range (0 = low end, 100 = high end):")
        return messages, space_schema(pct, n), 60 + 12 * self.space.dim * n, {}

    def _on_llm_answer(self, answer: Any, meta: dict[str, Any]) -> None:
        if isinstance(answer, dict) and isinstance(answer.get("configs"), list):
            answer = {"configs": [self._from_percent(c) for c in answer["configs"]]}
        super()._on_llm_answer(answer, meta)


register_searcher("llm-pso-percent",
                  lambda seed: PercentLLMPSOSearcher(seed=seed, llm="embedded", wait_for_llm=True, telemetry=False,
                                                     **PINNED),
                  overwrite=True)
register_searcher("llm-pso", llm_pso, overwrite=True)
register_searcher("llm-pso-async", lambda seed: llm_pso(seed, wait=False), overwrite=True)
register_searcher("llm-pso-edits", lambda seed: llm_pso(seed, ask="edits"), overwrite=True)
register_searcher("pso-random-edits", random_edits_pso, overwrite=True)
register_searcher("pso-random-configs", random_configs_pso, overwrite=True)
# the two options, surrogate_gate=True and pso_options={"reset_injected_velocity": True}, alone and together
# (llm-pso-gated-reset: LLMPSOSearcher's defaults since 2026-11-26), with their controls
_GATE = {"surrogate_gate": True}
_RESET = {"pso_options": {"reset_injected_velocity": True}}
_VARIANTS = {"gated": _GATE, "reset": _RESET, "gated-reset": {**_GATE, **_RESET}}
for _suffix, _options in _VARIANTS.items():
    register_searcher(f"llm-pso-{_suffix}", lambda seed, o=_options: llm_pso(seed, **o), overwrite=True)
    register_searcher(f"pso-random-configs-{_suffix}", lambda seed, o=_options: random_configs_pso(seed, **o),
                      overwrite=True)
    register_searcher(f"pso-near-best-{_suffix}", lambda seed, o=_options: near_best_pso(seed, **o), overwrite=True)
register_searcher("pso-random-configs-gated-reset-matched",
                  lambda seed: random_configs_pso(seed, cls=MatchedGateLLMPSOSearcher, **_VARIANTS["gated-reset"]),
                  overwrite=True)
# replace_fraction=1/8 instead of 1/4 (one particle of a swarm of 8 instead of two): a probe of whether
# replacing fewer particles disturbs a converging swarm less at high concurrency
_EIGHTH = {**_VARIANTS["gated-reset"], "replace_fraction": 0.125}
register_searcher("llm-pso-gated-reset-eighth", lambda seed: llm_pso(seed, **_EIGHTH), overwrite=True)
register_searcher("pso-random-configs-gated-reset-eighth", lambda seed: random_configs_pso(seed, **_EIGHTH),
                  overwrite=True)
register_searcher("pso-near-best", near_best_pso, overwrite=True)
register_searcher("pso", lambda seed: LLMPSOSearcher(seed=seed, llm=None, surrogate=None, telemetry=False),
                  overwrite=True)
#: ``pso-gp`` names the settings its committed results were run with (the defaults of 2026-12-06), pinned
PSO_GP = {"surrogate_options": {"acquisition": "ei", "warp": "standard"}, "pso_options": {"screen_candidates": 8}}


def _merge(base: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """``options`` on top of ``base``, ``surrogate_options`` and ``pso_options`` merged key by key."""
    merged = {**base, **options}
    for key in ("surrogate_options", "pso_options"):
        if key in base or key in options:
            merged[key] = {**base.get(key, {}), **options.get(key, {})}
    return merged


def pso_gp(seed: int, **options: Any) -> LLMPSOSearcher:
    """``pso-gp`` with ``options`` on top (``surrogate_options`` and ``pso_options`` merged key by key)."""
    return LLMPSOSearcher(seed=seed, llm=None, telemetry=False, **_merge(PSO_GP, options))


register_searcher("pso-gp", pso_gp, overwrite=True)
register_searcher("llm-pso-gp", lambda seed: LLMPSOSearcher(seed=seed, llm="embedded", wait_for_llm=True,
                                                            telemetry=False), overwrite=True)
# probes of pso-gp's settings, one change (or more) each; ``pso-gp-hedge-c32-autowarp`` is LLMPSOSearcher(llm=None)'s
# default since 2026-12-07 (GP-Hedge over EI and LCB, 32 screened candidates per move, the GP's warp chosen by
# its marginal likelihood), pinned here
_GP_VARIANTS = {"lcb": {"surrogate_options": {"acquisition": "lcb"}}, "half": {"replace_fraction": 0.5},
                "lcb-half": {"surrogate_options": {"acquisition": "lcb"}, "replace_fraction": 0.5},
                "rank": {"surrogate_options": {"warp": "rank"}},
                "rank-half": {"surrogate_options": {"warp": "rank"}, "replace_fraction": 0.5},
                "refine": {"surrogate_options": {"model_refine": 3}}, "c32": {"pso_options": {"screen_candidates": 32}},
                "notrust": {"pso_options": {"stagnation": None}},
                "hedge": {"surrogate_options": {"acquisition": "hedge"}},
                "hedge-c32": {"surrogate_options": {"acquisition": "hedge"}, "pso_options": {"screen_candidates": 32}},
                "hedge-c32-autowarp": {"surrogate_options": {"acquisition": "hedge", "warp": "auto"},
                                       "pso_options": {"screen_candidates": 32}}}
for _suffix, _options in _GP_VARIANTS.items():
    register_searcher(f"pso-gp-{_suffix}", lambda seed, o=_options: pso_gp(seed, **o), overwrite=True)
# probes of the defaults since 2026-12-07 (``pso-gp-hedge-c32-autowarp``), one change each (two for ``full``):
# do more screened candidates, more frequent or larger rounds of proposals (up to the whole swarm: a GP search
# that the swarm's moves only compete with), fewer or no proposals make it reach plain PSO's result in fewer
# evaluations?
_DEFAULT_PROBES = {"c64": {"pso_options": {"screen_candidates": 64}}, "every4": {"llm_every": 4},
                   "half": {"replace_fraction": 0.5}, "full": {"replace_fraction": 1.0, "llm_every": 4},
                   "eighth": {"replace_fraction": 0.125}, "noprop": {"surrogate_options": {"proposers": ()}},
                   "sub": {"pso_options": {"subspace": 0.5}},
                   "w48": {"surrogate_options": {"window": 48, "keep_best": 24}},
                   "w64": {"surrogate_options": {"window": 64, "keep_best": 48}}}



for _suffix, _options in _DEFAULT_PROBES.items():
    register_searcher(f"pso-gp-hedge-c32-autowarp-{_suffix}",
                      lambda seed, o=_merge(_GP_VARIANTS["hedge-c32-autowarp"], _options): pso_gp(seed, **o),
                      overwrite=True)


def llm_history(seed: int, *, llm: Any = "embedded") -> LLMSearcher:
    """The ``llm`` searcher: LLM answers waited for, so that runs count evaluations like the paper;
    ``llm`` replaceable for tests."""
    return LLMSearcher(seed=seed, llm=llm, wait_for_llm=True, batch_size=4, queue_target=0, telemetry=False)


register_searcher("llm", llm_history, overwrite=True)
register_searcher("sobol", lambda seed: LLMSearcher(seed=seed, llm=None, telemetry=False), overwrite=True)


# --------------------------------------------------------------------------- #
# More peers for issue 32's grid (beside the harness's optuna, hyperopt, nevergrad-pso, nevergrad-cma, random)
# --------------------------------------------------------------------------- #
def optuna_sampler_search(seed: int, sampler: str) -> Any:
    """Ray Tune's OptunaSearch with one of Optuna's samplers, seeded: ``"gp"`` (``GPSampler``, a Gaussian
    process with log-EI; it needs torch) or ``"cmaes"`` (``CmaEsSampler``; categorical parameters are
    sampled independently, as Optuna does, without a warning per trial)."""
    from raytune_llm._imports import require

    optuna = require("optuna", extra="bench", feature=f"the optuna-{sampler} searcher")
    if sampler == "gp":
        require("torch", extra="train", feature="Optuna's GPSampler (the optuna-gp searcher)")
        instance = optuna.samplers.GPSampler(seed=seed)
    elif sampler == "cmaes":
        instance = optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    else:
        raise ValueError(f"sampler must be 'gp' or 'cmaes', got {sampler!r}")
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return OptunaSearch(sampler=instance)


def hebo_search(seed: int) -> Any:
    """Ray Tune's HEBOSearch, seeded, where the ``hebo`` package is installed.

    hebo is in no extra: hebo 0.3.6 (the newest) pins numpy 1.24 and scipy 1.12, which would downgrade
    the environment the rest of the benchmarks run in. Without it this raises MissingExtraError, and
    the harness skips the searcher with that message.
    """
    try:
        import hebo  # noqa: F401 - only whether it imports
    except ImportError as exc:
        from raytune_llm.errors import MissingExtraError

        raise MissingExtraError(
            "the hebo searcher needs the hebo package, which no raytune-llm extra installs: hebo 0.3.6 pins "
            "numpy 1.24 and scipy 1.12 and would downgrade this environment; `pip install hebo` in an "
            f"environment of its own to run it ({exc})") from exc
    from ray.tune.search.hebo import HEBOSearch

    return HEBOSearch(random_state_seed=seed)


register_searcher("optuna-gp", lambda seed: optuna_sampler_search(seed, "gp"), overwrite=True)
register_searcher("optuna-cmaes", lambda seed: optuna_sampler_search(seed, "cmaes"), overwrite=True)
register_searcher("hebo", hebo_search, overwrite=True)
