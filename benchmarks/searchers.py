"""raytune-llm's own searchers for the benchmark harness (``--import benchmarks.searchers``).

* ``llm-pso``: LLMPSOSearcher with the embedded model, ``wait_for_llm=True`` so that runs count
  evaluations the way the paper does (the LLM answer is used before the next suggestion).
* ``llm-pso-async``: the same without waiting (the production default: no time lost on the LLM).
* ``pso``: LLMPSOSearcher(llm=None), plain asynchronous PSO, the baseline of every LLM gain.
"""

from __future__ import annotations

from benchmarks.harness import register_searcher
from raytune_llm import LLMPSOSearcher


def _llm_pso(seed: int, *, wait: bool = True) -> LLMPSOSearcher:
    return LLMPSOSearcher(seed=seed, llm="embedded", wait_for_llm=wait, telemetry=False)


register_searcher("llm-pso", _llm_pso, overwrite=True)
register_searcher("llm-pso-async", lambda seed: _llm_pso(seed, wait=False), overwrite=True)
register_searcher("pso", lambda seed: LLMPSOSearcher(seed=seed, llm=None, telemetry=False), overwrite=True)
