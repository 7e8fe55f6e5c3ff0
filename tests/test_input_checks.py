"""Input checks: every bad input raises InputError naming the argument and saying how to fix it."""

from __future__ import annotations

import pytest
import torch

from blackbox_saliency.errors import InputError
from blackbox_saliency.input_checks import (
    check_classes,
    check_generator,
    check_images,
    check_masks,
    check_same_batch,
    check_same_spatial,
)


def test_good_input_is_returned_unchanged():
    images, masks, classes = torch.rand(2, 3, 5, 6), torch.rand(2, 1, 5, 6), torch.tensor([0, 9])
    assert check_images(images) is images
    assert check_masks(masks) is masks
    assert check_classes(classes, num_classes=10, batch=2) is classes
    assert check_same_batch(images=images, masks=masks, classes=classes) == 2
    check_same_spatial(images, masks, "images", "masks")
    assert check_generator(None, images.device) is None
    g = torch.Generator()
    assert check_generator(g, images.device) is g
    # the range check can be switched off (e.g. for normalised tensors inside a classifier)
    check_images(images * 10 - 5, check_range=False)
    check_masks(masks + 3, check_range=False)


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ([[0.5]], "must be a torch.Tensor"),
        (torch.rand(3, 5, 5), r"unsqueeze\(0\)"),
        (torch.rand(2, 5, 5, 3), "permute"),
        (torch.rand(2, 4, 5, 5), "3 RGB channels"),
        (torch.randint(0, 255, (2, 3, 5, 5), dtype=torch.uint8), "/ 255"),
        (torch.rand(2, 3, 5, 5) * 255, r"\[0, 1\]"),
        (torch.rand(2, 3, 5, 5) - 0.5, r"\[0, 1\]"),
        (torch.full((1, 3, 2, 2), float("nan")), "NaN"),
        (torch.full((1, 3, 2, 2), float("inf")), r"\[0, 1\]"),
        (torch.rand(0, 3, 5, 5), "empty"),
    ],
)
def test_check_images_rejects(bad, fragment):
    with pytest.raises(InputError, match=fragment) as info:
        check_images(bad, name="photo")
    assert "`photo`" in str(info.value)


@pytest.mark.parametrize(
    "bad, fragment",
    [
        (torch.rand(2, 5, 5), "unsqueeze"),
        (torch.rand(2, 3, 5, 5), r"\(B, 1, H, W\)"),
        (torch.ones(2, 1, 5, 5, dtype=torch.bool), "floating-point"),
        (torch.rand(2, 1, 5, 5) + 1.5, r"\[0, 1\]"),
        (torch.full((1, 1, 2, 2), float("nan")), "NaN"),
    ],
)
def test_check_masks_rejects(bad, fragment):
    with pytest.raises(InputError, match=fragment) as info:
        check_masks(bad, name="saliency")
    assert "`saliency`" in str(info.value)


@pytest.mark.parametrize(
    "bad, kwargs, fragment",
    [
        ([0, 1], {}, "torch.Tensor"),
        (torch.tensor([0, 1], dtype=torch.int32), {}, r"\.long\(\)"),
        (torch.tensor([0.0, 1.0]), {}, "int64"),
        (torch.tensor([[0, 1]]), {}, r"\(B,\)"),
        (torch.tensor(1), {}, r"\(B,\)"),
        (torch.tensor([0, 1, 2]), {"batch": 2}, "one class per image"),
        (torch.tensor([0, 10]), {"num_classes": 10}, "out of range"),
        (torch.tensor([-1, 3]), {"num_classes": 10}, "out of range"),
    ],
)
def test_check_classes_rejects(bad, kwargs, fragment):
    with pytest.raises(InputError, match=fragment) as info:
        check_classes(bad, name="labels", **kwargs)
    assert "`labels`" in str(info.value)


def test_check_same_batch_and_spatial_name_every_argument():
    with pytest.raises(InputError, match="mismatched batch sizes") as info:
        check_same_batch(images=torch.rand(2, 3, 4, 4), masks=torch.rand(3, 1, 4, 4))
    assert "`images`=2" in str(info.value) and "`masks`=3" in str(info.value)
    with pytest.raises(InputError, match="`a`.*`b`"):
        check_same_spatial(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 5), "a", "b")


def test_check_generator_rejects_wrong_type_and_device():
    with pytest.raises(InputError, match="`generator`.*torch.Generator"):
        check_generator(123, torch.device("cpu"))
    with pytest.raises(InputError, match="`generator`.*cuda"):
        check_generator(torch.Generator(), torch.device("cuda"))


def test_a_meta_device_tensor_is_refused_with_a_message_not_a_raw_error():
    from blackbox_saliency.input_checks import check_images

    with pytest.raises(InputError, match="is on the meta device"):
        check_images(torch.empty(1, 3, 8, 8, device="meta"))
