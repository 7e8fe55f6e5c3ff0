"""Write a long sequence of equally shaped arrays to one ``.npy`` file without holding them in memory.

Frames are appended to a temporary raw file beside the target; :meth:`NpyStreamWriter.close`
writes the ``.npy`` header (now that the count is known), copies the data behind it and renames
the result over the target, so readers never see a half-written file.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "masks.npy"
    >>> with NpyStreamWriter(path, np.float16) as out:
    ...     for t in range(3):
    ...         out.append(np.full((2, 4), t / 2))
    >>> np.load(path).shape, np.load(path)[:, 0, 0].tolist()
    ((3, 2, 4), [0.0, 0.5, 1.0])
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["NpyStreamWriter"]


class NpyStreamWriter:
    """Append arrays of one shape; the file holds them stacked as (T, *shape) of ``dtype``."""

    def __init__(self, path: str | os.PathLike[str], dtype: np.dtype | type = np.float16) -> None:
        self.path = Path(path)
        if self.path.suffix != ".npy":
            raise InputError(f"the masks file must end in .npy, got {self.path.name!r}.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.dtype = np.dtype(dtype)
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".raw", dir=self.path.parent)
        self._raw = os.fdopen(fd, "wb")
        self._raw_name = name
        self.shape: tuple[int, ...] | None = None
        self.count = 0

    def append(self, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array, dtype=self.dtype)
        if self.shape is None:
            self.shape = array.shape
        elif array.shape != self.shape:
            raise InputError(f"array {self.count} has shape {array.shape}, the earlier ones {self.shape}.")
        self._raw.write(array.tobytes())
        self.count += 1

    def close(self) -> Path | None:
        """Finish the file; returns its path (``None`` when nothing was appended: no file is written)."""
        if self._raw.closed:
            return self.path if self.path.exists() else None
        self._raw.close()
        try:
            if self.count == 0:
                return None
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "wb") as out, open(self._raw_name, "rb") as raw:
                    header = {
                        "descr": np.lib.format.dtype_to_descr(self.dtype),
                        "fortran_order": False,
                        "shape": (self.count, *self.shape),
                    }
                    np.lib.format.write_array_header_1_0(out, header)
                    shutil.copyfileobj(raw, out, length=1 << 22)
                os.replace(tmp, self.path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            return self.path
        finally:
            os.unlink(self._raw_name)

    def __enter__(self) -> "NpyStreamWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
