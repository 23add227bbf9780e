"""MetaStore: round trips, atomic rejection, schema check, read-only seed, Tune and table ingestion,
and retrieval of similar experiments on a constructed store."""

from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pandas as pd
import pytest

from raytune_llm.errors import MissingExtraError
from raytune_llm.meta import MetaStore, seed_store_path, similar_experiments
from raytune_llm.meta.errors import MetaDataError, MetaStoreSchemaError, ReadOnlyStoreError, UnknownDatasetError
from raytune_llm.meta.features import SEED_DATASETS, image_meta_features
from raytune_llm.meta.store import SCHEMA_VERSION

TS = "timeseries-regression"
IMG = "image-classification"


def ts_features(length=1000, autocorrelation=0.5, **extra):
    return {"length": length, "n_variables": 3, "sampling_interval_s": 3600.0, "missing_rate": 0.01,
            "autocorrelation": autocorrelation, "seasonality_strength": 0.2, **extra}


def record(value=1.0, **kw):
    return {"dataset": "air", "model": "lstm", "config": {"lr": 0.01, "opt": {"name": "adam"}}, "metric": "rmse",
            "mode": "min", "value": value, "train_time_s": 2.5, "source": "test", **kw}


@pytest.fixture
def store(tmp_path):
    with MetaStore(tmp_path / "meta.sqlite") as s:
        s.add_dataset("air", TS, ts_features())
        yield s


def test_round_trip_and_reopen(tmp_path):
    path = tmp_path / "sub" / "meta.sqlite"
    with MetaStore(path) as s:
        s.add_dataset("air", TS, ts_features(seasonality_strength=math.nan, note="kept"))
        assert s.add_experiments([record(1.5), record(0.5, date="2026-01-02T03:04:05Z", train_time_s=None)]) == 2
    with MetaStore(path) as s:  # persisted
        f = s.dataset_features("air")
        assert math.isnan(f["seasonality_strength"]) and f["note"] == "kept" and f["length"] == 1000
        frame = s.experiments()
        assert list(frame.columns) == ["id", "dataset", "task", "model", "config", "metric", "mode", "value",
                                       "train_time_s", "source", "date"]
        assert frame["value"].tolist() == [1.5, 0.5] and frame["task"].tolist() == [TS, TS]
        assert frame["config"][0] == {"lr": 0.01, "opt": {"name": "adam"}}
        assert frame["train_time_s"][0] == 2.5 and math.isnan(frame["train_time_s"][1])
        assert frame["date"][1] == "2026-01-02T03:04:05+00:00"
        assert s.datasets()["name"].tolist() == ["air"] and s.datasets(task=IMG).empty
        assert len(s) == 2 and s.experiments(model="cnn").empty and len(s.experiments(dataset="air")) == 2


def test_default_path_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RAYTUNE_LLM_META", str(tmp_path / "env.sqlite"))
    with MetaStore() as s:
        assert s.path == tmp_path / "env.sqlite"
    assert (tmp_path / "env.sqlite").is_file()


@pytest.mark.parametrize("bad, field", [
    ({"value": math.nan}, "'value' must be a finite number"),
    ({"value": "1.0"}, "'value' must be a finite number"),
    ({"mode": "minimize"}, "'mode' must be 'min' or 'max'"),
    ({"config": {"lr": object()}}, "'config' must be JSON-able"),
    ({"config": [1, 2]}, "'config' must be a dict"),
    ({"dataset": "nope"}, "'dataset' = 'nope' is not in the store"),
    ({"train_time_s": -1.0}, "'train_time_s' must be None or a finite number >= 0"),
    ({"date": "yesterday"}, "'date' must be an ISO 8601 string"),
    ({"colour": "red"}, r"unknown field\(s\) \['colour'\]"),
    ({"mode": "max"}, "contradicts mode 'min'"),
])
def test_bad_record_writes_nothing(store, bad, field):
    store.add_experiments([record(0.1)])
    before = store.experiments()
    records = [record(1.0), record(2.0), {**record(3.0), **bad}]
    with pytest.raises(MetaDataError, match=f"record 2: .*{field}"):
        store.add_experiments(records)
    pd.testing.assert_frame_equal(store.experiments(), before)  # nothing of the batch was written


def test_missing_field_and_non_dict_record(store):
    incomplete = record()
    del incomplete["metric"]
    with pytest.raises(MetaDataError, match=r"record 1: missing field\(s\) \['metric'\]"):
        store.add_experiments([record(), incomplete])
    with pytest.raises(MetaDataError, match="record 0: must be a dict"):
        store.add_experiments([("air", 1.0)])
    assert len(store) == 0


def test_datasets_validation(store):
    with pytest.raises(MetaDataError, match="already in .*replace=True"):
        store.add_dataset("air", TS, ts_features())
    store.add_dataset("air", TS, ts_features(length=5), replace=True)
    assert store.dataset_features("air")["length"] == 5
    with pytest.raises(MetaDataError, match="task must be one of"):
        store.add_dataset("x", "segmentation", ts_features())
    with pytest.raises(MetaDataError, match=r"data set 'x': .*lack \['n_classes', .*'resolution'"):
        store.add_dataset("x", IMG, {"n_instances": 3})
    with pytest.raises(UnknownDatasetError, match=r"'nope' is not in .*known data sets: \['air'\]"):
        store.dataset_features("nope")
    with pytest.raises(KeyError):  # a KeyError too
        store.experiments(dataset="nope")


def test_schema_version_is_checked_on_open(tmp_path):
    path = tmp_path / "old.sqlite"
    MetaStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(MetaStoreSchemaError, match=f"schema version '999'.*reads version {SCHEMA_VERSION}"):
        MetaStore(path)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(MetaStoreSchemaError, match="not a raytune-llm meta-dataset"):
        MetaStore(other)


def test_seed_store_is_read_only_and_complete():
    path = seed_store_path()
    mtime = path.stat().st_mtime_ns
    with MetaStore.seed() as seed:
        assert seed.read_only
        names = set(seed.datasets()["name"])
        assert names == set(SEED_DATASETS) and len(names) >= 8
        frame = seed.experiments()
        assert len(frame) >= 100 and frame["value"].notna().all() and (frame["train_time_s"] > 0).all()
        assert set(frame.groupby("dataset").size()) and frame.groupby("dataset").size().min() >= 10
        assert set(frame["source"]) == {"raytune-llm seed (benchmarks/meta_seed.py)"}
        with pytest.raises(ReadOnlyStoreError, match="read-only.*MetaStore\\(\\)"):
            seed.add_experiments([])
        with pytest.raises(PermissionError):
            seed.add_dataset("x", TS, ts_features())
    assert path.stat().st_mtime_ns == mtime


def test_parquet_and_csv_round_trip(store, tmp_path):
    store.add_experiments([record(1.0), record(2.0, model="gru", config={"lr": 0.1, "units": 8})])
    path = store.export_parquet(tmp_path / "out" / "meta.parquet")
    with MetaStore(tmp_path / "copy.sqlite") as copy:  # an empty store: data sets travel in the file
        assert copy.ingest_table(path) == 2
        assert copy.dataset_features("air") == store.dataset_features("air")
        a, b = store.experiments(), copy.experiments()
        cols = ["dataset", "task", "model", "config", "metric", "mode", "value", "train_time_s", "source", "date"]
        pd.testing.assert_frame_equal(a[cols], b[cols])
    # CSV with config/<key> columns; an empty cell leaves the key out; the source argument fills gaps
    csv = tmp_path / "runs.csv"
    pd.DataFrame({"dataset": ["air", "air"], "model": ["lstm", "gru"], "metric": ["rmse"] * 2, "mode": ["min"] * 2,
                  "value": [3.0, 4.0], "config/lr": [0.5, 0.25], "config/units": [np.nan, 16]}).to_csv(csv, index=False)
    assert store.ingest_table(csv, source="sheet") == 2
    tail = store.experiments().tail(2)
    assert tail["config"].tolist() == [{"lr": 0.5}, {"lr": 0.25, "units": 16.0}]
    assert tail["source"].tolist() == ["sheet", "sheet"] and tail["train_time_s"].isna().all()
    # a bad row rejects the whole table and names the row
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"dataset": ["air", "air"], "model": ["m", "m"], "metric": ["rmse"] * 2, "mode": ["min", "min"],
                  "value": [1.0, 2.0], "config": ['{"lr": 1}', "lr=1"]}).to_csv(bad, index=False)
    n = len(store)
    with pytest.raises(MetaDataError, match="row 1: column 'config' must hold a JSON object"):
        store.ingest_table(bad)
    with pytest.raises(MetaDataError, match=r"missing column\(s\) \['value'\]"):
        pd.DataFrame({"dataset": ["air"], "model": ["m"], "metric": ["r"], "mode": ["min"],
                      "config": ["{}"]}).to_csv(bad, index=False)
        store.ingest_table(bad)
    with pytest.raises(MetaDataError, match="must end in"):
        store.ingest_table(tmp_path / "runs.xlsx")
    assert len(store) == n


@pytest.mark.ray
def test_ingest_a_real_tune_run(store, tmp_path):
    from ray import tune
    from support.ray_local import local_ray

    def objective(config):
        for step in range(3):
            tune.report({"rmse": (config["lr"] - 0.1) ** 2 + 1.0 / (step + 1), "step": step})

    def wiggly(config):  # best report in the middle: scope="all" differs from "last"
        for bump in (1.0, 0.2, 0.5):
            tune.report({"rmse": (config["lr"] - 0.1) ** 2 + bump})

    with local_ray(num_cpus=1):
        analysis = tune.run(objective, config={"lr": tune.grid_search([0.01, 0.1, 0.5]), "tag": "x"},
                            storage_path=str(tmp_path / "results"), name="tiny", verbose=0, reuse_actors=True)
        path = analysis.experiment_path
        tuner = tune.Tuner(wiggly, param_space={"lr": tune.grid_search([0.2, 0.3])},
                           tune_config=tune.TuneConfig(metric="rmse", mode="min", reuse_actors=True),
                           run_config=tune.RunConfig(storage_path=str(tmp_path / "results"), name="tuner", verbose=0))
        tuner.fit()
    with pytest.raises(MetaDataError, match="does not record the metric and mode.*metric="):
        store.ingest_tune(path, dataset="air", model="quad")
    assert store.ingest_tune(path, dataset="air", model="quad", metric="rmse", mode="min") == 3
    frame = store.experiments(model="quad").sort_values("value")
    assert sorted(c["lr"] for c in frame["config"]) == [0.01, 0.1, 0.5]
    assert frame["config"].iloc[0] == {"lr": 0.1, "tag": "x"}
    assert frame["value"].iloc[0] == pytest.approx(1 / 3)  # last report of the best trial
    assert (frame["train_time_s"] >= 0).all() and frame["source"].iloc[0].startswith("ray-tune:")
    # scope="all": each trial's best report; the Tuner run records metric and mode itself
    assert store.ingest_tune(tmp_path / "results" / "tuner", dataset="air", model="tuner", scope="all") == 2
    assert sorted(store.experiments(model="tuner")["value"]) == pytest.approx([0.2 + 0.01, 0.2 + 0.04])
    assert store.ingest_tune(tmp_path / "results" / "tuner", dataset="air", model="tuner-last") == 2
    assert sorted(store.experiments(model="tuner-last")["value"]) == pytest.approx([0.5 + 0.01, 0.5 + 0.04])


def test_retrieval_finds_the_right_neighbours(tmp_path):
    with MetaStore(tmp_path / "r.sqlite") as s:
        # three image data sets: two big 28x28 ones and a tiny 8x8 one
        for name, n, side in (("big-a", 5000, 28), ("big-b", 6000, 28), ("tiny", 200, 8)):
            s.add_dataset(name, IMG, image_meta_features(np.zeros((n, side, side)), np.arange(n) % 10))
            s.add_experiments({"dataset": name, "model": "cnn", "config": {"lr": lr}, "metric": "acc", "mode": "max",
                               "value": v, "source": "t"} for lr, v in ((0.1, 0.5), (0.01, 0.9), (0.001, 0.7)))
        s.add_dataset("empty", IMG, image_meta_features(np.zeros((5000, 28, 28)), np.arange(5000) % 10))
        query = image_meta_features(np.zeros((5200, 28, 28)), np.arange(5200) % 10)
        rows = similar_experiments(s, query, task=IMG, k=2, per_dataset=2)
        assert rows["dataset"].tolist() == ["big-a", "big-a", "big-b", "big-b"]  # 'empty' has no runs
        assert rows["value"].tolist() == [0.9, 0.7, 0.9, 0.7] and rows["rank"].tolist() == [1, 2, 1, 2]
        assert rows["distance"].is_monotonic_increasing and rows["distance"].iloc[0] > 0
        alone = similar_experiments(s, s.dataset_features("tiny"), task=IMG, k=1, per_dataset=1)
        assert alone["dataset"].tolist() == ["tiny"] and alone["distance"].iloc[0] == pytest.approx(0.0)
        excluded = similar_experiments(s, s.dataset_features("tiny"), task=IMG, k=5, exclude_dataset="tiny")
        assert set(excluded["dataset"]) == {"big-a", "big-b"}
        with pytest.raises(MetaDataError, match="no 'timeseries-regression' data set with experiments"):
            similar_experiments(s, ts_features(), task=TS)
        try:
            import faiss  # noqa: F401
        except ImportError:
            with pytest.raises(MissingExtraError, match=r"backend='sklearn'.*pip install 'raytune-llm\[meta\]'"):
                similar_experiments(s, query, task=IMG, backend="faiss")
        else:
            pd.testing.assert_frame_equal(similar_experiments(s, query, task=IMG, backend="faiss"),
                                          similar_experiments(s, query, task=IMG), atol=1e-5)


def test_retrieval_on_the_seed_prefers_the_related_variant():
    with MetaStore.seed() as seed:
        rows = similar_experiments(seed, seed.dataset_features("aq-no2-hourly"), task=TS, k=1,
                                   exclude_dataset="aq-no2-hourly", per_dataset=1)
        assert rows["dataset"].tolist() == ["aq-bgno2-hourly"]  # the other hourly series, not the daily one
        best = seed.experiments(dataset="aq-bgno2-hourly")["value"].min()
        assert rows["value"].iloc[0] == best
        assert json.dumps(rows["config"].iloc[0])  # plain dicts


def test_docstring_examples_run():
    import doctest
    import importlib

    for name in ("raytune_llm.meta.store", "raytune_llm.meta.records", "raytune_llm.meta.features",
                 "raytune_llm.meta.learner", "raytune_llm.meta.retrieval"):
        failures, tried = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
        assert tried > 0 and failures == 0, name
