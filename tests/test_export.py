"""Exporting maskers to TorchScript, torch.export and ONNX."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
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


register_encoder("_test_tiny", lambda pretrained: EncoderSpec(_TinyBackbone(), ["s1", "s2", "s3"], (0.5,) * 3, (0.25,) * 3))


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return SaliencyMasker(7, encoder="_test_tiny", encoder_pretrained=False, upsampler_channels=(16, 8)).eval()


@pytest.fixture(scope="module")
def resnet():
    return SaliencyMasker(1000, encoder="resnet18", encoder_pretrained=False).eval()


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
    masker = SaliencyMasker(1000, encoder="efficientnet_lite0", encoder_pretrained=False).eval()
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
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "m.pt"), str(tmp_path / "cases.pt")], capture_output=True, text=True, timeout=120)
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
    _compare(tiny, lambda x, c: session.run(["masks"], {"images": x.numpy(), "classes": c.numpy()})[0], [(1, 32, 32), (3, 40, 56)])
    assert read_export_description(result.path)["config"]["num_classes"] == 7


def test_onnx_without_the_package_says_what_to_install(tmp_path, tiny, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("onnx", "onnxscript") else real(name, *a))
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
