"""``blackbox-saliency plugins``: list every discovered classifier, evidence remover and masker."""

from __future__ import annotations

import argparse
import json

from ..plugins import available


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("plugins", help="list discovered plugins (classifiers, evidence removers, maskers)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--all-torchvision", action="store_true", help="also list every torchvision:<model> name")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    found = available()
    if not args.all_torchvision:
        for kind in found:
            tv = [n for n in found[kind] if n.startswith("torchvision:")]
            found[kind] = {n: s for n, s in found[kind].items() if not n.startswith("torchvision:")}
            if tv:
                found[kind]["torchvision:<model_name>"] = f"{len(tv)} torchvision models (--all-torchvision lists them)"
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    for kind, names in found.items():
        print(f"{kind}:")
        width = max((len(n) for n in names), default=0)
        for name, source in names.items():
            print(f"  {name:<{width}}  {source}")
    return 0
