"""Standing suite: every exported format refuses what the eager masker refuses, in the same words.

A hypothesis fuzz over single mistakes (wrong rank, channels, dtype, class vector, values, sizes)
applied to valid inputs, against TorchScript, ``torch.export``, AOTInductor and ONNX files of one
small masker. For each input: if the eager masker refuses, the file refuses, and (TorchScript,
AOTInductor, ``torch.export`` for value and shape mistakes) says what was wrong with the eager
masker's key phrase; if both accept, the masks agree; a file may refuse what eager accepts only for
its documented export-only rules (float32 only, the size rule). No call may crash the process.
"""

from __future__ import annotations

import importlib.util
import math
import re

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blackbox_saliency.export import export_masker
from blackbox_saliency.export_guards import PHRASES, size_rule_phrase
from tests.test_export import tiny  # noqa: F401  (the fixture: a small masker whose coarsest stride is 8)

STRIDE = 8
NUM_CLASSES = 7

#: torch.export's loader checks dtype and rank itself, before the graph runs, in its own words.
TORCH_EXPORT_OWN_WORDS = re.compile(
    r"Tensor dtype mismatch|Guard failed|tuple index out of range|Tensors must have same number of dimensions"
)


def _mutate(kind: str, images: torch.Tensor, classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: C901
    """One mistake a user makes, applied to a valid input."""
    if kind == "valid":
        return images, classes
    if kind == "rank 3":
        return images[0], classes[:1]
    if kind == "rank 5":
        return images[None], classes
    if kind == "grey":
        return images[:, :1], classes
    if kind == "four channels":
        return torch.cat([images, images[:, :1]], 1), classes
    if kind == "channels last":
        return images.permute(0, 2, 3, 1).contiguous(), classes
    if kind == "uint8":
        return (images * 255).to(torch.uint8), classes
    if kind in ("float64", "float16"):
        return images.to(getattr(torch, kind)), classes
    if kind == "int32 classes":
        return images, classes.int()
    if kind == "float classes":
        return images, classes.float()
    if kind == "(B, 1) classes":
        return images, classes[:, None]
    if kind == "one class short":
        return images, classes[:-1]
    if kind == "one class extra":
        return images, torch.cat([classes, classes[:1]])
    if kind == "empty batch":
        return images[:0], classes[:0]
    if kind == "a NaN pixel":
        images = images.clone()
        images[-1, 1, 0, -1] = math.nan
        return images, classes
    if kind == "0..255":
        return images * 255, classes
    if kind == "normalised":
        return (images - 0.5) / 0.25, classes
    if kind == "class -1":
        return images, torch.cat([classes[:-1], torch.tensor([-1])])
    if kind == "class = num_classes":
        return images, torch.cat([classes[:-1], torch.tensor([NUM_CLASSES])])
    if kind == "odd size":
        return images[:, :, :-1, :], classes
    raise AssertionError(kind)


MISTAKES = [
    "valid",
    "rank 3",
    "rank 5",
    "grey",
    "four channels",
    "channels last",
    "uint8",
    "float64",
    "float16",
    "int32 classes",
    "float classes",
    "(B, 1) classes",
    "one class short",
    "one class extra",
    "empty batch",
    "a NaN pixel",
    "0..255",
    "normalised",
    "class -1",
    "class = num_classes",
    "odd size",
]


def _outcome(call, images: torch.Tensor, classes: torch.Tensor) -> tuple[str, object]:
    try:
        with torch.no_grad():
            return "accepted", torch.as_tensor(call(images, classes))
    except Exception as error:  # each runtime raises its own kinds (torch.jit.Error, onnxruntime errors, ...)
        return "refused", str(error)


def _export_only_phrases(images: torch.Tensor) -> list[str]:
    """The rules an exported file has that the eager masker does not, which this input breaks."""
    phrases = []
    if images.dtype != torch.float32:
        phrases.append("of dtype float32 in exported files")
    if images.dim() == 4 and (
        images.shape[2] % STRIDE or images.shape[3] % STRIDE or min(images.shape[2:]) < 2 * STRIDE
    ):
        phrases.append(size_rule_phrase(STRIDE))
    return phrases


def _onnx_call(path):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda images, classes: torch.from_numpy(
        session.run(["masks"], {"images": images.numpy(), "classes": classes.numpy()})[0]
    )


@pytest.fixture(scope="module", params=["torchscript", "export", "aoti", "onnx"])
def exported(request, tiny, tmp_path_factory):  # noqa: F811
    fmt = request.param
    if fmt == "onnx":
        for name in ("onnx", "onnxscript", "onnxruntime"):
            if importlib.util.find_spec(name) is None:
                pytest.skip(f"the ONNX format needs {name} (pip install onnx onnxscript onnxruntime)")
    path = (
        tmp_path_factory.mktemp(fmt)
        / {"torchscript": "m.pt", "export": "m.pt2", "aoti": "m.pt2", "onnx": "m.onnx"}[fmt]
    )
    result = export_masker(tiny, path, fmt, size=32, batch=2)
    if fmt == "torchscript":
        call = torch.jit.load(str(path))
    elif fmt == "export":
        call = torch.export.load(str(path)).module()
    elif fmt == "aoti":
        from torch._inductor import aoti_load_package

        call = aoti_load_package(str(path))
    else:
        call = _onnx_call(path)
    return fmt, call, result


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mistake=st.sampled_from(MISTAKES),
    batch=st.integers(1, 3),
    blocks=st.tuples(st.integers(2, 5), st.integers(2, 5)),
    seed=st.integers(0, 2**16),
)
def test_exported_files_refuse_what_eager_refuses_in_the_same_words(  # noqa: PLR0913 (fixtures + drawn values)
    exported,
    tiny,  # noqa: F811
    mistake,
    batch,
    blocks,
    seed,
):
    _check_one(exported, tiny, mistake, batch, blocks, seed)


@pytest.mark.parametrize("mistake", MISTAKES)
def test_every_mistake_once_per_format(exported, tiny, mistake):  # noqa: F811
    """The fuzz samples; this makes sure every mistake meets every format on every run."""
    _check_one(exported, tiny, mistake, 2, (2, 3), 0)


def _check_one(exported, tiny, mistake, batch, blocks, seed) -> None:  # noqa: F811
    fmt, call, _ = exported
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, STRIDE * blocks[0], STRIDE * blocks[1], generator=generator)
    classes = torch.randint(0, NUM_CLASSES, (batch,), generator=generator)
    images, classes = _mutate(mistake, images, classes)
    eager, eager_detail = _outcome(tiny, images, classes)
    got, detail = _outcome(call, images, classes)
    if eager == "refused":
        assert got == "refused", f"{fmt} accepted {mistake!r}, which the eager masker refuses: {eager_detail}"
        phrase = next((p for p in PHRASES.values() if p in eager_detail), None)
        assert phrase is not None, f"the eager message names no known mistake: {eager_detail}"
        allowed = [phrase, *_export_only_phrases(images)]
        if fmt in ("torchscript", "aoti") or (fmt == "export" and not TORCH_EXPORT_OWN_WORDS.search(detail)):
            assert any(p in detail for p in allowed), (
                f"{fmt} refused {mistake!r} with {detail!r}; eager said {eager_detail!r}"
            )
        return
    if got == "refused":
        allowed = _export_only_phrases(images)
        assert allowed, f"{fmt} refused {mistake!r}, which the eager masker accepts: {detail}"
        if fmt in ("torchscript", "aoti"):
            assert any(p in detail for p in allowed), detail
        return
    assert detail.shape == eager_detail.shape
    torch.testing.assert_close(
        detail.float(), eager_detail.float(), atol=2e-3 if images.dtype == torch.float16 else 1e-4, rtol=1e-3
    )


@pytest.mark.parametrize("mistake", [m for m in MISTAKES if m != "valid"])
def test_each_mistake_is_refused_by_the_eager_masker_or_documented_as_accepted(tiny, mistake):  # noqa: F811
    """The fuzz above compares against eager; this pins what eager itself does for each mistake."""
    images, classes = _mutate(mistake, torch.rand(2, 3, 32, 32), torch.tensor([1, 2]))
    eager, detail = _outcome(tiny, images, classes)
    accepted_by_eager = {"float64", "float16", "odd size"}  # eager works on any float dtype and any size
    assert (eager == "accepted") == (mistake in accepted_by_eager), detail
