"""Ray Tune searchers (thin adapters over the pure cores in raytune_llm.pso and friends)."""

from raytune_llm.searchers.llm_pso import LLMPSOSearcher

__all__ = ["LLMPSOSearcher"]
