"""Synthetic clips, a deterministic colour masker and a colour black box for the video tests.

The masker is *not* a trained model: it marks pixels of one colour (class 0 = red, class 1 =
green). With it, whether a mask "follows the object" is decided by the streaming machinery
(batching, ordering, smoothing, class selection), which is what these tests are about.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from blackbox_saliency.interfaces import BlackBoxClassifier, Masker

BACKGROUND = (60, 90, 140)  # blue-grey
COLOURS = {0: (230, 30, 30), 1: (30, 210, 40)}  # class id -> object colour (red, green)
SIDE = 12


class ColourMasker(Masker):
    """Mask = 1 where a pixel is close to the class's colour, else 0 (smooth ramp in between)."""

    num_classes = 2

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("colours", torch.tensor([COLOURS[0], COLOURS[1]], dtype=torch.float32) / 255)
        self.calls = 0

    def forward(self, images, classes):
        self.calls += 1
        target = self.colours.to(images.dtype)[classes].view(-1, 3, 1, 1)
        distance = (images - target).abs().amax(dim=1, keepdim=True)
        return (1.0 - distance / 0.25).clamp(0.0, 1.0)


class ColourClassifier(BlackBoxClassifier):
    """Black box: logit of class k = 40 x fraction of pixels of colour k (so the larger object wins)."""

    def __init__(self) -> None:
        super().__init__(nn.Identity(), (32, 32), ["red square", "green square"])
        self.calls = 0

    def forward(self, images):
        self.calls += 1
        colours = torch.tensor([COLOURS[0], COLOURS[1]], dtype=images.dtype, device=images.device) / 255
        near = [((images - c.view(1, 3, 1, 1)).abs().amax(dim=1) < 0.1).float().mean(dim=(1, 2)) for c in colours]
        return 40.0 * torch.stack(near, dim=1)


def square_position(t: int, height: int, width: int) -> tuple[int, int]:
    """Top-left (y, x) of the moving square at frame t: left to right, drifting down."""
    x = (4 * t) % (width - SIDE)
    y = min(height - SIDE, 8 + t)
    return y, x


def make_clip(
    frames: int = 12, height: int = 48, width: int = 64, colour_of=lambda t: 0
) -> tuple[list[np.ndarray], list[tuple[int, int, int, int]]]:
    """Frames (H, W, 3) uint8 with a square of ``COLOURS[colour_of(t)]`` moving across; returns frames and boxes
    (x0, y0, x1, y1)."""
    clip, boxes = [], []
    for t in range(frames):
        frame = np.empty((height, width, 3), dtype=np.uint8)
        frame[:] = BACKGROUND
        y, x = square_position(t, height, width)
        frame[y:y + SIDE, x:x + SIDE] = COLOURS[colour_of(t)]
        clip.append(frame)
        boxes.append((x, y, x + SIDE, y + SIDE))
    return clip, boxes
