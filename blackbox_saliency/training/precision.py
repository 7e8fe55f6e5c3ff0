"""Mixed precision for training: which autocast dtype a device runs natively, and the context to run it.

``--precision auto`` picks, per device:

* CUDA: ``bf16`` where the GPU supports it (Ampere and newer), else ``fp16`` (with a gradient scaler);
* CPU: ``bf16`` when the processor executes bf16 natively (AVX-512 BF16 or AMX: read from the CPU
  flags), else ``fp32`` (emulated bf16 is slower than fp32);
* anything else: ``fp32``.

Only the frozen parts (encoder and black box) run under autocast; the decoder, the masks, the losses
and the optimiser state stay float32.

Example:
    >>> import torch
    >>> from blackbox_saliency.training.precision import resolve_precision
    >>> choice = resolve_precision("fp32", torch.device("cpu"))
    >>> choice.name, choice.dtype, choice.reason
    ('fp32', None, 'asked for fp32')
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import InputError

__all__ = ["PRECISIONS", "PrecisionChoice", "cpu_bf16_support", "resolve_precision"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@functools.lru_cache(maxsize=1)
def cpu_bf16_support() -> str:
    """Name the CPU's native bf16 instructions (``"amx_bf16"``, ``"avx512_bf16"``), or ``""`` when it has none.

    Read from torch's own probe when it has one, else from ``/proc/cpuinfo`` (Linux); other systems report none.
    """
    probes = (("amx_bf16", "_is_amx_tile_supported"), ("avx512_bf16", "_is_avx512_bf16_supported"))
    cpu = getattr(torch._C, "_cpu", None)
    functions = [(name, getattr(cpu, probe, None)) for name, probe in probes]
    if all(function is not None for _, function in functions):
        return ",".join(name for name, function in functions if function())
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return ",".join(name for name, _ in probes if name in flags)


@dataclass(frozen=True)
class PrecisionChoice:
    """The resolved precision: ``name`` (``fp32``/``bf16``/``fp16``), the autocast ``dtype`` (None for fp32),
    whether a gradient scaler is needed, and why it was chosen (printed by the trainer)."""

    name: str
    dtype: torch.dtype | None
    device_type: str
    reason: str

    @property
    def needs_scaler(self) -> bool:
        return self.name == "fp16"

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context for the frozen encoder and black box (a no-op for fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)


def resolve_precision(precision: str, device: torch.device) -> PrecisionChoice:
    """Turn ``auto|fp32|bf16|fp16`` into a :class:`PrecisionChoice` for ``device``.

    Raises:
        InputError: unknown name, or fp16 asked for on a CPU (torch's CPU autocast in fp16 is slow and
            needs no scaler; use bf16).
    """
    if precision not in PRECISIONS:
        raise InputError(f"`precision` must be one of {PRECISIONS}, got {precision!r}.")
    kind = torch.device(device).type
    if precision == "fp32":
        return PrecisionChoice("fp32", None, kind, "asked for fp32")
    if kind == "cuda":
        return _on_cuda(precision)
    if kind == "cpu":
        return _on_cpu(precision)
    if precision == "auto":
        return PrecisionChoice("fp32", None, kind, f"auto on {kind}: fp32")
    return PrecisionChoice(precision, _DTYPES[precision], kind, f"asked for {precision}")


def _on_cuda(precision: str) -> PrecisionChoice:
    bf16_ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if precision == "auto":
        name = "bf16" if bf16_ok else "fp16"
        why = "the GPU supports bf16" if bf16_ok else "no bf16 on this GPU, fp16 with a gradient scaler"
        return PrecisionChoice(name, _DTYPES[name], "cuda", f"auto on CUDA: {why}")
    if precision == "bf16" and not bf16_ok:
        raise InputError("this GPU does not support bf16; use --precision fp16 (or auto).")
    return PrecisionChoice(precision, _DTYPES[precision], "cuda", f"asked for {precision}")


def _on_cpu(precision: str) -> PrecisionChoice:
    native = cpu_bf16_support()
    if precision == "fp16":
        raise InputError("fp16 autocast is not offered on the CPU; use --precision bf16 (native on CPUs with "
                         "AVX-512 BF16 or AMX) or fp32.")
    if precision == "bf16":
        emulated = "asked for bf16 (this CPU emulates bf16: expect it to be slower than fp32)"
        why = f"asked for bf16 (native: {native})" if native else emulated
        return PrecisionChoice("bf16", torch.bfloat16, "cpu", why)
    if native:
        return PrecisionChoice("bf16", torch.bfloat16, "cpu", f"auto on the CPU: native bf16 ({native})")
    return PrecisionChoice("fp32", None, "cpu",
                           "auto on the CPU: no native bf16 (no AVX-512 BF16 or AMX), bf16 would be emulated")
