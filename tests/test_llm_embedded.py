"""The real embedded model (SmolLM2-135M through llama.cpp), in-process and behind an HTTP server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from ray import tune

from raytune_llm import SearchSpace
from raytune_llm.errors import LLMTimeoutError, LLMUnavailableError
from raytune_llm.llm import LLMRequest, LLMWorker, get_backend
from raytune_llm.proposals.prompts import propose_messages
from raytune_llm.proposals.render import space_schema

pytestmark = pytest.mark.llm

SPACE = SearchSpace.from_tune({
    "lr": tune.loguniform(1e-4, 1e-1), "layers": tune.randint(1, 5), "units": tune.qrandint(16, 256, 16),
    "act": tune.choice(["relu", "tanh", "gelu"]), "dropout": tune.uniform(0.0, 0.5), "depth": tune.randint(-3, 120),
})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_embedded_answers_with_integers_and_choices_in_range(embedded, seed):
    messages = propose_messages(SPACE, 3, metric="val_rmse", mode="min")
    value, usage = embedded.complete_json(messages, space_schema(SPACE, 3), temperature=1.0, max_tokens=400,
                                          seed=seed, timeout=120)
    assert len(value["configs"]) == 3
    for config in value["configs"]:
        problems = SPACE.check(config)
        # the grammar bounds integers and categories exactly; floats can only overshoot in the fraction
        assert [p for p in problems if not p.startswith(("'lr'", "'dropout'"))] == [], problems
        assert isinstance(config["layers"], int) and 1 <= config["layers"] <= 4
        assert -3 <= config["depth"] <= 119 and config["units"] % 16 == 0
        assert config["act"] in ("relu", "tanh", "gelu")
        assert 0 <= config["dropout"] < 1 and 0 <= config["lr"] < 1
    assert usage.prompt_tokens > 50 and usage.completion_tokens > 10 and usage.latency_s > 0


def test_embedded_is_loaded_once_per_process(embedded):
    again = get_backend("embedded")
    assert again._model()[0] is embedded._model()[0]


def test_embedded_generation_stops_at_the_timeout(embedded):
    messages = propose_messages(SPACE, 8, metric="val_rmse", mode="min")
    with pytest.raises(LLMTimeoutError):
        embedded.complete_json(messages, space_schema(SPACE, 8), max_tokens=1500, seed=0, timeout=0.3)
    # and the model is usable right after
    value, _ = embedded.complete_json(messages, space_schema(SPACE, 1), max_tokens=200, seed=0, timeout=120)
    assert len(value["configs"]) == 1


def test_worker_with_embedded_model(embedded):
    with LLMWorker(embedded, timeout_s=120) as worker:
        result = worker.submit(LLMRequest(propose_messages(SPACE, 2, metric="acc", mode="max"),
                                          space_schema(SPACE, 2), seed=4, max_tokens=300)).result(timeout=300)
    assert len(result.value["configs"]) == 2 and worker.stats.succeeded == 1


def test_closing_the_worker_stops_the_embedded_generation(embedded):
    _, lock = embedded._model()
    worker = LLMWorker(embedded, timeout_s=120)
    future = worker.submit(LLMRequest(propose_messages(SPACE, 8, metric="m", mode="min"), space_schema(SPACE, 8),
                                      seed=0, max_tokens=1500))
    deadline = time.monotonic() + 60
    while not lock.locked():  # the generation is under way
        assert not future.done() and time.monotonic() < deadline
        time.sleep(0.01)
    worker.close()
    with pytest.raises(LLMUnavailableError, match="worker was closed; generation stopped"):
        future.result(timeout=60)
    # the model is free at once: a lock held by an abandoned generation would make this time out
    assert lock.acquire(timeout=5)
    lock.release()


def test_a_closed_worker_does_not_start_a_generation_that_waited_for_the_model(embedded, monkeypatch):
    model, lock = embedded._model()
    started = []
    real = model.create_chat_completion
    monkeypatch.setattr(model, "create_chat_completion", lambda *a, **kw: started.append(1) or real(*a, **kw))
    with lock:  # another user holds the model
        worker = LLMWorker(embedded, timeout_s=120)
        future = worker.submit(LLMRequest(propose_messages(SPACE, 2, metric="m", mode="min"), space_schema(SPACE, 2),
                                          seed=0, max_tokens=300))
        while not future.running():
            time.sleep(0.01)
        time.sleep(0.2)  # the attempt is waiting for the lock
        worker.close()
    with pytest.raises(LLMUnavailableError, match="worker was closed"):
        future.result(timeout=5)
    assert started == []  # failed on taking the lock, before the prompt is read


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server():
    """llama-cpp-python's OpenAI-compatible server with the embedded model, stopped by PID."""
    port = _free_port()
    log = open(os.devnull, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "raytune_llm.llm.serve", "--model", "embedded", "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "4096", "--model_alias", "smollm2"],
        stdout=log, stderr=log, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama-cpp server exited with {proc.returncode}")
            try:
                urllib.request.urlopen(f"{url}/models", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("llama-cpp server did not become ready in 120 s")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def test_openai_backend_against_real_llama_cpp_server(llama_server):
    backend = get_backend("openai:smollm2", base_url=llama_server)
    messages = propose_messages(SPACE, 2, metric="val_rmse", mode="min")
    with LLMWorker(backend, timeout_s=120, max_retries=2, backoff_s=0.1) as worker:
        for seed in (1, 2):  # a form that fails once may be chance: it is dropped after two
            result = worker.submit(LLMRequest(messages, space_schema(SPACE, 2), seed=seed,
                                              max_tokens=400)).result(timeout=400)
            assert isinstance(result.value["configs"], list) and len(result.value["configs"]) == 2
            assert result.usage.prompt_tokens > 0
    assert backend.mode in ("json_schema", "json_object", "prompt")  # probed, then remembered


def test_exiting_during_a_background_generation_is_clean():
    # an answer nobody waits for any more must not crash the interpreter at exit
    code = (
        "from raytune_llm.llm import get_backend, LLMWorker, LLMRequest\n"
        "from raytune_llm.proposals.prompts import propose_messages\n"
        "from raytune_llm.proposals.render import space_schema\n"
        "from test_llm_embedded import SPACE\n"
        "b = get_backend('embedded'); b.complete_json([{'role': 'user', 'content': 'hi'}], {'type': 'object', "
        "'properties': {'a': {'type': 'integer'}}}, max_tokens=5)\n"
        "w = LLMWorker(b, timeout_s=120)\n"
        "w.submit(LLMRequest(propose_messages(SPACE, 8, metric='m', mode='min'), space_schema(SPACE, 8), max_tokens=1500))\n"
        "import time; time.sleep(1.0)\n"
        "print('exiting')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            cwd=os.path.dirname(__file__))
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert "exiting" in result.stdout
