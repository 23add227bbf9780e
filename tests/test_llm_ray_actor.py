"""The LLM hosted in a Ray actor (``llm="ray:embedded"``), with the real embedded model."""

from __future__ import annotations

import pickle

import pytest
import ray
from ray import tune

from raytune_llm import LLMPSOSearcher, SearchSpace
from raytune_llm.errors import LLMConfigError, LLMConnectionError, LLMTimeoutError
from raytune_llm.llm import backend_spec, get_backend
from raytune_llm.llm.ray_actor import RayActorBackend
from raytune_llm.proposals.prompts import propose_messages
from raytune_llm.proposals.render import space_schema
from support.ray_local import local_ray

pytestmark = [pytest.mark.ray, pytest.mark.llm]

SPACE = SearchSpace.from_tune({"x": tune.uniform(-2.0, 2.0), "act": tune.choice(["relu", "tanh"])})


def _ask(backend, *, timeout=120.0, max_tokens=120, seed=0):
    messages = propose_messages(SPACE, 1, metric="loss", mode="min")
    return backend.complete_json(messages, space_schema(SPACE, 1), max_tokens=max_tokens, seed=seed, timeout=timeout)


def test_spec_parsing_and_round_trip_without_ray():
    backend = get_backend("ray:embedded", num_gpus=0.5, name="shared", n_ctx=2048)
    assert isinstance(backend, RayActorBackend) and backend.spec == "ray:embedded"
    assert backend._actor is None  # nothing created at construction
    recipe = backend_spec(backend)
    assert recipe == {"spec": "ray:embedded", "options": {"num_cpus": 1.0, "num_gpus": 0.5, "name": "shared",
                                                          "namespace": "raytune_llm", "n_ctx": 2048}}
    again = get_backend(recipe["spec"], **recipe["options"])
    assert again.options == backend.options and again.inner_options == {"n_ctx": 2048}
    openai = get_backend("ray:openai:gpt-4o-mini", api_key="sk-secret", base_url="http://h:8000/v1")
    assert "api_key" not in backend_spec(openai)["options"] and openai.inner_spec == "openai:gpt-4o-mini"
    assert pickle.loads(pickle.dumps(backend)).options == backend.options
    for bad, match in [("ray:", "inner"), ("ray:ray:embedded", "nested"), ("ray:gpt4", "unknown inner"),
                       ("ray:llama-cpp:", "names no model")]:
        with pytest.raises(LLMConfigError, match=match):
            get_backend(bad)
    with pytest.raises(LLMConfigError, match="num_gpus"):
        get_backend("ray:embedded", num_gpus=1.5)
    with pytest.raises(LLMConfigError, match="no_such_option"):
        get_backend("ray:embedded", no_such_option=1)


def test_the_api_key_is_never_pickled_and_a_restored_copy_uses_the_drivers(monkeypatch, caplog):
    key, env_key = "sk-given-5e1f0a9c77", "sk-driver-env-0b2d4c6e88"
    backend = get_backend("ray:openai:gpt-4o-mini", api_key=key, base_url="http://h:8000/v1")
    assert "api_key" not in backend.options and "api_key" not in backend.inner_options
    assert key not in repr(backend) and key not in str(backend)
    monkeypatch.setenv("OPENAI_API_KEY", env_key)
    assert backend._actor_options() == {"base_url": "http://h:8000/v1", "api_key": key}  # the key given wins
    blob = pickle.dumps(backend)
    assert key.encode() not in blob and env_key.encode() not in blob
    restored = pickle.loads(blob)
    # Tuner.restore unpickles the searcher in the driver: its OPENAI_API_KEY goes to the new actor
    assert restored._actor_options()["api_key"] == env_key
    monkeypatch.delenv("OPENAI_API_KEY")
    with caplog.at_level("WARNING", logger="raytune_llm.llm"):
        assert "api_key" not in restored._actor_options()
    assert "never saved with the searcher" in caplog.text and "OPENAI_API_KEY" in caplog.text
    assert key not in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="raytune_llm.llm"):  # no key was ever given: nothing lost, no warning
        assert "api_key" not in get_backend("ray:openai:m", base_url="http://h:8000/v1")._actor_options()
        assert get_backend("ray:embedded")._actor_options() == {}  # never an OpenAI key for another backend
    assert caplog.text == ""
    assert pickle.loads(pickle.dumps(restored))._lost_secrets == ["api_key"]  # still known after a second copy


def test_needs_ray_initialised():
    if ray.is_initialized():
        pytest.skip("Ray already initialised in this process")
    with pytest.raises(LLMConfigError, match="ray.init"):
        _ask(get_backend("ray:embedded"))


@pytest.fixture(scope="module")
def ray_local():
    with local_ray():
        yield


@pytest.mark.slow
def test_actor_answers_times_out_is_shared_and_recovers(ray_local):
    first = get_backend("ray:embedded", name="rtl-test-llm", n_threads=1)
    second = get_backend("ray:embedded", name="rtl-test-llm", n_threads=1)
    value, usage = _ask(first)
    config = value["configs"][0]
    assert len(value["configs"]) == 1 and set(config) == {"x", "act"} and config["act"] in ("relu", "tanh")
    assert usage.completion_tokens > 0 and usage.latency_s > 0
    assert first.actor()._actor_id == second.actor()._actor_id  # one model, two backend objects
    value2, _ = _ask(second, seed=1)
    assert len(value2["configs"]) == 1

    with pytest.raises(LLMTimeoutError):
        _ask(first, timeout=0.05, max_tokens=400)

    ray.kill(first.actor(), no_restart=True)
    with pytest.raises(LLMConnectionError, match="created again"):
        _ask(first)
    value3, _ = _ask(first)  # a new actor, under the same name
    assert len(value3["configs"]) == 1
    ray.kill(first.actor(), no_restart=True)


@pytest.mark.slow
def test_inner_errors_keep_their_type(ray_local):
    backend = get_backend("ray:llama-cpp:/nonexistent/model.gguf")
    with pytest.raises(LLMConfigError, match="model file not found"):
        _ask(backend)
    ray.kill(backend.actor(), no_restart=True)


@pytest.mark.slow
def test_llm_pso_through_tune_with_the_actor_backend(ray_local, tmp_path):
    from trainables import rastrigin, rastrigin_space

    searcher = LLMPSOSearcher(seed=0, llm="ray:embedded", llm_options={"n_threads": 1}, swarm_size=4, warmup=2,
                              llm_every=2, wait_for_llm=True, surrogate_gate=False)  # the plumbing, not the gate
    analysis = tune.run(rastrigin, config=rastrigin_space(2), metric="value", mode="min", num_samples=6,
                        search_alg=searcher, storage_path=str(tmp_path), name="actor", verbose=0,
                        max_concurrent_trials=1, reuse_actors=True)
    assert len(analysis.trials) == 6 and all(t.status == "TERMINATED" for t in analysis.trials)
    assert len(searcher.history) == 6
    assert searcher.origin_counts().get("llm", 0) >= 1, searcher.origin_counts()
