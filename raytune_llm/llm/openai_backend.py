"""Any OpenAI-compatible chat endpoint through the ``openai`` SDK.

Works with OpenAI itself, vLLM, Ollama (``/v1``), llama.cpp's server and llama-cpp-python's server.
Structured output is asked for in the strongest form the server accepts, probed once and then
remembered: ``json_schema`` response format, then ``json_object`` with the schema attached and in
the prompt, then the schema in the prompt alone. A form is skipped while probing when the server
rejects it (llama.cpp's server answers HTTP 500 to ``json_schema``) or when the answer does not
have the schema's shape (llama-cpp-python's server ignores ``json_schema`` silently).

The SDK's own retries are off (``max_retries=0``): :class:`~raytune_llm.llm.worker.LLMWorker`
retries every backend the same way (tenacity, with the server's ``Retry-After``, which
:func:`_translate` reads into :class:`~raytune_llm.errors.LLMRateLimitError`), counts each attempt,
and feeds its circuit breaker.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from raytune_llm.errors import (
    LLMAuthError,
    LLMConfigError,
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMRequestError,
    LLMResponseError,
    LLMServerError,
    LLMTimeoutError,
)
from raytune_llm.llm.base import Message, Usage, parse_json_answer, schema_instructions

logger = logging.getLogger("raytune_llm.llm")

MODES = ("json_schema", "json_object", "prompt")


class OpenAIBackend:
    """An OpenAI-compatible endpoint.

    Args:
        model: the model name the server knows (``"gpt-4o-mini"``, ``"Qwen/Qwen2.5-7B-Instruct"``...).
        base_url: the API root, e.g. ``"http://head-node:8000/v1"``; default ``OPENAI_BASE_URL``
            or OpenAI's.
        api_key: default ``OPENAI_API_KEY``; local servers usually need none. Never stored in state,
            logs or ``repr``.
        response_format: ``"auto"`` (probe), or one of ``"json_schema"``, ``"json_object"``,
            ``"prompt"`` to skip probing.
        timeout_s: default per-request timeout when the caller gives none.
        extra_body: extra JSON fields sent with every request (server-specific options).

    Example:
        >>> backend = OpenAIBackend("qwen2.5:7b", base_url="http://localhost:11434/v1")
        >>> backend.spec
        'openai:qwen2.5:7b'
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        response_format: str = "auto",
        timeout_s: float = 60.0,
        extra_body: Mapping[str, Any] | None = None,
    ) -> None:
        if not model or not isinstance(model, str):
            raise LLMConfigError(f"the OpenAI backend needs a model name, e.g. 'openai:gpt-4o-mini'; got {model!r}")
        if response_format != "auto" and response_format not in MODES:
            raise LLMConfigError(f"response_format must be 'auto' or one of {MODES}, got {response_format!r}")
        self.model = model
        self._explicit_base_url = base_url
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.__api_key = api_key
        if not (api_key or self.base_url or os.environ.get("OPENAI_API_KEY")):
            logger.warning("openai:%s has no API key (api_key= in llm_options, or OPENAI_API_KEY) and no base_url: "
                           "OpenAI will refuse every request and the search will run without the LLM", model)
        self.response_format = response_format
        self.timeout_s = float(timeout_s)
        self.extra_body = dict(extra_body or {})
        self.spec = f"openai:{model}"
        self._mode: str | None = None if response_format == "auto" else response_format
        self._client_obj: Any = None
        self._lock = threading.Lock()
        self._token_param = "max_tokens"
        self._content_failures: dict[str, int] = {}

    @property
    def options(self) -> dict[str, Any]:
        """Constructor options needed to rebuild this backend (never the API key)."""
        opts: dict[str, Any] = {"response_format": self.response_format, "timeout_s": self.timeout_s}
        if self._explicit_base_url:
            opts["base_url"] = self._explicit_base_url
        if self.extra_body:
            opts["extra_body"] = dict(self.extra_body)
        return opts

    @property
    def mode(self) -> str | None:
        """The structured-output mode in use (``None`` until the first successful call when probing)."""
        return self._mode

    def __getstate__(self) -> dict[str, Any]:
        # never pickle the key or the live client (Tune pickles searchers into experiment files)
        state = dict(self.__dict__)
        state["_OpenAIBackend__api_key"] = None
        state["_client_obj"] = None
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r}, mode={self._mode!r})"

    def _client(self) -> Any:
        with self._lock:
            if self._client_obj is None:
                import openai

                key = self.__api_key or os.environ.get("OPENAI_API_KEY")
                if not key:
                    if self.base_url is None:
                        raise LLMAuthError(
                            "no API key for OpenAI: set OPENAI_API_KEY or pass api_key=...; for a local "
                            "server pass base_url='http://HOST:PORT/v1'"
                        )
                    key = "not-needed"  # local servers ignore it but the SDK requires one
                self._client_obj = openai.OpenAI(base_url=self.base_url, api_key=key, max_retries=0,
                                                 timeout=self.timeout_s)
            return self._client_obj

    def _request(self, mode: str, messages: Sequence[Message], schema: Mapping[str, Any], *,
                 temperature: float, max_tokens: int, seed: int | None) -> dict[str, Any]:
        msgs = [dict(m) for m in messages]
        kwargs: dict[str, Any] = {"model": self.model, "temperature": temperature, self._token_param: max_tokens}
        if seed is not None:
            kwargs["seed"] = seed
        if mode == "json_schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": dict(schema), "strict": False},
            }
        else:
            msgs = _with_instructions(msgs, schema_instructions(schema))
            if mode == "json_object":
                # "schema" is how llama-cpp-python's server (and Anyscale-style servers) take a schema
                kwargs["response_format"] = {"type": "json_object", "schema": dict(schema)}
        kwargs["messages"] = msgs
        if self.extra_body:
            kwargs["extra_body"] = dict(self.extra_body)
        return kwargs

    def complete_json(
        self,
        messages: Sequence[Message],
        schema: Mapping[str, Any],
        *,
        temperature: float = 0.7,
        max_tokens: int = 512,
        seed: int | None = None,
        timeout: float | None = None,
    ) -> tuple[Any, Usage]:
        """See :class:`~raytune_llm.llm.base.LLMBackend`."""
        import openai

        client = self._client()
        modes = [self._mode] if self._mode else [m for m in MODES if self._content_failures.get(m, 0) < 2] or ["prompt"]
        start = time.perf_counter()
        rejected_by_server = True  # every stronger mode so far was refused by the server itself
        spent = [0, 0]  # prompt and completion tokens of every answer this call received
        for i, mode in enumerate(modes):
            probing = self._mode is None and i < len(modes) - 1
            kwargs = self._request(mode, messages, schema, temperature=temperature, max_tokens=max_tokens, seed=seed)
            try:
                response = client.chat.completions.create(**kwargs, timeout=timeout or self.timeout_s)
            except (openai.BadRequestError, openai.UnprocessableEntityError, openai.InternalServerError) as exc:
                if _mentions(exc, "max_completion_tokens") and self._token_param == "max_tokens":
                    self._token_param = "max_completion_tokens"  # newer OpenAI models
                    return self.complete_json(messages, schema, temperature=temperature, max_tokens=max_tokens,
                                              seed=seed, timeout=timeout)
                status = getattr(exc, "status_code", 500)
                if probing and status in (400, 422, 500):
                    # 400/422: this server does not take this response format. A 500 may be that
                    # or a passing fault: the mode is dropped for good only after two.
                    if status == 500:
                        self._content_failures[mode] = self._content_failures.get(mode, 0) + 1
                        rejected_by_server = rejected_by_server and self._content_failures[mode] >= 2
                    continue  # try the next one
                raise _translate(exc) from exc
            except openai.OpenAIError as exc:
                raise _translate(exc) from exc
            usage = getattr(response, "usage", None)
            spent[0] += int(getattr(usage, "prompt_tokens", 0) or 0)  # a discarded probe answer was paid for too
            spent[1] += int(getattr(usage, "completion_tokens", 0) or 0)
            try:
                value = parse_json_answer(_content(response), schema)
            except LLMResponseError:
                if probing:
                    # e.g. a server that ignores json_schema and lets the model ramble; one bad answer
                    # may be chance, so a mode is dropped for good only after two
                    self._content_failures[mode] = self._content_failures.get(mode, 0) + 1
                    rejected_by_server = rejected_by_server and self._content_failures[mode] >= 2
                    continue
                raise
            if self._mode is None and rejected_by_server:
                self._mode = mode  # remembered: every stronger mode is known not to work here
            return value, Usage(
                prompt_tokens=spent[0],
                completion_tokens=spent[1],
                latency_s=time.perf_counter() - start,
                model=str(getattr(response, "model", "") or self.model),
            )
        raise LLMError("unreachable")  # pragma: no cover


def _with_instructions(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    if messages and messages[0].get("role") == "system":
        return [{**messages[0], "content": f"{messages[0]['content']}\n\n{text}"}, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


def _content(response: Any) -> str:
    try:
        return response.choices[0].message.content or ""
    except (AttributeError, IndexError, TypeError) as exc:
        raise LLMResponseError(f"the server's answer is not a chat completion: {str(response)[:200]!r}") from exc


def _mentions(exc: Exception, word: str) -> bool:
    return word in str(exc)


_KEY_PATTERN = re.compile(r"(sk|key)-[A-Za-z0-9_*\-.]{4,}")


def redact(text: str) -> str:
    """Remove anything that looks like an API key (servers echo masked key fragments in 401s)."""
    return _KEY_PATTERN.sub("[redacted]", text)


def _translate(exc: Exception) -> LLMError:
    """Map an ``openai`` SDK exception to the raytune-llm hierarchy (key fragments redacted)."""
    import openai

    text = redact(str(exc)[:300])
    if isinstance(exc, openai.APITimeoutError):
        return LLMTimeoutError(f"the LLM server did not answer in time: {text}")
    if isinstance(exc, openai.APIConnectionError):
        return LLMConnectionError(f"cannot reach the LLM server ({text}); check base_url and that the server runs")
    if isinstance(exc, openai.RateLimitError):
        retry_after = None
        try:
            retry_after = float(exc.response.headers.get("retry-after"))
        except (AttributeError, TypeError, ValueError):
            pass
        return LLMRateLimitError(f"the LLM server is rate limiting us (429): {text}", retry_after=retry_after)
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return LLMAuthError(f"the LLM server rejected the API key ({text}); check OPENAI_API_KEY or api_key=")
    if isinstance(exc, openai.APIResponseValidationError):
        return LLMResponseError(f"the server's answer could not be read: {text}")
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return LLMServerError(f"the LLM server failed ({exc.status_code}): {text}")
        if exc.status_code == 404:
            return LLMRequestError(f"model or endpoint not found (404): {text}; check the model name and base_url")
        return LLMRequestError(f"the LLM server rejected the request ({exc.status_code}): {text}")
    if isinstance(exc, openai.APIError):
        return LLMResponseError(f"the server's answer could not be read: {text}")
    return LLMError(f"{type(exc).__name__}: {text}")
