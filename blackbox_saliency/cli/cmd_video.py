"""``blackbox-saliency video IN --masker NAME|PATH --out OUT.mp4``: saliency overlays for a video file.

Decodes ``IN`` with PyAV, explains the frames in batches on the chosen device (optionally
smoothing the masks over time so that the overlay does not flicker), writes the overlaid video
(heat map + tightest box + a caption with the class) and optionally all masks as one
``(T, H, W)`` float16 ``.npy`` file. Prints the achieved frames per second at the end.

Needs the ``video`` extra: ``pip install 'blackbox-saliency[video]'``.

Example::

    $ blackbox-saliency video street.mp4 --masker efficientnet_lite0 --class top --out street_saliency.mp4
    $ blackbox-saliency video cat.mp4 --masker my.pt --class "tabby cat" --smooth 0.8 \\
        --masks-out masks.npy --out out.mp4
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np

from ..devices import resolve_device
from ..errors import InputError
from ._common import load_models, resolve_class
from .commands import add_command


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "video", __doc__)
    parser.add_argument("input", metavar="IN", type=Path, help="input video file (anything FFmpeg decodes)")
    parser.add_argument("--masker", required=True, help="a registered masker name or a checkpoint path (.pt)")
    parser.add_argument(
        "--classifier", default=None, help="the black box (default: the one the masker was trained for)"
    )
    parser.add_argument(
        "--class", dest="class_spec", default="top", metavar="ID|NAME|top|first",
        help="class to explain: an index or name, 'top' (the black box's top-1 on each frame, default) "
        "or 'first' (the top-1 of the first frame, kept for the whole clip)",
    )
    parser.add_argument(
        "--out", required=True, type=Path, metavar="OUT.mp4", help="output video (.mp4, .mkv, .mov, .avi or .webm)"
    )
    parser.add_argument(
        "--masks-out", type=Path, default=None, metavar="MASKS.npy", help="also save all masks, (T, H, W) float16"
    )
    parser.add_argument("--batch-size", type=int, default=8, help="frames per forward pass (default 8)")
    parser.add_argument(
        "--smooth", type=float, default=0.6,
        help="temporal smoothing in [0, 1): weight of the previous mask (0 = off, default 0.6)",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--no-caption", action="store_true", help="do not write the class name into the video")
    parser.add_argument(
        "--progress", choices=["auto", "on", "off"], default="auto",
        help="tqdm progress bar (auto: when stderr is a terminal)",
    )
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace --out and --masks-out if they exist (the input video is never replaced)",
    )
    parser.set_defaults(func=run)


def _burn_caption(frame: np.ndarray, text: str) -> np.ndarray:
    """Write ``text`` on a dark strip in the top-left corner of an (H, W, 3) uint8 frame."""
    from PIL import Image, ImageDraw

    from ..visualize import _font

    picture = Image.fromarray(frame)
    size = int(min(22, max(10, round(min(frame.shape[:2]) / 26))))
    font = _font(size)
    draw = ImageDraw.Draw(picture)
    pad = max(2, size // 4)
    width = draw.textlength(text, font=font)
    draw.rectangle((0, 0, min(frame.shape[1], width + 2 * pad), size + 2 * pad), fill=(20, 20, 24))
    draw.text((pad, pad), text, fill=(240, 240, 240), font=font)
    return np.asarray(picture)


def _frames(reader, max_frames: int | None):
    for index, frame in enumerate(reader):
        if max_frames is not None and index >= max_frames:
            return
        yield frame


def run(args: argparse.Namespace) -> int:
    from ..video.io import require_av

    require_av()  # fail before loading any model
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {args.batch_size}.")
    if not 0.0 <= args.smooth < 1.0:
        raise InputError(f"--smooth must be in [0, 1) (0 = off), got {args.smooth}.")
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(f"--max-frames must be >= 1, got {args.max_frames}.")
    if args.masks_out is not None and args.masks_out.suffix != ".npy":
        raise InputError(f"--masks-out must name a .npy file, got {args.masks_out}.")
    if args.out.resolve() == args.input.resolve():
        raise InputError("--out must differ from the input video.")
    from ..atomic import atomic_path, check_outputs_free, check_writable_folder

    check_outputs_free([args.out, args.masks_out], overwrite=args.overwrite, inputs=[args.input, args.masker])
    for output in (args.out, args.masks_out):
        if output is not None:
            check_writable_folder(output.parent, f"the folder of {output}")
    final_out, final_masks = args.out, args.masks_out
    # written under temporary names, moved into place only when the whole video is done
    masks_path = atomic_path(final_masks) if final_masks else contextlib.nullcontext()
    with atomic_path(final_out) as args.out, masks_path as args.masks_out:
        count = _write(args)
    print(f"wrote {count} frames to {final_out}" + (f" and masks to {final_masks}" if final_masks else ""))
    return 0


def _write(args: argparse.Namespace) -> int:
    """Explain the video into ``args.out`` (and ``args.masks_out``); returns the frame count."""
    from ..video.io import open_video
    from ..video.stream import CLASS_KEYWORDS, StreamingExplainer

    device = resolve_device(args.device)
    with open_video(args.input) as reader:
        info = reader.info
        masker, classifier, _ = load_models(args.masker, args.classifier, device)
        classes = resolve_class(args.class_spec, classifier, keywords=CLASS_KEYWORDS)
        explainer = StreamingExplainer(
            masker, classifier, classes=classes, batch_size=args.batch_size, smooth=args.smooth, device=device
        )
        start = time.perf_counter()
        count = _encode(explainer, reader, args)
        elapsed = time.perf_counter() - start
    if count == 0:
        raise InputError(f"{args.input} has no decodable frame; nothing was written.")
    fps = count / elapsed if elapsed > 0 else float("inf")
    print(
        f"explained {count} frames ({info.width}x{info.height}): {fps:.1f} frames/s end to end "
        f"(decode + explain + encode) on {device} with batch size {args.batch_size}"
    )
    return count


def _encode(explainer, reader, args: argparse.Namespace) -> int:
    """Write each explained frame of ``reader`` (and its mask) as it comes; returns the frame count."""
    from tqdm.auto import tqdm

    from ..video.io import VideoWriter
    from ..video.npy_stream import NpyStreamWriter
    from ..visualize import caption

    info = reader.info
    total = info.frames if args.max_frames is None else min(args.max_frames, info.frames or args.max_frames)
    show = sys.stderr.isatty() if args.progress == "auto" else args.progress == "on"
    masks_file = NpyStreamWriter(args.masks_out) if args.masks_out is not None else None
    count = 0
    try:
        with (
            VideoWriter(args.out, fps=info.fps) as writer,
            tqdm(total=total, unit="frame", disable=not show, desc="explaining") as bar,
        ):
            for result in explainer.stream(_frames(reader, args.max_frames)):
                frame = result.overlay.cpu().numpy()
                if not args.no_caption:
                    frame = _burn_caption(frame, caption(result.class_name or f"class {result.class_id}", result.prob))
                writer.write(frame)
                if masks_file is not None:
                    masks_file.append(result.mask[0].float().cpu().numpy())
                count += 1
                bar.update(1)
    finally:
        if masks_file is not None:
            masks_file.close()
    return count
