"""Training throughput (images/s) of the masker's training step, each speed option against today's fp32 eager step.

Two parts, each measured in the same run so that the ratios compare like with like:

1. ``--config imagenet`` (default): the ImageNet configuration (``efficientnet_lite0`` black box and encoder,
   224 px, batches 16 and 32, the ``fast`` preset with the class-relative gate and gated skips, fake selectors
   with probability 0.3). The step is timed phase by phase (data wait, encoder, decoder, black box forward +
   backward, optimiser) for: the fp32 eager step that also sends the fake selectors' images through the black
   box (the trainer before these options), then each option alone and all together. Variants are interleaved
   and the median over ``--repeats`` rounds is shown. Real photos from ``imagenet/sample`` (decoded and
   augmented by the trainer's own data set; the data-wait column is the loader running in the main process).
2. ``--config cifar10``: end-to-end ``train()`` runs on CIFAR-10 (ResNet-20 black box and encoder).

    python benches/train_throughput.py --threads 2 --steps 6 --repeats 3
    python benches/train_throughput.py --threads 2 --steps 3 --repeats 3 --batch-sizes 16 --compile
    python benches/train_throughput.py --config cifar10 --threads 1 --steps 20 --repeats 3
    python benches/train_throughput.py --device cuda --batch-sizes 32,64
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

import torch
import torch.nn.functional as F

from blackbox_saliency.data.paths import require
from blackbox_saliency.input_checks import skip_input_checks
from blackbox_saliency.training import TrainConfig, train
from blackbox_saliency.training.data import build_dataset
from blackbox_saliency.training.precision import cpu_bf16_support, resolve_precision

PHASES = ("data", "encoder", "decoder", "black box fwd+bwd", "optimiser")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepBench:
    """The ImageNet training step, split into timed phases, with each speed option switchable."""

    def __init__(self, device: torch.device, batch_size: int, data_path: Path) -> None:
        from blackbox_saliency import load_classifier
        from blackbox_saliency.maskers import SaliencyMasker
        from blackbox_saliency.objective import SaliencyObjective

        self.device = device
        self.classifier = load_classifier("efficientnet_lite0").to(device).eval()
        self.masker = SaliencyMasker(
            1000, encoder="efficientnet_lite0", preset="fast", feature_filter="relative", gate_skips=True
        ).to(device)
        self.masker.init_embedding_from_encoder_head()
        self.masker.train()
        self.params = list(self.masker.trainable_parameters())
        self.optimizer = torch.optim.AdamW(self.params, lr=1e-4)
        self.objective = SaliencyObjective(self.classifier, tv_coef=30, area_coef=12)
        self.data = build_dataset(data_path, 224, train=True, augment="heavy")
        self.batch_size = batch_size
        self.cursor = 0
        self._compiled: tuple | None = None
        self.compile_seconds = float("nan")

    def _networks(self, compiled: bool):
        """The masker's encode / decode, eager or through ``torch.compile`` (compiled on first use, timed)."""
        if not compiled:
            return self.masker.encode, self.masker.decode
        if self._compiled is None:
            self._compiled = (torch.compile(self.masker.encode), torch.compile(self.masker.decode))
        return self._compiled

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        keys = [((self.cursor + i) % len(self.data), self.cursor + i) for i in range(self.batch_size)]
        self.cursor += self.batch_size
        items = [self.data[k] for k in keys]
        return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])

    def set_channels_last(self, on: bool) -> None:
        fmt = torch.channels_last if on else torch.contiguous_format
        self.classifier.to(memory_format=fmt)
        self.masker.encoder.to(memory_format=fmt)

    def step(
        self, precision: str, channels_last: bool, skip_fakes: bool, generator: torch.Generator, compiled: bool = False
    ) -> dict[str, float]:
        choice = resolve_precision(precision, self.device)
        encode, decode = self._networks(compiled)
        times: dict[str, float] = {}
        tick = time.perf_counter()
        images, labels = self._batch()
        images, labels = images.to(self.device), labels.to(self.device)
        fake = torch.rand(images.shape[0], generator=generator) < 0.3
        offset = torch.randint(1, 1000, (images.shape[0],), generator=generator)
        selectors = torch.where(fake, (labels.cpu() + offset) % 1000, labels.cpu()).to(self.device)
        times["data"] = time.perf_counter() - tick

        tick = time.perf_counter()
        x = images.contiguous(memory_format=torch.channels_last) if channels_last else images
        with torch.no_grad(), choice.autocast():
            features = encode(x)
        _sync(self.device)
        times["encoder"] = time.perf_counter() - tick

        tick = time.perf_counter()
        with choice.autocast():
            out = decode(features, selectors)
        masks, scores = out.masks.float(), out.class_scores.float()
        _sync(self.device)
        times["decoder"] = time.perf_counter() - tick

        tick = time.perf_counter()
        with choice.autocast(), skip_input_checks():
            if skip_fakes:
                terms = self.objective(images, masks, selectors, fake=fake, generator=generator)
            else:  # the earlier step: every image through the black box, fake terms zeroed afterwards
                terms = self.objective(images, masks, selectors, generator=generator)
                real = (~fake).to(self.device, masks.dtype)
                terms.total = terms.area + (terms.tv + terms.preserve + terms.destroy) * real
        aux = F.binary_cross_entropy_with_logits(scores, (~fake).float().to(self.device))
        loss = terms.total.mean() + aux
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        _sync(self.device)
        times["black box fwd+bwd"] = time.perf_counter() - tick  # includes the decoder's backward (small)

        tick = time.perf_counter()
        self.optimizer.step()
        _sync(self.device)
        times["optimiser"] = time.perf_counter() - tick
        return times


def _time_variants(bench: StepBench, variants: list, args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    """Phase timings of ``args.repeats`` x ``args.steps`` steps per variant, interleaved, after one warm-up each."""
    generator = torch.Generator().manual_seed(0)
    timings: dict[str, list[dict[str, float]]] = defaultdict(list)
    for _, options in variants:  # warm-up (one-off allocations, oneDNN kernel selection, compilation)
        bench.set_channels_last(options["channels_last"])
        tick = time.perf_counter()
        bench.step(**options, generator=generator)
        if options.get("compiled"):
            for _ in range(2):  # recompilations for a second shape of the fake-selector split settle here
                bench.step(**options, generator=generator)
            print(f"  torch.compile warm-up (compilation + 3 steps): {time.perf_counter() - tick:.0f} s", flush=True)
    for _ in range(args.repeats):
        for name, options in variants:
            bench.set_channels_last(options["channels_last"])
            for _ in range(args.steps):
                timings[name].append(bench.step(**options, generator=generator))
    return timings


def _print_timings(batch: int, names: list[str], timings: dict[str, list[dict[str, float]]]) -> None:
    """Images per second, the ratio to the first variant and the median time of each phase."""
    header = f"{'variant':<48} {'images/s':>9} {'ratio':>6} " + " ".join(f"{p:>18}" for p in PHASES)
    print(header)
    base = None
    for name in names:
        steps = timings[name]
        total = statistics.median(sum(t.values()) for t in steps)
        compute = statistics.median(sum(v for k, v in t.items() if k != "data") for t in steps)
        speed = batch / total
        base = base or speed
        phases = " ".join(f"{statistics.median(t[p] for t in steps) * 1000:>15.0f} ms" for p in PHASES)
        print(f"{name:<48} {speed:>9.1f} {speed / base:>5.2f}x {phases}   (compute only {batch / compute:.1f} img/s)")


def imagenet(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    data = require("imagenet/sample")
    best = "bf16" if resolve_precision("auto", device).name == "bf16" else resolve_precision("auto", device).name
    variants = [
        ("fp32 eager, fakes through black box (before)", dict(precision="fp32", channels_last=False, skip_fakes=False)),
        ("+ skip fake selectors' black-box work", dict(precision="fp32", channels_last=False, skip_fakes=True)),
        ("+ channels-last only", dict(precision="fp32", channels_last=True, skip_fakes=False)),
        (f"+ {best} autocast only", dict(precision=best, channels_last=False, skip_fakes=False)),
        (f"all: {best} + channels-last + skip fakes", dict(precision=best, channels_last=True, skip_fakes=True)),
    ]
    if args.compile:
        variants.append(
            (
                "all + torch.compile (encoder, decoder)",
                dict(precision=best, channels_last=True, skip_fakes=True, compiled=True),
            )
        )
    print(
        f"CPU: {_cpu_model()}; native bf16: {cpu_bf16_support() or 'none'}; torch {torch.__version__}; "
        f"{torch.get_num_threads()} threads; device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    )
    print(f"auto precision here: {resolve_precision('auto', device).name} ({resolve_precision('auto', device).reason})")
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        timings = _time_variants(StepBench(device, batch, data), variants, args)
        print(
            f"\nImageNet, efficientnet_lite0 black box + encoder, 224 px, batch {batch}: "
            f"median over {args.repeats} x {args.steps} steps"
        )
        _print_timings(batch, [name for name, _ in variants], timings)
    print(
        "\n(the data column is decoding + augmentation in the main process: "
        "the trainer moves it into a DataLoader worker)"
    )


def cifar10(args: argparse.Namespace) -> None:
    data = require("cifar10/cifar10_train25k.npz")
    batches = [int(b) for b in args.batch_sizes.split(",")]
    configs = [
        (f"fast b{b} fp32", dict(preset="fast", batch_size=b, precision="fp32", channels_last=False)) for b in batches
    ]
    configs += [
        (f"fast b{batches[0]} auto precision + channels-last", dict(preset="fast", batch_size=batches[0])),
        (
            f"fast b{batches[0]} no fakes/aux",
            dict(
                preset="fast", batch_size=batches[0], fake_prob=0.0, aux_coef=0.0, precision="fp32", channels_last=False
            ),
        ),
        (
            f"paper b{batches[0]} fp32",
            dict(preset="paper", batch_size=batches[0], precision="fp32", channels_last=False),
        ),
    ]
    rows = []
    for name, changes in configs:
        speeds = []
        for repeat in range(args.repeats):
            with tempfile.TemporaryDirectory() as out:
                config = TrainConfig(
                    classifier="cifar10_resnet20",
                    data=str(data),
                    out=out,
                    steps=args.steps,
                    seed=repeat,
                    progress=False,
                    device=args.device,
                    val_every=0,
                    checkpoint_every=0,
                    log_every=args.steps,
                    threads=args.threads,
                    **changes,
                )
                speeds.append(train(config).images_per_s)
        rows.append((name, statistics.median(speeds)))
        print(f"  measured {name}: {[round(s, 1) for s in speeds]}", flush=True)
    baseline = rows[0][1]
    print(f"\n{'configuration':<44} {'median images/s':>16} {'ratio':>7}")
    for name, speed in rows:
        print(f"{name:<44} {speed:>16.1f} {speed / baseline:>7.2f}")
    print(
        f"\n(CPU {_cpu_model()}, device {args.device}, {args.threads} threads, "
        f"{args.steps} steps x {args.repeats} repeats, CIFAR-10 32 px)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=["imagenet", "cifar10"], default="imagenet")
    parser.add_argument("--steps", type=int, default=4, help="steps per variant and round")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="add a torch.compile variant (compilation takes minutes on a CPU; excluded from the timings, printed)",
    )
    parser.add_argument(
        "--batch-sizes", default=None, help="comma-separated (default 16,32 for imagenet, 32 for cifar10)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    if args.batch_sizes is None:
        args.batch_sizes = "16,32" if args.config == "imagenet" else "32"
    with contextlib.suppress(KeyboardInterrupt):
        (imagenet if args.config == "imagenet" else cifar10)(args)


if __name__ == "__main__":
    main()
