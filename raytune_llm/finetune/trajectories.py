"""Search runs in-process (no Ray), with every request the searcher would send to its LLM recorded.

The searchers themselves build the prompts: a run drives a real
:class:`~raytune_llm.searchers.LLMPSOSearcher` (plain asynchronous PSO underneath) or
:class:`~raytune_llm.searchers.LLMSearcher` (its space-filling fallback, i.e. random search) through
``suggest``/``on_trial_complete``, with an LLM link that records each request instead of sending it.
So a training prompt is byte for byte what the searcher sends at that point of a run, and the run
itself is the classical search (no answer ever arrives).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from raytune_llm.searchers._llm_link import LLMLink
from raytune_llm.space import SearchSpace, flatten

#: The searchers a run can use: ``"pso"`` (swarm prompts) and ``"random"`` (history prompts).
SEARCHERS: tuple[str, ...] = ("pso", "random")


class _NeverAnswers:
    """The backend of a recording link: it is never called (the link sends nothing)."""

    spec = "recording"

    def complete_json(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a recording link never sends requests")


class _RecordingLink(LLMLink):
    """An :class:`LLMLink` that keeps each request the searcher builds and sends none of them."""

    def __init__(self, on_request: Callable[[list[dict[str, Any]], dict[str, Any], str], None]) -> None:
        super().__init__(_NeverAnswers())
        self._on_request = on_request

    def submit(self, messages: list[dict[str, Any]], schema: dict[str, Any], *, max_tokens: int,
               temperature: float = 0.7, tag: str, meta: Mapping[str, Any]) -> bool:
        self._on_request(messages, schema, tag)
        return False  # not sent: the searcher goes on with its classical core


@dataclass
class Request:
    """One request a searcher built: its messages, answer schema and when it was built.

    Attributes:
        messages: the chat messages (system, user) exactly as the searcher built them.
        schema: the JSON schema of the answer.
        tag: the searcher's request tag (``"pso-replace"``, ``"history"``).
        done: trials completed when it was built (the prompt shows ``history[:done]``).
    """

    messages: list[dict[str, Any]]
    schema: dict[str, Any]
    tag: str
    done: int

    @property
    def n(self) -> int:
        """Configurations asked for (the schema's ``configs`` array length), 0 when it asks for none."""
        items = self.schema.get("properties", {}).get("configs", {})
        return int(items.get("minItems", 0))


@dataclass
class Trajectory:
    """A finished run: the completed trials in order and the requests built along the way.

    Attributes:
        history: ``{"config" (flat), "value" (None: failed)}`` per completed trial, in order.
        requests: the recorded requests.
        searcher: ``"pso"`` or ``"random"``.
    """

    history: list[dict[str, Any]]
    requests: list[Request] = field(default_factory=list)
    searcher: str = "pso"


def _searcher(kind: str, *, space: SearchSpace, metric: str, mode: str, seed: int, budget: int,
              points: Sequence[Mapping[str, Any]] | None, task: str) -> Any:
    from raytune_llm.searchers import LLMPSOSearcher, LLMSearcher

    common = {"space": space, "metric": metric, "mode": mode, "seed": seed, "llm": None, "max_evaluations": budget,
              "points_to_evaluate": list(points or []) or None, "telemetry": False}
    if kind == "pso":
        return LLMPSOSearcher(**common)
    if kind == "random":
        return LLMSearcher(task=task, **common)
    raise ValueError(f"searcher must be one of {SEARCHERS}, got {kind!r}")


def run_search(
    objective: Callable[[dict[str, Any]], float | None],
    *,
    space: Mapping[str, Any] | SearchSpace,
    metric: str,
    mode: str,
    searcher: str = "pso",
    budget: int = 60,
    seed: int = 0,
    points: Sequence[Mapping[str, Any]] | None = None,
    task: str = "",
) -> Trajectory:
    """Run one search to its budget, recording the LLM requests it builds.

    Args:
        objective: flat configuration -> metric value (``None`` or NaN: a failed trial).
        space: the Tune ``param_space`` or a :class:`SearchSpace`.
        metric: the metric name; mode: ``"min"`` or ``"max"``.
        searcher: one of :data:`SEARCHERS`.
        budget: trials to run.
        seed: the searcher's seed.
        points: configurations to evaluate first, in order (a replay of past trials: give them all
            and a ``budget`` of their number).
        task: the task line of the history prompt.

    Returns:
        The :class:`Trajectory`.
    """
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    space = SearchSpace.from_tune(space)
    searcher_obj = _searcher(searcher, space=space, metric=metric, mode=mode, seed=seed, budget=budget,
                             points=points, task=task)
    requests: list[Request] = []
    searcher_obj._llm = _RecordingLink(
        lambda messages, schema, tag: requests.append(Request(messages, schema, tag, len(searcher_obj.history))))
    history: list[dict[str, Any]] = []
    try:
        for i in range(budget):
            trial_id = f"t{i:05d}"
            config = searcher_obj.suggest(trial_id)
            if not isinstance(config, dict):  # FINISHED or nothing to suggest
                break
            flat = {k: v for k, v in flatten(config).items() if k in space.names}
            value = objective(flat)
            ok = value is not None and math.isfinite(float(value))
            searcher_obj.on_trial_complete(trial_id, {metric: float(value)} if ok else None, error=not ok)
            history.append({"config": flat, "value": float(value) if ok else None})
    finally:
        searcher_obj._llm.close()
    return Trajectory(history=history, requests=requests, searcher=searcher)


__all__ = ["SEARCHERS", "Request", "Trajectory", "run_search"]
