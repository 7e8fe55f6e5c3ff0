"""Exceptions raised by blackbox-saliency.

Every error message says what was wrong and how to fix it.

Example:
    >>> from blackbox_saliency.errors import InputError
    >>> issubclass(InputError, ValueError)
    True
"""

from __future__ import annotations


class BlackBoxSaliencyError(Exception):
    """Base class of every error this library raises on purpose."""


class InputError(BlackBoxSaliencyError, ValueError):
    """An argument has the wrong shape, dtype, range or content."""


class PluginError(BlackBoxSaliencyError, LookupError):
    """A plugin name is unknown, or two plugins claim the same name."""


class CheckpointError(BlackBoxSaliencyError, RuntimeError):
    """A checkpoint file is missing, unreadable, corrupt or of the wrong kind."""


class ImageReadError(BlackBoxSaliencyError, OSError):
    """An image file could not be read or decoded."""


class DataNotFoundError(BlackBoxSaliencyError, FileNotFoundError):
    """A data set or weights file expected on disk is not there."""


class OutOfSpaceError(BlackBoxSaliencyError, OSError):
    """The disk filled up while a file was written; the previous version of the file is intact."""


class ClassifierMismatchWarning(UserWarning):
    """A masker is used with a black box other than the one it was trained for: its masks explain the other one."""
