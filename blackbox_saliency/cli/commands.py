"""The sub-commands of ``blackbox-saliency`` and their one-line help: the one list of them.

``main`` shows this list without importing the commands' modules (which need torch), and imports
only the module of the command being run.

Example:
    >>> sorted(COMMAND_HELP)[:3]
    ['demo', 'evaluate', 'explain']
"""

from __future__ import annotations

import argparse

COMMAND_HELP: dict[str, str] = {
    "demo": "explain bundled real photos (cat, coffee, astronaut, ...) and write overlays + a contact sheet",
    "evaluate": "evaluate a masker and baselines (saliency metric, localisation, pointing, deletion/insertion, speed)",
    "explain": "saliency overlays (PNG) and raw masks (.npy) for image files, folders or globs",
    "export": "export a masker to TorchScript, torch.export, an AOTInductor package or ONNX",
    "plugins": "list discovered plugins (classifiers, removers, maskers, masker architectures, encoders), broken ones",
    "train": "train a masking model for a black-box classifier",
    "video": "overlay saliency masks on every frame of a video file (needs the 'video' extra)",
}
"""command -> help line; the command lives in ``blackbox_saliency/cli/cmd_<command>.py``."""


def add_command(subparsers: argparse._SubParsersAction, name: str, doc: str | None) -> argparse.ArgumentParser:
    """The sub-parser of command ``name``: its help line from :data:`COMMAND_HELP`, its description the first
    paragraph of the command module's docstring ``doc``.

    Example:
        >>> import argparse
        >>> parser = add_command(argparse.ArgumentParser().add_subparsers(), "demo", "Run the demo.")
        >>> parser.description
        'Run the demo.'
    """
    description = (doc or "").split("\n\n")[0].replace("``", "")
    return subparsers.add_parser(name, help=COMMAND_HELP[name], description=description)

