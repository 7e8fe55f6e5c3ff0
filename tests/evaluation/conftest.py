"""Fixtures of the evaluation tests: a tiny 1000-class black box and one intra-op thread."""

from __future__ import annotations

import pytest
from torch import nn

from blackbox_saliency.interfaces import BlackBoxClassifier


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: on a busy 2-core machine, 2 spinning OpenMP threads made these tests 10-100x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class TinyImageNet(BlackBoxClassifier):
    """A random 1000-class conv net at 64 px: cheap stand-in for an ImageNet black box."""

    def __init__(self) -> None:
        network = nn.Sequential()
        network.add_module("conv", nn.Conv2d(3, 8, 3, stride=2, padding=1))
        network.add_module("act", nn.ReLU())
        network.add_module("features", nn.Conv2d(8, 16, 3, stride=2, padding=1))
        network.add_module("pool", nn.AdaptiveAvgPool2d(1))
        network.add_module("flatten", nn.Flatten())
        network.add_module("fc", nn.Linear(16, 1000))
        super().__init__(network, (64, 64), [f"class{i}" for i in range(1000)])
        self.eval()


@pytest.fixture
def tiny_imagenet() -> TinyImageNet:
    return TinyImageNet()


@pytest.fixture
def val_dev(data_dir):
    path = data_dir / "imagenet" / "val_dev"
    if not (path / "boxes.csv").is_file():
        pytest.skip(f"{path}/boxes.csv is missing")
    return path


@pytest.fixture
def cifar_npz(data_dir):
    path = data_dir / "cifar10" / "cifar10_test2k.npz"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path
