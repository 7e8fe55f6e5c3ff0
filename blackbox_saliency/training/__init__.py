"""Training the masking model against a black-box classifier (paper section 4.1).

Example:
    >>> from blackbox_saliency.training import TrainConfig, train
    >>> config = TrainConfig(classifier="cifar10_resnet20", data="../shared/data/cifar10", out="runs/c10",
    ...                      preset="fast", steps=300, batch_size=64)
    >>> result = train(config)  # doctest: +SKIP
    >>> result.masker_path, result.images_per_s  # doctest: +SKIP
"""

from .api import train_masker
from .config import TrainConfig
from .data import build_dataset
from .trainer import TrainResult, train
from .validation import validate

__all__ = ["TrainConfig", "TrainResult", "build_dataset", "train", "train_masker", "validate"]
