"""The OpenAI-compatible backend and the worker against a fault-injecting server on 127.0.0.1."""

from __future__ import annotations

import pickle

import pytest
from support.fault_server import FaultServer

from raytune_llm.errors import (
    LLMAuthError,
    LLMConnectionError,
    LLMRateLimitError,
    LLMRequestError,
    LLMResponseError,
    LLMServerError,
    LLMTimeoutError,
    LLMUnavailableError,
)
from raytune_llm.llm import LLMRequest, LLMWorker, backend_spec, get_backend
from raytune_llm.proposals import screen_configs
from raytune_llm.proposals.render import space_schema
from raytune_llm.space import CategoricalParam, FloatParam, IntParam, SearchSpace

SPACE = SearchSpace((FloatParam("lr", 1e-4, 1e-1, log=True), IntParam("layers", 1, 4),
                     CategoricalParam("act", ("relu", "tanh"))))
SCHEMA = space_schema(SPACE, 2)
GOOD = {"configs": [{"act": "relu", "layers": 2, "lr": 0.01}, {"act": "tanh", "layers": 4, "lr": 0.001}]}
MSG = [{"role": "system", "content": "You tune."}, {"role": "user", "content": "Two configs."}]


@pytest.fixture
def server():
    with FaultServer(answer=GOOD) as srv:
        yield srv


def backend_for(srv, **kw):
    return get_backend("openai:fault-model", base_url=srv.url, api_key="sk-secret-123", **kw)


def call(backend, timeout=2.0):
    return backend.complete_json(MSG, SCHEMA, temperature=0.5, max_tokens=200, seed=1, timeout=timeout)


def test_ok_uses_json_schema_and_reports_usage(server):
    backend = backend_for(server)
    value, usage = call(backend)
    assert value == GOOD and usage.prompt_tokens > 0 and usage.model == "fault-model"
    body = server.requests[0]
    assert body["response_format"]["type"] == "json_schema" and body["seed"] == 1
    assert backend.mode == "json_schema"


def test_falls_back_when_json_schema_is_rejected(server):
    server.set_modes([], default="reject-json-schema")
    backend = backend_for(server)
    value, _ = call(backend)
    assert value == GOOD and backend.mode is None  # one 500 may be a passing fault
    call(backend)
    assert backend.mode == "json_object"
    call(backend)
    kinds = [r.get("response_format", {}).get("type") for r in server.requests]
    # refused twice (500), then remembered
    assert kinds == ["json_schema", "json_object", "json_schema", "json_object", "json_object"]
    assert "JSON schema" in server.requests[1]["messages"][0]["content"]


@pytest.mark.parametrize(
    "mode, error",
    [("500", LLMServerError), ("503", LLMServerError), ("429:1", LLMRateLimitError), ("401", LLMAuthError),
     ("400", LLMRequestError), ("truncated", LLMResponseError), ("invalid", LLMResponseError),
     ("garbage", LLMResponseError), ("huge", None), ("drop", LLMConnectionError),
     ("slow:1.5", LLMTimeoutError)],
)
def test_each_fault_maps_to_one_error(server, mode, error):
    backend = backend_for(server, response_format="json_schema")
    server.set_modes([mode])
    if error is None:  # 2 MB answer: the JSON object at its start is read, the junk ignored
        assert call(backend)[0] == GOOD
        return
    with pytest.raises(error):
        call(backend, timeout=0.5)


def test_rate_limit_carries_retry_after(server):
    server.set_modes(["429:2"])
    with pytest.raises(LLMRateLimitError) as info:
        call(backend_for(server, response_format="json_schema"))
    assert info.value.retry_after == 2.0


def test_out_of_range_and_wrong_types_are_screened_per_item():
    bad = {"configs": [{"act": "Tanh", "layers": 40, "lr": "0.5"}, {"act": "swish", "layers": 2, "lr": 0.01}]}
    with FaultServer(answer=bad) as srv:
        value, _ = call(backend_for(srv))
    screened = screen_configs(value["configs"], SPACE)
    assert screened.accepted == [{"act": "tanh", "layers": 4, "lr": 0.1}]
    assert screened.repaired == 1 and "swish" in screened.rejected[0][1]


def test_wrong_shape_is_an_invalid_answer():
    with FaultServer(answer={"configs": "none"}) as srv:
        with pytest.raises(LLMResponseError, match="does not match the schema"):
            call(backend_for(srv))


def test_worker_retries_through_faults_and_never_loses_the_request(server):
    server.set_modes(["500", "truncated", "429", "ok"])
    backend = backend_for(server, response_format="json_schema")
    with LLMWorker(backend, timeout_s=2, max_retries=3, backoff_s=0.01, backoff_max_s=0.05) as worker:
        result = worker.submit(LLMRequest(MSG, SCHEMA, seed=3)).result(timeout=10)
    assert result.value == GOOD and result.attempts == 4
    assert worker.stats.errors == {} and worker.stats.retries == 3


def test_worker_trips_breaker_on_dead_server_and_stays_responsive(server):
    server.set_modes([], default="503")
    backend = backend_for(server, response_format="json_schema")
    with LLMWorker(backend, timeout_s=1, max_retries=5, backoff_s=0.01, backoff_max_s=0.02,
                   breaker_failures=3, breaker_cooldown_s=30) as worker:
        with pytest.raises(LLMUnavailableError):
            worker.submit(LLMRequest(MSG, SCHEMA)).result(timeout=10)
        assert len(server.requests) == 3
        refused = worker.submit(LLMRequest(MSG, SCHEMA))
        assert refused.done() and len(server.requests) == 3


def test_worker_times_out_a_hanging_server(server):
    server.set_modes(["hang", "hang"])
    backend = backend_for(server, response_format="json_schema")
    with LLMWorker(backend, timeout_s=0.3, max_retries=1, backoff_s=0.0) as worker:
        with pytest.raises(LLMTimeoutError):
            worker.submit(LLMRequest(MSG, SCHEMA)).result(timeout=10)


def test_unreachable_server_is_a_connection_error():
    backend = get_backend("openai:m", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(LLMConnectionError, match="check base_url"):
        call(backend)


def test_api_key_never_leaks(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = backend_for(server)
    call(backend)
    assert "sk-secret-123" not in repr(backend)
    assert b"sk-secret-123" not in pickle.dumps(backend)
    assert "sk-secret-123" not in str(backend_spec(backend))
    assert backend_spec(backend) == {"spec": "openai:fault-model", "options": {
        "response_format": "auto", "timeout_s": 60.0, "base_url": server.url}}


def test_missing_key_for_openai_itself(monkeypatch, caplog):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with caplog.at_level("WARNING", logger="raytune_llm.llm"):
        backend = get_backend("openai:gpt-4o-mini")
    assert "has no API key" in caplog.text  # said when the searcher is built, not only per request
    with pytest.raises(LLMAuthError, match="OPENAI_API_KEY"):
        call(backend)


def test_base_url_from_environment(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    value, _ = call(get_backend("openai:fault-model"))
    assert value == GOOD


def test_key_fragments_in_server_errors_are_redacted():
    from raytune_llm.llm.openai_backend import redact

    text = "Incorrect API key provided: sk-proj-abc1****************wxyz. You can find your API key at ..."
    assert "sk-proj" not in redact(text) and "[redacted]" in redact(text)


def test_a_passing_500_while_probing_does_not_pin_a_weaker_mode(server):
    server.set_modes(["500"], default="ok")
    backend = backend_for(server)
    assert call(backend)[0] == GOOD and backend.mode is None  # answered in json_object, not remembered
    call(backend)
    kinds = [r.get("response_format", {}).get("type") for r in server.requests]
    assert kinds == ["json_schema", "json_object", "json_schema"] and backend.mode == "json_schema"


def test_the_tokens_of_a_discarded_probe_answer_are_counted(server):
    _, alone = call(backend_for(server))  # one good answer: the reference
    server.set_modes(["invalid"], default="ok")  # json_schema answered with prose, then json_object works
    backend = backend_for(server)
    value, usage = call(backend)
    kinds = [r.get("response_format", {}).get("type") for r in server.requests[1:]]
    assert value == GOOD and kinds == ["json_schema", "json_object"]
    assert usage.prompt_tokens > alone.prompt_tokens and usage.completion_tokens > alone.completion_tokens
