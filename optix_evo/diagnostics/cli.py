"""``optix-evo reproduce RUN_DIR``: re-run a recorded results folder and check its headline figures."""

from __future__ import annotations

import argparse

from optix_evo.diagnostics.manifest import reproduce


def _run(args: argparse.Namespace) -> int:
  report = reproduce(args.run_dir, args.into, rtol=args.rtol, atol=args.atol, force=args.force,
                     allow_outside_paths=args.allow_outside_paths)
  print(f"reproduced {args.run_dir} into {report.out_dir} (command exit code {report.exit_code})\n")
  print(report.to_markdown())
  print("\nall headline figures match" if report.ok else "\nREPRODUCTION FAILED: see the rows marked NO")
  return 0 if report.ok else 1


def register(subparsers) -> None:
  parser = subparsers.add_parser(
      "reproduce", help="re-run a results folder from its run.json and check that the headline figures match",
      description="Rebuilds the command recorded in RUN_DIR/run.json from its validated options (refusing --resume, "
      "repeated or unknown options, and files outside RUN_DIR unless allowed), runs it into a fresh folder and "
      "compares the headline figures.")
  parser.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by an optix-evo command (holds run.json)")
  parser.add_argument("--into", default=None, metavar="DIR",
                      help="folder for the re-run, new or empty (default: RUN_DIR.reproduce<i>)")
  parser.add_argument("--force", action="store_true", help="write into --into even if it already holds files")
  parser.add_argument("--allow-outside-paths", action="store_true",
                      help="let the recorded command read files and folders outside RUN_DIR (only for a run.json "
                      "you trust)")
  parser.add_argument("--rtol", type=float, default=1e-5, help="relative tolerance per figure (default: 1e-5)")
  parser.add_argument("--atol", type=float, default=1e-8, help="absolute tolerance per figure (default: 1e-8)")
  parser.set_defaults(func=_run)
