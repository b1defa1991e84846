"""``optix-evo reproduce RUN_DIR``: re-run a recorded results folder and check its headline figures."""

from __future__ import annotations

import argparse

from optix_evo.runs.folder import add_out_argument
from optix_evo.runs.reproduction import ALLOW_IMPORTS_FLAG, reproduce


def _cmd_reproduce(args: argparse.Namespace) -> int:
  report = reproduce(args.run_dir, args.into, rtol=args.rtol, atol=args.atol, force=args.force,
                     allow_outside_paths=args.allow_outside_paths, allow_imports=args.allow_imports)
  print(f"reproduced {args.run_dir} into {report.out_dir} (command exit code {report.exit_code})\n")
  print(report.to_markdown())
  print("\nall headline figures match" if report.ok else "\nREPRODUCTION FAILED: see the rows marked NO")
  return 0 if report.ok else 1


def _tolerance(text: str) -> float:
  try:
    value = float(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
  if not 0 <= value < float("inf"):
    raise argparse.ArgumentTypeError(f"must be >= 0 and finite, got {text}")
  return value


def register(subparsers) -> None:
  parser = subparsers.add_parser(
      "reproduce", help="re-run a results folder from its run.json and check that the headline figures match",
      description="Rebuilds the command recorded in RUN_DIR/run.json from its validated options (refusing --resume, "
      "repeated or unknown options, files outside RUN_DIR and MODULE:FUNCTION tasks unless allowed), runs it into a "
      "fresh folder and compares the headline figures.")
  parser.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by an optix-evo command (holds run.json)")
  add_out_argument(parser, option="--into", required=False, what="folder for the re-run (default: RUN_DIR.reproduce<i>)")
  parser.add_argument("--allow-outside-paths", action="store_true",
                      help="let the recorded command read files and folders outside RUN_DIR (only for a run.json "
                      "you trust)")
  parser.add_argument(ALLOW_IMPORTS_FLAG, action="store_true",
                      help="let the recorded command import and run the module of a MODULE:FUNCTION task (only for a "
                      "run.json and code you trust)")
  parser.add_argument("--rtol", type=_tolerance, default=1e-5, help="relative tolerance per figure (default: 1e-5)")
  parser.add_argument("--atol", type=_tolerance, default=1e-8, help="absolute tolerance per figure (default: 1e-8)")
  parser.set_defaults(func=_cmd_reproduce)
