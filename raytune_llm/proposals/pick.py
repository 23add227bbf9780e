"""The pick prompt: a history with values and numbered candidates; the model names the best one.

Asking a model to *rank* candidates that a cheap generator made, instead of writing new
configurations, is a second way of using it in a search. The rank probe
(``python -m benchmarks.llm_rank_probe``) measures how well a model does it, and
:func:`raytune_llm.finetune.examples.pick_examples` trains a model on it; both build the prompt
here, so what is measured is what is trained.

Example:
    >>> from raytune_llm.space import FloatParam, SearchSpace
    >>> space = SearchSpace((FloatParam("x", 0.0, 1.0),))
    >>> msgs = pick_messages(space, [({"x": 0.2}, 1.5), ({"x": 0.9}, 0.3)], [{"x": 0.8}, {"x": 0.1}],
    ...                      task="minimise f", metric="loss", mode="min")
    >>> msgs[1]["content"].splitlines()[-1]
    'Which candidate will most likely give the lowest loss? Answer {"pick": N} with N from 1 to 2.'
    >>> pick_answer(2)
    '{"pick":2}'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from raytune_llm.proposals.render import format_config, format_value, space_table
from raytune_llm.space import SearchSpace

__all__ = ["PICK_SYSTEM", "pick_answer", "pick_messages", "pick_schema"]

PICK_SYSTEM = "You are a machine-learning expert who tunes hyperparameters. You answer with JSON only."


def pick_messages(space: SearchSpace, history: Sequence[tuple[Mapping[str, Any], float]],
                  candidates: Sequence[Mapping[str, Any]], *, task: str, metric: str,
                  mode: str) -> list[dict[str, str]]:
    """The chat messages asking which candidate is best (history best first, candidates from 1).

    Raises:
        ValueError: ``mode`` is not ``"min"``/``"max"``, or there are no candidates.
    """
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    if not candidates:
        raise ValueError("pick_messages needs at least one candidate")
    goal, best = ("minimise", "lowest") if mode == "min" else ("maximise", "highest")
    hist = sorted(history, key=lambda cv: cv[1] if mode == "min" else -cv[1])
    lines = [f"Task: {task}", f"Goal: {goal} {metric}.", "Search space:", space_table(space),
             "Evaluated so far (best first):"]
    lines += [f"- {metric}={format_value(v)} | {format_config(space, dict(c))}" for c, v in hist]
    lines.append("Candidates, not evaluated yet:")
    lines += [f"{i}. {format_config(space, dict(c))}" for i, c in enumerate(candidates, 1)]
    lines.append(f"Which candidate will most likely give the {best} {metric}? "
                 f'Answer {{"pick": N}} with N from 1 to {len(candidates)}.')
    return [{"role": "system", "content": PICK_SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def pick_schema(m: int) -> dict[str, Any]:
    """The answer's JSON schema: ``{"pick": integer 1..m}``."""
    return {"type": "object", "properties": {"pick": {"type": "integer", "minimum": 1, "maximum": m}},
            "required": ["pick"], "additionalProperties": False}


def pick_answer(n: int) -> str:
    """The answer naming candidate ``n`` (1-based), as a trained model should write it."""
    return f'{{"pick":{int(n)}}}'
