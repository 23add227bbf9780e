"""Tests for the fault-injecting OpenAI-compatible test server."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

try:
    from tests.support.fault_server import HUGE_SIZE, INVALID_PROSE, VALID_MODES, FaultServer, parse_mode
except ImportError:  # ``tests`` is not a package: pytest puts tests/ itself on sys.path.
    from support.fault_server import HUGE_SIZE, INVALID_PROSE, VALID_MODES, FaultServer, parse_mode

ANSWER: dict[str, Any] = {"configs": [{"lr": 0.01}, {"lr": 0.1, "batch_size": 64}]}
TIMEOUT = 5.0


def _chat_body(**extra: Any) -> dict[str, Any]:
    """Build a minimal chat-completions request body."""
    body: dict[str, Any] = {
        "model": "my-model",
        "messages": [{"role": "user", "content": "Suggest two configurations as JSON."}],
    }
    body.update(extra)
    return body


def _request(
    url: str, body: Any = None, method: str | None = None, timeout: float = TIMEOUT
) -> tuple[int, dict[str, str], bytes]:
    """Send a request with urllib and return (status, headers, raw body), HTTP errors included."""
    data = None
    headers = {}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers.items()), err.read()


def _chat(srv: FaultServer, **extra: Any) -> tuple[int, dict[str, str], bytes]:
    """POST a chat-completions request to ``srv``."""
    return _request(srv.url + "/chat/completions", _chat_body(**extra))


def _content(raw: bytes) -> str:
    """Extract the assistant content from a raw chat.completion body."""
    return json.loads(raw)["choices"][0]["message"]["content"]


@pytest.fixture
def srv() -> Any:
    """A running FaultServer with the default ``ok`` mode and a dict answer."""
    with FaultServer(answer=ANSWER) as server:
        yield server


# -- lifecycle and bookkeeping ------------------------------------------------


def test_url_binds_loopback_ephemeral_port(srv: FaultServer) -> None:
    assert srv.url.startswith("http://127.0.0.1:")
    assert srv.url.endswith("/v1")
    assert srv.port > 0
    assert srv.url == f"http://127.0.0.1:{srv.port}/v1"


def test_url_before_start_raises_and_close_is_idempotent() -> None:
    server = FaultServer()
    with pytest.raises(RuntimeError):
        _ = server.url
    server.close()  # never started: must not block
    server.close()
    with pytest.raises(RuntimeError):
        server.start()


def test_close_is_idempotent_after_use() -> None:
    with FaultServer() as server:
        assert _chat(server)[0] == 200
    server.close()
    server.close()
    assert server.closed


def test_models_endpoint(srv: FaultServer) -> None:
    status, headers, raw = _request(srv.url + "/models")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(raw) == {"object": "list", "data": [{"id": "fault-model", "object": "model"}]}
    assert srv.requests == []  # only chat requests are recorded


def test_unknown_path_is_404_json(srv: FaultServer) -> None:
    for method, body in (("GET", None), ("POST", _chat_body())):
        status, _, raw = _request(srv.url + "/nope", body, method=method)
        assert status == 404
        assert "message" in json.loads(raw)["error"]
    assert srv.applied == []


def test_non_json_request_body_is_400_and_consumes_no_mode() -> None:
    with FaultServer(modes=["500"]) as server:
        status, _, raw = _request(server.url + "/chat/completions", b"{not json")
        assert status == 400
        assert "error" in json.loads(raw)
        assert server.applied == []
        assert server.pending_modes == ["500"]


def test_script_is_fifo_then_default_and_recorded() -> None:
    with FaultServer(modes=["500", "429", "ok"], default="503", answer=ANSWER) as server:
        statuses = [_chat(server, seed=i)[0] for i in range(5)]
        assert statuses == [500, 429, 200, 503, 503]
        assert server.applied == ["500", "429", "ok", "503", "503"]
        assert [r["seed"] for r in server.requests] == [0, 1, 2, 3, 4]
        assert server.requests[0]["messages"][0]["role"] == "user"


def test_set_modes_replaces_script_and_default(srv: FaultServer) -> None:
    srv.set_modes(["502"], default="400")
    assert [_chat(srv)[0] for _ in range(3)] == [502, 400, 400]
    srv.set_modes([])  # default unchanged
    assert _chat(srv)[0] == 400
    srv.set_modes([], default="ok")
    assert _chat(srv)[0] == 200
    assert srv.applied == ["502", "400", "400", "400", "ok"]


@pytest.mark.parametrize("bad", ["teapot", "slow", "slow:abc", "slow:-1", "429:x", "200", "", None])
def test_unknown_mode_raises_value_error(bad: Any) -> None:
    with pytest.raises(ValueError) as info:
        FaultServer(modes=["ok", bad])
    message = str(info.value)
    assert repr(bad) in message
    assert "ok" in message and "reject-json-schema" in message and "slow:S" in message
    with pytest.raises(ValueError):
        FaultServer(default=bad)


def test_set_modes_validation_leaves_state_unchanged(srv: FaultServer) -> None:
    srv.set_modes(["500"])
    with pytest.raises(ValueError, match="teapot"):
        srv.set_modes(["ok", "teapot"])
    with pytest.raises(ValueError, match="teapot"):
        srv.set_modes(["ok"], default="teapot")
    assert srv.pending_modes == ["500"]


def test_parse_mode() -> None:
    assert parse_mode("ok") == ("ok", None)
    assert parse_mode("slow:0.25") == ("slow", 0.25)
    assert parse_mode("429") == ("429", None)
    assert parse_mode("429:3") == ("429", 3.0)
    assert parse_mode(500) == ("500", None)
    assert "hang" in VALID_MODES and "drop" in VALID_MODES


def test_concurrent_requests_are_all_recorded() -> None:
    with FaultServer(default="slow:0.1", answer=ANSWER) as server:
        results: list[int] = []
        lock = threading.Lock()

        def worker(i: int) -> None:
            status = _chat(server, seed=i)[0]
            with lock:
                results.append(status)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        assert results == [200] * 8
        assert sorted(r["seed"] for r in server.requests) == list(range(8))
        assert server.applied == ["slow:0.1"] * 8


# -- modes ----------------------------------------------------------------------


def test_ok_envelope(srv: FaultServer) -> None:
    status, headers, raw = _chat(srv)
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(raw)
    assert payload["object"] == "chat.completion"
    assert payload["id"].startswith("chatcmpl-")
    assert isinstance(payload["created"], int)
    assert payload["model"] == "my-model"
    choice = payload["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert json.loads(choice["message"]["content"]) == ANSWER
    usage = payload["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert srv.applied == ["ok"]


def test_ok_with_callable_answer() -> None:
    def answer(body: dict[str, Any]) -> dict[str, Any]:
        return {"echo": body["messages"][-1]["content"], "n": len(body["messages"])}

    with FaultServer(answer=answer) as server:
        assert json.loads(_content(_chat(server)[2])) == {
            "echo": "Suggest two configurations as JSON.",
            "n": 1,
        }


def test_ok_with_str_answer_is_verbatim() -> None:
    with FaultServer(answer=lambda body: '```json\n{"lr": 0.1}\n```') as server:
        assert _content(_chat(server)[2]) == '```json\n{"lr": 0.1}\n```'
    with FaultServer(answer=[1, 2]) as server:
        assert json.loads(_content(_chat(server)[2])) == [1, 2]


def test_slow_mode_delays_then_ok() -> None:
    with FaultServer(modes=["slow:0.2"], answer=ANSWER) as server:
        start = time.monotonic()
        status, _, raw = _chat(server)
        elapsed = time.monotonic() - start
        assert status == 200
        assert json.loads(_content(raw)) == ANSWER
        assert 0.2 <= elapsed < 1.5


def test_slow_mode_trips_client_timeout() -> None:
    with FaultServer(modes=["slow:1.5"]) as server:
        start = time.monotonic()
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            _request(server.url + "/chat/completions", _chat_body(), timeout=0.2)
        assert time.monotonic() - start < 1.0


def test_hang_close_returns_fast_while_request_in_flight() -> None:
    server = FaultServer(modes=["hang"]).start()
    errors: list[BaseException] = []

    def client() -> None:
        try:
            _request(server.url + "/chat/completions", _chat_body(), timeout=3.0)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion below
            errors.append(exc)

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    deadline = time.monotonic() + 2.0
    while server.applied != ["hang"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.applied == ["hang"]

    start = time.monotonic()
    server.close()
    assert time.monotonic() - start < 1.0

    thread.join(2.0)
    assert not thread.is_alive()
    # The hanging handler was released and dropped the connection without a response.
    assert len(errors) == 1
    assert isinstance(errors[0], (ConnectionError, http.client.HTTPException, urllib.error.URLError))
    assert not isinstance(errors[0], TimeoutError)


def test_hang_trips_client_timeout() -> None:
    with FaultServer(modes=["hang"]) as server:
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            _request(server.url + "/chat/completions", _chat_body(), timeout=0.2)


def test_429_without_retry_after() -> None:
    with FaultServer(modes=["429"]) as server:
        status, headers, raw = _chat(server)
    assert status == 429
    assert "Retry-After" not in headers
    error = json.loads(raw)["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert error["message"]


def test_429_with_retry_after() -> None:
    with FaultServer(modes=["429:2", "429:0.5"]) as server:
        status, headers, _ = _chat(server)
        assert status == 429
        assert headers["Retry-After"] == "2"
        assert _chat(server)[1]["Retry-After"] == "0.5"
        assert server.applied == ["429:2", "429:0.5"]


@pytest.mark.parametrize("code", [400, 401, 500, 502, 503])
def test_error_statuses(code: int) -> None:
    with FaultServer(modes=[str(code)]) as server:
        status, headers, raw = _chat(server)
    assert status == code
    assert headers["Content-Type"] == "application/json"
    error = json.loads(raw)["error"]
    assert error["message"] and error["type"]


def test_401_body_matches_openai() -> None:
    with FaultServer(modes=["401"]) as server:
        error = json.loads(_chat(server)[2])["error"]
    assert error["message"] == "Incorrect API key provided"
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_api_key"


def test_truncated_content_is_half_the_answer(srv: FaultServer) -> None:
    srv.set_modes(["truncated"])
    status, _, raw = _chat(srv)
    assert status == 200
    content = _content(raw)
    full = json.dumps(ANSWER)
    assert content == full[: len(full) // 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)


def test_invalid_content_is_prose(srv: FaultServer) -> None:
    srv.set_modes(["invalid"])
    status, _, raw = _chat(srv)
    assert status == 200
    content = _content(raw)
    assert content == INVALID_PROSE
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)


def test_garbage_body_is_not_json(srv: FaultServer) -> None:
    srv.set_modes(["garbage"])
    status, headers, raw = _chat(srv)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert raw.startswith(b"<html>")
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)


def test_huge_content_starts_with_json_then_junk(srv: FaultServer) -> None:
    srv.set_modes(["huge"])
    status, _, raw = _chat(srv)
    assert status == 200
    content = _content(raw)
    assert len(content) >= HUGE_SIZE - 16
    obj, end = json.JSONDecoder().raw_decode(content)
    assert obj == ANSWER
    assert end < len(content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)


def test_drop_closes_without_response(srv: FaultServer) -> None:
    srv.set_modes(["drop", "ok"])
    with pytest.raises((ConnectionError, http.client.HTTPException, urllib.error.URLError)):
        _chat(srv)
    assert _chat(srv)[0] == 200  # the server keeps serving
    assert srv.applied == ["drop", "ok"]


def test_reject_json_schema_like_llama_cpp(srv: FaultServer) -> None:
    srv.set_modes([], default="reject-json-schema")
    schema_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    status, _, raw = _chat(srv, response_format=schema_format)
    assert status == 500
    assert json.loads(raw)["error"]["message"]
    status, _, raw = _chat(srv, response_format={"type": "json_object"})
    assert status == 200
    assert json.loads(_content(raw)) == ANSWER
    status, _, _ = _chat(srv)
    assert status == 200
    assert srv.applied == ["reject-json-schema"] * 3


# -- the OpenAI SDK against the server ----------------------------------------------


def test_openai_sdk_client() -> None:
    openai = pytest.importorskip("openai")
    with FaultServer(modes=["ok", "500", "429:1", "401", "hang"], answer=ANSWER) as server:
        client = openai.OpenAI(base_url=server.url, api_key="test", max_retries=0, timeout=TIMEOUT)
        try:
            messages = [{"role": "user", "content": "hi"}]
            completion = client.chat.completions.create(model="fault-model", messages=messages)
            assert completion.model == "fault-model"
            assert completion.choices[0].finish_reason == "stop"
            assert json.loads(completion.choices[0].message.content or "") == ANSWER
            assert completion.usage is not None and completion.usage.total_tokens > 0

            with pytest.raises(openai.InternalServerError):
                client.chat.completions.create(model="fault-model", messages=messages)
            with pytest.raises(openai.RateLimitError) as info:
                client.chat.completions.create(model="fault-model", messages=messages)
            assert info.value.response.headers["retry-after"] == "1"
            with pytest.raises(openai.AuthenticationError):
                client.chat.completions.create(model="fault-model", messages=messages)
            with pytest.raises(openai.APITimeoutError):
                client.with_options(timeout=0.2).chat.completions.create(model="fault-model", messages=messages)

            assert [m.id for m in client.models.list().data] == ["fault-model"]
        finally:
            client.close()
        assert server.applied == ["ok", "500", "429:1", "401", "hang"]
