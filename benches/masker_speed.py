"""Masks per second of the masking model next to forwards per second of the black box it explains.

Everything runs on the CPU in one process, interleaved round by round (so that load from other
processes hits all variants alike); the table gives median milliseconds per call, items per second
and the ratio (masks/s) / (black-box forwards/s) for the same batch size. Ratio > 1 means the
masker explains images faster than the black box can classify them.

Variants (``--variants``):
  blackbox      the black box's eager forward (the baseline of every ratio)
  blackbox_ts   the black box traced + torch.jit.freeze + optimize_for_inference (like-for-like reference)
  eager         SaliencyMasker.forward (with input checks), torch.inference_mode
  torchscript   the file written by blackbox_saliency.export (torch.jit.trace), loaded back
  torchscript_frozen   that module after torch.jit.freeze + torch.jit.optimize_for_inference
  compile       torch.compile of the unchecked forward (failures are caught and reported)
  export        the torch.export file, loaded back (.module())
  aoti          the AOTInductor package (export --format aoti), loaded with torch._inductor.aoti_load_package
  onnx          the ONNX file under onnxruntime (when onnx, onnxscript and onnxruntime are installed)

Example::

    python benches/masker_speed.py   # fast preset, efficientnet_lite0 encoder, 224 px, batches 1 and 8
    python benches/masker_speed.py --variants blackbox eager torchscript_frozen --batches 1 --repeats 30
    python benches/masker_speed.py --encoder resnet50 --preset paper --no-pretrained
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

ALL_VARIANTS = (
    "blackbox",
    "blackbox_ts",
    "eager",
    "torchscript",
    "torchscript_frozen",
    "compile",
    "export",
    "aoti",
    "onnx",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="efficientnet_lite0")
    parser.add_argument("--preset", default="fast", choices=("fast", "paper"))
    parser.add_argument("--classifier", default="efficientnet_lite0", help="black box measured alongside (plugin name)")
    parser.add_argument(
        "--masker", default=None, help="a masker name or checkpoint to measure instead of a fresh (untrained) model"
    )
    parser.add_argument(
        "--no-pretrained", action="store_true", help="random encoder / black-box weights (speed is the same)"
    )
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=20, help="timed rounds per batch size")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--variants", nargs="+", default=list(ALL_VARIANTS), choices=ALL_VARIANTS)
    return parser.parse_args(argv)


def build(args: argparse.Namespace):
    from blackbox_saliency import load_classifier, load_masker
    from blackbox_saliency.maskers import SaliencyMasker

    pretrained = not args.no_pretrained
    classifier = load_classifier(args.classifier, pretrained=pretrained) if args.classifier != "none" else None
    if args.masker:
        masker = load_masker(args.masker)  # a registered name (e.g. the shipped one) or a checkpoint path
    else:
        num_classes = classifier.num_classes if classifier is not None else 1000
        masker = SaliencyMasker(num_classes, encoder=args.encoder, preset=args.preset, encoder_pretrained=pretrained)
    return classifier.eval() if classifier is not None else None, masker.eval()


class VariantBuilders:
    """How each variant of :data:`ALL_VARIANTS` is made: one method per variant, returning the callable to time."""

    def __init__(self, args: argparse.Namespace, classifier, masker, workdir: Path) -> None:
        self.args, self.classifier, self.masker, self.workdir = args, classifier, masker, workdir
        self.example = (torch.rand(2, 3, args.size, args.size), torch.zeros(2, dtype=torch.long))

    def _export(self, name: str, fmt: str, batch: int) -> Path:
        from blackbox_saliency.export import export_masker

        return export_masker(self.masker, self.workdir / name, fmt, size=self.args.size, batch=batch).path

    def blackbox(self) -> Callable:
        return self.classifier

    def blackbox_ts(self) -> Callable:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(self.classifier, self.example[0][:1], check_trace=False)
            return torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))

    def eager(self) -> Callable:
        return self.masker

    def torchscript(self) -> Callable:
        path = self._export("masker.pt", "torchscript", batch=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.jit.load(str(path))

    def torchscript_frozen(self) -> Callable:
        path = self.workdir / "masker.pt"
        if not path.exists():
            path = self._export("masker.pt", "torchscript", batch=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = torch.jit.load(str(path))
            return torch.jit.optimize_for_inference(torch.jit.freeze(module.eval()))

    def compile(self) -> Callable:
        from blackbox_saliency.export import MaskerExportWrapper

        return torch.compile(MaskerExportWrapper(self.masker).eval())

    def export(self) -> Callable:
        path = self._export("masker.pt2", "export", batch=2)
        with open(path, "rb") as handle:
            return torch.export.load(handle).module()

    def aoti(self) -> Callable:
        import torch._inductor

        return torch._inductor.aoti_load_package(str(self._export("masker_aoti.pt2", "aoti", batch=2)))

    def onnx(self) -> Callable:
        path = self._export("masker.onnx", "onnx", batch=2)
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        # onnxruntime's idle threads spin by default, stealing the cores from the torch variants timed in between
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return lambda images, classes: session.run(["masks"], {"images": images.numpy(), "classes": classes.numpy()})[0]


def make_variants(args, classifier, masker, workdir: Path) -> tuple[dict[str, Callable], list[str]]:
    """The wanted variants that could be made (each called once on an example), and a note per variant."""
    builders = VariantBuilders(args, classifier, masker, workdir)
    fns: dict[str, Callable] = {}
    notes: list[str] = []
    for name in ALL_VARIANTS:
        if name not in args.variants or (name.startswith("blackbox") and classifier is None):
            continue
        start = time.perf_counter()
        try:
            fn = getattr(builders, name)()
            with torch.inference_mode():
                fn(builders.example[0]) if name.startswith("blackbox") else fn(*builders.example)
            fns[name] = fn
            notes.append(f"{name}: ready in {time.perf_counter() - start:.1f} s")
        except Exception as exc:  # report and go on: a failing variant must not hide the others
            message = str(exc).strip()
            notes.append(f"{name}: FAILED ({type(exc).__name__}: {message.splitlines()[0][:160] if message else ''})")
            if "--debug" in sys.argv:
                traceback.print_exc()
    return fns, notes


def measure(
    fns: dict[str, Callable], size: int, batch: int, num_classes: int, repeats: int, warmup: int
) -> dict[str, list[float]]:
    images = torch.rand(batch, 3, size, size)
    classes = torch.randint(0, num_classes, (batch,))
    calls = {
        name: (lambda f=fn: f(images)) if name.startswith("blackbox") else (lambda f=fn: f(images, classes))
        for name, fn in fns.items()
    }
    times: dict[str, list[float]] = {name: [] for name in calls}
    with torch.inference_mode():
        for _ in range(warmup):
            for call in calls.values():
                call()
        for _ in range(repeats):
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    classifier, masker = build(args)
    print(
        f"# masker: encoder={masker.config['encoder']} preset={masker.config['preset']} "
        f"decoder={masker.config['upsampler_channels']}x{masker.config['bottlenecks_per_block']} "
        f"mask stride={masker.mask_stride}; black box: {args.classifier}; {args.size}x{args.size} px; "
        f"CPU threads={torch.get_num_threads()}; torch {torch.__version__}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        fns, notes = make_variants(args, classifier, masker, Path(tmp))
        for note in notes:
            print(f"# {note}")
        header = f"{'variant':<20}{'batch':>6}{'median ms':>11}{'items/s':>10}{'ratio vs black box':>20}"
        print(header)
        print("-" * len(header))
        for batch in args.batches:
            times = measure(fns, args.size, batch, masker.num_classes, args.repeats, args.warmup)
            base = statistics.median(times["blackbox"]) if "blackbox" in times else None
            for name in ALL_VARIANTS:
                if name not in times:
                    continue
                med = statistics.median(times[name])
                ratio = f"{base / med:.2f}" if base else "-"
                print(f"{name:<20}{batch:>6}{med * 1000:>11.1f}{batch / med:>10.1f}{ratio:>20}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
