"""Atomic writes: readers see the old file or the whole new one, never a torn one."""

from __future__ import annotations

import errno
import os
import shutil
import stat

import pytest
import torch

from blackbox_saliency import atomic
from blackbox_saliency.atomic import atomic_torch_save, atomic_write, atomic_write_text
from blackbox_saliency.errors import OutOfSpaceError


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


def test_disk_full_says_so_and_keeps_the_previous_file(tmp_path):
    target = atomic_torch_save({"step": 1}, tmp_path / "checkpoint.pt")

    def full(handle):
        handle.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(
        OutOfSpaceError,
        match=r"no space left on /.* while writing .*checkpoint.pt; the previous checkpoint.pt is intact",
    ):
        atomic_write(target, full)
    assert torch.load(target, weights_only=True) == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


def test_torch_enforce_failure_on_a_full_disk_becomes_a_clear_error(tmp_path, monkeypatch):
    # torch.save reports ENOSPC as "RuntimeError: [enforce fail at inline_container.cc:...]"; the free space tells.
    def torch_failure(handle):
        raise RuntimeError(
            "[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file data/0: "
            "file write failed"
        )

    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda folder: shutil._ntuple_diskusage(10**9, 10**9, 0))
    with pytest.raises(OutOfSpaceError, match="nothing was written"):
        atomic_write(tmp_path / "masker.pt", torch_failure)


def test_other_failures_are_not_blamed_on_the_disk(tmp_path):
    def broken(handle):
        raise RuntimeError("some other problem")

    with pytest.raises(RuntimeError, match="some other problem") as caught:
        atomic_write(tmp_path / "x.pt", broken)
    assert not isinstance(caught.value, OutOfSpaceError)


def test_temporaries_left_by_a_killed_process_are_removed_on_the_next_write(tmp_path):
    target = tmp_path / "checkpoint.pt"
    stale = [tmp_path / f".checkpoint.pt.{tag}.tmp" for tag in ("abc123", "def456")]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
        old = atomic._PROCESS_STARTED - 60
        os.utime(path, (old, old))
    fresh = tmp_path / ".checkpoint.pt.zzz999.tmp"  # a concurrent writer of this process: kept
    fresh.write_bytes(b"in progress")
    other = tmp_path / ".log.jsonl.abc.tmp"  # another target's: kept
    other.write_bytes(b"x")
    os.utime(other, (0, 0))
    atomic_torch_save({"step": 2}, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["checkpoint.pt", fresh.name, other.name])


def test_a_concurrent_writers_temporary_is_never_deleted(tmp_path):
    """A slow writer in another live process, started before this one: its temporary is old but its writer runs."""
    import subprocess
    import sys

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        target = tmp_path / "masker.pt"
        live = tmp_path / f".masker.pt.{sleeper.pid}-abc.tmp"
        dead = tmp_path / ".masker.pt.999999999-def.tmp"  # no such process
        for path in (live, dead):
            path.write_bytes(b"part of a masker")
            old = atomic._PROCESS_STARTED - 60
            os.utime(path, (old, old))
        atomic_torch_save({"step": 1}, target)
        assert live.exists() and not dead.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_an_unrelated_error_on_a_nearly_full_disk_keeps_its_own_message(tmp_path, monkeypatch):
    """Under 32 MiB free, a permission or I/O error was reported as "no space left"; only a write failure may be."""
    import errno
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(10**9, 10**9 - 1024, 1024))

    def denied(handle):
        raise PermissionError(errno.EACCES, "Permission denied")

    with pytest.raises(PermissionError) as caught:
        atomic_write(tmp_path / "x.pt", denied)
    assert not isinstance(caught.value, OutOfSpaceError)

    def torch_write_failure(handle):
        raise RuntimeError(
            "[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file data/0: "
            "file write failed"
        )

    with pytest.raises(OutOfSpaceError):
        atomic_write(tmp_path / "y.pt", torch_write_failure)
