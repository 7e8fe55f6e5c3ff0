"""Shared fixtures: the offline data folder and real photos."""

from __future__ import annotations

import pytest
import torch

from blackbox_saliency.data.paths import ENV_VAR, shared_data_dir


@pytest.fixture(scope="session")
def data_dir():
    """The shared data folder (``$BLACKBOX_SALIENCY_DATA`` or ``../shared/data``); skips with the reason when absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} is missing; set {ENV_VAR} to run tests on real data")
    return path


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def chelsea():
    """scikit-image's real cat photo as a (1, 3, H, W) float tensor in [0, 1]."""
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (the test extra) provides the real photo")
    return torch.from_numpy(skimage_data.chelsea()).permute(2, 0, 1).unsqueeze(0).float() / 255
