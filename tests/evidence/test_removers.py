"""Evidence removers: shapes, ranges, blur scaling, reproducibility, the paper's mixture, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from blackbox_saliency import load_evidence_remover
from blackbox_saliency.errors import InputError
from blackbox_saliency.evidence import (
    ColourNoiseRemover,
    ConstantRemover,
    GaussianBlurRemover,
    PaperRemover,
    gaussian_blur,
)

REMOVERS = {
    "blur": GaussianBlurRemover,
    "colour_noise": ColourNoiseRemover,
    "constant": ConstantRemover,
    "paper": PaperRemover,
}
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

image_arrays = st.tuples(st.integers(1, 3), st.integers(1, 20), st.integers(1, 20)).flatmap(
    lambda s: arrays(np.float32, (s[0], 3, s[1], s[2]), elements=st.floats(0, 1, width=32))
)


@pytest.mark.parametrize("name", sorted(REMOVERS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_shape_dtype_device_preserved(name, dtype, device):
    images = torch.rand(3, 3, 17, 23, dtype=dtype, device=device)
    out = REMOVERS[name]()(images, torch.Generator(device=device).manual_seed(0))
    assert out.shape == images.shape and out.dtype == dtype and out.device == images.device
    assert not torch.isnan(out).any()


def test_plugins_give_the_same_removers():
    for name, cls in REMOVERS.items():
        assert isinstance(load_evidence_remover(name), cls)


@settings(max_examples=25, deadline=None)
@given(image_arrays, st.sampled_from(sorted(REMOVERS)), st.integers(0, 2**31 - 1))
def test_values_stay_in_unit_interval(m, name, seed):
    out = REMOVERS[name]()(torch.from_numpy(m), torch.Generator().manual_seed(seed))
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


@pytest.mark.parametrize("name", ["blur", "paper"])
def test_blur_of_a_white_image_stays_in_range(name):
    from blackbox_saliency.evidence import phi

    white = torch.ones(1, 3, 4, 4)
    out = REMOVERS[name](**({"blur_probability": 1.0} if name == "paper" else {}))(white)
    assert float(out.max()) <= 1.0
    phi(white, torch.rand(1, 1, 4, 4), out)  # must accept the remover's own output


def test_blur_sigma_scales_with_the_shorter_side():
    blur = GaussianBlurRemover(sigma=10.0)
    assert blur.sigma_for(224, 224) == pytest.approx(10.0)
    assert blur.sigma_for(448, 448) == pytest.approx(20.0)
    assert blur.sigma_for(112, 500) == pytest.approx(5.0)


def _edge_width(size: int) -> int:
    """Number of columns strictly between 5 % and 95 % after blurring a vertical step edge."""
    images = torch.zeros(1, 3, size, size)
    images[..., size // 2 :] = 1.0
    profile = GaussianBlurRemover(sigma=10.0)(images)[0, 0, size // 2]
    return int(((profile > 0.05) & (profile < 0.95)).sum())


def test_blur_footprint_doubles_when_the_image_doubles():
    small, large = _edge_width(112), _edge_width(224)
    assert small > 2
    assert abs(large - 2 * small) <= 2, (small, large)


def test_gaussian_blur_keeps_constants_and_sigma_zero_is_identity():
    grey = torch.full((2, 3, 9, 13), 0.4, dtype=torch.float64)
    torch.testing.assert_close(gaussian_blur(grey, 3.0), grey)
    x = torch.rand(1, 3, 5, 5)
    assert torch.equal(gaussian_blur(x, 0.0), x)
    assert gaussian_blur(x, 2.0).std() < x.std()


@pytest.mark.parametrize("name", ["colour_noise", "paper"])
def test_generator_makes_draws_reproducible(name):
    images = torch.rand(6, 3, 16, 16)
    remover = REMOVERS[name]()
    a = remover(images, torch.Generator().manual_seed(5))
    b = remover(images, torch.Generator().manual_seed(5))
    c = remover(images, torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_colour_noise_differs_per_call_and_per_image():
    images = torch.rand(4, 3, 16, 16)
    remover = ColourNoiseRemover()
    first, second = remover(images), remover(images)
    assert not torch.equal(first, second)
    colours = ColourNoiseRemover(noise_std=0.0)(images)
    assert torch.equal(colours, colours[:, :, :1, :1].expand_as(colours))  # a constant colour per image
    assert len({tuple(c.tolist()) for c in colours[:, :, 0, 0]}) == 4


def test_paper_remover_mixes_blur_and_noise_per_image():
    images = torch.rand(32, 3, 16, 16)
    blurred = GaussianBlurRemover()(images)
    is_blur = lambda out: (out - blurred).abs().flatten(1).amax(1) < 1e-6  # noqa: E731

    mixed = is_blur(PaperRemover(blur_probability=0.5)(images, torch.Generator().manual_seed(0)))
    assert 4 <= int(mixed.sum()) <= 28, "both kinds should appear in one batch"
    assert is_blur(PaperRemover(blur_probability=1.0)(images, torch.Generator().manual_seed(0))).all()
    assert not is_blur(PaperRemover(blur_probability=0.0)(images, torch.Generator().manual_seed(0))).any()


def test_constant_remover_value():
    out = ConstantRemover((0.1, 0.2, 0.3))(torch.rand(2, 3, 4, 4))
    torch.testing.assert_close(out, torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1).expand(2, 3, 4, 4))
    assert ConstantRemover(0.5)(torch.rand(1, 3, 2, 2)).unique().tolist() == [0.5]


@pytest.mark.parametrize("name", sorted(REMOVERS))
@pytest.mark.parametrize(
    "images, fragment",
    [
        (torch.rand(3, 8, 8), "`images`"),
        (torch.rand(2, 1, 8, 8), "`images`"),
        (torch.randint(0, 255, (2, 3, 8, 8), dtype=torch.uint8), "`images`"),
        (torch.rand(2, 3, 8, 8) * 255, "`images`"),
        (torch.full((2, 3, 8, 8), float("nan")), "`images`.*NaN"),
        ([[0.0]], "`images`"),
    ],
)
def test_bad_images(name, images, fragment):
    with pytest.raises(InputError, match=fragment):
        REMOVERS[name]()(images)


def test_bad_generator():
    with pytest.raises(InputError, match="`generator`"):
        PaperRemover()(torch.rand(1, 3, 4, 4), 42)
    with pytest.raises(InputError, match="`generator`"):
        from blackbox_saliency.input_checks import check_generator

        check_generator(torch.Generator(), torch.device("cuda"))


@pytest.mark.parametrize(
    "factory, fragment",
    [
        (lambda: GaussianBlurRemover(sigma=-1.0), "`sigma`"),
        (lambda: ColourNoiseRemover(noise_std=-0.1), "`noise_std`"),
        (lambda: PaperRemover(blur_probability=1.5), "`blur_probability`"),
        (lambda: ConstantRemover(2.0), "`value`"),
        (lambda: ConstantRemover((0.1, 0.2)), "`value`"),
    ],
)
def test_bad_constructor_arguments(factory, fragment):
    with pytest.raises(InputError, match=fragment):
        factory()
