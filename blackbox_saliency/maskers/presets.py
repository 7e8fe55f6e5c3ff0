"""Architecture presets of the masking model (decoder widths, depths, mask resolution).

``"paper"`` follows Dabkowski & Gal (2017), section 4: three upsampler blocks
with 768, 384 and 192 channels, three bottleneck blocks each, mask at 1/4 of
the input resolution. ``"fast"`` keeps the structure but is narrow and shallow
(64/32/16 channels, one bottleneck per block) so that the decoder costs a small
fraction of the encoder on a CPU. :data:`DEFAULT_PRESET` (``"paper"``) is the one default
(``TrainConfig.preset``, ``blackbox-saliency train --preset``).

Example:
    >>> from dataclasses import asdict
    >>> from blackbox_saliency.maskers.presets import resolve_config
    >>> cfg = resolve_config("fast", bottlenecks_per_block=2)
    >>> cfg.upsampler_channels, cfg.bottlenecks_per_block
    ((64, 32, 16), 2)
    >>> sorted(asdict(cfg))[:2]
    ['bottleneck_reduction', 'bottlenecks_per_block']
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from ..errors import InputError

__all__ = ["DEFAULT_PRESET", "MaskerConfig", "PRESETS", "resolve_config"]


# : Bounds that no real decoder reaches; a config beyond them (e.g. a crafted checkpoint) is refused before anything is
# built.
MAX_CHANNELS = 8192
#: The largest side a masker may resize its input to (``input_size``): bounds the memory a config can ask for.
MAX_INPUT_SIZE = 4096
MAX_BLOCKS = 8
MAX_BOTTLENECKS = 16


@dataclass(frozen=True)
class MaskerConfig:
    """Decoder hyper-parameters (everything except the encoder and the number of classes).

    Attributes:
        upsampler_channels: output channels of each upsampler block, coarse to fine. The number of
            blocks is ``len(upsampler_channels)``, capped at (encoder scales - 1); each block doubles
            the resolution, so the mask stride is ``coarsest_stride / 2**blocks``.
        bottlenecks_per_block: residual bottleneck blocks after each upsample + concatenation.
        bottleneck_reduction: inner width of a bottleneck = channels // bottleneck_reduction (He et al.: 4).
        embedding_init_std: std of the random class-embedding init, as a multiple of 1/sqrt(C).
        mask_eps: epsilon in ``M = |C0| / (|C0| + |C1| + eps)``.
        feature_filter: ``"paper"`` gates the coarsest map with ``sigmoid(X . C_s)``; ``"relative"``
            with the class-relative score (see :mod:`~blackbox_saliency.maskers.feature_filter`).
        gate_skips: also multiply every skip feature map the decoder concatenates by the class gate
            (bilinearly upsampled). The paper gates the coarsest map only, which leaves the decoder free
            to draw a class-independent "objectness" mask from the skips; gating them makes the class
            selector decide where the mask may be non-zero.
        input_size: ``None`` runs the encoder at the image's own resolution; ``(H, W)`` resizes the
            images to that size first (the mask is still returned at the image's resolution).
        class_prior: start from the encoder's own class activation map: ``M = sigmoid(a * prior + b + residual)``
            with ``prior = relu(X . W_c) / max_k,ij relu(X_ij . W_k)`` from the encoder's head ``W`` and the
            decoder predicting a zero-initialised ``residual`` (see :mod:`~blackbox_saliency.maskers.prior`).
            Needs an encoder whose head has the masker's classes; without one the masker falls back to the
            paper's two-channel head (and records ``class_prior=False``).
        prior_scale, prior_offset: the initial ``a`` and ``b`` (both learnt). The mask's 0.5 level, where the
            saliency metric draws its box, lies where the prior is ``-b / a``.
        prior_floor: the prior divides a class's map by ``max(its own peak, prior_floor * the strongest class's peak)``:
            1 dims every class but the strongest, 0 is plain CAM; 0.25 keeps fake selectors dim while a real second
            class keeps its own scale.

    ``a = 10, b = -7, prior_floor = 0.25`` (the 0.5 level at 0.7 of the peak) had the lowest saliency metric on 300
    *training* photos (150 each of ImageNet ``sample/`` and ``train_extra/``; floors 0.25 / 0.5 / 1 and levels 0.5..0.8
    tried: the model card of the shipped ``efficientnet_lite0`` masker has the table).
    """

    upsampler_channels: tuple[int, ...] = (64, 32, 16)
    bottlenecks_per_block: int = 1
    bottleneck_reduction: int = 4
    embedding_init_std: float = 1.0
    mask_eps: float = 1e-6
    feature_filter: str = "paper"
    gate_skips: bool = False
    input_size: tuple[int, int] | None = None
    class_prior: bool = False
    prior_scale: float = 10.0
    prior_offset: float = -7.0
    prior_floor: float = 0.25

    def __post_init__(self) -> None:
        self._check_types()
        object.__setattr__(self, "upsampler_channels", tuple(int(c) for c in self.upsampler_channels))
        self._check_ranges()

    def _check_types(self) -> None:
        """InputError naming the first field of the wrong type or beyond what any masker needs."""
        if not isinstance(self.upsampler_channels, (list, tuple)) or not all(
            _is_int(c) for c in self.upsampler_channels
        ):
            raise InputError(f"`upsampler_channels` must be a sequence of ints, got {self.upsampler_channels!r}.")
        channels = tuple(int(c) for c in self.upsampler_channels)
        if not channels or min(channels) < 1 or max(channels) > MAX_CHANNELS or len(channels) > MAX_BLOCKS:
            raise InputError(
                f"`upsampler_channels` must be 1..{MAX_BLOCKS} ints in 1..{MAX_CHANNELS}, got "
                f"{self.upsampler_channels!r}."
            )
        for name, top in (("bottlenecks_per_block", MAX_BOTTLENECKS), ("bottleneck_reduction", MAX_CHANNELS)):
            if not _is_int(getattr(self, name)) or int(getattr(self, name)) > top:
                raise InputError(f"`{name}` must be an int of at most {top}, got {getattr(self, name)!r}.")
        for name in ("mask_eps", "embedding_init_std", "prior_scale", "prior_offset", "prior_floor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"`{name}` must be a finite number, got {value!r}.")
        if not isinstance(self.class_prior, bool) or not isinstance(self.gate_skips, bool):
            raise InputError(
                f"`class_prior` and `gate_skips` must be True or False, got {self.class_prior!r} and "
                f"{self.gate_skips!r}."
            )

    def _check_ranges(self) -> None:
        """InputError naming the first field outside its range (types already checked)."""
        if int(self.bottlenecks_per_block) < 0:
            raise InputError(f"`bottlenecks_per_block` must be >= 0, got {self.bottlenecks_per_block}.")
        if int(self.bottleneck_reduction) < 1:
            raise InputError(f"`bottleneck_reduction` must be >= 1, got {self.bottleneck_reduction}.")
        if not self.mask_eps > 0:
            raise InputError(f"`mask_eps` must be > 0, got {self.mask_eps}.")
        from .feature_filter import FILTER_MODES

        if self.feature_filter not in FILTER_MODES:
            raise InputError(f"`feature_filter` must be one of {FILTER_MODES}, got {self.feature_filter!r}.")
        if not float(self.prior_scale) > 0:
            raise InputError(f"`prior_scale` must be > 0, got {self.prior_scale}.")
        if not 0.0 <= float(self.prior_floor) <= 1.0:
            raise InputError(f"`prior_floor` must lie in [0, 1], got {self.prior_floor}.")
        if not float(self.embedding_init_std) >= 0:
            raise InputError(f"`embedding_init_std` must be >= 0, got {self.embedding_init_std}.")
        self._check_input_size()

    def _check_input_size(self) -> None:
        if self.input_size is not None:
            size = self.input_size
            if (
                not isinstance(size, (list, tuple))
                or len(size) != 2
                or not all(_is_int(s) and 8 <= s <= MAX_INPUT_SIZE for s in size)
            ):
                raise InputError(
                    f"`input_size` must be None or (height, width), two ints in 8..{MAX_INPUT_SIZE}, got "
                    f"{self.input_size!r}."
                )
            object.__setattr__(self, "input_size", tuple(size))

    def to_dict(self) -> dict:
        """JSON-able dict (tuples become lists)."""
        out = asdict(self)
        out["upsampler_channels"] = list(self.upsampler_channels)
        out["input_size"] = None if self.input_size is None else list(self.input_size)
        return out


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


PRESETS: dict[str, MaskerConfig] = {
    "paper": MaskerConfig(upsampler_channels=(768, 384, 192), bottlenecks_per_block=3),
    "fast": MaskerConfig(upsampler_channels=(64, 32, 16), bottlenecks_per_block=1),
}

#: The preset a masker gets when none is named: the paper's architecture (what training defaults to).
DEFAULT_PRESET = "paper"


def resolve_config(preset: str = DEFAULT_PRESET, **overrides: object) -> MaskerConfig:
    """Return the preset's :class:`MaskerConfig` with ``overrides`` applied (unknown keys raise InputError)."""
    if preset not in PRESETS:
        raise InputError(f"unknown masker preset {preset!r}; choose one of {sorted(PRESETS)}.")
    known = {f.name for f in fields(MaskerConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InputError(f"unknown masker option(s) {unknown}; valid options: {sorted(known)}.")
    return replace(PRESETS[preset], **overrides)
