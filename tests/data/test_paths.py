"""The shared data folder: the environment variable, the fallbacks beside the checkout, require's message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import blackbox_saliency
from blackbox_saliency.data import paths
from blackbox_saliency.data.paths import ENV_VAR, require, shared_data_dir
from blackbox_saliency.errors import DataNotFoundError


def test_the_environment_variable_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert shared_data_dir() == tmp_path
    (tmp_path / "cifar10").mkdir()
    assert require("cifar10") == tmp_path / "cifar10"
    with pytest.raises(DataNotFoundError, match=re.escape(f"{tmp_path / 'imagenet'} does not exist") + f".*{ENV_VAR}"):
        require("imagenet")


def test_fallbacks_are_beside_the_checkout_and_beside_the_repository(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    repository = Path(blackbox_saliency.__file__).resolve().parent.parent  # the module moved one folder down: same root
    assert paths._candidates() == [tmp_path.parent / "shared" / "data", repository.parent / "shared" / "data"]


def test_the_real_folder_holds_the_data_sets(data_dir):
    assert (data_dir / "imagenet").is_dir() and (data_dir / "cifar10").is_dir()
