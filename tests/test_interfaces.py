"""The Masker interface: calling any masker checks its input like ``explain`` does; one opt-out."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import blackbox_saliency as bs
from blackbox_saliency.errors import InputError
from blackbox_saliency.input_checks import skip_input_checks
from blackbox_saliency.maskers import SaliencyMasker
from blackbox_saliency.maskers.encoders import EncoderSpec, register_encoder
from tests.test_export import _TinyBackbone

register_encoder(
    "_test_tiny_interfaces",
    lambda pretrained: EncoderSpec(_TinyBackbone(), ["s1", "s2", "s3"], (0.5,) * 3, (0.25,) * 3),
)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return SaliencyMasker(
        5, encoder="_test_tiny_interfaces", encoder_pretrained=False, preset="fast", upsampler_channels=(16, 8)
    ).eval()


@pytest.fixture(scope="module", params=["saliency", "center"])
def masker(request, tiny):
    return tiny if request.param == "saliency" else bs.load_masker("center")


GOOD_CLASSES = torch.tensor([0, 1])


@pytest.mark.parametrize(
    ("images", "classes", "message"),
    [
        (torch.rand(2, 3, 32, 32) * 255, GOOD_CLASSES, r"values in \[0, 1\].*scale 0..255"),
        ((torch.rand(2, 3, 32, 32) - 0.45) / 0.22, GOOD_CLASSES, r"do not pass normalised tensors"),
        (
            torch.rand(2, 3, 32, 32).index_put_(
                (torch.tensor([0]), torch.tensor([1]), torch.tensor([5]), torch.tensor([7])), torch.tensor(math.nan)
            ),
            GOOD_CLASSES,
            "NaN",
        ),
        ((torch.rand(2, 3, 32, 32) * 255).to(torch.uint8), GOOD_CLASSES, r"floating-point.*\.float\(\) / 255"),
        (torch.rand(3, 32, 32), GOOD_CLASSES, r"unsqueeze\(0\)"),
        (torch.rand(2, 1, 32, 32), GOOD_CLASSES, "3 RGB channels"),
        (torch.rand(2, 3, 32, 32), torch.tensor([1]), "1 entries but the batch has 2 images"),
        (torch.rand(2, 3, 32, 32), torch.tensor([0.0, 1.0]), "int64"),
        (torch.rand(2, 3, 32, 32), [0, 1], "torch.Tensor"),
    ],
    ids=[
        "0..255",
        "normalised",
        "one NaN pixel",
        "uint8",
        "no batch dim",
        "grey",
        "one class for two",
        "float classes",
        "list classes",
    ],
)
def test_calling_a_masker_refuses_bad_input(masker, images, classes, message):
    with pytest.raises(InputError, match=message):
        masker(images, classes)


def test_class_out_of_range_is_refused(tiny):
    with pytest.raises(InputError, match=r"\[0, 4\].*out of range"):
        tiny(torch.rand(2, 3, 32, 32), torch.tensor([0, 5]))


def test_the_opt_out_skips_the_checks_and_gives_the_same_masks(tiny):
    images = torch.rand(2, 3, 32, 32)
    with skip_input_checks():
        torch.testing.assert_close(tiny(images, GOOD_CLASSES), tiny(images, GOOD_CLASSES))
        out = tiny(images * 255, GOOD_CLASSES)  # the caller takes the responsibility
    assert out.shape == (2, 1, 32, 32)
    with pytest.raises(InputError, match=r"\[0, 1\]"):  # checks are back after the block
        tiny(images * 255, GOOD_CLASSES)


_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.uint8, torch.int64]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shape=st.lists(st.integers(0, 40), min_size=2, max_size=5),
    dtype=st.sampled_from(_DTYPES),
    scale=st.sampled_from([1.0, 255.0, -1.0, math.nan, math.inf]),
    classes=st.lists(st.integers(-2, 6), min_size=0, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_fuzz_masker_call_gives_a_valid_mask_or_a_clear_error(tiny, shape, dtype, scale, classes, seed):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(shape, generator=generator) * scale
    images = images.to(dtype) if dtype.is_floating_point or math.isfinite(scale) else images
    selectors = torch.tensor(classes, dtype=torch.int64)
    try:
        masks = tiny(images, selectors)
    except InputError as error:
        assert str(error).startswith("`"), error  # names the argument
        return
    assert masks.shape == (shape[0], 1, *shape[2:])
    assert not torch.isnan(masks).any()
    assert float(masks.min()) >= 0 and float(masks.max()) <= 1


def test_the_black_box_base_class_refuses_out_of_range_and_nan_images():
    """The template plugin authors subclass checks like the built-ins: ``box(x * 255)`` is an error, not plausible
    logits."""
    from torch import nn

    box = bs.BlackBoxClassifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2)), (8, 8), ["a", "b"])
    images = torch.rand(2, 3, 8, 8)
    assert box(images).shape == (2, 2)
    with pytest.raises(InputError, match=r"values in \[0, 1\].*1/255"):
        box(images * 255)
    broken = images.clone()
    broken[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        box(broken)


def test_running_out_of_memory_says_what_to_do_not_an_allocator_message(monkeypatch):
    """A 3000x3000 photo made the CPU allocator fail with its own words; the masker now names the size and the fix."""
    masker = bs.load_masker("center")

    def no_memory(images, classes):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried to "
            "allocate 1 bytes"
        )

    monkeypatch.setattr(masker, "forward", no_memory)
    with pytest.raises(
        InputError, match="not enough memory on cpu to explain 1 image.* of 64x48 pixels .*resize the images first"
    ):
        masker(torch.rand(1, 3, 64, 48), torch.tensor([0]))


class _BatchNormMasker(bs.TrainableMasker):
    """A masker whose frozen module has a batch-norm: its statistics must never update while the masker trains."""

    architecture = "batch_norm_masker"

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))
        self.head = torch.nn.Conv2d(4, 1, 1)
        self.config = {}

    def frozen_modules(self):
        return [self.stem]

    def trainable_parameters(self):
        return self.head.parameters()

    def forward_train(self, images, classes, features=None):
        return bs.interfaces.MaskerOutput(self.head(self.stem(images)).sigmoid(), torch.zeros(images.shape[0]))

    def forward(self, images, classes):
        return self.forward_train(images, classes).masks


def test_train_mode_never_reaches_the_frozen_modules():
    masker = _BatchNormMasker()
    assert masker.train() is masker and masker.training and masker.head.training
    assert not masker.stem.training and not masker.stem[1].training
    before = masker.stem[1].running_mean.clone()
    masker.forward_train(torch.rand(2, 3, 4, 4) * 5, torch.tensor([0, 0]))
    assert torch.equal(masker.stem[1].running_mean, before)
    masker.eval().train(True)  # e.g. a validation restoring the mode the masker had
    assert not masker.stem.training
