"""MetaLLMiX's recommender and judge: prompts, screening, the recommend -> judge -> retry -> fallback
sequence with a scripted LLM, recommend() on a real (small) meta-dataset, and the real embedded model."""

from __future__ import annotations

import json
import math
import time

import pytest
from ray import tune

from raytune_llm.errors import LLMConnectionError, LLMResponseError
from raytune_llm.llm import LLMWorker
from raytune_llm.llm.testing import ScriptedBackend
from raytune_llm.meta.recommend import Recommendation, RecommendationRun, drive, judge
from raytune_llm.proposals.metallmix import (
    Evidence,
    PastRun,
    Verdict,
    check_answer,
    judge_schema,
    parse_verdict,
    recommend_messages,
    recommend_schema,
)
from raytune_llm.proposals.render import config_schema
from raytune_llm.space import SearchSpace

SPACE = SearchSpace.from_tune({"lr": tune.loguniform(1e-4, 1e-1), "layers": tune.randint(1, 4),
                               "act": tune.choice(["relu", "tanh"]), "epochs": 3})
GOOD = {"model": "mlp", "configuration": {"act": "relu", "layers": 2, "lr": 0.003}, "expected_metric": 0.9,
        "explanation": "d2 is closest and reached 0.91 with lr=0.003; SHAP says lr matters most."}


def verdict(score, reason="ok"):
    return {c: {"score": score, "reason": f"{c}: {reason}"} for c in ("format", "accuracy", "completeness")}


def evidence(**kw):
    base = dict(
        space=SPACE, model="mlp", task="image-classification", metric="acc", mode="max", dataset="target",
        features={"n_instances": 1200, "n_classes": 10, "seasonality_strength": math.nan},
        similar=[PastRun("d2", "mlp", {"lr": 0.003, "layers": 2, "act": "relu"}, 0.91, 0.12),
                 PastRun("d5", "mlp", {"lr": 0.05, "layers": 1, "act": "tanh"}, 0.62, 0.4)],
        statements=["n_classes above 5 lowers acc by 0.04", "lr near 3e-3 raises acc by 0.1"],
        candidates=[({"act": "tanh", "layers": 3, "lr": 0.002}, 0.88), ({"act": "relu", "layers": 1, "lr": 0.01}, 0.85),
                    ({"act": "relu", "layers": 2, "lr": 0.0005}, 0.8)],
        metric_range=(0.5, 0.95))
    base.update(kw)
    return Evidence(**base)


def run_scripted(script, *, attempts=2, threshold=3.0, timeout_s=30.0, delay_s=0.0, max_retries=0, ev=None):
    backend = ScriptedBackend(script, delay_s=delay_s)
    run = RecommendationRun(ev or evidence(), predict=lambda c: 0.87, attempts=attempts, threshold=threshold,
                            timeout_s=timeout_s)
    with LLMWorker(backend, timeout_s=10, max_retries=max_retries, backoff_s=0) as worker:
        rec = drive(run, worker, seed=0)
    return rec, backend


# ---------------------------------------------------------------------------------------- prompts
def test_the_prompt_holds_the_evidence_and_the_space():
    messages = recommend_messages(evidence())
    text = messages[1]["content"]
    assert messages[0]["role"] == "system" and "JSON only" in messages[0]["content"]
    assert "model 'mlp'" in text and "maximise acc" in text
    assert "- n_classes=10" in text and "seasonality_strength=unknown" in text  # NaN shown as unknown
    assert "dataset=d2 (distance 0.12), model=mlp: acc=0.91 | act=relu, layers=2, lr=0.003" in text
    assert "- lr near 3e-3 raises acc by 0.1" in text
    assert "lr | float | 0.0001 | 0.1 | log |" in text


def test_the_answer_schema_bounds_the_configuration_and_the_expected_metric():
    schema = recommend_schema(evidence())
    assert schema["required"] == ["model", "configuration", "expected_metric", "explanation"]
    assert schema["properties"]["configuration"] == config_schema(SPACE)
    lo, hi = schema["properties"]["expected_metric"]["minimum"], schema["properties"]["expected_metric"]["maximum"]
    assert lo <= 0.5 - 0.2 and 0.95 + 0.2 <= hi < 2  # past range widened by half its span, not unbounded
    from raytune_llm.llm.gbnf import schema_to_gbnf

    assert "root" in schema_to_gbnf(schema) and "root" in schema_to_gbnf(judge_schema())


# ---------------------------------------------------------------------------------------- screening
def test_a_valid_answer_passes_unchanged():
    checked = check_answer(GOOD, evidence())
    assert checked.problem is None and checked.notes == []
    assert checked.config == {"act": "relu", "layers": 2, "lr": 0.003} and checked.expected_metric == 0.9


def test_out_of_range_values_are_repaired_field_by_field():
    answer = {**GOOD, "model": "resnet", "configuration": {"act": "RELU", "layers": 9, "lr": 5.0},
              "expected_metric": 91.0, "explanation": "  spaced \n out  "}
    checked = check_answer(answer, evidence())
    assert checked.problem is None
    assert checked.config == {"act": "relu", "layers": 3, "lr": 0.1}  # clipped, matched
    assert checked.model == "mlp" and checked.expected_metric is None and checked.explanation == "spaced out"
    joined = " | ".join(checked.notes)
    assert "'resnet' is not the model being tuned" in joined
    assert "'layers' must be in [1, 3], got 9" in joined and "91" in joined and "plausible range" in joined


@pytest.mark.parametrize("configuration, words", [
    ({"act": "gelu", "layers": 2, "lr": 0.01}, ["'act' must be one of ['relu', 'tanh'], got 'gelu'"]),
    ({"act": "relu", "lr": 0.01}, ["missing parameter 'layers'"]),
    ("lr=0.01", ["not an object"]),
])
def test_an_unusable_configuration_is_rejected_with_the_reason(configuration, words):
    checked = check_answer({**GOOD, "configuration": configuration}, evidence())
    assert checked.config is None
    for word in words:
        assert word in checked.problem


def test_the_verdict_is_read_and_clipped():
    v = parse_verdict({"format": {"score": 9, "reason": "fine"}, "accuracy": {"score": 2, "reason": "too high"},
                       "completeness": {"reason": "no score"}})
    assert v.scores == {"format": 5, "accuracy": 2, "completeness": 1}
    assert v.score == pytest.approx(8 / 3) and not v.passes(3.0)
    assert v.critique().startswith("completeness 1/5") and "accuracy 2/5: too high" in v.critique()
    assert Verdict.from_dict(v.to_dict()) == v
    with pytest.raises(ValueError, match="not a JSON object"):
        parse_verdict([1, 2])


# ---------------------------------------------------------------------------------------- the sequence
def test_happy_path_is_the_llm_path_with_judge_scores():
    rec, backend = run_scripted([GOOD, verdict(5)])
    assert rec.path == "llm" and rec.attempts == 1 and rec.config == {"act": "relu", "layers": 2, "lr": 0.003}
    assert rec.expected_metric == 0.9 and rec.predicted_metric == 0.87 and "closest" in rec.explanation
    assert rec.judge.scores == {"format": 5, "accuracy": 5, "completeness": 5} and rec.judge_score == 5
    assert rec.usage["calls"] == 2 and rec.usage["prompt_tokens"] > 0 and rec.wall_time_s >= 0
    judge_prompt = backend.calls[1][0][1]["content"]
    assert "Recommendation to review:" in judge_prompt and json.dumps(GOOD) in judge_prompt
    assert "predicts acc=0.87 for this configuration (its own best candidate: 0.88)" in judge_prompt
    assert backend.calls[1][2]["temperature"] == 0.0


def test_judge_rejection_retries_with_the_critique_then_succeeds():
    second = {**GOOD, "configuration": {"act": "tanh", "layers": 3, "lr": 0.002}, "expected_metric": 0.88}
    rec, backend = run_scripted([GOOD, verdict(1, "contradicts d2"), second, verdict(4)])
    assert rec.path == "llm-retry" and rec.attempts == 2 and rec.config["act"] == "tanh"
    assert [v.score for v in rec.verdicts] == [1, 4]
    retry = backend.calls[2][0]
    assert retry[-2] == {"role": "assistant", "content": json.dumps(GOOD)}
    assert "accuracy 1/5: accuracy: contradicts d2" in retry[-1]["content"]
    assert any("attempt 1 (act=relu, layers=2, lr=0.003) rejected by the judge (1.00 < 3)" in n for n in rec.notes)


def test_repeated_rejection_falls_back_to_the_meta_learner():
    rec, backend = run_scripted([GOOD, verdict(2), GOOD, verdict(1)])
    assert rec.path == "meta-learner" and rec.attempts == 2 and len(backend.calls) == 4
    assert rec.config == {"act": "tanh", "layers": 3, "lr": 0.002} and rec.expected_metric == 0.88
    assert "best predicted configuration" in rec.explanation and "n_classes above 5" in rec.explanation
    assert [v.score for v in rec.verdicts] == [2, 1] and "no answer accepted in 2 attempt(s)" in rec.notes[-1]


def test_an_unusable_configuration_is_retried_without_a_judge_call():
    bad = {**GOOD, "configuration": {"act": "gelu", "layers": 2, "lr": 0.01}}
    rec, backend = run_scripted([bad, GOOD, verdict(4)])
    assert rec.path == "llm-retry" and len(backend.calls) == 3
    assert "got 'gelu'" in backend.calls[1][0][-1]["content"]


def test_garbage_answers_are_retried_by_the_worker_then_fall_back():
    garbage = LLMResponseError("the answer contains no JSON value: 'Sure! Here'", raw="Sure! Here")
    rec, backend = run_scripted([garbage, garbage, garbage], max_retries=1)
    assert rec.path == "meta-learner" and len(backend.calls) == 2  # one worker retry, then the fallback
    assert "LLMResponseError" in rec.notes[-1]


def test_a_wrongly_typed_answer_is_an_invalid_answer():
    wrong = {**GOOD, "configuration": {"act": "relu", "layers": "two", "lr": 0.01}}
    rec, _ = run_scripted([wrong], max_retries=0)
    assert rec.path == "meta-learner" and "does not match the schema" in rec.notes[-1]


def test_llm_down_falls_back_at_once():
    rec, _ = run_scripted([LLMConnectionError("connection refused")])
    assert rec.path == "meta-learner" and rec.verdicts == [] and "connection refused" in rec.notes[-1]


def test_a_slow_llm_is_cut_at_the_deadline():
    start = time.perf_counter()
    rec, _ = run_scripted([GOOD, verdict(5)], timeout_s=0.5, delay_s=3.0)
    assert rec.path == "meta-learner" and time.perf_counter() - start < 2.5
    assert "deadline" in rec.notes[-1]


def test_a_failing_judge_means_the_meta_learner():
    rec, _ = run_scripted([GOOD, LLMConnectionError("judge down")])
    assert rec.path == "meta-learner" and "judge call failed" in rec.notes[-1]


def test_no_llm_is_the_meta_learner_path():
    run = RecommendationRun(evidence(), use_llm=False)
    assert run.done and run.next_ask() is None
    rec = drive(run, None)
    assert rec.path == "meta-learner" and rec.usage["calls"] == 0


def test_top_configurations_are_distinct_and_labelled():
    rec, _ = run_scripted([{**GOOD, "configuration": {"act": "tanh", "layers": 3, "lr": 0.002}}, verdict(5)])
    top = rec.top(3, SPACE)
    assert [o for _, o in top] == ["llm", "meta-learner", "meta-learner"]
    assert len({SPACE.key(c) for c, _ in top}) == 3 and top[1][0]["lr"] == 0.01  # the duplicate candidate skipped
    again = Recommendation.from_dict(json.loads(json.dumps(rec.to_dict())))
    assert again.to_dict() == rec.to_dict()


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="threshold must be in \\[1, 5\\]"):
        RecommendationRun(evidence(), threshold=7)
    with pytest.raises(ValueError, match="attempts must be >= 1, got 0"):
        RecommendationRun(evidence(), attempts=0)


def test_judge_alone():
    v = judge(evidence(), GOOD, llm=ScriptedBackend([verdict(4, "consistent")]), predicted=0.87)
    assert v.score == 4 and v.reasons["accuracy"] == "accuracy: consistent"


# ---------------------------------------------------------------------------------------- on a real meta-dataset
from conformance.suite import SPACE as QUAD_SPACE  # noqa: E402
from support.metastores import DATASETS, features  # noqa: E402

from raytune_llm.meta.finetune import finetune_examples, write_jsonl  # noqa: E402
from raytune_llm.meta.recommend import PATHS, RecommendationError, gather_evidence, recommend  # noqa: E402
from raytune_llm.space import SearchSpace as _Space  # noqa: E402

QUAD = _Space.from_tune(QUAD_SPACE)
TARGET = features(5, 1000)


def quad_answer(messages, schema):
    if "configuration" in schema["properties"]:
        return {"model": "quad", "configuration": {"x": 0.35, "n": 5, "act": "b", "lr": 0.003},
                "expected_metric": 0.02, "explanation": "beta and gamma, the nearest, did best near x=0.3."}
    return verdict(4)


def test_recommend_on_a_meta_dataset(store, learner):
    backend = ScriptedBackend([quad_answer])
    rec = recommend(store, space=QUAD_SPACE, features=TARGET, task="image-classification", learner=learner,
                    llm=backend)
    assert rec.path == "llm" and rec.model == "quad" and rec.config == {"act": "b", "lr": 0.003, "n": 5, "x": 0.35}
    assert rec.predicted_metric == pytest.approx(float(learner.predict(TARGET, [rec.config], "quad")[0]))
    assert len(rec.candidates) == 5 and rec.metric == "score" and rec.mode == "min"
    prompt = backend.calls[0][0][1]["content"]
    assert "Past experiments on the most similar data sets:" in prompt and "dataset=gamma" in prompt
    assert prompt.count("model=quad:") == 5 and "What drives score (meta-learner, SHAP):" in prompt


def test_a_stored_data_set_can_be_left_out_of_its_own_evidence(store, learner):
    evidence, predict = gather_evidence(store, space=QUAD_SPACE, dataset="gamma", learner=learner,
                                        exclude_dataset="gamma")
    assert evidence.task == "image-classification" and evidence.model == "quad"
    assert evidence.features["n_classes"] == 6 and "gamma" not in {r.dataset for r in evidence.similar}
    assert evidence.metric_range[0] < evidence.metric_range[1]
    best = min(evidence.candidates, key=lambda c: c[1])
    assert evidence.candidates[0] == best and predict(best[0]) == pytest.approx(best[1])


def test_the_meta_learner_path_without_an_llm_is_a_good_configuration(store, learner):
    rec = recommend(store, space=QUAD_SPACE, dataset="gamma", learner=learner, llm=None, exclude_dataset="gamma")
    from support.metastores import score

    values = [score(QUAD.repair(QUAD.from_unit(u), flat=True), DATASETS["gamma"])
              for u in __import__("numpy").random.default_rng(0).random((200, QUAD.dim))]
    assert rec.path == "meta-learner" and rec.explanation.startswith("The meta-learner's best predicted")
    assert score(rec.config, DATASETS["gamma"]) < sorted(values)[20]  # better than 90 % of random configurations


def test_unknown_targets_are_clear_errors(store, learner):
    with pytest.raises(RecommendationError, match="unknown data set 'nosuch'.*'alpha'"):
        recommend(store, space=QUAD_SPACE, dataset="nosuch", llm=None, learner=learner)
    with pytest.raises(RecommendationError, match="pass dataset= .* or features="):
        recommend(store, space=QUAD_SPACE, llm=None, learner=learner)
    with pytest.raises(RecommendationError, match="cannot tell the task"):
        recommend(store, space=QUAD_SPACE, features=TARGET, llm=None, learner=learner)


def test_finetune_examples_are_the_recommenders_chats(store, learner, tmp_path):
    examples, skipped = finetune_examples(store, space=QUAD_SPACE, task="image-classification", learner=learner)
    assert len(examples) == len(DATASETS) and skipped == []
    first = store.datasets()["name"].iloc[0]
    evidence, _ = gather_evidence(store, space=QUAD_SPACE, dataset=first, learner=learner, n_candidates=0,
                                  exclude_dataset=first)
    system, user, assistant = examples[0]["messages"]
    assert [system, user] == recommend_messages(evidence) and assistant["role"] == "assistant"
    assert f"dataset={first} " not in user["content"]  # its own experiments are the answer, never the evidence
    answer = json.loads(assistant["content"])
    checked = check_answer(answer, evidence)
    assert checked.problem is None and checked.notes == []
    rows = store.experiments(dataset=first)
    best = rows.loc[rows["value"].idxmin()]
    assert answer["expected_metric"] == best["value"] and checked.config == QUAD.repair(best["config"], flat=True)
    path = tmp_path / "ft" / "train.jsonl"
    assert write_jsonl(examples, path) == len(examples)
    lines = path.read_text().splitlines()
    assert [json.loads(line) for line in lines] == examples
    two, _ = finetune_examples(store, space=QUAD_SPACE, task="image-classification", learner=learner, per_dataset=2)
    assert len(two) == 2 * len(DATASETS)


@pytest.mark.llm
def test_the_embedded_model_recommends_a_configuration_in_range(store, learner, embedded):
    rec = recommend(store, space=QUAD_SPACE, features=TARGET, task="image-classification", learner=learner,
                    llm=embedded, attempts=1, timeout_s=240)
    print("embedded recommendation:", json.dumps(rec.to_dict(), default=str))
    assert rec.path in PATHS and QUAD.check(rec.config) == []
    assert rec.usage["calls"] == 2 and len(rec.verdicts) == 1  # the recommender answered and the judge scored
    assert 1 <= rec.judge.score <= 5 and all(1 <= v <= 5 for v in rec.judge.scores.values())
    assert rec.path == ("llm" if rec.judge.score >= 3 else "meta-learner")
