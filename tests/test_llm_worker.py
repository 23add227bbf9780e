from __future__ import annotations

import threading

import pytest

from raytune_llm.errors import (
    LLMAuthError,
    LLMConnectionError,
    LLMRateLimitError,
    LLMResponseError,
    LLMServerError,
    LLMTimeoutError,
    LLMUnavailableError,
)
from raytune_llm.llm import LLMRequest, LLMWorker, UsageStats
from raytune_llm.llm.testing import ScriptedBackend

SCHEMA = {"type": "object", "properties": {"x": {"type": "integer", "minimum": 0, "maximum": 9}}, "required": ["x"]}
MSG = [{"role": "user", "content": "give x"}]


def request(**kw):
    return LLMRequest(MSG, SCHEMA, **kw)


def fast_worker(backend, **kw):
    opts = dict(timeout_s=2.0, max_retries=2, backoff_s=0.0, backoff_max_s=0.0, breaker_failures=3,
                breaker_cooldown_s=60.0)
    opts.update(kw)
    return LLMWorker(backend, **opts)


def test_answer_and_usage():
    with fast_worker(ScriptedBackend([{"x": 3}])) as worker:
        result = worker.submit(request(seed=5)).result(timeout=5)
    assert result.value == {"x": 3} and result.attempts == 1
    assert worker.stats.succeeded == 1 and worker.stats.prompt_tokens > 0


def test_submit_never_waits_for_the_backend():
    gate = threading.Event()

    def blocked(messages, schema):
        gate.wait(10)
        return {"x": 1}

    with fast_worker(ScriptedBackend([blocked]), timeout_s=10) as worker:
        future = worker.submit(request())
        assert not future.done()  # submit returned while the backend is still blocked
        gate.set()
        assert future.result(timeout=5).value == {"x": 1}


def test_retries_transient_errors_with_new_seeds():
    backend = ScriptedBackend([LLMServerError("503"), LLMResponseError("garbage"), {"x": 2}])
    with fast_worker(backend) as worker:
        result = worker.submit(request(seed=10)).result(timeout=5)
    assert result.value == {"x": 2} and result.attempts == 3
    assert [c[2]["seed"] for c in backend.calls] == [10, 11, 12]
    assert worker.stats.retries == 2 and worker.stats.invalid_answers == 1


def test_retry_after_is_honoured_up_to_backoff_max():
    import time

    starts = []

    def limited(after):
        def call(messages, schema):
            starts.append(time.monotonic())
            raise LLMRateLimitError("429", retry_after=after)
        return call

    def record(messages, schema):
        starts.append(time.monotonic())
        return {"x": 1}

    backend = ScriptedBackend([limited(0.3), limited(60.0), record])
    with fast_worker(backend, backoff_max_s=0.5, breaker_failures=9) as worker:
        assert worker.submit(request()).result(timeout=10).attempts == 3
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert 0.3 <= gaps[0] < 0.5 + 0.4  # Retry-After: 0.3 s, although backoff_s is 0
    assert 0.5 <= gaps[1] < 0.5 + 0.4  # Retry-After: 60 s, cut to backoff_max_s


def test_close_ends_a_back_off_at_once():
    import time

    backend = ScriptedBackend([LLMServerError("503")])
    worker = fast_worker(backend, backoff_s=30.0, backoff_max_s=30.0)
    future = worker.submit(request())
    while not backend.calls:
        threading.Event().wait(0.01)
    threading.Event().wait(0.3)  # the worker is now in its back-off of 15 to 30 s
    start = time.monotonic()
    worker.close()
    with pytest.raises(LLMUnavailableError, match="closed"):
        future.result(timeout=5)
    assert time.monotonic() - start < 2 and len(backend.calls) == 1


def test_auth_errors_are_not_retried():
    backend = ScriptedBackend([LLMAuthError("bad key"), {"x": 1}])
    with fast_worker(backend) as worker:
        with pytest.raises(LLMAuthError):
            worker.submit(request()).result(timeout=5)
    assert len(backend.calls) == 1 and worker.stats.failed == 1


def test_timeout_abandons_a_hung_call():
    release = threading.Event()

    def hang(messages, schema):
        release.wait(30)
        return {"x": 1}

    with fast_worker(ScriptedBackend([hang]), timeout_s=0.2, max_retries=1) as worker:
        with pytest.raises(LLMTimeoutError):
            worker.submit(request()).result(timeout=5)
        assert worker.stats.timeouts == 2
    release.set()


def test_breaker_opens_and_fails_fast_then_recovers():
    backend = ScriptedBackend([LLMConnectionError("down")] * 3 + [{"x": 4}])
    with fast_worker(backend, max_retries=5, breaker_failures=3, breaker_cooldown_s=0.3) as worker:
        with pytest.raises(LLMUnavailableError, match="circuit breaker"):
            worker.submit(request()).result(timeout=5)
        assert len(backend.calls) == 3 and worker.stats.breaker_trips == 1
        fast = worker.submit(request())
        assert fast.done()  # refused at once while open: no call made
        with pytest.raises(LLMUnavailableError):
            fast.result()
        assert len(backend.calls) == 3
        threading.Event().wait(0.4)
        assert worker.submit(request()).result(timeout=5).value == {"x": 4}


def test_validate_callback_can_reject_for_a_retry():
    def validate(value):
        if value["x"] == 0:
            raise LLMResponseError("x must not be zero")
        return value["x"] * 10

    with fast_worker(ScriptedBackend([{"x": 0}, {"x": 7}])) as worker:
        assert worker.submit(request(validate=validate)).result(timeout=5).value == 70


def test_queue_limit_and_close_fail_pending_requests():
    gate = threading.Event()

    def blocked(messages, schema):
        gate.wait(10)
        return {"x": 1}

    worker = fast_worker(ScriptedBackend([blocked]), max_pending=2, timeout_s=10)
    first = worker.submit(request())
    while not first.running():
        threading.Event().wait(0.01)
    queued = [worker.submit(request()) for _ in range(2)]
    overflow = worker.submit(request())
    with pytest.raises(LLMUnavailableError, match="max_pending=2"):
        overflow.result(timeout=1)
    worker.close()
    for f in queued:
        with pytest.raises(LLMUnavailableError, match="closed"):
            f.result(timeout=1)
    gate.set()
    with pytest.raises(LLMUnavailableError, match="closed"):
        worker.submit(request()).result(timeout=1)


def test_close_cancels_a_running_generation(caplog):
    from raytune_llm.llm import cancelled

    started, stopped = threading.Event(), threading.Event()

    def generating(messages, schema):  # a backend that checks between tokens, as llama.cpp's does
        started.set()
        for _ in range(1000):
            if cancelled():
                stopped.set()
                raise LLMUnavailableError("generation stopped")
            threading.Event().wait(0.01)
        return {"x": 1}

    worker = fast_worker(ScriptedBackend([generating]), timeout_s=30)
    future = worker.submit(request())
    assert started.wait(5)
    with caplog.at_level("WARNING", logger="raytune_llm"):
        worker.close()
        with pytest.raises(LLMUnavailableError, match="generation stopped"):
            future.result(timeout=5)  # not the 10 s the generation would take, nor the 30 s timeout
    assert stopped.is_set() and worker.stats.attempts == 1  # stopped, and not retried
    assert caplog.records == []  # a request ended by close() is not a failure to warn about
    assert not cancelled()  # the flag belongs to the worker's attempt thread, not to this one


def test_rate_limit_spaces_out_attempts():
    import time

    starts = []

    def record(messages, schema):
        starts.append(time.monotonic())
        return {"x": 1}

    with fast_worker(ScriptedBackend([record]), requests_per_minute=600) as worker:  # one per 0.1 s
        for f in [worker.submit(request()) for _ in range(3)]:
            f.result(timeout=5)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert len(starts) == 3 and min(gaps) >= 0.09


def test_a_buggy_backend_does_not_kill_the_worker():
    def boom(messages, schema):
        raise KeyError("oops")

    with fast_worker(ScriptedBackend([boom, {"x": 5}])) as worker:
        with pytest.raises(Exception, match="KeyError"):
            worker.submit(request()).result(timeout=5)
        assert worker.submit(request()).result(timeout=5).value == {"x": 5}


def test_usage_stats_round_trip_and_cost():
    stats = UsageStats(requests=3, succeeded=2, prompt_tokens=1_000_000, completion_tokens=500_000,
                       latency_s=[1.0, 2.0, 3.0])
    again = UsageStats.from_dict(stats.to_dict())
    assert again == stats
    assert again.latency_percentile(50) == 2.0
    assert again.cost({"prompt": 0.15, "completion": 0.60}) == pytest.approx(0.45)
    assert again.cost(None) is None


@pytest.mark.parametrize("kw", [{"timeout_s": 0}, {"max_retries": -1}, {"breaker_failures": 0},
                                {"requests_per_minute": 0}, {"backoff_s": -1}])
def test_bad_worker_options(kw):
    with pytest.raises(ValueError, match=f"{next(iter(kw))} must be"):
        LLMWorker(ScriptedBackend([{"x": 1}]), **kw)


def test_worker_options_are_checked_without_a_worker():
    with pytest.raises(ValueError, match="unknown option 'timeout'; valid: .*timeout_s"):
        LLMWorker.check_options("worker_options", timeout=5)
    with pytest.raises(ValueError, match=r"worker_options prices has an unknown option 'input'"):
        LLMWorker.check_options("worker_options", prices={"input": 1.0})
    with pytest.raises(ValueError, match="worker_options parallel must be an int >= 1, got '2' \\(str\\)"):
        LLMWorker.check_options("worker_options", parallel="2")
    LLMWorker.check_options("worker_options", timeout_s=5, prices={"prompt": 0.1, "completion": 0.4})


def test_timed_out_calls_cannot_pile_up_threads():
    release = threading.Event()

    def hang(messages, schema):
        release.wait(30)
        return {"x": 1}

    with fast_worker(ScriptedBackend([hang]), timeout_s=0.1, max_retries=0, breaker_failures=99) as worker:
        for _ in range(2):
            with pytest.raises(LLMTimeoutError):
                worker.submit(request()).result(timeout=5)
        with pytest.raises(LLMUnavailableError, match="still running in the background"):
            worker.submit(request()).result(timeout=5)
        release.set()
        threading.Event().wait(0.2)
        assert worker._abandoned == 0


def test_summary_includes_cost_with_prices():
    with fast_worker(ScriptedBackend([{"x": 3}]), prices={"prompt": 1.0, "completion": 2.0}) as worker:
        worker.submit(request()).result(timeout=5)
        summary = worker.summary()
    assert summary["cost"] > 0 and summary["succeeded"] == 1


def test_idle_threads_exit_and_come_back():
    with fast_worker(ScriptedBackend([{"x": 2}])) as worker:
        worker.idle_exit_s = 0.05
        assert worker.submit(request()).result(timeout=5).value == {"x": 2}
        deadline = threading.Event()
        for _ in range(50):
            if not worker._threads:
                break
            deadline.wait(0.05)
        assert not worker._threads  # the idle thread left the pool
        assert worker.submit(request()).result(timeout=5).value == {"x": 2}  # a new one serves
