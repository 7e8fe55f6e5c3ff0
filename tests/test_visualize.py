"""Overlay rendering: colour maps, blending, boxes, captions, panels, contact sheets."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from blackbox_saliency import visualize as vis
from blackbox_saliency.errors import InputError


def _luminance(rgb: torch.Tensor) -> torch.Tensor:
    return rgb @ torch.tensor([0.2126, 0.7152, 0.0722])


@pytest.mark.parametrize("name", ["inferno", "builtin"])
def test_colour_map_runs_dark_to_bright(name):
    lut = vis.colormap_lut(name, 64)
    assert lut.shape == (64, 3) and lut.dtype == torch.float32
    assert 0.0 <= float(lut.min()) and float(lut.max()) <= 1.0
    lum = _luminance(lut)
    assert bool((lum[1:] >= lum[:-1] - 1e-3).all()), "a perceptual map must not get darker as the mask grows"
    assert float(lum[0]) < 0.05 and float(lum[-1]) > 0.8


def test_builtin_ramp_used_without_matplotlib(monkeypatch):
    vis._lut_numpy.cache_clear()
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    try:
        torch.testing.assert_close(vis.colormap_lut("inferno", 32), vis.colormap_lut("builtin", 32))
    finally:
        vis._lut_numpy.cache_clear()


def test_unknown_colour_map_is_a_clear_error():
    pytest.importorskip("matplotlib", reason="matplotlib names the colour maps")
    with pytest.raises(InputError, match="colour map"):
        vis.colormap_lut("no_such_map")


def test_colorize_keeps_device_and_dtype_and_orders_values():
    masks = torch.linspace(0, 1, 16, dtype=torch.float64).view(1, 1, 4, 4)
    heat = vis.colorize(masks)
    assert heat.shape == (1, 3, 4, 4) and heat.dtype == torch.float64
    lum = _luminance(heat[0].permute(1, 2, 0).reshape(-1, 3).float())
    assert bool((lum[1:] >= lum[:-1] - 1e-3).all())


def test_blend_endpoints_and_resizing():
    images = torch.rand(2, 3, 16, 20)
    masks = torch.rand(2, 1, 4, 5)
    torch.testing.assert_close(vis.blend(images, masks, alpha=0.0), images)
    big = torch.nn.functional.interpolate(masks, size=(16, 20), mode="bilinear", align_corners=False)
    torch.testing.assert_close(vis.blend(images, masks, alpha=1.0), vis.colorize(big.clamp(0, 1)))
    mixed = vis.blend(images, masks, alpha=0.5)
    assert mixed.shape == images.shape and 0 <= float(mixed.min()) and float(mixed.max()) <= 1


@pytest.mark.parametrize(
    "bad_images, bad_masks, match",
    [
        (torch.rand(1, 3, 8, 8) * 2, torch.rand(1, 1, 8, 8), r"\[0, 1\]"),
        (torch.rand(1, 3, 8, 8), torch.rand(2, 1, 8, 8), "batch"),
        (torch.rand(1, 3, 8, 8), torch.rand(1, 8, 8), r"\(B, 1, H, W\)"),
    ],
)
def test_bad_input_is_rejected(bad_images, bad_masks, match):
    with pytest.raises(InputError, match=match):
        vis.render_overlays(bad_images, bad_masks)


def test_draw_boxes_paints_exactly_the_outline():
    images = torch.zeros(2, 3, 10, 12)
    boxes = torch.tensor([[2.0, 1.0, 9.0, 8.0], [0.0, 0.0, 12.0, 10.0]])
    out = vis.draw_boxes(images, boxes, colour=(255, 0, 0), width=1)
    red = out[:, 0] > 0.5
    expected = torch.zeros(2, 10, 12, dtype=torch.bool)
    for i, (x0, y0, x1, y1) in enumerate(boxes.long().tolist()):
        expected[i, y0:y1, x0:x1] = True
        expected[i, y0 + 1:y1 - 1, x0 + 1:x1 - 1] = False
    assert torch.equal(red, expected)
    assert float(images.abs().sum()) == 0.0, "draw_boxes must not modify its input"


def test_overlay_draws_the_tightest_box_of_the_mask():
    images = torch.full((1, 3, 60, 80), 0.5)
    masks = torch.zeros(1, 1, 60, 80)
    masks[0, 0, 10:40, 20:70] = 1.0
    picture = np.asarray(vis.render_overlays(images, masks, boxes=True)[0]).astype(int)
    colour = np.array(vis.BOX_COLOUR)

    def is_box(y, x):
        return np.abs(picture[y, x] - colour).max() <= 2

    # The outline lies on the border of the tightest box (exclusive x1, y1) - never far outside it.
    assert is_box(25, 21) and is_box(25, 68) and is_box(11, 45) and is_box(38, 45)
    assert not is_box(25, 10) and not is_box(50, 45) and not is_box(25, 45)


def test_overlay_accepts_explicit_boxes_and_no_boxes():
    images, masks = torch.full((1, 3, 40, 40), 0.5), torch.zeros(1, 1, 40, 40)
    colour = np.array(vis.BOX_COLOUR)
    box = torch.tensor([[5.0, 5.0, 30.0, 30.0]])
    with_box = np.asarray(vis.render_overlays(images, masks, boxes=box)[0]).astype(int)
    without = np.asarray(vis.render_overlays(images, masks, boxes=False)[0]).astype(int)
    assert np.abs(with_box[15, 6] - colour).max() <= 2
    assert (np.abs(without - colour).max(axis=2) > 2).all()


def test_overlay_style_sets_colour_alpha_and_threshold():
    images, masks = torch.full((1, 3, 40, 40), 0.5), torch.zeros(1, 1, 40, 40)
    masks[..., 10:20, 10:20] = 0.6
    red = vis.OverlayStyle(alpha=0.0, threshold=0.5, box_colour=(255, 0, 0))
    picture = np.asarray(vis.render_overlays(images, masks, style=red)[0]).astype(int)
    assert np.abs(picture[15, 11] - np.array([255, 0, 0])).max() <= 2, "the box of mask > 0.5, in the style's colour"
    assert np.abs(picture[30, 30] - 128).max() <= 1, "alpha 0: the photo itself outside the box"
    above_07 = vis.OverlayStyle(alpha=0.0, threshold=0.7, box_colour=(255, 0, 0))
    high = np.asarray(vis.render_overlays(images, masks, style=above_07)[0]).astype(int)
    assert np.abs(high[15, 11] - 128).max() <= 1, "no mask value above 0.7: no box around the square"
    with pytest.raises(InputError, match="alpha"):
        vis.OverlayStyle(alpha=1.5)


def test_caption_strip_and_upscaling():
    images, masks = torch.rand(2, 3, 32, 48), torch.rand(2, 1, 32, 48)
    plain = vis.render_overlays(images, masks)
    captioned = vis.render_overlays(images, masks, ["a", "b"], min_side=64)
    assert [p.size for p in plain] == [(48, 32)] * 2
    assert captioned[0].width == 96 and captioned[0].height > 64
    with pytest.raises(InputError, match="captions"):
        vis.render_overlays(images, masks, ["only one"])


def test_caption_text():
    text = vis.caption("tabby cat", 0.8712, -1.234)
    assert "tabby cat" in text and "p = 0.87" in text and "saliency metric = -1.23" in text
    assert vis.caption(None, 0.5) == "p = 0.50"


def test_panel_shows_original_overlay_and_mask():
    images = torch.rand(1, 3, 20, 30)
    masks = torch.zeros(1, 1, 20, 30)
    masks[..., 5:15, 10:20] = 1.0
    panel = np.asarray(vis.render_panels(images, masks, min_side=None, gap=2)[0]).astype(int)
    assert panel.shape == (20, 3 * 30 + 4, 3)
    np.testing.assert_allclose(panel[:, :30], vis.to_uint8(images)[0], atol=1)
    mask_tile = panel[:, 64:]
    assert (mask_tile[5:15, 10:20] == 255).all() and (mask_tile[:5] == 0).all()


def test_to_uint8_rounds():
    x = torch.tensor([0.0, 0.5, 1.0, 0.999]).view(1, 1, 1, 4)
    assert vis.to_uint8(x)[0, 0, :, 0].tolist() == [0, 128, 255, 255]


def test_contact_sheet_layout():
    from PIL import Image

    pictures = [
        Image.new("RGB", (100, 50), (255, 0, 0)),
        Image.new("RGB", (50, 50), (0, 255, 0)),
        Image.new("RGB", (40, 20)),
    ]
    sheet = vis.contact_sheet(pictures, columns=2, tile_width=50, gap=4)
    # Rows: max(25, 50) and 25 pixels tall; 2 columns of 50 with 3 gaps.
    assert sheet.size == (2 * 50 + 3 * 4, 50 + 25 + 3 * 4)
    assert np.asarray(sheet)[4 + 10, 4 + 10].tolist() == [255, 0, 0]
    labelled = vis.contact_sheet(pictures, labels=["a", "b", "c"], tile_width=50)
    assert labelled.height > sheet.height
    with pytest.raises(InputError):
        vis.contact_sheet([])
    with pytest.raises(InputError, match="labels"):
        vis.contact_sheet(pictures, labels=["a"])


def test_overlay_takes_numpy_and_pil_photos_like_show_cam_on_image():
    from PIL import Image

    photo = (np.random.default_rng(0).random((20, 30, 3)) * 255).astype(np.uint8)
    mask = np.random.default_rng(1).random((5, 5)).astype(np.float32)
    overlay = vis.overlay
    from_numpy = overlay(photo, mask)
    assert from_numpy.shape == (20, 30, 3) and from_numpy.dtype == np.uint8
    assert np.array_equal(from_numpy, overlay(Image.fromarray(photo), torch.from_numpy(mask)))
    assert np.array_equal(from_numpy, overlay(torch.from_numpy(photo).permute(2, 0, 1).float() / 255, mask))
