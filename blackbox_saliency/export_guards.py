"""The input checks compiled into exported maskers, and the phrases they share with the eager masker.

An exported file must refuse what the eager masker refuses, and say so in the same words. The eager
checks (:mod:`blackbox_saliency.input_checks`) and the exported ones both contain one *key phrase*
per mistake (:data:`PHRASES`); a test compares the two on every kind of bad input.

Three mechanisms, one per format family:

* TorchScript: :func:`check_traced_inputs`, scripted into the file (any check, any message).
* ``torch.export`` and AOTInductor: :func:`graph_input_checks`, recorded into the graph as
  ``torch._assert_async`` nodes. The graph takes *free* channel, class-count, height and width
  dimensions, checks them as data (so the compiled code never trusts a size it has not checked),
  then crops them to the sizes the masker was traced with.
* AOTInductor's own dtype and rank checks: :func:`aoti_input_checks_always_on` makes the compiled
  package run them without the ``AOTI_RUNTIME_CHECK_INPUTS`` environment variable, with these phrases.

Example:
    >>> import torch
    >>> from blackbox_saliency.export_guards import PHRASES, check_traced_inputs
    >>> try:
    ...     check_traced_inputs(torch.rand(2, 1, 8, 8), torch.tensor([0, 1]), 10)
    ... except ValueError as error:
    ...     print(PHRASES["channels"] in str(error))
    True
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import torch

__all__ = [
    "PHRASES",
    "PREFIX",
    "aoti_input_checks_always_on",
    "check_traced_inputs",
    "graph_input_checks",
    "size_rule_phrase",
]

#: Every exported check's message starts with this.
PREFIX = "blackbox-saliency masker: "

#: One phrase per mistake, found in the eager masker's message and in every exported file's message.
PHRASES = {
    "rank": "`images` must have 4 dimensions (B, 3, H, W)",
    "channels": "`images` must have 3 RGB channels in dimension 1",
    "images_dtype": "`images` must be a floating-point tensor",
    "empty": "`images` is empty",
    "nan": "`images` contains NaN values",
    "range": "`images` must hold values in [0, 1]",
    "classes_dtype": "`classes` must have dtype torch.int64",
    "classes_shape": "`classes` must have shape (B,)",
    "one_per_image": "pass one class per image",
    "class_range": "`classes` must lie in [0, ",
}

_FLOAT32 = (
    PHRASES["images_dtype"]
    + " of dtype float32 in exported files; pass images.float() / 255 for uint8 images, images.float() for other floats"
)


def size_rule_phrase(stride: int) -> str:
    """The words of the one check exported graphs make that the eager masker does not: the size rule."""
    return f"`images` height and width must be multiples of {stride} and at least {2 * stride} in this exported file"


def check_traced_inputs(images: torch.Tensor, classes: torch.Tensor, num_classes: int) -> None:
    """The input checks scripted into TorchScript exports (TorchScript-compatible; ``num_classes`` 0 = unknown)."""
    _check_traced_shapes(images, classes)
    _check_traced_values(images, classes, num_classes)


def _check_traced_shapes(images: torch.Tensor, classes: torch.Tensor) -> None:
    """Rank, channels and dtypes of both inputs, and one class per image (TorchScript-compatible)."""
    if images.dim() != 4:
        raise ValueError(
            "blackbox-saliency masker: `images` must have 4 dimensions (B, 3, H, W), got shape " + str(images.shape)
        )
    if images.shape[1] != 3:
        raise ValueError(
            "blackbox-saliency masker: `images` must have 3 RGB channels in dimension 1, got shape "
            + str(images.shape)
        )
    if images.dtype != torch.float32:
        raise ValueError(
            "blackbox-saliency masker: `images` must be a floating-point tensor of dtype float32 in exported files; "
            "pass images.float() / 255 for uint8 images, images.float() for other floats"
        )
    if classes.dtype != torch.int64:
        raise ValueError("blackbox-saliency masker: `classes` must have dtype torch.int64; pass classes.long()")
    if classes.dim() != 1:
        raise ValueError("blackbox-saliency masker: `classes` must have shape (B,), got shape " + str(classes.shape))
    if classes.shape[0] != images.shape[0]:
        raise ValueError(
            "blackbox-saliency masker: `classes` has " + str(classes.shape[0]) + " entries for " + str(images.shape[0])
            + " images; pass one class per image"
        )


def _check_traced_values(images: torch.Tensor, classes: torch.Tensor, num_classes: int) -> None:
    """A non-empty batch, pixels in [0, 1] without NaN, classes in range (TorchScript-compatible)."""
    if images.numel() == 0:
        raise ValueError("blackbox-saliency masker: `images` is empty, got shape " + str(images.shape))
    if bool(torch.isnan(images).any()):
        raise ValueError("blackbox-saliency masker: `images` contains NaN values")
    if bool(images.min() < 0) or bool(images.max() > 1):
        raise ValueError(
            "blackbox-saliency masker: `images` must hold values in [0, 1]; "
            "scale 0..255 images by 1/255 and do not normalise them"
        )
    if num_classes > 0 and (bool(classes.min() < 0) or bool(classes.max() >= num_classes)):
        raise ValueError("blackbox-saliency masker: `classes` must lie in [0, " + str(num_classes - 1) + "]")


def _require(condition: torch.Tensor, message: str) -> None:
    torch._assert_async(condition, PREFIX + message)


def graph_input_checks(
    images: torch.Tensor, classes: torch.Tensor, num_classes: int, stride: int | None, size: tuple[int, int] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check ``images`` and ``classes`` inside a ``torch.export`` graph and return them at the traced sizes.

    Traced with free channel, height, width and class-count dimensions, the graph reads them from
    the actual tensors; each check is data (a ``torch._assert_async``), so it holds in AOTInductor's
    native code too. ``stride``: heights and widths must be its multiples (dynamic spatial sizes);
    ``size``: they must equal it (static spatial sizes); neither: any size.
    """
    # dtypes are fixed when tracing: these are checked by torch.export's loader and AOTInductor's checks
    torch.ops.aten._assert_tensor_metadata.default(images, dtype=torch.float32)
    torch.ops.aten._assert_tensor_metadata.default(classes, dtype=torch.int64)
    batch, channels, height, width = images.shape
    _require(torch.scalar_tensor(channels) == 3, PHRASES["channels"])
    _require(
        torch.scalar_tensor(classes.shape[0]) == torch.scalar_tensor(batch),
        "`classes` needs one entry per image; " + PHRASES["one_per_image"],
    )
    _require(torch.scalar_tensor(batch * height * width) > 0, PHRASES["empty"])
    _require_size_rule(height, width, stride, size)
    has_nan = torch.isnan(images).any()
    _require(torch.logical_not(has_nan), PHRASES["nan"])
    in_range = torch.logical_and(images.min() >= 0, images.max() <= 1)
    _require(
        torch.logical_or(in_range, has_nan),
        PHRASES["range"] + "; scale 0..255 images by 1/255 and do not normalise them",
    )
    if num_classes > 0:
        valid = torch.logical_and(classes.min() >= 0, classes.max() < num_classes)
        _require(valid, PHRASES["class_range"] + f"{num_classes - 1}]")
    # The checks above are data; these crops make every size the masker sees the traced one, so
    # compiled code never indexes past a buffer whose true size it was not told.
    classes = torch.cat([classes, classes.new_zeros(batch)])[:batch]
    return _crop_to_traced(images, stride, size), classes


def _require_size_rule(height: int, width: int, stride: int | None, size: tuple[int, int] | None) -> None:
    """Record the size rule: multiples of ``stride`` (at least two of them), else exactly ``size``, else none."""
    if stride is not None:
        fits = torch.logical_and(torch.scalar_tensor(height % stride) == 0, torch.scalar_tensor(width % stride) == 0)
        fits = torch.logical_and(fits, torch.scalar_tensor(height) >= 2 * stride)
        fits = torch.logical_and(fits, torch.scalar_tensor(width) >= 2 * stride)
        _require(fits, size_rule_phrase(stride))
    elif size is not None:
        fits = torch.logical_and(torch.scalar_tensor(height) == size[0], torch.scalar_tensor(width) == size[1])
        _require(
            fits,
            f"`images` must be {size[0]}x{size[1]} pixels in this exported file (exported with static spatial sizes)",
        )


def _crop_to_traced(images: torch.Tensor, stride: int | None, size: tuple[int, int] | None) -> torch.Tensor:
    """``images`` cut (or padded) to 3 channels and the traced spatial size, so no kernel trusts an unchecked size."""
    batch, _, height, width = images.shape
    images = torch.cat([images, images.new_zeros(batch, 3, height, width)], 1)[:, :3]
    if stride is not None:
        images = images[:, :, : stride * (height // stride), : stride * (width // stride)]
    elif size is not None:
        images = torch.cat([images, images.new_zeros(batch, 3, size[0], width)], 2)[:, :, : size[0]]
        images = torch.cat([images, images.new_zeros(batch, 3, size[0], size[1])], 3)[:, :, :, : size[1]]
    return images


# ----------------------------------------------------------------------------- AOTInductor
# The early return of AOTInductor's per-call input checks (dtype, rank, size bounds): only when the user asks.
_CHECKS_SKIPPED_UNLESS_ASKED = "if (!_check_aoti_runtime_check_inputs_env()){"
_CHECKS_SKIPPED_IF_TURNED_OFF = (
    'if (getenv("AOTI_RUNTIME_CHECK_INPUTS") != nullptr && getenv("AOTI_RUNTIME_CHECK_INPUTS")[0] == \'0\'){'
)


def _rewrite_aoti_checks(lines: list, inputs: list[tuple[str, int, str]]) -> int:
    """Run AOTInductor's per-call input checks by default, add rank checks, and word dtype errors with
    :data:`PHRASES`."""
    changed = 0
    for i, line in enumerate(lines):
        if not isinstance(line, str):
            continue
        if _CHECKS_SKIPPED_UNLESS_ASKED in line:
            lines[i] = line.replace(_CHECKS_SKIPPED_UNLESS_ASKED, _CHECKS_SKIPPED_IF_TURNED_OFF)
            changed += 1
        for index, (name, rank, label) in enumerate(inputs):
            if f'"input_handles[{index}]: unmatched dtype, "' in line:
                wording = _FLOAT32 if label == "images" else PHRASES["classes_dtype"] + "; pass classes.long()"
                generated = f'"input_handles[{index}]: unmatched dtype, "'
                lines[i] = line.replace(generated, f'"{PREFIX}{wording}; dtype code "')
                changed += 1
            if re.fullmatch(rf"\s*auto {re.escape(name)}_size = {re.escape(name)}\.sizes\(\);\s*", line):
                what = PHRASES["rank"] if label == "images" else PHRASES["classes_shape"]
                indent = line[: len(line) - len(line.lstrip())]
                lines[i] = (
                    f"{line}\n{indent}int64_t {name}_rank; "
                    f"AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_get_dim(input_handles[{index}], &{name}_rank));"
                    f"\n{indent}if ({name}_rank != {rank}) {{ throw std::runtime_error("
                    f"\"{PREFIX}{what}, got \" + std::to_string({name}_rank) + \" dimensions\"); }}"
                )
                changed += 1
    return changed


@contextlib.contextmanager
def aoti_input_checks_always_on(labels: tuple[str, ...] = ("images", "classes")) -> Iterator[list[int]]:
    """While compiling, make AOTInductor packages check their inputs' dtype, rank and sizes on every call.

    AOTInductor generates these checks but runs them only when ``AOTI_RUNTIME_CHECK_INPUTS=1``
    is set where the package is *used*; a wrong dtype is otherwise reinterpreted and a wrong rank
    read past its buffer. This runs them on every call (``AOTI_RUNTIME_CHECK_INPUTS=0`` turns them
    off; its per-kernel size and stride asserts keep their default) and words them with :data:`PHRASES`.
    Yields a list that receives how many generated lines were changed (0 means this torch version generates
    other code: the caller should say so).
    """
    from torch._inductor.codegen import cpp_wrapper_cpu
    from torch._inductor.virtualized import V

    wrapper_class = cpp_wrapper_cpu.CppWrapperCpu
    original = getattr(wrapper_class, "generate_input_output_runtime_checks", None)
    counts: list[int] = []
    if original is None:
        yield counts
        return

    def patched(self) -> None:
        original(self)
        buffer = getattr(self.prefix, "aot", self.prefix)
        graph_inputs = zip(V.graph.graph_inputs.items(), labels)
        inputs = [(name, len(tensor.get_size()), label) for (name, tensor), label in graph_inputs]
        counts.append(_rewrite_aoti_checks(buffer._lines, inputs))

    wrapper_class.generate_input_output_runtime_checks = patched
    try:
        yield counts
    finally:
        wrapper_class.generate_input_output_runtime_checks = original
