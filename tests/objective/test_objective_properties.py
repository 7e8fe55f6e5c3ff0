"""Property tests of the paper's objective: every invariant the terms must satisfy, plus bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import nn

from blackbox_saliency.errors import InputError
from blackbox_saliency.evidence import phi
from blackbox_saliency.fast.reference import total_variation
from blackbox_saliency.interfaces import BlackBoxClassifier
from blackbox_saliency.objective import SaliencyObjective

SETTINGS = settings(max_examples=30, deadline=None)
NUM_CLASSES = 4


def make_net() -> BlackBoxClassifier:
    torch.manual_seed(1)
    linear = nn.Linear(3 * 8 * 8, NUM_CLASSES)
    return BlackBoxClassifier(nn.Sequential(nn.Flatten(), linear), (8, 8), list("abcd")).eval()


NET = make_net()

mask_arrays = st.tuples(st.integers(1, 3), st.integers(1, 7), st.integers(1, 7)).flatmap(
    lambda s: arrays(np.float32, (s[0], 1, s[1], s[2]), elements=st.floats(0, 1, width=32))
)


def inputs(masks: torch.Tensor, seed: int = 0, size: int = 8):
    g = torch.Generator().manual_seed(seed)
    b = masks.shape[0]
    images = torch.rand(b, 3, size, size, generator=g)
    alternative = torch.rand(b, 3, size, size, generator=g)
    classes = torch.randint(0, NUM_CLASSES, (b,), generator=g)
    return images, alternative, classes


def log_p(images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return F.log_softmax(NET(images), dim=1).gather(1, classes.view(-1, 1)).squeeze(1)


# ---------------------------------------------------------------- total variation


@SETTINGS
@given(mask_arrays)
def test_tv_non_negative_and_invariant_under_flips_and_transposition(m):
    masks = torch.from_numpy(m)
    tv = total_variation(masks)
    assert tv.shape == (masks.shape[0],) and (tv >= 0).all()
    for moved in (masks.flip(-1), masks.flip(-2), masks.transpose(-1, -2), masks.flip(-1).flip(-2)):
        torch.testing.assert_close(total_variation(moved), tv)
    # the objective's tv term is tv_coef times the same quantity, and shares the invariances
    images, alternative, classes = inputs(masks)
    objective = SaliencyObjective(NET, tv_coef=2.5)
    with torch.no_grad():
        term = objective(images, masks, classes, alternative=alternative).tv
        torch.testing.assert_close(term, 2.5 * tv)
        for moved in (masks.flip(-1), masks.flip(-2), masks.transpose(-1, -2)):
            torch.testing.assert_close(objective(images, moved, classes, alternative=alternative).tv, term)


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 7), st.integers(1, 7), st.floats(0, 1))
def test_tv_is_zero_for_constant_masks(b, h, w, value):
    masks = torch.full((b, 1, h, w), value)
    assert (total_variation(masks) == 0).all()
    images, alternative, classes = inputs(masks)
    with torch.no_grad():
        assert (SaliencyObjective(NET)(images, masks, classes, alternative=alternative).tv == 0).all()


def test_tv_by_hand():
    masks = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    # horizontal differences: 1, 1 (mean 1); vertical: 0, 0 (mean 0)
    assert total_variation(masks).tolist() == [1.0]


# ---------------------------------------------------------------- area, blend and the classifier terms


@SETTINGS
@given(mask_arrays, st.floats(0.1, 5))
def test_area_in_unit_interval_and_equal_to_mask_mean(m, area_coef):
    masks = torch.from_numpy(m)
    images, alternative, classes = inputs(masks)
    with torch.no_grad():
        terms = SaliencyObjective(NET, area_coef=area_coef)(images, masks, classes, alternative=alternative)
    area = terms.area / area_coef
    assert ((area >= 0) & (area <= 1 + 1e-6)).all()
    torch.testing.assert_close(area, masks.mean(dim=(1, 2, 3)))


@SETTINGS
@given(mask_arrays, st.integers(0, 1000))
def test_total_is_sum_and_preserve_destroy_match_the_classifier(m, seed):
    masks = torch.from_numpy(m)
    images, alternative, classes = inputs(masks, seed)
    objective = SaliencyObjective(NET, tv_coef=1.5, area_coef=2.0, destroy_coef=5.0, destroy_power=0.3)
    with torch.no_grad():
        terms = objective(images, masks, classes, alternative=alternative)
    torch.testing.assert_close(terms.total, terms.tv + terms.area + terms.preserve + terms.destroy)
    # preserve = -log p(c | phi(X, M)); destroy = coef * p(c | phi(X, 1 - M)) ** power
    torch.testing.assert_close(terms.preserve, -log_p(phi(images, masks, alternative), classes), rtol=1e-5, atol=1e-5)
    p_destroyed = log_p(phi(images, 1 - masks, alternative), classes).exp()
    torch.testing.assert_close(terms.destroy, 5.0 * p_destroyed.pow(0.3), rtol=1e-5, atol=1e-5)
    assert (terms.preserve >= 0).all() and (terms.destroy >= 0).all() and (terms.destroy <= 5.0 + 1e-5).all()


def test_full_and_empty_masks_reach_the_image_and_the_alternative():
    masks = torch.ones(2, 1, 3, 3)
    images, alternative, classes = inputs(masks)
    objective = SaliencyObjective(NET, destroy_coef=1.0, destroy_power=1.0)
    with torch.no_grad():
        full = objective(images, masks, classes, alternative=alternative)
        empty = objective(images, torch.zeros_like(masks), classes, alternative=alternative)
    torch.testing.assert_close(full.preserve, -log_p(images, classes))
    torch.testing.assert_close(full.destroy, log_p(alternative, classes).exp())
    torch.testing.assert_close(empty.preserve, -log_p(alternative, classes))
    torch.testing.assert_close(empty.destroy, log_p(images, classes).exp())
    assert full.area.tolist() == [3.0, 3.0] and empty.area.tolist() == [0.0, 0.0]


@SETTINGS
@given(mask_arrays, st.integers(0, 1000))
def test_fake_selectors_contribute_the_area_term_only(m, seed):
    masks = torch.from_numpy(m)
    images, alternative, classes = inputs(masks, seed)
    b = masks.shape[0]
    fake = torch.arange(b) % 2 == 0  # fake, real, fake
    objective = SaliencyObjective(NET)
    with torch.no_grad():
        mixed = objective(images, masks, classes, fake=fake, alternative=alternative)
        plain = objective(images, masks, classes, alternative=alternative)
    for name in ("tv", "preserve", "destroy"):
        assert (getattr(mixed, name)[fake] == 0).all(), name
        torch.testing.assert_close(getattr(mixed, name)[~fake], getattr(plain, name)[~fake])
    torch.testing.assert_close(mixed.area, plain.area)
    torch.testing.assert_close(mixed.total[fake], mixed.area[fake])
    torch.testing.assert_close(mixed.total[~fake], plain.total[~fake])


def test_reference_variant_area_power_and_hinge():
    masks = torch.rand(3, 1, 4, 4)
    images, alternative, classes = inputs(masks)
    objective = SaliencyObjective(NET, variant="reference", area_coef=2.0, destroy_coef=1.0, hinge_margin=0.5)
    with torch.no_grad():
        terms = objective(images, masks, classes, alternative=alternative)
        logits = NET(phi(images, 1 - masks, alternative))
    torch.testing.assert_close(terms.area, 2.0 * (masks.mean(dim=(1, 2, 3)) + 1e-6).pow(0.3))
    target = logits.gather(1, classes.view(-1, 1)).squeeze(1)
    others = torch.stack([torch.cat([row[:c], row[c + 1 :]]).max() for row, c in zip(logits, classes)])
    torch.testing.assert_close(terms.destroy, torch.relu(target - others + 0.5))


def test_masks_at_any_resolution_are_upsampled():
    masks = torch.rand(2, 1, 2, 2)
    images, alternative, classes = inputs(masks)
    up = F.interpolate(masks, size=(8, 8), mode="bilinear", align_corners=False)
    with torch.no_grad():
        low = SaliencyObjective(NET)(images, masks, classes, alternative=alternative)
        high = SaliencyObjective(NET)(images, up, classes, alternative=alternative)
    torch.testing.assert_close(low.preserve, high.preserve)
    torch.testing.assert_close(low.destroy, high.destroy)


def test_objective_is_differentiable_in_the_mask():
    masks = torch.rand(2, 1, 4, 4, requires_grad=True)
    images, _, classes = inputs(masks.detach())
    terms = SaliencyObjective(NET)(images, masks, classes, generator=torch.Generator().manual_seed(0))
    terms.total.sum().backward()
    assert masks.grad is not None and torch.isfinite(masks.grad).all() and masks.grad.abs().sum() > 0


def test_generator_makes_the_alternative_reproducible():
    masks = torch.rand(4, 1, 4, 4)
    images, _, classes = inputs(masks)
    objective = SaliencyObjective(NET)
    with torch.no_grad():
        a = objective(images, masks, classes, generator=torch.Generator().manual_seed(3)).total
        b = objective(images, masks, classes, generator=torch.Generator().manual_seed(3)).total
    torch.testing.assert_close(a, b)
    assert math.isfinite(float(a.sum()))


# ---------------------------------------------------------------- bad input


def good_args():
    return dict(images=torch.rand(2, 3, 8, 8), masks=torch.rand(2, 1, 4, 4), classes=torch.tensor([0, 3]))


@pytest.mark.parametrize(
    "change, fragment",
    [
        (dict(images=torch.rand(3, 8, 8)), "`images`"),
        (dict(images=torch.rand(2, 4, 8, 8)), "`images`"),
        (dict(images=torch.randint(0, 255, (2, 3, 8, 8), dtype=torch.uint8)), "`images`"),
        (dict(images=torch.rand(2, 3, 8, 8) * 2 - 0.5), "`images`"),
        (dict(images=torch.full((2, 3, 8, 8), float("nan"))), "`images`.*NaN"),
        (dict(masks=torch.rand(2, 4, 4)), "`masks`"),
        (dict(masks=torch.rand(2, 2, 4, 4)), "`masks`"),
        (dict(masks=torch.ones(2, 1, 4, 4, dtype=torch.int64)), "`masks`"),
        (dict(masks=torch.rand(2, 1, 4, 4) - 1), "`masks`"),
        (dict(masks=torch.full((2, 1, 4, 4), float("nan"))), "`masks`.*NaN"),
        (dict(masks=torch.rand(3, 1, 4, 4)), "`masks`"),
        (dict(classes=torch.tensor([0, 4])), "`classes`.*out of range"),
        (dict(classes=torch.tensor([0, 1], dtype=torch.int32)), "`classes`"),
        (dict(classes=torch.tensor([0, 1, 2])), "`classes`"),
        (dict(fake=torch.tensor([1, 0])), "`fake`"),
        (dict(generator="seed"), "`generator`"),
        (dict(alternative=torch.rand(2, 3, 8, 8) + 1), "`alternative`"),
    ],
)
def test_bad_input_raises_input_error_naming_the_argument(change, fragment):
    kwargs = good_args()
    kwargs.update(change)
    with pytest.raises(InputError, match=fragment):
        SaliencyObjective(NET)(**kwargs)


@pytest.mark.parametrize(
    "change, fragment",
    [
        (dict(classes=[0, 3]), "`classes`"),
        (dict(classes=torch.tensor(1)), "`classes`"),
        (dict(fake=[True, False]), "`fake`"),
        (dict(alternative=torch.rand(2, 3, 4, 4)), "`alternative`"),
        (dict(alternative=torch.rand(1, 3, 8, 8)), "`alternative`"),
        (dict(masks=torch.rand(2, 1, 4, 4, dtype=torch.float64)), "`masks`"),
    ],
)
def test_bad_input_of_other_types_raises_input_error(change, fragment):
    kwargs = good_args()
    kwargs.update(change)
    with pytest.raises(InputError, match=fragment):
        SaliencyObjective(NET)(**kwargs)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(variant="other"), "`variant`"),
        (dict(tv_coef=-1.0), "`tv_coef`"),
        (dict(area_coef=-1.0), "`area_coef`"),
        (dict(destroy_coef=-1.0), "`destroy_coef`"),
        (dict(crop_coef=-1.0), "`crop_coef`"),
    ],
)
def test_bad_constructor_arguments(kwargs, fragment):
    with pytest.raises(InputError, match=fragment):
        SaliencyObjective(NET, **kwargs)
