from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# tests/support is importable as `support`
sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "0")


@pytest.fixture(scope="session")
def embedded():
    """The real embedded model (SmolLM2 through llama.cpp), loaded once per test session."""
    from raytune_llm.llm import get_backend

    return get_backend("embedded")
