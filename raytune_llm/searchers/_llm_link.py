"""A searcher's link to its LLM: the backend, the background worker, one outstanding request, usage.

:class:`LLMLink` sends at most one request at a time through an :class:`~raytune_llm.llm.LLMWorker`
(started at the first request) and hands its outcome back when the searcher polls, never blocking
unless asked to, and then for a bounded time. Usage is kept across :meth:`LLMLink.close`, pickling
and save/restore; pickles and saved state hold no thread, future or API key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass, field
from typing import Any

from raytune_llm._checks import check_number, check_options
from raytune_llm.errors import RaytuneLLMError
from raytune_llm.llm import LLMRequest, LLMResult, LLMWorker, UsageStats, backend_spec, get_backend

logger = logging.getLogger("raytune_llm.searchers")

_USAGE_COUNTS = ("requests", "succeeded", "failed", "attempts", "retries", "timeouts", "invalid_answers",
                 "breaker_trips", "prompt_tokens", "completion_tokens")


class _DefaultLLM:
    """``llm`` left out: the embedded model, unless a restored state names the LLM to rebuild.

    A user's explicit ``llm="embedded"`` is the string, not this object, and wins over a saved spec.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'embedded'"

    def __reduce__(self) -> str:
        return "DEFAULT_LLM"


#: the default of every searcher's ``llm`` argument (shown as ``'embedded'``)
DEFAULT_LLM: Any = _DefaultLLM()


@dataclass(frozen=True)
class LLMOutcome:
    """How one request ended: ``result`` (an answer) or ``error`` (it failed), and the ``meta`` it was sent with."""

    result: LLMResult | None
    error: BaseException | None
    meta: dict[str, Any] = field(default_factory=dict)


class LLMLink:
    """The backend, its worker and the one outstanding request of a searcher.

    Args:
        llm: LLM spec, backend object, ``None``, or :data:`DEFAULT_LLM` (not given: ``"embedded"``).
        llm_options: backend options (``base_url``, ``api_key``, ``n_gpu_layers``...).
        timeout_s: seconds one attempt may take.
        worker_options: other :class:`~raytune_llm.llm.LLMWorker` options.
        seed: seed of the requests (request ``i`` is sampled with ``seed * 1000 + i``).
    """

    def __init__(self, llm: Any = DEFAULT_LLM, *, llm_options: Mapping[str, Any] | None = None,
                 timeout_s: float = 120.0, worker_options: Mapping[str, Any] | None = None,
                 seed: int | None = None) -> None:
        timeout_s = check_number("llm_timeout_s", timeout_s, low=0, low_open=True)
        if llm_options is not None and not isinstance(llm_options, Mapping):
            raise ValueError(f"llm_options must be a dict of backend options (base_url, api_key, n_gpu_layers...), "
                             f"got {llm_options!r:.200}")
        # one way to set the attempt timeout: llm_timeout_s (the wait bound reads it too)
        self.worker_options = {**check_options("worker_options", worker_options, LLMWorker.OPTIONS,
                                               refused={"timeout_s": "pass llm_timeout_s= to the searcher instead"}),
                               "timeout_s": timeout_s}
        LLMWorker.check_options("worker_options", **self.worker_options)
        self.given = llm is not DEFAULT_LLM
        self.backend = get_backend("embedded" if llm is DEFAULT_LLM else llm, **dict(llm_options or {}))
        self.seed = seed
        self.timeout_s = timeout_s
        self.requests = 0
        self.future: Future | None = None
        self._meta: dict[str, Any] = {}
        self._worker: LLMWorker | None = None
        self._usage_base = UsageStats()

    @property
    def active(self) -> bool:
        """Whether there is an LLM to ask."""
        return self.backend is not None

    @property
    def busy(self) -> bool:
        """Whether a request is outstanding (its outcome not yet taken by :meth:`poll`)."""
        return self.future is not None

    def submit(self, messages: list[dict[str, Any]], schema: dict[str, Any], *, max_tokens: int,
               temperature: float = 0.7, tag: str, meta: Mapping[str, Any]) -> bool:
        """Send one request unless there is no LLM or one is outstanding; return whether it was sent.
        ``meta`` comes back with its outcome."""
        if self.backend is None or self.future is not None:
            return False
        if self._worker is None:
            self._worker = LLMWorker(self.backend, **self.worker_options)
        seed = None if self.seed is None else self.seed * 1000 + self.requests
        self.future = self._worker.submit(LLMRequest(messages, schema, temperature=temperature,
                                                     max_tokens=max_tokens, seed=seed, tag=tag))
        self._meta = dict(meta)
        self.requests += 1
        return True

    def poll(self, *, block: bool = False, timeout_s: float | None = None) -> LLMOutcome | None:
        """The outstanding request's outcome, once it has one (then it is no longer outstanding).

        Args:
            block: wait for it, at most ``timeout_s`` (default: :meth:`wait_bound_s`).
            timeout_s: the longest wait with ``block``.

        Returns:
            ``None`` when nothing is outstanding or it has not ended (in time).
        """
        future = self.future
        if future is None:
            return None
        if not future.done():
            if not block:
                return None
            try:
                future.exception(timeout=self.wait_bound_s() if timeout_s is None else timeout_s)
            except FutureTimeoutError:
                return None
        self.future = None
        try:
            result = future.result(timeout=0)
        except Exception as exc:  # noqa: BLE001 - an LLM failure never stops the search
            return LLMOutcome(None, exc, self._meta)
        return LLMOutcome(result, None, {**self._meta, "result": result})

    def wait_bound_s(self) -> float:
        """How long a blocking :meth:`poll` waits for one answer: every attempt of the request, plus back-off."""
        worker = self._worker
        if worker is None:
            return self.timeout_s
        return worker.timeout_s * (worker.max_retries + 1) + worker.backoff_max_s * worker.max_retries

    @property
    def usage(self) -> UsageStats:
        """Usage so far, kept across :meth:`close`, pickling and save/restore."""
        if self._worker is None:
            return self._usage_base
        merged = self._worker.snapshot()
        base = self._usage_base
        for name in _USAGE_COUNTS:
            setattr(merged, name, getattr(merged, name) + getattr(base, name))
        merged.latency_s = (base.latency_s + merged.latency_s)[-1000:]
        for key, count in base.errors.items():
            merged.errors[key] = merged.errors.get(key, 0) + count
        return merged

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, Any]:
        """The saved-state entries of the link: requests sent, usage, and the backend's recipe (no secrets)."""
        return {"llm_requests": self.requests, "usage": self.usage.to_dict(), "llm": backend_spec(self.backend)}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Take back what :meth:`state` wrote, and the searcher's ``seed``; drop any request in flight.

        The backend given to this link wins; when ``llm`` was not given, the saved recipe (if any
        and different) is rebuilt, or, if that fails, the search goes on without an LLM.
        """
        self.seed = state["seed"]
        self.requests = int(state["llm_requests"])
        self._usage_base = UsageStats.from_dict(state["usage"])
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        self.future = None
        saved = state.get("llm")
        if not self.given and saved and saved != backend_spec(self.backend):
            try:
                self.backend = get_backend(saved["spec"], **saved["options"])
            except RaytuneLLMError as exc:
                logger.warning("could not rebuild LLM backend %s (%s); continuing without it", saved, exc)
                self.backend = None

    def close(self) -> None:
        """Stop the worker (its usage is kept). A request still running fails like any failed request;
        the next request starts a new worker."""
        if self._worker is not None:
            self._usage_base = self.usage
            self._worker.close()
            self._worker = None

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles searchers into experiment files: no live threads, futures or secrets
        state = dict(self.__dict__)
        state["_usage_base"] = self.usage
        state["_worker"] = None
        state["future"] = None
        return state
