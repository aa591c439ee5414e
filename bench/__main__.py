"""``python -m bench SUBCOMMAND [options]``: a small dispatcher; ``SUBCOMMAND --help`` for its options."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import bench


def subcommands() -> list[str]:
    """The subcommand modules of :mod:`bench`, found without importing them."""
    return sorted(info.name for info in pkgutil.iter_modules(bench.__path__) if not info.name.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    """Pick the subcommand, import its module lazily and hand it the remaining arguments."""
    args = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("subcommand", choices=subcommands())
    parser.add_argument("options", nargs=argparse.REMAINDER, help="the subcommand's own options")
    # Parse only the first word here: the rest, --help included, belongs to the subcommand.
    parsed = parser.parse_args(args[:1])
    module = importlib.import_module(f"bench.{parsed.subcommand}")
    code: int = module.main(args[1:])
    return code


if __name__ == "__main__":
    sys.exit(main())
