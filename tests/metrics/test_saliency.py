"""The paper's saliency metric: s = log(max(a, 0.05)) - log p(crop)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from blackbox_saliency.errors import InputError
from blackbox_saliency.interfaces import BlackBoxClassifier
from blackbox_saliency.metrics import SaliencyMetricOptions, SourcePhotos, crop_boxes, saliency_metric


def bias_net(bias: float) -> BlackBoxClassifier:
    """Two classes whose logits ignore the image: p(class 0) = sigmoid(bias), set by hand."""
    linear = nn.Linear(3 * 8 * 8, 2)
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.copy_(torch.tensor([bias, 0.0]))
    return BlackBoxClassifier(nn.Sequential(nn.Flatten(), linear), (8, 8), ["target", "other"])


def brightness_net(gain: float = 20.0) -> BlackBoxClassifier:
    """Two classes: logit of class 0 = gain * (mean brightness - 0.5); bright crops mean a high p."""
    linear = nn.Linear(3 * 8 * 8, 2)
    with torch.no_grad():
        linear.weight.zero_()
        linear.weight[0].fill_(gain / (3 * 8 * 8))
        linear.bias.copy_(torch.tensor([-gain / 2, 0.0]))
    return BlackBoxClassifier(nn.Sequential(nn.Flatten(), linear), (8, 8), ["bright", "dark"])


def random_net(classes: int = 5) -> BlackBoxClassifier:
    return BlackBoxClassifier(
        nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, classes)), (8, 8), [str(i) for i in range(classes)]
    ).eval()


def box_mask(batch: int, size: tuple[int, int], box: tuple[int, int, int, int]) -> torch.Tensor:
    x0, y0, x1, y1 = box
    m = torch.zeros(batch, 1, *size)
    m[..., y0:y1, x0:x1] = 1.0
    return m


def test_full_image_mask_gives_minus_log_p_exactly_at_input_size():
    net = random_net()
    images = torch.rand(3, 3, 8, 8)
    classes = torch.tensor([0, 2, 4])
    result = saliency_metric(net, images, torch.ones(3, 1, 8, 8), classes)
    expected = -torch.log_softmax(net(images), dim=1).gather(1, classes.view(-1, 1)).squeeze(1)
    torch.testing.assert_close(result.area, torch.ones(3))
    torch.testing.assert_close(result.s, expected)
    torch.testing.assert_close(result.prob, expected.neg().exp())
    assert result.boxes.tolist() == [[0.0, 0.0, 8.0, 8.0]] * 3


def test_full_image_mask_matches_the_classifiers_own_resize_within_tolerance():
    net = random_net()
    images = torch.nn.functional.interpolate(
        torch.rand(2, 3, 8, 8), size=(24, 32), mode="bilinear", align_corners=False
    )
    classes = torch.tensor([1, 3])
    result = saliency_metric(net, images, torch.ones(2, 1, 5, 5), classes)
    expected = -torch.log_softmax(net(images), dim=1).gather(1, classes.view(-1, 1)).squeeze(1)
    torch.testing.assert_close(result.s, expected, atol=0.05, rtol=0)


def test_exact_crop_of_input_size_is_classified_as_the_cropped_pixels():
    net = random_net()
    images = torch.rand(2, 3, 20, 24)
    box = (5, 7, 13, 15)  # exactly 8 x 8 pixels: no resampling, the crop must be these pixels
    crop = crop_boxes(images, torch.tensor([box, box], dtype=torch.float32), (8, 8))
    torch.testing.assert_close(crop, images[..., 7:15, 5:13])
    classes = torch.tensor([4, 0])
    result = saliency_metric(net, images, box_mask(2, (20, 24), box), classes)
    expected_logp = torch.log_softmax(net(images[..., 7:15, 5:13]), dim=1).gather(1, classes.view(-1, 1)).squeeze(1)
    torch.testing.assert_close(result.area, torch.full((2,), 64 / (20 * 24)))
    torch.testing.assert_close(result.s, math.log(64 / (20 * 24)) - expected_logp)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 15), st.integers(0, 15), st.integers(1, 3), st.integers(1, 3))
def test_area_is_clamped_at_the_floor(x, y, w, h):
    """A box under 5 % of the image scores log(0.05) - log p whatever its exact area."""
    net = bias_net(0.7)
    x1, y1 = min(x + w, 16), min(y + h, 16)
    result = saliency_metric(net, torch.rand(1, 3, 16, 16), box_mask(1, (16, 16), (x, y, x1, y1)), torch.tensor([0]))
    area = (x1 - x) * (y1 - y) / 256
    assert result.area.item() == pytest.approx(area)
    assert area < 0.05
    p = 1 / (1 + math.exp(-0.7))
    assert result.s.item() == pytest.approx(math.log(0.05) - math.log(p), abs=1e-5)


def test_area_above_the_floor_is_used_as_is_and_floor_is_configurable():
    net = bias_net(0.0)
    images = torch.rand(1, 3, 16, 16)
    mask = box_mask(1, (16, 16), (0, 0, 8, 8))  # a = 0.25
    result = saliency_metric(net, images, mask, torch.tensor([0]))
    assert result.s.item() == pytest.approx(math.log(0.25) - math.log(0.5), abs=1e-5)
    floored = saliency_metric(net, images, mask, torch.tensor([0]), SaliencyMetricOptions(area_floor=0.5))
    assert floored.s.item() == pytest.approx(math.log(0.5) - math.log(0.5), abs=1e-5)


def test_metric_falls_as_probability_rises():
    images = torch.rand(2, 3, 16, 16)
    masks = box_mask(2, (16, 16), (2, 3, 12, 11))
    values = []
    for bias in (-3.0, -1.0, 0.0, 1.0, 3.0):
        result = saliency_metric(bias_net(bias), images, masks, torch.tensor([0, 0]))
        values.append(result.mean)
        assert result.prob[0].item() == pytest.approx(1 / (1 + math.exp(-bias)), abs=1e-6)
    assert all(a > b for a, b in zip(values, values[1:])), values


def test_crop_location_matters_bright_object_scores_better():
    """With a classifier that likes bright crops, a box on the bright square beats an equal box on the background."""
    images = torch.full((1, 3, 32, 32), 0.1)
    images[..., 4:12, 20:28] = 0.9
    net = brightness_net()
    on_object = saliency_metric(net, images, box_mask(1, (32, 32), (20, 4, 28, 12)), torch.tensor([0]))
    off_object = saliency_metric(net, images, box_mask(1, (32, 32), (2, 20, 10, 28)), torch.tensor([0]))
    assert on_object.area.item() == off_object.area.item() == pytest.approx(64 / 1024)
    assert on_object.prob.item() > 0.99 and off_object.prob.item() < 0.01
    assert on_object.s.item() < off_object.s.item()


def test_low_resolution_mask_box_maps_to_its_image_footprint():
    net = random_net()
    mask = torch.zeros(1, 1, 4, 4)
    mask[0, 0, 1, 2] = 1.0  # cell (row 1, col 2) of a 4 x 4 grid over a 16 x 16 image
    result = saliency_metric(net, torch.rand(1, 3, 16, 16), mask, torch.tensor([0]))
    assert result.boxes.tolist() == [[8.0, 4.0, 12.0, 8.0]]
    assert result.area.item() == pytest.approx(16 / 256)


def test_threshold_and_empty_mask_fallback():
    net = bias_net(1.0)
    images = torch.rand(1, 3, 16, 16)
    uniform = torch.full((1, 1, 16, 16), 0.3)
    result = saliency_metric(net, images, uniform, torch.tensor([0]))
    assert result.boxes.tolist() == [[0.0, 0.0, 1.0, 1.0]]  # nothing above 0.5: one pixel, area clamped
    assert result.s.item() == pytest.approx(math.log(0.05) - math.log(1 / (1 + math.exp(-1))), abs=1e-5)
    lowered = saliency_metric(net, images, uniform, torch.tensor([0]), SaliencyMetricOptions(threshold=0.2))
    assert lowered.area.item() == 1.0


def test_batched_equals_one_by_one_and_chunking():
    net = random_net()
    images = torch.rand(5, 3, 20, 30)
    masks = torch.rand(5, 1, 7, 7) ** 3
    classes = torch.tensor([0, 1, 2, 3, 4])
    whole = saliency_metric(net, images, masks, classes)
    chunked = saliency_metric(net, images, masks, classes, SaliencyMetricOptions(batch_size=2))
    torch.testing.assert_close(whole.s, chunked.s)
    for i in range(5):
        single = saliency_metric(net, images[i : i + 1], masks[i : i + 1], classes[i : i + 1])
        torch.testing.assert_close(single.s, whole.s[i : i + 1], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(single.boxes, whole.boxes[i : i + 1])


def test_result_helpers_dtype_and_modes():
    net = random_net().double().train()
    images = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    result = saliency_metric(net, images, torch.ones(2, 1, 8, 8, dtype=torch.float64), torch.tensor([0, 1]))
    assert result.s.dtype == torch.float64 and not result.s.requires_grad
    assert net.training, "the classifier's mode must be restored"
    summary = result.to_dict()
    assert summary["saliency_metric"] == pytest.approx(result.mean) == pytest.approx(float(result.s.mean()))
    assert summary["n"] == 2 and len(summary["boxes"]) == 2


@pytest.mark.parametrize(
    "change, fragment",
    [
        (dict(images=torch.rand(3, 8, 8)), "`images`"),
        (dict(images=torch.rand(2, 1, 8, 8)), "`images`"),
        (dict(images=torch.randint(0, 255, (2, 3, 8, 8), dtype=torch.uint8)), "`images`"),
        (dict(images=torch.rand(2, 3, 8, 8) * 255), "`images`"),
        (dict(images=torch.full((2, 3, 8, 8), float("nan"))), "`images`.*NaN"),
        (dict(masks=torch.rand(2, 8, 8)), "`masks`"),
        (dict(masks=torch.rand(2, 3, 8, 8)), "`masks`"),
        (dict(masks=torch.ones(2, 1, 8, 8, dtype=torch.int64)), "`masks`"),
        (dict(masks=torch.rand(2, 1, 8, 8) + 1), "`masks`"),
        (dict(masks=torch.full((2, 1, 8, 8), float("nan"))), "`masks`.*NaN"),
        (dict(masks=torch.rand(3, 1, 8, 8)), "`masks`"),
        (dict(classes=torch.tensor([0, 5])), "`classes`.*out of range"),
        (dict(classes=torch.tensor([0, -1])), "`classes`"),
        (dict(classes=torch.tensor([0, 1], dtype=torch.int32)), "`classes`"),
        (dict(classes=torch.tensor([0, 1, 2])), "`classes`"),
        (dict(classes=[0, 1]), "`classes`"),
    ],
)
def test_bad_input_raises_input_error_naming_the_argument(change, fragment):
    kwargs = dict(images=torch.rand(2, 3, 8, 8), masks=torch.rand(2, 1, 8, 8), classes=torch.tensor([0, 1]))
    kwargs.update(change)
    with pytest.raises(InputError, match=fragment):
        saliency_metric(random_net(), **kwargs)


@pytest.mark.parametrize(
    "options, fragment",
    [
        (dict(area_floor=0.0), "`area_floor`"),
        (dict(threshold=float("nan")), "`threshold`"),
        (dict(batch_size=0), "`batch_size`"),
    ],
)
def test_bad_options_raise_input_error_naming_the_option(options, fragment):
    with pytest.raises(InputError, match=fragment):
        SaliencyMetricOptions(**options)


@pytest.mark.slow
def test_real_photo_with_efficientnet_lite0(chelsea):
    """Chelsea the cat under EfficientNet-Lite0: full-image mask = -log p, a box on the cat beats one off it."""
    import blackbox_saliency

    net = blackbox_saliency.load_classifier("efficientnet_lite0").eval()
    with torch.no_grad():
        logp = torch.log_softmax(net(chelsea), dim=1)[0]
    cls = int(logp.argmax())
    assert "cat" in net.class_names[cls].lower(), net.class_names[cls]
    _, _, h, w = chelsea.shape
    full = saliency_metric(net, chelsea, torch.ones(1, 1, h, w), torch.tensor([cls]))
    assert full.area.item() == 1.0
    # the metric crops with roi_align, the classifier resizes with antialiased interpolation: close, not equal
    assert full.s.item() == pytest.approx(-logp[cls].item(), abs=0.02)

    # the central half box (a = 1/4): s = log(1/4) - log p(crop), p checked against cropping by hand
    y0, y1, x0, x1 = h // 4, h // 4 + h // 2, w // 4, w // 4 + w // 2
    central = saliency_metric(net, chelsea, box_mask(1, (h, w), (x0, y0, x1, y1)), torch.tensor([cls]))
    with torch.no_grad():
        p_crop = torch.softmax(net(chelsea[..., y0:y1, x0:x1]), dim=1)[0, cls].item()
    area = (y1 - y0) * (x1 - x0) / (h * w)
    assert central.area.item() == pytest.approx(area)
    assert central.prob.item() == pytest.approx(p_crop, abs=0.05)
    assert central.s.item() == pytest.approx(math.log(area) - math.log(central.prob.item()), abs=1e-5)
    # the cat fills the centre: the smaller central crop keeps enough evidence to score better than the full image
    assert central.s.item() < full.s.item()
    # a small box in the bottom-right corner (background; a = 1 % is clamped to 5 %) loses the class and scores far
    # worse
    bh, bw = h // 10, w // 10
    corner = saliency_metric(net, chelsea, box_mask(1, (h, w), (w - bw, h - bh, w, h)), torch.tensor([cls]))
    assert corner.prob.item() < 0.05
    assert corner.s.item() == pytest.approx(math.log(0.05) - math.log(corner.prob.item()), abs=1e-4)
    assert corner.s.item() > full.s.item() + 1.0


# --- cropping from the original photo ---------------------------------------------------------------


def test_whole_view_box_on_a_2x_upscaled_original_gives_the_full_image_metric():
    # nearest 2x upscaling: each view pixel is a 2x2 block of the source, so the area-averaged crop of the whole
    # source is the view
    net = random_net()
    view = torch.rand(3, 3, 8, 8)
    sources = [F.interpolate(v[None], scale_factor=2, mode="nearest")[0] for v in view]
    classes = torch.tensor([0, 3, 4])
    full = saliency_metric(net, view, torch.ones(3, 1, 8, 8), classes)
    from_source = saliency_metric(net, view, torch.ones(3, 1, 8, 8), classes, sources=SourcePhotos(sources))
    torch.testing.assert_close(from_source.s, full.s)
    assert from_source.boxes.tolist() == [[0.0, 0.0, 16.0, 16.0]] * 3 and from_source.area.tolist() == [1.0] * 3


def test_source_crop_is_cut_from_the_original_pixels_not_the_view():
    # the view is blank; the source holds a bright square where the mask points: only the source crop sees it
    net = brightness_net()
    view = torch.zeros(1, 3, 8, 8)
    source = torch.zeros(3, 32, 32)
    source[:, 8:16, 8:16] = 1.0
    mask = torch.zeros(1, 1, 8, 8)
    mask[0, 0, 2:4, 2:4] = 1.0
    on_view = saliency_metric(net, view, mask, torch.tensor([0]))
    on_source = saliency_metric(net, view, mask, torch.tensor([0]), sources=SourcePhotos([source]))
    assert on_source.boxes.tolist() == [[8.0, 8.0, 16.0, 16.0]]
    assert float(on_source.prob) > 0.99 and float(on_view.prob) < 0.01
    assert float(on_source.area) == pytest.approx(64 / 1024)


def test_photos_of_different_sizes_in_one_batch_match_one_at_a_time():
    net = random_net()
    torch.manual_seed(3)
    sizes = [(20, 36), (48, 16), (9, 9), (33, 50)]
    sources = [torch.rand(3, h, w) for h, w in sizes]
    view = torch.stack([F.interpolate(s[None], size=(8, 8), mode="bilinear", antialias=True)[0] for s in sources])
    masks = torch.rand(4, 1, 4, 4)
    classes = torch.tensor([0, 1, 2, 3])
    batched = saliency_metric(net, view, masks, classes, sources=SourcePhotos(sources))
    for i in range(4):
        alone = saliency_metric(
            net, view[i : i + 1], masks[i : i + 1], classes[i : i + 1], sources=SourcePhotos(sources[i : i + 1])
        )
        torch.testing.assert_close(batched.s[i : i + 1], alone.s, atol=1e-5, rtol=0)
        torch.testing.assert_close(batched.boxes[i : i + 1], alone.boxes)


def test_source_images_are_checked():
    net = random_net()
    view, masks, classes = torch.rand(2, 3, 8, 8), torch.ones(2, 1, 8, 8), torch.tensor([0, 1])
    with pytest.raises(InputError, match="list of 2"):
        saliency_metric(net, view, masks, classes, sources=SourcePhotos([torch.rand(3, 9, 9)]))
    with pytest.raises(InputError, match=r"sources.photos\[1\]"):
        saliency_metric(net, view, masks, classes, sources=SourcePhotos([torch.rand(3, 9, 9), torch.rand(9, 9)]))
    with pytest.raises(InputError, match="sources.view_to_source"):
        saliency_metric(net, view, masks, classes, sources=SourcePhotos([torch.rand(3, 9, 9)] * 2, torch.ones(3, 4)))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs_are_scored_in_float32(dtype):
    torch.manual_seed(0)
    net = random_net()
    images, masks = torch.rand(3, 3, 16, 16), torch.rand(3, 1, 8, 8)
    classes = torch.tensor([0, 2, 4])
    want = saliency_metric(net, images.to(dtype).float(), masks.to(dtype).float(), classes)
    got = saliency_metric(net, images.to(dtype), masks.to(dtype), classes)
    assert got.s.dtype == torch.float32
    torch.testing.assert_close(got.s, want.s, atol=1e-4, rtol=1e-4)


def test_source_images_must_be_photos_in_the_unit_range():
    net = BlackBoxClassifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)), (8, 8), list("abcd"))
    images, masks, classes = torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8), torch.tensor([0])
    mapping = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    with pytest.raises(InputError, match=r"sources.photos\[0\].*\[0, 1\]"):
        saliency_metric(net, images, masks, classes, sources=SourcePhotos([torch.rand(3, 8, 8) * 255], mapping))
    photo = torch.rand(3, 8, 8)
    photo[0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        saliency_metric(net, images, masks, classes, sources=SourcePhotos([photo], mapping))
