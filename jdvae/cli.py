"""The `jdvae` console script: one subcommand per module in `jdvae.commands`."""
from __future__ import annotations

import argparse
import importlib
import sys

from jdvae.errors import JdvaeError

# Each module in jdvae/commands defines `register(subparsers)`, which adds its parser
# and sets `func(args) -> int | None` as the parser default.
COMMANDS = ("synth", "train", "judge", "evaluate", "compare_judges", "reproduce", "status", "bench", "curve", "ship")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand."""
    parser = argparse.ArgumentParser(prog="jdvae", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"jdvae.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"jdvae.commands.{name}":
                continue  # not written yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print one line and exit with status 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except JdvaeError as e:
        print(f"jdvae {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jdvae {args.command}: interrupted; rerun the same command (with --resume for train) to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
