"""Real-time saliency for video: a batched streaming explainer, temporal smoothing, file I/O.

The explainer works on any iterable of frames and needs no extra package; reading and writing
video files uses PyAV (``pip install 'blackbox-saliency[video]'``), imported only when used.

Example:
    >>> import numpy as np
    >>> from blackbox_saliency.interfaces import Masker
    >>> from blackbox_saliency.video import StreamingExplainer
    >>> class Red(Masker):
    ...     num_classes = 1
    ...     def forward(self, images, classes):
    ...         return images[:, :1]
    >>> frames = (np.zeros((16, 16, 3), dtype=np.uint8) for _ in range(3))
    >>> [r.overlay.shape for r in StreamingExplainer(Red(), classes=0).stream(frames)][0]
    torch.Size([16, 16, 3])
"""

from .frames import frame_to_tensor
from .io import VideoDependencyError, VideoInfo, VideoReader, VideoReadError, VideoWriter, open_video, require_av
from .smoothing import MaskSmoother
from .stream import CLASS_KEYWORDS, FrameResult, StreamingExplainer

__all__ = [
    "CLASS_KEYWORDS",
    "FrameResult",
    "MaskSmoother",
    "StreamingExplainer",
    "VideoDependencyError",
    "VideoInfo",
    "VideoReadError",
    "VideoReader",
    "VideoWriter",
    "frame_to_tensor",
    "open_video",
    "require_av",
]
