"""MaskSmoother: the exponential moving average behind flicker-free video overlays."""

from __future__ import annotations

import pytest
import torch

from blackbox_saliency.errors import InputError
from blackbox_saliency.video.smoothing import MaskSmoother


def test_ema_values_across_calls():
    smoother = MaskSmoother(0.75)
    ones, zeros = torch.ones(2, 1, 2, 2), torch.zeros(3, 1, 2, 2)
    first = smoother(ones)
    second = smoother(zeros)
    assert first.flatten().unique().tolist() == [1.0]
    assert [float(m.max()) for m in second] == pytest.approx([0.75, 0.5625, 0.421875])


def test_alpha_zero_is_a_no_op():
    masks = torch.rand(4, 1, 3, 3)
    assert MaskSmoother(0.0)(masks) is masks


def test_values_stay_in_unit_range():
    smoother = MaskSmoother(0.9)
    for _ in range(5):
        out = smoother(torch.rand(3, 1, 4, 4))
        assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0


def test_reset_on_class_change_size_change_and_explicit_reset():
    smoother = MaskSmoother(0.5)
    smoother(torch.ones(1, 1, 2, 2), [3])
    assert float(smoother(torch.zeros(1, 1, 2, 2), [4]).max()) == 0.0, "new class: no memory"
    assert float(smoother(torch.ones(1, 1, 3, 3), [4]).min()) == 1.0, "new size: no memory"
    smoother.reset()
    assert float(smoother(torch.zeros(1, 1, 3, 3), [4]).max()) == 0.0
    keep = MaskSmoother(0.5, reset_on_class_change=False)
    keep(torch.ones(1, 1, 2, 2), [3])
    assert float(keep(torch.zeros(1, 1, 2, 2), [4]).max()) == 0.5


@pytest.mark.parametrize("alpha", [-0.1, 1.0, 2, "0.5", True])
def test_bad_alpha(alpha):
    with pytest.raises(InputError, match="alpha"):
        MaskSmoother(alpha)


def test_bad_shapes():
    with pytest.raises(InputError, match=r"\(T, 1, H, W\)"):
        MaskSmoother(0.5)(torch.rand(2, 3, 4, 4))
    with pytest.raises(InputError, match="classes"):
        MaskSmoother(0.5)(torch.rand(2, 1, 4, 4), [1])
