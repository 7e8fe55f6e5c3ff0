"""Former name of :mod:`blackbox_saliency.input_checks` (the input checks), kept so that old imports work.

Example:
    >>> from blackbox_saliency import conventions, input_checks
    >>> conventions.check_images is input_checks.check_images
    True
"""

from .input_checks import *  # noqa: F403
from .input_checks import __all__  # noqa: F401
