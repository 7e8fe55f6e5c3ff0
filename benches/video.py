"""Video frames per second of the streaming explainer next to the black box's own frames per second.

Measures, in one process, interleaved round by round (so that load from other processes hits all
variants alike), at 224x224 and at 480p (854x480) with batch sizes 1 and 8:

  blackbox      the black box (EfficientNet-Lite0) classifying the frames (it resizes to 224 itself):
                the baseline of every ratio
  masker        SaliencyMasker.explain alone on float frames already on the device
  stream        StreamingExplainer end to end from uint8 NumPy frames: conversion, masks for a fixed
                class, EMA smoothing (0.6), tightest boxes and overlays (what `blackbox-saliency video`
                does between decoding and encoding)
  stream_top    the same with --class top: the black box's top-1 on every frame, then the masker
  stream_in224  `stream` with a masker built with input_size=(224, 224): the encoder sees the frame
                resized to 224x224, the mask is upsampled to the frame (only differs from `stream`
                for sizes other than 224)

The masker is an *untrained* "fast" SaliencyMasker with the EfficientNet-Lite0 encoder (real ImageNet
weights); untrained weights run exactly as fast as trained ones. The table gives median
milliseconds per frame, frames per second and the ratio (frames/s) / (black-box frames/s).

Example::

    python benches/video.py                       # 2 threads, sizes 224 and 480p, batches 1 and 8
    python benches/video.py --sizes 224 --batches 8 --repeats 10
    python benches/video.py --device cuda --threads 0
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

ALL_VARIANTS = ("blackbox", "masker", "stream", "stream_top", "stream_in224")
SIZES = {"224": (224, 224), "480p": (480, 854)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--frames", type=int, default=8, help="frames per timed round (default 8)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per setting")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--threads", type=int, default=2, help="torch.set_num_threads (0: torch's choice); default 2 cores"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--variants", nargs="+", default=list(ALL_VARIANTS), choices=ALL_VARIANTS)
    return parser.parse_args(argv)


def build(device: torch.device):
    from blackbox_saliency import load_classifier
    from blackbox_saliency.maskers import SaliencyMasker

    classifier = load_classifier("efficientnet_lite0").to(device).eval()
    config = dict(encoder="efficientnet_lite0", preset="fast", classifier_name="efficientnet_lite0")
    masker = SaliencyMasker(1000, **config).to(device).eval()
    masker_224 = SaliencyMasker(1000, **config, input_size=(224, 224))
    masker_224.load_state_dict(masker.state_dict())
    return classifier, masker, masker_224.to(device).eval()


def make_round(
    name: str, size: tuple[int, int], batch: int, n_frames: int, models, device: torch.device
) -> Callable[[], None]:
    from blackbox_saliency.video import StreamingExplainer

    classifier, masker, masker_224 = models
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, size=(*size, 3), dtype=np.uint8) for _ in range(n_frames)]
    tensors = torch.stack([torch.from_numpy(f).permute(2, 0, 1) for f in frames]).to(device).float() / 255
    classes = torch.full((batch,), 281, dtype=torch.int64, device=device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    if name in ("blackbox", "masker"):
        def run() -> None:
            with torch.inference_mode():
                for start in range(0, n_frames, batch):
                    chunk = tensors[start:start + batch]
                    if name == "blackbox":
                        classifier(chunk)
                    else:
                        masker.explain(chunk, classes[: chunk.shape[0]])
            sync()
        return run

    chosen = masker_224 if name == "stream_in224" else masker
    classes = "top" if name == "stream_top" else 281
    explainer = StreamingExplainer(chosen, classifier, classes=classes, batch_size=batch, smooth=0.6, device=device)

    def run() -> None:
        for result in explainer.stream(frames):
            pass
        sync()
    return run


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    models = build(device)
    print(
        f"device {device}, torch threads {torch.get_num_threads()}, {args.frames} frames per round, "
        f"median of {args.repeats} rounds"
    )
    print(
        "masker: untrained 'fast' SaliencyMasker, EfficientNet-Lite0 encoder; "
        "black box: EfficientNet-Lite0 (224 px input)"
    )
    print()
    header = f"{'size':<6} {'batch':>5}  {'variant':<13} {'ms/frame':>9} {'frames/s':>9} {'vs black box':>13}"
    print(header)
    print("-" * len(header))
    for size_name in args.sizes:
        size = SIZES[size_name]
        for batch in args.batches:
            variants = [v for v in args.variants if not (v == "stream_in224" and size == (224, 224))]
            rounds = {v: make_round(v, size, batch, args.frames, models, device) for v in variants}
            for _ in range(args.warmup):
                for fn in rounds.values():
                    fn()
            times: dict[str, list[float]] = {v: [] for v in variants}
            for _ in range(args.repeats):
                for v, fn in rounds.items():
                    start = time.perf_counter()
                    fn()
                    times[v].append((time.perf_counter() - start) / args.frames)
            medians = {v: statistics.median(t) for v, t in times.items()}
            base = medians.get("blackbox")
            for v in variants:
                fps = 1.0 / medians[v]
                ratio = f"{(base / medians[v]):.2f}x" if base else "-"
                label = f"{size[1]}x{size[0]}" if size_name != "224" else "224"
                first = v == variants[0]
                print(
                    f"{label if first else '':<6} {batch if first else '':>5}  {v:<13} "
                    f"{1000 * medians[v]:>9.1f} {fps:>9.1f} {ratio:>13}"
                )
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
