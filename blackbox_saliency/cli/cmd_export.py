"""``blackbox-saliency export``: write a masker as TorchScript, torch.export, an AOTInductor package or ONNX.

Example::

    $ blackbox-saliency export --masker efficientnet_lite0 --format torchscript --out masker.pt
    $ blackbox-saliency export --masker runs/m.pt --format onnx --out masker.onnx --size 224 --batch 1
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..export import FORMATS, export_masker
from .commands import COMMAND_HELP


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help=COMMAND_HELP["export"],
        description="Export a masker (registered name or checkpoint path). The file is called as "
        "m(images, classes) -> masks with images float32 (B,3,H,W) in [0,1] and classes int64 (B,). "
        "TorchScript accepts any batch and image size; torch.export and ONNX accept any batch and sizes that are "
        "multiples of the encoder's coarsest stride.",
    )
    parser.add_argument("--masker", required=True, help="registered masker name or path of a masker checkpoint (.pt)")
    parser.add_argument(
        "--format", required=True, choices=FORMATS,
        help="torchscript (torch.jit), export (torch.export .pt2), aoti (AOTInductor .pt2 package of native code) "
        "or onnx",
    )
    parser.add_argument("--out", required=True, help="output file")
    parser.add_argument(
        "--size", type=int, nargs="+", default=[224], metavar="PX",
        help="example image size: one value or HEIGHT WIDTH (default 224)",
    )
    parser.add_argument(
        "--batch", type=int, default=1, help="example batch size used for tracing and checking (default 1)"
    )
    parser.add_argument(
        "--no-check", action="store_true", help="skip comparing the exported file with the eager masker"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace --out if it exists (the masker file itself is never replaced)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..maskers.loading import load_masker

    if len(args.size) not in (1, 2):
        raise InputError(f"--size takes one value or HEIGHT WIDTH, got {args.size}.")
    size = args.size[0] if len(args.size) == 1 else (args.size[0], args.size[1])
    from ..atomic import check_outputs_free, check_writable_folder

    check_outputs_free([args.out], overwrite=args.overwrite, inputs=[args.masker])
    check_writable_folder(Path(args.out).expanduser().parent, "the folder of --out")
    masker = load_masker(args.masker)
    result = export_masker(masker, args.out, args.format, size=size, batch=args.batch, check=not args.no_check)
    print(f"wrote {result.path} ({result.format})")
    print(f"  accepts: {result.dynamic}")
    if result.max_abs_diff is not None:
        print(f"  max |exported - eager| = {result.max_abs_diff:.3g}")
    for note in result.notes:
        print(f"  note: {note}")
    return 0
