"""raytune-llm: LLM-guided hyperparameter search for Ray Tune.

Importing the package is cheap: searchers (which import Ray) load on first use.
"""

from __future__ import annotations

from typing import Any

from raytune_llm.errors import (
    ConfigValidationError,
    LLMConfigError,
    LLMError,
    MissingExtraError,
    RaytuneLLMError,
    SearchSpaceError,
)
from raytune_llm.space import SearchSpace

__version__ = "0.1.0"

__all__ = [
    "ConfigValidationError", "LLMConfigError", "LLMError", "LLMPSOSearcher", "LLMSearcher", "MetaLLMiXSearcher",
    "MissingExtraError", "RaytuneLLMError", "SearchSpace", "SearchSpaceError", "__version__",
]

_LAZY = {"LLMPSOSearcher": "raytune_llm.searchers.llm_pso", "LLMSearcher": "raytune_llm.searchers.llm_history",
         "MetaLLMiXSearcher": "raytune_llm.searchers.metallmix"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'raytune_llm' has no attribute {name!r}")
