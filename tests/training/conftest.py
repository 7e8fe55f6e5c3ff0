"""Fixtures of the training tests: a toy black box and encoder that a masker learns in seconds.

Images are noise with one coloured square: red (class 0) or green (class 1). The black box's logit
for class 0 (1) is a soft maximum over positions of the mean red (green) dominance inside a window
of the square's size; class 2 ("nothing") has a constant logit. So the class evidence is exactly
the square.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from blackbox_saliency.interfaces import BlackBoxClassifier
from blackbox_saliency.maskers.encoders import EncoderSpec, available_encoders, register_encoder
from blackbox_saliency.training.data import ImageDataset

SIZE = 32
SQUARE = 8
TOY_ENCODER = "toy_colour_encoder"


def dominance(images: torch.Tensor) -> torch.Tensor:
    """Per channel: how much it exceeds the mean of the other two (B, 3, H, W)."""
    total = images.sum(dim=1, keepdim=True)
    return images - (total - images) / 2


class SquareDetector(nn.Module):
    def __init__(self, window: int = SQUARE, gain: float = 12.0, bias: float = -4.0) -> None:
        super().__init__()
        self.window, self.gain, self.bias = window, gain, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        boxed = F.avg_pool2d(dominance(x)[:, :2], self.window, stride=1)  # red and green dominance per window
        soft_max = torch.logsumexp(boxed.flatten(2) * 8.0, dim=2) / 8.0  # (B, 2)
        logits = self.gain * soft_max + self.bias
        return torch.cat([logits, torch.zeros_like(logits[:, :1])], dim=1)


class ToyBlackBox(BlackBoxClassifier):
    def __init__(self) -> None:
        super().__init__(SquareDetector(), (SIZE, SIZE), ["red square", "green square", "nothing"])


class _ColourFeatures(nn.Module):
    """Positive and negative colour dominance of each channel (6 maps), at strides 1, 2, 4."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 1, bias=False)
        weight = torch.tensor([[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5], [-0.5, -0.5, 1.0]])
        with torch.no_grad():
            self.stem.weight.copy_(torch.cat([weight, -weight]).view(6, 3, 1, 1))
        self.act = nn.ReLU()
        self.down1 = nn.AvgPool2d(2)
        self.down2 = nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down2(self.down1(self.act(self.stem(x))))


def register_toy_encoder() -> str:
    if TOY_ENCODER not in available_encoders():
        register_encoder(TOY_ENCODER, lambda pretrained: EncoderSpec(_ColourFeatures(), ["act", "down1", "down2"],
                                                                     (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), head=None,
                                                                     probe_size=32),)
    return TOY_ENCODER


def make_squares(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` images (n, 3, 32, 32), labels (0 red / 1 green) and square masks (n, 1, 32, 32)."""
    g = torch.Generator().manual_seed(seed)
    images = 0.35 + 0.3 * torch.rand(n, 3, SIZE, SIZE, generator=g)
    labels = torch.randint(0, 2, (n,), generator=g)
    where = torch.zeros(n, 1, SIZE, SIZE)
    corners = torch.randint(0, SIZE - SQUARE + 1, (n, 2), generator=g)
    for i in range(n):
        y, x = corners[i].tolist()
        colour = torch.tensor([0.9, 0.1, 0.1]) if labels[i] == 0 else torch.tensor([0.1, 0.9, 0.1])
        images[i, :, y : y + SQUARE, x : x + SQUARE] = colour.view(3, 1, 1)
        where[i, :, y : y + SQUARE, x : x + SQUARE] = 1.0
    return images, labels, where


class SquaresDataset(ImageDataset):
    """The toy images as an :class:`ImageDataset` (no augmentation)."""

    kind = "toy"

    def __init__(self, n: int, seed: int) -> None:
        super().__init__(None)
        self.images, labels, self.where = make_squares(n, seed)
        self.labels = labels.numpy().astype(np.int64)
        self.classes = ["red square", "green square", "nothing"]
        self.source = f"toy squares (seed {seed})"

    def raw(self, index: int) -> torch.Tensor:
        return self.images[index]


@pytest.fixture
def toy_blackbox() -> ToyBlackBox:
    return ToyBlackBox()


@pytest.fixture
def toy_encoder() -> str:
    """Name of the registered toy encoder (fixed colour-dominance features at strides 1, 2, 4)."""
    return register_toy_encoder()


@pytest.fixture
def squares():
    """``squares(n, seed) -> (images, labels, square_masks)``."""
    return make_squares


@pytest.fixture
def squares_dataset():
    """``squares_dataset(n, seed) -> ImageDataset`` of toy images."""
    return SquaresDataset


@pytest.fixture
def cifar_test_npz(data_dir):
    path = data_dir / "cifar10" / "cifar10_test2k.npz"
    if not path.is_file():
        pytest.skip(f"{path} is missing (shared CIFAR-10 data)")
    return path


@pytest.fixture
def single_thread():
    """Run the test with one torch thread (as the subprocesses do), restoring the count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
