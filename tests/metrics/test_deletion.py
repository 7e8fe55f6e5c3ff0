"""Deletion / insertion curves and AUCs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import nn

from blackbox_saliency.errors import InputError
from blackbox_saliency.evidence import ConstantRemover, GaussianBlurRemover, PaperRemover
from blackbox_saliency.interfaces import BlackBoxClassifier
from blackbox_saliency.metrics import DeletionOptions, deletion_insertion, pixel_ranks, trapezoid_auc


def region_net(region: tuple[int, int, int, int], gain: float = 30.0) -> BlackBoxClassifier:
    """16 x 16 input; logit of class 0 = gain * (mean brightness of ``region`` - 0.5), class 1 fixed at 0."""
    y0, y1, x0, x1 = region
    weight = torch.zeros(3, 16, 16)
    weight[:, y0:y1, x0:x1] = 1.0
    weight = weight / weight.sum()
    linear = nn.Linear(3 * 16 * 16, 2)
    with torch.no_grad():
        linear.weight.zero_()
        linear.weight[0] = gain * weight.flatten()
        linear.bias.copy_(torch.tensor([-gain / 2, 0.0]))
    return BlackBoxClassifier(nn.Sequential(nn.Flatten(), linear), (16, 16), ["object", "other"]).eval()


def region_saliency(batch: int, region: tuple[int, int, int, int]) -> torch.Tensor:
    y0, y1, x0, x1 = region
    sal = torch.rand(batch, 1, 16, 16) * 0.1
    sal[..., y0:y1, x0:x1] += 1.0
    return sal


REGION = (2, 8, 3, 9)


def test_good_saliency_beats_reversed_saliency():
    net = region_net(REGION)
    images = torch.full((2, 3, 16, 16), 0.9)
    classes = torch.zeros(2, dtype=torch.int64)
    good = region_saliency(2, REGION)
    options = DeletionOptions(steps=8, remover=ConstantRemover(0.0))
    r_good = deletion_insertion(net, images, good, classes, options)
    r_bad = deletion_insertion(net, images, -good, classes, options)
    assert (r_good.deletion < r_bad.deletion - 0.3).all()
    assert (r_good.insertion > r_bad.insertion + 0.3).all()
    for r in (r_good, r_bad):
        assert ((r.deletion >= 0) & (r.deletion <= 1) & (r.insertion >= 0) & (r.insertion <= 1)).all()


def test_curve_endpoints_and_auc_by_trapezoid():
    net = region_net(REGION)
    images = torch.rand(3, 3, 16, 16)
    classes = torch.tensor([0, 1, 0])
    r = deletion_insertion(
        net, images, torch.rand(3, 1, 16, 16), classes, DeletionOptions(steps=5)
    )  # default remover: blur
    with torch.no_grad():
        p_x = torch.softmax(net(images), 1).gather(1, classes.view(-1, 1)).squeeze(1)
        p_a = torch.softmax(net(GaussianBlurRemover()(images)), 1).gather(1, classes.view(-1, 1)).squeeze(1)
    assert r.deletion_curve.shape == r.insertion_curve.shape == (3, 6)
    torch.testing.assert_close(r.deletion_curve[:, 0], p_x)
    torch.testing.assert_close(r.deletion_curve[:, -1], p_a)
    torch.testing.assert_close(r.insertion_curve[:, 0], p_a)
    torch.testing.assert_close(r.insertion_curve[:, -1], p_x)
    c = r.deletion_curve
    by_hand = (c[:, 0] / 2 + c[:, 1:-1].sum(1) + c[:, -1] / 2) / 5
    torch.testing.assert_close(r.deletion, by_hand)
    assert r.fractions.tolist() == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], abs=1 / 256)


def test_trapezoid_auc_by_hand():
    assert trapezoid_auc(torch.tensor([1.0, 1.0])).item() == 1.0
    assert trapezoid_auc(torch.tensor([0.0, 1.0, 0.0, 1.0])).item() == pytest.approx(0.5)
    with pytest.raises(InputError):
        trapezoid_auc(torch.tensor([1.0]))


def test_pixel_ranks_order_and_ties():
    sal = torch.tensor([[[[0.1, 0.9], [0.5, 0.5]]]])
    assert pixel_ranks(sal).flatten().tolist() == [3, 0, 1, 2]


@settings(max_examples=15, deadline=None)
@given(arrays(np.float32, (2, 1, 16, 16), elements=st.floats(-1, 1, width=32)), st.integers(1, 12))
def test_curves_are_monotone_for_a_positive_linear_classifier(sal, steps):
    """Removing bright pixels (black remover) can only lower a positive-weight score, inserting them only raise it."""
    net = region_net((0, 16, 0, 16))
    images = torch.rand(2, 3, 16, 16)
    r = deletion_insertion(
        net,
        images,
        torch.from_numpy(sal),
        torch.zeros(2, dtype=torch.int64),
        DeletionOptions(steps, ConstantRemover(0.0)),
    )
    assert r.deletion_curve.shape == (2, steps + 1)
    assert (r.deletion_curve.diff(dim=1) <= 1e-6).all()
    assert (r.insertion_curve.diff(dim=1) >= -1e-6).all()


def test_batch_size_and_batch_composition_do_not_matter():
    net = region_net(REGION)
    images = torch.rand(3, 3, 20, 12)
    sal = torch.rand(3, 1, 5, 3)  # low resolution: resized to the images
    classes = torch.tensor([0, 1, 1])
    whole = deletion_insertion(net, images, sal, classes, DeletionOptions(steps=4, batch_size=1000))
    small = deletion_insertion(net, images, sal, classes, DeletionOptions(steps=4, batch_size=3, progress=True))
    torch.testing.assert_close(whole.deletion_curve, small.deletion_curve)
    torch.testing.assert_close(whole.insertion_curve, small.insertion_curve)
    single = deletion_insertion(net, images[1:2], sal[1:2], classes[1:2], DeletionOptions(steps=4))
    torch.testing.assert_close(single.deletion, whole.deletion[1:2])
    summary = whole.to_dict()
    assert summary["steps"] == 4 and summary["deletion_auc"] == pytest.approx(whole.deletion_mean)


def test_random_remover_is_reproducible_with_a_generator():
    net = region_net(REGION)
    images, sal, classes = torch.rand(2, 3, 16, 16), torch.rand(2, 1, 16, 16), torch.tensor([0, 1])
    runs = [
        deletion_insertion(
            net, images, sal, classes, DeletionOptions(3, PaperRemover(), generator=torch.Generator().manual_seed(7))
        )
        for _ in range(2)
    ]
    torch.testing.assert_close(runs[0].insertion_curve, runs[1].insertion_curve)


@pytest.mark.parametrize(
    "change, fragment",
    [
        (dict(images=torch.rand(2, 3, 8)), "`images`"),
        (dict(images=torch.rand(2, 3, 8, 8) + 1), "`images`"),
        (dict(saliency=torch.rand(2, 8, 8)), "`saliency`"),
        (dict(saliency=torch.full((2, 1, 8, 8), float("nan"))), "`saliency`"),
        (dict(saliency=torch.rand(3, 1, 8, 8)), "`saliency`"),
        (dict(classes=torch.tensor([0, 2])), "`classes`"),
        (dict(classes=torch.tensor([0.0, 1.0])), "`classes`"),
        (dict(options=DeletionOptions(generator="seed")), "`generator`"),
    ],
)
def test_bad_input(change, fragment):
    kwargs = dict(images=torch.rand(2, 3, 8, 8), saliency=torch.rand(2, 1, 8, 8), classes=torch.tensor([0, 1]))
    kwargs.update(change)
    with pytest.raises(InputError, match=fragment):
        deletion_insertion(region_net(REGION), **kwargs)


@pytest.mark.parametrize(
    "options, fragment",
    [(dict(steps=0), "`steps`"), (dict(batch_size=0), "`batch_size`"), (dict(remover="blur"), "`remover`")],
)
def test_bad_options(options, fragment):
    with pytest.raises(InputError, match=fragment):
        DeletionOptions(**options)
