"""``blackbox-saliency explain IMAGE... --masker NAME|PATH --out DIR``: saliency overlays for image files.

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

    $ blackbox-saliency explain cat.jpg dog.png --masker efficientnet_lite0 --out explained/
    $ blackbox-saliency explain cat.jpg --masker my_masker.pt --class "tiger cat" --out explained/

This module also holds the model-loading helpers shared by the ``demo`` and ``video`` commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataNotFoundError, InputError, PluginError

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
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r} asked for but CUDA is not available here; use --device cpu.")
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


def class_name_of(classifier: torch.nn.Module, index: int) -> str:
    names = getattr(classifier, "class_names", None)
    return names[index] if names is not None and 0 <= index < len(names) else f"class {index}"


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

    def caption(self) -> str:
        from ..visualize import caption

        return caption(self.class_name, self.prob, self.saliency_metric)

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
) -> list[Explanation]:
    """Explain a batch (B, 3, H, W) in [0, 1] already on the models' device."""
    from ..metrics import saliency_metric

    with torch.no_grad():
        probs = torch.softmax(classifier(images).float(), dim=1)
        if class_choice == TOP:
            classes = probs.argmax(dim=1)
        else:
            classes = torch.full((images.shape[0],), int(class_choice), dtype=torch.int64, device=images.device)
        masks = masker.explain(images, classes).clamp(0, 1)
        metric = saliency_metric(classifier, images, masks, classes)
    p = probs.gather(1, classes.view(-1, 1)).squeeze(1)
    out = []
    for i, name in enumerate(names):
        cls = int(classes[i])
        out.append(
            Explanation(
                name=name,
                image=images[i].cpu(),
                mask=masks[i].float().cpu(),
                class_id=cls,
                class_name=class_name_of(classifier, cls),
                prob=float(p[i]),
                saliency_metric=float(metric.s[i]),
                box_area=float(metric.area[i]),
                box_prob=float(metric.prob[i]),
                box=[float(v) for v in metric.boxes[i].tolist()],
            )
        )
    return out


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


def prepare_function(classifier: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """(3, H, W) image in [0, 1] -> the tensor the black box is evaluated on (its ``eval_transform``; else unchanged)."""
    make = getattr(classifier, "eval_transform", None)
    if make is None:
        return lambda image: image
    transform = make()
    from ..io import to_pil_image

    return lambda image: transform(to_pil_image(image))


def explain_tensors(
    items: Sequence[tuple[str, torch.Tensor]],
    masker: torch.nn.Module,
    classifier: torch.nn.Module,
    class_choice: int | str,
    device: torch.device,
    batch_size: int = 8,
) -> list[Explanation]:
    """Prepare and explain (name, (3, H, W) image) pairs in batches of equally sized prepared images."""
    prepare = prepare_function(classifier)
    prepared = [(name, prepare(image)) for name, image in items]
    results: dict[int, Explanation] = {}
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, (_, image) in enumerate(prepared):
        groups.setdefault(tuple(image.shape), []).append(i)
    for indices in groups.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            images = torch.stack([prepared[i][1] for i in chunk]).to(device)
            for i, result in zip(chunk, explain_batch(images, [prepared[i][0] for i in chunk], masker, classifier, class_choice)):
                results[i] = result
    return [results[i] for i in range(len(prepared))]


# --------------------------------------------------------------------------- the command
def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="saliency overlays (PNG) and raw masks (.npy) for image files",
        description=(__doc__ or "").split("\n\n")[0].replace("``", ""),
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (any format Pillow reads)")
    parser.add_argument("--masker", required=True, help="a registered masker name (e.g. efficientnet_lite0) or a checkpoint path (.pt)")
    parser.add_argument("--classifier", default=None, help="the black box (default: the one the masker was trained for)")
    parser.add_argument("--class", dest="class_spec", default=TOP, metavar="ID|NAME|top", help="class to explain (default: top = the black box's top-1)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created if needed)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    parser.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default 8)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import ImageReadError
    from ..io import load_image

    if args.batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {args.batch_size}.")
    device = resolve_device(args.device)
    masker, classifier, classifier_name = load_models(args.masker, args.classifier, device)
    class_choice = resolve_class(args.class_spec, classifier)
    args.out.mkdir(parents=True, exist_ok=True)

    failures: list[str] = []
    items: list[tuple[str, torch.Tensor]] = []
    for path in map(Path, args.images):
        try:
            items.append((str(path), load_image(path)))
        except ImageReadError as error:
            failures.append(str(path))
            print(f"blackbox-saliency explain: error: {error}; skipped", file=sys.stderr)
    results = explain_tensors(items, masker, classifier, class_choice, device, args.batch_size) if items else []

    taken: set[str] = set()
    summary = []
    for result in results:
        stem = unique_stem(Path(result.name), taken)
        try:
            paths = write_explanation(result, args.out, stem)
        except OSError as error:
            failures.append(result.name)
            print(f"blackbox-saliency explain: error: cannot write the outputs of {result.name}: {error}", file=sys.stderr)
            continue
        print(result.line())
        summary.append({**result.summary(), **{k: str(v) for k, v in paths.items()}})
    if summary:
        from ..atomic import atomic_write_text

        mean = float(np.mean([s["saliency_metric"] for s in summary]))
        doc = {"masker": str(args.masker), "classifier": classifier_name, "mean_saliency_metric": mean, "images": summary, "failed": failures}
        atomic_write_text(json.dumps(doc, indent=2) + "\n", args.out / "summary.json")
        print(f"explained {len(summary)} image(s), mean saliency metric {mean:.3f} (lower is better); outputs in {args.out}")
    if failures:
        print(f"{len(failures)} image(s) failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


__all__ = [
    "Explanation",
    "explain_batch",
    "explain_tensors",
    "load_models",
    "register",
    "resolve_class",
    "resolve_device",
    "run",
    "shipped_masker_path",
    "write_explanation",
]
