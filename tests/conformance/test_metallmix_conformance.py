"""MetaLLMiXSearcher in the conformance suite: a warm start from a real (small) meta-dataset, then LLM-PSO
(classical) takes over; once with the meta-learner alone, once with a scripted LLM recommender and judge."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
from conformance.suite import ObjectChoicesConformance, SearcherConformance
from support.metastores import build_store, features

from raytune_llm import LLMPSOSearcher, MetaLLMiXSearcher
from raytune_llm.llm.testing import ScriptedBackend
from raytune_llm.meta import MetaLearner

_DIR = tempfile.mkdtemp(prefix="metallmix-conformance-")
atexit.register(shutil.rmtree, _DIR, True)
STORE = build_store(Path(_DIR) / "meta.sqlite")
LEARNER = MetaLearner(seed=0).fit(STORE, task="image-classification")  # fitted once, shared (read-only)
TARGET = features(5, 1000)


def FACTORY(seed, **kw):  # noqa: N802 - imported by name in a subprocess
    return MetaLLMiXSearcher(meta=STORE, features=TARGET, task="image-classification", learner=LEARNER, llm=None,
                             seed=seed, telemetry=False, n_warm=3,
                             inner=LLMPSOSearcher(llm=None, seed=seed, telemetry=False), **kw)


def _respond(messages, schema):
    if "configuration" in schema["properties"]:
        return {"model": "quad", "configuration": {"x": 0.33, "n": 5, "act": "b", "lr": 0.003},
                "expected_metric": 0.02, "explanation": "beta and gamma did best near x=0.3 with act=b."}
    return {c: {"score": 4, "reason": "consistent"} for c in ("format", "accuracy", "completeness")}


def _scripted_factory(seed, **kw):
    return MetaLLMiXSearcher(meta=STORE, features=TARGET, task="image-classification", learner=LEARNER,
                             llm=ScriptedBackend([_respond]), seed=seed, telemetry=False, n_warm=3,
                             inner=LLMPSOSearcher(llm=None, seed=seed, telemetry=False), **kw)


class TestMetaLearnerWarmStart(SearcherConformance, ObjectChoicesConformance):
    @pytest.fixture
    def make_searcher(self):
        return FACTORY


class TestScriptedRecommender(SearcherConformance):
    factory_name = "_scripted_factory"

    @pytest.fixture
    def make_searcher(self):
        return _scripted_factory

    def test_the_recommendation_is_the_first_trial(self, make_searcher):
        from conformance.suite import drive, prepared

        s = prepared(make_searcher, 0)
        first = drive(s, 4)[0]
        assert s.recommendation.path == "llm" and first["x"] == 0.33
        assert [h["origin"] for h in s.history] == ["llm", "meta-learner", "meta-learner", "inner"]
