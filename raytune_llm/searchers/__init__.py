"""Ray Tune searchers: thin adapters over the pure cores (raytune_llm.pso, raytune_llm.proposal_queue)."""

from raytune_llm.searchers.base import LLMSearcherBase
from raytune_llm.searchers.llm_history import LLMSearcher
from raytune_llm.searchers.llm_pso import LLMPSOSearcher
from raytune_llm.searchers.metallmix import MetaLLMiXSearcher

__all__ = ["LLMPSOSearcher", "LLMSearcher", "LLMSearcherBase", "MetaLLMiXSearcher"]
