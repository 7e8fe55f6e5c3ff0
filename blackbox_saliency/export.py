"""Export a masker to TorchScript, ``torch.export``, an AOTInductor package or ONNX.

Every exported graph is called as ``m(images, classes) -> masks`` with the
library's conventions: images float32 (B, 3, H, W) RGB in [0, 1] (the graph
normalises them itself), classes int64 (B,), masks float32 (B, 1, H, W) in
[0, 1]. Every file refuses what the eager masker refuses, in the same words (the key phrases of
:data:`blackbox_saliency.export_guards.PHRASES`; ``tests/test_export_guards.py`` fuzzes this):

* TorchScript: every check, scripted (``torch.jit.Error`` whose last line is the message).
* ``torch.export`` and AOTInductor: channels, one class per image, empty batch, the size rule, NaN,
  the [0, 1] range and the class range are data checks in the graph (``RuntimeError`` with the
  message), so compiled code never trusts a size it has not checked. Dtype and rank: ``torch.export``'s
  loader refuses them in its own words (``Tensor dtype mismatch``, ``Guard failed``); AOTInductor
  packages refuse them in ours on every call (``AOTI_RUNTIME_CHECK_INPUTS=0`` turns that off).
* ONNX: onnxruntime refuses a wrong rank, dtype, channel count or class count in its own words;
  a sample with NaN or out-of-range pixels or a class out of range gets an out-of-range class
  index, so the CPU provider refuses it (``indices element out of data bounds``). ONNX has no
  assert: GPU providers may not check indices, so check values before calling them there.

Exported files take float32 only (eager takes any float dtype) and, with dynamic sizes, heights and
widths that are multiples of the encoder's coarsest stride (eager takes any size).

Shapes the files accept:

* ``"torchscript"`` (``torch.jit.trace``; load with ``torch.jit.load``, needs only torch):
  any batch size and any image size, odd sizes included.
* ``"aoti"`` (``torch.export`` compiled ahead of time by AOTInductor into a ``.pt2`` package of native code;
  load with ``torch._inductor.aoti_load_package(path)`` in Python, or ``torch::inductor::AOTIModelPackageLoader``
  in C++; no import of this library): the shapes of ``"export"``; compiling takes a minute or more.
* ``"export"`` (``torch.export``; load with ``torch.export.load(path).module()``) and
  ``"onnx"`` (``torch.onnx.export(dynamo=True)``; needs ``pip install onnx onnxscript``):
  any batch size; height and width any multiple of the encoder's coarsest stride (32 for the
  ImageNet encoders) that is at least twice that stride, when the example size is such a
  multiple; otherwise the example size only (see :attr:`ExportResult.dynamic`).

Each file carries a JSON description (the masker's config and these conventions): the extra
file ``blackbox_saliency.json`` in TorchScript / ``torch.export`` archives, ONNX metadata
property ``blackbox_saliency`` in ONNX models. By default the export is checked against the
eager masker on the example batch, on a larger batch and (when dynamic) on a second size.

Example:
    >>> import tempfile, pathlib, torch
    >>> from blackbox_saliency.maskers import SaliencyMasker
    >>> from blackbox_saliency.export import export_masker
    >>> masker = SaliencyMasker(10, encoder="resnet18", encoder_pretrained=False, preset="fast")
    >>> result = export_masker(masker, pathlib.Path(tempfile.mkdtemp()) / "m.pt", "torchscript", size=64)
    >>> scripted = torch.jit.load(str(result.path))
    >>> scripted(torch.rand(2, 3, 64, 96), torch.tensor([1, 2])).shape
    torch.Size([2, 1, 64, 96])
"""

from __future__ import annotations

import importlib.util
import json
import os
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .atomic import atomic_path, atomic_write
from .devices import module_device
from .errors import BlackBoxSaliencyError, InputError
from .export_guards import aoti_input_checks_always_on, check_traced_inputs, graph_input_checks
from .interfaces import Masker, TrainableMasker

__all__ = [
    "FORMATS",
    "CheckedScriptMasker",
    "ExportError",
    "ExportResult",
    "MaskerExportWrapper",
    "check_traced_inputs",
    "export_masker",
    "read_export_description",
]

FORMATS = ("torchscript", "export", "aoti", "onnx")
DESCRIPTION_KEY = "blackbox_saliency.json"


class ExportError(BlackBoxSaliencyError, RuntimeError):
    """A masker could not be exported, a needed package is missing, or the export does not match the eager
    model."""


@dataclass
class ExportResult:
    """Outcome of :func:`export_masker`.

    Attributes:
        path: the written file.
        format: ``"torchscript"``, ``"export"``, ``"aoti"`` or ``"onnx"``.
        dynamic: which input dimensions the file accepts freely, in words.
        max_abs_diff: largest |exported - eager| over the checks (``None`` when not checked).
        notes: anything the caller should know (e.g. a check skipped for a missing package).
    """

    path: Path
    format: str
    dynamic: str
    max_abs_diff: float | None = None
    notes: list[str] = field(default_factory=list)


class MaskerExportWrapper(nn.Module):
    """``(images, classes) -> masks`` around a masker.

    ``guard``: record :func:`~blackbox_saliency.export_guards.graph_input_checks` into the graph with
    this size rule (``{"stride": s}``, ``{"size": (h, w)}`` or ``{}`` for any size); ``None``: no graph
    checks.
    ``poison_invalid``: for formats that cannot assert (ONNX), replace the class of an invalid sample
    (NaN or out-of-range pixels, a class out of range) by ``num_classes``, an index the class
    embedding's lookup refuses; an empty batch looks up an index out of a one-element table.
    """

    def __init__(self, masker: Masker, guard: dict | None = None, poison_invalid: bool = False) -> None:
        super().__init__()
        self.masker = masker
        self.guard = guard
        self.poison_invalid = poison_invalid
        self.num_classes = int(masker.num_classes or 0)

    def forward(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        if self.guard is not None:
            stride, size = self.guard.get("stride"), self.guard.get("size")
            images, classes = graph_input_checks(images, classes, self.num_classes, stride, size)
        elif self.poison_invalid and self.num_classes > 0:
            return self._poisoned_forward(images, classes)
        return self.masker.forward(images, classes)  # the graph checks values itself (above / check_traced_inputs)

    def _poisoned_forward(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        flat = images.flatten(1)
        valid = torch.logical_and(flat.min(1).values >= 0, flat.max(1).values <= 1)
        # min / max may skip NaN in onnxruntime
        valid = torch.logical_and(valid, torch.logical_not(torch.isnan(flat).any(1)))
        valid = torch.logical_and(valid, torch.logical_and(classes >= 0, classes < self.num_classes))
        classes = torch.where(valid, classes, torch.full_like(classes, self.num_classes))
        # an empty batch has no class to poison: an index out of a one-element table makes the lookup fail instead
        pixels = images.shape[0] * images.shape[2] * images.shape[3]
        nonempty = torch.scalar_tensor(pixels, device=images.device) > 0
        pick = torch.where(nonempty, 0, 1 << 30).long().reshape(1)
        one = torch.ones(1, device=images.device).index_select(0, pick)
        return self.masker.forward(images, classes) * one


class CheckedScriptMasker(nn.Module):
    """A scripted shell that runs :func:`check_traced_inputs` and then the traced masker."""

    def __init__(self, traced: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.traced = traced
        self.num_classes = num_classes

    def forward(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        check_traced_inputs(images, classes, self.num_classes)
        with torch.no_grad():  # masks are results, not part of a graph to differentiate
            return self.traced(images, classes)


def _as_size(size: int | tuple[int, int]) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or min(int(s) for s in pair) < 8:
        raise InputError(f"`size` must be an int or (height, width) with both >= 8, got {size!r}.")
    return int(pair[0]), int(pair[1])


def _coarsest_stride(masker: Masker) -> int | None:
    return masker.coarsest_stride


def _example(
    masker: Masker, size: tuple[int, int], batch: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    device = module_device(masker)
    images = torch.rand(batch, 3, *size, generator=generator).to(device)
    num_classes = int(masker.num_classes or 1)
    classes = torch.randint(0, num_classes, (batch,), generator=generator).to(device)
    return images, classes


def _description(masker: Masker, fmt: str, dynamic: str) -> str:
    return json.dumps(
        {
            "format": fmt,
            "call": "m(images, classes) -> masks",
            "images": "float32 (B, 3, H, W) RGB in [0, 1], not normalised",
            "classes": "int64 (B,)",
            "masks": "float32 (B, 1, H, W) in [0, 1], 1 = evidence kept",
            "dynamic": dynamic,
            "masker": type(masker).__name__,
            "config": masker.config if isinstance(masker, TrainableMasker) else None,
        }
    )


# ----------------------------------------------------------------------------- writers
def _torchscript(wrapper: nn.Module, masker: Masker, example: tuple, path: Path) -> tuple[Callable, str]:
    with warnings.catch_warnings():
        # torch.jit.* is deprecated but still the only torch-only format
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        with torch.no_grad():
            traced = torch.jit.trace(wrapper, example, check_trace=False)
            traced = torch.jit.script(CheckedScriptMasker(traced, wrapper.num_classes))
        dynamic = "batch, height and width (any size)"
        extra = {DESCRIPTION_KEY: _description(masker, "torchscript", dynamic)}
        atomic_write(path, lambda handle: torch.jit.save(traced, handle, _extra_files=extra))
        loaded = torch.jit.load(str(path), map_location=example[0].device)
    return loaded, dynamic


def _dynamic_specs(masker: Masker, size: tuple[int, int]) -> list[tuple[object, dict, str]]:
    """(dynamic shapes, graph size rule, words) to try in turn: free sizes checked in the graph first."""
    from torch.export import Dim

    def free(spatial: bool) -> object:
        # Dim.DYNAMIC, not named dims: the masker's arithmetic adds guards (e.g. at least two blocks) that
        # named dims would reject; the graph's own size rule (graph_input_checks) covers them as data.
        dims = {0: Dim.DYNAMIC, 1: Dim.DYNAMIC, **({2: Dim.DYNAMIC, 3: Dim.DYNAMIC} if spatial else {})}
        return (dims, {0: Dim.DYNAMIC})

    specs: list[tuple[object, dict, str]] = []
    stride = _coarsest_stride(masker)
    if stride and size[0] % stride == 0 and size[1] % stride == 0 and min(size) >= 2 * stride:
        words = f"batch; height and width: any multiple of {stride} that is >= {2 * stride}"
        specs.append((free(True), {"stride": stride}, words))
    specs.append((free(True), {"size": size}, f"batch only; images must be {size[0]}x{size[1]}"))
    specs.append((None, {"size": size}, f"none; batch {{batch}} and images {size[0]}x{size[1]} only"))
    return specs


def _first_that_exports(
    attempts: list[tuple[Callable[[], object], str]], batch: int, what: str
) -> tuple[object, str, list[str]]:
    """Run each ``(export, words)`` in turn until one succeeds: its program, its words, and notes on those that
    failed."""
    notes: list[str] = []
    last: Exception | None = None
    for run, words in attempts:
        try:
            return run(), words.replace("{batch}", str(batch)), notes
        except Exception as exc:  # exporters raise many kinds (constraint violations, unsupported ops, ...)
            first_line = str(exc).splitlines()[0][:200] if str(exc) else ""
            notes.append(f"dynamic shapes '{words}' failed: {type(exc).__name__}: {first_line}")
            last = exc
    raise ExportError(f"{what}: {last}") from last


def _export_program(masker: Masker, example: tuple, size: tuple[int, int]) -> tuple[object, str, list[str]]:
    """``torch.export`` the checked wrapper with the freest shapes that export."""

    def run(spec: object, guard: dict) -> object:
        return torch.export.export(MaskerExportWrapper(masker, guard=guard).eval(), example, dynamic_shapes=spec)

    attempts = [
        (lambda spec=spec, guard=guard: run(spec, guard), words) for spec, guard, words in _dynamic_specs(masker, size)
    ]
    what = f"torch.export could not export {type(masker).__name__}"
    return _first_that_exports(attempts, example[0].shape[0], what)


def _torch_export(
    masker: Masker, example: tuple, path: Path, size: tuple[int, int]
) -> tuple[Callable, str, list[str]]:
    program, dynamic, notes = _export_program(masker, example, size)
    extra = {DESCRIPTION_KEY: _description(masker, "export", dynamic)}
    atomic_write(path, lambda handle: torch.export.save(program, handle, extra_files=extra))
    with open(path, "rb") as handle:  # a buffer: torch.export.load wants a .pt2 suffix for paths
        loaded = torch.export.load(handle).module()
    return loaded, dynamic, notes


def _aoti(
    masker: Masker, example: tuple, path: Path, size: tuple[int, int]
) -> tuple[Callable, str, list[str]]:
    import torch._inductor

    program, dynamic, notes = _export_program(masker, example, size)

    with atomic_path(path, suffix=".pt2") as tmp:
        tmp.unlink()  # the packager writes the file itself
        with aoti_input_checks_always_on() as changed:
            torch._inductor.aoti_compile_and_package(
                program, package_path=str(tmp), inductor_configs={"aot_inductor.check_lowerbound": False}
            )
        if not changed or not changed[0]:
            notes.append(
                "this torch version's AOTInductor code was not recognised: dtype and rank are checked only with "
                "AOTI_RUNTIME_CHECK_INPUTS=1 set where the package is used."
            )
        # the description, inside the archive's root folder (torch's loader requires it)
        with zipfile.ZipFile(tmp, "a") as archive:
            root = archive.namelist()[0].split("/")[0]
            archive.writestr(f"{root}/extra/{DESCRIPTION_KEY}", _description(masker, "aoti", dynamic))
    loaded = torch._inductor.aoti_load_package(str(path))
    return loaded, dynamic, notes


def _require_onnx() -> None:
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(
            f"ONNX export needs the package(s) {', '.join(missing)}: `pip install onnx onnxscript` "
            "(and onnxruntime to check the result)."
        )


def _onnx_specs(masker: Masker, size: tuple[int, int]) -> list[tuple[object, str]]:
    """ONNX keeps its dimensions symbolic in the file (onnxruntime checks rank and dtype): multiples of the stride
    first."""
    from torch.export import Dim

    batch = Dim("batch", min=1, max=65536)
    specs: list[tuple[object, str]] = []
    stride = _coarsest_stride(masker)
    if stride and size[0] % stride == 0 and size[1] % stride == 0 and min(size) >= 2 * stride:
        kh, kw = Dim("h_blocks", min=2, max=1024), Dim("w_blocks", min=2, max=1024)
        words = f"batch; height and width: any multiple of {stride} that is >= {2 * stride}"
        specs.append((({0: batch, 2: stride * kh, 3: stride * kw}, {0: batch}), words))
    specs.append((({0: batch}, {0: batch}), f"batch only; images must be {size[0]}x{size[1]}"))
    specs.append((None, f"none; batch {{batch}} and images {size[0]}x{size[1]} only"))
    return specs


def _onnx(
    masker: Masker, example: tuple, path: Path, size: tuple[int, int]
) -> tuple[Callable | None, str, list[str]]:
    _require_onnx()
    wrapper = MaskerExportWrapper(masker, poison_invalid=True).eval()

    def run(spec: object) -> object:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*axis name.*")
            return torch.onnx.export(
                wrapper,
                example,
                dynamo=True,
                dynamic_shapes=spec,
                input_names=["images", "classes"],
                output_names=["masks"],
                verbose=False,
            )

    attempts = [(lambda spec=spec: run(spec), words) for spec, words in _onnx_specs(masker, size)]
    what = f"ONNX export of {type(masker).__name__} failed"
    program, dynamic, notes = _first_that_exports(attempts, example[0].shape[0], what)
    program.model.metadata_props["blackbox_saliency"] = _description(masker, "onnx", dynamic)
    with atomic_path(path) as tmp:
        program.save(str(tmp))
    if importlib.util.find_spec("onnxruntime") is None:
        notes.append(
            "onnxruntime is not installed: the ONNX file was not checked against the eager masker "
            "(`pip install onnxruntime`)."
        )
        return None, dynamic, notes
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def call(images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        feed = {"images": images.detach().cpu().numpy(), "classes": classes.detach().cpu().numpy()}
        out = session.run(["masks"], feed)[0]
        return torch.from_numpy(out).to(images.device)

    return call, dynamic, notes


# ----------------------------------------------------------------------------- public
def _check_request(masker: Masker, fmt: str, batch: int) -> None:
    """Refuse an unknown format, a masker that cannot be exported, or a bad batch size."""
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; choose one of {list(FORMATS)}.")
    if not isinstance(masker, Masker):
        raise InputError(f"`masker` must be a Masker (e.g. load_masker(NAME_OR_PATH)), got {type(masker).__name__}.")
    if not masker.exportable:
        raise InputError(
            f"{type(masker).__name__} cannot be exported: only trained maskers (SaliencyMasker, one forward pass) "
            "are; baselines such as the central box, gradients, Grad-CAM or the iterative optimisation are computed "
            "at run time (a subclass that is a plain forward pass can set `exportable = True`)."
        )
    if not isinstance(batch, int) or batch < 1:
        raise InputError(f"`batch` must be a positive int, got {batch!r}.")


def _write(
    fmt: str, wrapper: MaskerExportWrapper, example: tuple, path: Path, size: tuple[int, int]
) -> tuple[Callable | None, str, list[str]]:
    """Write the file of format ``fmt``: the loaded file (None when it cannot be loaded here), its dynamic
    dimensions in words, and notes."""
    masker = wrapper.masker
    try:
        if fmt == "torchscript":
            loaded, dynamic = _torchscript(wrapper, masker, example, path)
            return loaded, dynamic, []
        writer = {"export": _torch_export, "aoti": _aoti, "onnx": _onnx}[fmt]
        return writer(masker, example, path, size)
    except (ExportError, InputError):
        raise
    except Exception as exc:
        raise ExportError(f"{fmt} export of {type(masker).__name__} failed: {type(exc).__name__}: {exc}") from exc


def export_masker(  # noqa: PLR0913 - public API: format, size, batch, check and atol are documented options
    masker: Masker,
    path: str | os.PathLike[str],
    format: str = "torchscript",
    size: int | tuple[int, int] = 224,
    batch: int = 1,
    check: bool = True,
    atol: float = 1e-4,
) -> ExportResult:
    """Export ``masker`` (put in eval mode) to ``path`` in ``format``; see the module docstring.

    ``size`` and ``batch`` give the example input used for tracing and the first check.

    Raises:
        InputError: unknown format, bad size or batch.
        ExportError: the export failed, a package is missing, or the exported file's output differs
            from the eager masker by more than ``atol``.
    """
    _check_request(masker, format, batch)
    size = _as_size(size)
    path = Path(path)
    masker.eval()
    wrapper = MaskerExportWrapper(masker).eval()
    generator = torch.Generator().manual_seed(0)
    # torch.export specialises dimensions whose example value is 1, so trace those formats with batch >= 2.
    example = _example(masker, size, batch if format == "torchscript" else max(2, batch), generator)
    loaded, dynamic, notes = _write(format, wrapper, example, path, size)
    result = ExportResult(path, format, dynamic, None, notes)
    if check and loaded is not None:
        cases = _check_cases(masker, example, size, dynamic, generator)
        result.max_abs_diff = _max_difference(wrapper, loaded, cases)
        if result.max_abs_diff > atol:
            raise ExportError(
                f"exported masker differs from the eager one by up to {result.max_abs_diff:.3g} (> atol {atol:g})."
            )
    return result


def _check_cases(
    masker: Masker, example: tuple, size: tuple[int, int], dynamic: str, generator: torch.Generator
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The example batch and, as far as the file's dynamic dimensions allow, a larger batch and another size."""
    cases = [example]
    if not dynamic.startswith("none"):
        cases.append(_example(masker, size, example[0].shape[0] + 1, generator))
    stride = _coarsest_stride(masker) or 1
    if dynamic.startswith("batch, height"):
        cases.append(_example(masker, (size[0] + 2 * stride - 1, size[1] + stride + 3), 2, generator))
    elif "multiple of" in dynamic:
        cases.append(_example(masker, (size[0] + stride, size[1] + 2 * stride), 2, generator))
    return cases


def _max_difference(wrapper: nn.Module, loaded: Callable, cases: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Largest |exported - eager| over ``cases``; ExportError when a shape differs."""
    worst = 0.0
    with torch.no_grad():
        for images, classes in cases:
            want = wrapper(images, classes)
            got = loaded(images, classes)
            if tuple(got.shape) != tuple(want.shape):
                raise ExportError(
                    f"exported masker returned shape {tuple(got.shape)} for input {tuple(images.shape)}, "
                    f"eager gives {tuple(want.shape)}."
                )
            worst = max(worst, float((got - want).abs().max()))
    return worst


def read_export_description(path: str | os.PathLike[str]) -> dict:
    """Return the JSON description stored in an exported TorchScript, ``torch.export`` or ONNX file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist.")
    if zipfile.is_zipfile(path):  # TorchScript and torch.export archives are zip files with an extra/ folder
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(f"extra/{DESCRIPTION_KEY}"):
                    return json.loads(archive.read(name).decode("utf-8"))
        raise InputError(
            f"{path} holds no blackbox-saliency description (not written by blackbox_saliency.export)."
        )
    _require_onnx()
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise InputError(f"{path} is neither a TorchScript / torch.export archive nor an ONNX model: {exc}") from exc
    props = {p.key: p.value for p in model.metadata_props}
    if "blackbox_saliency" not in props:
        raise InputError(
            f"{path} holds no blackbox-saliency description (not written by blackbox_saliency.export)."
        )
    return json.loads(props["blackbox_saliency"])
