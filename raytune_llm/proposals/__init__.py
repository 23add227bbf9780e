"""What is sent to an LLM and what comes back: prompts, response schemas, screening of answers."""

from raytune_llm.proposals.screening import Screened, screen_configs

__all__ = ["Screened", "screen_configs"]
