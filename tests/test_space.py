from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ray import tune

from raytune_llm import SearchSpace
from raytune_llm.errors import ConfigValidationError, SearchSpaceError
from raytune_llm.proposals.render import config_schema, param_schema, space_grammar, space_schema, space_table
from raytune_llm.space import CategoricalParam, FloatParam, IntParam, flatten, unflatten

ALL_SAMPLERS = {
    "u": tune.uniform(-2.0, 3.0),
    "qu": tune.quniform(0.1, 0.9, 0.1),
    "lu": tune.loguniform(1e-5, 1e-1),
    "qlu": tune.qloguniform(1e-4, 1.0, 5e-5),
    "ri": tune.randint(1, 5),
    "qri": tune.qrandint(8, 64, 8),
    "lri": tune.lograndint(1, 1000),
    "qlri": tune.qlograndint(4, 512, 4),
    "ch": tune.choice(["relu", "tanh", "gelu"]),
    "rn": tune.randn(1.0, 2.0),
    "nested": {"opt": {"name": tune.choice(["adam", "sgd"]), "momentum": tune.uniform(0.0, 0.99)}},
    "epochs": 3,
    "tags": ["a", "b"],
}


@pytest.fixture(scope="module")
def space():
    return SearchSpace.from_tune(ALL_SAMPLERS)


def test_every_sampler_becomes_one_dimension(space):
    assert space.dim == 12
    assert space.names == sorted(space.names)
    assert space.constants == {"epochs": 3, "tags": ["a", "b"]}
    assert isinstance(space["u"], FloatParam) and not space["u"].log
    assert space["lu"].log and space["qlu"].log and space["qlu"].q == 5e-5
    assert space["rn"].mean == 1.0 and space["rn"].sd == 2.0


def test_tune_integer_bounds(space):
    # randint and lograndint exclude the upper bound, quantized ones include it (Tune's rules)
    assert (space["ri"].first, space["ri"].last) == (1, 4)
    assert (space["lri"].first, space["lri"].last) == (1, 999)
    assert (space["qri"].first, space["qri"].last, space["qri"].q) == (8, 64, 8)
    assert (space["qlri"].first, space["qlri"].last) == (4, 512)


def test_unit_corners_hit_the_bounds(space):
    low = space.from_unit(np.zeros(space.dim))
    high = space.from_unit(np.ones(space.dim))
    assert low["u"] == -2.0 and high["u"] == 3.0
    assert low["ri"] == 1 and high["ri"] == 4
    assert low["qri"] == 8 and high["qri"] == 64
    assert low["lri"] == 1 and high["lri"] == 999
    assert low["ch"] == "relu" and high["ch"] == "gelu"
    assert math.isclose(low["lu"], 1e-5) and math.isclose(high["lu"], 0.1)
    assert low["epochs"] == 3 and low["nested"]["opt"]["name"] == "adam"


def test_from_unit_is_always_valid_and_nested(space):
    rng = np.random.default_rng(0)
    for x in space.sample_unit(rng, 200):
        config = space.from_unit(x)
        assert space.check(config) == [], config
        assert set(config["nested"]["opt"]) == {"name", "momentum"}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=12, max_size=12))
def test_round_trip_config_unit_config(vector):
    space = SearchSpace.from_tune(ALL_SAMPLERS)
    config = space.from_unit(vector)
    again = space.from_unit(space.to_unit(config))
    flat, flat_again = flatten(config), flatten(again)
    for p in space.params:
        a, b = flat[p.name], flat_again[p.name]
        if p.kind == "float":
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (p.name, a, b)
        else:
            assert a == b, (p.name, a, b)


@settings(max_examples=200, deadline=None)
@given(st.integers(-50, 50), st.integers(0, 2000), st.integers(1, 7), st.booleans(), st.floats(0, 1))
def test_integer_params_round_trip(low, width, q, log, u):
    if log:
        low = abs(low) + 1
    try:
        p = IntParam("n", low, low + width, log=log, q=q)
    except SearchSpaceError:
        return  # no multiple of q in range
    v = p.from_unit(u)
    assert p.check(v) is None
    assert p.from_unit(p.to_unit(v)) == v


def test_log_int_follows_log_scale():
    p = IntParam("n", 1, 1000, log=True)
    assert 20 <= p.from_unit(0.5) <= 45  # geometric middle of 1..1000 is ~32


def test_randn_maps_through_quantiles(space):
    p = space["rn"]
    assert p.from_unit(0.5) == pytest.approx(1.0)
    assert p.from_unit(0.0) < -7  # 1e-6 quantile
    assert p.to_unit(1.0) == pytest.approx(0.5)


def test_quantized_floats_have_no_binary_noise(space):
    values = {space["qu"].from_unit(u) for u in np.linspace(0, 1, 50)}
    assert values <= {round(0.1 * k, 10) for k in range(1, 10)}
    assert 0.3 in values


def test_validate_names_every_problem(space):
    config = space.from_unit(np.full(space.dim, 0.5))
    config["ri"] = 9
    config["ch"] = "swish"
    config["u"] = "fast"
    del config["nested"]["opt"]["momentum"]
    with pytest.raises(ConfigValidationError) as info:
        space.validate(config)
    text = str(info.value)
    assert "'ri' must be in [1, 4], got 9" in text
    assert "'ch' must be one of ['relu', 'tanh', 'gelu'], got 'swish'" in text
    assert "'u' must be a number" in text
    assert "missing parameter 'nested/opt/momentum'" in text
    assert isinstance(info.value, ValueError)


def test_bool_is_not_an_int(space):
    config = space.from_unit(np.full(space.dim, 0.5))
    config["ri"] = True
    assert any("'ri' must be an integer" in p for p in space.check(config))


def test_repair_clips_snaps_and_matches(space):
    config = flatten(space.from_unit(np.full(space.dim, 0.5)))
    config.update({"u": 99.0, "ri": "3.7", "qri": 30, "ch": "TANH", "lu": 5.0, "qu": 0.33})
    fixed = space.repair(config, flat=True)
    assert fixed["u"] == 3.0 and fixed["ri"] == 4 and fixed["qri"] == 32
    assert fixed["ch"] == "tanh" and math.isclose(fixed["lu"], 0.1) and fixed["qu"] == 0.3
    assert space.check(fixed) == []


def test_repair_keeps_valid_values_unchanged(space):
    config = flatten(space.from_unit(np.full(space.dim, 0.37)))
    assert space.repair(config, flat=True) == {k: v for k, v in config.items() if k in space.names}


def test_repair_rejects_what_it_cannot_read(space):
    config = flatten(space.from_unit(np.full(space.dim, 0.5)))
    config["ch"] = "swish"
    config["u"] = "fast"
    with pytest.raises(ConfigValidationError) as info:
        space.repair(config)
    assert len(info.value.problems) == 2


def test_numeric_choice_repairs_to_nearest():
    p = CategoricalParam("bs", (32, 64, 128))
    assert p.repair(100) == 128 and p.repair("64") == 64


def test_key_deduplicates(space):
    a = flatten(space.from_unit(np.full(space.dim, 0.5)))
    b = dict(a, u=a["u"] + 1e-9)
    c = dict(a, u=a["u"] + 0.1)
    assert space.key(a) == space.key(b) != space.key(c)
    assert space.key(unflatten(a)) == space.key(a)


def test_prompt_table_and_schema(space):
    table = space_table(space).splitlines()
    assert table[0] == "name | type | low | high | scale | choices"
    assert "ri | int | 1 | 4 | linear |" in table
    assert "lu | float | 1e-05 | 0.1 | log |" in table
    assert 'ch | choice | | | | "relu", "tanh", "gelu"' in table
    assert "rn | float |  |  | normal(mean=1.0, sd=2.0) |" in table  # no bounds to show
    schema = space_schema(space, 3)
    items = schema["properties"]["configs"]["items"]
    assert schema["properties"]["configs"]["minItems"] == 3
    assert items["properties"]["ri"] == {"type": "integer", "minimum": 1, "maximum": 4}
    assert items["properties"]["qri"] == {"enum": [8, 16, 24, 32, 40, 48, 56, 64]}
    assert items["properties"]["ch"] == {"enum": ["relu", "tanh", "gelu"]}
    assert items["properties"]["rn"] == {"type": "number"}  # an unbounded normal prior
    assert "rn" in items["required"]
    assert items == config_schema(space) == space_schema(space)
    assert list(space_schema(space, 2, key="points")["properties"]) == ["points"]
    with pytest.raises(SearchSpaceError, match="must be >= 1, got n=0"):
        space_schema(space, 0)


def test_quantized_float_schema_uses_the_grid_bounds():
    assert param_schema(FloatParam("x", 0.1, 0.9, q=0.25)) == {"type": "number", "minimum": 0.25, "maximum": 0.75}
    assert param_schema(IntParam("n", 0, 10_000, q=2)) == {"type": "integer", "minimum": 0, "maximum": 10_000}
    with pytest.raises(TypeError, match="FloatParam, IntParam or CategoricalParam, got str"):
        param_schema("x")


@pytest.mark.parametrize("method, args, function", [
    ("to_prompt", (), space_table), ("config_schema", (), config_schema),
    ("json_schema", (2,), space_schema), ("gbnf", (2,), space_grammar),
])
def test_deprecated_rendering_methods_warn_and_delegate(space, method, args, function):
    pattern = rf"SearchSpace\.{method}\(\) is deprecated.*render\.{function.__name__}\(space"
    with pytest.warns(DeprecationWarning, match=pattern):
        value = getattr(space, method)(*args)
    assert value == function(space, *args)


def test_fingerprint_and_pickle(space):
    clone = pickle.loads(pickle.dumps(space))
    assert clone.fingerprint() == space.fingerprint()
    other = SearchSpace.from_tune({**ALL_SAMPLERS, "u": tune.uniform(-2.0, 4.0)})
    assert other.fingerprint() != space.fingerprint()


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"x": tune.grid_search([1, 2])}, ["'x'", "grid_search", "tune.choice"]),
        ({"x": __import__("ray.tune.search.sample", fromlist=["x"]).Categorical([1, 2]).grid()}, ["'x'", "grid search"]),
        ({"x": tune.uniform(0, 1), "y": tune.sample_from(lambda c: c["x"] * 2)}, ["'y'", "sample_from"]),
        ({"x": [tune.uniform(0, 1)]}, ["'x'", "list"]),
        ({"x": 1, "y": "a"}, ["no Tune domains"]),
        ({"a/b": tune.uniform(0, 1)}, ["'a/b'", "'/'"]),
        ({"x": tune.uniform(0, 1), "f": lambda: 3}, ["'f'", "function"]),
        ([tune.uniform(0, 1)], ["must be a dict"]),
        ({"x": tune.choice([tune.uniform(0, 1), 2])}, ["'x'", "tune.choice", "contain Tune domains"]),
        ({"x": tune.choice([{"a": tune.uniform(0, 1)}, {"a": 2}])}, ["'x'", "contain Tune domains"]),
        ({"x": tune.qrandint(0, 10, 2.5)}, ["'x'", "integer step, got q=2.5"]),
    ],
)
def test_rejections_name_the_key_and_the_fix(bad, words):
    with pytest.raises(SearchSpaceError) as info:
        SearchSpace.from_tune(bad)
    for word in words:
        assert word in str(info.value)


def test_param_argument_errors():
    with pytest.raises(SearchSpaceError, match=r"`low <= high` must hold, but got \(low=3.0, high=1.0\)"):
        FloatParam("x", 3.0, 1.0)
    with pytest.raises(SearchSpaceError, match="log-scaled float needs low > 0"):
        FloatParam("x", 0.0, 1.0, log=True)
    with pytest.raises(SearchSpaceError, match="no multiple of q=1"):
        FloatParam("x", 0.1, 0.2, q=1)
    with pytest.raises(SearchSpaceError, match="no allowed integer"):
        IntParam("n", 1, 3, q=5)
    with pytest.raises(SearchSpaceError, match="duplicate parameter names"):
        SearchSpace((FloatParam("x", 0, 1), IntParam("x", 0, 3)))


def test_vector_length_checked(space):
    with pytest.raises(SearchSpaceError, match="expected a vector of length 12, got length 2"):
        space.from_unit([0.1, 0.2])


def test_space_module_imports_neither_ray_until_from_tune_nor_the_layers_above():
    import subprocess
    import sys

    code = ("import sys; from raytune_llm.space import SearchSpace, FloatParam; "
            "s = SearchSpace((FloatParam('x', 0, 1),)); s.from_unit([0.5]); s.check({'x': 2}); "
            "assert 'ray' not in sys.modules, 'ray imported'; "
            "above = [m for m in ('raytune_llm.llm', 'raytune_llm.proposals') if m in sys.modules]; "
            "assert not above, f'the space imported {above}'")
    subprocess.run([sys.executable, "-c", code], check=True)
