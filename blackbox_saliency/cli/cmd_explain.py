"""``blackbox-saliency explain IMAGE|FOLDER|GLOB...``: saliency overlays for image files.

With no other option the shipped ImageNet masker explains the black box's top-1 class and the
outputs go to ``./blackbox-saliency-explained/`` (the command says where it wrote); ``--topk K``
explains the top-K classes (one overlay per class, the class name in the file name and caption).

For every image: read it, prepare it with the classifier's evaluation transform (ImageNet
models: shorter side 256, centre crop 224), pick the class (``--class top`` = the black box's
top-1, or an index / name), compute the mask with the masker and write

* ``DIR/<stem>.png`` – the overlay: image + heat map + tightest box + caption,
* ``DIR/<stem>_panel.png`` – original | overlay | mask side by side,
* ``DIR/<stem>_mask.npy`` – the raw mask, float32 (H, W) in [0, 1], at the resolution of the
  prepared image (the classifier's input),

plus ``DIR/summary.json``, and prints the class, ``p`` and the saliency metric per image. An
unreadable image is reported and skipped; the others are still explained, the exit code is 1.

Example::

    $ blackbox-saliency explain cat.jpg
    $ blackbox-saliency explain photos/ --topk 3
    $ blackbox-saliency explain "shots/*.png" --masker my_masker.pt --class "tiger cat" --out explained/

This module also holds the model-loading helpers shared by the ``demo`` and ``video`` commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataNotFoundError, InputError, PluginError
from ..explainer import DEFAULT_MASKER, prepare_function
from ..explainer import explain_batch as library_explain_batch
from .commands import COMMAND_HELP

TOP = "top"


# --------------------------------------------------------------------------- shared helpers
def resolve_device(name: str | None) -> torch.device:
    """``"auto"``/``None`` -> CUDA when available else CPU; otherwise ``torch.device(name)`` (checked)."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise InputError(f"unknown device {name!r} ({error}); use auto, cpu, cuda or cuda:N.") from None
    if device.type not in ("cpu", "cuda"):
        raise InputError(f"device {name!r} is not supported ({device.type} tensors hold no data to explain); use auto, cpu, cuda or cuda:N.")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r} asked for but CUDA is not available here; use --device cpu.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise InputError(f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s).")
    return device


def shipped_masker_path(name: str) -> Path:
    """Where a shipped masker named ``name`` lives inside the installed package."""
    return Path(__file__).resolve().parent.parent / "assets" / "maskers" / f"{name}.pt"


def load_models(masker_spec: str, classifier_name: str | None, device: torch.device) -> tuple[torch.nn.Module, torch.nn.Module, str]:
    """Load the masker (registered name or checkpoint path) and its black box; both in eval mode on ``device``.

    The classifier defaults to the masker's ``classifier_name`` (recorded when it was trained).
    """
    from ..plugins import load_classifier, load_masker

    try:
        masker = load_masker(masker_spec)
    except PluginError as error:
        shipped = shipped_masker_path(str(masker_spec))
        looks_like_path = any(sep in str(masker_spec) for sep in ("/", "\\")) or str(masker_spec).endswith((".pt", ".pth"))
        if looks_like_path:
            raise DataNotFoundError(f"masker checkpoint {masker_spec} does not exist; check the path.") from None
        raise PluginError(f"{error} (a shipped masker would be the file {shipped}.)") from None
    name = classifier_name or getattr(masker, "classifier_name", None)
    if not name:
        raise InputError(
            f"the masker {masker_spec!r} does not record which black box it explains; pass --classifier NAME "
            "(`blackbox-saliency plugins` lists the classifiers)."
        )
    classifier = load_classifier(name)
    m_classes, c_classes = getattr(masker, "num_classes", None), getattr(classifier, "num_classes", None)
    if m_classes is not None and c_classes is not None and m_classes != c_classes:
        raise InputError(
            f"the masker {masker_spec!r} knows {m_classes} classes but the classifier {name!r} has {c_classes}; "
            "pass the --classifier the masker was trained for."
        )
    return masker.to(device).eval(), classifier.to(device).eval(), name


def resolve_class(spec: str | None, classifier: torch.nn.Module, keywords: Sequence[str] = (TOP,)) -> int | str:
    """Turn ``--class`` into a class index, or return the keyword (``"top"``...) unchanged."""
    if spec is None:
        return keywords[0]
    text = str(spec).strip()
    if text.lower() in keywords:
        return text.lower()
    if hasattr(classifier, "class_index"):
        return int(classifier.class_index(text))
    if text.isdigit():
        return int(text)
    raise InputError(f"--class {spec!r}: this classifier has no class names; pass a class index or one of {list(keywords)}.")


def unique_stem(path: Path, taken: set[str]) -> str:
    """File stem for the outputs of ``path``; ``name_2``, ``name_3``... when two inputs share a stem."""
    stem, k = path.stem or "image", 2
    candidate = stem
    while candidate in taken:
        candidate, k = f"{stem}_{k}", k + 1
    taken.add(candidate)
    return candidate


@dataclass
class Explanation:
    """One explained image (all on the CPU)."""

    name: str
    image: torch.Tensor  # (3, H, W) as the black box saw it
    mask: torch.Tensor  # (1, H, W)
    class_id: int
    class_name: str
    prob: float
    saliency_metric: float
    box_area: float
    box_prob: float
    box: list[float]
    rank: int | None = None  # with --topk K > 1: 1..K, the class's rank among the black box's outputs

    def caption(self) -> str:
        from ..visualize import caption

        extra = f"top-{self.rank}" if self.rank else None
        return caption(self.class_name, self.prob, self.saliency_metric, extra)

    def summary(self) -> dict:
        return {
            "name": self.name,
            "class_id": self.class_id,
            "class_name": self.class_name,
            "p": self.prob,
            "saliency_metric": self.saliency_metric,
            "box_area": self.box_area,
            "p_box_crop": self.box_prob,
            "box_xyxy": self.box,
            "rank": self.rank,
        }

    def line(self) -> str:
        return (
            f"{self.name}: class {self.class_id} {self.class_name!r}  p = {self.prob:.3f}  "
            f"saliency metric = {self.saliency_metric:.3f}  (box area {self.box_area:.2f}, p on the box crop {self.box_prob:.3f})"
        )


def explain_batch(
    images: torch.Tensor,
    names: Sequence[str],
    masker: torch.nn.Module,
    classifier: torch.nn.Module,
    class_choice: int | str,
    topk: int = 1,
) -> list[Explanation]:
    """Explain a batch (B, 3, H, W) in [0, 1] already on the models' device (``topk`` classes per image with ``top``)."""
    chosen = None if class_choice == TOP else torch.full((images.shape[0],), int(class_choice), dtype=torch.int64, device=images.device)
    result = library_explain_batch(images, masker, classifier, chosen, topk)
    k = result.classes.shape[1]
    return [
        Explanation(
            name=name,
            image=images[i].cpu(),
            mask=result.masks[i, r:r + 1].float().cpu(),
            class_id=int(result.classes[i, r]),
            class_name=result.class_names[i][r],
            prob=float(result.probs[i, r]),
            saliency_metric=float(result.saliency[i, r]),
            box_area=float(result.areas[i, r]),
            box_prob=float(result.box_probs[i, r]),
            box=[float(v) for v in result.boxes[i, r].tolist()],
            rank=r + 1 if k > 1 else None,
        )
        for i, name in enumerate(names)
        for r in range(k)
    ]


def write_explanation(result: Explanation, out_dir: Path, stem: str) -> dict[str, Path]:
    """Write ``<stem>.png`` (overlay), ``<stem>_panel.png`` and ``<stem>_mask.npy``; return their paths."""
    from ..atomic import atomic_write
    from ..visualize import render_overlays, render_panels

    images, masks, captions = result.image.unsqueeze(0), result.mask.unsqueeze(0), [result.caption()]
    overlay = render_overlays(images, masks, captions, min_side=448)[0]
    panel = render_panels(images, masks, captions, min_side=320)[0]
    paths = {"overlay": out_dir / f"{stem}.png", "panel": out_dir / f"{stem}_panel.png", "mask": out_dir / f"{stem}_mask.npy"}
    atomic_write(paths["overlay"], lambda handle: overlay.save(handle, format="PNG"))
    atomic_write(paths["panel"], lambda handle: panel.save(handle, format="PNG"))
    atomic_write(paths["mask"], lambda handle: np.save(handle, result.mask[0].numpy().astype(np.float32)))
    return paths


def stream_explanations(
    items: Iterable[tuple[str, torch.Tensor]],
    masker: torch.nn.Module,
    classifier: torch.nn.Module,
    class_choice: int | str,
    device: torch.device,
    batch_size: int = 8,
    topk: int = 1,
) -> Iterator[Explanation]:
    """Explain prepared (name, (3, H, W) image) pairs lazily, one batch of equally sized images at a time.

    ``items`` is consumed as the batches fill, so memory is bounded by one batch, not by the number of images.
    """
    batch: list[tuple[str, torch.Tensor]] = []

    def flush() -> list[Explanation]:
        images = torch.stack([image for _, image in batch]).to(device)
        done = explain_batch(images, [name for name, _ in batch], masker, classifier, class_choice, topk)
        batch.clear()
        return done

    for name, image in items:
        if batch and tuple(image.shape) != tuple(batch[0][1].shape):
            yield from flush()
        batch.append((name, image))
        if len(batch) == batch_size:
            yield from flush()
    if batch:
        yield from flush()


def explain_tensors(
    items: Sequence[tuple[str, torch.Tensor]],
    masker: torch.nn.Module,
    classifier: torch.nn.Module,
    class_choice: int | str,
    device: torch.device,
    batch_size: int = 8,
) -> list[Explanation]:
    """Prepare and explain (name, (3, H, W) image) pairs; the results in the order of ``items``."""
    prepare = prepare_function(classifier)
    prepared = ((name, prepare(image)) for name, image in items)
    return list(stream_explanations(prepared, masker, classifier, class_choice, device, batch_size))


def read_prepared(
    paths: Iterable[Path], prepare: Callable[[torch.Tensor], torch.Tensor], failures: list[str], max_side: int | None = None
) -> Iterator[tuple[str, torch.Tensor]]:
    """Read and prepare one image at a time (the full-size photo is released at once); unreadable ones are reported in ``failures``."""
    from ..errors import ImageReadError
    from ..io import load_image

    for path in paths:
        try:
            image = load_image(path, max_side=max_side)
        except ImageReadError as error:
            failures.append(str(path))
            print(f"blackbox-saliency explain: error: {error}; skipped", file=sys.stderr)
            continue
        yield str(path), prepare(image)


# --------------------------------------------------------------------------- the command
DEFAULT_OUT = Path("blackbox-saliency-explained")
PROGRESS_FROM = 6  # a progress bar for more images than this handful


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain",
        help=COMMAND_HELP["explain"],
        description=(__doc__ or "").split("\n\n")[0].replace("``", ""),
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (any format Pillow reads), folders (every image inside) or glob patterns")
    parser.add_argument("--masker", default=DEFAULT_MASKER, help=f"a registered masker name or a checkpoint path (.pt); default {DEFAULT_MASKER}, the shipped ImageNet masker")
    parser.add_argument("--classifier", default=None, help="the black box (default: the one the masker was trained for)")
    parser.add_argument("--class", dest="class_spec", default=TOP, metavar="ID|NAME|top", help="class to explain (default: top = the black box's top-1)")
    parser.add_argument("--topk", type=int, default=1, metavar="K", help="explain the black box's top-K classes, one overlay each (default 1; not with --class)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help=f"output folder, created if needed (default ./{DEFAULT_OUT})")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    parser.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default 8)")
    parser.add_argument(
        "--max-side", type=int, default=2048,
        help="shrink photos whose longer side exceeds this many pixels while reading (JPEGs decode at reduced scale; "
        "the masker sees a 224-px view anyway), 0 = off (default %(default)s)",
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    parser.set_defaults(func=run)


def _slug(text: str) -> str:
    """A file-name-safe version of a class name (``"tiger cat"`` -> ``"tiger_cat"``)."""
    kept = "".join(c if c.isalnum() else "_" for c in text.lower())
    return "_".join(part for part in kept.split("_") if part)[:40] or "class"


def _check_arguments(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {args.batch_size}.")
    if args.max_side < 0:
        raise InputError(f"--max-side must be >= 0 (0 = off), got {args.max_side}.")
    if args.topk < 1:
        raise InputError(f"--topk must be >= 1, got {args.topk}.")
    if args.topk > 1 and str(args.class_spec).lower() != TOP:
        raise InputError("--topk explains the black box's top classes; it cannot be combined with --class.")
    if args.out.exists() and not args.out.is_dir():
        raise InputError(f"--out {args.out} is an existing file; pass a folder for the overlays and masks.")


def run(args: argparse.Namespace) -> int:
    from ..explainer import image_files

    _check_arguments(args)
    paths = image_files(args.images)
    device = resolve_device(args.device)
    masker, classifier, classifier_name = load_models(args.masker, args.classifier, device)
    class_choice = resolve_class(args.class_spec, classifier)
    args.out.mkdir(parents=True, exist_ok=True)

    failures: list[str] = []
    bar = None
    if args.progress and len(paths) >= PROGRESS_FROM:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(paths), desc="explain", unit="image")
    say = bar.write if bar is not None else print
    prepared = read_prepared(paths, prepare_function(classifier), failures, args.max_side or None)
    taken: set[str] = set()
    summary = []
    done: set[str] = set()
    for result in stream_explanations(prepared, masker, classifier, class_choice, device, args.batch_size, args.topk):
        name = Path(result.name)
        suffix = f"_top{result.rank}_{_slug(result.class_name)}" if result.rank else ""
        stem = unique_stem(name.with_name(name.stem + suffix), taken)
        try:
            paths_written = write_explanation(result, args.out, stem)
        except OSError as error:
            failures.append(result.name)
            say(f"blackbox-saliency explain: error: cannot write the outputs of {result.name}: {error}")
            continue
        say(result.line())
        summary.append({**result.summary(), **{k: str(v) for k, v in paths_written.items()}})
        if bar is not None and result.name not in done:
            done.add(result.name)
            bar.update(1)
    if bar is not None:
        bar.close()
    if summary:
        from ..atomic import atomic_write_text

        mean = float(np.mean([s["saliency_metric"] for s in summary]))
        doc = {"masker": str(args.masker), "classifier": classifier_name, "topk": args.topk, "mean_saliency_metric": mean, "images": summary, "failed": failures}
        atomic_write_text(json.dumps(doc, indent=2) + "\n", args.out / "summary.json")
        print(f"explained {len(summary)} image/class pair(s), mean saliency metric {mean:.3f} (lower is better); wrote the overlays, "
              f"panels, masks and summary.json to {args.out.resolve()}")
    if failures:
        print(f"{len(failures)} image(s) failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


__all__ = [
    "Explanation",
    "explain_batch",
    "explain_tensors",
    "read_prepared",
    "stream_explanations",
    "load_models",
    "register",
    "resolve_class",
    "resolve_device",
    "run",
    "shipped_masker_path",
    "write_explanation",
]
