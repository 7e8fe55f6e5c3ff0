"""StreamingExplainer: masks follow a moving object frame by frame, batching, smoothing, class choice.

Most tests use ColourMasker (video_synthetic.py), a deterministic masker that marks pixels of
the class's colour. It is not a trained model: it isolates the streaming machinery (batching,
frame order, device handling, EMA smoothing, class selection), so a mask that does not follow
the object can only be the machinery's fault. The last test uses the shipped ImageNet masker on
real photos panned over time when that masker exists.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blackbox_saliency.errors import InputError
from blackbox_saliency.video import StreamingExplainer
from blackbox_saliency.visualize import BOX_COLOUR, OverlayStyle

from .video_synthetic import BACKGROUND, COLOURS, SIDE, ColourMasker, make_clip


def _run(masker, frames, **kwargs):
    return list(StreamingExplainer(masker, **kwargs).stream(frames))


@pytest.mark.parametrize("batch_size", [1, 5, 12, 32])
def test_mask_follows_the_moving_object(colour_masker, clip, batch_size):
    frames, boxes = clip
    results = _run(colour_masker, iter(frames), classes=0, batch_size=batch_size, smooth=0)
    assert [r.index for r in results] == list(range(len(frames)))
    assert colour_masker.calls == -(-len(frames) // batch_size), "one masker call per batch"
    for result, box in zip(results, boxes):
        assert result.box.tolist() == [float(v) for v in box]
        x0, y0, x1, y1 = box
        mask = result.mask[0]
        assert float(mask[y0:y1, x0:x1].min()) == 1.0 and float(mask.sum()) == SIDE * SIDE
        overlay = result.overlay.numpy()
        assert overlay.shape == (48, 64, 3) and overlay.dtype == np.uint8
        border = overlay[y0 + SIDE // 2, x0].astype(int)
        assert np.abs(border - BOX_COLOUR).max() <= 1, "box outline drawn on the object's border"


def test_batch_size_does_not_change_results_even_with_smoothing(clip):
    frames, _ = clip
    reference = [r.mask for r in _run(ColourMasker(), frames, classes=0, batch_size=1, smooth=0.6)]
    for batch_size in (4, 7):
        masks = [r.mask for r in _run(ColourMasker(), frames, classes=0, batch_size=batch_size, smooth=0.6)]
        for a, b in zip(reference, masks):
            torch.testing.assert_close(a, b)


def test_smoothing_is_an_exponential_moving_average(colour_masker, clip):
    frames, boxes = clip
    raw = [r.mask for r in _run(ColourMasker(), frames, classes=0, smooth=0)]
    smoothed = [r.mask for r in _run(colour_masker, frames, classes=0, batch_size=5, smooth=0.6)]
    expected = raw[0]
    torch.testing.assert_close(smoothed[0], expected)
    for t in range(1, len(frames)):
        expected = 0.6 * expected + 0.4 * raw[t]
        torch.testing.assert_close(smoothed[t], expected)
    # The trail fades: a pixel the object left two frames ago keeps at most 0.6**2 of the mask, but not 0.
    x0, y0, _, _ = boxes[-3]
    assert float(raw[-1][0, y0 + 1, x0 + 1]) == 0.0 and float(raw[-2][0, y0 + 1, x0 + 1]) == 0.0
    assert 0.0 < float(smoothed[-1][0, y0 + 1, x0 + 1]) <= 0.6**2 + 1e-6


def test_smoothing_suppresses_flicker(colour_masker):
    """An object detected only on every other frame: the smoothed mask changes 4x less per frame."""
    frames, _ = make_clip(16, colour_of=lambda t: 0)
    frames = [frame if t % 2 == 0 else np.full_like(frame, BACKGROUND) for t, frame in enumerate(frames)]
    for t in range(16):  # keep the object still
        frames[t] = frames[0] if t % 2 == 0 else frames[1]

    def change(masks):
        return np.mean([float((masks[t] - masks[t - 1]).abs().max()) for t in range(8, len(masks))])

    raw = [r.mask for r in _run(ColourMasker(), frames, classes=0, smooth=0)]
    smoothed = [r.mask for r in _run(colour_masker, frames, classes=0, smooth=0.6)]
    assert change(raw) == 1.0
    # Steady state of the EMA on a 0/1 alternation: the mask swings by (1 - a) / (1 + a) = 0.25.
    assert change(smoothed) == pytest.approx(0.25, abs=0.01)


def _switching_clip():
    # Red square for 5 frames, then green: the black box's top-1 changes at frame 5.
    return make_clip(10, colour_of=lambda t: 0 if t < 5 else 1)


def test_top_class_per_frame(colour_masker, colour_classifier):
    frames, boxes = _switching_clip()
    results = _run(colour_masker, frames, classifier=colour_classifier, classes="top", batch_size=4, smooth=0.6)
    assert [r.class_id for r in results] == [0] * 5 + [1] * 5
    assert [r.class_name for r in results] == ["red square"] * 5 + ["green square"] * 5
    assert all(r.prob is not None and r.prob > 0.5 for r in results)
    # The smoother restarts at the class change: frame 5's mask is exactly its raw mask.
    x0, y0, x1, y1 = boxes[5]
    assert float(results[5].mask.sum()) == SIDE * SIDE and float(results[5].mask[0, y0:y1, x0:x1].min()) == 1.0


def test_first_frame_class_is_kept_and_the_black_box_runs_once(colour_masker, colour_classifier):
    frames, _ = _switching_clip()
    results = _run(colour_masker, frames, classifier=colour_classifier, classes="first", batch_size=4, smooth=0)
    assert [r.class_id for r in results] == [0] * 10
    assert colour_classifier.calls == 1
    assert all(r.prob is None for r in results)
    assert all(float(r.mask.sum()) == 0.0 for r in results[5:]), "no red left after frame 5"


def test_fixed_class_by_name_and_probabilities(colour_masker, colour_classifier):
    frames, _ = _switching_clip()
    results = _run(
        colour_masker, frames, classifier=colour_classifier, classes="green", batch_size=3, report_probs=True, smooth=0
    )
    assert {r.class_id for r in results} == {1}
    assert all(r.prob < 0.5 for r in results[:5]) and all(r.prob > 0.5 for r in results[5:])


def test_a_new_stream_starts_a_new_clip(colour_masker, colour_classifier):
    explainer = StreamingExplainer(colour_masker, colour_classifier, classes="first", smooth=0.6)
    red, _ = make_clip(3, colour_of=lambda t: 0)
    green, _ = make_clip(3, colour_of=lambda t: 1)
    assert [r.class_id for r in explainer.stream(red)] == [0, 0, 0]
    second = list(explainer.stream(green))
    assert [r.class_id for r in second] == [1, 1, 1]
    assert float(second[0].mask.max()) == 1.0, "no smoothing state carried over from the previous clip"


@pytest.mark.parametrize(
    "convert",
    [
        lambda f: f,  # NumPy (H, W, 3) uint8
        lambda f: torch.from_numpy(f),  # tensor (H, W, 3) uint8
        lambda f: torch.from_numpy(f).permute(2, 0, 1).contiguous(),  # tensor (3, H, W) uint8
        lambda f: torch.from_numpy(f).permute(2, 0, 1).float() / 255,  # tensor (3, H, W) float
        lambda f: torch.from_numpy(f).double() / 255,  # tensor (H, W, 3) float64
    ],
)
def test_frame_layouts_give_the_same_masks(colour_masker, clip, convert):
    frames, boxes = clip
    results = _run(colour_masker, [convert(f) for f in frames[:4]], classes=0, batch_size=3, smooth=0)
    assert [r.box.tolist() for r in results] == [[float(v) for v in b] for b in boxes[:4]]
    assert all(r.mask.dtype == torch.float32 for r in results)


def test_frame_size_change_flushes_the_batch(colour_masker):
    small, _ = make_clip(3, 48, 64)
    large, boxes = make_clip(3, 60, 80)
    results = _run(colour_masker, small + large, classes=0, batch_size=8, smooth=0.6)
    assert [tuple(r.mask.shape) for r in results] == [(1, 48, 64)] * 3 + [(1, 60, 80)] * 3
    assert colour_masker.calls == 2
    assert float(results[3].mask.max()) == 1.0 and results[3].box.tolist() == [float(v) for v in boxes[0]]


@pytest.mark.parametrize(
    "frame, match",
    [
        (np.zeros((8, 8, 3), dtype=np.float32), "uint8"),
        (np.zeros((2, 8, 8, 3), dtype=np.uint8), r"\(3, H, W\) or \(H, W, 3\)"),
        (torch.zeros(8, 8, 4, dtype=torch.uint8), r"\(3, H, W\) or \(H, W, 3\)"),
        (torch.zeros(3, 8, 8, dtype=torch.int32), "uint8 or floating"),
        ("frame.png", "NumPy uint8 array or a torch tensor"),
    ],
)
def test_bad_frames_are_rejected_with_their_index(colour_masker, frame, match):
    good = np.zeros((8, 8, 3), dtype=np.uint8)
    with pytest.raises(InputError, match=match) as info:
        _run(colour_masker, [good, frame], classes=0, batch_size=1)
    assert "frame 1" in str(info.value)


def test_float_frames_out_of_range_are_rejected(colour_masker):
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        _run(colour_masker, [torch.full((3, 8, 8), 2.0)], classes=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"classes": "top"}, "needs the black box"),
        ({"classes": "first"}, "needs the black box"),
        ({"classes": "red"}, "needs a classifier"),
        ({"classes": 2}, "out of range"),
        ({"classes": 0, "batch_size": 0}, "batch_size"),
        ({"classes": 0, "smooth": 1.0}, "alpha"),
    ],
)
def test_bad_settings_are_rejected(colour_masker, kwargs, match):
    with pytest.raises(InputError, match=match):
        StreamingExplainer(colour_masker, **kwargs)


def test_masks_only_mode_skips_overlays(colour_masker, clip):
    frames, _ = clip
    results = _run(colour_masker, frames[:3], classes=0, overlays=False)
    assert all(r.overlay is None for r in results)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_everything_stays_on_the_gpu(colour_classifier, clip):
    frames, boxes = clip
    results = _run(ColourMasker(), frames, classifier=colour_classifier, classes="top", device="cuda", batch_size=4)
    assert all(r.mask.is_cuda and r.overlay.is_cuda and r.box.is_cuda for r in results)
    assert [r.box.tolist() for r in results] == [[float(v) for v in b] for b in boxes]


def test_background_is_dimmed_in_the_overlay(colour_masker, clip):
    frames, boxes = clip
    result = _run(colour_masker, frames[:1], classes=0, smooth=0, style=OverlayStyle(alpha=0.5))[0]
    background = result.overlay.numpy()[-1, -1].astype(int)
    assert (background < np.array(BACKGROUND)).all(), "mask 0 -> dark end of the colour map -> darker than the photo"
    x0, y0, x1, y1 = boxes[0]
    centre = result.overlay.numpy()[(y0 + y1) // 2, (x0 + x1) // 2].astype(int)
    assert centre[0] > COLOURS[0][0] * 0.5 + 100, "mask 1 -> bright end of the colour map"


@pytest.mark.xfail(
    strict=True,
    reason="known gap (issues 6 and 13): the under-trained shipped ImageNet masker keeps the whole visible cat face, "
    "so its box moves with the window (centres 153..252 px in photo coordinates) instead of staying on the most "
    "telling part",
)
def test_shipped_masker_follows_a_panned_real_photo():
    """A window panned across a real photo: the tightest box moves with the content."""
    from blackbox_saliency import load_classifier, load_masker
    from blackbox_saliency.errors import PluginError

    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image provides the real photo")
    try:
        masker = load_masker("efficientnet_lite0")
    except PluginError:
        pytest.skip(
            "the shipped ImageNet masker (blackbox_saliency/assets/maskers/efficientnet_lite0.pt) does not exist yet"
        )
    classifier = load_classifier(getattr(masker, "classifier_name", None) or "efficientnet_lite0")
    photo = skimage_data.chelsea()  # 300 x 451, the cat's face fills the middle
    window, step = 256, 16
    frames = [np.ascontiguousarray(photo[22:22 + window, s:s + window]) for s in range(0, 10 * step, step)]
    results = _run(masker, frames, classifier=classifier, classes="first", batch_size=4, smooth=0)
    assert "cat" in results[0].class_name or "tabby" in results[0].class_name
    # In photo coordinates (box x + pan offset) the salient region should stay put.
    centres = np.array([(float(r.box[0] + r.box[2]) / 2 + i * step) for i, r in enumerate(results)])
    assert np.ptp(centres) < 3 * step, f"box centres in photo coordinates wander: {centres.round(1).tolist()}"
