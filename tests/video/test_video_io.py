"""Video file reading and writing with PyAV (the optional 'video' extra)."""

from __future__ import annotations

import sys
from fractions import Fraction

import numpy as np
import pytest

from blackbox_saliency.errors import InputError
from blackbox_saliency.video.io import VideoDependencyError, VideoReadError, VideoWriter, open_video, require_av

from .video_synthetic import make_clip


def test_write_then_read_back(tmp_path):
    pytest.importorskip("av", reason="PyAV is the optional 'video' extra")
    frames, _ = make_clip(9, 48, 64)
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, fps=12) as writer:
        for frame in frames:
            writer.write(frame)
    with open_video(path) as video:
        decoded = list(video)
        assert (video.info.width, video.info.height, video.info.fps) == (64, 48, Fraction(12))
    assert len(decoded) == 9 and decoded[0].shape == (48, 64, 3) and decoded[0].dtype == np.uint8
    # Lossy codec, but close: the moving square is where it was written.
    for original, back in zip(frames, decoded):
        assert np.abs(original.astype(int) - back.astype(int)).mean() < 6


def test_odd_sizes_are_padded_to_even(tmp_path):
    pytest.importorskip("av", reason="PyAV is the optional 'video' extra")
    path = tmp_path / "odd.mp4"
    with VideoWriter(path, fps=5) as writer:
        for _ in range(3):
            writer.write(np.full((33, 47, 3), 100, dtype=np.uint8))
    with open_video(path) as video:
        assert (video.info.width, video.info.height) == (48, 34) and sum(1 for _ in video) == 3


def test_writer_rejects_bad_frames_and_names(tmp_path):
    pytest.importorskip("av", reason="PyAV is the optional 'video' extra")
    with pytest.raises(InputError, match="container"):
        VideoWriter(tmp_path / "clip.gif")
    writer = VideoWriter(tmp_path / "clip.mp4")
    writer.write(np.zeros((16, 16, 3), dtype=np.uint8))
    with pytest.raises(InputError, match="uint8"):
        writer.write(np.zeros((16, 16, 3), dtype=np.float32))
    with pytest.raises(InputError, match="is \\(8, 8\\)"):
        writer.write(np.zeros((8, 8, 3), dtype=np.uint8))
    writer.close()


def test_unreadable_files(tmp_path):
    pytest.importorskip("av", reason="PyAV is the optional 'video' extra")
    with pytest.raises(VideoReadError, match="does not exist"):
        open_video(tmp_path / "missing.mp4")
    (tmp_path / "text.mp4").write_text("not a video")
    with pytest.raises(VideoReadError, match="text.mp4"):
        with open_video(tmp_path / "text.mp4") as video:
            list(video)


def test_missing_pyav_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(VideoDependencyError, match=r"blackbox-saliency\[video\]"):
        require_av()


def test_library_and_cli_import_without_pyav():
    import subprocess

    code = (
        "import sys; sys.modules['av'] = None\n"
        "import blackbox_saliency.video as v, blackbox_saliency.visualize\n"
        "from blackbox_saliency.cli.main import build_parser\n"
        "build_parser().parse_args(['video', 'in.mp4', '--masker', 'x', '--out', 'o.mp4'])\n"
        "assert v.StreamingExplainer\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
