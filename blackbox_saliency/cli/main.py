"""The ``blackbox-saliency`` command line.

Sub-commands live in modules ``blackbox_saliency/cli/cmd_<name>.py``, each
exposing ``register(subparsers)`` that adds its parser and sets ``func``; the
list and their help lines are :data:`~blackbox_saliency.cli.commands.COMMAND_HELP`.
Only the module of the command being run is imported (the others appear in
``--help`` from that list), so ``blackbox-saliency --help`` needs no torch.

Example::

    $ blackbox-saliency plugins
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .._version import __version__
from ..errors import BlackBoxSaliencyError
from .commands import COMMAND_HELP


def _command_of(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv`` (its first argument that is not an option), if any."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in COMMAND_HELP else None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv`` only the command it names is fully registered (``None``: all of them)."""
    parser = argparse.ArgumentParser(
        prog="blackbox-saliency",
        description="Real-time saliency masks for black-box image classifiers (Dabkowski & Gal, 2017).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = None if argv is None else _command_of(argv)
    for name, help_line in COMMAND_HELP.items():
        if argv is None or name == wanted:
            importlib.import_module(f"{__package__}.cmd_{name}").register(subparsers)
        else:  # listed in --help without importing the command's module
            subparsers.add_parser(name, help=help_line)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BlackBoxSaliencyError as error:
        print(f"blackbox-saliency {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
