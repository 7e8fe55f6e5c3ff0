"""Settings of a masker training run (:class:`TrainConfig`).

Objective coefficients default to :class:`~blackbox_saliency.objective.SaliencyObjective`'s (the
paper's); the architecture defaults to :data:`~blackbox_saliency.maskers.presets.DEFAULT_PRESET`.
Each field's metadata describes its command-line option (``blackbox-saliency train`` is generated
from it): ``group``, ``help``, and where they apply ``flag`` (None: no option of its own),
``choices`` (a tuple, or a function returning one), ``required``, ``metavar``, ``const`` (the value
of the bare flag) and ``dashes`` (choices spelled with ``-`` instead of ``_`` on the command line).

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
from collections.abc import Callable
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from typing import Any

from ..errors import InputError
from ..maskers.presets import DEFAULT_PRESET, PRESETS
from ..objective import VARIANTS, SaliencyObjective
from .precision import PRECISIONS

__all__ = ["TrainConfig", "LABEL_SOURCES", "LR_SCHEDULES", "EMBEDDING_INITS", "OBJECTIVE_FIELDS", "RESUME_FREE_FIELDS", "field_choices", "field_default", "objective_defaults"]

LABEL_SOURCES = ("dataset", "blackbox")
LR_SCHEDULES = ("constant", "cosine")
EMBEDDING_INITS = ("auto", "random", "encoder_head")
DEVICES = ("auto", "cpu", "cuda")

# Fields that may change when a run is resumed: they do not alter the training trajectory
# (``steps`` does only through the cosine schedule, which is why changing it is allowed but warned about).
RESUME_FREE_FIELDS = frozenset(
    {"steps", "out", "device", "num_workers", "threads", "progress", "val_data", "val_size", "val_every",
     "val_batch_size", "select_metric", "log_every", "checkpoint_every", "resume", "overwrite", "command_line"}
)


#: The TrainConfig fields that are :class:`SaliencyObjective` arguments of the same name.
OBJECTIVE_FIELDS = ("tv_coef", "area_coef", "destroy_coef", "destroy_power", "area_power", "variant", "crop_coef")


def objective_defaults() -> dict[str, Any]:
    """Default coefficients of :class:`SaliencyObjective` (the single source of the paper's values)."""
    params = inspect.signature(SaliencyObjective.__init__).parameters
    return {n: params[n].default for n in OBJECTIVE_FIELDS}


def _selection_metrics() -> dict[str, str]:
    from .validation import SELECTION_METRICS

    return SELECTION_METRICS


_OBJ = objective_defaults()
_NO_FLAG = object()


def _data_choices() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(DATA_KINDS, AUGMENTATIONS)`` of the data module (imported when needed: it pulls in torchvision)."""
    from .data import AUGMENTATIONS, DATA_KINDS

    return DATA_KINDS, AUGMENTATIONS


def _opt(default: Any, group: str, help: str, flag: Any = _NO_FLAG, **cli: Any) -> Any:
    """A TrainConfig field with its command-line metadata (``default`` may be a factory such as ``dict``)."""
    metadata = {"group": group, "help": help, **cli}
    if flag is not _NO_FLAG:
        metadata["flag"] = flag
    if callable(default):
        return field(default_factory=default, metadata=metadata)
    return field(default=default, metadata=metadata)


def field_choices(f: Field) -> tuple[str, ...] | None:
    """The allowed values of a TrainConfig field (None: any value of its type)."""
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = f.metadata.get("choices")
    return choices() if callable(choices) else choices


def field_default(f: Field) -> Any:
    """The default value of a TrainConfig field."""
    return f.default_factory() if f.default is MISSING else f.default


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
    (``dataset`` or ``blackbox``: the classifier's own top-1), ``whole_view_prob``, ``val_data``/``val_size``/``val_every``,
    ``select_metric`` (the validation column that picks ``best.pt``).

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

    classifier: str = _opt("efficientnet_lite0", "model", "black box to explain (a name from `blackbox-saliency plugins`)", required=True)
    data: str | list[str] = _opt("", "data", "training images: .npz, folder of .npz, ImageFolder, folder with index.csv, or flat folder; "
                                 "repeat it to draw from several", required=True)
    out: str = _opt("runs/masker", "run", "folder for checkpoint.pt, masker.pt, log.jsonl, result.json", required=True)
    encoder: str | None = _opt(None, "model", "frozen encoder of the masker (default: the classifier's name when it is an encoder)")
    encoder_pretrained: bool = _opt(True, "model", "random encoder weights (tests only)", flag="--no-pretrained-encoder")
    preset: str = _opt(DEFAULT_PRESET, "model", "decoder size (default %(default)s)", choices=tuple(PRESETS))
    masker_overrides: dict[str, Any] = _opt(dict, "model", "MaskerConfig fields replacing the preset's", flag=None)
    embedding_init: str = _opt("auto", "model", "class embedding init; auto = the encoder's own head when it has the classifier's classes "
                               "(default %(default)s)", choices=EMBEDDING_INITS, dashes=True)
    class_prior: bool = _opt(True, "model", "the paper's two-channel mask head instead of refining the encoder's own class activation map "
                             "(the prior is used only when the encoder's head has the classifier's classes)", flag="--no-class-prior")
    init_from: str | None = _opt(None, "model", "fine-tune: start from the weights (and architecture) of a registered masker (e.g. "
                                 "efficientnet_lite0, the shipped one), a masker.pt or a run's checkpoint.pt", metavar="MASKER_OR_CHECKPOINT")

    data_kind: str = _opt("auto", "data", "layout of --data (default: detect)", choices=lambda: _data_choices()[0])
    image_size: int | None = _opt(None, "data", "training image side (default: the classifier's input size)")
    augment: str = _opt("standard", "data", "augmentation (default %(default)s; heavy adds colour jitter)", choices=lambda: _data_choices()[1])
    crop_scale: tuple[float, float] = _opt((0.35, 1.0), "data", "random resized crop area range (default %(default)s)", metavar="MIN,MAX")
    whole_view_prob: float = _opt(0.0, "data", "share of training views that are the whole photo resized to the input, aspect ratio ignored "
                                  "(what evaluate shows), instead of a random resized crop (default %(default)s)")
    labels: str = _opt("dataset", "data", "class to explain: the data set's label or the black box's top-1 (default %(default)s)",
                       choices=LABEL_SOURCES)
    val_data: str | None = _opt(None, "data", "held-out images for the periodic saliency-metric validation")
    val_size: int = _opt(500, "data", "validation images (evenly spaced subset; default %(default)s)")
    val_every: int = _opt(500, "data", "validate every N steps (0: only at the end; default %(default)s)")
    val_batch_size: int | None = _opt(None, "data", "validation batch size (default: --batch-size)")
    select_metric: str = _opt("saliency", "data", "validation metric that picks out/best.pt (an evaluation report column; default %(default)s)",
                              choices=lambda: tuple(_selection_metrics()))

    tv_coef: float = _opt(_OBJ["tv_coef"], "objective", "total variation weight (default %(default)s)")
    area_coef: float = _opt(_OBJ["area_coef"], "objective", "area weight (default %(default)s)")
    destroy_coef: float = _opt(_OBJ["destroy_coef"], "objective", "destroyed-image score weight (default %(default)s)")
    destroy_power: float = _opt(_OBJ["destroy_power"], "objective", "destroyed-image score exponent (default %(default)s)")
    area_power: float | None = _opt(_OBJ["area_power"], "objective", "area exponent (default: 1 for paper, 0.3 for reference variant)")
    variant: str = _opt(_OBJ["variant"], "objective", "objective variant (default %(default)s)", choices=VARIANTS)
    crop_coef: float = _opt(_OBJ["crop_coef"], "objective", "weight of the crop-preserve term: the saliency metric on a soft box of the mask, "
                            "made differentiable (0 = off; default %(default)s)")
    remover: str = _opt("paper", "objective", "evidence remover drawing the alternative image (default %(default)s)")
    fake_prob: float = _opt(0.3, "objective", "probability of a fake class selector (default %(default)s)")
    aux_coef: float = _opt(1.0, "objective", "weight of the class-score cross-entropy, 0 = off (default %(default)s)")

    steps: int = _opt(5000, "optimisation", "optimisation steps in total (default %(default)s)")
    batch_size: int = _opt(32, "optimisation", "images per step and process (default %(default)s)")
    lr: float = _opt(1e-3, "optimisation", "learning rate of AdamW (default %(default)s)")
    weight_decay: float = _opt(0.0, "optimisation", "(default %(default)s)")
    lr_schedule: str = _opt("constant", "optimisation", "(default %(default)s)", choices=LR_SCHEDULES)
    warmup_steps: int = _opt(0, "optimisation", "linear warm-up steps (default %(default)s)")
    grad_clip: float = _opt(0.0, "optimisation", "max gradient norm, 0 = off (default %(default)s)")
    seed: int = _opt(0, "optimisation", "(default %(default)s)")

    resume: str | None = _opt(None, "run", "continue OUT/checkpoint.pt (or the given checkpoint) with the same settings", const="auto",
                              metavar="CHECKPOINT")
    overwrite: bool = _opt(False, "run", "start anew in an --out folder that holds a run, replacing it (without this or --resume such a "
                           "folder is refused)")
    checkpoint_every: int = _opt(200, "run", "steps between checkpoints, 0 = only at the end (default %(default)s)")
    log_every: int = _opt(10, "run", "steps between log lines (default %(default)s)")
    device: str = _opt("auto", "run", "auto, cpu or cuda (default %(default)s)")
    num_workers: int = _opt(-1, "run", "data loader workers, -1 = auto (default %(default)s)")
    threads: int | None = _opt(None, "run", "torch CPU threads (default: torch's choice)")
    progress: bool = _opt(True, "run", "no progress bar", flag="--no-progress")
    command_line: str | None = _opt(None, "run", "the command that started the run (recorded in masker.pt; default: this process's)", flag=None)

    precision: str = _opt("auto", "speed", "autocast precision of the frozen encoder and black box; auto = bf16 where the CPU or GPU runs it "
                          "natively, else fp32 (CPU) or fp16 (old GPUs). Masks, losses and optimiser state stay fp32 (default %(default)s)",
                          choices=PRECISIONS)
    channels_last: bool = _opt(True, "speed", "keep the frozen networks in the contiguous (NCHW) memory format instead of channels-last",
                               flag="--no-channels-last")
    compile: bool = _opt(False, "speed", "torch.compile the masker's forward (slow to start; measure first)")

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
        if isinstance(values.get("crop_scale"), list):
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

        _check_field_types(self)
        if not isinstance(self.classifier, str) or not self.classifier:
            raise InputError("`classifier` must name a black box (see `blackbox-saliency plugins`).")
        if not self.data or not all(isinstance(p, str) and p for p in self.data_paths()):
            raise InputError("`data` is required: an .npz file or a folder of images (--data PATH, repeat it to draw from several).")
        if not self.out:
            raise InputError("`out` is required: the folder for checkpoints and the trained masker (--out DIR).")
        if self.resume and self.overwrite:
            raise InputError("`resume` and `overwrite` contradict each other: --resume continues the run in --out, --overwrite replaces it; pass one.")
        for f in fields(self):
            allowed = field_choices(f)
            if allowed is not None and getattr(self, f.name) not in allowed:
                raise InputError(f"`{f.name}` must be one of {allowed}, got {getattr(self, f.name)!r}.")
        if self.device.split(":")[0] not in DEVICES:
            raise InputError(f"`device` must be one of {DEVICES}, got {self.device.split(':')[0]!r}.")
        if self.image_size is not None:
            positive_int("image_size", self.image_size, 8)
        lo, hi = self.crop_scale
        if not 0.0 < lo <= hi <= 1.0:
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
        for name in ("tv_coef", "area_coef", "destroy_coef", "destroy_power", "crop_coef", "aux_coef", "weight_decay", "grad_clip"):
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


def _fits(value: object, kind: str) -> bool:
    """Whether ``value`` has the type written ``kind`` in a field annotation (the kinds TrainConfig uses)."""
    kind = kind.strip()
    if kind == "None":
        return value is None
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "str":
        return isinstance(value, str)
    if kind.startswith("list["):
        return isinstance(value, list) and all(_fits(v, kind[5:-1]) for v in value)
    if kind.startswith("tuple["):
        parts = kind[6:-1].split(",")
        return isinstance(value, (list, tuple)) and len(value) == len(parts) and all(_fits(v, k) for v, k in zip(value, parts))
    if kind.startswith("dict["):
        return isinstance(value, dict)
    return True  # a kind this check does not know: the specific checks of validate() cover it


def _check_field_types(config: TrainConfig) -> None:
    """InputError naming the first field whose value does not have its annotated type (e.g. a crafted checkpoint's config)."""
    for f in fields(config):
        value = getattr(config, f.name)
        kinds = str(f.type).split("|")
        if not any(_fits(value, kind) for kind in kinds):
            finite = " (finite numbers)" if "float" in str(f.type) else ""
            raise InputError(f"`{f.name}` must be {' or '.join(k.strip() for k in kinds)}{finite}, got {value!r:.80}.")
