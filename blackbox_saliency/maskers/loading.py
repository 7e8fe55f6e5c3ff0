"""The one masker loader: a registered name, a checkpoint path, or an architecture to build untrained.

* :func:`load_masker` – a masker plugin by name (a shipped trained masker, a baseline) or a trained
  masker checkpoint by path; every other loader of the library (the commands, the explainer, the
  trainer's ``--init-from``) is a thin wrapper around it.
* :func:`build_trainable_masker` – a new, untrained :class:`~blackbox_saliency.interfaces.TrainableMasker`
  of a registered architecture (``saliency_masker``, or a plugin's); the trainer and the checkpoint
  reader rebuild maskers through it.

Example:
    >>> from blackbox_saliency.maskers.loading import build_trainable_masker, load_masker, looks_like_path
    >>> type(load_masker("center")).__name__
    'CenterBoxMasker'
    >>> masker = build_trainable_masker("saliency_masker", num_classes=10, encoder="resnet18", encoder_pretrained=False)
    >>> masker.architecture, masker.num_classes
    ('saliency_masker', 10)
    >>> looks_like_path("runs/masker.pt"), looks_like_path("center")
    (True, False)
"""

from __future__ import annotations

from pathlib import Path

from ..errors import PluginError
from ..interfaces import Masker
from ..plugins.manager import build
from .architectures import build_trainable_masker

__all__ = ["build_trainable_masker", "load_masker", "looks_like_path"]


def looks_like_path(name_or_path: str | Path) -> bool:
    """``True`` for a :class:`~pathlib.Path`, a ``.pt``/``.pth`` name or a string with a path separator."""
    if isinstance(name_or_path, Path):
        return True
    text = str(name_or_path)
    return text.endswith((".pt", ".pth")) or "/" in text or "\\" in text


def load_masker(name_or_path: str | Path, **kwargs: object) -> Masker:
    """Build a registered masker by name, or load a trained masker checkpoint from a path.

    A string is a path when it ends with ``.pt``/``.pth`` or contains a path separator; anything
    else is a plugin name (so a file called ``center`` in the working directory does not shadow the
    ``center`` baseline). A checkpoint is rebuilt through its recorded architecture (see
    :mod:`blackbox_saliency.maskers.checkpoint`).

    Example:
        >>> from blackbox_saliency import load_masker
        >>> masker = load_masker("center")  # the central-box baseline
    """
    if looks_like_path(name_or_path):
        from .checkpoint import load_masker_checkpoint

        return load_masker_checkpoint(Path(name_or_path), **kwargs)
    try:
        return build("maskers", str(name_or_path), kwargs)
    except PluginError as exc:
        if Path(name_or_path).is_file():
            raise PluginError(
                f"{exc} A file named {str(name_or_path)!r} exists here: pass './{name_or_path}' to load it as a "
                "checkpoint."
            ) from None
        raise
