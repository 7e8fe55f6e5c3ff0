"""Read and write video files with PyAV (the optional ``video`` extra).

PyAV is imported only when a function here is called, so the rest of the library works
without it; without it these functions raise :class:`VideoDependencyError` telling the user
to ``pip install 'blackbox-saliency[video]'``.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> from blackbox_saliency.video.io import VideoWriter, open_video
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "clip.mp4"
    >>> with VideoWriter(path, fps=10) as writer:  # doctest: +SKIP
    ...     for t in range(5):
    ...         writer.write(np.full((32, 48, 3), 40 * t, dtype=np.uint8))
    >>> with open_video(path) as video:  # doctest: +SKIP
    ...     (video.info.width, video.info.height), sum(1 for _ in video)
    ((48, 32), 5)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import BlackBoxSaliencyError, ImageReadError, InputError

__all__ = [
    "VideoDependencyError",
    "VideoReadError",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "open_video",
    "require_av",
]

INSTALL_HINT = "pip install 'blackbox-saliency[video]'"


class VideoDependencyError(BlackBoxSaliencyError, ImportError):
    """PyAV (the ``video`` extra) is not installed."""


class VideoReadError(ImageReadError):
    """A video file could not be opened or decoded."""


def require_av():
    """Import and return PyAV, or raise :class:`VideoDependencyError` with the install command."""
    try:
        import av
    except ImportError:
        raise VideoDependencyError(
            f"reading and writing video files needs PyAV: {INSTALL_HINT} (or pip install av)."
        ) from None
    return av


@dataclass(frozen=True)
class VideoInfo:
    """Size, frame rate and (when the container says so, else ``None``) frame count of a video stream."""

    width: int
    height: int
    fps: Fraction
    frames: int | None


class VideoReader:
    """Iterate over the frames of a video file as (H, W, 3) uint8 RGB arrays. Use :func:`open_video`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        av = require_av()
        self.path = Path(path)
        if not self.path.is_file():
            raise VideoReadError(f"video file {self.path} does not exist.")
        try:
            self._container = av.open(str(self.path))
        except Exception as error:  # PyAV raises several FFmpeg error classes
            raise VideoReadError(f"cannot open {self.path} as a video ({type(error).__name__}: {error}).") from None
        if not self._container.streams.video:
            self._container.close()
            raise VideoReadError(f"{self.path} contains no video stream.")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._stream = stream
        rate = stream.average_rate or stream.guessed_rate or Fraction(25, 1)
        codec = stream.codec_context
        self.info = VideoInfo(int(codec.width), int(codec.height), Fraction(rate), int(stream.frames) or None)

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            for frame in self._container.decode(self._stream):
                yield frame.to_ndarray(format="rgb24")
        except Exception as error:
            if isinstance(error, BlackBoxSaliencyError):
                raise
            raise VideoReadError(f"decoding {self.path} failed ({type(error).__name__}: {error}).") from None

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_video(path: str | os.PathLike[str]) -> VideoReader:
    """Open a video file for reading (a context manager yielding RGB uint8 frames)."""
    return VideoReader(path)


class VideoWriter:
    """Write (H, W, 3) uint8 RGB frames to a video file (H.264 in .mp4/.mkv/.mov when available).

    The size is taken from the first frame. H.264 with yuv420p needs even sizes, so an odd
    height or width is padded by one replicated row/column.

    Args:
        path: output file; the container follows the extension.
        fps: frame rate (int, float or Fraction).
        codec: encoder name; default ``libx264`` when PyAV has it, else ``mpeg4``.
        crf: H.264 quality (lower = better, 18 is visually near-lossless).
    """

    def __init__(
        self, path: str | os.PathLike[str], fps: float | Fraction = 25, codec: str | None = None, crf: int = 20
    ) -> None:
        self._av = require_av()
        self.path = Path(path)
        if self.path.suffix.lower() not in (".mp4", ".mkv", ".mov", ".avi", ".webm"):
            raise InputError(
                f"cannot tell the video container from {self.path.name!r}; "
                "use a .mp4, .mkv, .mov, .avi or .webm file name."
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = Fraction(fps).limit_denominator(100000)
        if self.fps <= 0:
            raise InputError(f"`fps` must be positive, got {fps}.")
        if codec is None:
            codec = "libx264" if "libx264" in self._av.codecs_available else "mpeg4"
            if self.path.suffix.lower() == ".webm":
                codec = "libvpx-vp9" if "libvpx-vp9" in self._av.codecs_available else "libvpx"
        self.codec = codec
        self.crf = crf
        self._container = None
        self._stream = None
        self.frames_written = 0

    def _open(self, height: int, width: int) -> None:
        self._container = self._av.open(str(self.path), mode="w")
        options = {"crf": str(self.crf)} if self.codec == "libx264" else {}
        self._stream = self._container.add_stream(self.codec, rate=self.fps, options=options)
        self._stream.width = width + width % 2
        self._stream.height = height + height % 2
        self._stream.pix_fmt = "yuv420p"
        self._size = (height, width)

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame (all frames must have the first frame's size)."""
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise InputError(f"video frames must be (H, W, 3) uint8 arrays, got {frame.shape} {frame.dtype}.")
        if self._container is None:
            self._open(frame.shape[0], frame.shape[1])
        if frame.shape[:2] != self._size:
            raise InputError(
                f"frame {self.frames_written} is {frame.shape[:2]} but the video is {self._size} (height, width)."
            )
        if frame.shape[0] % 2 or frame.shape[1] % 2:
            frame = np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)), mode="edge")
        video_frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and close the file (a writer that got no frame writes nothing)."""
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
