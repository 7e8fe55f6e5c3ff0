"""The demo's bundled photos: loading, and skipping sources that are not installed."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from blackbox_saliency.errors import DataNotFoundError, InputError
from blackbox_saliency.sample_photos import PHOTO_NAMES, load_sample_photos


def test_every_photo_loads_when_its_package_is_installed():
    for module in ("skimage", "matplotlib", "sklearn"):
        pytest.importorskip(module, reason="the demo extra provides the photo sources")
    photos = load_sample_photos()
    assert [p.name for p in photos] == list(PHOTO_NAMES)
    assert photos.notes == []
    for photo in photos:
        assert photo.array.dtype == np.uint8 and photo.array.ndim == 3 and photo.array.shape[2] == 3
        assert min(photo.array.shape[:2]) >= 200, "these are real photos, not thumbnails"
        assert photo.array.std() > 20, f"{photo.name} looks blank"
    assert len({p.array.shape for p in photos}) >= 3, "distinct photos expected"


def test_to_tensor_follows_the_image_convention():
    pytest.importorskip("skimage", reason="scikit-image provides the photo")
    photo = load_sample_photos(["chelsea"])[0]
    x = photo.to_tensor()
    assert x.shape == (1, 3) + photo.array.shape[:2] and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert int(round(float(x[0, 1, 7, 9]) * 255)) == int(photo.array[7, 9, 1])


def test_missing_package_is_skipped_with_a_note(monkeypatch):
    pytest.importorskip("skimage", reason="scikit-image provides the remaining photos")
    monkeypatch.setitem(sys.modules, "sklearn", None)  # behaves like "not installed"
    photos = load_sample_photos(["chelsea", "china", "flower"])
    assert [p.name for p in photos] == ["chelsea"]
    assert len(photos.notes) == 2 and all("scikit-learn" in note and "pip install" in note for note in photos.notes)


def test_broken_source_is_skipped_with_a_note(monkeypatch):
    pytest.importorskip("matplotlib", reason="matplotlib provides the photo")
    import matplotlib

    monkeypatch.setattr(matplotlib, "get_data_path", lambda: "/nonexistent")
    import matplotlib.cbook

    def missing(*args, **kwargs):
        raise FileNotFoundError("no sample data here")

    monkeypatch.setattr(matplotlib.cbook, "get_sample_data", missing)
    photos = load_sample_photos(["grace"])
    assert len(photos) == 0 and "could not read" in photos.notes[0]


def test_nothing_loadable_raises_only_when_required(monkeypatch):
    for module in ("skimage", "matplotlib", "sklearn"):
        monkeypatch.setitem(sys.modules, module, None)
    assert len(load_sample_photos()) == 0
    with pytest.raises(DataNotFoundError, match=r"blackbox-saliency\[demo\]"):
        load_sample_photos(require=True)


def test_unknown_name_is_rejected():
    with pytest.raises(InputError, match="chelsea"):
        load_sample_photos(["lena"])
