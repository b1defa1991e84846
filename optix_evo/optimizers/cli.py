"""``optix-evo zoo``: compare the zoo's optimizers on a small offline task."""

from __future__ import annotations

import argparse

from optix_evo.optimizers.compare import compare_zoo, format_table


def _run(args: argparse.Namespace) -> int:
  names = args.optimizers.split(",") if args.optimizers else None
  rows = compare_zoo(names, task=args.task, seeds=args.seeds, steps=args.steps, batch_size=args.batch_size)
  print(format_table(rows))
  return 0


def register(subparsers) -> None:
  parser = subparsers.add_parser("zoo", help="train a small MLP with every zoo optimizer and print a comparison table")
  parser.add_argument("--task", default="digits", help="offline data set (default: digits)")
  parser.add_argument("--optimizers", default="", help="comma-separated names (default: the whole zoo)")
  parser.add_argument("--seeds", type=int, default=3)
  parser.add_argument("--steps", type=int, default=300)
  parser.add_argument("--batch-size", type=int, default=64)
  parser.set_defaults(func=_run)
