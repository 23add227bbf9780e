"""MetaLLMiXSearcher: warm-start any Tune searcher with MetaLLMiX's zero-shot recommendations.

A wrapper, as Ray's ``ConcurrencyLimiter`` is: it wraps the ``inner`` searcher (any
``ray.tune.search.Searcher``) and composes the parts raytune-llm's searchers share (the trial log
and its telemetry, the LLM link, the state codec) without their base class.

When Tune gives the search space, the searcher gathers the evidence (the target's meta-features,
the most similar past experiments, the meta-learner's SHAP statements and best predicted
candidates) and starts the recommendation (recommender, judge, retry with critique, meta-learner
fallback: :class:`~raytune_llm.meta.recommend.RecommendationRun`) in its background LLM worker.
Its first ``n_warm`` trials are the top recommendations: the LLM's configuration, then the
meta-learner's next best candidates, de-duplicated. Then every trial comes from the ``inner``
searcher, which has been told each warm result through ``add_evaluated_point`` (the
tell-not-asked path of raytune-llm's own searchers).

With ``wait_for_llm=True`` (the default here) the first warm ``suggest()`` blocks until the
recommendation is ready, at most until its deadline (``recommend_timeout_s``); then, or when the
LLM fails, the meta-learner's configurations are used: the experiment always runs. With
``wait_for_llm=False`` it never waits: up to ``n_warm - 1`` of the meta-learner's candidates start
at once, and the last warm slot is kept for the LLM's configuration, which runs when it arrives.
The meta-learner is fitted synchronously when the space arrives (seconds).
"""

from __future__ import annotations

import base64
import datetime as _dt
import logging
import math
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ray.tune.search import Searcher

from raytune_llm._checks import check_bool, check_int, check_number, finite_or_none
from raytune_llm.errors import ConfigValidationError
from raytune_llm.meta.features import TASKS as META_TASKS
from raytune_llm.meta.recommend import (
    Recommendation,
    RecommendationError,
    RecommendationRun,
    check_model,
    gather_evidence,
    open_store,
)
from raytune_llm.searchers._llm_link import DEFAULT_LLM
from raytune_llm.searchers._parts import SearcherParts
from raytune_llm.searchers._state import ConfigCodec, build_state, check_space, check_state
from raytune_llm.searchers._trials import cost, metric_value
from raytune_llm.searchers.base import LLMSearcherBase, check_metric_mode, check_points_in_space, evaluated_point
from raytune_llm.space import SearchSpace, flatten, unflatten

logger = logging.getLogger("raytune_llm.searchers")

WRITE_BACK_SOURCE = "raytune-llm MetaLLMiXSearcher"
#: what the searcher counts besides the LLM counters of every searcher
COUNTERS = ("inner_told", "inner_untold", "written_back", "write_back_failed")


class MetaLLMiXSearcher(SearcherParts, Searcher):
    """Zero-shot warm start from past experiments (MetaLLMiX, 2025), then any Tune searcher.

    Args:
        meta: a :class:`~raytune_llm.meta.MetaStore`, a path to one, or ``None`` for the packaged
            seed meta-dataset.
        dataset: the data set being tuned on: one of the meta-dataset (its stored meta-features
            are used) or a packaged one (they are computed).
        features: the data set's meta-features, instead of ``dataset`` (then ``task`` is needed).
        task: ``"image-classification"`` or ``"timeseries-regression"`` (default: the stored task
            of ``dataset``).
        model: the model whose past experiments count (default: the only one of the task).
        inner: the searcher that takes over after the warm trials: any ``ray.tune.search.Searcher``
            (default ``LLMPSOSearcher(llm=None, seed=seed)``). It learns the warm results through
            ``add_evaluated_point`` where it supports it.
        n_warm: warm-start trials (0: only evidence and recommendation, then ``inner``).
        learner: a fitted :class:`~raytune_llm.meta.MetaLearner` (default: fitted on ``meta``).
        attempts: recommender calls at most; retries get the judge's critique.
        judge_threshold: the judge's mean score (1-5) an LLM answer needs.
        recommend_timeout_s: deadline of the recommendation; after it, the meta-learner's configuration.
        write_back: add every completed trial to ``meta`` (a writable store; needs ``dataset``).
        k: similar experiments shown to the LLM.
        space: a Tune search space, usually left ``None`` and taken from Tune.
        metric: metric to optimise (taken from Tune when ``None``).
        mode: ``"min"`` or ``"max"`` (taken from Tune when ``None``).
        points_to_evaluate: configurations to evaluate first, before the warm trials.
        seed: seed of everything random (and of the default ``inner``).
        llm: the recommender's and judge's LLM: a spec (default ``"embedded"``), a backend, or
            ``None`` (the meta-learner alone). Left out, a restored state's LLM is rebuilt; given
            (``"embedded"`` included), it is kept on restore.
        llm_options: backend options (``base_url``, ``api_key``, ``n_gpu_layers``...).
        max_evaluations: ``suggest()`` returns ``Searcher.FINISHED`` after this many trials.
        wait_for_llm: (default ``True`` here) let the first warm ``suggest()`` wait for the
            recommendation, until its deadline (see the module docstring).
        llm_timeout_s: seconds one LLM attempt may take.
        worker_options: :class:`~raytune_llm.llm.LLMWorker` options.
        log_dir: telemetry directory (default: Tune's experiment directory).
        telemetry: ``False`` to record none.

    Example:
        >>> from raytune_llm import LLMPSOSearcher
        >>> from trainables import cnn_space                                        # doctest: +SKIP
        >>> searcher = MetaLLMiXSearcher(dataset="textures", inner=LLMPSOSearcher(llm=None, seed=0),
        ...                              n_warm=3, seed=0)                          # doctest: +SKIP
        >>> tuner = tune.Tuner(train_cnn, param_space=cnn_space("textures"),        # doctest: +SKIP
        ...                    tune_config=tune.TuneConfig(metric="val_accuracy", mode="max",
        ...                                                search_alg=searcher, num_samples=20))
    """

    def __init__(
        self,
        *,
        meta: Any = None,
        dataset: str | None = None,
        features: Mapping[str, Any] | None = None,
        task: str | None = None,
        model: str | None = None,
        inner: Searcher | None = None,
        n_warm: int = 3,
        learner: Any = None,
        attempts: int = 2,
        judge_threshold: float = 3.0,
        recommend_timeout_s: float = 300.0,
        write_back: bool = False,
        k: int = 5,
        space: Mapping[str, Any] | SearchSpace | None = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
        seed: int | None = None,
        llm: Any = DEFAULT_LLM,
        llm_options: Mapping[str, Any] | None = None,
        max_evaluations: int | None = None,
        wait_for_llm: bool = True,
        llm_timeout_s: float = 120.0,
        worker_options: Mapping[str, Any] | None = None,
        log_dir: str | None = None,
        telemetry: bool = True,
    ) -> None:
        n_warm = check_int("n_warm", n_warm, minimum=0)
        attempts = check_int("attempts", attempts, minimum=1)
        judge_threshold = check_number("judge_threshold", judge_threshold, low=1, high=5)  # the judge scores 1-5
        recommend_timeout_s = check_number("recommend_timeout_s", recommend_timeout_s, low=0, low_open=True,
                                           allow_inf=True)
        write_back = check_bool("write_back", write_back)
        k = check_int("k", k, minimum=1)
        for name, value in (("dataset", dataset), ("model", model)):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a name (a str) or None, got {value!r:.200}")
        if learner is not None and not callable(getattr(learner, "predict", None)):
            raise ValueError(f"learner must be a fitted raytune_llm.meta.MetaLearner or None, got {learner!r:.200}")
        if task is not None and task not in META_TASKS:
            raise ValueError(f"task must be one of {', '.join(sorted(META_TASKS))} (or None: the stored task of "
                             f"dataset), got {task!r}")
        if features is not None and not isinstance(features, Mapping):
            raise ValueError(f"features must be a dict of meta-features (name -> value), got {features!r:.200}")
        if dataset is None and features is None:
            raise ValueError("MetaLLMiXSearcher needs dataset= (a data set of the meta-dataset or a packaged one) "
                             "or features= (the data set's meta-features, with task=)")
        if inner is not None and not isinstance(inner, Searcher):
            raise ValueError(f"inner must be a ray.tune.search.Searcher (e.g. LLMPSOSearcher(llm=None), "
                             f"OptunaSearch()), got {type(inner).__name__}: {inner!r:.100}")
        if inner is not None and isinstance(inner, MetaLLMiXSearcher):
            raise ValueError("inner cannot be another MetaLLMiXSearcher; pass the searcher that should take over")
        self._init_parts(metric=metric, mode=mode, points_to_evaluate=points_to_evaluate, seed=seed, llm=llm,
                         llm_options=llm_options, max_evaluations=max_evaluations, wait_for_llm=wait_for_llm,
                         llm_timeout_s=llm_timeout_s, worker_options=worker_options, log_dir=log_dir,
                         telemetry=telemetry, counters=COUNTERS)
        seed = self._seed
        self._store = open_store(meta)
        self._owns_store = not callable(getattr(meta, "experiments", None))  # opened here: closed in close()
        self._meta_seed = meta is None  # reopened with MetaStore.seed() after pickling (any node, read-only)
        self._meta_path = str(self._store.path)
        self._meta_read_only = bool(getattr(self._store, "read_only", False))
        if write_back:
            if dataset is None:
                raise ValueError("write_back=True needs dataset= (the name the experiments are stored under)")
            if getattr(self._store, "read_only", False):
                raise ValueError("write_back=True needs a writable meta-dataset, but meta is the packaged seed store "
                                 "(read-only); pass meta=MetaStore('path/to/meta.sqlite') or a path")
        super().__init__(metric=metric, mode=mode)
        self.dataset = dataset
        self._features = dict(features) if features is not None else None
        self.task = task
        self.model = model
        self.n_warm = n_warm
        self._learner = learner
        self.attempts = attempts
        self.judge_threshold = float(judge_threshold)
        self.recommend_timeout_s = float(recommend_timeout_s)
        self.write_back = bool(write_back)
        self.k = k
        if inner is None:
            from raytune_llm.searchers.llm_pso import LLMPSOSearcher

            inner = LLMPSOSearcher(llm=None, seed=seed, telemetry=False)
        self.inner = inner
        self.recommendation: Recommendation | None = None
        self.warm_start_error: str | None = None
        self._run: RecommendationRun | None = None
        self._restart = False
        self._warm: list[tuple[dict[str, Any], str]] = []  # queued warm configurations and their origin
        self._warm_launched = 0
        self._warned: set[str] = set()
        if space is not None:  # the inner searcher gets the space as given
            self.inner.set_search_properties(metric, mode, space)
            self._setup(space)

    # ------------------------------------------------------------------ Tune contract
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        if self.space is not None:
            return False
        self.inner.set_search_properties(self._metric or metric, self._mode or mode, config, **spec)
        if metric:
            self._metric = metric
        if mode:
            check_metric_mode(None, mode)
            self._mode = mode
        if spec.get("num_samples") and spec["num_samples"] > 0:
            self._num_samples = int(spec["num_samples"])
        self._setup(config)
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        self._max_concurrency = int(max_concurrent)
        if self._max_concurrency:
            self.inner.set_max_concurrency(self._max_concurrency)
        return False  # ConcurrencyLimiter enforces the limit

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self.space is None:
            raise RuntimeError("MetaLLMiXSearcher has no search space: pass config=/param_space= to Tune or space= "
                               "to it")
        if self._metric is None or self._mode is None:
            raise RuntimeError("MetaLLMiXSearcher needs metric and mode: pass them to the searcher or to Tune")
        if self.max_evaluations is not None and self._trials.started >= self.max_evaluations:
            return Searcher.FINISHED
        if self._points:  # the user's points first
            return self._launch(trial_id, self.space.repair(self._points.pop(0), flat=True), "user", None)
        if self._warm_launched < self.n_warm:
            self._ensure_recommendation()
            self._advance(wait=self.wait_for_llm)
            item = self._next_warm()
            if item is not None:
                flat, origin = item
                self._warm_launched += 1
                return self._launch(trial_id, flat, origin, "warm")
            if not self._pending():  # fewer distinct warm configurations than n_warm (or no warm start)
                self._warm_launched = self.n_warm
            # while the LLM still thinks (wait_for_llm=False) and no candidate is left, the inner searcher fills in
        return self._suggest_inner(trial_id)

    def _suggest_inner(self, trial_id: str) -> dict[str, Any] | str | None:
        assert self.space is not None
        config = self.inner.suggest(trial_id)
        if config is None or config == Searcher.FINISHED:
            return config
        try:
            flat = self.space.repair(config, flat=True)
        except ConfigValidationError:
            flat = {k: v for k, v in flatten(config).items() if k in self.space.names}
        self._launch(trial_id, flat, "inner", None)
        return config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        live = self._trials.live.get(trial_id)
        if live is not None and live["origin"] == "inner":
            self.inner.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        live = self._trials.live.pop(trial_id, None)
        if live is None or self.space is None:
            logger.debug("on_trial_complete for unknown trial %s ignored", trial_id)
            return
        if live["origin"] == "inner":
            self.inner.on_trial_complete(trial_id, result=result, error=error)
        if self.write_back and not error:
            self._write_back(live["config"], result)
        value = None if error else metric_value(result, self._metric)
        if live["origin"] != "inner":  # user and warm trials: the inner searcher learns them as told points
            self._tell_inner(live["config"], cost(value, self._mode))
        self._record(live["config"], value, live["origin"], trial_id)
        self._poll_llm(block=False)

    def add_evaluated_point(self, parameters: dict, value: float, error: bool = False, pruned: bool = False,
                            intermediate_values: list | None = None) -> None:
        flat, v = evaluated_point(self.space, parameters, value, error)
        self._tell_inner(flat, cost(v, self._mode))
        self._record(flat, v, "warm-start", None)

    # ------------------------------------------------------------------ trials
    def _setup(self, config: Mapping[str, Any] | SearchSpace) -> None:
        self.space = SearchSpace.from_tune(config)
        pending, self._pending_state = self._pending_state, None
        if pending is not None:  # restored (restore_from_dir) before Tune gave the space
            self.set_state(pending)
            return
        check_points_in_space(self._points, self.space)
        self._ensure_recommendation()

    def _launch(self, trial_id: str, flat: dict[str, Any], origin: str, token: Any) -> dict[str, Any]:
        assert self.space is not None
        self._trials.launch(trial_id, flat, key=self.space.key(flat), origin=origin, token=token)
        return unflatten({**self.space.constants, **flat})

    def _record(self, config: dict[str, Any], value: float | None, origin: str, trial_id: str | None) -> None:
        assert self.space is not None
        self._trials.record(config, value, origin, trial_id, key=self.space.key(config), mode=self._mode)

    def _seen_keys(self) -> set[str]:
        assert self.space is not None
        return self._trials.seen(self.space.key)

    def _codec(self) -> ConfigCodec:
        return ConfigCodec(self.space)

    # ------------------------------------------------------------------ LLM
    def _poll_llm(self, *, block: bool) -> None:
        """Hand the recommendation run the outcome of its outstanding request, if it has one (with
        ``block``, wait for it, bounded by the request's attempts and the run's deadline)."""
        bound = self._llm.wait_bound_s()
        if self._pending() and self._run is not None:
            bound = min(bound, self._run.remaining_s())
        outcome = self._llm.poll(block=block, timeout_s=bound)
        if outcome is None:
            return
        self._trials.note_llm(outcome)
        run = self._run
        if run is not None and not run.done and outcome.meta.get("run") == id(run):
            if outcome.error is not None:
                run.on_failure(outcome.error)
            else:
                run.on_answer(outcome.result)
            self._pump()
        self._trials.write_counters()

    # ------------------------------------------------------------------ recommendation
    def _pending(self) -> bool:
        return self._run is not None and not self._run.done

    def _ensure_recommendation(self) -> None:
        """Start the recommendation if it has not run (a fresh searcher, or one restored mid-way)."""
        if self.space is None or self.recommendation is not None or self._run is not None:
            return
        if self.warm_start_error is not None and not self._restart:
            return
        self._restart = False
        started = time.perf_counter()
        try:
            if self.model is not None:
                check_model(self._meta_store(), self.task, self.model)
            evidence, predict = gather_evidence(
                self._meta_store(), space=self.space, model=self.model, task=self.task, dataset=self.dataset,
                features=self._features, learner=self._learner, metric=self._learn_metric(), k=self.k,
                n_candidates=self.n_warm + 3, seed=self._seed or 0)
        except RecommendationError:  # the user's input (dataset, task, model, features): say so
            raise
        except Exception as exc:  # noqa: BLE001 - a broken meta-learner never stops the experiment
            self.warm_start_error = f"{type(exc).__name__}: {exc}"
            logger.warning("MetaLLMiX warm start unavailable (%s); the inner searcher runs alone",
                           self.warm_start_error)
            self.telemetry.event("metallmix_failed", error=self.warm_start_error)
            return
        if evidence.metric != self._metric:
            logger.warning("the meta-dataset has no %r results for task %r; recommending for its metric %r instead",
                           self._metric, evidence.task, evidence.metric)
        self.task, self.model = evidence.task, evidence.model
        self._run = RecommendationRun(evidence, predict=predict, attempts=self.attempts,
                                      threshold=self.judge_threshold, timeout_s=self.recommend_timeout_s,
                                      use_llm=self._llm.active, started=started)
        self._pump()

    def _meta_store(self) -> Any:
        if self._store is None:
            from raytune_llm.meta import MetaStore

            if self._meta_seed:
                self._store = MetaStore.seed()
            elif not os.path.isfile(self._meta_path):  # never create an empty store where one was given
                raise FileNotFoundError(f"the meta-dataset {self._meta_path} is not on this machine; put it on "
                                        "shared storage or pass meta=None for the packaged seed store")
            else:
                self._store = MetaStore(self._meta_path, read_only=self._meta_read_only)
            self._owns_store = True
        return self._store

    def _learn_metric(self) -> str | None:
        """Tune's metric when the meta-dataset has results for it, else ``None`` (the learner's choice)."""
        try:
            store = self._meta_store()
            task = self.task
            if task is None and self.dataset is not None and self.dataset in store.dataset_names():
                task = store.dataset_task(self.dataset)
            frame = store.experiments(task=task) if task else None
        except Exception:  # noqa: BLE001 - the learner will report a real problem itself
            return None
        if frame is None or self._metric is None:
            return self._metric
        metrics = set(frame["metric"]) if len(frame) else set()
        return self._metric if self._metric in metrics else None

    def _pump(self) -> None:
        """Send the run's next request, or take its result."""
        run = self._run
        if run is None:
            return
        while not run.done and not self._llm.busy:
            ask = run.next_ask()
            if ask is None or not self._llm.submit(ask.messages, ask.schema, max_tokens=ask.max_tokens,
                                                   temperature=ask.temperature, tag=ask.tag, meta={"run": id(run)}):
                break
        if run.done and self.recommendation is None:
            self._take(run)

    def _advance(self, *, wait: bool) -> None:
        """Take the LLM's answers that have arrived; with ``wait``, until the recommendation is ready
        or its deadline has passed (each wait is bounded by the time left)."""
        self._poll_llm(block=False)
        self._check_deadline()
        while wait and self._pending():
            if not self._llm.busy:  # nothing outstanding that could finish the run
                assert self._run is not None
                self._run.expire()
                self._take(self._run)
                break
            self._poll_llm(block=True)
            self._check_deadline()

    def _check_deadline(self) -> None:
        run = self._run
        if run is not None and not run.done and run.remaining_s() <= 0:
            run.expire()
            self._take(run)

    def _take(self, run: RecommendationRun) -> None:
        assert run.result is not None and self.space is not None
        rec = self.recommendation = run.result
        seen = self._seen_keys()
        remaining = max(0, self.n_warm - self._warm_launched)
        self._warm = [(c, o) for c, o in rec.top(len(rec.candidates) + 1, self.space)
                      if self.space.key(c) not in seen][:remaining]
        self.telemetry.event("recommendation", **rec.to_dict(self._codec().encode))
        if rec.judge is not None:
            self.telemetry.scalar("metallmix/judge_score", rec.judge.score, len(self.history))
        self.telemetry.scalar("metallmix/wall_time_s", rec.wall_time_s, len(self.history))
        logger.info("MetaLLMiX recommendation (%s path, %.1f s): %s", rec.path, rec.wall_time_s, rec.config)

    def _next_warm(self) -> tuple[dict[str, Any], str] | None:
        """The next warm configuration not tried yet: from the recommendation, or (while the LLM is
        still working and ``wait_for_llm=False``) the meta-learner's candidates."""
        assert self.space is not None
        seen = self._seen_keys()
        if self.recommendation is not None:
            while self._warm:
                config, origin = self._warm.pop(0)
                if self.space.key(config) not in seen:
                    return config, origin
            return None
        if self._pending() and self._run is not None and self._warm_launched < self.n_warm - 1:
            # keep the best candidate for the recommendation's fallback and one warm slot for the
            # recommendation itself; start the next candidates meanwhile
            for config, _ in self._run.evidence.candidates[1:]:
                if self.space.key(config) not in seen:
                    return dict(config), "meta-learner"
        return None

    # ------------------------------------------------------------------ inner searcher
    def _tell_inner(self, flat: dict[str, Any], cost: float) -> None:
        value = None if not math.isfinite(cost) else (cost if self._mode == "min" else -cost)
        try:
            if value is None:
                self.inner.add_evaluated_point(dict(flat), math.nan, error=True)
            else:
                self.inner.add_evaluated_point(dict(flat), value)
            self.counters["inner_told"] += 1
        except NotImplementedError:
            self.counters["inner_untold"] += 1
            self._warn_once("untold", "%s does not implement add_evaluated_point: it will not learn from the warm "
                                      "trials", type(self.inner).__name__)
        except Exception as exc:  # noqa: BLE001 - the inner searcher's refusal never stops the experiment
            self.counters["inner_untold"] += 1
            self._warn_once("tell-failed", "%s.add_evaluated_point failed (%s); it will not learn this point",
                            type(self.inner).__name__, exc)

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message, *args)

    # ------------------------------------------------------------------ write-back
    def _write_back(self, flat: dict[str, Any], result: dict | None) -> None:
        value = metric_value(result, self._metric)
        if value is None:
            return
        assert self.space is not None
        config = {k: v for k, v in {**self.space.constants, **flat}.items()}
        record = {
            "dataset": self.dataset, "model": self.model, "config": config, "metric": self._metric, "mode": self._mode,
            "value": value, "train_time_s": finite_or_none((result or {}).get("time_total_s")),
            "source": WRITE_BACK_SOURCE,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        try:
            store = self._meta_store()
            if self.dataset not in set(store.datasets()["name"]):
                features = self._features or (self._run.evidence.features if self._run else None)
                if features is None:
                    raise ValueError(f"data set {self.dataset!r} is not in the meta-dataset and its meta-features "
                                     "are unknown; pass features=")
                store.add_dataset(self.dataset, self.task, features)
            store.add_experiments([record])
            self.counters["written_back"] += 1
        except Exception as exc:  # noqa: BLE001 - a write-back failure never stops the experiment
            self.counters["write_back_failed"] += 1
            self._warn_once("write-back", "writing a trial back to the meta-dataset failed (%s); the experiment "
                                          "goes on", exc)

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        """A JSON-able, versioned snapshot: the recommendation, the warm queue, the inner searcher's
        state, in-flight trials, history, LLM spec and usage."""
        return build_state(type(self).__name__, metric=self._metric, mode=self._mode, seed=self._seed,
                           space=self.space, core=self._core_state() if self.space else None, points=self._points,
                           num_samples=self._num_samples, max_concurrency=self._max_concurrency,
                           trials=self._trials, llm=self._llm)

    def set_state(self, state: dict[str, Any]) -> None:
        check_state(state, type(self).__name__)
        if self.space is None:
            # Ray's pattern restores a searcher before Tune gives it the space: finish in _setup
            self._pending_state = state
            self._metric, self._mode = state["metric"], state["mode"]
            return
        check_space(state, self.space)
        codec = self._codec()
        self._metric, self._mode, self._seed = state["metric"], state["mode"], state["seed"]
        self._points = [codec.decode(p) for p in state["points"]]
        self._num_samples = state["num_samples"]
        self._max_concurrency = state.get("max_concurrency")
        self._trials.load_state(state, codec.decode, self.space.key)
        self._llm.load_state(state)
        if state["core"] is not None:
            self._load_core_state(state["core"])

    def _core_state(self) -> dict[str, Any]:
        encode = self._codec().encode
        return {
            "recommendation": self.recommendation.to_dict(encode) if self.recommendation else None,
            "pending": self._pending() or self._restart,
            "warm": [[encode(c), o] for c, o in self._warm],
            "warm_launched": self._warm_launched,
            "warm_start_error": self.warm_start_error,
            "task": self.task, "model": self.model,
            "inner": self._inner_state(),
        }

    def _load_core_state(self, state: dict[str, Any]) -> None:
        decode = self._codec().decode
        rec = state["recommendation"]
        self.recommendation = Recommendation.from_dict(rec, decode) if rec else None
        self._run = None
        self._restart = bool(state["pending"])  # restarted at the next suggest(), never lost
        self._warm = [(decode(c), o) for c, o in state["warm"]]
        self._warm_launched = int(state["warm_launched"])
        self.warm_start_error = state["warm_start_error"]
        self.task, self.model = state["task"], state["model"]
        self._load_inner_state(state["inner"])

    def _inner_state(self) -> dict[str, Any]:
        if isinstance(self.inner, LLMSearcherBase):
            return {"kind": "state", "state": self.inner.get_state()}
        fd, path = tempfile.mkstemp(prefix=".raytune_llm-inner-", suffix=".pkl")
        os.close(fd)
        try:
            self.inner.save(path)
            with open(path, "rb") as f:
                return {"kind": "file", "data": base64.b64encode(f.read()).decode("ascii")}
        except NotImplementedError:
            self._warn_once("no-save", "%s cannot save its state; after a restore it starts afresh",
                            type(self.inner).__name__)
            return {"kind": "none"}
        finally:
            os.unlink(path)

    def _load_inner_state(self, state: dict[str, Any]) -> None:
        if state["kind"] == "state":
            self.inner.set_state(state["state"])
        elif state["kind"] == "file":
            fd, path = tempfile.mkstemp(prefix=".raytune_llm-inner-", suffix=".pkl")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(base64.b64decode(state["data"]))
                self.inner.restore(path)
            finally:
                os.unlink(path)

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles searchers into experiment files (the LLM link and telemetry drop their threads)
        state = dict(self.__dict__)
        state["_restart"] = self._pending() or self._restart
        state["_run"] = None  # holds the learner's predictor; rebuilt at the next suggest()
        state["_store"] = None  # an SQLite connection: reopened from its path when needed
        return state

    # ------------------------------------------------------------------ results
    def benchmark_extra(self) -> dict[str, Any]:
        """Origins, LLM counters and usage, and the recommendation, for benchmark records."""
        extra = {"origins": self.origin_counts(), "llm": dict(self.counters), "usage": self.llm_usage.summary()}
        if self.warm_start_error is not None:
            extra["warm_start_error"] = self.warm_start_error  # the run was the inner searcher alone
        if self.recommendation is not None:
            rec = self.recommendation
            extra["recommendation"] = {"path": rec.path, "judge_score": rec.judge_score, "attempts": rec.attempts,
                                       "wall_time_s": rec.wall_time_s}
        return extra

    def close(self) -> None:
        """Close the inner searcher, the meta-dataset if opened here, the LLM worker (its usage is
        kept) and telemetry."""
        if hasattr(self.inner, "close"):
            self.inner.close()
        if self._store is not None and self._owns_store:
            self._store.close()
            self._store = None
        self._llm.close()
        self.telemetry.close()
