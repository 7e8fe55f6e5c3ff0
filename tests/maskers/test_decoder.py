"""Upsampler blocks and the two-channel mask head."""

from __future__ import annotations

import pytest
import torch

from blackbox_saliency.errors import InputError
from blackbox_saliency.maskers.decoder import Decoder, MaskHead


@pytest.mark.parametrize("size", [(16, 16), (13, 15), (7, 9)])
def test_decoder_output_matches_the_finest_skip_even_for_odd_sizes(size):
    h, w = size
    feats = [
        torch.rand(2, 4, h, w),
        torch.rand(2, 8, (h + 1) // 2, (w + 1) // 2),
        torch.rand(2, 16, (h + 3) // 4, (w + 3) // 4),
    ]
    dec = Decoder([4, 8, 16], [8, 4], bottlenecks_per_block=2).eval()
    with torch.no_grad():
        out = dec(feats[-1], feats)
    assert out.shape == (2, 1, h, w)
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0


def test_mask_head_formula_and_epsilon_guard():
    head = MaskHead(3, eps=1e-6)
    x = torch.randn(1, 3, 4, 4)
    both = head.conv(x).abs()
    torch.testing.assert_close(head(x), both[:, :1] / (both[:, :1] + both[:, 1:] + 1e-6))
    with torch.no_grad():
        head.conv.weight.zero_()
        head.conv.bias.zero_()
    out = head(x)
    assert torch.isfinite(out).all() and torch.equal(out, torch.zeros_like(out))


def test_too_many_blocks_for_the_encoder_is_an_error():
    with pytest.raises(InputError, match="upsampler blocks"):
        Decoder([4, 8], [8, 4])
