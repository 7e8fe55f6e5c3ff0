"""``blackbox-saliency demo``: explain a handful of real photos with the shipped ImageNet masker.

The photos come bundled with scikit-image (chelsea the cat, coffee, astronaut), matplotlib
(Grace Hopper) and scikit-learn (china, flower) – no download. A photo whose package is not
installed is skipped with a note. Writes one overlay and one panel PNG per photo and a
contact sheet of all of them, and prints the class, ``p`` and the saliency metric per photo.

Example::

    $ pip install 'blackbox-saliency[demo]'
    $ blackbox-saliency demo --out demo/
    $ blackbox-saliency demo --masker my_masker.pt --out demo/
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..devices import resolve_device
from ..errors import DataNotFoundError, PluginError
from ..explain_inputs import prepare_function
from ..explainer import DEFAULT_MASKER, shipped_masker_path
from ._common import OUTPUT_SUFFIXES, TOP, load_models, stream_explanations, write_explanation
from .commands import add_command


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "demo", __doc__)
    parser.add_argument(
        "--out", type=Path, default=Path("blackbox-saliency-demo"), metavar="DIR",
        help="output folder (default ./blackbox-saliency-demo)",
    )
    parser.add_argument(
        "--masker", default=DEFAULT_MASKER,
        help=f"masker name or checkpoint path (default {DEFAULT_MASKER}, the shipped ImageNet masker)",
    )
    parser.add_argument(
        "--classifier", default=None, help="the black box (default: the one the masker was trained for)"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace files in --out that have an output's name (files an earlier demo wrote there are always "
        "refreshed)",
    )
    parser.set_defaults(func=run)


def _earlier_demo_files(out: Path) -> set[Path]:
    """The files an earlier ``demo`` wrote into ``out`` (listed in its summary.json): the demo refreshes those."""
    summary = out / "summary.json"
    try:
        doc = json.loads(summary.read_text(encoding="utf-8"))
        listed = {Path(v) for photo in doc["photos"] for k, v in photo.items() if k in ("overlay", "panel", "mask")}
        if doc.get("written_by") != "blackbox-saliency demo":
            return set()
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return set()
    return {p.resolve() for p in listed | {summary, out / "contact_sheet.png"}}


def _check_outputs(out: Path, names: list[str], overwrite: bool) -> None:
    """Refuse before any work when --out holds a file this demo would write that an earlier demo did not write there."""
    from ..atomic import check_outputs_free

    ours = _earlier_demo_files(out)
    wanted = [out / f"{name}{suffix}" for name in names for suffix in OUTPUT_SUFFIXES]
    wanted += [out / "contact_sheet.png", out / "summary.json"]
    check_outputs_free([p for p in wanted if p.resolve() not in ours], overwrite=overwrite)


def _load(masker: str, classifier: str | None, device):
    try:
        return load_models(masker, classifier, device)
    except PluginError:
        if masker != DEFAULT_MASKER:
            raise
        raise DataNotFoundError(
            f"the shipped ImageNet masker {DEFAULT_MASKER!r} is missing: "
            f"expected the file {shipped_masker_path(DEFAULT_MASKER)} "
            "(it ships with released versions of blackbox-saliency; "
            "a source checkout has it only after it was trained). "
            "Reinstall the package, or run the demo with your own checkpoint: blackbox-saliency demo --masker PATH.pt"
        ) from None


def _explain_photos(photos, masker, classifier) -> list:
    """Prepare each photo with the black box's evaluation transform and explain its top-1 class, in order."""
    prepare = prepare_function(classifier)
    prepared = ((photo.name, prepare(photo.to_tensor()[0])) for photo in photos)
    return list(stream_explanations(prepared, masker, classifier, TOP))


def run(args: argparse.Namespace) -> int:
    from ..atomic import check_writable_folder
    from ..sample_photos import load_sample_photos

    device = resolve_device(args.device)
    photos = load_sample_photos()
    for note in photos.notes:
        print(f"note: {note}", file=sys.stderr)
    if len(photos) == 0:
        raise DataNotFoundError(
            "no demo photo could be loaded (they come with scikit-image, matplotlib and scikit-learn); "
            "install them with: pip install 'blackbox-saliency[demo]'"
        )
    _check_outputs(args.out, [photo.name for photo in photos], args.overwrite)  # before any model is loaded
    check_writable_folder(args.out, "--out")
    masker, classifier, classifier_name = _load(args.masker, args.classifier, device)
    args.out.mkdir(parents=True, exist_ok=True)
    results = _explain_photos(photos, masker, classifier)
    _write_outputs(args, photos, results, classifier_name)
    return 0


def _write_outputs(args: argparse.Namespace, photos, results: list, classifier_name: str) -> None:
    """Each photo's files and line, then the contact sheet and ``summary.json``."""
    from ..atomic import atomic_write, atomic_write_text
    from ..visualize import contact_sheet, render_overlays

    overlays, summary = [], []
    for photo, result in zip(photos, results):
        paths = write_explanation(result, args.out, photo.name)
        print(
            f"{photo.name:<10} {result.class_name!r:<28} p = {result.prob:.3f}   "
            f"saliency metric = {result.saliency_metric:7.3f}"
        )
        shown = render_overlays(result.image.unsqueeze(0), result.mask.unsqueeze(0), [result.caption()], min_side=320)
        overlays.append(shown[0])
        summary.append({**result.summary(), "source": photo.source, **{k: str(v) for k, v in paths.items()}})

    sheet = contact_sheet(overlays, labels=[p.name for p in photos], columns=min(3, len(overlays)), tile_width=320)
    sheet_path = args.out / "contact_sheet.png"
    atomic_write(sheet_path, lambda handle: sheet.save(handle, format="PNG"))
    mean = float(np.mean([r.saliency_metric for r in results]))
    doc = {
        "written_by": "blackbox-saliency demo",
        "masker": str(args.masker),
        "classifier": classifier_name,
        "mean_saliency_metric": mean,
        "photos": summary,
        "notes": photos.notes,
    }
    atomic_write_text(json.dumps(doc, indent=2) + "\n", args.out / "summary.json")
    print(f"mean saliency metric {mean:.3f} over {len(results)} photos (lower is better)")
    print(f"wrote {len(results)} overlays and the contact sheet {sheet_path}")
