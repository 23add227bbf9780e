from __future__ import annotations

import pytest
from conformance.suite import ObjectChoicesConformance, SearcherConformance

from raytune_llm import LLMSearcher
from raytune_llm.llm.testing import ScriptedBackend


def FACTORY(seed, **kw):  # noqa: N802 - imported by name in a subprocess
    return LLMSearcher(seed=seed, llm=None, telemetry=False, **kw)


def scripted_factory(seed, **kw):
    import numpy as np

    rng = np.random.default_rng(seed)

    def answer(messages, schema):  # a deterministic LLM proposing around the optimum
        n = schema["properties"]["configs"]["minItems"]
        return {"configs": [{"x": float(np.clip(0.3 + rng.normal(0, 0.1), 0, 1)), "n": int(rng.integers(3, 8)),
                             "act": "b", "lr": float(10 ** rng.uniform(-3, -2))} for _ in range(n)]}

    return LLMSearcher(seed=seed, llm=ScriptedBackend([answer]), wait_for_llm=True, telemetry=False, **kw)


class TestSobolOnly(SearcherConformance, ObjectChoicesConformance):
    @pytest.fixture
    def make_searcher(self):
        return FACTORY


class TestWithScriptedLLM(SearcherConformance, ObjectChoicesConformance):
    factory_name = "scripted_factory"

    @pytest.fixture
    def make_searcher(self):
        return scripted_factory
