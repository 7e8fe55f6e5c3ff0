"""View <-> source box mapping: exact round trips, containment of every mapped salient pixel."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from blackbox_saliency.errors import InputError
from blackbox_saliency.metrics import mask_to_box
from blackbox_saliency.metrics.frames import center_crop_mapping, resize_mapping, source_to_view, view_to_source

sizes = st.tuples(st.integers(4, 40), st.integers(4, 40))


def test_whole_view_maps_to_the_whole_photo():
    mapping = resize_mapping((224, 224), [(375, 500), (1505, 1075)])
    full = torch.tensor([[0.0, 0.0, 224.0, 224.0]]).repeat(2, 1)
    assert view_to_source(full, mapping).tolist() == [[0.0, 0.0, 500.0, 375.0], [0.0, 0.0, 1075.0, 1505.0]]


def test_center_crop_mapping_matches_torchvision_on_val_dev_801():
    # 500 x 375 photo, shorter side to 256 -> 341 x 256, center crop 224 at offsets (58, 16) resized pixels
    mapping = center_crop_mapping((375, 500), (256, 341), (224, 224))
    box = view_to_source(torch.tensor([[0.0, 0.0, 224.0, 224.0]]), mapping)[0]
    torch.testing.assert_close(box, torch.tensor([58 * 500 / 341, 16 * 375 / 256, 282 * 500 / 341, 240 * 375 / 256]))


@settings(max_examples=60, deadline=None)
@given(view=sizes, source=sizes, corners=st.lists(st.floats(0, 1), min_size=4, max_size=4), crop=st.booleans())
def test_view_source_view_round_trips(view, source, corners, crop):
    if crop:
        resized = (max(view[0], source[0]), max(view[1], source[1]))
        mapping = center_crop_mapping(source, resized, view)
    else:
        mapping = resize_mapping(view, [source])
    xs, ys = sorted(corners[:2]), sorted(corners[2:])
    box = torch.tensor([[xs[0] * view[1], ys[0] * view[0], xs[1] * view[1], ys[1] * view[0]]], dtype=torch.float64)
    back = source_to_view(view_to_source(box, mapping.double()), mapping.double())
    torch.testing.assert_close(back, box)


@settings(max_examples=60, deadline=None)
@given(view=sizes, source=sizes, seed=st.integers(0, 10_000), crop=st.booleans())
def test_the_mapped_box_contains_every_mapped_salient_pixel(view, source, seed, crop):
    generator = torch.Generator().manual_seed(seed)
    mask = (torch.rand(1, 1, *view, generator=generator) > 0.8).float()
    mapping = (
        center_crop_mapping(source, (max(view[0], source[0]), max(view[1], source[1])), view)
        if crop
        else resize_mapping(view, [source])
    )
    box = view_to_source(mask_to_box(mask), mapping)[0]
    rows, cols = torch.nonzero(mask[0, 0] > 0.5, as_tuple=True)
    pixels = torch.stack([cols, rows, cols + 1, rows + 1], dim=1).float()  # each salient pixel's footprint in the view
    mapped = view_to_source(pixels, mapping.expand(len(pixels), 4)) if len(pixels) else pixels
    eps = 1e-4
    assert bool((mapped[:, 0] >= box[0] - eps).all() and (mapped[:, 1] >= box[1] - eps).all())
    assert bool((mapped[:, 2] <= box[2] + eps).all() and (mapped[:, 3] <= box[3] + eps).all())


def test_bad_mappings_are_refused():
    with pytest.raises(InputError, match="B, 4"):
        view_to_source(torch.zeros(1, 4), torch.ones(4))
    with pytest.raises(InputError, match="positive scales"):
        view_to_source(torch.zeros(1, 4), torch.tensor([[0.0, 1.0, 0.0, 0.0]]))
    with pytest.raises(InputError, match="one mapping per image"):
        view_to_source(torch.zeros(2, 4), torch.ones(1, 4))
