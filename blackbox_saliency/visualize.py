"""Pictures of saliency masks that a person would rather look at than read.

* :func:`colorize` / :func:`blend` – batched, on the caller's device: mask -> heat map
  (a perceptual colour map: matplotlib's when installed, else a built-in ramp) and the
  alpha blend of heat map and image. Low mask values darken the photo, high values glow.
* :func:`draw_boxes` – draws box outlines into image tensors (no Pillow; used for video).
* :func:`render_overlays` – image + heat map + the tightest box of the mask (drawn with
  Pillow) + an optional caption strip; batched tensors in, ``PIL.Image`` list out.
* :func:`render_panels` – ``original | overlay | mask`` side by side, for PNGs.
* :func:`contact_sheet` – many pictures in a labelled grid.
* :func:`caption` – the standard caption text (class, probability, saliency metric).

Example:
    >>> import torch
    >>> from blackbox_saliency.visualize import render_overlays, to_uint8
    >>> images, masks = torch.rand(2, 3, 64, 80), torch.rand(2, 1, 64, 80)
    >>> pictures = render_overlays(images, masks, captions=["cat  p=0.91", "dog  p=0.42"])
    >>> pictures[0].size[0], pictures[0].mode
    (80, 'RGB')
    >>> to_uint8(images).shape
    (2, 64, 80, 3)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from .errors import InputError
from .input_checks import check_images, check_masks, check_same_batch

__all__ = [
    "overlay",
    "DEFAULT_CMAP",
    "BOX_COLOUR",
    "OverlayStyle",
    "blend",
    "blend_unchecked",
    "caption",
    "colormap_lut",
    "colorize",
    "contact_sheet",
    "draw_boxes",
    "mask_boxes",
    "render_overlays",
    "render_panels",
    "to_uint8",
]

DEFAULT_CMAP = "inferno"
"""Perceptually uniform, dark for 'removable' and bright yellow for 'evidence'."""

#: zlib level of the PNG pictures this library writes: 1 is several times faster than Pillow's default 6,
#: files ~10% larger.
PNG_COMPRESS_LEVEL = 1

BOX_COLOUR = (64, 224, 255)
"""Cyan: stands out against every colour of the inferno map and most photos."""

# Control points of a dark-purple -> red -> orange -> pale-yellow ramp, close to the look of
# matplotlib's "inferno"; used only when matplotlib is not installed.
_BUILTIN_RAMP = (
    (0.00, (0, 0, 4)),
    (0.15, (40, 11, 84)),
    (0.30, (101, 21, 110)),
    (0.45, (159, 42, 99)),
    (0.60, (212, 72, 66)),
    (0.75, (245, 125, 21)),
    (0.88, (250, 193, 39)),
    (1.00, (252, 255, 164)),
)


@functools.lru_cache(maxsize=16)
def _lut_numpy(name: str, n: int) -> np.ndarray:
    if name != "builtin":
        try:
            import matplotlib

            cmap = matplotlib.colormaps[name]
        except ImportError:
            cmap = None
        except KeyError:
            raise InputError(
                f"unknown colour map {name!r}; use a matplotlib colour map name (e.g. 'inferno', 'magma', 'viridis') "
                "or 'builtin'."
            ) from None
        if cmap is not None:
            return np.asarray(cmap(np.linspace(0.0, 1.0, n))[:, :3], dtype=np.float32)
    stops = np.array([s for s, _ in _BUILTIN_RAMP], dtype=np.float32)
    colours = np.array([c for _, c in _BUILTIN_RAMP], dtype=np.float32) / 255.0
    xs = np.linspace(0.0, 1.0, n, dtype=np.float32)
    return np.stack([np.interp(xs, stops, colours[:, k]) for k in range(3)], axis=1).astype(np.float32)


def colormap_lut(name: str = DEFAULT_CMAP, n: int = 256, device: torch.device | str | None = None) -> torch.Tensor:
    """A (n, 3) float32 colour table in [0, 1] for colour map ``name``.

    ``name`` is any matplotlib colour map; without matplotlib (or with ``name="builtin"``) a
    built-in inferno-like ramp is used, so the library does not need matplotlib.

    Example:
        >>> colormap_lut("builtin", 5).shape
        torch.Size([5, 3])
    """
    if n < 2:
        raise InputError(f"`n` must be at least 2, got {n}.")
    return torch.from_numpy(_lut_numpy(str(name), int(n))).to(device)


def colorize(masks: torch.Tensor, cmap: str = DEFAULT_CMAP) -> torch.Tensor:
    """Map masks (B, 1, H, W) in [0, 1] to heat maps (B, 3, H, W) in [0, 1] (same device and dtype).

    Example:
        >>> import torch
        >>> colorize(torch.zeros(1, 1, 2, 2), "builtin")[0, :, 0, 0].tolist()  # mask 0 -> near black
        [0.0, 0.0, 0.01568627543747425]
    """
    check_masks(masks)
    lut = colormap_lut(cmap, 256, masks.device).to(masks.dtype)
    index = (masks[:, 0] * 255.0 + 0.5).long().clamp_(0, 255)  # (B, H, W)
    return lut[index].permute(0, 3, 1, 2)


def blend(images: torch.Tensor, masks: torch.Tensor, alpha: float = 0.5, cmap: str = DEFAULT_CMAP) -> torch.Tensor:
    """Alpha-blend the heat map of ``masks`` over ``images``: ``(1 - alpha) * image + alpha * heat``.

    Masks of another resolution are resized (bilinear) to the images. Returns (B, 3, H, W) in [0, 1].
    """
    check_images(images)
    check_masks(masks)
    check_same_batch(images=images, masks=masks)
    if not 0.0 <= float(alpha) <= 1.0:
        raise InputError(f"`alpha` must lie in [0, 1], got {alpha}.")
    lut = colormap_lut(cmap, 256, images.device).to(images.dtype)
    return blend_unchecked(images, _fit(masks.to(images.dtype), images.shape[-2:]), lut, alpha)


def blend_unchecked(images: torch.Tensor, masks: torch.Tensor, lut: torch.Tensor, alpha: float) -> torch.Tensor:
    """:func:`blend` without input checks, for hot loops (video): same-size masks, ``lut`` from
    :func:`colormap_lut` on the images' device."""
    index = (masks[:, 0] * (lut.shape[0] - 1) + 0.5).long().clamp_(0, lut.shape[0] - 1)
    heat = lut[index].permute(0, 3, 1, 2)
    return torch.lerp(images, heat, float(alpha))


def _fit(masks: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    if tuple(masks.shape[-2:]) == tuple(size):
        return masks
    return F.interpolate(masks, size=tuple(size), mode="bilinear", align_corners=False).clamp_(0.0, 1.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) floats in [0, 1] -> NumPy uint8 (B, H, W, C) on the CPU (rounded)."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        got = getattr(images, "shape", type(images).__name__)
        raise InputError(f"`images` must be a (B, C, H, W) tensor, got {got}.")
    pixels = images.detach().float().mul(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).cpu().numpy()


def mask_boxes(masks: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Tightest boxes (B, 4) ``(x0, y0, x1, y1)`` (exclusive x1, y1) around mask values above ``threshold``."""
    from .metrics.boxes import mask_to_box

    return mask_to_box(masks, threshold=threshold)


def draw_boxes(
    images: torch.Tensor, boxes: torch.Tensor, colour: Sequence[int] = BOX_COLOUR, width: int = 2
) -> torch.Tensor:
    """Return a copy of ``images`` (B, 3, H, W) in [0, 1] with box outlines drawn in, without leaving the device.

    ``boxes`` is (B, 4) ``(x0, y0, x1, y1)`` with exclusive x1, y1 in image pixels; the outline lies
    inside the box. Batched and vectorised: this is what the video overlays use.

    Example:
        >>> import torch
        >>> out = draw_boxes(torch.zeros(1, 3, 6, 6), torch.tensor([[1.0, 1.0, 5.0, 5.0]]), (255, 0, 0), 1)
        >>> out[0, 0].int().tolist()[1]
        [0, 1, 1, 1, 1, 0]
    """
    b, _, h, w = images.shape
    if boxes.shape != (b, 4):
        raise InputError(f"`boxes` must have shape ({b}, 4) for {b} images, got {tuple(boxes.shape)}.")
    box = boxes.round().long().to(images.device)
    x0, y0, x1, y1 = (box[:, k].view(b, 1, 1) for k in range(4))
    ys = torch.arange(h, device=images.device).view(1, h, 1)
    xs = torch.arange(w, device=images.device).view(1, 1, w)
    inside = (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
    core = (xs >= x0 + width) & (xs < x1 - width) & (ys >= y0 + width) & (ys < y1 - width)
    outline = (inside & ~core).unsqueeze(1)  # (B, 1, H, W)
    paint = torch.tensor(colour, dtype=images.dtype, device=images.device).view(1, 3, 1, 1) / 255.0
    return torch.where(outline, paint, images)


@functools.lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # old Pillow or no FreeType: the fixed bitmap font
        return ImageFont.load_default()


def caption(
    class_name: str | None = None, prob: float | None = None, metric: float | None = None, extra: str | None = None
) -> str:
    """Standard caption text, e.g. ``"tabby cat  |  p = 0.87  |  saliency metric = -1.23"``.

    The saliency metric is Dabkowski & Gal's ``log(max(a, 0.05)) - log(p)`` (lower is better).
    """
    parts = []
    if class_name is not None:
        parts.append(str(class_name))
    if prob is not None:
        parts.append(f"p = {prob:.2f}")
    if metric is not None:
        parts.append(f"saliency metric = {metric:.2f}")
    if extra:
        parts.append(str(extra))
    return "  |  ".join(parts)


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font, max_width: int) -> str:
    if draw.textlength(text, font=font) <= max_width:
        return text
    while text and draw.textlength(text + "...", font=font) > max_width:
        text = text[:-1]
    return text + "..."


def _caption_strip(text: str, width: int, font_size: int) -> Image.Image:
    font = _font(font_size)
    pad = max(3, font_size // 3)
    strip = Image.new("RGB", (width, font_size + 2 * pad), (24, 24, 28))
    draw = ImageDraw.Draw(strip)
    draw.text((pad, pad), _fit_text(draw, text, font, width - 2 * pad), fill=(240, 240, 240), font=font)
    return strip


def _font_size_for(width: int) -> int:
    return int(min(28, max(12, round(width / 24))))


def _stack_vertical(top: Image.Image, bottom: Image.Image) -> Image.Image:
    out = Image.new("RGB", (top.width, top.height + bottom.height))
    out.paste(top, (0, 0))
    out.paste(bottom, (0, top.height))
    return out


def _prepare(
    images: torch.Tensor, masks: torch.Tensor, min_side: int | None
) -> tuple[torch.Tensor, torch.Tensor, float]:
    check_images(images)
    check_masks(masks)
    check_same_batch(images=images, masks=masks)
    images = images.detach()
    masks = _fit(masks.detach().to(images.dtype), images.shape[-2:])
    scale = 1.0
    short = min(images.shape[-2:])
    if min_side is not None and short < min_side:
        scale = min_side / short
        size = (round(images.shape[-2] * scale), round(images.shape[-1] * scale))
        images = F.interpolate(images, size=size, mode="bicubic", align_corners=False).clamp_(0, 1)
        masks = F.interpolate(masks, size=size, mode="bilinear", align_corners=False).clamp_(0, 1)
    return images, masks, scale


def overlay(
    image: torch.Tensor | np.ndarray | Image.Image,
    mask: torch.Tensor | np.ndarray,
    alpha: float = 0.5,
    cmap: str = DEFAULT_CMAP,
) -> np.ndarray:
    """One image blended with its mask's heat map, as an RGB ``uint8`` array (H, W, 3) ready for matplotlib or
    Pillow.

    ``image`` is (3, H, W) or (1, 3, H, W) in [0, 1], a numpy photo (H, W, 3) (uint8, or float in [0, 1]) or a PIL
    image; ``mask`` is a tensor or array (h, w), (1, h, w) or (1, 1, h, w) in [0, 1]
    at any resolution (resized to the image). Like pytorch-grad-cam's ``show_cam_on_image``.

    Example:
        >>> import torch
        >>> overlay(torch.rand(3, 20, 30), torch.rand(5, 5)).shape
        (20, 30, 3)
    """
    if isinstance(image, (np.ndarray, Image.Image)):  # a photo as people have it: (H, W, 3) uint8 / float, or PIL
        from .io import to_image_tensor

        image = to_image_tensor(image)
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))
    if not isinstance(image, torch.Tensor) or not isinstance(mask, torch.Tensor):
        raise InputError(
            "`image` must be a tensor (3, H, W), a numpy photo (H, W, 3) or a PIL image, "
            "and `mask` a tensor or array (H, W)."
        )
    images = image.unsqueeze(0) if image.dim() == 3 else image
    one_mask = mask.dim() in (2, 3, 4) and mask.numel() == mask.shape[-2] * mask.shape[-1]
    masks = mask.reshape(1, 1, *mask.shape[-2:]) if one_mask else mask
    if images.dim() != 4 or images.shape[0] != 1:
        raise InputError(
            f"`image` must be one image (3, H, W) or (1, 3, H, W), got {tuple(image.shape)}; "
            "for batches use render_overlays."
        )
    shown, shown_masks, _ = _prepare(images, masks, None)
    return to_uint8(blend(shown, shown_masks, alpha, cmap))[0]


@dataclass(frozen=True)
class OverlayStyle:
    """The look of an overlay: the heat map of colour map ``cmap`` blended with weight ``alpha``, and the
    tightest box around ``mask > threshold`` outlined in ``box_colour``.

    Example:
        >>> OverlayStyle(alpha=0.7).cmap
        'inferno'
    """

    alpha: float = 0.5
    cmap: str = DEFAULT_CMAP
    threshold: float = 0.5
    box_colour: tuple[int, int, int] = BOX_COLOUR

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.alpha) <= 1.0:
            raise InputError(f"`alpha` must lie in [0, 1], got {self.alpha}.")


def _boxes_to_draw(
    boxes: torch.Tensor | bool, shown_masks: torch.Tensor, threshold: float, scale: float
) -> torch.Tensor | None:
    """The (B, 4) boxes :func:`render_overlays` draws on the shown (possibly upscaled) pictures, or None."""
    if boxes is True:
        return mask_boxes(shown_masks, threshold).cpu()
    if boxes is False or boxes is None:
        return None
    return boxes.detach().float().cpu() * scale


def render_overlays(
    images: torch.Tensor,
    masks: torch.Tensor,
    captions: Sequence[str] | None = None,
    *,
    boxes: torch.Tensor | bool = True,
    style: OverlayStyle | None = None,
    min_side: int | None = None,
) -> list[Image.Image]:
    """Image + heat map + tightest box + caption strip, one ``PIL.Image`` per batch element.

    Args:
        images: (B, 3, H, W) in [0, 1]; masks: (B, 1, h, w) in [0, 1] (resized to the images).
        captions: one text per image for a strip below it (see :func:`caption`), or ``None``.
        boxes: ``True`` draws the tightest box around ``mask > style.threshold``; ``False`` none;
            a (B, 4) tensor draws those boxes (image pixels, exclusive x1, y1).
        style: heat map and box look (default :class:`OverlayStyle()`).
        min_side: upscale small images (e.g. 224-pixel crops) so their shorter side is at least this.

    Example:
        >>> import torch
        >>> [p.size for p in render_overlays(torch.rand(1, 3, 32, 48), torch.rand(1, 1, 8, 12), min_side=64)]
        [(96, 64)]
    """
    style = OverlayStyle() if style is None else style
    if captions is not None and len(captions) != images.shape[0]:
        raise InputError(f"`captions` has {len(captions)} entries but there are {images.shape[0]} images.")
    if isinstance(boxes, torch.Tensor):
        from .metrics.boxes import check_boxes

        check_boxes(boxes)
        check_same_batch(images=images, boxes=boxes)
    shown, shown_masks, scale = _prepare(images, masks, min_side)
    pixels = to_uint8(blend(shown, shown_masks, style.alpha, style.cmap))
    drawn_boxes = _boxes_to_draw(boxes, shown_masks, style.threshold, scale)
    out = []
    for i in range(pixels.shape[0]):
        picture = Image.fromarray(pixels[i])
        if drawn_boxes is not None:
            _draw_box(picture, drawn_boxes[i].tolist(), style.box_colour)
        if captions is not None:
            strip = _caption_strip(captions[i], picture.width, _font_size_for(picture.width))
            picture = _stack_vertical(picture, strip)
        out.append(picture)
    return out


def _visible_box(box: Sequence[float], min_size: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Integer box grown (around its centre, inside the picture) to at least ``min_size`` pixels a side, so tiny
    boxes stay visible."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    out = []
    for lo, hi, limit in ((x0, x1, size[0]), (y0, y1, size[1])):
        need = min(min_size, limit)
        if hi - lo < need:
            lo = max(0, min(limit - need, (lo + hi - need) // 2))
            hi = lo + need
        out.append((lo, hi))
    return out[0][0], out[1][0], out[0][1], out[1][1]


def _draw_box(picture: Image.Image, box: Sequence[float], colour: Sequence[int]) -> None:
    """Outline ``box`` (exclusive x1, y1) with a dark halo so it reads on bright and dark backgrounds."""
    draw = ImageDraw.Draw(picture)
    line = max(2, round(min(picture.size) / 150))
    x0, y0, x1, y1 = _visible_box(box, 2 * line + 6, picture.size)
    inner = (x0, y0, x1 - 1, y1 - 1)
    draw.rectangle(inner, outline=(0, 0, 0), width=line + 2)
    draw.rectangle((inner[0] + 1, inner[1] + 1, inner[2] - 1, inner[3] - 1), outline=tuple(colour), width=line)


def render_panels(
    images: torch.Tensor,
    masks: torch.Tensor,
    captions: Sequence[str] | None = None,
    *,
    style: OverlayStyle | None = None,
    min_side: int | None = 256,
    gap: int = 4,
) -> list[Image.Image]:
    """``original | overlay (heat map + box) | mask (grey, white = evidence)`` side by side, with a caption strip.

    ``style`` is the overlay's look (see :func:`render_overlays`), ``gap`` the white space between the three.

    Example:
        >>> import torch
        >>> render_panels(torch.rand(1, 3, 32, 32), torch.rand(1, 1, 32, 32), min_side=None, gap=2)[0].size
        (100, 32)
    """
    if captions is not None and len(captions) != images.shape[0]:
        raise InputError(f"`captions` has {len(captions)} entries but there are {images.shape[0]} images.")
    shown, shown_masks, _ = _prepare(images, masks, min_side)
    overlays = render_overlays(shown, shown_masks, None, style=style)
    originals = to_uint8(shown)
    greys = to_uint8(shown_masks.expand(-1, 3, -1, -1))
    out = []
    for i, overlay in enumerate(overlays):
        w, h = overlay.size
        panel = Image.new("RGB", (3 * w + 2 * gap, h), (255, 255, 255))
        for k, tile in enumerate((Image.fromarray(originals[i]), overlay, Image.fromarray(greys[i]))):
            panel.paste(tile, (k * (w + gap), 0))
        if captions is not None:
            panel = _stack_vertical(panel, _caption_strip(captions[i], panel.width, _font_size_for(round(1.6 * w))))
        out.append(panel)
    return out


def contact_sheet(
    pictures: Sequence[Image.Image],
    labels: Sequence[str] | None = None,
    columns: int | None = None,
    tile_width: int = 320,
    gap: int = 8,
    background: Sequence[int] = (250, 250, 250),
) -> Image.Image:
    """Arrange pictures in a grid (each scaled to ``tile_width``), with an optional label above each.

    Example:
        >>> from PIL import Image
        >>> sheet = contact_sheet([Image.new("RGB", (40, 20))] * 3, columns=2, tile_width=40, gap=2)
        >>> sheet.size
        (86, 46)
    """
    if not pictures:
        raise InputError("`pictures` is empty; pass at least one picture.")
    if labels is not None and len(labels) != len(pictures):
        raise InputError(f"`labels` has {len(labels)} entries but there are {len(pictures)} pictures.")
    if columns is None:
        columns = min(len(pictures), max(1, math.ceil(math.sqrt(len(pictures)))))
    if columns < 1 or tile_width < 8:
        raise InputError(f"`columns` must be >= 1 and `tile_width` >= 8, got {columns} and {tile_width}.")
    tiles = [
        p.convert("RGB").resize((tile_width, max(1, round(p.height * tile_width / p.width))), Image.LANCZOS)
        for p in pictures
    ]
    font_size = _font_size_for(tile_width) if labels is not None else 0
    font = _font(font_size) if labels is not None else None
    label_h = font_size + 6 if labels is not None else 0
    rows = math.ceil(len(tiles) / columns)
    row_heights = [max(t.height for t in tiles[r * columns:(r + 1) * columns]) + label_h for r in range(rows)]
    width = columns * tile_width + (columns + 1) * gap
    height = sum(row_heights) + (rows + 1) * gap
    sheet = Image.new("RGB", (width, height), tuple(background))
    draw = ImageDraw.Draw(sheet)
    y = gap
    for r in range(rows):
        for c, tile in enumerate(tiles[r * columns:(r + 1) * columns]):
            x = gap + c * (tile_width + gap)
            if labels is not None:
                text = _fit_text(draw, labels[r * columns + c], font, tile_width)
                draw.text((x, y + 1), text, fill=(30, 30, 30), font=font)
            sheet.paste(tile, (x, y + label_h))
        y += row_heights[r] + gap
    return sheet
