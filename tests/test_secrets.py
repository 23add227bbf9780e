"""No API key anywhere it could be read back: pickles, saved state, repr, logs, telemetry, Tune's
experiment folder; for every backend and every searcher, with the key from ``llm_options`` or from
``OPENAI_API_KEY``.

Each test plants two unique keys: one in ``llm_options={"api_key": ...}``, one in the environment.
The OpenAI-compatible fault server records the ``Authorization`` header of every request, which
proves the planted key was in use (a scan for a key that was never used could not fail). A real
``tune.Tuner`` run, with the key in ``llm_options`` and the LLM in a Ray actor, checks every file of
the experiment folder: what Tune writes there does not depend on the backend, and the searcher's
pickle, which does, is checked for every backend.
"""

from __future__ import annotations

import base64
import json
import logging
import pickle
import uuid
from pathlib import Path

import pytest
from conformance.suite import SPACE, objective
from ray import cloudpickle, tune
from support.fault_server import FaultServer
from support.metastores import features

from raytune_llm import LLMPSOSearcher, LLMSearcher, MetaLLMiXSearcher

pytestmark = pytest.mark.ray

TASK = "image-classification"
GOOD = {"x": 0.31, "n": 5, "act": "b", "lr": 0.003}

#: backend -> (spec, options without the key, whether it takes ``api_key``); ``{gguf}``: a file
#: that is not a model (llama.cpp fails to load it at the first request, the searcher carries on)
BACKENDS = {
    "openai": ("openai:fault", {}, True),
    "ray:openai": ("ray:openai:fault", {"num_cpus": 0}, True),
    "embedded": ("embedded", {"n_threads": 1}, False),
    "llama-cpp": ("llama-cpp:{gguf}", {}, False),
}
CASES = [(b, src) for b, (_, _, keyed) in BACKENDS.items() for src in (("option", "env") if keyed else ("env",))]
SEARCHERS = ("LLMPSOSearcher", "LLMSearcher", "MetaLLMiXSearcher")


def _planted() -> dict[str, str]:
    """Fresh keys for one test (a late request of another test carries other keys)."""
    return {"llm_options key": f"sk-planted-option-{uuid.uuid4().hex}",
            "environment key": f"sk-planted-env-{uuid.uuid4().hex}"}


def _needles(key: str) -> dict[str, bytes]:
    """The key as text, hex, and base64 at each of the three byte alignments (the middle part of
    each encoding, which does not depend on the neighbouring bytes)."""
    raw = key.encode()
    out = {"text": raw, "hex": raw.hex().encode()}
    for pad in range(3):
        out[f"base64+{pad}"] = base64.b64encode(b"\0" * pad + raw)[4:-4]
    return out


class Scanner:
    """Collects every place where one of ``keys`` can be read back."""

    def __init__(self, keys: dict[str, str]) -> None:
        self.needles = {name: _needles(key) for name, key in keys.items()}
        self.found: list[str] = []

    def blob(self, blob: bytes | str, where: str) -> None:
        data = blob.encode("utf-8", "backslashreplace") if isinstance(blob, str) else bytes(blob)
        self.found += [f"{name} ({form}) in {where}" for name, forms in self.needles.items()
                       for form, needle in forms.items() if needle in data]

    def tree(self, root: Path, label: str) -> None:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                self.blob(path.read_bytes(), f"{label}/{path.relative_to(root)}")


def _answer(body: dict) -> dict:
    """Answers every schema the three searchers ask for (configs, a recommendation, a verdict)."""
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
    props = schema.get("properties", {})
    if "configs" in props:
        out: dict = {"configs": [dict(GOOD)] * max(1, int(props["configs"].get("minItems", 1)))}
        if "analysis" in props:
            out["analysis"] = "x near 0.3 and act=b did best"
        return out
    if "configuration" in props:
        return {"model": "quad", "configuration": dict(GOOD), "expected_metric": 0.02,
                "explanation": "the nearest data sets did best with x near 0.3"}
    return {name: {"score": 5, "reason": "ok"} for name in props}


@pytest.fixture(scope="module", autouse=True)
def ray_local():
    from support.ray_local import local_ray

    with local_ray():
        yield


@pytest.fixture
def server():  # one per test: a late request of an earlier test cannot reach this one's
    with FaultServer(answer=_answer) as srv:
        yield srv


def _make(name: str, backend: str, key: str | None, *, url: str, meta: str, log_dir: str | None):
    spec, options, keyed = BACKENDS[backend]
    if "{gguf}" in spec:
        gguf = Path(meta).parent / "not-a-model.gguf"
        gguf.write_bytes(b"GGUF but not a model")
        spec = spec.format(gguf=gguf)
    options = dict(options)
    if keyed:
        options.update(base_url=url, response_format="json_schema", timeout_s=10.0)
    if key is not None:
        options["api_key"] = key
    common = dict(seed=0, llm=spec, llm_options=options, llm_timeout_s=20.0 if keyed else 1.0, log_dir=log_dir,
                  worker_options={"max_retries": 0})
    if name == "LLMPSOSearcher":
        return LLMPSOSearcher(swarm_size=4, warmup=2, llm_every=2, wait_for_llm=True, **common)
    if name == "LLMSearcher":
        return LLMSearcher(batch_size=2, wait_for_llm=True, **common)
    inner = LLMPSOSearcher(swarm_size=4, llm=None, seed=0, telemetry=False)  # an LLMPSOSearcher is checked above
    return MetaLLMiXSearcher(meta=meta, features=features(5, 1000), task=TASK, n_warm=2, inner=inner,
                             recommend_timeout_s=20.0, attempts=1, **common)


def _drive(searcher, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        config = searcher.suggest(f"t{i}")
        assert isinstance(config, dict), config
        searcher.on_trial_complete(f"t{i}", {"score": objective(config)})


def planted_trial(config):
    tune.report({"score": objective(config)})


@pytest.mark.parametrize("searcher_name", SEARCHERS)
@pytest.mark.parametrize("backend, source", CASES)
def test_no_api_key_in_pickles_state_logs_telemetry_or_the_experiment_folder(
        backend, source, searcher_name, server, meta_path, tmp_path, monkeypatch, caplog):
    keys = _planted()
    monkeypatch.setenv("OPENAI_API_KEY", keys["environment key"])
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    caplog.set_level(logging.DEBUG)
    scan = Scanner(keys)
    keyed = BACKENDS[backend][2]
    option_key = keys["llm_options key"] if source == "option" else None

    def sent() -> list[str | None]:  # this test's requests (an earlier test's actor may still send)
        return [a for a in server.authorizations if a and any(k in a for k in keys.values())]

    searcher = _make(searcher_name, backend, option_key, url=server.url, meta=meta_path,
                     log_dir=str(tmp_path / "telemetry"))
    searcher.set_search_properties("score", "min", dict(SPACE))
    _drive(searcher, 6)
    # while the worker, its client and the actor are alive (the state Tune pickles mid-run)
    scan.blob(pickle.dumps(searcher), "pickle.dumps(searcher)")
    scan.blob(cloudpickle.dumps(searcher), "cloudpickle.dumps(searcher)")  # as Tune pickles
    scan.blob(json.dumps(searcher.get_state()), "get_state()")
    searcher.save(str(tmp_path / "saved" / "searcher.json"))
    scan.blob(repr(searcher) + str(searcher), "repr/str(searcher)")
    searcher.close()
    scan.tree(tmp_path / "telemetry", "telemetry")
    scan.tree(tmp_path / "saved", "save()")
    scan.tree(Path(meta_path).parent, "meta store")

    if keyed:
        # the planted key is the one that reached the server (else the scans prove nothing); the ray
        # backend forwards the driver's OPENAI_API_KEY to its actor
        expected = f"Bearer {option_key or keys['environment key']}"
        assert sent() and set(sent()) == {expected}, (len(sent()), {u[:30] for u in sent()})

    if backend == "ray:openai" and source == "option":
        # a real Tune run: Tune pickles the searcher (and so its backend) into the experiment folder
        before = len(sent())
        tuned = _make(searcher_name, backend, option_key, url=server.url, meta=meta_path, log_dir=None)
        results = tune.Tuner(
            planted_trial, param_space=dict(SPACE),
            tune_config=tune.TuneConfig(metric="score", mode="min", search_alg=tuned, num_samples=4,
                                        max_concurrent_trials=1, reuse_actors=True),
            run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), name="planted", verbose=0),
        ).fit()
        tuned.close()
        assert len(results) == 4 and not results.errors
        during = sent()[before:]
        assert during and set(during) == {f"Bearer {option_key}"}  # the LLM was asked, with the key given
        assert any(p.name == "tuner.pkl" for p in (tmp_path / "tune").rglob("*"))  # the folder is Tune's
        scan.tree(tmp_path / "tune", "Tune experiment folder")

    scan.blob(caplog.text, "the logs (DEBUG)")
    scan.blob("\n".join(str(r.args) for r in caplog.records), "log record arguments")
    assert not scan.found, "API key leaked:\n" + "\n".join(scan.found)
