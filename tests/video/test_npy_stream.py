"""NpyStreamWriter: many masks into one .npy without holding them in memory."""

from __future__ import annotations

import numpy as np
import pytest

from blackbox_saliency.errors import InputError
from blackbox_saliency.video.npy_stream import NpyStreamWriter


def test_round_trip_and_no_leftover_files(tmp_path):
    rng = np.random.default_rng(0)
    arrays = [rng.random((5, 7)) for _ in range(11)]
    with NpyStreamWriter(tmp_path / "masks.npy", np.float16) as out:
        for a in arrays:
            out.append(a)
    loaded = np.load(tmp_path / "masks.npy")
    assert loaded.shape == (11, 5, 7) and loaded.dtype == np.float16
    np.testing.assert_allclose(loaded, np.stack(arrays), atol=1e-3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks.npy"]


def test_nothing_appended_writes_nothing(tmp_path):
    writer = NpyStreamWriter(tmp_path / "masks.npy")
    assert writer.close() is None
    assert list(tmp_path.iterdir()) == []


def test_shape_change_and_bad_suffix(tmp_path):
    with pytest.raises(InputError, match=".npy"):
        NpyStreamWriter(tmp_path / "masks.npz")
    writer = NpyStreamWriter(tmp_path / "masks.npy")
    writer.append(np.zeros((2, 2)))
    with pytest.raises(InputError, match="shape"):
        writer.append(np.zeros((3, 2)))
    writer.close()
    assert np.load(tmp_path / "masks.npy").shape == (1, 2, 2)
