from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raytune_llm.errors import LLMConfigError
from raytune_llm.llm.gbnf import integer_range_regex, number_range_gbnf, schema_to_gbnf


@settings(max_examples=300, deadline=None)
@given(st.integers(-5000, 5000), st.integers(0, 20000), st.integers(-30000, 30000))
def test_integer_range_matches_exactly(lo, width, probe):
    hi = lo + width
    pattern = re.compile(integer_range_regex(lo, hi))
    for value in (lo, hi, probe, lo - 1, hi + 1, (lo + hi) // 2):
        assert bool(pattern.match(str(value))) == (lo <= value <= hi), (lo, hi, value)
    assert not pattern.match("0" + str(abs(hi))) or hi == 0 and lo <= 0  # no leading zeros
    assert not pattern.match("-0")


def test_small_ranges_enumerate():
    assert re.match(integer_range_regex(1, 4), "4")
    assert not re.match(integer_range_regex(1, 4), "5")
    assert not re.match(integer_range_regex(1, 4), "0")


def test_number_grammar_bounds_sign_and_integer_part():
    assert '"-"' not in number_range_gbnf(0.0, 0.5)
    assert '"-"' in number_range_gbnf(-1.0, 0.5)
    assert "e" not in number_range_gbnf(1e-5, 1e-1).lower().replace("[0-9]", "")


def test_schema_to_gbnf_structure():
    schema = {"type": "object", "properties": {
        "configs": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "object", "properties": {
            "n": {"type": "integer", "minimum": 1, "maximum": 4},
            "act": {"enum": ["relu", "tanh"]},
            "why": {"type": "string", "maxLength": 50},
            "ok": {"type": "boolean"},
        }}}}}
    grammar = schema_to_gbnf(schema)
    assert grammar.startswith("root ::= ")
    assert '"\\"relu\\""' in grammar and "{1,1}" in grammar and "{0,50}" in grammar


def test_unsupported_schema_is_a_clear_error():
    with pytest.raises(LLMConfigError, match="unsupported type"):
        schema_to_gbnf({"type": "object", "properties": {"x": {"type": "date"}}})
    with pytest.raises(LLMConfigError, match="minimum=5 > maximum=1"):
        schema_to_gbnf({"type": "integer", "minimum": 5, "maximum": 1})


def test_llama_cpp_accepts_generated_grammars():
    from ray import tune

    llama_cpp = pytest.importorskip("llama_cpp")
    from raytune_llm import SearchSpace
    from raytune_llm.proposals.render import space_grammar

    space = SearchSpace.from_tune({"lr": tune.loguniform(1e-5, 1e-1), "n": tune.randint(-3, 300),
                                   "act": tune.choice(["a", "b"]), "z": tune.randn(0, 1),
                                   "q": tune.qrandint(8, 64, 8)})
    llama_cpp.LlamaGrammar.from_string(space_grammar(space, 3), verbose=False)
