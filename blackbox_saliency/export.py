"""Export a masker to TorchScript, ``torch.export``, an AOTInductor package or ONNX.

Every exported graph is called as ``m(images, classes) -> masks`` with the
library's conventions: images float32 (B, 3, H, W) RGB in [0, 1] (the graph
normalises them itself), classes int64 (B,), masks float32 (B, 1, H, W) in
[0, 1]. The graphs check their input and fail with a message naming the mistake:

* TorchScript: rank, channels, dtype of both inputs, one class per image, NaN, the [0, 1]
  range and the class range (``torch.jit.Error`` whose last line is the message).
* ``torch.export`` and AOTInductor: NaN, the [0, 1] range and the class range (``RuntimeError`` with the
  message); rank, channels and one class per image are guarded by torch.export itself
  (``Guard failed: images.size()[1] == 3``).
* ONNX: onnxruntime checks rank and dtype (``Invalid rank for input: images``); value
  checks cannot be expressed portably and are left out.

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
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .atomic import atomic_write
from .errors import BlackBoxSaliencyError, InputError
from .interfaces import Masker, TrainableMasker

__all__ = [
    "FORMATS",
    "CheckedScriptMasker",
    "ExportError",
    "ExportResult",
    "MaskerExportWrapper",
    "assert_input_values",
    "check_traced_inputs",
    "export_masker",
    "read_export_description",
]

FORMATS = ("torchscript", "export", "aoti", "onnx")
SUFFIXES = {"torchscript": ".pt", "export": ".pt2", "aoti": ".pt2", "onnx": ".onnx"}
DESCRIPTION_KEY = "blackbox_saliency.json"


class ExportError(BlackBoxSaliencyError, RuntimeError):
    """A masker could not be exported, a needed package is missing, or the export does not match the eager model."""


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


def check_traced_inputs(images: torch.Tensor, classes: torch.Tensor, num_classes: int) -> None:
    """The input checks compiled into TorchScript exports (TorchScript-compatible; ``num_classes`` 0 = unknown)."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError("blackbox-saliency masker: `images` must have shape (B, 3, H, W), got " + str(images.shape) + "; pass float32 RGB images in [0, 1], NCHW")
    if images.dtype != torch.float32:
        raise ValueError("blackbox-saliency masker: `images` must be float32 in [0, 1], got another dtype; pass images.float() / 255 for uint8 images, images.float() for other floats")
    if classes.dim() != 1 or classes.dtype != torch.int64:
        raise ValueError("blackbox-saliency masker: `classes` must be an int64 tensor of shape (B,), got shape " + str(classes.shape) + " (pass classes.long() if the dtype differs)")
    if classes.shape[0] != images.shape[0]:
        raise ValueError("blackbox-saliency masker: `classes` has " + str(classes.shape[0]) + " entries for " + str(images.shape[0]) + " images; pass one class per image")
    if images.numel() == 0:
        raise ValueError("blackbox-saliency masker: `images` is empty, got shape " + str(images.shape))
    if bool(torch.isnan(images).any()):
        raise ValueError("blackbox-saliency masker: `images` contains NaN values")
    if bool(images.min() < 0) or bool(images.max() > 1):
        raise ValueError("blackbox-saliency masker: `images` must hold values in [0, 1]; scale 0..255 images by 1/255 and do not normalise them")
    if num_classes > 0 and (bool(classes.min() < 0) or bool(classes.max() >= num_classes)):
        raise ValueError("blackbox-saliency masker: `classes` must lie in [0, " + str(num_classes - 1) + "]")


def assert_input_values(images: torch.Tensor, classes: torch.Tensor, num_classes: int) -> None:
    """The value checks recorded into ``torch.export`` graphs (shapes are guarded by torch.export itself)."""
    in_range = torch.logical_and(images.min() >= 0, images.max() <= 1)  # False for NaN too
    torch._assert_async(in_range, "blackbox-saliency masker: `images` must hold values in [0, 1] without NaN; scale 0..255 images by 1/255 and do not normalise them")
    if num_classes > 0:
        valid = torch.logical_and(classes.min() >= 0, classes.max() < num_classes)
        torch._assert_async(valid, f"blackbox-saliency masker: `classes` must lie in [0, {num_classes - 1}]")


class MaskerExportWrapper(nn.Module):
    """``(images, classes) -> masks`` around a masker; ``value_checks`` records :func:`assert_input_values` into the graph."""

    def __init__(self, masker: Masker, value_checks: bool = False) -> None:
        super().__init__()
        self.masker = masker
        self.value_checks = value_checks
        self.num_classes = int(masker.num_classes or 0)

    def forward(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        if self.value_checks:
            assert_input_values(images, classes, self.num_classes)
        return self.masker.forward(images, classes)  # the graph checks values itself (above / check_traced_inputs)


class CheckedScriptMasker(nn.Module):
    """A scripted shell that runs :func:`check_traced_inputs` and then the traced masker."""

    def __init__(self, traced: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.traced = traced
        self.num_classes = num_classes

    def forward(self, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        check_traced_inputs(images, classes, self.num_classes)
        return self.traced(images, classes)


def _as_size(size: int | tuple[int, int]) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or min(int(s) for s in pair) < 8:
        raise InputError(f"`size` must be an int or (height, width) with both >= 8, got {size!r}.")
    return int(pair[0]), int(pair[1])


def _coarsest_stride(masker: Masker) -> int | None:
    return masker.coarsest_stride


def _example(masker: Masker, size: tuple[int, int], batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    device = next((p.device for p in masker.parameters()), torch.device("cpu"))
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


def _write_via_tempfile(path: Path, save: Callable[[str], None], suffix: str | None = None) -> None:
    """Let ``save(tmp_path)`` write a file, then move it over ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ----------------------------------------------------------------------------- writers
def _torchscript(wrapper: nn.Module, masker: Masker, example: tuple, path: Path) -> tuple[Callable, str]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit.* is deprecated but still the only torch-only format
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        with torch.no_grad():
            traced = torch.jit.script(CheckedScriptMasker(torch.jit.trace(wrapper, example, check_trace=False), wrapper.num_classes))
        dynamic = "batch, height and width (any size)"
        extra = {DESCRIPTION_KEY: _description(masker, "torchscript", dynamic)}
        atomic_write(path, lambda handle: torch.jit.save(traced, handle, _extra_files=extra))
        loaded = torch.jit.load(str(path), map_location=example[0].device)
    return loaded, dynamic


def _dynamic_specs(masker: Masker, size: tuple[int, int]) -> list[tuple[object, str]]:
    from torch.export import Dim

    batch = Dim("batch", min=1, max=65536)
    specs: list[tuple[object, str]] = []
    stride = _coarsest_stride(masker)
    if stride and size[0] % stride == 0 and size[1] % stride == 0 and min(size) >= 2 * stride:
        kh, kw = Dim("h_blocks", min=2, max=1024), Dim("w_blocks", min=2, max=1024)
        specs.append((({0: batch, 2: stride * kh, 3: stride * kw}, {0: batch}), f"batch; height and width: any multiple of {stride} that is >= {2 * stride}"))
    specs.append((({0: batch}, {0: batch}), f"batch only; images must be {size[0]}x{size[1]}"))
    specs.append((None, f"none; batch {{batch}} and images {size[0]}x{size[1]} only"))
    return specs


def _try_specs(masker: Masker, size: tuple[int, int], batch: int, run: Callable[[object], object]) -> tuple[object, str, list[str]]:
    notes: list[str] = []
    last: Exception | None = None
    for spec, words in _dynamic_specs(masker, size):
        try:
            return run(spec), words.replace("{batch}", str(batch)), notes
        except Exception as exc:  # export raises many kinds (constraint violations, unsupported ops, ...)
            notes.append(f"dynamic shapes '{words}' failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
            last = exc
    raise ExportError(f"torch.export could not export {type(masker).__name__}: {last}") from last


def _torch_export(wrapper: nn.Module, masker: Masker, example: tuple, path: Path, size: tuple[int, int]) -> tuple[Callable, str, list[str]]:
    checked = MaskerExportWrapper(masker, value_checks=True).eval()
    program, dynamic, notes = _try_specs(masker, size, example[0].shape[0], lambda spec: torch.export.export(checked, example, dynamic_shapes=spec))
    extra = {DESCRIPTION_KEY: _description(masker, "export", dynamic)}
    atomic_write(path, lambda handle: torch.export.save(program, handle, extra_files=extra))
    with open(path, "rb") as handle:  # a buffer: torch.export.load wants a .pt2 suffix for paths
        loaded = torch.export.load(handle).module()
    return loaded, dynamic, notes


def _aoti(masker: Masker, example: tuple, path: Path, size: tuple[int, int]) -> tuple[Callable, str, list[str]]:
    import torch._inductor

    checked = MaskerExportWrapper(masker, value_checks=True).eval()
    program, dynamic, notes = _try_specs(masker, size, example[0].shape[0], lambda spec: torch.export.export(checked, example, dynamic_shapes=spec))

    def save(tmp: str) -> None:
        os.unlink(tmp)  # the packager writes the file itself
        torch._inductor.aoti_compile_and_package(program, package_path=tmp)
        with zipfile.ZipFile(tmp, "a") as archive:  # the description, where read_export_description finds it
            archive.writestr(f"blackbox_saliency/extra/{DESCRIPTION_KEY}", _description(masker, "aoti", dynamic))

    _write_via_tempfile(path, save, suffix=".pt2")
    loaded = torch._inductor.aoti_load_package(str(path))
    return loaded, dynamic, notes


def _require_onnx() -> None:
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(f"ONNX export needs the package(s) {', '.join(missing)}: `pip install onnx onnxscript` (and onnxruntime to check the result).")


def _onnx(wrapper: nn.Module, masker: Masker, example: tuple, path: Path, size: tuple[int, int]) -> tuple[Callable | None, str, list[str]]:
    _require_onnx()

    def run(spec: object) -> object:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*axis name.*")
            return torch.onnx.export(
                wrapper, example, dynamo=True, dynamic_shapes=spec, input_names=["images", "classes"], output_names=["masks"], verbose=False
            )

    program, dynamic, notes = _try_specs(masker, size, example[0].shape[0], run)
    program.model.metadata_props["blackbox_saliency"] = _description(masker, "onnx", dynamic)
    _write_via_tempfile(path, lambda tmp: program.save(tmp))
    if importlib.util.find_spec("onnxruntime") is None:
        notes.append("onnxruntime is not installed: the ONNX file was not checked against the eager masker (`pip install onnxruntime`).")
        return None, dynamic, notes
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def call(images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        out = session.run(["masks"], {"images": images.detach().cpu().numpy(), "classes": classes.detach().cpu().numpy()})[0]
        return torch.from_numpy(out).to(images.device)

    return call, dynamic, notes


# ----------------------------------------------------------------------------- public
def export_masker(
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
    if format not in FORMATS:
        raise InputError(f"unknown export format {format!r}; choose one of {list(FORMATS)}.")
    if not isinstance(masker, Masker):
        raise InputError(f"`masker` must be a Masker (e.g. load_masker(NAME_OR_PATH)), got {type(masker).__name__}.")
    if not masker.exportable:
        raise InputError(
            f"{type(masker).__name__} cannot be exported: only trained maskers (SaliencyMasker, one forward pass) are; "
            "baselines such as the central box, gradients, Grad-CAM or the iterative optimisation are computed at run time "
            "(a subclass that is a plain forward pass can set `exportable = True`)."
        )
    if not isinstance(batch, int) or batch < 1:
        raise InputError(f"`batch` must be a positive int, got {batch!r}.")
    size = _as_size(size)
    path = Path(path)
    masker.eval()
    wrapper = MaskerExportWrapper(masker).eval()
    generator = torch.Generator().manual_seed(0)
    # torch.export specialises dimensions whose example value is 1, so trace those formats with batch >= 2.
    example = _example(masker, size, batch if format == "torchscript" else max(2, batch), generator)
    notes: list[str] = []
    try:
        if format == "torchscript":
            loaded, dynamic = _torchscript(wrapper, masker, example, path)
        elif format == "export":
            loaded, dynamic, notes = _torch_export(wrapper, masker, example, path, size)
        elif format == "aoti":
            loaded, dynamic, notes = _aoti(masker, example, path, size)
        else:
            loaded, dynamic, notes = _onnx(wrapper, masker, example, path, size)
    except (ExportError, InputError):
        raise
    except Exception as exc:
        raise ExportError(f"{format} export of {type(masker).__name__} failed: {type(exc).__name__}: {exc}") from exc
    result = ExportResult(path, format, dynamic, None, notes)
    if check and loaded is not None:
        result.max_abs_diff = _check(wrapper, loaded, masker, example, size, dynamic, generator, atol)
    return result


def _check(wrapper, loaded, masker, example, size, dynamic, generator, atol) -> float:
    cases = [example]
    if not dynamic.startswith("none"):
        cases.append(_example(masker, size, example[0].shape[0] + 1, generator))
    stride = _coarsest_stride(masker) or 1
    if dynamic.startswith("batch, height"):
        cases.append(_example(masker, (size[0] + 2 * stride - 1, size[1] + stride + 3), 2, generator))
    elif "multiple of" in dynamic:
        cases.append(_example(masker, (size[0] + stride, size[1] + 2 * stride), 2, generator))
    worst = 0.0
    with torch.no_grad():
        for images, classes in cases:
            want = wrapper(images, classes)
            got = loaded(images, classes)
            if tuple(got.shape) != tuple(want.shape):
                raise ExportError(f"exported masker returned shape {tuple(got.shape)} for input {tuple(images.shape)}, eager gives {tuple(want.shape)}.")
            worst = max(worst, float((got - want).abs().max()))
    if worst > atol:
        raise ExportError(f"exported masker differs from the eager one by up to {worst:.3g} (> atol {atol:g}).")
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
        raise InputError(f"{path} holds no blackbox-saliency description (not written by blackbox_saliency.export).")
    _require_onnx()
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise InputError(f"{path} is neither a TorchScript / torch.export archive nor an ONNX model: {exc}") from exc
    props = {p.key: p.value for p in model.metadata_props}
    if "blackbox_saliency" not in props:
        raise InputError(f"{path} holds no blackbox-saliency description (not written by blackbox_saliency.export).")
    return json.loads(props["blackbox_saliency"])
