"""raytune-llm's own searchers for the benchmark harness (``--import benchmarks.searchers``).

* ``llm-pso``: LLMPSOSearcher with the embedded model, ``wait_for_llm=True`` so that runs count
  evaluations the way the paper does (the LLM answer is used before the next suggestion).
* ``llm-pso-async``: the same without waiting (the production default: no time lost on the LLM).
* ``pso``: LLMPSOSearcher(llm=None), plain asynchronous PSO, the baseline of every LLM gain.
* ``llm``: LLMSearcher with the embedded model, batches of 4, waited for.
* ``sobol``: LLMSearcher(llm=None), its space-filling fallback alone.
"""

from __future__ import annotations

from benchmarks.harness import register_searcher
from raytune_llm import LLMPSOSearcher, LLMSearcher


def _llm_pso(seed: int, *, wait: bool = True) -> LLMPSOSearcher:
    return LLMPSOSearcher(seed=seed, llm="embedded", wait_for_llm=wait, telemetry=False)


register_searcher("llm-pso", _llm_pso, overwrite=True)
register_searcher("llm-pso-async", lambda seed: _llm_pso(seed, wait=False), overwrite=True)
register_searcher("pso", lambda seed: LLMPSOSearcher(seed=seed, llm=None, telemetry=False), overwrite=True)


def _llm_history(seed: int) -> LLMSearcher:
    # one LLM request per batch of 4, waited for, so that runs count evaluations like the paper
    return LLMSearcher(seed=seed, llm="embedded", wait_for_llm=True, batch_size=4, queue_target=0, telemetry=False)


register_searcher("llm", _llm_history, overwrite=True)
register_searcher("sobol", lambda seed: LLMSearcher(seed=seed, llm=None, telemetry=False), overwrite=True)
