"""raytune-llm's own searchers for the benchmark harness (``--import benchmarks.searchers``).

* ``llm-pso``: LLMPSOSearcher with the embedded model, ``wait_for_llm=True`` so that runs count
  evaluations the way the paper does (the LLM answer is used before the next suggestion).
* ``llm-pso-async``: the same without waiting (the production default: no time lost on the LLM).
* ``pso``: LLMPSOSearcher(llm=None), plain asynchronous PSO, the baseline of every LLM gain.
* ``llm-pso-edits``: ``llm-pso`` with ``ask="edits"`` (the LLM edits one parameter of a best trial).
* ``pso-random-edits``: the control of ``llm-pso-edits``: the same pipeline (edits, screening,
  surrogate ranking, replacement) with the LLM replaced by uniformly random edits. An LLM gain
  is real only where ``llm-pso-edits`` beats this as well as ``pso``.
* ``pso-random-configs``: the control of ``llm-pso``: the same pipeline (as many configurations as
  the LLM is asked for, screening, surrogate ranking, replacement) fed uniformly random
  configurations. An LLM gain is real only where ``llm-pso`` beats this as well as ``pso``.
* ``llm``: LLMSearcher with the embedded model, ``batch_size=4``, ``queue_target=0``, waited for. Measured
  (benchmarks/results/llm-cost-*): about one request per trial, most asking for 1 configuration,
  since each proposal taken from the queue triggers a request for the slot it frees.
* ``sobol``: LLMSearcher(llm=None), its space-filling fallback alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.harness import register_searcher
from raytune_llm import LLMPSOSearcher, LLMSearcher
from raytune_llm.llm.testing import ScriptedBackend


def llm_pso(seed: int, *, wait: bool = True, llm: Any = "embedded", ask: str = "configs") -> LLMPSOSearcher:
    """The ``llm-pso`` searcher (``llm-pso-async`` with ``wait=False``); ``llm`` replaceable for tests."""
    return LLMPSOSearcher(seed=seed, llm=llm, wait_for_llm=wait, ask=ask, telemetry=False)


def _random_answers_pso(seed: int, stream: int, ask: str,
                        answer: Callable[[Any, dict[str, Any], np.random.Generator], dict[str, Any]]) -> LLMPSOSearcher:
    """``llm-pso`` (asked for ``ask``) with the LLM replaced by ``answer(space, schema, rng)``,
    seeded by ``(seed, stream)``: the same pipeline fed answers that owe nothing to a model."""
    rng = np.random.default_rng([seed, stream])
    searcher: list[LLMPSOSearcher] = []
    backend = ScriptedBackend([lambda messages, schema: answer(searcher[0].space, schema, rng)])
    searcher.append(llm_pso(seed, llm=backend, ask=ask))
    return searcher[0]


def _random_edits(space: Any, schema: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    items = schema["properties"]["edits"]
    n, n_base = items["minItems"], items["items"]["properties"]["trial"]["maximum"]
    edits = []
    for _ in range(n):
        param = str(rng.choice(space.names))
        edits.append({"trial": int(rng.integers(1, n_base + 1)), "param": param,
                      "value": space.flat_from_unit(rng.random(space.dim))[param]})
    return {"edits": edits}


def _random_configs(space: Any, schema: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    n = schema["properties"]["configs"]["minItems"]
    return {"configs": [space.flat_from_unit(rng.random(space.dim)) for _ in range(n)]}


def random_edits_pso(seed: int) -> LLMPSOSearcher:
    """``pso-random-edits``: ``llm-pso-edits`` with uniformly random edits instead of the LLM's."""
    return _random_answers_pso(seed, 17, "edits", _random_edits)


def random_configs_pso(seed: int) -> LLMPSOSearcher:
    """``pso-random-configs``: ``llm-pso`` with uniformly random configurations instead of the LLM's."""
    return _random_answers_pso(seed, 19, "configs", _random_configs)


register_searcher("llm-pso", llm_pso, overwrite=True)
register_searcher("llm-pso-async", lambda seed: llm_pso(seed, wait=False), overwrite=True)
register_searcher("llm-pso-edits", lambda seed: llm_pso(seed, ask="edits"), overwrite=True)
register_searcher("pso-random-edits", random_edits_pso, overwrite=True)
register_searcher("pso-random-configs", random_configs_pso, overwrite=True)
register_searcher("pso", lambda seed: LLMPSOSearcher(seed=seed, llm=None, telemetry=False), overwrite=True)


def llm_history(seed: int, *, llm: Any = "embedded") -> LLMSearcher:
    """The ``llm`` searcher: LLM answers waited for, so that runs count evaluations like the paper;
    ``llm`` replaceable for tests."""
    return LLMSearcher(seed=seed, llm=llm, wait_for_llm=True, batch_size=4, queue_target=0, telemetry=False)


register_searcher("llm", llm_history, overwrite=True)
register_searcher("sobol", lambda seed: LLMSearcher(seed=seed, llm=None, telemetry=False), overwrite=True)
