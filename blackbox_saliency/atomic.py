"""Atomic file writes: a crash mid-write never leaves a truncated file behind.

Example:
    >>> import tempfile, pathlib, torch
    >>> from blackbox_saliency.atomic import atomic_torch_save
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "ckpt.pt"
    >>> atomic_torch_save({"step": 3}, path) == path
    True
    >>> torch.load(path, weights_only=True)["step"]
    3
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

import torch

from .errors import OutOfSpaceError

# Temporary files of a target older than this process were left by a killed earlier one.
_PROCESS_STARTED = time.time()
# Below this much free space a failed write is blamed on a full disk (torch reports ENOSPC as a RuntimeError).
_NEARLY_FULL_BYTES = 32 * 2**20


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, then rename it over ``path``.

    The file gets the permissions of a plainly created one (``0o666`` less the umask), not the
    owner-only ``0o600`` of a temporary file, so that outputs (overlays, reports, maskers) are shared
    like any other file the user writes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o666 & ~_current_umask())
        os.replace(tmp_name, path)
    except BaseException as error:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        if isinstance(error, (OSError, RuntimeError)) and _out_of_space(error, path.parent):
            raise OutOfSpaceError(
                f"no space left on {_mount_point(path.parent)} while writing {path}; "
                f"{'the previous ' + path.name + ' is intact' if path.exists() else 'nothing was written'}. "
                "Free some space (or write elsewhere) and run again; a training run continues with --resume."
            ) from error
        raise
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """A temporary file name beside ``path`` for writers that take a name, not a handle (torch's AOTInductor
    packager, ONNX, video encoders): renamed over ``path`` with the permissions of a plainly created file when the
    block ends without error, removed otherwise. The name keeps ``path``'s extension (or ``suffix``), which some
    writers read to choose the format.

    Example:
        >>> import pathlib, tempfile
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "clip.txt"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("done")
        >>> target.read_text()
        'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}-", suffix=suffix or path.suffix or ".tmp", dir=path.parent
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def check_writable_folder(folder: str | os.PathLike[str], what: str = "the output folder") -> Path:
    """Prove that files can be written in ``folder`` (or, while it does not exist yet, in its nearest existing parent,
    where it would be created), before any long work; InputError otherwise. Nothing is left behind.

    Example:
        >>> import tempfile
        >>> check_writable_folder(tempfile.mkdtemp()).is_dir()
        True
    """
    from .errors import InputError

    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "Not a directory", str(existing))
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", suffix=".tmp", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise InputError(
            f"cannot write to {what} {folder} ({existing}: {error.strerror or error}); "
            "pick a folder you can write to. Nothing was done."
        ) from error
    return folder


def check_outputs_free(
    outputs: Iterable[str | os.PathLike[str] | None],
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
) -> None:
    """Before any work: InputError when an output file would replace an existing input (always refused) or a file that
    is already there (refused unless ``overwrite``), or is a folder. ``None`` entries are skipped; inputs may be names
    that are no file (a registered masker), which protect nothing.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "masker.pt").write_bytes(b"x")
        >>> check_outputs_free([folder / "masker.onnx"], inputs=[folder / "masker.pt"])  # free: no error
        >>> try:
        ...     check_outputs_free([folder / "masker.pt"], overwrite=True, inputs=[folder / "masker.pt"])
        ... except Exception as error:
        ...     print(type(error).__name__)
        InputError
    """
    from .errors import InputError

    existing = (Path(p).expanduser() for p in inputs if p is not None)
    # a name that is no file (a registered masker) protects nothing
    protected = {p.resolve() for p in existing if p.exists()}
    for output in outputs:
        if output is None:
            continue
        path = Path(output).expanduser()
        if path.resolve() in protected:
            raise InputError(
                f"the output {path} is one of the inputs; an input is never replaced, pass another output name. "
                "Nothing was written."
            )
        if path.is_dir():
            raise InputError(f"the output {path} is an existing folder; pass a file name. Nothing was written.")
        if (path.exists() or path.is_symlink()) and not overwrite:
            raise InputError(
                f"the output {path} already exists; pass --overwrite to replace it, or another output name. "
                "Nothing was written."
            )


def _temporaries_of(path: Path) -> list[Path]:
    return list(path.parent.glob(f".{glob_escape(path.name)}.*.tmp"))


def glob_escape(name: str) -> str:
    """``name`` with glob metacharacters escaped."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def _writer_alive(tmp: Path, target: Path) -> bool:
    """Whether the process that named ``tmp`` (``.<name>.<pid>-<random>.tmp``) still runs; False when the name
    carries no pid."""
    middle = tmp.name[len(target.name) + 2:]
    pid_text = middle.split("-", 1)[0]
    if "-" not in middle or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # this process writes one file at a time: an older temporary of ours was abandoned
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Delete temporary files of ``path`` left by killed earlier processes (older than this one, and whose writer is
    gone: a concurrent writer's temporary is left alone); return them."""
    removed = []
    path = Path(path)
    for tmp in _temporaries_of(path):
        try:
            if tmp.stat().st_mtime < _PROCESS_STARTED and not _writer_alive(tmp, path):
                tmp.unlink()
                removed.append(tmp)
        except FileNotFoundError:  # another process finished or removed it meanwhile
            continue
    return removed


def _out_of_space(error: BaseException, folder: Path) -> bool:
    """Whether a failed write ran out of space: its errno says so, or (torch.save's RuntimeError carries no errno) its
    message says a write failed while the disk is nearly full. Any other error keeps its own message."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    text = str(error)
    if "No space left" in text:
        return True
    if not any(words in text for words in ("failed writing", "write failed", "unexpected pos")):
        return False
    try:
        return shutil.disk_usage(folder).free < _NEARLY_FULL_BYTES
    except OSError:
        return False


def _mount_point(folder: Path) -> Path:
    folder = folder.resolve()
    while not os.path.ismount(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def atomic_torch_save(obj: object, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` that is atomic: readers see the old file or the complete new one."""
    return atomic_write(path, lambda handle: torch.save(obj, handle))


def atomic_write_text(text: str, path: str | os.PathLike[str]) -> Path:
    """Write text atomically (UTF-8)."""
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))
