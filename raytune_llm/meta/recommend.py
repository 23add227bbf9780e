"""MetaLLMiX's recommender and judge: a zero-shot configuration from past experiments, checked by a second call.

One recommendation is a short, bounded sequence of LLM calls (:class:`RecommendationRun`):

1. the recommender is shown the target's meta-features, the most similar past experiments, the
   meta-learner's SHAP statements and the search space, and answers model, configuration,
   expected metric and explanation in JSON (under a grammar where the backend has one);
2. the answer is screened field by field (:func:`~raytune_llm.proposals.metallmix.check_answer`);
3. a judge call scores format, accuracy and completeness 1-5 with reasons;
4. an answer whose mean score is below ``threshold`` (or whose configuration is unusable) is
   asked again once per remaining attempt, with the judge's critique;
5. when no answer passes, the LLM fails or the deadline passes, the meta-learner's best predicted
   configuration among sampled candidates is the recommendation.

The result says which path produced it: ``"llm"`` (first answer accepted), ``"llm-retry"`` (a
later answer accepted) or ``"meta-learner"``, with the judge's verdicts, attempts, LLM usage and
wall time. :func:`recommend` runs the sequence synchronously through an
:class:`~raytune_llm.llm.LLMWorker`; :class:`~raytune_llm.searchers.metallmix.MetaLLMiXSearcher`
runs the same sequence through its background worker (see its ``wait_for_llm`` for when Tune waits).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raytune_llm._checks import finite_or_none
from raytune_llm.errors import LLMError, RaytuneLLMError
from raytune_llm.llm import LLMRequest, LLMResult, LLMWorker, get_backend
from raytune_llm.proposals.metallmix import (
    CheckedAnswer,
    Evidence,
    PastRun,
    Verdict,
    check_answer,
    judge_messages,
    judge_schema,
    parse_verdict,
    recommend_max_tokens,
    recommend_messages,
    recommend_schema,
    retry_messages,
)
from raytune_llm.proposals.metallmix import JUDGE_MAX_TOKENS as _JUDGE_MAX_TOKENS
from raytune_llm.proposals.render import format_config, format_value
from raytune_llm.space import SearchSpace, flatten

logger = logging.getLogger("raytune_llm.meta")

PATHS = ("llm", "llm-retry", "meta-learner")


class RecommendationError(RaytuneLLMError, ValueError):
    """A recommendation cannot be made from the given inputs (the message says which and what to do)."""


# ---------------------------------------------------------------------------------------- result
@dataclass
class Recommendation:
    """A recommended configuration and how it was reached.

    Attributes:
        model: the model.
        config: the flat configuration (parameters of the space, valid).
        expected_metric: the metric it is expected to reach (the LLM's, or the meta-learner's
            prediction on the meta-learner path); ``None`` if the LLM's was implausible.
        explanation: why, in one or two sentences.
        path: ``"llm"``, ``"llm-retry"`` or ``"meta-learner"``.
        metric: the metric.
        mode: ``"min"`` or ``"max"``.
        task: the meta-learning task.
        dataset: the target data set, if named.
        predicted_metric: the meta-learner's prediction for ``config``.
        verdicts: the judge's verdict on every judged answer, in order.
        attempts: recommender calls made.
        usage: LLM calls, tokens and latency of the whole sequence.
        wall_time_s: wall time from the start (evidence included) to the result.
        candidates: the meta-learner's best predicted configurations, best first.
        notes: what happened, one line per event (repairs, rejections, failures).
    """

    model: str
    config: dict[str, Any]
    expected_metric: float | None
    explanation: str
    path: str
    metric: str
    mode: str
    task: str = ""
    dataset: str | None = None
    predicted_metric: float | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    attempts: int = 0
    usage: dict[str, Any] = field(default_factory=dict)
    wall_time_s: float = 0.0
    candidates: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def judge(self) -> Verdict | None:
        """The last verdict (of the accepted answer on the LLM paths), or ``None`` if nothing was judged."""
        return self.verdicts[-1] if self.verdicts else None

    @property
    def judge_score(self) -> float | None:
        return self.judge.score if self.judge else None

    def top(self, n: int, space: SearchSpace) -> list[tuple[dict[str, Any], str]]:
        """The ``n`` best distinct configurations: this one, then the meta-learner's next best
        candidates, each with its origin (``"llm"`` or ``"meta-learner"``)."""
        origin = "llm" if self.path in ("llm", "llm-retry") else "meta-learner"
        out, keys = [], set()
        for config, source in [(self.config, origin)] + [(c, "meta-learner") for c, _ in self.candidates]:
            key = space.key(config)
            if key not in keys:
                keys.add(key)
                out.append((dict(config), source))
            if len(out) >= n:
                break
        return out

    def to_dict(self, encode: Callable[[dict[str, Any]], Any] | None = None) -> dict[str, Any]:
        """A JSON-able record; ``encode`` maps a configuration to JSON (default: as it is)."""
        enc = encode or dict
        return {
            "model": self.model, "config": enc(self.config), "expected_metric": self.expected_metric,
            "explanation": self.explanation, "path": self.path, "metric": self.metric, "mode": self.mode,
            "task": self.task, "dataset": self.dataset, "predicted_metric": self.predicted_metric,
            "judge": self.judge.to_dict() if self.judge else None,
            "verdicts": [v.to_dict() for v in self.verdicts], "attempts": self.attempts, "usage": dict(self.usage),
            "wall_time_s": self.wall_time_s, "candidates": [[enc(c), p] for c, p in self.candidates],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any],
                  decode: Callable[[Any], dict[str, Any]] | None = None) -> Recommendation:
        dec = decode or dict
        return cls(
            model=data["model"], config=dec(data["config"]), expected_metric=data["expected_metric"],
            explanation=data["explanation"], path=data["path"], metric=data["metric"], mode=data["mode"],
            task=data.get("task", ""), dataset=data.get("dataset"), predicted_metric=data.get("predicted_metric"),
            verdicts=[Verdict.from_dict(v) for v in data.get("verdicts", [])], attempts=int(data.get("attempts", 0)),
            usage=dict(data.get("usage", {})), wall_time_s=float(data.get("wall_time_s", 0.0)),
            candidates=[(dec(c), float(p)) for c, p in data.get("candidates", [])], notes=list(data.get("notes", [])),
        )


# ---------------------------------------------------------------------------------------- evidence
def open_store(meta: Any = None) -> Any:
    """A :class:`~raytune_llm.meta.MetaStore` from a store, a path, or ``None`` (the packaged seed store)."""
    from raytune_llm.meta import MetaStore

    if meta is None:
        return MetaStore.seed()
    if isinstance(meta, (str, Path)):
        if not Path(meta).expanduser().is_file():  # a typo would otherwise create an empty store
            raise RecommendationError(
                f"no meta-dataset at meta={str(meta)!r}; pass meta=None for the packaged seed store, or create "
                "one first: `raytune-llm meta ingest ... --meta PATH` (a copy of the seed store plus your runs) "
                "or MetaStore(PATH) (an empty one)")
        return MetaStore(Path(meta).expanduser())
    if callable(getattr(meta, "experiments", None)):
        return meta
    raise RecommendationError(f"meta must be a MetaStore, a path to one, or None for the packaged seed store; "
                              f"got {type(meta).__name__}: {meta!r:.100}")


def _records(frame: Any) -> list[dict[str, Any]]:
    return frame.to_dict("records") if hasattr(frame, "to_dict") else list(frame)


def target_features(store: Any, *, dataset: str | None, features: Mapping[str, Any] | None,
                    task: str | None) -> tuple[dict[str, Any], str]:
    """The target's meta-features and task: given, stored, or computed from the named packaged data set.

    Raises:
        RecommendationError: neither features nor a known data set; or no task can be told.
    """
    known = {row["name"]: row for row in _records(store.datasets())}
    if features is None:
        if dataset is None:
            raise RecommendationError("pass dataset= (a data set of the meta-dataset or a packaged one) or "
                                      "features= (its meta-features)")
        if dataset in known:
            features = store.dataset_features(dataset)
        else:
            from raytune_llm.meta import dataset_meta_features

            try:
                features = dataset_meta_features(dataset)
            except (KeyError, ValueError) as exc:
                raise RecommendationError(
                    f"unknown data set {dataset!r}: it is not in the meta-dataset (which has "
                    f"{sorted(known) or 'none'}) and its meta-features cannot be computed ({exc}); pass features= "
                    "or add it with MetaStore.add_dataset") from exc
    if task is None:
        task = known[dataset]["task"] if dataset in known else None
        if task is None:
            raise RecommendationError(f"cannot tell the task of data set {dataset!r}; pass task= "
                                      "('image-classification' or 'timeseries-regression')")
    return dict(features), task


def infer_model(store: Any, task: str) -> str:
    """The one model of ``task``'s past experiments.

    Raises:
        RecommendationError: none or several (the message lists them).
    """
    models = sorted({str(r["model"]) for r in _records(store.experiments(task=task))})
    if len(models) != 1:
        raise RecommendationError(f"cannot tell which model to tune for task {task!r}: the meta-dataset has "
                                  f"{models or 'no experiments'}; pass model=")
    return models[0]


def check_model(store: Any, task: str | None, model: str) -> None:
    """Refuse a ``model`` that the meta-dataset does not know while it knows others (a typo).

    A store with no experiments (of ``task``) at all passes: a new store that is filled as it goes.

    Raises:
        RecommendationError: naming the model and listing the known ones.
    """
    models = sorted({str(r["model"]) for r in _records(store.experiments(task=task))})
    if models and model not in models:
        where = f" for task {task!r}" if task else ""
        raise RecommendationError(f"model={model!r} has no past experiments in the meta-dataset{where}; it has "
                                  f"{models}: pass one of them, or model=None")


def gather_evidence(
    store: Any,
    *,
    space: Mapping[str, Any] | SearchSpace,
    model: str | None = None,
    task: str | None = None,
    dataset: str | None = None,
    features: Mapping[str, Any] | None = None,
    learner: Any = None,
    metric: str | None = None,
    k: int = 5,
    n_candidates: int = 5,
    samples: int = 512,
    seed: int = 0,
    exclude_dataset: str | None = None,
) -> tuple[Evidence, Callable[[dict[str, Any]], float] | None]:
    """Everything a recommendation is based on, plus the meta-learner's predictor.

    Args:
        store: the meta-dataset.
        space: the model's search space.
        model: the model (default: the only one of the task in the store).
        task: the meta-learning task (default: the stored task of ``dataset``).
        dataset: the target data set (stored, or a packaged one whose meta-features are computed).
        features: the target's meta-features (instead of looking them up).
        learner: a fitted :class:`~raytune_llm.meta.MetaLearner` (default: one is fitted on ``store``).
        metric: the metric to learn (default: the learner's).
        k: similar data sets whose best experiment of ``model`` is shown.
        n_candidates: meta-learner candidates to keep (0: none, the learner is not asked).
        samples: configurations the meta-learner scores to pick its candidates.
        seed: seed of the learner and of the sampled candidates.
        exclude_dataset: a data set whose experiments retrieval leaves out (a leave-one-out check).

    Returns:
        ``(evidence, predict)`` with ``predict(config) -> predicted metric``.
    """
    from raytune_llm.meta import MetaLearner, similar_experiments

    space = SearchSpace.from_tune(space)
    features, task = target_features(store, dataset=dataset, features=features, task=task)
    model = model or infer_model(store, task)
    if learner is None:
        learner = MetaLearner(seed=seed).fit(store, task=task, metric=metric)
    elif getattr(learner, "task", task) != task:
        raise RecommendationError(f"the learner was fitted for task {learner.task!r}, not {task!r}")
    metric, mode = learner.metric, learner.mode
    similar = []
    rows = similar_experiments(store, features, task=task, k=k, exclude_dataset=exclude_dataset, per_dataset=1,
                               model=model)
    for row in _records(rows):
        if row.get("metric", metric) != metric:
            continue
        similar.append(PastRun(str(row["dataset"]), str(row["model"]), flatten(dict(row["config"])),
                               finite_or_none(row.get("value")), finite_or_none(row.get("distance"))))
    statements = [str(s) for s in learner.explain(features, top=5)]
    candidates = []
    if n_candidates > 0:
        for config, predicted in learner.best_candidates(features, space, model=model, n=n_candidates,
                                                         samples=samples, seed=seed):
            candidates.append((space.repair(config, flat=True), float(predicted)))
    values = [v for v in (finite_or_none(r["value"]) for r in _records(store.experiments(task=task))
                          if r.get("metric") == metric) if v is not None]
    metric_range = (min(values), max(values)) if values else None
    evidence = Evidence(space=space, model=model, task=task, metric=metric, mode=mode, dataset=dataset,
                        features=features, similar=similar, statements=statements, candidates=candidates,
                        metric_range=metric_range)

    def predict(config: dict[str, Any]) -> float:
        return float(learner.predict(features, [config], model)[0])

    return evidence, predict


# ---------------------------------------------------------------------------------------- the sequence
@dataclass
class Ask:
    """One LLM request of a recommendation (what a driver sends)."""

    messages: list[dict[str, Any]]
    schema: dict[str, Any]
    max_tokens: int
    temperature: float
    tag: str


class RecommendationRun:
    """The recommend -> judge -> retry -> fallback sequence as a state machine; drivers do the calls.

    A driver loops: ``ask = run.next_ask()``; when it is ``None`` the :attr:`result` is ready;
    otherwise it sends the request and reports :meth:`on_answer` or :meth:`on_failure`, or
    :meth:`expire` once :meth:`remaining_s` is spent.

    Args:
        evidence: what the recommendation is based on.
        predict: the meta-learner's ``config -> predicted metric``.
        attempts: recommender calls at most (the first and the retries with critique).
        threshold: the judge's mean score (1-5) an answer needs.
        timeout_s: deadline of the whole sequence; then the meta-learner's configuration is taken.
        temperature: the recommender's sampling temperature (the judge samples at 0).
        use_llm: ``False`` to take the meta-learner path at once (no backend).
        started: ``time.perf_counter()`` the wall time counts from (default: now).
    """

    def __init__(self, evidence: Evidence, *, predict: Callable[[dict[str, Any]], float] | None = None,
                 attempts: int = 2, threshold: float = 3.0, timeout_s: float = 300.0, temperature: float = 0.3,
                 use_llm: bool = True, started: float | None = None) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        if not 1 <= threshold <= 5:
            raise ValueError(f"threshold must be in [1, 5] (the judge scores 1-5), got {threshold}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.evidence = evidence
        self.predict = predict
        self.max_attempts = int(attempts)
        self.threshold = float(threshold)
        self.timeout_s = float(timeout_s)
        self.temperature = float(temperature)
        self.started = time.perf_counter() if started is None else started
        self._deadline = time.monotonic() + self.timeout_s
        self.stage = "recommend"
        self.attempts = 0
        self.verdicts: list[Verdict] = []
        self.notes: list[str] = []
        self.usage = {"calls": 0, "attempts": 0, "prompt_tokens": 0, "completion_tokens": 0, "latency_s": 0.0}
        self._messages: list[dict[str, Any]] = recommend_messages(evidence)
        self._answer: Any = None
        self._checked: CheckedAnswer | None = None
        self._predicted: float | None = None
        self.result: Recommendation | None = None
        if not use_llm:
            self._fallback("no LLM configured")

    # -------------------------------------------------------------- driver interface
    @property
    def done(self) -> bool:
        return self.result is not None

    def remaining_s(self) -> float:
        return max(0.0, self._deadline - time.monotonic())

    def next_ask(self) -> Ask | None:
        """The request to send now, or ``None`` when the result is ready."""
        if self.done:
            return None
        if self.stage == "recommend":
            return Ask(list(self._messages), recommend_schema(self.evidence), recommend_max_tokens(self.evidence.space),
                       self.temperature, f"metallmix-recommend-{self.attempts + 1}")
        assert self._checked is not None
        return Ask(judge_messages(self.evidence, self._answer, self._checked, self._predicted), judge_schema(),
                   _JUDGE_MAX_TOKENS, 0.0, f"metallmix-judge-{self.attempts}")

    def on_answer(self, result: LLMResult) -> None:
        """Take the answer to the last :meth:`next_ask`."""
        if self.done:
            return
        self._count(result)
        if self.stage == "recommend":
            self._on_recommendation(result.value)
        else:
            self._on_verdict(result.value)

    def on_failure(self, error: BaseException) -> None:
        """The last request failed (after the worker's own retries): the meta-learner takes over."""
        if self.done:
            return
        if self.stage == "recommend":
            self.attempts += 1
        self._fallback(f"{self.stage} call failed: {type(error).__name__}: {error}")

    def expire(self) -> None:
        """The deadline has passed: the meta-learner takes over."""
        if not self.done:
            self._fallback(f"no accepted answer within the {self.timeout_s:g} s deadline")

    # -------------------------------------------------------------- steps
    def _count(self, result: LLMResult) -> None:
        self.usage["calls"] += 1
        self.usage["attempts"] += result.attempts
        self.usage["prompt_tokens"] += result.usage.prompt_tokens
        self.usage["completion_tokens"] += result.usage.completion_tokens
        self.usage["latency_s"] = round(self.usage["latency_s"] + result.usage.latency_s, 4)

    def _on_recommendation(self, answer: Any) -> None:
        self.attempts += 1
        checked = check_answer(answer, self.evidence)
        self.notes += [f"attempt {self.attempts}: {n}" for n in checked.notes]
        if checked.problem is not None:
            self.notes.append(f"attempt {self.attempts} rejected: {checked.problem}")
            self._next_attempt(answer, checked.problem)
            return
        self._answer, self._checked = answer, checked
        self._predicted = self._predict(checked.config)
        self.stage = "judge"

    def _on_verdict(self, value: Any) -> None:
        assert self._checked is not None
        try:
            verdict = parse_verdict(value)
        except ValueError as exc:
            self._fallback(f"the judge's answer could not be read: {exc}")
            return
        self.verdicts.append(verdict)
        if verdict.passes(self.threshold):
            self._accept()
            return
        self.notes.append(f"attempt {self.attempts} ({format_config(self.evidence.space, self._checked.config or {})}) "
                          f"rejected by the judge ({verdict.score:.2f} < {self.threshold:g}): {verdict.critique()}")
        self._next_attempt(self._answer, verdict.critique())

    def _next_attempt(self, answer: Any, critique: str) -> None:
        if self.attempts >= self.max_attempts:
            self._fallback(f"no answer accepted in {self.attempts} attempt(s)")
            return
        self._messages = retry_messages(self.evidence, answer, critique)
        self.stage = "recommend"

    def _predict(self, config: dict[str, Any] | None) -> float | None:
        if config is None or self.predict is None:
            return None
        try:
            return finite_or_none(self.predict(config))
        except Exception as exc:  # noqa: BLE001 - a prediction is evidence, never a reason to fail
            logger.warning("meta-learner prediction failed: %s", exc)
            return None

    def _accept(self) -> None:
        checked = self._checked
        assert checked is not None and checked.config is not None
        self._finish(Recommendation(
            model=checked.model, config=checked.config, expected_metric=checked.expected_metric,
            explanation=checked.explanation, path="llm" if self.attempts == 1 else "llm-retry",
            metric=self.evidence.metric, mode=self.evidence.mode, predicted_metric=self._predicted))

    def _fallback(self, reason: str) -> None:
        self.notes.append(f"meta-learner fallback: {reason}")
        ev = self.evidence
        if not ev.candidates:
            raise RecommendationError(f"no recommendation: {reason}, and the meta-learner has no candidate "
                                      "configuration (is the meta-dataset empty for this task?)")
        config, predicted = ev.candidates[0]
        why = (f"The meta-learner's best predicted configuration among sampled candidates "
               f"({ev.metric}={format_value(predicted)})")
        why += f"; {ev.statements[0].rstrip('.')}." if ev.statements else "."
        self._finish(Recommendation(
            model=ev.model, config=dict(config), expected_metric=predicted, explanation=why, path="meta-learner",
            metric=ev.metric, mode=ev.mode, predicted_metric=predicted))

    def _finish(self, rec: Recommendation) -> None:
        ev = self.evidence
        rec.task, rec.dataset = ev.task, ev.dataset
        rec.verdicts, rec.attempts, rec.usage = list(self.verdicts), self.attempts, dict(self.usage)
        rec.candidates, rec.notes = list(ev.candidates), list(self.notes)
        rec.wall_time_s = round(time.perf_counter() - self.started, 4)
        self.stage = "done"
        self.result = rec


# ---------------------------------------------------------------------------------------- drivers
def _send(worker: LLMWorker, ask: Ask, *, seed: int | None, wait_s: float) -> LLMResult:
    """One request through the worker, waiting at most ``wait_s``.

    Raises:
        LLMError: the request failed; FutureTimeoutError: no answer in time.
    """
    future = worker.submit(LLMRequest(ask.messages, ask.schema, temperature=ask.temperature,
                                      max_tokens=ask.max_tokens, seed=seed, tag=ask.tag))
    return future.result(timeout=wait_s)


def drive(run: RecommendationRun, worker: LLMWorker | None, *, seed: int | None = 0) -> Recommendation:
    """Run ``run`` to its end, blocking, within its deadline. A missing worker means no LLM."""
    if worker is None and not run.done:
        run.expire()
    calls = 0
    while (ask := run.next_ask()) is not None:
        assert worker is not None
        try:
            result = _send(worker, ask, seed=None if seed is None else seed * 1000 + calls, wait_s=run.remaining_s())
        except FutureTimeoutError:
            run.expire()
        except LLMError as exc:
            run.on_failure(exc)
        else:
            run.on_answer(result)
        calls += 1
    assert run.result is not None
    return run.result


def recommend(
    meta: Any = None,
    *,
    space: Mapping[str, Any] | SearchSpace,
    model: str | None = None,
    task: str | None = None,
    dataset: str | None = None,
    features: Mapping[str, Any] | None = None,
    llm: Any = "embedded",
    llm_options: Mapping[str, Any] | None = None,
    learner: Any = None,
    attempts: int = 2,
    threshold: float = 3.0,
    timeout_s: float = 300.0,
    llm_timeout_s: float = 120.0,
    seed: int = 0,
    k: int = 5,
    n_candidates: int = 5,
    exclude_dataset: str | None = None,
) -> Recommendation:
    """Recommend a configuration for a data set from past experiments (MetaLLMiX), zero-shot.

    Never raises because of the LLM: a failing, slow or unconvincing model yields the meta-learner's
    configuration (``path="meta-learner"``).

    Args:
        meta: a :class:`~raytune_llm.meta.MetaStore`, a path to one, or ``None`` (the packaged seed store).
        space: the model's Tune search space (or a :class:`~raytune_llm.SearchSpace`).
        model: the model to tune (default: the only model of the task in the store).
        task: the meta-learning task (default: the stored task of ``dataset``).
        dataset: the target data set.
        features: the target's meta-features, instead of looking them up.
        llm: LLM spec or backend (``None``: the meta-learner alone).
        llm_options: backend options.
        learner: a fitted meta-learner (default: fitted on ``meta``).
        attempts: recommender calls at most (retries get the judge's critique).
        threshold: the judge's mean score (1-5) an answer needs.
        timeout_s: deadline of the whole sequence of LLM calls.
        llm_timeout_s: seconds one LLM call may take.
        seed: seed of the learner, the candidates and the LLM.
        k: similar experiments shown to the LLM.
        n_candidates: meta-learner candidates kept (the fallback and the searcher's next warm trials).
        exclude_dataset: leave this data set's experiments out of retrieval.

    Returns:
        The :class:`Recommendation`.

    Raises:
        RecommendationError: the target cannot be identified or the store has nothing for its task.

    Example:
        >>> from trainables import cnn_space                      # doctest: +SKIP
        >>> rec = recommend(space=cnn_space("textures"), dataset="textures", llm="embedded")  # doctest: +SKIP
        >>> rec.path, rec.config, rec.judge_score                 # doctest: +SKIP
    """
    started = time.perf_counter()
    store = open_store(meta)
    try:
        evidence, predict = gather_evidence(store, space=space, model=model, task=task, dataset=dataset,
                                            features=features, learner=learner, k=k, n_candidates=n_candidates,
                                            seed=seed, exclude_dataset=exclude_dataset)
    finally:
        if store is not meta:  # opened here
            store.close()
    backend = get_backend(llm, **dict(llm_options or {}))
    run = RecommendationRun(evidence, predict=predict, attempts=attempts, threshold=threshold, timeout_s=timeout_s,
                            use_llm=backend is not None, started=started)
    if backend is None:
        return drive(run, None)
    worker = LLMWorker(backend, timeout_s=min(llm_timeout_s, timeout_s), max_retries=1)
    try:
        return drive(run, worker, seed=seed)
    finally:
        worker.close()


def judge(
    evidence: Evidence,
    answer: Any,
    *,
    llm: Any = "embedded",
    llm_options: Mapping[str, Any] | None = None,
    predicted: float | None = None,
    timeout_s: float = 120.0,
    seed: int | None = 0,
) -> Verdict:
    """Score one recommender answer (format, accuracy, completeness, 1-5) against its evidence.

    Args:
        evidence: what the answer was based on.
        answer: the recommender's JSON answer, as written.
        llm: LLM spec or backend.
        llm_options: backend options.
        predicted: the meta-learner's prediction for the answer's configuration, shown to the judge.
        timeout_s: seconds the call may take.
        seed: sampling seed.

    Raises:
        LLMError: the judge could not be asked (no backend, failure, timeout).
    """
    backend = get_backend(llm, **dict(llm_options or {}))
    if backend is None:
        raise LLMError("judge() needs an LLM; got llm=None")
    checked = check_answer(answer, evidence)
    ask = Ask(judge_messages(evidence, answer, checked, predicted), judge_schema(), _JUDGE_MAX_TOKENS, 0.0,
              "metallmix-judge")
    with LLMWorker(backend, timeout_s=timeout_s, max_retries=1) as worker:
        try:
            result = _send(worker, ask, seed=seed, wait_s=2 * timeout_s + 5)
        except FutureTimeoutError as exc:
            raise LLMError(f"the judge gave no answer within {timeout_s:g} s") from exc
    return parse_verdict(result.value)


__all__ = ["PATHS", "Ask", "Recommendation", "RecommendationError", "RecommendationRun", "drive",
           "gather_evidence", "judge", "open_store", "recommend"]
