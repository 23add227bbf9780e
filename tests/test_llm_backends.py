from __future__ import annotations

import pytest

from raytune_llm.errors import LLMConfigError
from raytune_llm.llm import backend_spec, get_backend
from raytune_llm.llm.base import extract_json, structural_schema
from raytune_llm.llm.testing import ScriptedBackend


def test_none_means_no_llm():
    assert get_backend(None) is None


def test_backend_objects_pass_through():
    backend = ScriptedBackend([{}])
    assert get_backend(backend) is backend
    assert backend_spec(backend) is None  # custom objects cannot be rebuilt from a spec


@pytest.mark.parametrize("spec, words", [
    ("gpt-4", ["unknown LLM spec 'gpt-4'", "openai:MODEL"]),
    ("llama-cpp:", ["needs a model path"]),
    ("llama-cpp:/nowhere/model.gguf", ["model file not found", "/nowhere/model.gguf"]),
    ("openai:", ["needs a model name"]),
    (42, ["unknown LLM spec 42"]),
])
def test_bad_specs(spec, words):
    with pytest.raises(LLMConfigError) as info:
        get_backend(spec)
    for word in words:
        assert word in str(info.value)


def test_bad_option_is_named():
    with pytest.raises(LLMConfigError, match="bad option.*n_gpu"):
        get_backend("openai:x", n_gpu=3)


def test_not_a_gguf(tmp_path):
    f = tmp_path / "model.bin"
    f.write_bytes(b"x")
    with pytest.raises(LLMConfigError, match="not a .gguf file"):
        get_backend(f"llama-cpp:{f}")


def test_extract_json_from_prose():
    assert extract_json('Sure! ```json\n{"a": [1, 2]}\n``` hope it helps') == {"a": [1, 2]}
    assert extract_json("[1, 2] and more") == [1, 2]


def test_structural_schema_drops_value_checks():
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 3},
                                               "c": {"enum": ["a"]}}, "required": ["n"]}
    assert structural_schema(schema) == {"type": "object", "properties": {"n": {"type": "integer"}, "c": {}},
                                         "required": ["n"]}


def test_structural_schema_leaves_batch_items_to_the_caller():
    item = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"], "additionalProperties": False}
    schema = {"type": "object", "properties": {"configs": {"type": "array", "items": item, "minItems": 2}},
              "required": ["configs"]}
    relaxed = structural_schema(schema)
    assert relaxed["properties"]["configs"]["items"] == {"type": "object", "properties": {"n": {}}}
    assert "minItems" not in relaxed["properties"]["configs"] and relaxed["required"] == ["configs"]
