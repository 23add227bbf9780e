"""A fault-injecting, OpenAI-compatible HTTP server for tests.

The server runs in a daemon thread of the test process, binds ``127.0.0.1`` on
an ephemeral port, and answers ``POST /v1/chat/completions`` according to a
script of *modes* (one consumed per request, FIFO, falling back to a default
mode when the script is empty). It is meant to exercise an LLM client's
retries, timeouts, response parsing and circuit breaker.

Example:
    >>> with FaultServer(modes=["500", "ok"], answer={"configs": [{"lr": 0.01}]}) as srv:
    ...     client = openai.OpenAI(base_url=srv.url, api_key="test")  # doctest: +SKIP

Modes:
    ``ok``: 200 with a chat.completion whose content is ``json.dumps(answer)``.
    ``slow:S``: wait ``S`` seconds (float), then behave as ``ok``.
    ``hang``: wait until the server is closed, then drop the connection.
    ``429`` / ``429:S``: 429 with an OpenAI error body (``Retry-After: S``).
    ``500``, ``502``, ``503``: that status with an OpenAI error body.
    ``401``: 401 ``invalid_api_key`` error.
    ``400``: 400 ``invalid_request_error``.
    ``truncated``: 200, valid envelope, content cut in half.
    ``invalid``: 200, valid envelope, prose content instead of JSON.
    ``garbage``: 200, ``text/html`` body that is not JSON.
    ``huge``: 200, valid envelope, ~2 MB content (JSON object + junk).
    ``drop``: close the connection without any response.
    ``reject-json-schema``: 500 if ``response_format.type == "json_schema"``
    (like llama.cpp's server), else ``ok``.
"""

from __future__ import annotations

import json
import socketserver
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union

__all__ = ["FaultServer", "VALID_MODES", "parse_mode"]

AnswerValue = Union[dict, list, str]
Answer = Union[dict, list, str, Callable[[dict], AnswerValue]]

#: Modes that take no argument.
SIMPLE_MODES: tuple[str, ...] = (
    "ok",
    "hang",
    "429",
    "500",
    "502",
    "503",
    "401",
    "400",
    "truncated",
    "invalid",
    "garbage",
    "huge",
    "drop",
    "reject-json-schema",
)
#: Modes that take a ``:SECONDS`` argument (required for ``slow``, optional for ``429``).
PARAM_MODES: tuple[str, ...] = ("slow:S", "429:S")
#: Every valid mode spelling, for error messages.
VALID_MODES: tuple[str, ...] = SIMPLE_MODES + PARAM_MODES

MODEL_ID = "fault-model"
INVALID_PROSE = "Sure! Here are some good configurations: lr=0.01"
GARBAGE_BODY = b"<html><body><h1>oops</h1><p>502 Bad Gateway-ish nonsense</p></body></html>"
HUGE_SIZE = 2 * 1024 * 1024

_ERRORS: dict[int, dict[str, Any]] = {
    400: {
        "message": "Invalid request: the request body was rejected by the fault server.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    },
    401: {
        "message": "Incorrect API key provided",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    },
    429: {
        "message": "Rate limit reached for requests. Please try again later.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    },
    500: {
        "message": "The server had an error while processing your request.",
        "type": "server_error",
        "param": None,
        "code": None,
    },
    502: {
        "message": "Bad gateway.",
        "type": "server_error",
        "param": None,
        "code": None,
    },
    503: {
        "message": "The engine is currently overloaded, please try again later.",
        "type": "server_error",
        "param": None,
        "code": None,
    },
}


def parse_mode(mode: Any) -> tuple[str, float | None]:
    """Validate a mode string and split off its numeric argument.

    Args:
        mode: A mode such as ``"ok"``, ``"slow:0.2"`` or ``"429:1"``. Integers
            (e.g. ``500``) are accepted and converted to strings.

    Returns:
        ``(name, seconds)`` where ``seconds`` is ``None`` for modes without an
        argument.

    Raises:
        ValueError: If the mode is unknown or its argument is malformed.
    """
    if isinstance(mode, int) and not isinstance(mode, bool):
        mode = str(mode)
    valid = ", ".join(VALID_MODES)
    if not isinstance(mode, str):
        raise ValueError(f"invalid fault mode {mode!r}: expected a string; valid modes: {valid}")
    if mode in SIMPLE_MODES:
        return mode, None
    name, sep, arg = mode.partition(":")
    if sep and name in ("slow", "429"):
        try:
            seconds = float(arg)
        except ValueError:
            seconds = float("nan")
        if seconds == seconds and 0.0 <= seconds < float("inf"):
            return name, seconds
        raise ValueError(
            f"invalid fault mode {mode!r}: {name!r} needs a non-negative number of seconds "
            f"(e.g. '{name}:0.5'); valid modes: {valid}"
        )
    raise ValueError(f"unknown fault mode {mode!r}; valid modes: {valid}")


def _normalize_mode(mode: Any) -> str:
    """Validate ``mode`` and return its canonical string form."""
    parse_mode(mode)
    return str(mode)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that skips reverse DNS and never blocks on close."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    fault: FaultServer

    def server_bind(self) -> None:
        """Bind without ``socket.getfqdn`` (which may hit a slow resolver)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class _Handler(BaseHTTPRequestHandler):
    """Request handler; all behaviour is delegated to the owning FaultServer."""

    server: _Server
    protocol_version = "HTTP/1.0"
    server_version = "FaultServer/1.0"
    sys_version = ""
    timeout = 30.0

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silence the default per-request stderr logging."""

    # -- helpers ---------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        """Send a complete response with ``Content-Length`` and ``Connection: close``."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        """Send ``payload`` as a JSON response."""
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json", headers)

    def _send_error_json(self, status: int, message: str, err_type: str = "invalid_request_error") -> None:
        """Send an OpenAI-style error body with a custom message."""
        self._send_json(status, {"error": {"message": message, "type": err_type, "param": None, "code": None}})

    # -- routing ---------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802
        """Serve ``GET /v1/models``; anything else is 404/405."""
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/v1/models":
            self._send_json(200, {"object": "list", "data": [{"id": MODEL_ID, "object": "model"}]})
        elif path == "/v1/chat/completions":
            self._send_error_json(405, f"Method GET not allowed on {path}")
        else:
            self._send_error_json(404, f"Unknown path: GET {self.path}")

    def do_POST(self) -> None:  # noqa: N802
        """Serve ``POST /v1/chat/completions``; anything else is 404/405."""
        path = self.path.split("?", 1)[0].rstrip("/")
        raw = self._read_body()
        if path == "/v1/models":
            self._send_error_json(405, f"Method POST not allowed on {path}")
            return
        if path != "/v1/chat/completions":
            self._send_error_json(404, f"Unknown path: POST {self.path}")
            return
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._send_error_json(400, f"Request body is not valid JSON: {exc}")
            return
        if not isinstance(body, dict):
            self._send_error_json(400, "Request body must be a JSON object")
            return
        self.server.fault._handle_chat(self, body, self.headers.get("Authorization"))

    def _read_body(self) -> bytes:
        """Read the request body according to ``Content-Length``."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""


class FaultServer:
    """A scripted, fault-injecting OpenAI-compatible server.

    Args:
        modes: Initial script of modes, consumed one per chat-completions
            request in order.
        default: Mode used once the script is exhausted.
        answer: What an ``ok`` response carries as message content: a dict or
            list (serialized with ``json.dumps``), a str (used verbatim), or a
            callable taking the request body (dict) and returning one of those.
        model: Model id used when the request does not name one.

    Raises:
        ValueError: If any mode is unknown.

    Attributes:
        requests: Parsed JSON bodies of chat-completions requests, in order.
        applied: The mode applied to each of those requests, same order.
        authorizations: The ``Authorization`` header of each of those requests
            (``"Bearer <api key>"``, or ``None``), same order.
    """

    def __init__(
        self,
        modes: Iterable[str] | None = None,
        default: str = "ok",
        answer: Answer | None = None,
        model: str = MODEL_ID,
    ) -> None:
        self._lock = threading.Lock()
        self._script: deque[str] = deque(_normalize_mode(m) for m in (modes or ()))
        self._default = _normalize_mode(default)
        self._answer: Answer = {"ok": True} if answer is None else answer
        self._model = model
        self._requests: list[dict[str, Any]] = []
        self._applied: list[str] = []
        self._authorizations: list[str | None] = []
        self._closing = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- lifecycle -------------------------------------------------------
    def start(self) -> FaultServer:
        """Bind ``127.0.0.1:0`` and serve in a daemon thread (idempotent).

        Returns:
            The server itself, for chaining.

        Raises:
            RuntimeError: If the server was already closed.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("FaultServer is closed and cannot be restarted")
            if self._httpd is not None:
                return self
            httpd = _Server(("127.0.0.1", 0), _Handler)
            httpd.fault = self
            thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"FaultServer-{httpd.server_address[1]}",
                daemon=True,
            )
            self._httpd = httpd
            self._thread = thread
            thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release sleeping handlers (idempotent, fast).

        Handlers in ``hang`` or ``slow`` modes wake up immediately and drop
        their connections without a response.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            httpd, thread = self._httpd, self._thread
        self._closing.set()
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if thread is not None:
            thread.join(timeout=1.0)

    def __enter__(self) -> FaultServer:
        """Start the server and return it."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Close the server."""
        self.close()

    # -- public state ----------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port.

        Raises:
            RuntimeError: If the server has not been started.
        """
        if self._httpd is None:
            raise RuntimeError("FaultServer is not started; call start() or use it as a context manager")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL for the OpenAI SDK, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Snapshot of the chat-completions request bodies received, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def applied(self) -> list[str]:
        """Snapshot of the mode applied to each chat-completions request."""
        with self._lock:
            return list(self._applied)

    @property
    def authorizations(self) -> list[str | None]:
        """Snapshot of the ``Authorization`` header of each chat-completions request."""
        with self._lock:
            return list(self._authorizations)

    @property
    def pending_modes(self) -> list[str]:
        """The modes still queued in the script (not including the default)."""
        with self._lock:
            return list(self._script)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closing.is_set()

    def set_modes(self, modes: Iterable[str], default: str | None = None) -> None:
        """Replace the script of modes (and optionally the default mode).

        Args:
            modes: New script, consumed FIFO one per request.
            default: New default mode; ``None`` keeps the current one.

        Raises:
            ValueError: If any mode is unknown (nothing is changed then).
        """
        script = [_normalize_mode(m) for m in modes]
        new_default = None if default is None else _normalize_mode(default)
        with self._lock:
            self._script = deque(script)
            if new_default is not None:
                self._default = new_default

    # -- request handling ------------------------------------------------
    def _next_mode(self, body: dict[str, Any], authorization: str | None = None) -> str:
        """Record ``body`` (and its ``Authorization`` header) and pop the mode to apply to it."""
        with self._lock:
            mode = self._script.popleft() if self._script else self._default
            self._requests.append(body)
            self._applied.append(mode)
            self._authorizations.append(authorization)
        return mode

    def _content(self, body: dict[str, Any]) -> str:
        """Compute the ``ok`` message content for ``body``."""
        answer = self._answer(body) if callable(self._answer) else self._answer
        return answer if isinstance(answer, str) else json.dumps(answer)

    def _completion(self, body: dict[str, Any], content: str) -> dict[str, Any]:
        """Build a chat.completion envelope carrying ``content``."""
        prompt_chars = 0
        for message in body.get("messages") or []:
            if isinstance(message, dict):
                prompt_chars += len(str(message.get("content") or ""))
        prompt_tokens = prompt_chars // 4 + 1
        completion_tokens = len(content) // 4 + 1
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model") or self._model),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _handle_chat(self, handler: _Handler, body: dict[str, Any], authorization: str | None = None) -> None:
        """Apply the next scripted mode to one chat-completions request."""
        mode = self._next_mode(body, authorization)
        name, seconds = parse_mode(mode)

        if name == "drop":
            handler.close_connection = True
            return
        if name == "hang":
            self._closing.wait()
            handler.close_connection = True
            return
        if name == "slow":
            if self._closing.wait(seconds or 0.0):
                handler.close_connection = True
                return
            name = "ok"
        if name == "reject-json-schema":
            response_format = body.get("response_format")
            if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
                handler._send_json(
                    500,
                    {
                        "error": {
                            "code": 500,
                            "message": "response_format type 'json_schema' is not supported by this server",
                            "type": "server_error",
                        }
                    },
                )
                return
            name = "ok"

        if name == "429":
            headers = {"Retry-After": f"{seconds:g}"} if seconds is not None else None
            handler._send_json(429, {"error": dict(_ERRORS[429])}, headers)
        elif name in ("400", "401", "500", "502", "503"):
            status = int(name)
            handler._send_json(status, {"error": dict(_ERRORS[status])})
        elif name == "garbage":
            handler._send(200, GARBAGE_BODY, "text/html; charset=utf-8")
        elif name == "ok":
            handler._send_json(200, self._completion(body, self._content(body)))
        elif name == "truncated":
            content = self._content(body)
            handler._send_json(200, self._completion(body, content[: len(content) // 2]))
        elif name == "invalid":
            handler._send_json(200, self._completion(body, INVALID_PROSE))
        elif name == "huge":
            head = self._content(body)
            content = head + " " + "a" * max(0, HUGE_SIZE - len(head) - 1)
            handler._send_json(200, self._completion(body, content))
        else:  # pragma: no cover - parse_mode guarantees one of the above
            raise AssertionError(f"unhandled mode {mode!r}")
