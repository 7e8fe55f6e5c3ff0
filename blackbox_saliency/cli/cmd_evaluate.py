"""``blackbox-saliency evaluate``: compare a trained masker with the baselines on one data set.

Writes one table (Markdown and JSON) with, per method, the saliency metric and
its two terms, the localisation error, the pointing game, deletion/insertion
AUCs and seconds per image.

Example::

    $ blackbox-saliency evaluate --methods gradient,gradcam,center,full,gt \\
        --data ../shared/data/imagenet/val_dev --classifier efficientnet_lite0 --limit 8 --out reports/quick
    $ blackbox-saliency evaluate --masker efficientnet_lite0 --data ../shared/data/imagenet/val_dev
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..devices import resolve_device
from ..errors import InputError
from .commands import COMMAND_HELP

if TYPE_CHECKING:
    from torch import nn

    from ..evaluation import EvaluationOptions
    from ..interfaces import Masker
    from ..metrics import Metric


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help=COMMAND_HELP["evaluate"],
        description=(
            "Evaluate maskers on a data set. Methods: 'masker' (the trained masker of --masker) and any registered "
            "masker: gradient, gradcam, iterative, center, full, gt (gt needs ground-truth boxes)."
        ),
    )
    parser.add_argument(
        "--data", required=True, help="folder of photos (with boxes.csv or index.csv) or an .npz (images, labels)"
    )
    parser.add_argument(
        "--methods", default=None, help="comma-separated methods (default: 'masker' when --masker is given)"
    )
    parser.add_argument(
        "--classifier", default=None, help="black box name (default: the one the masker was trained for)"
    )
    parser.add_argument("--masker", default=None, help="trained masker: registered name or checkpoint path")
    parser.add_argument("--out", default=None, help="write <OUT>.md and <OUT>.json (default: print only)")
    parser.add_argument("--overwrite", action="store_true", help="replace <OUT>.md and <OUT>.json if they exist")
    parser.add_argument("--per-image", action="store_true", help="also write every image's values into the JSON report")
    parser.add_argument("--title", default=None, help="title of the Markdown report")
    parser.add_argument(
        "--limit", type=int, default=None, help="evaluate N images only (evenly spaced over the data set)"
    )
    parser.add_argument("--batch-size", type=int, default=16, help="images per masker call (default 16)")
    parser.add_argument(
        "--target", choices=("label", "predicted"), default="label", help="class to explain (default: the label)"
    )
    _add_protocol_options(parser)
    parser.add_argument(
        "--method-limit",
        action="append",
        default=[],
        metavar="METHOD=N",
        help="run METHOD on N of the images only (evenly spaced; repeatable), e.g. iterative=20",
    )
    parser.add_argument(
        "--iterative-steps", type=int, default=None, help="Adam steps of the iterative baseline (default 300)"
    )
    parser.add_argument(
        "--gradcam-layer", default=None, help="layer of the classifier for Grad-CAM (default per classifier)"
    )
    parser.add_argument("--device", default="cpu", help="auto (CUDA when available), cpu, cuda, cuda:N (default cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def _add_protocol_options(parser: argparse.ArgumentParser) -> None:
    """The options of what is measured and how: the metrics' settings and the views the methods see."""
    parser.add_argument("--threshold", type=float, default=0.5, help="mask threshold for boxes (default 0.5)")
    parser.add_argument(
        "--crop-from",
        choices=("source", "view"),
        default=None,
        help="main protocol of the saliency metric: cut each box out of the original photo ('source', the default "
        "for photo folders; methods see the whole photo resized) or out of the view the method saw ('view': the old "
        "protocol, methods see the 224-px center crop); both are reported when the originals are there",
    )
    parser.add_argument(
        "--view",
        choices=("resize", "center-crop"),
        default=None,
        help="what methods see of a photo: the whole photo resized to the classifier's input ignoring its aspect ratio "
        "(default), or the usual center crop (default with --crop-from view)",
    )
    parser.add_argument(
        "--deletion-steps", type=int, default=16, help="steps of the deletion/insertion curves; 0 skips them"
    )
    parser.add_argument(
        "--deletion-limit",
        type=int,
        default=None,
        help="deletion/insertion curves on N images per method only (evenly spaced)",
    )


def _method_limits(items: list[str]) -> dict[str, int]:
    limits = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            limits[name.strip()] = int(value)
        except ValueError:
            raise InputError(f"--method-limit expects METHOD=N (N an integer), got {item!r}.") from None
        if limits[name.strip()] < 1:
            raise InputError(f"--method-limit {item!r}: N must be >= 1.")
    return limits


def _command_line() -> str:
    return "blackbox-saliency " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else ""


def _black_box(
    args: argparse.Namespace, methods: list[str], device: object
) -> tuple[dict[str, Masker], nn.Module, str]:
    """The trained maskers loaded with their black box (``masker``, or the first shipped masker named in ``methods``
    when no --classifier is given: it knows the black box it was trained for), the black box and its name."""
    from ..evaluation.methods import MASKER, MASKER_NEEDED
    from ..maskers.plugin import shipped_masker_paths
    from ..plugins import load_classifier
    from ._common import load_models

    if MASKER in methods:
        if not args.masker:
            raise InputError(MASKER_NEEDED)
        masker, classifier, classifier_name = load_models(args.masker, args.classifier, device)
        return {MASKER: masker}, classifier, classifier_name
    if args.classifier:
        return {}, load_classifier(args.classifier).to(device).eval(), args.classifier
    shipped = [m for m in methods if m in shipped_masker_paths()]
    if not shipped:
        raise InputError(
            "pass --classifier NAME (e.g. efficientnet_lite0 or cifar10_resnet20); "
            "`blackbox-saliency plugins` lists them."
        )
    masker, classifier, classifier_name = load_models(shipped[0], None, device)
    return {shipped[0]: masker}, classifier, classifier_name


def _build(args: argparse.Namespace, methods: list[str]) -> tuple[dict[str, Masker], nn.Module, str, dict]:
    """The methods' maskers (in the order of ``methods``), the black box and its name, and the methods' options."""
    from ..evaluation import build_methods

    loaded, classifier, classifier_name = _black_box(args, methods, resolve_device(args.device))
    options: dict[str, dict[str, object]] = {}
    if args.iterative_steps is not None:
        options["iterative"] = {"steps": args.iterative_steps}
    if args.gradcam_layer is not None:
        options["gradcam"] = {"layer": args.gradcam_layer}
    built = {**build_methods([m for m in methods if m not in loaded], classifier, options=options), **loaded}
    return {m: built[m] for m in methods}, classifier, classifier_name, options


def _methods(args: argparse.Namespace) -> tuple[list[str], dict[str, int]]:
    """The methods to evaluate (``masker`` first when --masker is given) and their --method-limit."""
    from ..evaluation import parse_methods, valid_methods

    methods = parse_methods(args.methods) if args.methods else (["masker"] if args.masker else None)
    if methods is None:
        raise InputError(f"pass --methods (from {', '.join(valid_methods())}) and/or --masker NAME|PATH.")
    if args.masker and "masker" not in methods:
        methods = ["masker", *methods]
    limits = _method_limits(args.method_limit)
    unknown = sorted(set(limits) - set(methods))
    if unknown:
        raise InputError(f"--method-limit names method(s) not in --methods: {', '.join(unknown)}.")
    return methods, limits


def _settings(args: argparse.Namespace, limits: dict[str, int]) -> tuple[EvaluationOptions, list[Metric]]:
    """The runner's options and the metrics, from the command line."""
    from ..evaluation import EvaluationOptions
    from ..metrics import default_metrics

    options = EvaluationOptions(
        batch_size=args.batch_size,
        limit=args.limit,
        method_limits=limits,
        target=args.target,
        progress=not args.no_progress,
    )
    metrics = default_metrics(
        threshold=args.threshold,
        crop_from=args.crop_from or "auto",
        deletion_steps=args.deletion_steps,
        deletion_limit=args.deletion_limit,
    )
    return options, metrics


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse --out files that exist (without --overwrite) or an unwritable folder, before the evaluation."""
    from ..atomic import check_outputs_free, check_writable_folder
    from ..evaluation.report import report_paths

    check_outputs_free(report_paths(args.out), overwrite=args.overwrite, inputs=[args.masker, args.data])
    check_writable_folder(Path(args.out).parent, "the folder of --out")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..evaluation import evaluate, open_dataset, to_markdown, write_report

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.out:
        _check_outputs(args)
    methods, limits = _methods(args)
    options, metrics = _settings(args, limits)
    built, classifier, classifier_name, method_options = _build(args, methods)
    view = args.view or ("center-crop" if args.crop_from == "view" else "resize")
    dataset = open_dataset(Path(args.data), size=tuple(classifier.input_size), view=view)
    dataset.check_classifier(classifier.num_classes, classifier_name)
    began = time.perf_counter()
    result = evaluate(classifier, dataset, built, options, metrics)
    result.meta.update(
        {
            "classifier": classifier_name,
            "masker": args.masker,
            "wall_seconds": round(time.perf_counter() - began, 1),
            "date": time.strftime("%Y-%m-%d"),
            "options": method_options or None,
        }
    )
    title = args.title or f"Evaluation of {', '.join(methods)} on {Path(args.data).name} with {classifier_name}"
    command = _command_line()
    print(to_markdown(result, title, command))
    if args.out:
        md, js = write_report(result, args.out, title, command, per_image=args.per_image)
        print(f"wrote {md} and {js}")
    return 0
