"""``blackbox-saliency train``: train a masker for a black-box classifier (paper section 4.1).

Example::

    $ blackbox-saliency train --classifier cifar10_resnet20 --data ../shared/data/cifar10 \\
          --val-data ../shared/data/cifar10 --out runs/c10 --preset fast --steps 2000
    $ blackbox-saliency train ... --resume            # continue runs/c10/checkpoint.pt
    $ torchrun --nproc_per_node 4 -m blackbox_saliency train ...   # data-parallel

The trained masker is ``OUT/masker.pt`` (``blackbox_saliency.load_masker(path)`` reads it).
"""

from __future__ import annotations

import argparse

from ..training.config import EMBEDDING_INITS, LABEL_SOURCES, LR_SCHEDULES, TrainConfig
from ..training.data import AUGMENTATIONS, DATA_KINDS
from ..training.precision import PRECISIONS
from .commands import COMMAND_HELP

_D = TrainConfig()


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 64,32,16, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def _float_pair(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two comma-separated numbers like 0.35,1, got {text!r}") from None
    return lo, hi


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help=COMMAND_HELP["train"],
        description="Train the real-time masking model of Dabkowski & Gal (2017) for a black-box classifier. "
        "Run it under `torchrun --nproc_per_node N` for data-parallel training (--batch-size is per process).",
    )
    g = p.add_argument_group("model")
    g.add_argument("--classifier", required=True, help="black box to explain (a name from `blackbox-saliency plugins`)")
    g.add_argument("--encoder", default=None, help="frozen encoder of the masker (default: the classifier's name when it is an encoder)")
    g.add_argument("--no-pretrained-encoder", dest="encoder_pretrained", action="store_false", help="random encoder weights (tests only)")
    g.add_argument("--preset", default=_D.preset, choices=["paper", "fast"], help="decoder size (default %(default)s)")
    g.add_argument("--decoder-channels", type=_int_list, default=None, metavar="C1,C2,...", help="upsampler channels, coarse to fine (overrides the preset)")
    g.add_argument("--bottlenecks", type=int, default=None, metavar="N", help="bottleneck blocks per upsampler block (overrides the preset)")
    g.add_argument("--feature-filter", default=None, choices=["paper", "relative"],
                   help="class gate on the coarsest map: the paper's sigmoid(X.C_s), or class-relative (default paper)")
    g.add_argument("--gate-skips", action="store_true",
                   help="also gate the decoder's skip features with the class gate (class-dependent masks; default off, as in the paper)")
    g.add_argument("--mask-input-size", type=int, default=None, metavar="S", help="resize images to S x S before the encoder")
    g.add_argument("--embedding-init", default=_D.embedding_init, choices=[e.replace("_", "-") for e in EMBEDDING_INITS],
                   help="class embedding init; auto = the encoder's own head when it has the classifier's classes (default %(default)s)")

    g.add_argument("--init-from", default=None, metavar="MASKER_OR_CHECKPOINT",
                   help="fine-tune: start from the weights (and architecture) of a registered masker (e.g. efficientnet_lite0, the shipped one), a masker.pt or a run's checkpoint.pt")

    g = p.add_argument_group("data")
    g.add_argument("--data", required=True, action="append",
                   help="training images: .npz, folder of .npz, ImageFolder, folder with index.csv, or flat folder; repeat it to draw from several")
    g.add_argument("--data-kind", default=_D.data_kind, choices=DATA_KINDS, help="layout of --data (default: detect)")
    g.add_argument("--labels", default=_D.labels, choices=LABEL_SOURCES, help="class to explain: the data set's label or the black box's top-1 (default %(default)s)")
    g.add_argument("--image-size", type=int, default=None, help="training image side (default: the classifier's input size)")
    g.add_argument("--augment", default=_D.augment, choices=AUGMENTATIONS, help="augmentation (default %(default)s; heavy adds colour jitter)")
    g.add_argument("--crop-scale", type=_float_pair, default=_D.crop_scale, metavar="MIN,MAX", help="random resized crop area range (default 0.35,1)")
    g.add_argument("--val-data", default=None, help="held-out images for the periodic saliency-metric validation")
    g.add_argument("--val-size", type=int, default=_D.val_size, help="validation images (evenly spaced subset; default %(default)s)")
    g.add_argument("--val-every", type=int, default=_D.val_every, help="validate every N steps (0: only at the end; default %(default)s)")
    g.add_argument("--val-batch-size", type=int, default=None, help="validation batch size (default: --batch-size)")

    g = p.add_argument_group("objective (paper defaults)")
    g.add_argument("--tv-coef", type=float, default=_D.tv_coef, help="total variation weight (default %(default)s)")
    g.add_argument("--area-coef", type=float, default=_D.area_coef, help="area weight (default %(default)s)")
    g.add_argument("--area-power", type=float, default=_D.area_power, help="area exponent (default: 1 for paper, 0.3 for reference variant)")
    g.add_argument("--destroy-coef", type=float, default=_D.destroy_coef, help="destroyed-image score weight (default %(default)s)")
    g.add_argument("--destroy-power", type=float, default=_D.destroy_power, help="destroyed-image score exponent (default %(default)s)")
    g.add_argument("--variant", default=_D.variant, choices=["paper", "reference"], help="objective variant (default %(default)s)")
    g.add_argument("--remover", default=_D.remover, help="evidence remover drawing the alternative image (default %(default)s)")
    g.add_argument("--fake-prob", type=float, default=_D.fake_prob, help="probability of a fake class selector (default %(default)s)")
    g.add_argument("--aux-coef", type=float, default=_D.aux_coef, help="weight of the class-score cross-entropy, 0 = off (default %(default)s)")

    g = p.add_argument_group("optimisation")
    g.add_argument("--steps", type=int, default=_D.steps, help="optimisation steps in total (default %(default)s)")
    g.add_argument("--batch-size", type=int, default=_D.batch_size, help="images per step and process (default %(default)s)")
    g.add_argument("--lr", type=float, default=_D.lr, help="learning rate of AdamW (default %(default)s)")
    g.add_argument("--weight-decay", type=float, default=_D.weight_decay, help="(default %(default)s)")
    g.add_argument("--lr-schedule", default=_D.lr_schedule, choices=LR_SCHEDULES, help="(default %(default)s)")
    g.add_argument("--warmup-steps", type=int, default=_D.warmup_steps, help="linear warm-up steps (default %(default)s)")
    g.add_argument("--grad-clip", type=float, default=_D.grad_clip, help="max gradient norm, 0 = off (default %(default)s)")
    g.add_argument("--seed", type=int, default=_D.seed, help="(default %(default)s)")

    g = p.add_argument_group("run")
    g.add_argument("--out", required=True, help="folder for checkpoint.pt, masker.pt, log.jsonl, result.json")
    g.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CHECKPOINT",
                   help="continue OUT/checkpoint.pt (or the given checkpoint) with the same settings")
    g.add_argument("--overwrite", action="store_true",
                   help="start anew in an --out folder that holds a run, replacing it (without this or --resume such a folder is refused)")
    g.add_argument("--checkpoint-every", type=int, default=_D.checkpoint_every, help="steps between checkpoints, 0 = only at the end (default %(default)s)")
    g.add_argument("--log-every", type=int, default=_D.log_every, help="steps between log lines (default %(default)s)")
    g.add_argument("--device", default=_D.device, help="auto, cpu or cuda (default %(default)s)")
    g.add_argument("--num-workers", type=int, default=_D.num_workers, help="data loader workers, -1 = auto (default %(default)s)")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")

    g = p.add_argument_group("speed")
    g.add_argument("--precision", default=_D.precision, choices=PRECISIONS,
                   help="autocast precision of the frozen encoder and black box; auto = bf16 where the CPU or GPU runs it natively, "
                   "else fp32 (CPU) or fp16 (old GPUs). Masks, losses and optimiser state stay fp32 (default %(default)s)")
    g.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                   help="keep the frozen networks in the contiguous (NCHW) memory format instead of channels-last")
    g.add_argument("--compile", action="store_true", help="torch.compile the masker's forward (slow to start; measure first)")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Turn parsed arguments into a :class:`TrainConfig`."""
    overrides: dict[str, object] = {}
    if args.decoder_channels is not None:
        overrides["upsampler_channels"] = list(args.decoder_channels)
    if args.bottlenecks is not None:
        overrides["bottlenecks_per_block"] = args.bottlenecks
    if args.feature_filter is not None:
        overrides["feature_filter"] = args.feature_filter
    if args.gate_skips:
        overrides["gate_skips"] = True
    if args.mask_input_size is not None:
        overrides["input_size"] = [args.mask_input_size, args.mask_input_size]
    return TrainConfig(
        classifier=args.classifier,
        data=args.data[0] if len(args.data) == 1 else list(args.data),
        out=args.out,
        encoder=args.encoder,
        encoder_pretrained=args.encoder_pretrained,
        preset=args.preset,
        masker_overrides=overrides,
        embedding_init=args.embedding_init.replace("-", "_"),
        init_from=args.init_from,
        data_kind=args.data_kind,
        image_size=args.image_size,
        augment=args.augment,
        crop_scale=tuple(args.crop_scale),
        labels=args.labels,
        val_data=args.val_data,
        val_size=args.val_size,
        val_every=args.val_every,
        val_batch_size=args.val_batch_size,
        tv_coef=args.tv_coef,
        area_coef=args.area_coef,
        destroy_coef=args.destroy_coef,
        destroy_power=args.destroy_power,
        area_power=args.area_power,
        variant=args.variant,
        remover=args.remover,
        fake_prob=args.fake_prob,
        aux_coef=args.aux_coef,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        lr_schedule=args.lr_schedule,
        warmup_steps=args.warmup_steps,
        grad_clip=args.grad_clip,
        seed=args.seed,
        resume=args.resume,
        overwrite=args.overwrite,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        device=args.device,
        num_workers=args.num_workers,
        threads=args.threads,
        progress=args.progress,
        precision=args.precision,
        channels_last=args.channels_last,
        compile=args.compile,
    )


def run(args: argparse.Namespace) -> int:
    from ..training import train

    config = config_from_args(args)
    result = train(config)
    if result.masker_path is None:  # ranks other than 0 stay quiet
        return 0
    print(f"trained masker: {result.masker_path}")
    print(f"checkpoint:     {result.checkpoint_path}")
    print(f"steps: {result.steps}   throughput: {result.images_per_s:.1f} images/s ({result.precision}, "
          f"{result.data_wait_share:.0%} of it waiting for data)   time: {result.seconds:.1f} s")
    m = result.metrics
    if "saliency_metric" in m:
        print(
            f"validation saliency metric: {m['saliency_metric']:.4f} (central box {m['baseline_saliency_metric']:.4f}, "
            f"whole image {m['baseline_full_image_saliency_metric']:.4f}); "
            f"mean area {m['mean_area']:.3f}, mean probability {m['mean_prob']:.3f} on {m['n']} images"
        )
    return 0


__all__ = ["register", "run", "config_from_args"]
