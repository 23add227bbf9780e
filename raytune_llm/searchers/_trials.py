"""The trials of one search: in flight, completed, the best so far, counters, and the telemetry they feed.

One :class:`TrialLog` per searcher (raytune-llm's own and :class:`MetaLLMiXSearcher` alike). It knows
configurations only as flat dicts with their keys (the space's de-duplication keys), and the
direction of the metric only as the ``mode`` passed to each call: the searcher owns both.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from raytune_llm.proposals.swarm import Trial
from raytune_llm.telemetry import Telemetry

if TYPE_CHECKING:
    from raytune_llm.searchers._llm_link import LLMOutcome

#: what every searcher counts about its LLM's answers
LLM_COUNTERS = ("llm_accepted", "llm_rejected", "llm_improved", "llm_failed", "llm_used")
#: what is counted per origin (init, pso, trust, llm, model, perturb, user, warm-start): proposals made,
#: proposals a gate accepted, trials completed, and trials that improved the best so far
ORIGIN_STATS = ("proposed", "accepted", "trials", "improved")


def cost(value: float | None, mode: str | None) -> float:
    """``value`` as a cost to minimise: negated for ``mode="max"``, ``inf`` for a failed trial."""
    if value is None:
        return math.inf
    return value if mode == "min" else -value


def metric_value(result: Mapping[str, Any] | None, metric: str | None) -> float | None:
    """The finite number a trial reported for ``metric``, or ``None`` (missing, not a number, NaN, inf)."""
    if not result or metric not in result:
        return None
    try:
        value = float(result[metric])
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class TrialLog:
    """In-flight trials (by trial id), the completed ones in order (``history``), the best value,
    counters, and the telemetry each completion and each LLM answer writes.

    Args:
        telemetry: where scalars and events go.
        counters: the counters' names, each starting at 0 (:data:`LLM_COUNTERS` first).
    """

    def __init__(self, telemetry: Telemetry, counters: Iterable[str] = ()) -> None:
        self.telemetry = telemetry
        self.live: dict[str, dict[str, Any]] = {}
        self.history: list[dict[str, Any]] = []
        self.keys: set[str] = set()
        self.started = 0
        self.best_value: float | None = None
        self.counters: dict[str, int] = dict.fromkeys((*LLM_COUNTERS, *counters), 0)
        #: per origin, the :data:`ORIGIN_STATS` counts
        self.origins: dict[str, dict[str, int]] = {}
        #: origins whose proposals a gate counts (:meth:`count_proposals`); a trial of any other
        #: origin counts as proposed and accepted when it starts (or, never started here, when recorded)
        self.gated_origins: set[str] = set()

    # ------------------------------------------------------------------ trials
    def launch(self, trial_id: str, flat: dict[str, Any], *, key: str, origin: str, token: Any) -> None:
        """A trial starts with configuration ``flat`` (its space key ``key``)."""
        self.started += 1
        self.keys.add(key)
        self.live[trial_id] = {"token": token, "origin": origin, "config": flat}
        if origin not in self.gated_origins:
            self._bump(origin, proposed=1, accepted=1)

    def seen(self, key: Callable[[dict[str, Any]], str]) -> set[str]:
        """Keys of the tried and in-flight configurations (``key``: the space's key function)."""
        return self.keys | {key(live["config"]) for live in self.live.values()}

    def record(self, config: dict[str, Any], value: float | None, origin: str, trial_id: str | None, *,
               key: str, mode: str | None) -> int:
        """A trial completed (``value`` ``None``: failed); write its telemetry. Returns its step."""
        self.history.append({"config": config, "value": value, "origin": origin, "trial_id": trial_id})
        self.keys.add(key)
        step = len(self.history)
        improved = value is not None and (self.best_value is None or cost(value, mode) < cost(self.best_value, mode))
        if improved:
            self.best_value = value
            if origin == "llm":
                self.counters["llm_improved"] += 1
        launched_here = trial_id is not None and origin != "warm-start"
        self._bump(origin, trials=1, improved=int(improved),
                   **({} if launched_here or origin in self.gated_origins else {"proposed": 1, "accepted": 1}))
        self.telemetry.event("trial", trial_id=trial_id, origin=origin, value=value, config=config,
                             improved=improved)
        self._write_origin(origin, step)
        if self.best_value is not None:
            self.telemetry.scalar("search/best", self.best_value, step)
        if value is not None:
            self.telemetry.scalar(f"search/value_{origin}", value, step)
        return step

    # ------------------------------------------------------------------ per origin
    def _bump(self, origin: str, **counts: int) -> None:
        stats = self.origins.setdefault(origin, dict.fromkeys(ORIGIN_STATS, 0))
        for name, n in counts.items():
            stats[name] += n

    def count_proposals(self, counts: Mapping[str, tuple[int, int]]) -> None:
        """A gate's round: ``{origin: (proposed, accepted)}``; written to telemetry (scalars
        ``origin/<origin>/<stat>`` and a ``proposals`` event)."""
        step = len(self.history)
        for origin, (proposed, accepted) in counts.items():
            self._bump(origin, proposed=int(proposed), accepted=int(accepted))
            self._write_origin(origin, step)
        self.telemetry.event("proposals", **{o: {"proposed": p, "accepted": a} for o, (p, a) in counts.items()})

    def _write_origin(self, origin: str, step: int) -> None:
        for name, n in self.origins.get(origin, {}).items():
            self.telemetry.scalar(f"origin/{origin}/{name}", n, step)

    def origin_stats(self) -> dict[str, dict[str, int]]:
        """Per origin: proposals made, accepted by the gate, trials completed, trials that improved the best."""
        return {origin: dict(stats) for origin, stats in sorted(self.origins.items())}

    # ------------------------------------------------------------------ LLM answers
    def note_llm(self, outcome: LLMOutcome) -> None:
        """Count a failed request, or write an answer's latency and tokens."""
        step = len(self.history)
        if outcome.error is not None:
            self.counters["llm_failed"] += 1
            self.telemetry.event("llm_failed", error=f"{type(outcome.error).__name__}: {outcome.error}")
            return
        usage = outcome.result.usage
        self.telemetry.scalar("llm/latency_s", usage.latency_s, step)
        self.telemetry.scalar("llm/completion_tokens", usage.completion_tokens, step)
        self.telemetry.scalar("llm/prompt_tokens", usage.prompt_tokens, step)

    def write_counters(self) -> None:
        """Every counter as an ``llm/<name>`` scalar at the current step."""
        step = len(self.history)
        for name, count in self.counters.items():
            self.telemetry.scalar(f"llm/{name}", count, step)

    # ------------------------------------------------------------------ results
    def scored(self) -> list[dict[str, Any]]:
        """Completed trials with a value."""
        return [h for h in self.history if h["value"] is not None]

    def best(self, mode: str | None) -> dict[str, Any] | None:
        """The best completed trial, or ``None``."""
        scored = self.scored()
        return min(scored, key=lambda h: cost(h["value"], mode)) if scored else None

    def best_trials(self, n: int, mode: str | None) -> list[Trial]:
        """The ``n`` best completed trials, best first."""
        scored = sorted(self.scored(), key=lambda h: cost(h["value"], mode))
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

    # ------------------------------------------------------------------ state
    def state(self, encode: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """The saved-state entries this log owns, configurations passed through ``encode``."""
        return {
            "live": {k: {**v, "config": encode(v["config"])} for k, v in self.live.items()},
            "history": [{**h, "config": encode(h["config"])} for h in self.history],
            "started": self.started,
            "best_value": self.best_value,
            "counters": dict(self.counters),
            "origins": self.origin_stats(),
        }

    def load_state(self, state: Mapping[str, Any], decode: Callable[[dict[str, Any]], dict[str, Any]],
                   key: Callable[[dict[str, Any]], str]) -> None:
        """Take back what :meth:`state` wrote (``decode`` undoes its ``encode``)."""
        self.live = {k: {**v, "config": decode(v["config"])} for k, v in state["live"].items()}
        self.history = [{**h, "config": decode(h["config"])} for h in state["history"]]
        self.started = int(state["started"])
        self.best_value = state["best_value"]
        self.counters = dict(state["counters"])
        self.keys = {key(h["config"]) for h in self.history} | {key(v["config"]) for v in self.live.values()}
        saved = state.get("origins")
        if saved is None:  # a state from before the per-origin counts: the trials, each as proposed and accepted
            saved = {}
            for h in self.history:
                stats = saved.setdefault(h["origin"], dict.fromkeys(ORIGIN_STATS, 0))
                for name in ("proposed", "accepted", "trials"):
                    stats[name] += 1
        self.origins = {o: {name: int(stats.get(name, 0)) for name in ORIGIN_STATS} for o, stats in saved.items()}
