"""``blackbox-saliency video``: a video file round trip through the CLI.

A small mp4 (a red square moving over a blue-grey background) is written with PyAV here. The
masker and black box are deterministic colour detectors registered through the plugin system
for the test (not trained models): the test checks decoding, batching, the written video
(frame count, size, rate), the masks file following the square, and the error messages.
"""

from __future__ import annotations

import sys
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from blackbox_saliency.cli.main import main
from blackbox_saliency.interfaces import BlackBoxClassifier, Masker
from blackbox_saliency.plugins import get_plugin_manager, hookimpl

av = pytest.importorskip("av", reason="PyAV is the optional 'video' extra")

RED, GREEN, BACKGROUND = (230, 30, 30), (30, 210, 40), (60, 90, 140)
H, W, SIDE, FRAMES, FPS = 48, 64, 12, 16, 10


class _ColourMasker(Masker):
    num_classes = 2
    classifier_name = "test_colour_squares"

    def forward(self, images, classes):
        colours = torch.tensor([RED, GREEN], dtype=images.dtype, device=images.device) / 255
        distance = (images - colours[classes].view(-1, 3, 1, 1)).abs().amax(dim=1, keepdim=True)
        return (1.0 - distance / 0.25).clamp(0.0, 1.0)


class _ColourClassifier(BlackBoxClassifier):
    def __init__(self):
        super().__init__(nn.Identity(), (32, 32), ["red square", "green square"])

    def forward(self, images):
        colours = torch.tensor([RED, GREEN], dtype=images.dtype, device=images.device) / 255
        shares = [((images - c.view(1, 3, 1, 1)).abs().amax(1) < 0.15).float().mean((1, 2)) for c in colours]
        return 40 * torch.stack(shares, 1)


class _Plugin:
    @hookimpl
    def blackbox_saliency_maskers(self):
        return {"test_colour_squares": lambda **kw: _ColourMasker()}

    @hookimpl
    def blackbox_saliency_classifiers(self):
        return {"test_colour_squares": lambda **kw: _ColourClassifier()}


@pytest.fixture(autouse=True)
def colour_plugin():
    pm = get_plugin_manager()
    plugin = _Plugin()
    pm.register(plugin, name="test:colour_squares")
    yield
    pm.unregister(plugin)


def _square(t):
    return 8 + t // 2, (3 * t) % (W - SIDE)  # (y, x)


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "squares.mp4"
    container = av.open(str(path), mode="w")
    stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=FPS)
    stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
    for t in range(FRAMES):
        frame = np.empty((H, W, 3), dtype=np.uint8)
        frame[:] = BACKGROUND
        y, x = _square(t)
        frame[y:y + SIDE, x:x + SIDE] = RED
        for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def _read(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return frames, stream.average_rate


def test_video_round_trip(clip_path, tmp_path, capsys):
    out, masks_out = tmp_path / "out.mp4", tmp_path / "masks.npy"
    argv = ["video", str(clip_path), "--masker", "test_colour_squares", "--out", str(out)]
    argv += ["--masks-out", str(masks_out), "--batch-size", "5", "--smooth", "0", "--device", "cpu"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"wrote {FRAMES} frames" in printed and "frames/s" in printed
    frames, rate = _read(out)
    assert len(frames) == FRAMES and frames[0].shape == (H, W, 3) and rate == Fraction(FPS)
    masks = np.load(masks_out)
    assert masks.shape == (FRAMES, H, W) and masks.dtype == np.float16
    for t in range(FRAMES):
        ys, xs = np.nonzero(masks[t] > 0.5)
        y, x = _square(t)
        assert abs(ys.min() - y) <= 1 and abs(ys.max() + 1 - (y + SIDE)) <= 1, f"frame {t}: mask rows off"
        assert abs(xs.min() - x) <= 1 and abs(xs.max() + 1 - (x + SIDE)) <= 1, f"frame {t}: mask columns off"
        # The written frames are overlays: the background (mask 0) is dimmed towards the colour map's dark end.
        # (Box colours are checked in tests/video; here the lossy 4:2:0 codec smears thin lines.)
        background = frames[t][-8:, :].reshape(-1, 3).mean(axis=0)
        assert (background < 0.75 * np.array(BACKGROUND)).all(), f"frame {t}: background not dimmed ({background})"


def test_video_class_by_name_and_max_frames(clip_path, tmp_path, capsys):
    out = tmp_path / "out.mkv"
    argv = ["video", str(clip_path), "--masker", "test_colour_squares", "--class", "red square", "--out", str(out),
            "--max-frames", "5", "--no-caption", "--smooth", "0.8"]
    assert main(argv) == 0
    frames, _ = _read(out)
    assert len(frames) == 5


@pytest.mark.parametrize(
    "change, message",
    [
        ({"input": "missing.mp4"}, "does not exist"),
        ({"--class": "blue square"}, "no class named"),
        ({"--smooth": "1.0"}, "--smooth"),
        ({"--masks-out": "masks.txt"}, ".npy"),
    ],
)
def test_video_errors_are_clean(clip_path, tmp_path, capsys, change, message):
    source = tmp_path / change["input"] if "input" in change else clip_path
    argv = ["video", str(source), "--masker", "test_colour_squares", "--out", str(tmp_path / "out.mp4")]
    for flag, value in change.items():
        if flag != "input":
            argv += [flag, str(tmp_path / value) if flag == "--masks-out" else value]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out.mp4").exists()


def test_video_without_pyav_says_how_to_install(clip_path, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    assert main(["video", str(clip_path), "--masker", "test_colour_squares", "--out", str(tmp_path / "o.mp4")]) == 1
    assert "pip install 'blackbox-saliency[video]'" in capsys.readouterr().err
