"""MetaLearner: a constructed store with a known answer, then the packaged seed meta-dataset."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ray import tune

from raytune_llm.meta import MetaLearner, MetaStore
from raytune_llm.meta.errors import MetaDataError, NotFittedError
from raytune_llm.space import SearchSpace

TS = "timeseries-regression"
IMG = "image-classification"


def _ts(autocorrelation: float) -> dict:
    return {"length": 2000, "n_variables": 2, "sampling_interval_s": 3600.0, "missing_rate": 0.0,
            "autocorrelation": autocorrelation, "seasonality_strength": 0.3}


def truth(lr: float, layers: int, ac: float) -> float:
    """Best at lr = 1e-3; two layers help; smoother series are easier."""
    return -((math.log10(lr) + 3.0) ** 2) + 0.5 * (layers == 2) + 2.0 * ac


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    path = tmp_path_factory.mktemp("learner") / "synthetic.sqlite"
    rng = np.random.default_rng(0)
    with MetaStore(path) as store:
        for i, ac in enumerate((0.2, 0.4, 0.6, 0.8, 0.9)):
            store.add_dataset(f"series-{i}", TS, _ts(ac))
            records = []
            for _ in range(40):
                lr, layers = float(10 ** rng.uniform(-5, -1)), int(rng.integers(1, 4))
                records.append({"dataset": f"series-{i}", "model": "lstm", "config": {"lr": lr, "layers": layers,
                                "opt": {"name": str(rng.choice(["adam", "sgd"]))}, "seed": int(rng.integers(99))},
                                "metric": "score", "mode": "max", "value": truth(lr, layers, ac), "source": "t"})
            store.add_experiments(records)
    return path


def test_learns_a_known_function_and_explains_it(synthetic):
    with MetaStore(synthetic, read_only=True) as store:
        learner = MetaLearner(seed=0).fit(store, task=TS)
    assert (learner.task, learner.metric, learner.mode, learner.models) == (TS, "score", "max", ["lstm"])
    assert learner.n_train == 200 and learner.datasets == [f"series-{i}" for i in range(5)]
    # 'seed' is ignored by default; the nested key is flattened and one-hot encoded
    assert "cfg:seed" not in learner.feature_names and "cfg:opt/name=adam" in learner.feature_names
    cv = learner.cv_error
    assert cv["folds"] == 5 and set(cv["per_dataset"]) == set(learner.datasets)
    assert sum(d["n"] for d in cv["per_dataset"].values()) == 200
    assert cv["spearman"] > 0.9 and cv["rmse"] < 0.5 * cv["baseline_rmse"]
    features = _ts(0.5)
    configs = [{"lr": 1e-3, "layers": 2}, {"lr": 1e-5, "layers": 2}, {"lr": 1e-3, "layers": 1}]
    pred = learner.predict(features, configs, "lstm")
    assert pred[0] > pred[2] > pred[1]
    assert pred[0] == pytest.approx(truth(1e-3, 2, 0.5), abs=0.5)
    best = learner.best_candidates(features, {"lr": tune.loguniform(1e-5, 1e-1), "layers": tune.randint(1, 4),
                                              "epochs": 3}, model="lstm", n=4, samples=256)
    assert len(best) == 4 and [v for _, v in best] == sorted((v for _, v in best), reverse=True)
    for config, _ in best:
        assert 10 ** -3.7 < config["lr"] < 10 ** -2.3 and config["layers"] == 2 and config["epochs"] == 3
    lines = learner.explain(features, top=3)
    assert len(lines) == 3
    assert lines[0].startswith("on data sets like this one, lr below") and "score" in lines[0]
    assert any("layers" in line for line in lines)
    details = learner.explanations(features, top=10)
    lr = next(e for e in details if e["feature"] == "lr")
    assert 1e-5 < lr["threshold"] < 1e-1 and lr["importance"] == max(e["importance"] for e in details)
    assert [e["importance"] for e in details] == sorted((e["importance"] for e in details), reverse=True)


def test_fit_and_predict_errors(synthetic, tmp_path):
    learner = MetaLearner()
    with pytest.raises(NotFittedError, match="fit"):
        learner.predict(_ts(0.5), [{"lr": 0.1}], "lstm")
    with MetaStore(synthetic, read_only=True) as store:
        with pytest.raises(MetaDataError, match="no experiments for task 'image-classification'"):
            learner.fit(store, task=IMG)
        with pytest.raises(MetaDataError, match="task must be one of"):
            learner.fit(store, task="vision")
        with pytest.raises(MetaDataError, match=r"metric 'rmse'; metrics found: \['score'\]"):
            learner.fit(store, task=TS, metric="rmse")
        learner.fit(store, task=TS)
    with pytest.raises(MetaDataError, match=r"model 'gru' is not in the training data; known models: \['lstm'\]"):
        learner.predict(_ts(0.5), [{"lr": 0.1}], "gru")
    with pytest.raises(MetaDataError, match="lack"):
        learner.predict({"length": 3}, [{"lr": 0.1}], "lstm")
    with pytest.raises(MetaDataError, match="n <= samples"):
        learner.best_candidates(_ts(0.5), {"lr": tune.uniform(0, 1)}, model="lstm", n=10, samples=5)
    with MetaStore(tmp_path / "two.sqlite") as two:
        two.add_dataset("a", TS, _ts(0.1))
        two.add_experiments([{"dataset": "a", "model": "m", "config": {}, "metric": name, "mode": "min", "value": 1.0}
                             for name in ("rmse", "mae")])
        with pytest.raises(MetaDataError, match=r"several metrics \['mae', 'rmse'\]; pass metric="):
            MetaLearner().fit(two, task=TS)
        one = MetaLearner().fit(two, task=TS, metric="mae")
        assert one.cv_error["folds"] == 0 and math.isnan(one.cv_error["rmse"])  # one data set: no CV, said so


@pytest.fixture(scope="module")
def seed_image():
    with MetaStore.seed() as store:
        return MetaLearner(seed=0).fit(store, task=IMG), store.dataset_features("mnist")


def test_seed_image_learner_beats_the_mean_on_unseen_data_sets(seed_image):
    learner, _ = seed_image
    assert (learner.metric, learner.mode, learner.models) == ("val_accuracy", "max", ["cnn"])
    cv = learner.cv_error
    assert cv["folds"] == len(learner.datasets) >= 6
    assert cv["rmse"] < cv["baseline_rmse"] and cv["spearman"] > 0.3
    assert "cfg:dataset" not in learner.feature_names and "cfg:lr" in learner.feature_names


def test_seed_explain_and_candidates(seed_image):
    from trainables import cnn_space

    learner, mnist = seed_image
    lines = learner.explain(mnist, top=4)
    assert len(lines) == 4 and all("val_accuracy" in line and "points" in line for line in lines)
    space = SearchSpace.from_tune(cnn_space("mnist", max_epochs=2, data_fraction=0.2))
    best = learner.best_candidates(mnist, space, model="cnn", n=5, samples=128, seed=1)
    assert len(best) == 5 and len({space.key(c) for c, _ in best}) == 5
    values = [v for _, v in best]
    assert values == sorted(values, reverse=True)
    for config, _ in best:
        space.validate(config)
        assert config["dataset"] == "mnist"
    assert best == learner.best_candidates(mnist, space, model="cnn", n=5, samples=128, seed=1)  # seeded
    pred = learner.predict(mnist, [c for c, _ in best], "cnn")
    np.testing.assert_allclose(pred, values)


def test_seed_timeseries_learner_minimises():
    from trainables import lstm_space

    with MetaStore.seed() as store:
        learner = MetaLearner(seed=0).fit(store, task=TS)
        features = store.dataset_features("aq-no2-hourly")
    assert (learner.metric, learner.mode, learner.models) == ("val_rmse", "min", ["lstm"])
    assert learner.cv_error["folds"] == 3 and math.isfinite(learner.cv_error["rmse"])
    best = learner.best_candidates(features, lstm_space(max_epochs=2, data_fraction=0.1), model="lstm", n=3,
                                   samples=64)
    values = [v for _, v in best]
    assert values == sorted(values)  # lower RMSE first
    # each statement words its SHAP effect: its sign as the verb, and lower RMSE as the better side
    lines, details = learner.explain(features, top=4), learner.explanations(features, top=4)
    assert len(lines) == len(details) == 4
    for line, e in zip(lines, details):
        up = e["effect"] > 0
        verb, other = ("raised", "lowered") if up else ("lowered", "raised")
        assert e["feature"] in line and verb in line and other not in line and "val_rmse" in line, (line, e)
        assert ("(worse)" if up else "(better)") in line, (line, e)


def test_explained_direction_follows_a_known_effect(synthetic):
    """In the synthetic store the score rises with the data set's autocorrelation (+2 per unit):
    a smooth series is explained as raising the predicted score, a rough one as lowering it."""
    with MetaStore(synthetic, read_only=True) as store:
        learner = MetaLearner(seed=0).fit(store, task=TS)
    for ac, verb, side in ((0.9, "raised", "better"), (0.2, "lowered", "worse")):
        details = learner.explanations(_ts(ac), top=20)
        meta = next(e for e in details if e["feature"] == "autocorrelation")
        assert meta["kind"] == "meta" and meta["value"] == pytest.approx(ac)
        # the store's average data set has autocorrelation 0.58: the SHAP effect is about 2 * (ac - 0.58)
        assert (meta["effect"] > 0) == (ac > 0.58) and abs(meta["effect"]) > 0.3, meta
        line = next(line for line in learner.explain(_ts(ac), top=20) if "autocorrelation" in line)
        assert f"autocorrelation ({ac:g}) {verb} the predicted score" in line and f"({side})" in line, line
    # a configuration effect: the score is -(log10(lr) + 3)^2 with log10(lr) uniform in [-5, -1], so
    # the side of lr's threshold with the better mean score is known, whichever threshold was chosen
    lr = next(e for e in learner.explanations(_ts(0.5), top=20) if e["feature"] == "lr")
    grid = np.linspace(-5.0, -1.0, 401)
    below = grid < math.log10(lr["threshold"])
    assert 0 < below.sum() < len(grid), lr
    score = np.array([truth(10.0 ** g, 2, 0.5) for g in grid])
    better_below = score[below].mean() > score[~below].mean()
    assert (lr["effect"] > 0) == better_below and abs(lr["effect"]) > 0.3, lr
