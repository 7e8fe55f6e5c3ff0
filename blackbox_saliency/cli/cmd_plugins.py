"""``blackbox-saliency plugins``: list every discovered classifier, encoder, evidence remover and masker,
and the broken plugins."""

from __future__ import annotations

import argparse
import json

from ..plugins import available, plugin_problems
from .commands import COMMAND_HELP


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("plugins", help=COMMAND_HELP["plugins"])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--all-torchvision", action="store_true", help="also list every torchvision:<model> name")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    found: dict[str, object] = dict(available())
    if not args.all_torchvision:
        for kind, names in list(found.items()):
            tv = [n for n in names if n.startswith("torchvision:")]
            names = {n: s for n, s in names.items() if not n.startswith("torchvision:")}
            if tv:
                names["torchvision:<model_name>"] = f"{len(tv)} torchvision models (--all-torchvision lists them)"
            found[kind] = names
    problems = plugin_problems()
    if args.json:
        found["broken"] = [{"source": p.source, "problem": p.problem} for p in problems]
        print(json.dumps(found, indent=2))
        return 0
    for kind, names in found.items():
        print(f"{kind}:")
        width = max((len(n) for n in names), default=0)
        for name, source in names.items():
            print(f"  {name:<{width}}  {source}")
    if problems:
        print("broken plugins (skipped; fix or uninstall them):")
        for problem in problems:
            print(f"  {problem}")
    return 0
