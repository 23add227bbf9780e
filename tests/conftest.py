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


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A small MetaLLMiX meta-dataset (``support/metastores.py``), one per test module that asks."""
    from support.metastores import build_store

    s = build_store(tmp_path_factory.mktemp("meta") / "meta.sqlite")
    yield s
    s.close()


@pytest.fixture(scope="module")
def meta_path(tmp_path_factory):
    """The path of a small meta-dataset like :func:`store`'s, closed (for searchers that open it by path)."""
    from support.metastores import build_store

    path = tmp_path_factory.mktemp("meta") / "meta.sqlite"
    build_store(path).close()
    return str(path)


@pytest.fixture(scope="module")
def learner(store):
    """A meta-learner fitted on :func:`store`'s image-classification experiments."""
    from raytune_llm.meta import MetaLearner

    return MetaLearner(seed=0).fit(store, task="image-classification")
