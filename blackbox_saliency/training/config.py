"""Settings of a masker training run (:class:`TrainConfig`).

Objective coefficients default to :class:`~blackbox_saliency.objective.SaliencyObjective`'s (the
paper's); the architecture defaults to the paper's preset.

Example:
    >>> from blackbox_saliency.training.config import TrainConfig
    >>> cfg = TrainConfig(classifier="cifar10_resnet20", data="cifar10", out="runs/c10", preset="fast", steps=100)
    >>> cfg.validate().resolved_encoder()
    'cifar10_resnet20'
    >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
    True
"""

from __future__ import annotations

import inspect
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import InputError
from ..objective import VARIANTS, SaliencyObjective

__all__ = ["TrainConfig", "LABEL_SOURCES", "LR_SCHEDULES", "EMBEDDING_INITS", "RESUME_FREE_FIELDS", "objective_defaults"]

LABEL_SOURCES = ("dataset", "blackbox")
LR_SCHEDULES = ("constant", "cosine")
EMBEDDING_INITS = ("auto", "random", "encoder_head")
DEVICES = ("auto", "cpu", "cuda")

# Fields that may change when a run is resumed: they do not alter the training trajectory
# (``steps`` does only through the cosine schedule, which is why changing it is allowed but warned about).
RESUME_FREE_FIELDS = frozenset(
    {"steps", "out", "device", "num_workers", "threads", "progress", "val_data", "val_size", "val_every",
     "val_batch_size", "log_every", "checkpoint_every", "resume", "overwrite", "command_line"}
)


def objective_defaults() -> dict[str, Any]:
    """Default coefficients of :class:`SaliencyObjective` (the single source of the paper's values)."""
    params = inspect.signature(SaliencyObjective.__init__).parameters
    names = ("tv_coef", "area_coef", "destroy_coef", "destroy_power", "area_power", "variant")
    return {n: params[n].default for n in names}


_OBJ = objective_defaults()


@dataclass
class TrainConfig:
    """Everything that defines a masker training run (JSON-able via :meth:`to_dict`).

    Model: ``classifier`` (black-box name), ``encoder`` (None = the classifier's name when it is also an
    encoder), ``encoder_pretrained``, ``preset``, ``masker_overrides`` (any MaskerConfig field, e.g.
    ``{"upsampler_channels": [64, 32, 16]}``), ``embedding_init`` (``auto`` uses the encoder's own
    classifier head when it has ``num_classes`` outputs), ``init_from`` (fine-tune: start from the
    decoder and embedding of a ``masker.pt`` or ``checkpoint.pt``, whose architecture then replaces
    ``preset`` and ``masker_overrides``).

    Data: ``data`` (see :func:`~blackbox_saliency.training.data.build_dataset`), ``data_kind``,
    ``image_size`` (None = the classifier's input size), ``augment``, ``crop_scale``, ``labels``
    (``dataset`` or ``blackbox``: the classifier's own top-1), ``val_data``/``val_size``/``val_every``.

    Objective: ``tv_coef``, ``area_coef``, ``destroy_coef``, ``destroy_power``, ``area_power``,
    ``variant``, ``remover`` (evidence remover name), ``fake_prob`` (probability of a fake class
    selector), ``aux_coef`` (weight of the class-score binary cross-entropy).

    Optimisation: ``steps``, ``batch_size`` (per process), ``lr``, ``weight_decay``, ``lr_schedule``,
    ``warmup_steps``, ``grad_clip`` (0 = off), ``seed``.

    Run: ``out`` folder, ``resume`` (None, ``"auto"`` = ``out/checkpoint.pt``, or a path), ``overwrite``
    (start anew in an ``out`` that holds a run; without it or ``resume`` such a folder is refused),
    ``checkpoint_every``, ``log_every``, ``device``, ``num_workers`` (-1 = auto), ``threads``, ``progress``.

    Speed: ``precision`` (``auto``/``fp32``/``bf16``/``fp16``: autocast of the frozen encoder and black box,
    see :mod:`~blackbox_saliency.training.precision`), ``channels_last`` (run the frozen networks in the
    channels-last memory format), ``compile`` (``torch.compile`` the masker's forward).
    """

    classifier: str = "efficientnet_lite0"
    data: str | list[str] = ""
    out: str = "runs/masker"
    encoder: str | None = None
    encoder_pretrained: bool = True
    preset: str = "paper"
    masker_overrides: dict[str, Any] = field(default_factory=dict)
    embedding_init: str = "auto"
    init_from: str | None = None

    data_kind: str = "auto"
    image_size: int | None = None
    augment: str = "standard"
    crop_scale: tuple[float, float] = (0.35, 1.0)
    labels: str = "dataset"
    val_data: str | None = None
    val_size: int = 500
    val_every: int = 500
    val_batch_size: int | None = None

    tv_coef: float = _OBJ["tv_coef"]
    area_coef: float = _OBJ["area_coef"]
    destroy_coef: float = _OBJ["destroy_coef"]
    destroy_power: float = _OBJ["destroy_power"]
    area_power: float | None = _OBJ["area_power"]
    variant: str = _OBJ["variant"]
    remover: str = "paper"
    fake_prob: float = 0.3
    aux_coef: float = 1.0

    steps: int = 5000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    grad_clip: float = 0.0
    seed: int = 0

    resume: str | None = None
    overwrite: bool = False
    checkpoint_every: int = 200
    log_every: int = 10
    device: str = "auto"
    num_workers: int = -1
    threads: int | None = None
    progress: bool = True
    command_line: str | None = None

    precision: str = "auto"
    channels_last: bool = True
    compile: bool = False

    # ------------------------------------------------------------------ helpers
    def resolved_encoder(self) -> str:
        """The encoder name: ``encoder``, or the classifier's name when that is a registered encoder."""
        if self.encoder:
            return self.encoder
        from ..maskers.encoders import available_encoders

        if self.classifier in available_encoders():
            return self.classifier
        raise InputError(
            f"classifier {self.classifier!r} is not also an encoder; choose the masker's encoder with --encoder "
            f"(e.g. {', '.join(available_encoders()[:6])}, ...)."
        )

    def data_paths(self) -> list[str]:
        """``data`` as a list of paths (it may name one path or several)."""
        return [self.data] if isinstance(self.data, str) else [str(p) for p in self.data]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (tuples become lists)."""
        out = asdict(self)
        out["data"] = self.data if isinstance(self.data, str) else list(self.data)
        out["crop_scale"] = list(self.crop_scale)
        out["masker_overrides"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.masker_overrides.items()}
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise InputError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown training option(s) {unknown}; valid: {sorted(known)}.")
        values = dict(values)
        if "crop_scale" in values and values["crop_scale"] is not None:
            values["crop_scale"] = tuple(values["crop_scale"])
        return cls(**values)

    def differences(self, other: TrainConfig, ignore: frozenset[str] = RESUME_FREE_FIELDS) -> dict[str, tuple[Any, Any]]:
        """``{field: (self_value, other_value)}`` for fields that differ, except ``ignore``."""
        mine, theirs = self.to_dict(), other.to_dict()
        return {k: (mine[k], theirs[k]) for k in mine if k not in ignore and mine[k] != theirs.get(k)}

    def validate(self) -> TrainConfig:
        """Check every value; raise InputError naming the option and the fix. Returns ``self``."""

        def positive_int(name: str, value: object, minimum: int = 1) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise InputError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")

        def non_negative(name: str, value: object) -> None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InputError(f"`{name}` must be a finite number >= 0, got {value!r}.")

        if not isinstance(self.classifier, str) or not self.classifier:
            raise InputError("`classifier` must name a black box (see `blackbox-saliency plugins`).")
        if not self.data or not all(isinstance(p, str) and p for p in self.data_paths()):
            raise InputError("`data` is required: an .npz file or a folder of images (--data PATH, repeat it to draw from several).")
        from .precision import PRECISIONS

        if self.precision not in PRECISIONS:
            raise InputError(f"`precision` must be one of {PRECISIONS}, got {self.precision!r}.")
        if not self.out:
            raise InputError("`out` is required: the folder for checkpoints and the trained masker (--out DIR).")
        if self.resume and self.overwrite:
            raise InputError("`resume` and `overwrite` contradict each other: --resume continues the run in --out, --overwrite replaces it; pass one.")
        from ..maskers.presets import PRESETS

        if self.preset not in PRESETS:
            raise InputError(f"`preset` must be one of {sorted(PRESETS)}, got {self.preset!r}.")
        for name, value, allowed in (
            ("embedding_init", self.embedding_init, EMBEDDING_INITS),
            ("labels", self.labels, LABEL_SOURCES),
            ("lr_schedule", self.lr_schedule, LR_SCHEDULES),
            ("variant", self.variant, VARIANTS),
            ("device", self.device.split(":")[0], DEVICES),
        ):
            if value not in allowed:
                raise InputError(f"`{name}` must be one of {allowed}, got {value!r}.")
        from .data import AUGMENTATIONS, DATA_KINDS

        if self.data_kind not in DATA_KINDS:
            raise InputError(f"`data_kind` must be one of {DATA_KINDS}, got {self.data_kind!r}.")
        if self.augment not in AUGMENTATIONS:
            raise InputError(f"`augment` must be one of {AUGMENTATIONS}, got {self.augment!r}.")
        if self.image_size is not None:
            positive_int("image_size", self.image_size, 8)
        lo, hi = self.crop_scale
        if not 0.0 < float(lo) <= float(hi) <= 1.0:
            raise InputError(f"`crop_scale` must satisfy 0 < min <= max <= 1, got {self.crop_scale!r}.")
        positive_int("steps", self.steps)
        positive_int("batch_size", self.batch_size)
        positive_int("val_size", self.val_size)
        positive_int("val_every", self.val_every, 0)
        positive_int("checkpoint_every", self.checkpoint_every, 0)
        positive_int("log_every", self.log_every)
        positive_int("warmup_steps", self.warmup_steps, 0)
        positive_int("seed", self.seed, 0)
        if self.val_batch_size is not None:
            positive_int("val_batch_size", self.val_batch_size)
        if self.threads is not None:
            positive_int("threads", self.threads)
        positive_int("num_workers", self.num_workers, -1)
        for name in ("tv_coef", "area_coef", "destroy_coef", "destroy_power", "aux_coef", "weight_decay", "grad_clip"):
            non_negative(name, getattr(self, name))
        if self.area_power is not None:
            non_negative("area_power", self.area_power)
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not (math.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"`lr` must be a finite number > 0, got {self.lr!r}.")
        if not isinstance(self.fake_prob, (int, float)) or not 0.0 <= float(self.fake_prob) < 1.0:
            raise InputError(f"`fake_prob` must be in [0, 1), got {self.fake_prob!r}.")
        if not isinstance(self.masker_overrides, dict):
            raise InputError(f"`masker_overrides` must be a dict of MaskerConfig fields, got {type(self.masker_overrides).__name__}.")
        return self
