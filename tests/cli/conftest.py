"""Fixtures of the CLI tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def masker_path(tmp_path_factory):
    """An untrained SaliencyMasker checkpoint (real EfficientNet-Lite0 encoder, random decoder), shared by the CLI
    tests of a session."""
    from blackbox_saliency.maskers import SaliencyMasker, save_masker

    path = tmp_path_factory.getbasetemp() / "untrained_efficientnet_lite0_fast.pt"
    if not path.exists():
        generator_state = torch.get_rng_state()
        torch.manual_seed(0)
        masker = SaliencyMasker(1000, encoder="efficientnet_lite0", preset="fast", classifier_name="efficientnet_lite0")
        torch.set_rng_state(generator_state)
        save_masker(path, masker.eval(), {"note": "untrained, for tests"})
    return path
