"""Atomic writes: readers see the old file or the whole new one, never a torn one."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from blackbox_saliency.atomic import atomic_torch_save, atomic_write, atomic_write_text


def test_a_failing_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = atomic_write_text("old\n", tmp_path / "report.md")

    def broken(handle):
        handle.write(b"half of the new cont")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_files_get_the_umask_permissions_not_the_temporary_files(tmp_path):
    previous = os.umask(0o022)
    try:
        path = atomic_torch_save({"step": 1}, tmp_path / "nested" / "ckpt.pt")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert torch.load(path, weights_only=True) == {"step": 1}
