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
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from ..devices import resolve_device
from ..errors import InputError
from ..explain_inputs import prepare_function
from ..explainer import DEFAULT_MASKER
from ._common import OUTPUT_SUFFIXES, TOP, load_models, resolve_class, stream_explanations, write_explanation
from .commands import add_command

DEFAULT_OUT = Path("blackbox-saliency-explained")
PROGRESS_FROM = 6  # a progress bar for more images than this handful


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "explain", __doc__)
    parser.add_argument(
        "images", nargs="+", metavar="IMAGE",
        help="image files (any format Pillow reads), folders (every image inside) or glob patterns",
    )
    parser.add_argument(
        "--masker", default=DEFAULT_MASKER,
        help=f"a registered masker name or a checkpoint path (.pt); default {DEFAULT_MASKER}, "
        "the shipped ImageNet masker",
    )
    parser.add_argument(
        "--classifier", default=None, help="the black box (default: the one the masker was trained for)"
    )
    parser.add_argument(
        "--class", dest="class_spec", default=TOP, metavar="ID|NAME|top",
        help="class to explain (default: top = the black box's top-1)",
    )
    parser.add_argument(
        "--topk", type=int, default=1, metavar="K",
        help="explain the black box's top-K classes, one overlay each (default 1; not with --class)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
        help=f"output folder, created if needed (default ./{DEFAULT_OUT})",
    )
    _add_run_options(parser)
    parser.set_defaults(func=run)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """How the command runs: device, batch size, reading, threads, progress, overwriting."""
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    parser.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default 8)")
    parser.add_argument(
        "--max-side", type=int, default=2048,
        help="shrink photos whose longer side exceeds this many pixels while reading (JPEGs decode at reduced scale; "
        "the masker sees a 224-px view anyway), 0 = off (default %(default)s)",
    )
    parser.add_argument(
        "--threads", type=int, default=None,
        help="CPU threads for torch (default: torch's choice; on a busy machine 1 can be faster)",
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace files already in --out that have an output's name (input photos are never replaced)",
    )


def _per_rank(summary: list[dict]) -> dict[int, dict]:
    """Mean saliency metric and count per class rank (1 = the black box's top class; without --topk every row is
    rank 1)."""
    ranks: dict[int, list[float]] = {}
    for row in summary:
        ranks.setdefault(row["rank"] or 1, []).append(row["saliency_metric"])
    return {
        rank: {"mean_saliency_metric": float(np.mean(values)), "count": len(values)}
        for rank, values in sorted(ranks.items())
    }


def _slug(text: str) -> str:
    """A file-name-safe version of a class name (``"tiger cat"`` -> ``"tiger_cat"``)."""
    kept = "".join(c if c.isalnum() else "_" for c in text.lower())
    return "_".join(part for part in kept.split("_") if part)[:40] or "class"


class OutputNames:
    """Unique output names in one ``--out`` folder: never an input photo, never a name this run (or another run
    writing to the same folder at the same time) took, and never a file that was there before the run unless
    ``overwrite`` (``name_2``, ``name_3``... otherwise). Without ``overwrite`` each name is claimed with an exclusive
    create, so two runs never pick the same one; :meth:`release` removes claims that were never written."""

    def __init__(self, out: Path, inputs: Iterable[Path], overwrite: bool = False) -> None:
        self.out, self.overwrite = out, overwrite
        self.protected = {p.resolve() for p in inputs}
        self.written: set[Path] = set()
        self.claimed: list[Path] = []

    def _free(self, path: Path) -> bool:
        resolved = path.resolve()
        if resolved in self.protected or resolved in self.written:
            return False
        return self.overwrite or not path.exists()

    def _claim(self, paths: list[Path]) -> bool:
        """Create every path exclusively (empty); all or none."""
        made: list[Path] = []
        for path in paths:
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            except FileExistsError:
                for other in made:
                    other.unlink(missing_ok=True)
                return False
            made.append(path)
        self.claimed.extend(made)
        return True

    def stem(self, wanted: str, suffixes: tuple[str, ...] = OUTPUT_SUFFIXES) -> str:
        """A stem whose every ``stem + suffix`` in ``out`` is free; the names are then taken."""
        base, k = wanted or "image", 2
        candidate = base
        while True:
            paths = [self.out / f"{candidate}{suffix}" for suffix in suffixes]
            if all(self._free(p) for p in paths) and (self.overwrite or self._claim(paths)):
                break
            candidate, k = f"{base}_{k}", k + 1
        self.written.update(p.resolve() for p in paths)
        return candidate

    def __enter__(self) -> OutputNames:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Remove the claimed names that are still empty (their image failed, or the run stopped)."""
        for path in self.claimed:
            try:
                if path.stat().st_size == 0:
                    path.unlink()
            except OSError:
                pass
        self.claimed.clear()


def _read_prepared(
    paths: Iterable[Path],
    prepare: Callable[[torch.Tensor], torch.Tensor],
    failures: list[str],
    max_side: int | None = None,
) -> Iterator[tuple[str, torch.Tensor]]:
    """Read and prepare one image at a time (the full-size photo is released at once); unreadable ones are
    reported in ``failures``."""
    from ..errors import ImageReadError
    from ..io import load_image

    for path in paths:
        try:
            prepared = prepare(load_image(path, max_side=max_side))
        except ImageReadError as error:
            failures.append(str(path))
            print(f"blackbox-saliency explain: error: {path}: {error}; skipped", file=sys.stderr)
            continue
        yield str(path), prepared


def _check_arguments(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {args.batch_size}.")
    if args.max_side < 0:
        raise InputError(f"--max-side must be >= 0 (0 = off), got {args.max_side}.")
    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be >= 1, got {args.threads}.")
    if args.topk < 1:
        raise InputError(f"--topk must be >= 1, got {args.topk}.")
    if args.topk > 1 and str(args.class_spec).lower() != TOP:
        raise InputError("--topk explains the black box's top classes; it cannot be combined with --class.")
    if args.out.exists() and not args.out.is_dir():
        raise InputError(f"--out {args.out} is an existing file; pass a folder for the overlays and masks.")


def _progress_bar(args: argparse.Namespace, count: int):  # noqa: ANN202 - a tqdm bar, or None
    """A progress bar over ``count`` images when asked for and worth it, else None."""
    if not (args.progress and count >= PROGRESS_FROM):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=count, desc="explain", unit="image")


def _write_all(
    results: Iterable, args: argparse.Namespace, names: OutputNames, failures: list[str], bar
) -> list[dict]:
    """Write each explanation's files and print its line; the summary rows (failed writes go to ``failures``)."""
    say = bar.write if bar is not None else print
    summary: list[dict] = []
    done: set[str] = set()
    for result in results:
        suffix = f"_top{result.rank}_{_slug(result.class_name)}" if result.rank else ""
        stem = names.stem(Path(result.name).stem + suffix)
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
    return summary


def _write_summary(
    args: argparse.Namespace, classifier_name: str, names: OutputNames, summary: list[dict], failures: list[str]
) -> None:
    """Write ``summary.json`` (under a free name) and print the mean saliency metric per class rank."""
    from ..atomic import atomic_write_text

    per_rank = _per_rank(summary)
    mean = per_rank[1]["mean_saliency_metric"]
    doc = {
        "masker": str(args.masker),
        "classifier": classifier_name,
        "topk": args.topk,
        "mean_saliency_metric": mean,
        "per_rank": per_rank,
        "images": summary,
        "failed": failures,
    }
    summary_path = args.out / f"{names.stem('summary', ('.json',))}.json"
    atomic_write_text(json.dumps(doc, indent=2) + "\n", summary_path)
    ranks = ""
    if len(per_rank) > 1:
        each = (f"top-{r}: {v['mean_saliency_metric']:.3f} over {v['count']}" for r, v in per_rank.items())
        ranks = " (" + ", ".join(each) + ")"
    print(
        f"explained {per_rank[1]['count']} image(s), mean saliency metric of the top-1 class {mean:.3f} "
        f"(lower is better){ranks}; wrote the overlays, panels, masks and {summary_path.name} to {args.out.resolve()}"
    )


def run(args: argparse.Namespace) -> int:
    from ..atomic import check_writable_folder
    from ..explain_inputs import image_files

    _check_arguments(args)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    check_writable_folder(args.out, "--out")  # before any model is loaded or photo explained
    skipped: list[str] = []
    paths = image_files(args.images, skipped)
    for reason in skipped:
        print(f"blackbox-saliency explain: error: {reason}; skipped", file=sys.stderr)
    device = resolve_device(args.device)
    masker, classifier, classifier_name = load_models(args.masker, args.classifier, device)
    class_choice = resolve_class(args.class_spec, classifier)
    args.out.mkdir(parents=True, exist_ok=True)

    failures: list[str] = list(skipped)  # specs that yielded nothing count as failures (exit status 1)
    bar = _progress_bar(args, len(paths))
    prepared = _read_prepared(paths, prepare_function(classifier), failures, args.max_side or None)
    results = stream_explanations(prepared, masker, classifier, class_choice, args.batch_size, args.topk)
    # the claimed names are released at the end, whatever happens
    with OutputNames(args.out, paths, overwrite=args.overwrite) as names:
        summary = _write_all(results, args, names, failures, bar)
        if summary:
            _write_summary(args, classifier_name, names, summary, failures)
    if failures:
        print(f"{len(failures)} image(s) failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


__all__ = ["register", "run"]
