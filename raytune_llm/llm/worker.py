"""A non-blocking LLM worker: background threads, timeouts, retries, a circuit breaker, usage.

Searchers never call a backend directly. They :meth:`LLMWorker.submit` a request and get a
:class:`concurrent.futures.Future` at once; they look at it when they next run (``future.done()``)
and never wait on it unless told to. Every path is bounded: each attempt has a timeout, retries are
few and their back-off is capped, the queue has a maximum length, and a backend that keeps failing
is not called again until its cool-down has passed (the circuit breaker), so a dead server costs
one failed future per request and no time at all on the caller's side.

Retries, exponential back-off and when to stop are tenacity's (:class:`tenacity.Retrying`); the
wait adds jitter from the worker's own RNG and honours a 429's ``Retry-After``. What is particular
to this worker stays here: the threads, the deadline of each attempt, the circuit breaker, the rate
limit and the usage accounting.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import tenacity

from raytune_llm._checks import check_int, check_number, check_options
from raytune_llm.errors import (
    LLMAuthError,
    LLMCancelledError,
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMResponseError,
    LLMServerError,
    LLMTimeoutError,
    LLMUnavailableError,
)
from raytune_llm.llm.base import LLMBackend, Message, Usage, cancel_on

logger = logging.getLogger("raytune_llm.llm")

# failures that say "the backend is unwell" (a bad answer does not)
_BREAKER_ERRORS = (LLMTimeoutError, LLMConnectionError, LLMServerError, LLMRateLimitError, LLMAuthError)


@dataclass
class LLMRequest:
    """One request for a JSON answer.

    Attributes:
        messages: the chat.
        schema: JSON schema of the answer.
        temperature: sampling temperature.
        max_tokens: bound on the answer's length.
        seed: sampling seed (retries use ``seed + attempt`` so a garbled answer is not repeated).
        tag: free text for logs (e.g. ``"pso-replace"``).
        validate: optional callable applied to the parsed answer in the worker thread; it may
            return a transformed value or raise :class:`LLMResponseError` to trigger a retry.
    """

    messages: Sequence[Message]
    schema: Mapping[str, Any]
    temperature: float = 0.7
    max_tokens: int = 512
    seed: int | None = None
    tag: str = ""
    validate: Callable[[Any], Any] | None = None


@dataclass
class LLMResult:
    """A successful answer: the parsed value, the usage of the successful attempt, attempts made."""

    value: Any
    usage: Usage
    attempts: int
    tag: str = ""


@dataclass
class UsageStats:
    """Running totals of a worker (or a searcher), JSON-able through :meth:`to_dict`.

    Attributes:
        requests: requests submitted.
        succeeded: requests that produced an answer.
        failed: requests that ended in an error (including fast failures while the circuit was open).
        attempts: calls made to the backend.
        retries: attempts beyond the first.
        timeouts: attempts that timed out.
        invalid_answers: attempts whose answer was not valid JSON for the schema.
        breaker_trips: times the circuit breaker opened.
        prompt_tokens: tokens read, successful attempts.
        completion_tokens: tokens written, successful attempts.
        latency_s: latencies of the last successful attempts (at most 1000 kept).
        errors: count of failures by exception class name.
    """

    requests: int = 0
    succeeded: int = 0
    failed: int = 0
    attempts: int = 0
    retries: int = 0
    timeouts: int = 0
    invalid_answers: int = 0
    breaker_trips: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def latency_percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (0-100) of recorded latencies, or ``None`` without data."""
        if not self.latency_s:
            return None
        data = sorted(self.latency_s)
        k = min(len(data) - 1, max(0, round(q / 100 * (len(data) - 1))))
        return data[k]

    def cost(self, prices: Mapping[str, float] | None) -> float | None:
        """Cost under ``prices`` = ``{"prompt": per_million_tokens, "completion": per_million_tokens}``."""
        if not prices:
            return None
        return (self.prompt_tokens * prices.get("prompt", 0.0) + self.completion_tokens * prices.get("completion", 0.0)) / 1e6

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "succeeded": self.succeeded, "failed": self.failed,
            "attempts": self.attempts, "retries": self.retries, "timeouts": self.timeouts,
            "invalid_answers": self.invalid_answers, "breaker_trips": self.breaker_trips,
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "latency_s": list(self.latency_s[-1000:]), "errors": dict(self.errors),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UsageStats:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def summary(self, prices: Mapping[str, float] | None = None) -> dict[str, Any]:
        """Totals plus p50/p95 latency (and the cost under ``prices``), without the raw latencies."""
        out = {k: v for k, v in self.to_dict().items() if k != "latency_s"}
        out["latency_p50_s"] = self.latency_percentile(50)
        out["latency_p95_s"] = self.latency_percentile(95)
        if prices:
            out["cost"] = self.cost(prices)
        return out


class _CircuitBreaker:
    """Opens after ``failures`` consecutive backend failures and refuses calls for ``cooldown_s``.

    Not locked itself: the worker calls it under its own lock.
    """

    def __init__(self, failures: int, cooldown_s: float) -> None:
        self.failures = failures
        self.cooldown_s = cooldown_s
        self.consecutive = 0
        self.open_until = 0.0
        self.last_error: LLMError | None = None  # the failure that opened it last

    def remaining_s(self) -> float:
        """Seconds the circuit stays open (0 when closed)."""
        return max(0.0, self.open_until - time.monotonic())

    def success(self) -> None:
        self.consecutive = 0
        self.open_until = 0.0

    def failure(self, exc: LLMError) -> bool:
        """Count ``exc`` if it says the backend is unwell; return whether it opened the circuit."""
        if not isinstance(exc, _BREAKER_ERRORS):
            return False
        self.consecutive += 1
        if self.consecutive < self.failures or self.remaining_s() > 0:
            return False
        self.open_until = time.monotonic() + self.cooldown_s
        self.last_error = exc
        self.consecutive = 0
        return True


class LLMWorker:
    """Runs LLM requests in background threads so that callers never block.

    Args:
        backend: any :class:`~raytune_llm.llm.base.LLMBackend`.
        timeout_s: seconds one attempt may take.
        max_retries: attempts after the first, for retryable errors (timeouts, connection errors,
            429, 5xx, invalid answers).
        backoff_s: first back-off; doubles per retry, with jitter, up to ``backoff_max_s``. A 429's
            ``Retry-After`` is honoured up to ``backoff_max_s``.
        backoff_max_s: cap of one back-off.
        breaker_failures: consecutive backend failures (timeouts, connection, 5xx, 429, auth) that
            open the circuit.
        breaker_cooldown_s: how long an open circuit refuses requests before one trial request.
        requests_per_minute: optional rate limit on attempts.
        max_pending: queued requests beyond which :meth:`submit` fails fast.
        parallel: requests run at once (1 for an in-process model; more for a remote server).
        prices: optional ``{"prompt": $, "completion": $}`` per million tokens, for cost reports.

    Example:
        >>> from raytune_llm.llm.testing import ScriptedBackend
        >>> worker = LLMWorker(ScriptedBackend([{"x": 1}]))
        >>> future = worker.submit(LLMRequest([{"role": "user", "content": "hi"}], {"type": "object"}))
        >>> future.result(timeout=5).value
        {'x': 1}
        >>> worker.close()
    """

    def __init__(
        self,
        backend: LLMBackend,
        *,
        timeout_s: float = 120.0,
        max_retries: int = 2,
        backoff_s: float = 1.0,
        backoff_max_s: float = 30.0,
        breaker_failures: int = 3,
        breaker_cooldown_s: float = 60.0,
        requests_per_minute: float | None = None,
        max_pending: int = 32,
        parallel: int = 1,
        prices: Mapping[str, float] | None = None,
    ) -> None:
        self.check_options(timeout_s=timeout_s, max_retries=max_retries, backoff_s=backoff_s,
                           backoff_max_s=backoff_max_s, breaker_failures=breaker_failures,
                           breaker_cooldown_s=breaker_cooldown_s, requests_per_minute=requests_per_minute,
                           max_pending=max_pending, parallel=parallel, prices=prices)
        self.backend = backend
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.backoff_max_s = float(backoff_max_s)
        self.breaker_failures = int(breaker_failures)
        self.breaker_cooldown_s = float(breaker_cooldown_s)
        self.min_interval_s = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self.max_pending = int(max_pending)
        self.parallel = int(parallel)
        self.prices = dict(prices) if prices else None
        self.stats = UsageStats()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: deque[tuple[LLMRequest, Future]] = deque()
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()
        self._breaker = _CircuitBreaker(self.breaker_failures, self.breaker_cooldown_s)
        self._exponential = tenacity.wait_exponential(multiplier=self.backoff_s, max=self.backoff_max_s)
        self._last_start = 0.0
        self._warned: set[str] = set()
        self._rng = random.Random()  # back-off jitter only; never the global RNG
        self._abandoned = 0  # timed-out attempts whose thread is still running
        self.max_abandoned = 2
        self.idle_exit_s = 30.0

    OPTIONS = ("timeout_s", "max_retries", "backoff_s", "backoff_max_s", "breaker_failures", "breaker_cooldown_s",
               "requests_per_minute", "max_pending", "parallel", "prices")

    @staticmethod
    def check_options(name: str = "LLMWorker", **options: Any) -> None:
        """Check worker options (as the constructor takes them) without starting a worker.

        The searchers call it on ``worker_options`` when they are built, so that a typo fails at
        once rather than at the first LLM request, mid-experiment.

        Raises:
            ValueError: an unknown option (the valid ones are listed) or a bad value.
        """
        for key, value in check_options(name, options, LLMWorker.OPTIONS).items():
            label = f"{name} {key}"
            if key == "timeout_s":
                check_number(label, value, low=0, low_open=True)
            elif key in ("backoff_s", "backoff_max_s", "breaker_cooldown_s"):
                check_number(label, value, low=0, allow_inf=key != "backoff_s")
            elif key == "max_retries":
                check_int(label, value, minimum=0)
            elif key in ("breaker_failures", "max_pending", "parallel"):
                check_int(label, value, minimum=1)
            elif key == "requests_per_minute":
                check_number(label, value, low=0, low_open=True, optional=True)
            elif value is not None:  # prices
                for item, price in check_options(label, value, ["prompt", "completion"]).items():
                    check_number(f"{label}[{item!r}]", price, low=0)

    # ------------------------------------------------------------------ public API
    def submit(self, request: LLMRequest) -> Future:
        """Queue ``request``; return a future holding an :class:`LLMResult` or an :class:`LLMError`.

        Never blocks. The future fails at once with :class:`LLMUnavailableError` when the worker is
        closed, the circuit is open or the queue is full.
        """
        future: Future = Future()
        with self._lock:
            self.stats.requests += 1
            reason = None
            if self._closed.is_set():
                reason = "the LLM worker is closed"
            elif self._breaker.remaining_s() > 0:
                reason = (f"the LLM backend failed {self.breaker_failures} times in a row; not calling it for "
                          f"another {self._breaker.remaining_s():.0f} s (circuit breaker)")
            elif len(self._queue) >= self.max_pending:
                reason = f"{len(self._queue)} LLM requests are already queued (max_pending={self.max_pending})"
            if reason:
                self._record_failure_locked(LLMUnavailableError(reason))
                future.set_exception(LLMUnavailableError(reason))
                return future
            self._queue.append((request, future))
            self._ensure_threads_locked()
            self._wake.notify()
        return future

    def summary(self) -> dict[str, Any]:
        """:meth:`UsageStats.summary` of a consistent snapshot, with the cost under ``prices``."""
        return self.snapshot().summary(self.prices)

    def snapshot(self) -> UsageStats:
        """A consistent copy of :attr:`stats` (taken under the worker's lock)."""
        with self._lock:
            return UsageStats.from_dict(self.stats.to_dict())

    @property
    def circuit_open(self) -> bool:
        """Whether the breaker currently refuses requests."""
        return self._breaker.remaining_s() > 0

    @property
    def pending(self) -> int:
        """Requests queued and not yet started."""
        with self._lock:
            return len(self._queue)

    def close(self) -> None:
        """Stop the threads and fail every queued request; idempotent. A running attempt on a
        backend that generates token by token in this process (llama.cpp) stops at the next token
        and fails with :class:`LLMUnavailableError`; on others (a server, a Ray actor) it runs to
        its answer or its timeout, which its future then holds."""
        with self._lock:
            self._closed.set()
            queued = list(self._queue)
            self._queue.clear()
            self._wake.notify_all()
        for _, future in queued:
            if future.set_running_or_notify_cancel():
                future.set_exception(LLMUnavailableError("the LLM worker was closed before this request ran"))

    def __enter__(self) -> LLMWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LLMWorker(backend={getattr(self.backend, 'spec', type(self.backend).__name__)!r}, pending={len(self._queue)})"

    # ------------------------------------------------------------------ threads
    def _ensure_threads_locked(self) -> None:
        self._threads = [t for t in self._threads if t.is_alive()]
        while len(self._threads) < self.parallel:
            t = threading.Thread(target=self._loop, name=f"raytune-llm-worker-{len(self._threads)}", daemon=True)
            t.start()
            self._threads.append(t)

    def _loop(self) -> None:
        while True:
            with self._lock:
                idle_since = time.monotonic()
                while not self._queue and not self._closed.is_set():
                    self._wake.wait(timeout=1.0)
                    if not self._queue and time.monotonic() - idle_since > self.idle_exit_s:
                        # leave the pool under the lock, so that a submit() racing with this exit
                        # starts a new thread instead of counting on this one
                        me = threading.current_thread()
                        if me in self._threads:
                            self._threads.remove(me)
                        return
                if self._closed.is_set():
                    return
                request, future = self._queue.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._run(request))
            except LLMError as exc:
                future.set_exception(exc)
            except BaseException as exc:  # a bug in a validate callback or backend: never lose the future
                logger.exception("unexpected error in LLM request %r", request.tag)
                future.set_exception(LLMError(f"unexpected {type(exc).__name__}: {exc}"))

    # ------------------------------------------------------------------ one request
    def _run(self, request: LLMRequest) -> LLMResult:
        """Attempts of ``request`` until one answers, a failure is not worth retrying, or the
        retries are spent (tenacity decides; the last failure is raised)."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            retry=tenacity.retry_if_exception(self._worth_retrying),
            wait=self._wait,
            sleep=self._sleep,
            reraise=True,
        )
        attempts = 0
        try:
            for attempt in retrying:
                attempts = attempt.retry_state.attempt_number
                with attempt:
                    value, usage = self._try(request, attempts - 1)
        except LLMError as exc:
            self._fail(exc)
            raise
        with self._lock:
            self._breaker.success()
            self.stats.succeeded += 1
            self.stats.prompt_tokens += usage.prompt_tokens
            self.stats.completion_tokens += usage.completion_tokens
            self.stats.latency_s.append(usage.latency_s)
            if len(self.stats.latency_s) > 1000:
                del self.stats.latency_s[:-1000]
        return LLMResult(value=value, usage=usage, attempts=attempts, tag=request.tag)

    def _try(self, request: LLMRequest, retry: int) -> tuple[Any, Usage]:
        """Attempt ``retry`` (0 for the first) of ``request``, with ``seed + retry`` so that a garbled
        answer is not repeated; its failures are counted here, the decision to retry is tenacity's."""
        if self._closed.is_set():
            raise LLMUnavailableError("the LLM worker was closed")
        if self.circuit_open:
            raise LLMUnavailableError(
                f"circuit breaker open after repeated failures (last: {self._breaker.last_error})")
        self._respect_rate_limit()
        with self._lock:
            self.stats.attempts += 1
            if retry:
                self.stats.retries += 1
        seed = None if request.seed is None else request.seed + retry
        try:
            value, usage = self._attempt(request, seed)
            if request.validate is not None:
                value = request.validate(value)
        except LLMError as exc:
            if self._closed.is_set() or isinstance(exc, LLMCancelledError):
                # stopped by close() or at interpreter exit: nothing to warn about, nothing for the breaker
                logger.debug("LLM request %r ended by close(): %s", request.tag, exc)
            else:
                self._note_attempt_failure(exc)
            raise
        return value, usage

    def _worth_retrying(self, exc: BaseException) -> bool:
        return isinstance(exc, LLMError) and exc.retryable and not self._closed.is_set()

    def _wait(self, retry_state: tenacity.RetryCallState) -> float:
        """tenacity's exponential back-off times a jitter in [0.5, 1), and at least a 429's
        ``Retry-After``; both capped at ``backoff_max_s``."""
        delay = self._exponential(retry_state) * (0.5 + self._rng.random() / 2)
        exc = retry_state.outcome.exception() if retry_state.outcome is not None else None
        if isinstance(exc, LLMRateLimitError) and exc.retry_after:
            delay = max(delay, min(float(exc.retry_after), self.backoff_max_s))
        return delay

    def _attempt(self, request: LLMRequest, seed: int | None) -> tuple[Any, Usage]:
        """One call of the backend in its own thread, given up after ``timeout_s`` (the thread of a
        backend that ignores its timeout is abandoned, and counted until it ends)."""
        with self._lock:
            if self._abandoned >= self.max_abandoned:
                raise LLMUnavailableError(
                    f"{self._abandoned} timed-out LLM calls are still running in the background; not starting "
                    "another until they end (the backend ignores timeouts)")
        box: dict[str, Any] = {}
        done = threading.Event()
        timeout = self.timeout_s

        def call() -> None:
            start = time.perf_counter()
            try:
                with cancel_on(self._closed):  # close() stops a generation between two tokens
                    value, usage = self.backend.complete_json(
                        request.messages, request.schema, temperature=request.temperature,
                        max_tokens=request.max_tokens, seed=seed, timeout=timeout,
                    )
                if not usage.latency_s:
                    usage = Usage(usage.prompt_tokens, usage.completion_tokens, time.perf_counter() - start, usage.model)
                box["result"] = (value, usage)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                box["error"] = exc
            finally:
                with self._lock:
                    done.set()
                    if box.get("abandoned"):
                        self._abandoned -= 1

        threading.Thread(target=call, name="raytune-llm-attempt", daemon=True).start()
        if not done.wait(timeout):
            with self._lock:
                if not done.is_set():
                    box["abandoned"] = True
                    self._abandoned += 1
            raise LLMTimeoutError(f"no answer within {timeout:g} s (request {request.tag or 'untagged'})")
        if "error" in box:
            exc = box["error"]
            if isinstance(exc, LLMError):
                raise exc
            raise LLMError(f"{type(exc).__name__} from the LLM backend: {exc}") from exc
        return box["result"]

    # ------------------------------------------------------------------ accounting
    def _note_attempt_failure(self, exc: LLMError) -> None:
        with self._lock:
            if isinstance(exc, LLMTimeoutError):
                self.stats.timeouts += 1
            if isinstance(exc, LLMResponseError):
                self.stats.invalid_answers += 1
            if self._breaker.failure(exc):
                self.stats.breaker_trips += 1
                logger.warning(
                    "LLM backend %s failed %d times in a row (last: %s); pausing calls for %.0f s",
                    getattr(self.backend, "spec", "?"), self.breaker_failures, exc, self.breaker_cooldown_s,
                )
            kind = type(exc).__name__
            first = kind not in self._warned
            self._warned.add(kind)
        if first:
            logger.warning("LLM call failed (%s): %s; the search goes on without this answer", kind, exc)
        else:
            logger.debug("LLM call failed (%s): %s", kind, exc)

    def _record_failure_locked(self, exc: LLMError) -> None:
        self.stats.failed += 1
        name = type(exc).__name__
        self.stats.errors[name] = self.stats.errors.get(name, 0) + 1

    def _fail(self, exc: LLMError) -> None:
        with self._lock:
            self._record_failure_locked(exc)

    def _respect_rate_limit(self) -> None:
        if not self.min_interval_s:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._last_start + self.min_interval_s)
            self._last_start = start
        self._sleep(start - now)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._closed.wait(seconds)
