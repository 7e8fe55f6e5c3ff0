"""The fused mask_blend_tv op against the pure-torch reference, on the extension and the fallback path."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blackbox_saliency.fast import active_path, mask_blend_tv, ops
from blackbox_saliency.fast.reference import mask_blend_tv as reference_mask_blend_tv

needs_extension = pytest.mark.skipif(
    not ops.extension_available(), reason=f"compiled extension not loaded: {active_path()}"
)

TOLERANCE = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-12)}

# (B, C, h, w, H, W): odd sizes, batch 1, identity size, downsampling, 1-px sides, non-square.
SHAPES = [
    (1, 3, 7, 7, 28, 28),
    (2, 3, 5, 9, 17, 23),
    (3, 1, 56, 56, 224, 224),
    (2, 3, 8, 8, 8, 8),
    (2, 2, 20, 30, 7, 5),
    (1, 3, 1, 1, 4, 4),
    (2, 3, 1, 5, 9, 9),
    (2, 4, 6, 1, 11, 3),
    (1, 1, 3, 3, 1, 1),
    (1, 2, 3, 7, 150, 61),
]


@pytest.fixture(params=["extension", "fallback"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on the compiled op and on the pure-torch fallback (extension hidden)."""
    if request.param == "extension":
        if not ops.extension_available():
            pytest.skip(f"compiled extension not loaded: {active_path()}")
    else:
        monkeypatch.setattr(ops, "_C", None)
        monkeypatch.setattr(ops, "_MISSING_REASON", "hidden by the test")
    return request.param


def _inputs(shape, dtype, device="cpu", seed=0):  # noqa: ANN001, ANN202
    batch, channels, h, w, H, W = shape
    generator = torch.Generator().manual_seed(seed)
    masks = torch.rand(batch, 1, h, w, generator=generator, dtype=dtype)
    images = torch.rand(batch, channels, H, W, generator=generator, dtype=dtype)
    alternative = torch.rand(batch, channels, H, W, generator=generator, dtype=dtype)
    return masks.to(device), images.to(device), alternative.to(device)


def _assert_close(actual, expected, dtype) -> None:  # noqa: ANN001
    for got, want in zip(actual, expected):
        if want is None:
            assert got is None
        else:
            torch.testing.assert_close(got, want, **TOLERANCE[dtype])


def _grads_of(fn, inputs, with_destroyed, output_grads, requires):  # noqa: ANN001, ANN202
    """Gradients of sum(output * output_grad) wrt the inputs flagged in `requires` (None elsewhere)."""
    leaves = [t.detach().clone().requires_grad_(flag) for t, flag in zip(inputs, requires)]
    outputs = fn(*leaves, with_destroyed)
    pairs = [(o, g) for o, g in zip(outputs, output_grads) if o is not None and g is not None and o.requires_grad]
    torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])
    return [leaf.grad if flag else None for leaf, flag in zip(leaves, requires)]


def test_active_path_names_the_implementation() -> None:
    path_name = active_path()
    if ops.extension_available():
        expected = "cpp-extension (cpu+cuda)" if ops._CUDA_BUILT else "cpp-extension (cpu)"
        assert path_name == expected
    else:
        assert path_name.startswith("torch-reference (") and path_name.endswith(")")


def test_fallback_path_reports_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ops, "_C", None)
    monkeypatch.setattr(ops, "_MISSING_REASON", "not built for this test")
    assert active_path() == "torch-reference (not built for this test)"
    assert not ops.extension_available()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_destroyed", [True, False])
def test_forward_matches_reference(path: str, shape, dtype, with_destroyed) -> None:  # noqa: ANN001
    inputs = _inputs(shape, dtype)
    got = mask_blend_tv(*inputs, with_destroyed)
    want = reference_mask_blend_tv(*inputs, with_destroyed)
    _assert_close(got, want, dtype)
    batch, channels, _, _, H, W = shape
    assert got[0].shape == (batch, 1, H, W) and got[1].shape == (batch, channels, H, W) and got[3].shape == (batch,)
    assert (got[2] is None) != with_destroyed


@needs_extension
def test_forward_runs_the_compiled_op(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = ops.reference_mask_blend_tv
    monkeypatch.setattr(ops, "reference_mask_blend_tv", lambda *a: calls.append(1) or original(*a))
    mask_blend_tv(*_inputs(SHAPES[0], torch.float32))
    assert calls == []
    mask_blend_tv(*_inputs(SHAPES[0], torch.float16))  # unsupported dtype: the reference runs
    assert calls == [1]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "with_destroyed, requires, used",
    [
        (True, (True, True, True), (True, True, True, True)),
        (True, (True, False, False), (False, True, True, True)),
        (False, (True, True, False), (True, True, False, False)),
        (True, (False, True, True), (False, False, True, False)),
        (True, (True, False, True), (False, False, False, True)),
        (False, (True, False, False), (True, False, False, True)),
    ],
)
def test_gradients_match_reference(path: str, shape, dtype, with_destroyed, requires, used) -> None:  # noqa: ANN001
    inputs = _inputs(shape, dtype, seed=1)
    batch, channels, _, _, H, W = shape
    generator = torch.Generator().manual_seed(2)
    output_shapes = [(batch, 1, H, W), (batch, channels, H, W), (batch, channels, H, W), (batch,)]
    output_grads = [
        torch.randn(s, generator=generator, dtype=dtype) if u else None for s, u in zip(output_shapes, used)
    ]
    got = _grads_of(mask_blend_tv, inputs, with_destroyed, output_grads, requires)
    if not any(o is not None and u for o, u in zip(output_grads[:3], used[:3])) and (shape[2] == 1 and shape[3] == 1):
        # only the TV of a 1x1 mask is used, a constant: the fused op must give no (or zero) gradient
        assert all(g is None or not g.abs().sum() for g in got)
        return
    want = _grads_of(reference_mask_blend_tv, inputs, with_destroyed, output_grads, requires)
    for g, w in zip(got, want):
        if w is None:
            assert g is None or not g.abs().sum()
        else:
            assert g is not None
            torch.testing.assert_close(
                g, w, rtol=1e-4 if dtype == torch.float32 else 1e-10, atol=1e-5 if dtype == torch.float32 else 1e-11
            )


@needs_extension
@pytest.mark.parametrize("shape", [(2, 3, 3, 4, 7, 9), (1, 2, 5, 5, 5, 5), (2, 1, 6, 4, 3, 5), (1, 2, 1, 3, 4, 6)])
@pytest.mark.parametrize("with_destroyed", [True, False])
def test_gradcheck_float64(shape, with_destroyed) -> None:  # noqa: ANN001
    inputs = [t.requires_grad_(True) for t in _inputs(shape, torch.float64, seed=3)]

    def fn(masks, images, alternative):  # noqa: ANN001, ANN202
        return tuple(t for t in mask_blend_tv(masks, images, alternative, with_destroyed) if t is not None)

    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-8)


@needs_extension
def test_noncontiguous_inputs() -> None:
    masks, images, alternative = _inputs((2, 3, 6, 5, 13, 11), torch.float32)
    images_cl = images.contiguous(memory_format=torch.channels_last)
    masks_t = masks.transpose(2, 3).contiguous().transpose(2, 3)
    alternative_strided = torch.cat([alternative, images], dim=3)[..., ::2]
    assert not alternative_strided.is_contiguous() and alternative_strided.shape == alternative.shape
    got = mask_blend_tv(masks_t, images_cl, alternative_strided, True)
    _assert_close(got, reference_mask_blend_tv(masks, images, alternative_strided, True), torch.float32)


@needs_extension
def test_op_rejects_bad_inputs() -> None:
    masks, images, alternative = _inputs((2, 3, 4, 4, 8, 8), torch.float32)
    op = torch.ops.blackbox_saliency.mask_blend_tv
    with pytest.raises(RuntimeError, match="`masks` must have shape"):
        op(masks.expand(2, 2, 4, 4), images, alternative, True)
    with pytest.raises(RuntimeError, match="`alternative` must have the shape"):
        op(masks, images, alternative[:, :2], True)
    with pytest.raises(RuntimeError, match="batch"):
        op(masks[:1], images, alternative, True)
    with pytest.raises(RuntimeError, match="float32 or float64"):
        op(masks.half(), images.half(), alternative.half(), True)
    with pytest.raises(RuntimeError, match="share one dtype"):
        op(masks.double(), images, alternative, True)


@needs_extension
def test_empty_batch() -> None:
    masks, images, alternative = _inputs((0, 3, 4, 4, 8, 8), torch.float32)
    upsampled, preserved, destroyed, tv = mask_blend_tv(masks, images, alternative, True)
    assert (
        upsampled.shape == (0, 1, 8, 8)
        and preserved.shape == (0, 3, 8, 8)
        and destroyed.shape == (0, 3, 8, 8)
        and tv.shape == (0,)
    )


@needs_extension
@pytest.mark.parametrize("with_destroyed", [True, False])
def test_opcheck(with_destroyed) -> None:  # noqa: ANN001
    inputs = [t.requires_grad_(True) for t in _inputs((2, 3, 3, 4, 7, 9), torch.float64, seed=4)]
    torch.library.opcheck(torch.ops.blackbox_saliency.mask_blend_tv.default, (*inputs, with_destroyed))


@needs_extension
def test_torch_compile_fullgraph_matches_eager() -> None:
    torch._dynamo.reset()

    def loss(masks, images, alternative):  # noqa: ANN001, ANN202
        _, preserved, destroyed, tv = mask_blend_tv(masks, images, alternative, True)
        return preserved.square().mean() + destroyed.mean() + tv.sum()

    compiled = torch.compile(loss, backend="aot_eager", fullgraph=True)
    masks, images, alternative = _inputs((2, 3, 5, 5, 20, 20), torch.float32, seed=5)
    eager_masks = masks.clone().requires_grad_(True)
    compiled_masks = masks.clone().requires_grad_(True)
    eager_value = loss(eager_masks, images, alternative)
    compiled_value = compiled(compiled_masks, images, alternative)
    eager_value.backward()
    compiled_value.backward()
    torch.testing.assert_close(compiled_value, eager_value)
    torch.testing.assert_close(compiled_masks.grad, eager_masks.grad)


@needs_extension
def test_torchscript_sees_the_op() -> None:
    @torch.jit.script
    def scripted(masks: torch.Tensor, images: torch.Tensor, alternative: torch.Tensor) -> torch.Tensor:
        _, preserved, destroyed, tv = torch.ops.blackbox_saliency.mask_blend_tv(masks, images, alternative, True)
        return preserved.sum() + destroyed.mean() + tv.sum()

    assert "blackbox_saliency::mask_blend_tv" in str(scripted.graph)
    masks, images, alternative = _inputs((2, 3, 4, 4, 12, 12), torch.float64, seed=6)
    leaf = masks.clone().requires_grad_(True)
    value = scripted(leaf, images, alternative)
    value.backward()
    reference_leaf = masks.clone().requires_grad_(True)
    _, preserved, destroyed, tv = reference_mask_blend_tv(reference_leaf, images, alternative, True)
    expected = preserved.sum() + destroyed.mean() + tv.sum()
    expected.backward()
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(leaf.grad, reference_leaf.grad)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    # (batch, channels, mask height, mask width, image height, image width)
    shape=st.tuples(*(st.integers(1, top) for top in (3, 4, 9, 9, 24, 24))),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    with_destroyed=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_hypothesis_shapes_match_reference(shape, dtype, with_destroyed, seed) -> None:  # noqa: ANN001
    batch, channels, _, _, H, W = shape
    inputs = _inputs(shape, dtype, seed=seed)
    _assert_close(mask_blend_tv(*inputs, with_destroyed), reference_mask_blend_tv(*inputs, with_destroyed), dtype)
    generator = torch.Generator().manual_seed(seed + 1)
    output_grads = [
        torch.randn(batch, 1, H, W, generator=generator, dtype=dtype),
        torch.randn(batch, channels, H, W, generator=generator, dtype=dtype),
        torch.randn(batch, channels, H, W, generator=generator, dtype=dtype) if with_destroyed else None,
        torch.randn(batch, generator=generator, dtype=dtype),
    ]
    requires = (True, True, True)
    got = _grads_of(mask_blend_tv, inputs, with_destroyed, output_grads, requires)
    want = _grads_of(reference_mask_blend_tv, inputs, with_destroyed, output_grads, requires)
    loose = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-11)
    for g, w_ in zip(got, want):
        torch.testing.assert_close(g, w_, **loose)
