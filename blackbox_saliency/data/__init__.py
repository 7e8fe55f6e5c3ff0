"""The data layer: where the offline data lives, the readers of every on-disk layout, photo transforms, subsets.

Training (:mod:`blackbox_saliency.training.data`) and evaluation (:mod:`blackbox_saliency.evaluation.datasets`)
build their data sets on these; this package imports neither.

Example:
    >>> from blackbox_saliency.data import CROP_FRACTION, evenly_spaced
    >>> CROP_FRACTION, evenly_spaced(2000, 4)
    (0.875, [0, 500, 1000, 1500])
"""

from .boxes_csv import VAL_BOXES, GroundTruth, load_val_boxes
from .folders import KINDS, ImageFolderListing, detect_kind, is_image, list_flat, list_imagefolder
from .imagenet import imagenet_root, read_sample_index, read_val_dev
from .index_csv import IndexRows, read_index_csv
from .npz import NpzArrays, pick_npz, read_npz
from .paths import ENV_VAR, require, shared_data_dir
from .subsets import evenly_spaced
from .transforms import AUGMENTATIONS, CROP_FRACTION, PlainTensor, build_transform, center_crop

__all__ = [
    "AUGMENTATIONS",
    "CROP_FRACTION",
    "ENV_VAR",
    "GroundTruth",
    "ImageFolderListing",
    "IndexRows",
    "KINDS",
    "NpzArrays",
    "PlainTensor",
    "VAL_BOXES",
    "build_transform",
    "center_crop",
    "detect_kind",
    "evenly_spaced",
    "imagenet_root",
    "is_image",
    "list_flat",
    "list_imagefolder",
    "load_val_boxes",
    "pick_npz",
    "read_index_csv",
    "read_npz",
    "read_sample_index",
    "read_val_dev",
    "require",
    "shared_data_dir",
]
