"""An LLM hosted in a Ray actor: the model lives on one node (a GPU worker, or the head) and every
searcher, in any driver of the cluster, calls it without loading it again.

Spec ``"ray:<inner spec>"``, for example ``llm="ray:embedded"`` or
``llm="ray:llama-cpp:/models/qwen2.5-7b-instruct-q4_k_m.gguf"`` with
``llm_options={"num_gpus": 0.5, "n_gpu_layers": -1, "name": "shared-llm"}``.

The backend object itself is light and does nothing until its first call: then it creates the
actor (or, with ``name``, gets the one already running under that name), which builds the inner
backend from its spec *inside the actor*, on whatever node Ray schedules it (so a model path only
has to exist there). Calls are forwarded to the actor and bounded with ``ray.get(timeout=...)``;
they are made from the searcher's background LLM worker thread, so Tune's event loop never waits.

Secrets (``api_key``) reach the actor only as arguments of its creation, which Ray keeps in memory;
they never enter a pickle of the backend (Tune writes the searcher, and so this backend, into the
experiment folder). A copy made by unpickling, as after ``Tuner.restore``, has no key: like the
in-process OpenAI backend it then uses ``OPENAI_API_KEY`` from the driver's environment, which is
forwarded to the actor (a worker node need not have it set), and warns when that is unset too.

Errors keep their meaning across the process boundary: the inner backend's ``LLMError`` subclasses
are raised again with their own type; a ``ray.get`` timeout becomes :class:`LLMTimeoutError`; an
actor that died (killed, node lost, out of memory) becomes :class:`LLMConnectionError` and is
created again on the next call.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from raytune_llm import errors as _errors
from raytune_llm._checks import check_resource
from raytune_llm.errors import LLMConfigError, LLMConnectionError, LLMError, LLMTimeoutError
from raytune_llm.llm.base import Message, Usage

logger = logging.getLogger("raytune_llm.llm")

PREFIX = "ray:"
DEFAULT_NAMESPACE = "raytune_llm"
_INNER_FORMS = ("embedded", "llama-cpp:", "openai:")
#: Inner options that are secrets: given to the actor when it is created, never pickled or listed.
SECRET_OPTIONS = frozenset({"api_key"})
#: Where an inner OpenAI backend finds its key when none was passed (read in the driver).
_KEY_ENV = "OPENAI_API_KEY"


class _LLMActorImpl:
    """The actor's body: builds the inner backend on first use and answers ``complete_json``.

    Every outcome is returned as a plain tuple (never an exception object), so that errors cross
    the process boundary without depending on how exception classes pickle:
    ``("ok", value, usage_dict)`` or ``("error", class_name, message, extra)``.
    """

    def __init__(self, spec: str, options: dict[str, Any]) -> None:
        self._spec = spec
        self._options = dict(options)
        self._backend: Any = None

    def _get_backend(self) -> Any:
        if self._backend is None:
            from raytune_llm.llm import get_backend

            self._backend = get_backend(self._spec, **self._options)
        return self._backend

    def ping(self) -> str:
        """The id of the node the actor runs on (used to check that it is alive)."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def complete_json(self, messages: list[dict[str, str]], schema: dict[str, Any], temperature: float,
                      max_tokens: int, seed: int | None, timeout: float | None) -> tuple[Any, ...]:
        try:
            backend = self._get_backend()
            value, usage = backend.complete_json(messages, schema, temperature=temperature, max_tokens=max_tokens,
                                                 seed=seed, timeout=timeout)
        except (LLMError, LLMConfigError, _errors.MissingExtraError) as exc:
            extra = {"raw": getattr(exc, "raw", ""), "retry_after": getattr(exc, "retry_after", None)}
            return ("error", type(exc).__name__, str(exc), extra)
        except Exception as exc:  # noqa: BLE001 - any other failure of the inner backend
            return ("error", "LLMError", f"unexpected {type(exc).__name__} in the LLM actor: {exc}", {})
        return ("ok", value, usage.to_dict() if hasattr(usage, "to_dict") else dict(vars(usage)))


def _rebuild_error(name: str, message: str, extra: Mapping[str, Any]) -> Exception:
    """The exception the actor reported, as an instance of the same class of raytune_llm.errors."""
    cls = getattr(_errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, _errors.RaytuneLLMError)):
        return LLMError(f"{name}: {message}")
    if cls is _errors.LLMResponseError:
        return cls(message, raw=str(extra.get("raw") or ""))
    if cls is _errors.LLMRateLimitError:
        return cls(message, retry_after=extra.get("retry_after"))
    try:
        return cls(message)
    except TypeError:  # a class with another constructor: keep the message, lose the type
        return LLMError(f"{name}: {message}")


def _check_inner_options(inner_spec: str, options: Mapping[str, Any]) -> None:
    """Reject options the inner backend's constructor does not take (without building it: the
    model file may exist only on the node that will host the actor)."""
    import inspect

    if inner_spec == "embedded":
        from raytune_llm.llm.llama_cpp import EmbeddedBackend as cls
    elif inner_spec.startswith("llama-cpp:"):
        from raytune_llm.llm.llama_cpp import LlamaCppBackend as cls
    else:
        from raytune_llm.llm.openai_backend import OpenAIBackend as cls
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = {n for n, p in params.items() if n != "self" and p.kind is not inspect.Parameter.VAR_POSITIONAL}
    allowed -= {"model", "model_path", "spec"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise LLMConfigError(
            f"bad option for LLM backend {PREFIX + inner_spec!r}: {unknown} not accepted; actor options are "
            f"num_cpus, num_gpus, resources, name, namespace, lifetime, and {inner_spec!r} takes {sorted(allowed)}"
        )


def _check_amount(name: str, value: Any) -> float:
    unit = {"num_gpus": "GPU", "num_cpus": "CPU"}.get(name, "unit")  # else a custom resource
    return check_resource(name, value, unit=unit, error=LLMConfigError)


class RayActorBackend:
    """An LLM backend that runs another backend inside a Ray actor.

    Args:
        inner_spec: the spec of the backend the actor runs (``"embedded"``,
            ``"llama-cpp:/path/model.gguf"``, ``"openai:MODEL"``).
        num_cpus: CPUs the actor holds while alive (default 1).
        num_gpus: GPUs the actor holds (``0.5`` shares one GPU with trials; ``0`` for CPU).
            For llama.cpp on a GPU also pass ``n_gpu_layers=-1``.
        resources: custom Ray resources, e.g. ``{"llm_node": 1}`` to pin the actor to nodes that
            declare that resource.
        name: name of the actor; backends with the same name (and namespace) share one actor,
            created by whichever calls first (get-or-create). ``None``: a private actor.
        namespace: Ray namespace of a named actor (default ``"raytune_llm"``, so that several
            drivers find the same actor).
        lifetime: ``"detached"`` keeps a named actor alive after the driver that created it exits
            (stop it with ``ray.kill(ray.get_actor(name, namespace=...))``); ``None``: it dies with
            its creator.
        **inner_options: options of the inner backend (``n_ctx``, ``n_gpu_layers``, ``base_url``,
            ``api_key``...). They are sent to the actor when it is created. The API key is kept
            apart: it is not in :attr:`inner_options` or :attr:`options`, and a pickled copy of this
            backend does not hold it (the copy uses ``OPENAI_API_KEY`` of the driver instead).

    Raises:
        LLMConfigError: an unknown inner spec, a nested ``"ray:"`` spec or a bad resource amount.

    Nothing is contacted at construction: the actor is created on the first call, which needs
    ``ray.init()`` (or ``ray.init(address=...)``) to have been called in this process.
    """

    def __init__(
        self,
        inner_spec: str,
        *,
        num_cpus: float = 1,
        num_gpus: float = 0,
        resources: Mapping[str, float] | None = None,
        name: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        lifetime: str | None = None,
        **inner_options: Any,
    ) -> None:
        if not isinstance(inner_spec, str) or not inner_spec:
            raise LLMConfigError(f"'ray:' needs an inner backend spec, got {inner_spec!r}; e.g. 'ray:embedded' or "
                                 "'ray:llama-cpp:/models/model.gguf'")
        if inner_spec.startswith(PREFIX):
            raise LLMConfigError(f"nested actor spec {PREFIX + inner_spec!r}: use a single 'ray:' prefix")
        if not (inner_spec == "embedded" or inner_spec.startswith(_INNER_FORMS[1:])):
            raise LLMConfigError(f"unknown inner LLM spec {inner_spec!r} in {PREFIX + inner_spec!r}; use "
                                 "'ray:embedded', 'ray:llama-cpp:/path/model.gguf' or 'ray:openai:MODEL'")
        if inner_spec.endswith(":"):
            raise LLMConfigError(f"{PREFIX + inner_spec!r} names no model; e.g. 'ray:llama-cpp:/models/model.gguf'")
        self.num_cpus = _check_amount("num_cpus", num_cpus)
        self.num_gpus = _check_amount("num_gpus", num_gpus)
        res = dict(resources or {})
        for key, amount in res.items():
            if not isinstance(key, str) or not key:
                raise LLMConfigError(f"resources keys must be resource names, got {key!r}")
            res[key] = _check_amount(f"resources[{key!r}]", amount)
        self.resources = res
        if name is not None and (not isinstance(name, str) or not name):
            raise LLMConfigError(f"name must be a non-empty string or None, got {name!r}")
        if lifetime not in (None, "detached", "non_detached"):
            raise LLMConfigError(f"lifetime must be None, 'detached' or 'non_detached', got {lifetime!r}")
        if lifetime == "detached" and name is None:
            raise LLMConfigError("lifetime='detached' needs a name, so that the actor can be found and stopped")
        self.name = name
        self.namespace = str(namespace)
        self.lifetime = lifetime
        _check_inner_options(inner_spec, inner_options)
        self.inner_spec = inner_spec
        self.inner_options = {k: v for k, v in inner_options.items() if k not in SECRET_OPTIONS}
        self.__secrets = {k: v for k, v in inner_options.items() if k in SECRET_OPTIONS and v is not None}
        self._lost_secrets: list[str] = []  # names of secrets a pickled copy did not bring along
        self.spec = PREFIX + inner_spec
        self._actor: Any = None
        self._lock = threading.Lock()

    @property
    def options(self) -> dict[str, Any]:
        """Options that rebuild this backend with :func:`raytune_llm.llm.get_backend`; never the
        API key (pass it again, or set ``OPENAI_API_KEY``)."""
        out: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
        if self.resources:
            out["resources"] = dict(self.resources)
        if self.name is not None:
            out["name"] = self.name
            out["namespace"] = self.namespace
        if self.lifetime is not None:
            out["lifetime"] = self.lifetime
        out.update(self.inner_options)
        return out

    def __repr__(self) -> str:
        where = f", name={self.name!r}" if self.name else ""
        return f"RayActorBackend({self.spec!r}, num_cpus={self.num_cpus:g}, num_gpus={self.num_gpus:g}{where})"

    def __getstate__(self) -> dict[str, Any]:
        # the actor handle, the lock and the secrets do not travel (Tune pickles searchers, and so
        # their backend, into the experiment folder); a copy creates or finds its actor again
        state = dict(self.__dict__)
        secrets = state.pop("_RayActorBackend__secrets", {})
        state["_lost_secrets"] = sorted({*self._lost_secrets, *secrets})
        state["_actor"] = None
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__secrets = {}
        self._lock = threading.Lock()

    def _actor_options(self) -> dict[str, Any]:
        """The inner backend's options as the actor gets them: with the secrets (passed in Ray's
        task arguments at creation, held in memory by Ray), and for an inner OpenAI backend without
        a key, the driver's ``OPENAI_API_KEY`` (a worker node need not have it set)."""
        options = {**self.inner_options, **self.__secrets}
        if self.inner_spec.startswith("openai:") and not options.get("api_key"):
            key = os.environ.get(_KEY_ENV)
            if key:
                options["api_key"] = key
            elif "api_key" in self._lost_secrets:
                logger.warning(
                    "%s: the API key passed in llm_options is never saved with the searcher, and this restored "
                    "copy finds no %s in the driver's environment; set %s before Tuner.restore (or pass "
                    "llm_options={'api_key': ...} to a new searcher), else the server will refuse the requests",
                    self.spec, _KEY_ENV, _KEY_ENV)
        return options

    # -- the actor ----------------------------------------------------------------------------

    def _ray(self) -> Any:
        import ray

        if not ray.is_initialized():
            raise LLMConfigError(
                f"llm={self.spec!r} runs the model in a Ray actor, but Ray is not initialised in this process; "
                "call ray.init() (or ray.init(address='HOST:6379') for a cluster, --address on the raytune-llm "
                "command line) before the first LLM call"
            )
        return ray

    def actor(self) -> Any:
        """The actor handle: created (or, with ``name``, found) on first use.

        Raises:
            LLMConfigError: Ray is not initialised.
        """
        ray = self._ray()
        with self._lock:
            if self._actor is None:
                self._actor = self._create(ray)
            return self._actor

    def _create(self, ray: Any) -> Any:
        remote_cls = ray.remote(_LLMActorImpl)
        opts: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "max_restarts": 0}
        if self.resources:
            opts["resources"] = dict(self.resources)
        options = self._actor_options()
        if self.name is None:
            return remote_cls.options(**opts).remote(self.inner_spec, options)
        opts.update(name=self.name, namespace=self.namespace, get_if_exists=True)
        if self.lifetime is not None:
            opts["lifetime"] = self.lifetime
        last: Exception | None = None
        for _ in range(20):  # a killed actor's name is released asynchronously
            try:
                return remote_cls.options(**opts).remote(self.inner_spec, options)
            except ValueError as exc:
                last = exc
                time.sleep(0.1)
        raise LLMConnectionError(f"could not create or find the LLM actor {self.name!r}: {last}")

    def _forget(self, actor: Any) -> None:
        with self._lock:
            if self._actor is actor:
                self._actor = None

    # -- the protocol -------------------------------------------------------------------------

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
        """See :class:`~raytune_llm.llm.base.LLMBackend`.

        Raises:
            LLMTimeoutError: no answer within ``timeout`` (the actor also stops generating then).
            LLMConnectionError: the actor died (it is created again on the next call).
            LLMConfigError: Ray is not initialised, or the inner backend's spec or options are wrong.
            LLMError: whatever the inner backend raised, with its own class.
        """
        from ray import exceptions as rex

        actor = self.actor()
        start = time.monotonic()
        try:
            ref = actor.complete_json.remote([dict(m) for m in messages], dict(schema), float(temperature),
                                             int(max_tokens), seed, timeout)
            outcome = self._ray().get(ref, timeout=timeout)
        except rex.GetTimeoutError as exc:
            raise LLMTimeoutError(f"the LLM actor ({self.spec}) gave no answer within {timeout:g} s") from exc
        except (rex.RayActorError, rex.ActorUnavailableError) as exc:
            self._forget(actor)
            raise LLMConnectionError(
                f"the LLM actor ({self.spec}) is not available ({type(exc).__name__}); it will be created again "
                "on the next call"
            ) from exc
        except rex.RayError as exc:
            raise LLMConnectionError(f"Ray could not run the LLM actor call ({self.spec}): {exc}") from exc
        if outcome[0] == "ok":
            _, value, usage = outcome
            usage = dict(usage)
            # the latency seen by the caller includes queueing in the actor and the transfer
            usage["latency_s"] = max(float(usage.get("latency_s", 0.0)), time.monotonic() - start)
            return value, Usage(**usage)
        _, name, message, extra = outcome
        raise _rebuild_error(name, message, extra)
