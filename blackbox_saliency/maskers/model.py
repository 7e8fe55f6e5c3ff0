"""The real-time masking model of Dabkowski & Gal (2017), section 4.

Frozen multi-scale encoder -> class-selective feature filter on the coarsest
scale -> upsampler blocks (transposed conv x2, concatenation with the encoder
map of that scale, bottlenecks) -> 1x1 conv to two channels ->
``M = |C0| / (|C0| + |C1| + eps)``. With ``class_prior=True`` (our extension, see
:mod:`~blackbox_saliency.maskers.prior`) the decoder instead refines the encoder's own class
activation map: ``M = sigmoid(a * prior + b + residual)``, the residual zero at initialisation.
The mask is computed at a fraction of the
input resolution (1/4 with a 5-scale encoder and three blocks) and
:meth:`SaliencyMasker.forward` upsamples it bilinearly to the image size.

Gradients reach the decoder and the class embedding only: the encoder's
parameters have ``requires_grad=False`` and it stays in eval mode.

Example:
    >>> import torch
    >>> from blackbox_saliency.maskers import SaliencyMasker
    >>> masker = SaliencyMasker(10, encoder="resnet18", encoder_pretrained=False, preset="fast").eval()
    >>> masker(torch.rand(2, 3, 64, 64), torch.tensor([3, 5])).shape
    torch.Size([2, 1, 64, 64])
    >>> out = masker.forward_train(torch.rand(2, 3, 64, 64), torch.tensor([3, 5]))
    >>> out.masks.shape, out.class_scores.shape
    (torch.Size([2, 1, 16, 16]), torch.Size([2]))
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..interfaces import MaskerOutput, TrainableMasker
from .decoder import Decoder
from .encoders import build_encoder
from .feature_filter import FeatureFilter
from .presets import DEFAULT_PRESET, resolve_config
from .prior import ClassPrior

__all__ = ["MAX_CLASSES", "MaskerOutput", "SaliencyMasker"]

#: More class selectors than any classifier has (ImageNet-21k: 21,841); a crafted config beyond it is refused.
MAX_CLASSES = 100_000


class SaliencyMasker(TrainableMasker):
    """Masking model: ``forward(images (B,3,H,W) in [0,1], classes (B,) int64) -> masks (B,1,H,W) in [0,1]``.

    Args:
        num_classes: number of class selectors (the black box's classes).
        encoder: encoder name (see :mod:`blackbox_saliency.maskers.encoders`).
        preset: ``"fast"`` or ``"paper"`` (default :data:`~blackbox_saliency.maskers.presets.DEFAULT_PRESET`, the one
            the trainer uses; see :mod:`blackbox_saliency.maskers.presets`).
        encoder_pretrained: load the encoder's pretrained weights (tests use ``False``).
        classifier_name: name of the black box this masker explains (recorded in :attr:`config`).
        **overrides: any :class:`~blackbox_saliency.maskers.presets.MaskerConfig` field.
    """

    exportable = True
    architecture = "saliency_masker"

    def __init__(
        self,
        num_classes: int,
        encoder: str = "efficientnet_lite0",
        preset: str = DEFAULT_PRESET,
        encoder_pretrained: bool = True,
        classifier_name: str | None = None,
        **overrides: object,
    ) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or not 1 <= num_classes <= MAX_CLASSES:
            raise InputError(f"`num_classes` must be an int in 1..{MAX_CLASSES}, got {num_classes!r}.")
        cfg = resolve_config(preset, **overrides)
        self.encoder = build_encoder(encoder, pretrained=encoder_pretrained)
        blocks = cfg.upsampler_channels[: len(self.encoder.channels) - 1]
        self.num_classes = num_classes
        self.classifier_name = classifier_name
        self.input_size = cfg.input_size
        self.gate_skips = bool(cfg.gate_skips)
        self.filter = FeatureFilter(
            num_classes, self.encoder.channels[-1], init_std=cfg.embedding_init_std, mode=cfg.feature_filter
        )
        head = self.encoder.head_weight
        use_prior = cfg.class_prior and head is not None and head.shape[0] == num_classes
        self.prior = ClassPrior(head, cfg.prior_scale, cfg.prior_offset, cfg.prior_floor) if use_prior else None
        self.decoder = Decoder(
            self.encoder.channels,
            blocks,
            cfg.bottlenecks_per_block,
            cfg.bottleneck_reduction,
            cfg.mask_eps,
            residual=use_prior,
        )
        self.mask_stride = self.encoder.strides[-1 - len(blocks)]
        self.coarsest_stride = int(max(self.encoder.strides))
        resolved = cfg.to_dict()
        resolved["upsampler_channels"] = list(blocks)
        resolved["class_prior"] = (
            use_prior  # asked for without a usable encoder head: the paper's head, recorded as such
        )
        self.config: dict = {
            "num_classes": num_classes,
            "encoder": encoder,
            "preset": preset,
            "encoder_pretrained": bool(encoder_pretrained),
            "classifier_name": classifier_name,
            **resolved,
        }

    # ----------------------------------------------------------------- parameters
    def frozen_modules(self) -> list[nn.Module]:
        """The pretrained encoder: never trained, rebuilt from :attr:`config` rather than saved."""
        return [self.encoder]

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """The decoder's, the class embedding's and the class prior's parameters (never the encoder's)."""
        yield from self.filter.parameters()
        yield from self.decoder.parameters()
        if self.prior is not None:
            yield from self.prior.parameters()

    def init_embedding_from(self, weight: torch.Tensor, scale: float = 1.0) -> None:
        """Initialise the class embedding with ``scale * weight`` (num_classes, coarsest channels), e.g. a classifier
        head."""
        self.filter.init_from(weight, scale)

    def encoder_head_classes(self) -> int | None:
        """Number of classes of the encoder's own head on its coarsest map (None without one)."""
        weight = self.encoder.head_weight
        return None if weight is None else int(weight.shape[0])

    def init_embedding_from_encoder_head(self, scale: float = 1.0) -> None:
        """Initialise the class embedding from the encoder's own classifier head.

        Works when the encoder's head maps the coarsest feature map to exactly ``num_classes``
        logits (EfficientNet-Lite0 and torchvision ResNets for 1000 ImageNet classes, the CIFAR
        ResNets for 10 classes). Then ``X_ij . C_s`` is the class-``s`` logit contribution of location ij.
        """
        weight = self.encoder.head_weight
        if weight is None:
            raise InputError(
                f"encoder {self.encoder.name!r} has no classifier head acting on its coarsest map "
                f"({self.encoder.channels[-1]} channels)."
            )
        if weight.shape[0] != self.num_classes:
            raise InputError(
                f"encoder {self.encoder.name!r}'s head has {weight.shape[0]} classes but this masker has "
                f"{self.num_classes}."
            )
        self.init_embedding_from(weight, scale)

    # ----------------------------------------------------------------- forward
    def encode(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Frozen encoder features (finest -> coarsest) of images in [0, 1], after the optional resize."""
        if self.input_size is not None and tuple(images.shape[-2:]) != tuple(self.input_size):
            downscale = images.shape[-2] > self.input_size[0] or images.shape[-1] > self.input_size[1]
            images = F.interpolate(
                images, size=self.input_size, mode="bilinear", align_corners=False, antialias=downscale
            )
        return self.encoder(images)

    def decode(self, features: list[torch.Tensor], classes: torch.Tensor) -> MaskerOutput:
        """Low-resolution masks and class scores from encoder features (lets a trainer reuse one encoding for several
        class selectors)."""
        filtered, gate, scores = self.filter.forward_with_gate(features[-1], classes)
        if self.gate_skips:
            features = [
                f * F.interpolate(gate, size=f.shape[-2:], mode="bilinear", align_corners=False) for f in features[:-1]
            ] + [filtered]
        out = self.decoder(filtered, features)
        if self.prior is not None:  # the decoder's output is a residual in logit space on top of the class prior
            out = torch.sigmoid(self.prior(features[-1], classes, tuple(out.shape[-2:])) + out)
        return MaskerOutput(out, scores)

    def _dtype(self) -> torch.dtype:
        return self.filter.embedding.weight.dtype

    def forward_train(
        self, images: torch.Tensor, classes: torch.Tensor, features: list[torch.Tensor] | None = None
    ) -> MaskerOutput:
        """Return low-resolution masks (B, 1, h, w) in [0, 1] and the class scores (B,).

        ``features`` (from :meth:`encode` of the same images) skips the encoder, e.g. to score a
        fake class selector on the same batch. No input checks: this is the training step's hot path
        (the trainer validates its data where it enters; call the masker itself for checked masks).
        """
        if features is None:
            features = self.encode(images.to(self._dtype()))
        return self.decode(features, classes)

    def forward(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Return masks (B, 1, H, W) in [0, 1] at the resolution of ``images``, in their dtype (calling the masker
        checks the input first)."""
        low = self.decode(self.encode(images.to(self._dtype())), classes).masks
        return F.interpolate(low, size=images.shape[-2:], mode="bilinear", align_corners=False).to(images.dtype)

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, encoder={self.encoder.name!r}, mask_stride={self.mask_stride}, "
            f"class_prior={self.prior is not None}, classifier_name={self.classifier_name!r}"
        )
