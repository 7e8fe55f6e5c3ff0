"""What :func:`~blackbox_saliency.explain` returns: :class:`ExplainResult`, with pictures (figure, notebook PNG, files).

Example:
    >>> import torch, blackbox_saliency as bs
    >>> from torch import nn
    >>> net = bs.BlackBoxClassifier(nn.Sequential(nn.Flatten(), nn.LazyLinear(3)), (8, 8), ["a", "b", "c"])
    >>> result = bs.explain(torch.rand(2, 3, 8, 8), masker=bs.load_masker("center", classifier=net), classifier=net)
    >>> type(result).__name__, len(result.pictures())
    ('ExplainResult', 2)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["ExplainResult"]

@dataclass
class ExplainResult:
    """What :func:`explain` returns; every tensor on the caller's device, K classes per image.

    Attributes:
        images: (B, 3, H, W) the images as the black box saw them (files: after its evaluation transform).
        classes: (B, K) int64 explained classes (top-K order, or the given ones with K = 1).
        masks: (B, K, H, W) saliency masks in [0, 1].
        probs: (B, K) the black box's probability of each explained class.
        boxes: (B, K, 4) tightest box (x0, y0, x1, y1), image pixels) around ``mask > 0.5``.
        saliency: (B, K) the saliency metric of each mask (lower is better).
        areas: (B, K) the area fraction of each box (the metric's first term, before the 0.05 floor).
        box_probs: (B, K) the black box's probability of the class on each box crop (its second term).
        class_names: (B, K) nested list of names (``"class N"`` when the black box has none).
    """

    images: torch.Tensor
    classes: torch.Tensor
    masks: torch.Tensor
    probs: torch.Tensor
    boxes: torch.Tensor
    saliency: torch.Tensor
    areas: torch.Tensor
    box_probs: torch.Tensor
    class_names: list[list[str]]

    def pictures(self, min_side: int = 224) -> list:
        """One overlay (image, heat map, box, caption) per image and class, as ``PIL.Image`` pictures, image by
        image."""
        from .visualize import caption, render_overlays

        batch, k = self.classes.shape
        images = self.images.detach().float().cpu().repeat_interleave(k, dim=0)
        masks = self.masks.detach().float().cpu().reshape(batch * k, 1, *self.masks.shape[-2:])
        captions = [
            caption(self.class_names[i][j], float(self.probs[i, j]), float(self.saliency[i, j]))
            for i in range(batch)
            for j in range(k)
        ]
        return render_overlays(
            images, masks, captions, boxes=self.boxes.detach().float().cpu().reshape(-1, 4), min_side=min_side
        )

    def figure(self, columns: int | None = None, tile_width: int = 256):
        """All overlays in one grid (a ``PIL.Image``), a row per image when K > 1.

        Example:
            >>> import blackbox_saliency as bs, torch  # doctest: +SKIP
            >>> bs.explain(torch.rand(2, 3, 224, 224), topk=2).figure().size  # doctest: +SKIP
        """
        from .visualize import contact_sheet

        k = self.classes.shape[1]
        return contact_sheet(
            self.pictures(), columns=columns or (k if k > 1 else min(4, self.classes.shape[0])), tile_width=tile_width
        )

    def _repr_png_(self) -> bytes:
        """Jupyter shows the result as its :meth:`figure`."""
        import io

        from .visualize import PNG_COMPRESS_LEVEL

        buffer = io.BytesIO()
        self.figure().save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        return buffer.getvalue()

    def show(self):
        """Display the :meth:`figure` (inline in a notebook, else in the system's image viewer); returns it."""
        picture = self.figure()
        try:
            from IPython.display import display

            display(picture)
        except ImportError:
            picture.show()
        return picture

    def save(self, folder: str | os.PathLike[str], overwrite: bool = False) -> list[Path]:
        """Write ``image<i>_class<j>.png`` overlays and ``image<i>_class<j>_mask.npy`` masks into ``folder``;
        existing files are refused unless ``overwrite``. Returns the written paths."""
        import numpy as np

        from .atomic import atomic_write, check_outputs_free
        from .visualize import PNG_COMPRESS_LEVEL

        folder = Path(folder)
        batch, k = self.classes.shape
        stems = [f"image{i}_class{int(self.classes[i, j])}" for i in range(batch) for j in range(k)]
        paths = [folder / f"{stem}{suffix}" for stem in stems for suffix in (".png", "_mask.npy")]
        check_outputs_free(paths, overwrite=overwrite)
        folder.mkdir(parents=True, exist_ok=True)
        masks = self.masks.detach().float().cpu().reshape(batch * k, *self.masks.shape[-2:]).numpy()
        for stem, picture, mask in zip(stems, self.pictures(), masks):
            atomic_write(
                folder / f"{stem}.png",
                lambda handle, picture=picture: picture.save(handle, format="PNG", compress_level=PNG_COMPRESS_LEVEL),
            )
            atomic_write(
                folder / f"{stem}_mask.npy", lambda handle, mask=mask: np.save(handle, mask.astype(np.float32))
            )
        return paths
