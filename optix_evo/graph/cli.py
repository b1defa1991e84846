"""``optix-evo render FILE``: print the equation of a genome JSON file, or of every entry of a hall of fame
(``--rank N``: only entry ``N``); ``--python`` prints one genome as a standalone optax module."""

from __future__ import annotations

import argparse
import json
from typing import Any

from optix_evo.cli import positive_int
from optix_evo.errors import InputError
from optix_evo.graph.canonical import canonical_hash
from optix_evo.graph.serialization import from_json
from optix_evo.graph.render import render, to_python


def _entries(data: Any) -> list[tuple[str, dict]]:
  """(label, genome dict) pairs of a genome file, a list of genomes/records, or ``{"hall_of_fame": [...]}``."""
  if isinstance(data, dict) and "format" in data:
    return [("genome", data)]
  records = data.get("hall_of_fame") if isinstance(data, dict) else data
  if not isinstance(records, list):
    raise InputError("expected a genome JSON object, a list of them, or an object with a 'hall_of_fame' list.")
  out = []
  for rank, rec in enumerate(records, 1):
    genome = rec.get("genome", rec) if isinstance(rec, dict) else None
    if not isinstance(genome, dict) or "format" not in genome:
      raise InputError(f"entry {rank} holds no genome (a dict with 'format', or a record with a 'genome' field).")
    scores = ", ".join(f"{k} {v:.4g}" for k, v in rec.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
    out.append((f"#{rank}" + (f" ({scores})" if scores else ""), genome))
  return out


def _cmd_render(args: argparse.Namespace) -> int:
  try:
    with open(args.file, encoding="utf-8") as f:
      data = json.load(f)
  except OSError as e:
    raise InputError(f"cannot read {args.file}: {e.strerror or e}.") from None
  except (ValueError, RecursionError) as e:
    raise InputError(f"{args.file} is not valid JSON ({e}).") from None
  entries = _entries(data)
  if args.rank is not None:
    if args.rank > len(entries):
      raise InputError(f"--rank {args.rank}: {args.file} holds {len(entries)} genome(s) (ranks 1..{len(entries)}).")
    entries = entries[args.rank - 1:args.rank]
  elif args.python and len(entries) > 1:
    raise InputError(f"{args.file} holds {len(entries)} genomes and --python writes one module; pick one with --rank N "
                     f"(1..{len(entries)}).")
  for label, genome_data in entries:
    genome = from_json(genome_data)
    if args.python:
      print(to_python(genome))
      continue
    print(f"{label}  [{canonical_hash(genome)}]")
    print(render(genome, latex=args.latex))
    print()
  return 0


def register(subparsers) -> None:
  parser = subparsers.add_parser("render", help="print the update equation of a genome JSON file or a hall of fame")
  parser.add_argument("file", help="a genome JSON file (graph.to_json) or a search's hall_of_fame.json")
  parser.add_argument("--latex", action="store_true", help="LaTeX instead of plain text")
  parser.add_argument("--python", action="store_true",
                      help="print standalone optax code (a module defining `evolved`) instead of the equation")
  parser.add_argument("--rank", type=positive_int, default=None, metavar="N",
                      help="only entry N (1 = the first) of a hall of fame or list; needed by --python for several")
  parser.set_defaults(func=_cmd_render)
