"""Exporting maskers to TorchScript, torch.export and ONNX."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from blackbox_saliency.errors import InputError
from blackbox_saliency.export import ExportError, export_masker, read_export_description
from blackbox_saliency.maskers import SaliencyMasker
from blackbox_saliency.maskers.encoders import EncoderSpec, register_encoder


class _TinyBackbone(nn.Module):
    """Three stride-2 stages: a small encoder that keeps export tests fast."""

    def __init__(self) -> None:
        super().__init__()
        self.s1 = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.s2 = nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU())
        self.s3 = nn.Sequential(nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.s3(self.s2(self.s1(x)))


register_encoder(
    "_test_tiny", lambda pretrained: EncoderSpec(_TinyBackbone(), ["s1", "s2", "s3"], (0.5,) * 3, (0.25,) * 3)
)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return SaliencyMasker(
        7, encoder="_test_tiny", encoder_pretrained=False, preset="fast", upsampler_channels=(16, 8)
    ).eval()


@pytest.fixture(scope="module")
def resnet():
    return SaliencyMasker(1000, encoder="resnet18", encoder_pretrained=False, preset="fast").eval()


def _compare(masker, run, cases):
    with torch.no_grad():
        for batch, h, w in cases:
            images, classes = torch.rand(batch, 3, h, w), torch.randint(0, masker.num_classes, (batch,))
            want = masker(images, classes)
            got = torch.as_tensor(run(images, classes))
            assert got.shape == want.shape
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_torchscript_matches_eager_for_other_batches_and_odd_sizes(tmp_path):
    """EfficientNet-Lite0's TensorFlow-style SAME padding must stay shape-dependent in the traced graph."""
    masker = SaliencyMasker(1000, encoder="efficientnet_lite0", encoder_pretrained=False, preset="fast").eval()
    result = export_masker(masker, tmp_path / "m.pt", "torchscript", size=64, batch=1)
    # export_masker itself compared batch 1 and 2 at 64x64 and an odd size (127x99) with the eager masker
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-4
    loaded = torch.jit.load(str(tmp_path / "m.pt"))
    _compare(masker, loaded, [(3, 97, 131)])
    description = read_export_description(result.path)
    assert description["config"]["encoder"] == "efficientnet_lite0" and "any size" in description["dynamic"]


def test_torchscript_file_loads_with_only_torch(tmp_path, resnet):
    """The file is used in a process where importing blackbox_saliency fails."""
    export_masker(resnet, tmp_path / "m.pt", "torchscript", size=64)
    cases = []
    with torch.no_grad():
        for batch, h, w in [(1, 64, 64), (2, 75, 90)]:
            images, classes = torch.rand(batch, 3, h, w), torch.randint(0, 1000, (batch,))
            cases.append((images, classes, resnet(images, classes)))
    torch.save(cases, tmp_path / "cases.pt")
    script = textwrap.dedent(
        """
        import importlib.abc, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "blackbox_saliency":
                    raise ImportError("blocked " + name)
                return None

        sys.meta_path.insert(0, Block())
        import torch
        module = torch.jit.load(sys.argv[1])
        for images, classes, want in torch.load(sys.argv[2]):
            got = module(images, classes)
            assert got.shape == want.shape, (got.shape, want.shape)
            assert torch.allclose(got, want, atol=1e-5), float((got - want).abs().max())
        assert not [m for m in sys.modules if m.startswith("blackbox_saliency")]
        try:
            import blackbox_saliency  # noqa: F401
        except ImportError:
            print("torch-only ok")
        else:
            sys.exit("blackbox_saliency was importable: the test would prove nothing")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "m.pt"), str(tmp_path / "cases.pt")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torch-only ok" in done.stdout


def test_torch_export_dynamic_batch_and_multiples_of_the_stride(tmp_path, tiny):
    result = export_masker(tiny, tmp_path / "m.pt2", "export", size=32, batch=1)
    assert "multiple of 8" in result.dynamic and result.max_abs_diff <= 1e-4
    with open(result.path, "rb") as handle:
        module = torch.export.load(handle).module()
    _compare(tiny, module, [(1, 32, 32), (3, 32, 32), (2, 48, 64)])
    assert read_export_description(result.path)["format"] == "export"


def test_torch_export_odd_example_size_gives_static_spatial_dims(tmp_path, tiny):
    result = export_masker(tiny, tmp_path / "m.pt2", "export", size=(30, 34), batch=2)
    assert result.dynamic.startswith("batch only")
    with open(result.path, "rb") as handle:
        module = torch.export.load(handle).module()
    _compare(tiny, module, [(1, 30, 34), (4, 30, 34)])


def test_onnx_matches_eager(tmp_path, tiny):
    for name in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(name, reason=f"ONNX export test needs {name} (pip install onnx onnxscript onnxruntime)")
    import onnxruntime

    result = export_masker(tiny, tmp_path / "m.onnx", "onnx", size=32, batch=2)
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-4
    session = onnxruntime.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    _compare(
        tiny,
        lambda x, c: session.run(["masks"], {"images": x.numpy(), "classes": c.numpy()})[0],
        [(1, 32, 32), (3, 40, 56)],
    )
    assert read_export_description(result.path)["config"]["num_classes"] == 7


def test_onnx_without_the_package_says_what_to_install(tmp_path, tiny, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in ("onnx", "onnxscript") else real(name, *a)
    )
    with pytest.raises(ExportError, match="pip install onnx"):
        export_masker(tiny, tmp_path / "m.onnx", "onnx", size=32)


def test_bad_arguments(tmp_path, tiny):
    with pytest.raises(InputError, match="format"):
        export_masker(tiny, tmp_path / "m.x", "tflite")
    with pytest.raises(InputError, match="size"):
        export_masker(tiny, tmp_path / "m.pt", "torchscript", size=(4, 4))
    with pytest.raises(InputError, match="batch"):
        export_masker(tiny, tmp_path / "m.pt", "torchscript", size=32, batch=0)
    torch.save({"a": torch.zeros(1)}, tmp_path / "other.pt")  # a zip archive without our description
    with pytest.raises(InputError, match="no blackbox-saliency description"):
        read_export_description(tmp_path / "other.pt")


# ---------------------------------------------------------------- exported graphs check their input
_BAD_INPUTS = {
    "0..255": (lambda: (torch.rand(2, 3, 32, 32) * 255, torch.tensor([0, 1])), r"values in \[0, 1\]"),
    "NaN": (lambda: (torch.full((2, 3, 32, 32), math.nan), torch.tensor([0, 1])), r"contains NaN values"),
    "class out of range": (lambda: (torch.rand(2, 3, 32, 32), torch.tensor([0, 7])), r"`classes` must lie in \[0, 6\]"),
}
_BAD_SHAPES_TORCHSCRIPT = {
    "one class for two images": (
        lambda: (torch.rand(2, 3, 32, 32), torch.tensor([1])),
        "1 entries for 2 images; pass one class per image",
    ),
    "grey": (lambda: (torch.rand(2, 1, 32, 32), torch.tensor([0, 1])), r"must have 3 RGB channels in dimension 1"),
    "uint8": (
        lambda: ((torch.rand(2, 3, 32, 32) * 255).to(torch.uint8), torch.tensor([0, 1])),
        r"floating-point tensor of dtype float32 .*; pass images.float\(\) / 255",
    ),
    "no batch": (lambda: (torch.rand(3, 32, 32), torch.tensor([0])), r"must have 4 dimensions \(B, 3, H, W\)"),
    "int32 classes": (lambda: (torch.rand(2, 3, 32, 32), torch.tensor([0, 1], dtype=torch.int32)), "int64"),
}


@pytest.fixture(scope="module")
def scripted_tiny(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "m.pt"
    export_masker(tiny, path, "torchscript", size=32)
    return torch.jit.load(str(path))


@pytest.mark.parametrize("case", sorted({**_BAD_INPUTS, **_BAD_SHAPES_TORCHSCRIPT}))
def test_torchscript_export_refuses_bad_input_with_a_clear_message(scripted_tiny, case):
    make, message = {**_BAD_INPUTS, **_BAD_SHAPES_TORCHSCRIPT}[case]
    with pytest.raises(Exception, match=message) as caught:
        scripted_tiny(*make())
    assert "blackbox-saliency masker" in str(caught.value).strip().splitlines()[-1]


@pytest.fixture(scope="module")
def exported_tiny(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "m.pt2"
    export_masker(tiny, path, "export", size=32, batch=2)
    return torch.export.load(str(path)).module()


@pytest.mark.parametrize("case", sorted(_BAD_INPUTS))
def test_torch_export_refuses_bad_values_with_a_clear_message(exported_tiny, case):
    make, message = _BAD_INPUTS[case]
    with pytest.raises(RuntimeError, match=message):
        exported_tiny(*make())


def test_torch_export_checks_channels_and_class_count_as_data(exported_tiny):
    with pytest.raises(RuntimeError, match=r"`images` must have 3 RGB channels in dimension 1"):
        exported_tiny(torch.rand(2, 1, 32, 32), torch.tensor([0, 1]))
    with pytest.raises(RuntimeError, match=r"pass one class per image"):
        exported_tiny(torch.rand(2, 3, 32, 32), torch.tensor([1]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shape=st.lists(st.integers(0, 40), min_size=2, max_size=5),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.float16, torch.uint8]),
    scale=st.sampled_from([1.0, 255.0, -1.0, math.nan]),
    classes=st.lists(st.integers(-2, 8), min_size=0, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_fuzz_torchscript_export_gives_a_valid_mask_or_a_clear_error(scripted_tiny, shape, dtype, scale, classes, seed):
    images = torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * scale
    images = images.to(dtype) if dtype.is_floating_point or not math.isnan(scale) else images
    try:
        masks = scripted_tiny(images, torch.tensor(classes, dtype=torch.int64))
    except torch.jit.Error as error:
        assert "blackbox-saliency masker:" in str(error), error
        return
    assert masks.shape == (shape[0], 1, *shape[2:])
    assert not torch.isnan(masks).any() and float(masks.min()) >= 0 and float(masks.max()) <= 1


def test_baselines_are_refused_with_a_reason(tmp_path):
    from blackbox_saliency import load_masker

    with pytest.raises(InputError, match="CenterBoxMasker cannot be exported: only trained maskers"):
        export_masker(load_masker("center"), tmp_path / "c.pt", "torchscript")
    assert not (tmp_path / "c.pt").exists()


# ---------------------------------------------------------------- AOTInductor packages
@pytest.fixture(scope="module")
def aoti_package(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("aoti") / "m.pt2"
    result = export_masker(tiny, path, "aoti", size=32, batch=2)
    return result


def test_aoti_package_matches_eager_and_loads_without_the_library(aoti_package, tiny, tmp_path):
    assert aoti_package.max_abs_diff is not None and aoti_package.max_abs_diff <= 1e-4
    assert "multiple of 8" in aoti_package.dynamic
    images, classes = torch.rand(3, 3, 40, 56), torch.tensor([0, 6, 2])
    torch.save({"images": images, "classes": classes}, tmp_path / "inputs.pt")
    probe = textwrap.dedent("""
        import sys, torch, torch._inductor
        model = torch._inductor.aoti_load_package(sys.argv[1])
        inputs = torch.load(sys.argv[2])
        torch.save(model(inputs["images"], inputs["classes"]), sys.argv[3])
        print("library imported:", any(name.startswith("blackbox_saliency") for name in sys.modules))
    """)
    done = subprocess.run(
        [sys.executable, "-c", probe, str(aoti_package.path), str(tmp_path / "inputs.pt"), str(tmp_path / "out.pt")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "library imported: False" in done.stdout
    with torch.no_grad():
        want = tiny(images, classes)
    torch.testing.assert_close(torch.load(tmp_path / "out.pt"), want, atol=1e-4, rtol=1e-4)
    assert read_export_description(aoti_package.path)["format"] == "aoti"


@pytest.mark.parametrize("case", sorted(_BAD_INPUTS))
def test_aoti_package_refuses_bad_values(aoti_package, case):
    import torch._inductor

    model = torch._inductor.aoti_load_package(str(aoti_package.path))
    make, message = _BAD_INPUTS[case]
    with pytest.raises(RuntimeError, match=message):
        model(*make())


@pytest.mark.parametrize("fmt", ["torchscript", "export", "onnx"])
def test_a_masker_with_the_class_prior_exports_like_eager(tmp_path, fmt):
    if fmt == "onnx":
        for name in ("onnx", "onnxscript", "onnxruntime"):
            pytest.importorskip(name, reason=f"ONNX export test needs {name} (pip install onnx onnxscript onnxruntime)")
    torch.manual_seed(0)
    masker = SaliencyMasker(
        10, encoder="cifar10_resnet20", encoder_pretrained=False, preset="fast", class_prior=True
    ).eval()
    assert masker.prior is not None
    with torch.no_grad():
        masker.decoder.head.conv.weight.normal_(0, 0.5)  # a trained-looking residual, so both paths are exercised
    suffix = {"torchscript": ".pt", "export": ".pt2", "onnx": ".onnx"}[fmt]
    result = export_masker(masker, tmp_path / f"m{suffix}", fmt, size=32, batch=2)
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-4


_AOTI_SHAPE_AND_DTYPE_MISTAKES = {
    "33x33 images": (
        lambda: (torch.rand(2, 3, 33, 33), torch.tensor([0, 1])),
        "must be multiples of 8 and at least 16",
    ),
    "one class short": (lambda: (torch.rand(3, 3, 32, 32), torch.tensor([0, 1])), "pass one class per image"),
    "one class extra": (lambda: (torch.rand(2, 3, 32, 32), torch.tensor([0, 1, 2])), "pass one class per image"),
    "1-channel images": (
        lambda: (torch.rand(2, 1, 32, 32), torch.tensor([0, 1])),
        "must have 3 RGB channels in dimension 1",
    ),
    "float64 images": (
        lambda: (torch.rand(2, 3, 32, 32, dtype=torch.float64), torch.tensor([0, 1])),
        "of dtype float32",
    ),
    "int32 classes": (
        lambda: (torch.rand(2, 3, 32, 32), torch.tensor([0, 1], dtype=torch.int32)),
        "must have dtype torch.int64",
    ),
    "(B, 1) classes": (lambda: (torch.rand(2, 3, 32, 32), torch.tensor([[0], [1]])), r"must have shape \(B,\)"),
    "3-d images": (lambda: (torch.rand(3, 32, 32), torch.tensor([0])), r"must have 4 dimensions \(B, 3, H, W\)"),
    "empty batch": (lambda: (torch.rand(0, 3, 32, 32), torch.zeros(0, dtype=torch.int64)), "is empty"),
}


@pytest.mark.parametrize("case", sorted(_AOTI_SHAPE_AND_DTYPE_MISTAKES))
def test_aoti_package_never_reads_past_or_reinterprets_its_input(aoti_package, case):
    """Without the library and without AOTI_RUNTIME_CHECK_INPUTS, the package refuses wrong shapes and dtypes in
    our words."""
    from torch._inductor import aoti_load_package

    model = aoti_load_package(str(aoti_package.path))
    make, message = _AOTI_SHAPE_AND_DTYPE_MISTAKES[case]
    with pytest.raises(RuntimeError, match=message):
        model(*make())


def test_aoti_package_loads_without_the_outdated_package_warning(aoti_package):
    """The description lies inside the archive's root folder, so torch's current loader reads the package directly."""
    from torch.export.pt2_archive._package import load_pt2

    contents = load_pt2(str(aoti_package.path))  # raised (and aoti_load_package warned "outdated pt2") before
    assert "model" in contents.aoti_runners


@pytest.mark.parametrize("case", ["class -1", "NaN", "0..255"])
def test_onnx_file_refuses_invalid_values_instead_of_explaining_another_class(tmp_path, tiny, case):
    for name in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(name, reason=f"ONNX export test needs {name} (pip install onnx onnxscript onnxruntime)")
    import onnxruntime

    result = export_masker(tiny, tmp_path / "m.onnx", "onnx", size=32, batch=2)
    session = onnxruntime.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    images, classes = torch.rand(2, 3, 32, 32), torch.tensor([0, 1])
    if case == "class -1":
        classes = torch.tensor([0, -1])
    elif case == "NaN":
        images[1, 0, 3, 3] = math.nan
    else:
        images = images * 255
    with pytest.raises(Exception, match="indices element out of data bounds"):
        session.run(["masks"], {"images": images.numpy(), "classes": classes.numpy()})


def test_an_exported_file_gets_the_usual_permissions_not_0600(tmp_path, tiny):
    import os
    import stat

    old = os.umask(0o022)
    try:
        result = export_masker(tiny, tmp_path / "m.pt2", "export", size=32, batch=2, check=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o644


def test_torchscript_masks_carry_no_gradient(scripted_tiny):
    masks = scripted_tiny(torch.rand(1, 3, 32, 32), torch.tensor([1]))
    assert not masks.requires_grad and masks.grad_fn is None
