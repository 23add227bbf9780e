"""Meta-features on small arrays with hand-computed values, and on the seed data sets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from raytune_llm.meta import image_meta_features, timeseries_meta_features
from raytune_llm.meta.errors import MetaDataError, UnknownDatasetError
from raytune_llm.meta.features import (
    IMAGE_FEATURES,
    SEED_DATASETS,
    TIMESERIES_FEATURES,
    dataset_meta_features,
    numeric_features,
    seasonal_period,
    seasonality_strength,
)


def test_image_features_by_hand():
    # classes: a x4, b x2, c x2 -> sizes 4, 2, 2
    f = image_meta_features(np.zeros((8, 5, 7)), ["a", "a", "b", "a", "c", "a", "b", "c"], modality="rgb")
    assert f["n_instances"] == 8 and f["n_classes"] == 3
    assert f["imbalance_ratio"] == 2.0  # 4 / 2
    # p = (1/2, 1/4, 1/4): H = 0.5*1 + 2 * 0.25*2 = 1.5 bits
    assert f["class_entropy"] == pytest.approx(1.5)
    assert f["resolution"] == 35  # H * W
    assert f["class_size_mean"] == pytest.approx(8 / 3)
    assert f["class_size_std"] == pytest.approx(math.sqrt(((4 - 8 / 3) ** 2 + 2 * (2 - 8 / 3) ** 2) / 3))
    assert (f["class_size_min"], f["class_size_max"], f["modality"]) == (2, 4, "rgb")
    assert list(IMAGE_FEATURES) == [k for k in f if k != "modality"]


def test_image_features_channel_layouts_and_errors():
    y = [0, 1, 1, 1]
    first = image_meta_features(np.zeros((4, 3, 6, 9)), y)
    last = image_meta_features(np.zeros((4, 6, 9, 3)), y)
    assert first["resolution"] == last["resolution"] == 54
    balanced = image_meta_features(np.zeros((4, 2, 2)), [0, 1, 2, 3])
    assert balanced["class_entropy"] == pytest.approx(2.0) and balanced["imbalance_ratio"] == 1.0
    assert balanced["class_size_std"] == 0.0
    with pytest.raises(MetaDataError, match="one label per image: 4 images but 3 labels"):
        image_meta_features(np.zeros((4, 2, 2)), [0, 1, 2])
    with pytest.raises(MetaDataError, match=r"got shape \(4, 16\)"):
        image_meta_features(np.zeros((4, 16)), y)
    with pytest.raises(MetaDataError, match="modality"):
        image_meta_features(np.zeros((4, 2, 2)), y, modality="")


def test_timeseries_features_by_hand():
    x = np.array([[1.0, 5.0], [2.0, np.nan], [3.0, 7.0], [4.0, np.nan]])
    f = timeseries_meta_features(x, sampling_interval_s=3600)
    assert (f["length"], f["n_variables"], f["sampling_interval_s"]) == (4, 2, 3600.0)
    assert f["missing_rate"] == pytest.approx(2 / 8)
    # mean 2.5, deviations -1.5 -0.5 0.5 1.5: (0.75 - 0.25 + 0.75) / 5 = 0.25
    assert f["autocorrelation"] == pytest.approx(0.25)
    assert math.isnan(f["seasonality_strength"])  # 4 hours < two daily periods
    assert list(TIMESERIES_FEATURES) == list(f)
    # NaN-aware lag-1: only the pair (1, 2)... and (3, 4) has a gap; x = 1, 2, nan, 4
    g = timeseries_meta_features([1.0, 2.0, np.nan, 4.0], sampling_interval_s=60)
    m = 7 / 3
    d = np.array([1.0, 2.0, 4.0]) - m
    assert g["autocorrelation"] == pytest.approx((d[0] * d[1]) / (d**2).sum())
    assert g["missing_rate"] == 0.25
    # the target column picks the series
    assert timeseries_meta_features(np.column_stack([[1, 2, 3, 4.0], [4, 1, 4, 1.0]]), sampling_interval_s=1,
                                    target=1)["autocorrelation"] == pytest.approx(-0.75)


def test_seasonality_strength_pure_cycle_trend_and_noise():
    t = np.arange(24 * 20)
    cycle = np.sin(2 * np.pi * t / 24) + 0.5 * np.cos(4 * np.pi * t / 24)
    assert seasonality_strength(cycle, 24) == pytest.approx(1.0, abs=1e-9)
    assert seasonality_strength(cycle + 0.01 * t, 24) == pytest.approx(1.0, abs=1e-9)  # linear trend removed
    noise = np.random.default_rng(0).normal(size=len(t))
    assert seasonality_strength(noise, 24) < 0.15
    assert seasonality_strength(np.full(100, 3.0), 24) == 0.0
    half = seasonality_strength(cycle + np.random.default_rng(1).normal(scale=0.8, size=len(t)), 24)
    assert 0.3 < half < 0.8
    # the hourly default period is a day; daily data use a week
    assert seasonal_period(3600) == 24 and seasonal_period(86400) == 7 and seasonal_period(7 * 86400) is None
    f = timeseries_meta_features(cycle, sampling_interval_s=3600)
    assert f["seasonality_strength"] == pytest.approx(1.0, abs=1e-9)


def test_timeseries_errors_name_the_value():
    with pytest.raises(MetaDataError, match="sampling_interval_s must be a positive number.*got 0"):
        timeseries_meta_features([1.0, 2.0, 3.0], sampling_interval_s=0)
    with pytest.raises(MetaDataError, match=r"target must be a column index in \[0, 1\], got 2"):
        timeseries_meta_features(np.zeros((5, 2)), sampling_interval_s=1, target=2)
    with pytest.raises(MetaDataError, match="inf"):
        timeseries_meta_features([1.0, np.inf, 3.0], sampling_interval_s=1)
    with pytest.raises(MetaDataError, match=r"shape \(T,\) or \(T, V\)"):
        timeseries_meta_features(np.zeros((2, 2, 2)), sampling_interval_s=1)


def test_numeric_features_order_and_errors():
    f = image_meta_features(np.zeros((4, 2, 2)), [0, 0, 1, 1])
    vec = numeric_features(f, "image-classification")
    assert vec.tolist() == [float(f[n]) for n in IMAGE_FEATURES]
    with pytest.raises(MetaDataError, match=r"lack \['resolution'\]"):
        numeric_features({k: v for k, v in f.items() if k != "resolution"}, "image-classification")
    with pytest.raises(MetaDataError, match="task must be one of"):
        numeric_features(f, "segmentation")


def test_seed_dataset_features_come_from_the_real_data():
    digits = dataset_meta_features("digits")
    assert digits["n_instances"] == 1797 and digits["resolution"] == 64 and digits["n_classes"] == 10
    imbalanced = dataset_meta_features("digits-imbalanced")
    assert 9.0 < imbalanced["imbalance_ratio"] < 11.0 and imbalanced["class_entropy"] < digits["class_entropy"]
    assert dataset_meta_features("mnist-lowres")["resolution"] == 14 * 14
    faces = dataset_meta_features("faces")
    assert (faces["n_instances"], faces["n_classes"], faces["resolution"]) == (200, 2, 625)
    hourly, daily = dataset_meta_features("aq-no2-hourly"), dataset_meta_features("aq-no2-daily")
    assert hourly["sampling_interval_s"] == 3600 and daily["sampling_interval_s"] == 86400
    assert daily["length"] == 1095 and hourly["length"] == round(26280 * SEED_DATASETS["aq-no2-hourly"]["data_fraction"])
    assert hourly["autocorrelation"] > daily["autocorrelation"] > 0.3  # hourly NO2 is smoother
    assert 0.0 < hourly["missing_rate"] < 0.2
    assert dataset_meta_features("aq-bgno2-hourly") != hourly  # another target series
    with pytest.raises(UnknownDatasetError, match="unknown seed data set 'cifar'.*known"):
        dataset_meta_features("cifar")


# ------------------------------------------------------------------------------------------
# trainables.data variants used by the seed meta-dataset
# ------------------------------------------------------------------------------------------


def test_image_variants():
    from trainables.cnn import cnn_config
    from trainables.data import image_arrays, load_images

    x, y, _ = image_arrays("digits")
    xi, yi, classes = image_arrays("digits-imbalanced")
    counts = np.bincount(yi)
    expected = [max(1, round(int((y == k).sum()) * 0.1 ** (k / 9))) for k in range(10)]
    assert counts.tolist() == expected and counts[0] == (y == 0).sum() and classes == tuple("0123456789")
    # every kept image is one of the original digits, unchanged
    flat = {row.tobytes() for row in x.reshape(len(x), -1)}
    assert all(row.tobytes() in flat for row in xi.reshape(len(xi), -1))
    m, my, _ = image_arrays("mnist")
    low, ly, _ = image_arrays("mnist-lowres")
    assert low.shape == (5000, 14, 14) and (ly == my).all()
    assert low[7, 3, 5] == pytest.approx(m[7, 6:8, 10:12].mean())
    faces, fy, fclasses = image_arrays("faces")
    assert faces.shape == (200, 25, 25) and 0.0 <= faces.min() and faces.max() <= 1.0
    assert fy[:100].tolist() == [0] * 100 and fy[100:].tolist() == [1] * 100 and fclasses == ("face", "non-face")
    data = load_images("faces")
    assert tuple(data.x_train.shape) == (150, 1, 25, 25) and np.bincount(data.y_val.numpy()).tolist() == [25, 25]
    assert cnn_config({"dataset": "mnist-lowres"})["dataset"] == "mnist-lowres"
    with pytest.raises(ValueError, match="image_arrays: dataset must be one of"):
        image_arrays("textures")


def test_air_quality_daily_and_background_variants():
    from trainables.data import AQ_DAILY_MIN_HOURS, aq_daily_means, load_air_quality, load_air_quality_raw

    raw = load_air_quality_raw()
    daily = aq_daily_means(raw)
    assert len(daily) == 1095 and (np.diff(daily["date"].to_numpy()) == np.timedelta64(1, "D")).all()
    full = next(d for d in range(1095) if raw["no2"].iloc[24 * d:24 * d + 24].notna().all()
                and raw["wd"].iloc[24 * d:24 * d + 24].notna().all())
    day = raw.iloc[24 * full:24 * full + 24]
    assert daily["no2"].iloc[full] == pytest.approx(day["no2"].mean())
    wd = np.deg2rad(day["wd"].to_numpy())
    angle = np.rad2deg(np.arctan2(np.sin(wd).mean(), np.cos(wd).mean())) % 360
    assert daily["wd"].iloc[full] == pytest.approx(angle)  # a circular mean, not the mean of angles
    # a day with too few valid hours is missing
    sparse = raw.iloc[:48].copy()
    sparse.loc[sparse.index[:24 - AQ_DAILY_MIN_HOURS + 1], "no2"] = np.nan
    assert np.isnan(aq_daily_means(sparse)["no2"].iloc[0]) and not np.isnan(aq_daily_means(sparse)["ws"].iloc[0])
    splits = load_air_quality(variant="daily")
    assert "hour_sin" not in splits.features and splits.target == "no2" and sum(splits.sizes().values()) == 1095
    assert (np.diff(splits.times["train"]) == np.timedelta64(1, "D")).all()
    bg = load_air_quality(variant="background", data_fraction=0.1)
    assert bg.target == "bg_no2" and bg.target_index == bg.features.index("bg_no2")
    ds = bg.windows("val", lookback=6)
    np.testing.assert_allclose(ds.targets, bg.scaled["val"][ds.ends + 1, bg.target_index])
    assert bg.target_std == pytest.approx(float(bg.scaler.std[bg.features.index("bg_no2")]))
    assert load_air_quality(data_fraction=0.1).target == "no2"
    with pytest.raises(ValueError, match="variant must be one of"):
        load_air_quality(variant="weekly")
