"""The runnable examples in docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["raytune_llm.space", "raytune_llm.proposals.render", "raytune_llm.llm.gbnf", "raytune_llm.pso",
           "raytune_llm.llm.worker", "raytune_llm.llm", "raytune_llm.llm.openai_backend",
           "raytune_llm.searchers.llm_pso", "raytune_llm.searchers.llm_history",
           "raytune_llm._io", "raytune_llm._checks", "raytune_llm._imports"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert tried > 0, f"{name} has no runnable example"
    assert failures == 0
