"""A conformance suite every searcher of raytune-llm plugs into.

Subclass :class:`SearcherConformance` in a test module and define the ``make_searcher`` fixture
returning a factory ``(seed, **kwargs) -> Searcher`` (kwargs: ``points_to_evaluate``, ``mode``).
The suite drives searchers in-process (no Ray cluster) on a quadratic with its minimum at 0.3.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

from ray import tune
from ray.tune.search import ConcurrencyLimiter, Searcher

SPACE = {"x": tune.uniform(0.0, 1.0), "n": tune.randint(1, 9), "act": tune.choice(["a", "b", "c"]),
         "lr": tune.loguniform(1e-4, 1e-1), "fixed": 7}


def objective(config):
    return (config["x"] - 0.3) ** 2 + 0.01 * abs(config["n"] - 5) + (0.0 if config["act"] == "b" else 0.05) + (
        math.log10(config["lr"]) + 2.5) ** 2 * 0.01


def drive(searcher, n, *, mode="min", start=0, fail=()):
    """Run ``n`` sequential trials; return the suggested configs."""
    configs = []
    for i in range(start, start + n):
        tid = f"t{i}"
        config = searcher.suggest(tid)
        assert config not in (None, Searcher.FINISHED), config
        configs.append(config)
        if i in fail:
            searcher.on_trial_complete(tid, None, error=True)
        else:
            value = objective(config)
            searcher.on_trial_complete(tid, {"score": value if mode == "min" else -value})
    return configs


def prepared(factory, seed, mode="min", **kw):
    s = factory(seed, mode=mode, **kw)
    s.set_search_properties("score", mode, dict(SPACE))
    return s


class SearcherConformance:
    """Behaviour every searcher must have; see the module docstring.

    ``factory_name`` names the module-level factory a subprocess imports to check reproducibility
    across processes.
    """

    factory_name = "FACTORY"

    def test_configs_are_valid_and_complete(self, make_searcher):
        s = prepared(make_searcher, 0)
        for config in drive(s, 12):
            assert set(config) == {"x", "n", "act", "lr", "fixed"} and config["fixed"] == 7
            assert 0 <= config["x"] <= 1 and 1 <= config["n"] <= 8 and config["act"] in "abc"

    def test_same_seed_same_trials(self, make_searcher):
        assert drive(prepared(make_searcher, 3), 25) == drive(prepared(make_searcher, 3), 25)

    def test_different_seeds_differ(self, make_searcher):
        assert drive(prepared(make_searcher, 1), 10) != drive(prepared(make_searcher, 2), 10)

    def test_save_restore_continues_identically(self, make_searcher, tmp_path):
        whole = prepared(make_searcher, 5)
        expected = drive(whole, 30)
        first = prepared(make_searcher, 5)
        head = drive(first, 14)
        first.save(str(tmp_path / "ckpt.json"))
        second = prepared(make_searcher, 5)
        second.restore(str(tmp_path / "ckpt.json"))
        assert head + drive(second, 16, start=14) == expected

    def test_same_trials_in_another_process(self, make_searcher, request):
        here = drive(prepared(make_searcher, 11), 12)
        module = request.module.__name__
        code = textwrap.dedent(f"""
            import json, sys
            sys.path.insert(0, {str(request.config.rootpath / 'tests')!r})
            import {module} as m
            from conformance.suite import drive, prepared
            print(json.dumps(drive(prepared(getattr(m, {self.factory_name!r}), 11), 12)))
        """)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                             cwd=str(request.config.rootpath))
        assert out.returncode == 0, out.stderr[-2000:]
        assert json.loads(out.stdout.strip().splitlines()[-1]) == json.loads(json.dumps(here))

    def test_min_and_max_find_the_same_optimum(self, make_searcher):
        for mode in ("min", "max"):
            s = prepared(make_searcher, 0, mode=mode)
            drive(s, 60, mode=mode)
            assert abs(s.best["config"]["x"] - 0.3) < 0.15, (mode, s.best)
            assert (s.best["value"] >= 0) == (mode == "min")

    def test_bad_results_do_not_corrupt_the_search(self, make_searcher):
        s = prepared(make_searcher, 0)
        outcomes = [{"score": float("nan")}, {"score": float("inf")}, {"other": 1.0}, None, {"score": "n/a"}]
        for i, result in enumerate(outcomes):
            s.suggest(f"bad{i}")
            s.on_trial_complete(f"bad{i}", result, error=result is None)
        configs = drive(s, 20)
        assert len(s.history) == 25 and all(h["value"] is None for h in s.history[:5])
        assert s.best is not None and math.isfinite(s.best["value"]) and len(configs) == 20

    def test_restore_with_a_pending_trial(self, make_searcher, tmp_path):
        s = prepared(make_searcher, 2)
        drive(s, 5)
        pending = s.suggest("pending")
        s.save(str(tmp_path / "ckpt.json"))
        restored = prepared(make_searcher, 2)
        restored.restore(str(tmp_path / "ckpt.json"))
        # the searcher's own state came back whole: its core (swarm, queue, warm start), the
        # trial in flight, the history and the counters; a part silently started afresh differs
        assert restored.get_state() == json.loads((tmp_path / "ckpt.json").read_text())
        restored.on_trial_complete("pending", {"score": objective(pending)})
        assert restored.history[-1]["trial_id"] == "pending" and len(restored.history) == 6
        drive(restored, 5, start=100)

    def test_max_concurrency_is_honoured(self, make_searcher):
        inner = prepared(make_searcher, 0)
        s = ConcurrencyLimiter(inner, max_concurrent=12)
        assert inner._max_concurrency == 12  # the searcher was told, and can size itself
        live = [s.suggest(f"c{i}") for i in range(14)]
        assert sum(c is not None for c in live) == 12  # every slot filled (a swarm of 8 grew to 12)
        s.on_trial_complete("c0", {"score": 1.0})
        assert s.suggest("c99") is not None

    def test_points_to_evaluate_come_first(self, make_searcher):
        points = [{"x": 0.1, "n": 2, "act": "c", "lr": 0.01}, {"x": 0.9, "n": 8, "act": "a", "lr": 0.001}]
        s = prepared(make_searcher, 0, points_to_evaluate=points)
        first = drive(s, 4)
        assert [{k: c[k] for k in ("x", "n", "act", "lr")} for c in first[:2]] == points
        assert s.history[0]["origin"] == "user"


class Act:
    """A non-JSON category (a class), as users pass activation classes to tune.choice."""


OBJECT_SPACE = {"x": __import__("ray").tune.uniform(0.0, 1.0),
                "shape": __import__("ray").tune.choice([(32, 32), (64,)]),
                "act": __import__("ray").tune.choice([Act, int])}


class ObjectChoicesConformance:
    """Save/restore with tuple and object categories, and restore before the space is known."""

    def test_tuple_and_object_choices_survive_save_restore(self, make_searcher, tmp_path):
        def run(s, n, start=0):
            out = []
            for i in range(start, start + n):
                c = s.suggest(f"o{i}")
                out.append(c)
                s.on_trial_complete(f"o{i}", {"score": c["x"] + (0.1 if c["act"] is int else 0)})
            return out

        whole = make_searcher(4)
        whole.set_search_properties("score", "min", dict(OBJECT_SPACE))
        expected = run(whole, 16)
        first = make_searcher(4)
        first.set_search_properties("score", "min", dict(OBJECT_SPACE))
        head = run(first, 7)
        pending = first.suggest("pending")
        first.save(str(tmp_path / "s.json"))
        second = make_searcher(4)
        second.restore(str(tmp_path / "s.json"))  # before the space is known, as restore_from_dir does
        second.set_search_properties("score", "min", dict(OBJECT_SPACE))
        second.on_trial_complete("pending", {"score": pending["x"]})
        assert isinstance(second.history[0]["config"]["shape"], tuple)
        assert second.history[-1]["trial_id"] == "pending" and len(second.history) == 8
        tail = run(second, 4, start=100)
        assert all(c["act"] in (Act, int) and c["shape"] in ((32, 32), (64,)) for c in head + tail)
        assert [c["x"] for c in head] == [c["x"] for c in expected[:7]]  # same seed, same start
