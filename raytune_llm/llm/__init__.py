"""LLM backends behind one small protocol, and the non-blocking worker that calls them.

Choose a backend with a spec (what searchers take as ``llm=``):

==================================  ============================================================
``"embedded"``                      SmolLM2-135M-Instruct in-process (llama.cpp), offline; default
``"embedded:/path/adapter.gguf"``   the same with a LoRA adapter (``raytune-llm finetune`` writes one)
``"llama-cpp:/path/model.gguf"``    any GGUF model in-process (``n_ctx``, ``n_threads``, ``n_gpu_layers``,
                                    ``lora``: a GGUF LoRA adapter's path)
``"openai:MODEL"``                  any OpenAI-compatible server (``base_url``, ``api_key`` or the
                                    ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` environment variables)
``"ray:<spec>"``                    any of the above hosted in a Ray actor, shared by every searcher
                                    (``num_gpus``, ``num_cpus``, ``resources``, ``name``; see
                                    :mod:`raytune_llm.llm.ray_actor`)
an object with ``complete_json``    your own backend (see :class:`LLMBackend`)
``None``                            no LLM: the searcher runs its classical core only
==================================  ============================================================
"""

from __future__ import annotations

from typing import Any

from raytune_llm.errors import LLMConfigError
from raytune_llm.llm.base import LLMBackend, Message, Usage, cancelled
from raytune_llm.llm.worker import LLMRequest, LLMResult, LLMWorker, UsageStats

__all__ = [
    "LLMBackend", "LLMRequest", "LLMResult", "LLMWorker", "Message", "Usage", "UsageStats",
    "backend_spec", "cancelled", "get_backend",
]

_FORMS = ("'embedded', 'embedded:/path/adapter.gguf', 'llama-cpp:/path/model.gguf', 'openai:MODEL', "
          "'ray:<one of these>', an object with a complete_json method, or None")


def get_backend(spec: Any = "embedded", **options: Any) -> LLMBackend | None:
    """Build an LLM backend from a spec.

    Args:
        spec: see the module docstring. A backend object is returned as is.
        **options: constructor options of the backend (``base_url``, ``api_key``, ``n_ctx``,
            ``n_gpu_layers``...).

    Returns:
        The backend, or ``None`` for ``spec=None``. Nothing is loaded or contacted yet.

    Raises:
        LLMConfigError: unknown spec or bad option; MissingExtraError: the backend's extra is
            not installed.

    Example:
        >>> get_backend(None) is None
        True
        >>> get_backend("openai:gpt-4o-mini", api_key="sk-test").spec
        'openai:gpt-4o-mini'
    """
    if spec is None:
        if options:
            raise LLMConfigError(f"options {sorted(options)} given with llm=None; pass a backend spec too")
        return None
    if not isinstance(spec, str):
        if callable(getattr(spec, "complete_json", None)):
            if options:
                raise LLMConfigError(f"options {sorted(options)} cannot be applied to a backend object")
            return spec
        raise LLMConfigError(f"unknown LLM spec {spec!r}; use {_FORMS}")
    try:
        if spec.startswith("ray:"):
            from raytune_llm.llm.ray_actor import RayActorBackend

            return RayActorBackend(spec.split(":", 1)[1], **options)
        if spec == "embedded":
            from raytune_llm.llm.llama_cpp import EmbeddedBackend

            return EmbeddedBackend(**options)
        if spec.startswith("embedded:"):
            from raytune_llm.llm.llama_cpp import EmbeddedBackend

            lora = spec.split(":", 1)[1]
            if not lora or "lora" in options:
                raise LLMConfigError(f"{spec!r}: give the LoRA adapter once, as 'embedded:/path/adapter.gguf' or "
                                     "as llm_options={'lora': ...} with 'embedded'")
            return EmbeddedBackend(lora=lora, **options)
        if spec.startswith("llama-cpp:"):
            from raytune_llm.llm.llama_cpp import LlamaCppBackend

            path = spec.split(":", 1)[1]
            if not path:
                raise LLMConfigError("'llama-cpp:' needs a model path, e.g. 'llama-cpp:/models/model.gguf'")
            return LlamaCppBackend(path, spec=spec, **options)
        if spec.startswith("openai:"):
            from raytune_llm.llm.openai_backend import OpenAIBackend

            return OpenAIBackend(spec.split(":", 1)[1], **options)
    except TypeError as exc:  # unknown keyword option
        raise LLMConfigError(f"bad option for LLM backend {spec!r}: {exc}") from exc
    raise LLMConfigError(f"unknown LLM spec {spec!r}; use {_FORMS}")


def backend_spec(backend: Any) -> dict[str, Any] | None:
    """The JSON-able recipe to rebuild ``backend`` with :func:`get_backend` (no secrets), or
    ``None`` when there is no backend or it cannot be rebuilt from a spec (a custom object)."""
    if backend is None:
        return None
    spec = getattr(backend, "spec", None)
    if not isinstance(spec, str) or not (spec == "embedded" or spec.startswith(("llama-cpp:", "openai:", "ray:"))):
        return None
    options = dict(getattr(backend, "options", {}) or {})
    options.pop("api_key", None)
    return {"spec": spec, "options": options}
