from __future__ import annotations

import pytest
from conformance.suite import ObjectChoicesConformance, SearcherConformance

from raytune_llm import LLMPSOSearcher
from raytune_llm.llm.testing import ScriptedBackend


def FACTORY(seed, **kw):  # noqa: N802 - imported by name in a subprocess
    return LLMPSOSearcher(seed=seed, llm=None, telemetry=False, **kw)


def _scripted_factory(seed, **kw):
    # a deterministic LLM that always proposes the same two configurations: the LLM phase runs
    answer = {"configs": [{"x": 0.31, "n": 5, "act": "b", "lr": 0.003},
                          {"x": 0.5, "n": 4, "act": "b", "lr": 0.01},
                          {"x": 0.2, "n": 6, "act": "b", "lr": 0.002},
                          {"x": 0.33, "n": 5, "act": "a", "lr": 0.004}]}
    return LLMPSOSearcher(seed=seed, llm=ScriptedBackend([answer]), wait_for_llm=True, telemetry=False,
                          warmup=8, llm_every=8, **kw)


class TestSurrogatePSO(SearcherConformance, ObjectChoicesConformance):
    @pytest.fixture
    def make_searcher(self):
        return FACTORY


class TestWithScriptedLLM(SearcherConformance, ObjectChoicesConformance):
    factory_name = "_scripted_factory"

    @pytest.fixture
    def make_searcher(self):
        return _scripted_factory


def _plain_factory(seed, **kw):
    # the control: plain asynchronous PSO without the surrogate
    return LLMPSOSearcher(seed=seed, llm=None, telemetry=False, surrogate=None, **kw)


class TestPlainPSOControl(SearcherConformance, ObjectChoicesConformance):
    factory_name = "_plain_factory"

    @pytest.fixture
    def make_searcher(self):
        return _plain_factory
