"""``optix-evo`` command line: a thin layer over library functions.

Each feature package that has commands holds a ``cli`` module with ``register(subparsers)``, which adds its
sub-commands and sets ``func`` (called with the parsed arguments, returning an exit code) on each.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Sequence

import optix_evo


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="optix-evo", description=optix_evo.__doc__.splitlines()[0])
  parser.add_argument("--version", action="version", version=f"optix-evo {optix_evo.__version__}")
  subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
  for package in sorted(m.name for m in pkgutil.iter_modules(optix_evo.__path__) if m.ispkg):
    if importlib.util.find_spec(f"optix_evo.{package}.cli") is not None:
      importlib.import_module(f"optix_evo.{package}.cli").register(subparsers)
  return parser


def main(argv: Sequence[str] | None = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  args = build_parser().parse_args(argv)
  args.argv = argv  # what a results folder's run.json records, so `optix-evo reproduce` can re-run it
  try:
    return int(args.func(args) or 0)
  except ValueError as e:  # bad configuration values: say what is wrong, no traceback
    print(f"optix-evo {args.command}: error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
