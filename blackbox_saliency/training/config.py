"""Settings of a masker training run (:class:`TrainConfig`).

Objective coefficients default to :class:`~blackbox_saliency.objective.ObjectiveSettings`' (the
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

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import InputError
from ..maskers.presets import DEFAULT_PRESET, PRESETS
from ..objective import VARIANTS, ObjectiveSettings
from .config_checks import check_values, field_choices, field_default
from .precision import PRECISIONS

__all__ = [
    "TrainConfig",
    "LABEL_SOURCES",
    "LR_SCHEDULES",
    "EMBEDDING_INITS",
    "OBJECTIVE_FIELDS",
    "RESUME_FREE_FIELDS",
    "SALIENCY_MASKER",
    "field_choices",
    "field_default",
    "objective_defaults",
]

LABEL_SOURCES = ("dataset", "blackbox")
LR_SCHEDULES = ("constant", "cosine")
EMBEDDING_INITS = ("auto", "random", "encoder_head")
#: The masker architecture of the paper (:class:`~blackbox_saliency.maskers.SaliencyMasker`), the default.
SALIENCY_MASKER = "saliency_masker"

# Fields that may change when a run is resumed: they do not alter the training trajectory
# (``steps`` does only through the cosine schedule, which is why changing it is allowed but warned about).
RESUME_FREE_FIELDS = frozenset(
    {"steps", "out", "device", "num_workers", "threads", "progress", "val_data", "val_size", "val_every",
     "val_batch_size", "select_metric", "log_every", "checkpoint_every", "resume", "overwrite", "command_line"}
)


#: The TrainConfig fields that are :class:`~blackbox_saliency.objective.ObjectiveSettings` fields of the same name.
OBJECTIVE_FIELDS = ("tv_coef", "area_coef", "destroy_coef", "destroy_power", "area_power", "variant", "crop_coef",
                    "aux_coef")


def objective_defaults() -> dict[str, Any]:
    """Default coefficients of the objective (:class:`ObjectiveSettings`, the single source of the paper's values)."""
    defaults = ObjectiveSettings()
    return {n: getattr(defaults, n) for n in OBJECTIVE_FIELDS}


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


@dataclass
class TrainConfig:
    """Everything that defines a masker training run (JSON-able via :meth:`to_dict`).

    Model: ``classifier`` (black-box name), ``masker`` (the masker architecture: ``saliency_masker``, the paper's,
    or one a plugin registers) with ``masker_options`` (its keyword arguments, beyond ``num_classes``),
    ``encoder`` (None = the classifier's name when it is also an encoder), ``encoder_pretrained``, ``preset``,
    ``masker_overrides`` (any MaskerConfig field, e.g. ``{"upsampler_channels": [64, 32, 16]}``),
    ``embedding_init`` (``auto`` uses the encoder's own classifier head when it has ``num_classes`` outputs),
    ``init_from`` (fine-tune: start from the decoder and embedding of a ``masker.pt`` or ``checkpoint.pt``, whose
    architecture then replaces ``masker``, ``preset`` and ``masker_overrides``). ``encoder``, ``encoder_pretrained``,
    ``preset``, ``masker_overrides`` and ``class_prior`` configure ``saliency_masker``.

    Data: ``data`` (see :func:`~blackbox_saliency.training.data.build_dataset`), ``data_kind``,
    ``image_size`` (None = the classifier's input size), ``augment``, ``crop_scale``, ``labels``
    (``dataset`` or ``blackbox``: the classifier's own top-1), ``whole_view_prob``,
    ``val_data``/``val_size``/``val_every``, ``select_metric`` (the validation column that picks ``best.pt``).

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

    classifier: str = _opt(
        "efficientnet_lite0", "model",
        "black box to explain (a name from `blackbox-saliency plugins`)", required=True,
    )
    data: str | list[str] = _opt(
        "", "data",
        "training images: .npz, folder of .npz, ImageFolder, folder with index.csv, or flat folder; repeat it"
        " to draw from several", required=True,
    )
    out: str = _opt("runs/masker", "run", "folder for checkpoint.pt, masker.pt, log.jsonl, result.json", required=True)
    encoder: str | None = _opt(
        None, "model",
        "frozen encoder of the masker (default: the classifier's name when it is an encoder)",
    )
    encoder_pretrained: bool = _opt(
        True, "model",
        "random encoder weights (tests only)", flag="--no-pretrained-encoder",
    )
    preset: str = _opt(DEFAULT_PRESET, "model", "decoder size (default %(default)s)", choices=tuple(PRESETS))
    masker_overrides: dict[str, Any] = _opt(dict, "model", "MaskerConfig fields replacing the preset's", flag=None)
    embedding_init: str = _opt("auto", "model", "class embedding init; auto = the encoder's own head when it has the "
                               "classifier's classes (default %(default)s)", choices=EMBEDDING_INITS, dashes=True)
    class_prior: bool = _opt(
        True, "model",
        "the paper's two-channel mask head instead of refining the encoder's own class activation map (the "
        "prior is used only when the encoder's head has the classifier's classes)", flag="--no-class-prior",
    )
    masker: str = _opt(
        SALIENCY_MASKER, "model",
        "masker architecture to train: saliency_masker (the paper's) or one a plugin registers (default "
        "%(default)s)", metavar="ARCHITECTURE",
    )
    masker_options: dict[str, Any] = _opt(dict, "model", "keyword arguments of the masker architecture", flag=None)
    init_from: str | None = _opt(
        None, "model",
        "fine-tune: start from the weights (and architecture) of a registered masker (e.g. "
        "efficientnet_lite0, the shipped one), a masker.pt or a run's checkpoint.pt", metavar="MASKER_OR_CHECKPOINT",
    )

    data_kind: str = _opt("auto", "data", "layout of --data (default: detect)", choices=lambda: _data_choices()[0])
    image_size: int | None = _opt(None, "data", "training image side (default: the classifier's input size)")
    augment: str = _opt("standard", "data", "augmentation (default %(default)s; heavy adds colour jitter)",
                        choices=lambda: _data_choices()[1])
    crop_scale: tuple[float, float] = _opt((0.35, 1.0), "data", "random resized crop area range (default %(default)s)",
                                           metavar="MIN,MAX")
    whole_view_prob: float = _opt(
        0.0, "data",
        "share of training views that are the whole photo resized to the input, aspect ratio ignored (what "
        "evaluate shows), instead of a random resized crop (default %(default)s)",
    )
    labels: str = _opt("dataset", "data", "class to explain: the data set's label or the black box's top-1 (default "
                       "%(default)s)", choices=LABEL_SOURCES)
    val_data: str | None = _opt(None, "data", "held-out images for the periodic saliency-metric validation")
    val_size: int = _opt(500, "data", "validation images (evenly spaced subset; default %(default)s)")
    val_every: int = _opt(500, "data", "validate every N steps (0: only at the end; default %(default)s)")
    val_batch_size: int | None = _opt(None, "data", "validation batch size (default: --batch-size)")
    select_metric: str = _opt(
        "saliency", "data",
        "validation metric that picks out/best.pt (an evaluation report column; default %(default)s)",
        choices=lambda: tuple(_selection_metrics()),
    )

    tv_coef: float = _opt(_OBJ["tv_coef"], "objective", "total variation weight (default %(default)s)")
    area_coef: float = _opt(_OBJ["area_coef"], "objective", "area weight (default %(default)s)")
    destroy_coef: float = _opt(_OBJ["destroy_coef"], "objective", "destroyed-image score weight (default %(default)s)")
    destroy_power: float = _opt(_OBJ["destroy_power"], "objective",
                                "destroyed-image score exponent (default %(default)s)")
    area_power: float | None = _opt(_OBJ["area_power"], "objective",
                                    "area exponent (default: 1 for paper, 0.3 for reference variant)")
    variant: str = _opt(_OBJ["variant"], "objective", "objective variant (default %(default)s)", choices=VARIANTS)
    crop_coef: float = _opt(
        _OBJ["crop_coef"], "objective",
        "weight of the crop-preserve term: the saliency metric on a soft box of the mask, made differentiable"
        " (0 = off; default %(default)s)",
    )
    remover: str = _opt("paper", "objective", "evidence remover drawing the alternative image (default %(default)s)")
    fake_prob: float = _opt(0.3, "objective", "probability of a fake class selector (default %(default)s)")
    aux_coef: float = _opt(_OBJ["aux_coef"], "objective",
                           "weight of the class-score cross-entropy, 0 = off (default %(default)s)")

    steps: int = _opt(5000, "optimisation", "optimisation steps in total (default %(default)s)")
    batch_size: int = _opt(32, "optimisation", "images per step and process (default %(default)s)")
    lr: float = _opt(1e-3, "optimisation", "learning rate of AdamW (default %(default)s)")
    weight_decay: float = _opt(0.0, "optimisation", "(default %(default)s)")
    lr_schedule: str = _opt("constant", "optimisation", "(default %(default)s)", choices=LR_SCHEDULES)
    warmup_steps: int = _opt(0, "optimisation", "linear warm-up steps (default %(default)s)")
    grad_clip: float = _opt(0.0, "optimisation", "max gradient norm, 0 = off (default %(default)s)")
    seed: int = _opt(0, "optimisation", "(default %(default)s)")

    resume: str | None = _opt(
        None, "run",
        "continue OUT/checkpoint.pt (or the given checkpoint) with the same settings",
        const="auto", metavar="CHECKPOINT",
    )
    overwrite: bool = _opt(
        False, "run",
        "start anew in an --out folder that holds a run, replacing it (without this or --resume such a folder"
        " is refused)",
    )
    checkpoint_every: int = _opt(200, "run", "steps between checkpoints, 0 = only at the end (default %(default)s)")
    log_every: int = _opt(10, "run", "steps between log lines (default %(default)s)")
    device: str = _opt("auto", "run", "auto, cpu or cuda (default %(default)s)")
    num_workers: int = _opt(-1, "run", "data loader workers, -1 = auto (default %(default)s)")
    threads: int | None = _opt(None, "run", "torch CPU threads (default: torch's choice)")
    progress: bool = _opt(True, "run", "no progress bar", flag="--no-progress")
    command_line: str | None = _opt(
        None, "run",
        "the command that started the run (recorded in masker.pt; default: this process's)", flag=None,
    )

    precision: str = _opt(
        "auto", "speed",
        "autocast precision of the frozen encoder and black box; auto = bf16 where the CPU or GPU runs it "
        "natively, else fp32 (CPU) or fp16 (old GPUs). Masks, losses and optimiser state stay fp32 (default "
        "%(default)s)", choices=PRECISIONS,
    )
    channels_last: bool = _opt(
        True, "speed",
        "keep the frozen networks in the contiguous (NCHW) memory format instead of channels-last",
        flag="--no-channels-last",
    )
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
        for name in ("masker_overrides", "masker_options"):
            out[name] = {k: list(v) if isinstance(v, tuple) else v for k, v in getattr(self, name).items()}
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

    def differences(self, other: TrainConfig,
                    ignore: frozenset[str] = RESUME_FREE_FIELDS) -> dict[str, tuple[Any, Any]]:
        """``{field: (self_value, other_value)}`` for fields that differ, except ``ignore``."""
        mine, theirs = self.to_dict(), other.to_dict()
        return {k: (mine[k], theirs[k]) for k in mine if k not in ignore and mine[k] != theirs.get(k)}

    def validate(self) -> TrainConfig:
        """Check every value; raise InputError naming the option and the fix. Returns ``self``."""
        check_values(self)
        _check_masker_choice(self)
        return self


def _check_masker_choice(config: TrainConfig) -> None:
    if not isinstance(config.masker, str) or not config.masker:
        raise InputError(f"`masker` must name a masker architecture (e.g. {SALIENCY_MASKER!r}), got {config.masker!r}.")
    if not all(isinstance(key, str) and key.isidentifier() for key in config.masker_options):
        raise InputError(f"`masker_options` must map keyword names to values, got keys "
                         f"{list(config.masker_options)!r:.80}.")
    if config.masker != SALIENCY_MASKER and config.masker_overrides:
        raise InputError(f"{sorted(config.masker_overrides)} configure {SALIENCY_MASKER}, not the {config.masker!r} "
                         "masker; pass that architecture's settings as masker options (--masker-option KEY=VALUE).")
