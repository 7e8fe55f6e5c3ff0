"""Fused mask_blend_tv against the unfused torch ops, measured in the same run.

For each image size (32, 224, 512 px; the mask has a quarter of the side) and batch (1, 8, 64),
times ``blackbox_saliency.fast.mask_blend_tv`` (the compiled op when built) and
``blackbox_saliency.fast.reference.mask_blend_tv`` (interpolate + elementwise ops + TV) in two
modes: ``fwd`` (inference, no gradients) and ``fwd+bwd`` (training: the mask requires grad,
gradients flow back from preserved, destroyed and tv). The two implementations run interleaved,
call after call, so that load from other processes hits both alike. Prints the median
milliseconds of each and the ratio reference / fused (> 1: the fused op is faster).

Usage:
    python benches/fused_op.py                    # full table, CPU, 2 threads
    python benches/fused_op.py --sizes 224 --batches 8 --repeats 30
    python benches/fused_op.py --threads 1 --clock cpu   # CPU time: robust on a loaded machine
    python benches/fused_op.py --device cuda      # on a GPU machine
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from blackbox_saliency.fast import active_path, mask_blend_tv
from blackbox_saliency.fast.reference import mask_blend_tv as reference_mask_blend_tv

Impl = Callable[..., tuple]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _make_step(impl: Impl, mode: str, masks, images, alternative, grads) -> Callable[[], None]:  # noqa: ANN001
    grad_preserved, grad_destroyed, grad_tv = grads
    if mode == "fwd":

        def step() -> None:
            with torch.no_grad():
                impl(masks, images, alternative, True)

        return step

    def step() -> None:
        leaf = masks.detach().requires_grad_(True)
        _, preserved, destroyed, tv = impl(leaf, images, alternative, True)
        outputs, grad_outputs = [preserved, destroyed], [grad_preserved, grad_destroyed]
        if tv.requires_grad:  # the reference's TV of a 1 px mask is a constant
            outputs.append(tv)
            grad_outputs.append(grad_tv)
        torch.autograd.backward(outputs, grad_outputs)

    return step


def _time_pair(
    steps: tuple[Callable[[], None], Callable[[], None]],
    device: torch.device,
    repeats: int,
    min_time: float,
    clock: Callable[[], float],
) -> tuple[float, float]:
    """Median seconds of each step, the two run alternately."""
    for step in steps:  # warm-up
        for _ in range(2):
            step()
    _sync(device)
    times: tuple[list[float], list[float]] = ([], [])
    started = time.perf_counter()
    while len(times[0]) < repeats or (time.perf_counter() - started < min_time and len(times[0]) < 20 * repeats):
        for index, step in enumerate(steps):
            _sync(device)
            begin = clock()
            step()
            _sync(device)
            times[index].append(clock() - begin)
    return statistics.median(times[0]), statistics.median(times[1])


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 224, 512], help="image side in pixels")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--modes", nargs="+", default=["fwd", "fwd+bwd"], choices=["fwd", "fwd+bwd"])
    parser.add_argument("--mask-divisor", type=int, default=4, help="mask side = image side / this (the paper: 4)")
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads on CPU")
    parser.add_argument("--repeats", type=int, default=7, help="at least this many timed calls of each")
    parser.add_argument(
        "--min-time", type=float, default=1.0, help="keep timing each cell for at least this many seconds"
    )
    parser.add_argument(
        "--clock",
        default="wall",
        choices=["wall", "cpu"],
        help="wall: perf_counter; cpu: process CPU time, immune to other processes' load (use with --threads 1 on CPU)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    clock = time.perf_counter if args.clock == "wall" else time.process_time

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    print(
        f"path: {active_path()} | torch {torch.__version__} | device {device} | threads {torch.get_num_threads()} | "
        f"{args.dtype} | {args.clock} clock | median of >= {args.repeats} interleaved calls"
    )
    header = f"{'px':>5} {'mask':>5} {'batch':>5} {'mode':>8} {'torch ms':>10} {'fused ms':>10} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        side = max(1, size // args.mask_divisor)
        for batch in args.batches:
            shape = (batch, args.channels, size, size)
            masks = torch.rand((batch, 1, side, side), generator=generator, dtype=dtype).to(device)
            images = torch.rand(shape, generator=generator, dtype=dtype).to(device)
            alternative = torch.rand(shape, generator=generator, dtype=dtype).to(device)
            grads = (torch.randn_like(images), torch.randn_like(images), torch.randn(batch, dtype=dtype, device=device))
            for mode in args.modes:
                steps = (
                    _make_step(reference_mask_blend_tv, mode, masks, images, alternative, grads),
                    _make_step(mask_blend_tv, mode, masks, images, alternative, grads),
                )
                reference_s, fused_s = _time_pair(steps, device, args.repeats, args.min_time, clock)
                print(
                    f"{size:>5} {side:>5} {batch:>5} {mode:>8} {reference_s * 1e3:>10.3f} {fused_s * 1e3:>10.3f} "
                    f"{reference_s / fused_s:>6.2f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
