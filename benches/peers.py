"""Masks per second of the masking model against the methods users would pick instead.

Peers, all explaining the same black box (default ``efficientnet_lite0``) at the same size (224 px),
on the CPU with the same thread count (default 2), interleaved round by round in one process so that
load from other processes hits every method alike:

  masker     the masking model (``--masker NAME|PATH``; default a *fresh, untrained* ``SaliencyMasker``
             with the ``fast`` preset: its speed is that of a trained one, its masks are meaningless)
  gradient   Captum's ``Saliency`` (vanilla gradient) through ``load_masker("gradient")``
  gradcam    pytorch-grad-cam's ``GradCAM`` on the default layer, through ``load_masker("gradcam")``
  cam        the class activation map of the black box's declared ``cam_layers`` (one forward, no gradients),
             through ``load_masker("cam")``: the one-pass method a trained masker has to beat
  iterative  the per-image optimisation of the saliency objective (``--iterative-steps``, default 300).
             One step costs the same at every step, so it is timed over ``--iterative-timed-steps``
             steps (default 10) and scaled to the full step count; the table says so.

The table gives, per method and batch size, the median milliseconds per call, masks per second and
the ratio (masker masks/s) / (method masks/s): how many times faster the masker is.

Example::

    python benches/peers.py                               # batches 1 and 8, 2 threads, untrained fast masker
    python benches/peers.py --masker efficientnet_lite0 --batches 1 --repeats 10
    python benches/peers.py --iterative-timed-steps 300   # time the whole optimisation instead of scaling
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch

PEERS = ("masker", "gradient", "gradcam", "cam", "iterative")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classifier", default="efficientnet_lite0", help="black box explained by every method")
    parser.add_argument(
        "--masker",
        default=None,
        help="trained masker (registered name or checkpoint); default: untrained fast SaliencyMasker",
    )
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per batch size")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument(
        "--iterative-steps", type=int, default=300, help="steps of the iterative optimisation being compared"
    )
    parser.add_argument(
        "--iterative-timed-steps",
        type=int,
        default=10,
        help="steps actually timed per call (scaled to --iterative-steps)",
    )
    parser.add_argument("--peers", nargs="+", default=list(PEERS), choices=PEERS)
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> tuple[dict[str, Callable], dict[str, float], list[str]]:
    """Return per-peer callables ``f(images, classes)``, the factor scaling each call's time, and notes."""
    from blackbox_saliency import load_classifier, load_masker

    classifier = load_classifier(args.classifier).eval()
    calls: dict[str, Callable] = {}
    scale: dict[str, float] = {}
    notes: list[str] = []
    wanted = set(args.peers)
    if "masker" in wanted:
        if args.masker:
            masker = load_masker(args.masker).eval()
            notes.append(f"masker: {args.masker} ({type(masker).__name__})")
        else:
            from blackbox_saliency.maskers import SaliencyMasker

            masker = SaliencyMasker(classifier.num_classes, encoder="efficientnet_lite0", preset="fast").eval()
            notes.append("masker: fresh UNTRAINED SaliencyMasker(encoder=efficientnet_lite0, preset=fast): speed only")
        calls["masker"] = masker
    if "gradient" in wanted:
        gradient = load_masker("gradient", classifier=classifier, backend="captum")
        calls["gradient"] = gradient
        notes.append("gradient: Captum Saliency (|d logit / d x|, max over channels)")
    if "gradcam" in wanted:
        gradcam = load_masker("gradcam", classifier=classifier)
        calls["gradcam"] = gradcam
        notes.append(f"gradcam: pytorch-grad-cam GradCAM on {gradcam.layer_name}")
    if "cam" in wanted:
        calls["cam"] = load_masker("cam", classifier=classifier)
        notes.append(
            "cam: class activation map of the black box's own pooled layer and head (one forward, no gradients)"
        )
    if "iterative" in wanted:
        timed = max(1, min(args.iterative_timed_steps, args.iterative_steps))
        calls["iterative"] = load_masker("iterative", classifier=classifier, steps=timed)
        scale["iterative"] = args.iterative_steps / timed
        how = (
            "timed in full"
            if timed == args.iterative_steps
            else f"{timed} steps timed, scaled x{scale['iterative']:.0f}"
        )
        notes.append(f"iterative: {args.iterative_steps} Adam steps on the paper objective ({how})")
    return calls, scale, notes


def measure(
    calls: dict[str, Callable], size: int, batch: int, num_classes: int, repeats: int, warmup: int
) -> dict[str, list[float]]:
    images = torch.rand(batch, 3, size, size)
    classes = torch.randint(0, num_classes, (batch,))
    times: dict[str, list[float]] = {name: [] for name in calls}
    with torch.no_grad():
        for _ in range(warmup):
            for call in calls.values():
                call(images, classes)
        for _ in range(repeats):
            for name, call in calls.items():
                start = time.perf_counter()
                call(images, classes)
                times[name].append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    calls, scale, notes = build(args)
    num_classes = 1000
    for fn in calls.values():
        num_classes = getattr(fn, "num_classes", None) or num_classes
    print(
        f"# black box: {args.classifier}; {args.size}x{args.size} px; CPU threads={torch.get_num_threads()}; "
        f"torch {torch.__version__}"
    )
    for note in notes:
        print(f"# {note}")
    header = f"{'method':<12}{'batch':>6}{'median ms':>13}{'masks/s':>11}{'masker is x faster':>20}"
    print(header)
    print("-" * len(header))
    for batch in args.batches:
        times = measure(calls, args.size, batch, num_classes, args.repeats, args.warmup)
        medians = {name: statistics.median(t) * scale.get(name, 1.0) for name, t in times.items()}
        base = medians.get("masker")
        for name in PEERS:
            if name not in medians:
                continue
            med = medians[name]
            ratio = f"{med / base:.1f}" if base else "-"
            print(f"{name:<12}{batch:>6}{med * 1000:>13.1f}{batch / med:>11.3g}{ratio:>20}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
