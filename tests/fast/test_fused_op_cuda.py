"""CUDA kernels of the fused op against the pure-torch reference (run where a GPU is present)."""

from __future__ import annotations

import pytest
import torch

from blackbox_saliency.fast import active_path, mask_blend_tv, ops
from blackbox_saliency.fast.reference import mask_blend_tv as reference_mask_blend_tv

if not torch.cuda.is_available():
    _SKIP = "no CUDA device"
elif not ops.extension_available():
    _SKIP = f"compiled extension not loaded: {active_path()}"
elif not ops._CUDA_BUILT:
    _SKIP = f"extension built without CUDA kernels: {active_path()}"
else:
    _SKIP = ""

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(bool(_SKIP), reason=_SKIP or "runs")]

SHAPES = [
    (1, 3, 7, 7, 28, 28),
    (2, 3, 5, 9, 17, 23),
    (8, 3, 56, 56, 224, 224),
    (2, 3, 8, 8, 8, 8),
    (2, 2, 20, 30, 7, 5),
    (1, 3, 1, 1, 4, 4),
    (2, 4, 6, 1, 11, 3),
    (3, 3, 7, 7, 224, 224),
    (2, 3, 3, 3, 1, 1),
]


def _inputs(shape, dtype, seed=0):  # noqa: ANN001, ANN202
    batch, channels, h, w, H, W = shape
    generator = torch.Generator().manual_seed(seed)
    tensors = (
        torch.rand(batch, 1, h, w, generator=generator, dtype=dtype),
        torch.rand(batch, channels, H, W, generator=generator, dtype=dtype),
        torch.rand(batch, channels, H, W, generator=generator, dtype=dtype),
    )
    return tuple(t.cuda() for t in tensors)


def _tolerance(dtype):  # noqa: ANN001, ANN202
    return dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_destroyed", [True, False])
def test_cuda_forward_matches_reference(shape, dtype, with_destroyed) -> None:  # noqa: ANN001
    inputs = _inputs(shape, dtype)
    got = mask_blend_tv(*inputs, with_destroyed)
    want = reference_mask_blend_tv(*inputs, with_destroyed)
    assert got[1].is_cuda and got[3].is_cuda
    for g, w in zip(got, want):
        if w is None:
            assert g is None
        else:
            torch.testing.assert_close(g, w, **_tolerance(dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("requires", [(True, True, True), (True, False, False), (False, True, True)])
def test_cuda_gradients_match_reference(shape, dtype, requires) -> None:  # noqa: ANN001
    inputs = _inputs(shape, dtype, seed=1)
    batch, channels, _, _, H, W = shape
    generator = torch.Generator().manual_seed(2)
    grads = [
        torch.randn(s, generator=generator, dtype=dtype).cuda()
        for s in [(batch, 1, H, W), (batch, channels, H, W), (batch, channels, H, W), (batch,)]
    ]

    def run(fn):  # noqa: ANN001, ANN202
        leaves = [t.detach().clone().requires_grad_(flag) for t, flag in zip(inputs, requires)]
        outputs = fn(*leaves, True)
        pairs = [(o, g) for o, g in zip(outputs, grads) if o.requires_grad]
        torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])
        return [leaf.grad for leaf in leaves]

    loose = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-11)
    for g, w in zip(run(mask_blend_tv), run(reference_mask_blend_tv)):
        if w is None:
            assert g is None
        else:
            torch.testing.assert_close(g, w, **loose)


@pytest.mark.parametrize("shape", [(2, 3, 3, 4, 7, 9), (1, 2, 5, 5, 5, 5), (2, 1, 6, 4, 3, 5)])
def test_cuda_gradcheck_float64(shape) -> None:  # noqa: ANN001
    inputs = [t.requires_grad_(True) for t in _inputs(shape, torch.float64, seed=3)]

    def fn(masks, images, alternative):  # noqa: ANN001, ANN202
        return mask_blend_tv(masks, images, alternative, True)

    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-8)


def test_cuda_matches_cpu_kernel() -> None:
    inputs = _inputs((4, 3, 28, 28, 112, 112), torch.float64, seed=4)
    on_gpu = mask_blend_tv(*inputs, True)
    on_cpu = mask_blend_tv(*(t.cpu() for t in inputs), True)
    for g, c in zip(on_gpu, on_cpu):
        torch.testing.assert_close(g.cpu(), c, rtol=1e-12, atol=1e-12)


def test_cuda_opcheck() -> None:
    inputs = [t.requires_grad_(True) for t in _inputs((2, 3, 3, 4, 7, 9), torch.float64, seed=5)]
    torch.library.opcheck(torch.ops.blackbox_saliency.mask_blend_tv.default, (*inputs, True))
