from __future__ import annotations

from raytune_llm.proposals import screen_configs
from raytune_llm.space import CategoricalParam, FloatParam, IntParam, SearchSpace

SPACE = SearchSpace((FloatParam("lr", 1e-4, 1e-1, log=True), IntParam("n", 1, 4), CategoricalParam("a", ("x", "y"))))


def test_screening_repairs_rejects_and_deduplicates():
    seen = {SPACE.key({"lr": 0.01, "n": 2, "a": "x"})}
    items = [{"lr": 0.01, "n": 2, "a": "x"},          # already tried
             {"lr": "0.02", "n": 9, "a": "Y"},         # repaired
             {"lr": 0.02, "n": 4, "a": "y"},           # duplicate of the repaired one
             {"lr": 0.03, "n": 1, "a": "z"},           # unknown category
             "not a config",
             {"lr": 0.05, "n": 3, "a": "x"}]
    out = screen_configs(items, SPACE, seen=seen)
    assert out.accepted == [{"lr": 0.02, "n": 4, "a": "y"}, {"lr": 0.05, "n": 3, "a": "x"}]
    assert out.repaired == 1 and len(out.rejected) == 4
    reasons = " ".join(r for _, r in out.rejected)
    assert "already tried" in reasons and "'a' must be one of" in reasons and "not an object" in reasons


def test_screening_limit():
    items = [{"lr": 0.001 * k, "n": 1, "a": "x"} for k in range(1, 6)]
    out = screen_configs(items, SPACE, limit=2)
    assert len(out.accepted) == 2 and len(out.rejected) == 3
