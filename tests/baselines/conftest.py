"""Fixtures of the baseline tests: a tiny random conv black box (fast, needs no data)."""

from __future__ import annotations

import pytest
from torch import nn

from blackbox_saliency.interfaces import BlackBoxClassifier


class TinyConvNet(BlackBoxClassifier):
    """conv(3->8) -> ReLU -> conv(8->16) named ``features`` -> global average pool -> linear(16 -> num_classes)."""

    def __init__(self, num_classes: int = 5, size: int = 32) -> None:
        network = nn.Sequential()
        network.add_module("conv", nn.Conv2d(3, 8, 3, padding=1))
        network.add_module("act", nn.ReLU())
        network.add_module("features", nn.Conv2d(8, 16, 3, stride=2, padding=1))
        network.add_module("pool", nn.AdaptiveAvgPool2d(1))
        network.add_module("flatten", nn.Flatten())
        network.add_module("fc", nn.Linear(16, num_classes))
        super().__init__(network, (size, size), [f"class{i}" for i in range(num_classes)])
        self.eval()


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: on a busy 2-core machine, 2 spinning OpenMP threads made these tests 10-100x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_net() -> TinyConvNet:
    return TinyConvNet()


@pytest.fixture(scope="session")
def cifar_net(data_dir):
    """The real CIFAR-10 ResNet-20 black box (skips when the shared weights are missing)."""
    from blackbox_saliency import load_classifier

    if not (data_dir / "cifar10" / "weights").is_dir():
        pytest.skip(f"CIFAR-10 ResNet weights missing under {data_dir}/cifar10/weights")
    return load_classifier("cifar10_resnet20").eval()


@pytest.fixture(scope="session")
def cifar_images(data_dir):
    """Eight real CIFAR-10 test images (one per class for classes 0..7) and their labels."""
    import numpy as np
    import torch

    path = data_dir / "cifar10" / "cifar10_test2k.npz"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    with np.load(path) as data:
        index = np.arange(8) * 200
        images = torch.from_numpy(data["images"][index]).permute(0, 3, 1, 2).float() / 255
        labels = torch.from_numpy(data["labels"][index]).long()
    return images, labels
