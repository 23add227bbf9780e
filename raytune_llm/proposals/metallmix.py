"""The prompts of MetaLLMiX (2025): a recommender and a judge, their answer schemas and their screening.

The recommender sees the target data set's meta-features, the most similar past experiments, the
meta-learner's SHAP statements and the search space, and answers in one JSON object::

    {"model": "cnn", "configuration": {...}, "expected_metric": 0.91, "explanation": "..."}

Each field is screened on its own: the configuration is repaired into the space or rejected
(:func:`~raytune_llm.proposals.screen_configs`), a model other than the one tuned is replaced, an
expected metric outside the plausible range of past results is dropped, the explanation is
trimmed. The judge scores an answer 1-5 for format, accuracy (consistency with the evidence) and
completeness, with a reason each; its reasons are the critique a retry is given.

Nothing here calls a model: :mod:`raytune_llm.meta.recommend` drives the calls.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from raytune_llm.llm.base import Message
from raytune_llm.proposals.render import SPACE_HEADER, config_schema, format_config, format_value, space_table
from raytune_llm.proposals.screening import screen_configs
from raytune_llm.space import SearchSpace

RECOMMEND_SYSTEM = (
    "You are a machine-learning expert who recommends hyperparameters for a new data set from past "
    "experiments on similar data sets. Answer with JSON only, using exactly the parameter names given, "
    "every value inside its range."
)

JUDGE_SYSTEM = (
    "You are a strict reviewer of hyperparameter recommendations. You check a recommendation against "
    "the evidence it was based on and score it from 1 (bad) to 5 (excellent). Answer with JSON only."
)

CRITERIA = ("format", "accuracy", "completeness")
EXPLANATION_MAX = 300
REASON_MAX = 160
MAX_FEATURES = 12


@dataclass(frozen=True)
class PastRun:
    """One past experiment shown to the recommender.

    Attributes:
        dataset: the data set it ran on.
        model: the model trained.
        config: its (flat) configuration.
        value: the metric it reached (``None`` when it failed).
        distance: meta-feature distance of its data set to the target (``None`` if not computed).
    """

    dataset: str
    model: str
    config: dict[str, Any]
    value: float | None
    distance: float | None = None


@dataclass
class Evidence:
    """What a recommendation is based on (plain data; gathered by :func:`raytune_llm.meta.recommend.gather_evidence`).

    Attributes:
        space: the search space of the model.
        model: the model being tuned (e.g. ``"cnn"``).
        task: the meta-learning task (e.g. ``"image-classification"``).
        metric: the metric of the past experiments and of the answer.
        mode: ``"min"`` or ``"max"``.
        dataset: the target data set's name, if it has one.
        features: the target's meta-features.
        similar: the most similar past experiments, nearest first.
        statements: the meta-learner's SHAP statements (what drives the metric).
        candidates: the meta-learner's best predicted configurations, best first, with predictions.
        metric_range: lowest and highest value of the metric among past experiments of the task.
    """

    space: SearchSpace
    model: str
    task: str
    metric: str
    mode: str
    dataset: str | None = None
    features: dict[str, Any] = field(default_factory=dict)
    similar: list[PastRun] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    candidates: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    metric_range: tuple[float, float] | None = None

    @property
    def goal(self) -> str:
        return "minimise" if self.mode == "min" else "maximise"

    def plausible_range(self) -> tuple[float, float] | None:
        """The values an expected metric may take: the past range widened by half its span (at least 0.1
        of its magnitude), or ``None`` when nothing is known."""
        if self.metric_range is None:
            return None
        lo, hi = self.metric_range
        margin = max(0.5 * (hi - lo), 0.1 * max(abs(lo), abs(hi)), 1e-9)
        return lo - margin, hi + margin


# ---------------------------------------------------------------------------------------- rendering
def _feature_lines(evidence: Evidence) -> list[str]:
    """At most :data:`MAX_FEATURES` meta-features: those the SHAP statements name first."""
    numeric = {k: v for k, v in evidence.features.items() if isinstance(v, (int, float, str, bool, np.number))}
    named = [k for k in sorted(numeric) if any(k in s for s in evidence.statements)]
    rest = [k for k in sorted(numeric) if k not in named]
    keys = (named + rest)[:MAX_FEATURES]
    return [f"- {k}={_feature_value(numeric[k])}" for k in keys]


def _feature_value(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "unknown"
    return format_value(value)


def _run_line(evidence: Evidence, run: PastRun) -> str:
    where = f"dataset={run.dataset}"
    if run.distance is not None and math.isfinite(run.distance):
        where += f" (distance {format_value(run.distance)})"
    value = "failed" if run.value is None else format_value(run.value)
    if run.model == evidence.model and all(p in run.config for p in evidence.space.names):
        config = format_config(evidence.space, run.config)
    else:
        config = ", ".join(f"{k}={format_value(v)}" for k, v in sorted(run.config.items()))
    return f"- {where}, model={run.model}: {evidence.metric}={value} | {config}"


def evidence_lines(evidence: Evidence) -> list[str]:
    """The evidence as prompt lines: target, meta-features, similar experiments, SHAP statements."""
    target = f"a new {evidence.task} data set" + (f" ({evidence.dataset})" if evidence.dataset else "")
    lines = [f"Task: recommend hyperparameters of the model '{evidence.model}' for {target}.",
             f"Goal: {evidence.goal} {evidence.metric}."]
    features = _feature_lines(evidence)
    if features:
        lines += ["Meta-features of the data set:", *features]
    if evidence.similar:
        lines.append("Past experiments on the most similar data sets:")
        lines += [_run_line(evidence, run) for run in evidence.similar]
    if evidence.statements:
        lines.append(f"What drives {evidence.metric} (meta-learner, SHAP):")
        lines += [f"- {s}" for s in evidence.statements]
    return lines


def recommend_messages(evidence: Evidence) -> list[Message]:
    """The recommender's chat: system role, then the evidence, the space and the question."""
    lines = evidence_lines(evidence)
    lines += [SPACE_HEADER, space_table(evidence.space), "",
              f"Recommend one configuration for '{evidence.model}' inside this space, the {evidence.metric} you "
              f"expect it to reach, and a one-sentence explanation that cites the evidence above."]
    return [{"role": "system", "content": RECOMMEND_SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def recommend_schema(evidence: Evidence) -> dict[str, Any]:
    """``{"model", "configuration", "expected_metric", "explanation"}``; the expected metric is bounded
    by :meth:`Evidence.plausible_range` where known (exact under a grammar, checked after parsing)."""
    expected: dict[str, Any] = {"type": "number"}
    bounds = evidence.plausible_range()
    if bounds is not None:
        expected.update(minimum=_round_bound(bounds[0], down=True), maximum=_round_bound(bounds[1], down=False))
    return {
        "type": "object",
        "properties": {
            "model": {"enum": [evidence.model]},
            "configuration": config_schema(evidence.space),
            "expected_metric": expected,
            "explanation": {"type": "string", "maxLength": EXPLANATION_MAX},
        },
        "required": ["model", "configuration", "expected_metric", "explanation"],
        "additionalProperties": False,
    }


def _round_bound(x: float, *, down: bool) -> float:
    """A bound written with few digits (grammars and prompts stay short), rounded outwards."""
    if x == 0 or not math.isfinite(x):
        return x
    scale = 10 ** (math.floor(math.log10(abs(x))) - 2)
    return (math.floor if down else math.ceil)(x / scale) * scale


def recommend_max_tokens(space: SearchSpace) -> int:
    """Token budget of one recommender answer."""
    return 80 + 25 * space.dim + EXPLANATION_MAX // 3


def retry_messages(evidence: Evidence, previous: Any, critique: str) -> list[Message]:
    """The recommender's chat again, with its previous answer and the critique it got."""
    return [*recommend_messages(evidence),
            {"role": "assistant", "content": json.dumps(previous, default=str)},
            {"role": "user", "content": f"A reviewer found problems with this recommendation: {critique}\n"
                                        "Answer again with a corrected recommendation in the same JSON format."}]


# ---------------------------------------------------------------------------------------- screening
@dataclass
class CheckedAnswer:
    """A recommender answer after screening, field by field.

    Attributes:
        model: the model (always the one being tuned).
        config: the repaired flat configuration, or ``None`` when it was rejected.
        expected_metric: the expected metric, or ``None`` when missing or implausible.
        explanation: the explanation, trimmed.
        notes: one line per field that was repaired or dropped.
        problem: why the answer cannot be used (no valid configuration), or ``None``.
    """

    model: str
    config: dict[str, Any] | None
    expected_metric: float | None
    explanation: str
    notes: list[str] = field(default_factory=list)
    problem: str | None = None


def check_answer(answer: Any, evidence: Evidence) -> CheckedAnswer:
    """Screen a recommender answer against the space and the evidence (see the module docstring)."""
    if not isinstance(answer, Mapping):
        return CheckedAnswer(evidence.model, None, None, "",
                             problem=f"the answer is not a JSON object: {answer!r:.200}")
    notes: list[str] = []
    model = answer.get("model")
    if model != evidence.model:
        notes.append(f"model {model!r} is not the model being tuned ({evidence.model!r}); replaced")
    item = answer.get("configuration")
    config, problem = None, None
    screened = screen_configs([item], evidence.space)
    if screened.accepted:
        config = screened.accepted[0]
        if screened.repaired:
            notes.append("configuration repaired: " + "; ".join(evidence.space.check(item)))
    else:
        problem = f"the configuration is not valid for the search space: {screened.rejected[0][1]}"
    expected = _number(answer.get("expected_metric"))
    bounds = evidence.plausible_range()
    if expected is None:
        notes.append(f"expected_metric {answer.get('expected_metric')!r} is not a finite number; dropped")
    elif bounds is not None and not bounds[0] <= expected <= bounds[1]:
        notes.append(f"expected_metric {format_value(expected)} is outside the plausible range "
                     f"[{format_value(bounds[0])}, {format_value(bounds[1])}] of past results; dropped")
        expected = None
    explanation = answer.get("explanation")
    explanation = " ".join(explanation.split())[:EXPLANATION_MAX] if isinstance(explanation, str) else ""
    if not explanation:
        notes.append("no explanation given")
    return CheckedAnswer(evidence.model, config, expected, explanation, notes, problem)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        x = float(value)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


# ---------------------------------------------------------------------------------------- judge
@dataclass(frozen=True)
class Verdict:
    """The judge's scores (1-5) and reasons.

    Attributes:
        scores: ``{"format": int, "accuracy": int, "completeness": int}``.
        reasons: the judge's reason for each score.
    """

    scores: dict[str, int]
    reasons: dict[str, str]

    @property
    def score(self) -> float:
        """The mean of the three scores."""
        return sum(self.scores.values()) / len(self.scores)

    def passes(self, threshold: float) -> bool:
        return self.score >= threshold

    def critique(self) -> str:
        """The scores and reasons as one line, weakest first (what a retry is told)."""
        order = sorted(CRITERIA, key=lambda c: self.scores[c])
        return "; ".join(f"{c} {self.scores[c]}/5: {self.reasons.get(c) or 'no reason given'}" for c in order)

    def to_dict(self) -> dict[str, Any]:
        return {"scores": dict(self.scores), "reasons": dict(self.reasons), "score": round(self.score, 4)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls({k: int(v) for k, v in data["scores"].items()}, {k: str(v) for k, v in data["reasons"].items()})


def judge_schema() -> dict[str, Any]:
    """``{criterion: {"reason": str, "score": 1..5}}`` for format, accuracy and completeness."""
    # the reason comes first: a small model writes it, then scores in its light
    one = {"type": "object",
           "properties": {"reason": {"type": "string", "maxLength": REASON_MAX},
                          "score": {"type": "integer", "minimum": 1, "maximum": 5}},
           "required": ["reason", "score"], "additionalProperties": False}
    return {"type": "object", "properties": {c: one for c in CRITERIA}, "required": list(CRITERIA),
            "additionalProperties": False}


JUDGE_MAX_TOKENS = 60 + 3 * (REASON_MAX // 3 + 20)


def judge_messages(evidence: Evidence, answer: Any, checked: CheckedAnswer, predicted: float | None) -> list[Message]:
    """The judge's chat: the evidence, the answer as written, what the code checks found, and the
    meta-learner's prediction for the recommended configuration."""
    lines = evidence_lines(evidence)
    if evidence.metric_range is not None:
        lo, hi = evidence.metric_range
        lines.append(f"Past {evidence.metric} values range from {format_value(lo)} to {format_value(hi)}.")
    lines += [SPACE_HEADER, space_table(evidence.space), "",
              "Recommendation to review:", json.dumps(answer, default=str)]
    checks = "; ".join(checked.notes) if checked.notes else "every field is valid as written."
    lines.append("Checks by code: " + checks)
    if predicted is not None:
        best = evidence.candidates[0][1] if evidence.candidates else None
        line = f"The meta-learner predicts {evidence.metric}={format_value(predicted)} for this configuration"
        if best is not None:
            line += f" (its own best candidate: {format_value(best)})"
        lines.append(line + ".")
    lines += ["", "Score the recommendation from 1 to 5 on each criterion, with a short reason:",
              "- format: all fields present, the configuration valid and inside the space;",
              "- accuracy: the configuration and the expected metric agree with the past experiments, the "
              "SHAP statements and the meta-learner;",
              "- completeness: the explanation names the evidence it relies on."]
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def parse_verdict(value: Any) -> Verdict:
    """Read the judge's answer; scores outside 1-5 are clipped, a missing criterion scores 1.

    Raises:
        ValueError: the answer is not a JSON object.
    """
    if not isinstance(value, Mapping):
        raise ValueError(f"the judge's answer is not a JSON object: {value!r:.200}")
    scores, reasons = {}, {}
    for c in CRITERIA:
        entry = value.get(c)
        entry = entry if isinstance(entry, Mapping) else {}
        raw = _number(entry.get("score"))
        scores[c] = 1 if raw is None else int(min(5, max(1, round(raw))))
        reason = entry.get("reason")
        reasons[c] = " ".join(reason.split())[:REASON_MAX] if isinstance(reason, str) else ""
    return Verdict(scores, reasons)


# ---------------------------------------------------------------------------------------- fine-tuning
def answer_for(evidence: Evidence, config: Mapping[str, Any], value: float, explanation: str) -> dict[str, Any]:
    """An answer in the recommender's format (what a fine-tuned model should write)."""
    configuration = {p.name: _jsonable(p, config[p.name]) for p in evidence.space.params}
    return {"model": evidence.model, "configuration": configuration,
            "expected_metric": value, "explanation": explanation[:EXPLANATION_MAX]}


def _jsonable(param: Any, value: Any) -> Any:
    if param.kind == "categorical" and param.index(value) is not None:
        return param.labels[param.index(value)]
    return value.item() if hasattr(value, "item") else value


def describe_runs(runs: Sequence[PastRun], metric: str, n: int = 2) -> str:
    """``"kth (val_accuracy=0.81), brodatz (0.78)"``: the first ``n`` runs, for explanations."""
    parts = [f"{r.dataset} ({metric}={format_value(r.value)})" for r in runs[:n] if r.value is not None]
    return ", ".join(parts)


__all__ = [
    "CRITERIA", "CheckedAnswer", "Evidence", "PastRun", "Verdict", "answer_for", "check_answer", "describe_runs",
    "evidence_lines", "judge_messages", "judge_schema", "parse_verdict", "recommend_messages", "recommend_schema",
    "retry_messages",
]
