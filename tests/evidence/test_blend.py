"""The blend phi(X, M, A) = X*M + A*(1-M) and mask upsampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from blackbox_saliency.errors import InputError
from blackbox_saliency.evidence import phi, upsample_mask
from blackbox_saliency.fast.reference import mask_blend_tv
from blackbox_saliency.input_checks import skip_input_checks

SETTINGS = settings(max_examples=30, deadline=None)

shapes = st.tuples(st.integers(1, 3), st.integers(1, 12), st.integers(1, 12))
unit = st.floats(0, 1, width=32)


@st.composite
def blend_inputs(draw):
    b, h, w = draw(shapes)
    mh, mw = draw(st.integers(1, h)), draw(st.integers(1, w))
    images = torch.from_numpy(draw(arrays(np.float32, (b, 3, h, w), elements=unit)))
    alternative = torch.from_numpy(draw(arrays(np.float32, (b, 3, h, w), elements=unit)))
    masks = torch.from_numpy(draw(arrays(np.float32, (b, 1, mh, mw), elements=unit)))
    return images, masks, alternative


@SETTINGS
@given(blend_inputs())
def test_full_mask_keeps_the_image_and_empty_mask_gives_the_alternative(data):
    images, masks, alternative = data
    ones, zeros = torch.ones_like(masks), torch.zeros_like(masks)
    torch.testing.assert_close(phi(images, ones, alternative), images)
    torch.testing.assert_close(phi(images, zeros, alternative), alternative)


@SETTINGS
@given(blend_inputs())
def test_blend_is_the_convex_combination_of_the_upsampled_mask(data):
    images, masks, alternative = data
    out = phi(images, masks, alternative)
    up = upsample_mask(masks, images.shape[-2:])
    assert out.shape == images.shape and out.dtype == images.dtype
    torch.testing.assert_close(out, images * up + alternative * (1 - up))
    lo, hi = torch.minimum(images, alternative), torch.maximum(images, alternative)
    assert (out >= lo - 1e-6).all() and (out <= hi + 1e-6).all()


@SETTINGS
@given(blend_inputs())
def test_upsample_mask_stays_in_unit_interval_and_matches_the_fused_reference(data):
    images, masks, alternative = data
    up = upsample_mask(masks, images.shape[-2:])
    assert up.shape == (images.shape[0], 1, *images.shape[-2:])
    assert float(up.min()) >= 0.0 and float(up.max()) <= 1.0 + 1e-6
    fused_up, preserved, destroyed, _ = mask_blend_tv(masks, images, alternative, True)
    torch.testing.assert_close(fused_up, up)
    torch.testing.assert_close(preserved, phi(images, masks, alternative))
    torch.testing.assert_close(destroyed, phi(images, 1 - masks, alternative))


def test_upsample_mask_identity_and_bilinear():
    m = torch.rand(2, 1, 5, 7)
    assert upsample_mask(m, (5, 7)) is m
    torch.testing.assert_close(
        upsample_mask(m, (10, 14)), F.interpolate(m, size=(10, 14), mode="bilinear", align_corners=False)
    )


@pytest.mark.parametrize(
    "change, fragment",
    [
        (dict(images=torch.rand(3, 8, 8)), "`images`"),
        (dict(images=torch.rand(2, 1, 8, 8)), "`images`"),
        (dict(images=torch.ones(2, 3, 8, 8, dtype=torch.int64)), "`images`"),
        (dict(images=torch.rand(2, 3, 8, 8) + 1), "`images`"),
        (dict(images=torch.full((2, 3, 8, 8), float("nan"))), "`images`.*NaN"),
        (dict(masks=torch.rand(2, 8, 8)), "`masks`"),
        (dict(masks=torch.rand(2, 3, 8, 8)), "`masks`"),
        (dict(masks=torch.ones(2, 1, 8, 8, dtype=torch.bool)), "`masks`"),
        (dict(masks=torch.rand(2, 1, 8, 8) * -1 - 0.1), "`masks`"),
        (dict(masks=torch.full((2, 1, 4, 4), float("nan"))), "`masks`.*NaN"),
        (dict(masks=torch.rand(3, 1, 4, 4)), "`masks`"),
        (dict(alternative=torch.rand(2, 3, 8)), "`alternative`"),
        (dict(alternative=torch.rand(2, 3, 8, 8) * 3), "`alternative`"),
        (dict(alternative=torch.rand(1, 3, 8, 8)), "`alternative`"),
        (dict(alternative=torch.rand(2, 3, 4, 4)), "`alternative`"),
    ],
)
def test_bad_input_raises_input_error_naming_the_argument(change, fragment):
    kwargs = dict(images=torch.rand(2, 3, 8, 8), masks=torch.rand(2, 1, 4, 4), alternative=torch.rand(2, 3, 8, 8))
    kwargs.update(change)
    with pytest.raises(InputError, match=fragment):
        phi(**kwargs)


def test_skip_input_checks_skips_validation():
    with skip_input_checks():
        out = phi(torch.full((1, 3, 2, 2), 2.0), torch.ones(1, 1, 2, 2), torch.zeros(1, 3, 2, 2))
    assert out.max().item() == 2.0
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        phi(torch.full((1, 3, 2, 2), 2.0), torch.ones(1, 1, 2, 2), torch.zeros(1, 3, 2, 2))
