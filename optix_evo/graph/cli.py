"""``optix-evo render FILE``: print the equation of a genome JSON file, or of every entry of a hall of fame."""

from __future__ import annotations

import argparse
import json
from typing import Any

from optix_evo.graph.canonical import canonical_hash
from optix_evo.graph.serialization import from_json
from optix_evo.graph.render import render, to_python


def _entries(data: Any) -> list[tuple[str, dict]]:
  """(label, genome dict) pairs of a genome file, a list of genomes/records, or ``{"hall_of_fame": [...]}``."""
  if isinstance(data, dict) and "format" in data:
    return [("genome", data)]
  records = data.get("hall_of_fame") if isinstance(data, dict) else data
  if not isinstance(records, list):
    raise ValueError("expected a genome JSON object, a list of them, or an object with a 'hall_of_fame' list.")
  out = []
  for rank, rec in enumerate(records, 1):
    genome = rec.get("genome", rec) if isinstance(rec, dict) else None
    if not isinstance(genome, dict) or "format" not in genome:
      raise ValueError(f"entry {rank} holds no genome (a dict with 'format', or a record with a 'genome' field).")
    scores = ", ".join(f"{k} {v:.4g}" for k, v in rec.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
    out.append((f"#{rank}" + (f" ({scores})" if scores else ""), genome))
  return out


def _run(args: argparse.Namespace) -> int:
  try:
    with open(args.file) as f:
      data = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise ValueError(f"cannot read {args.file}: {e}") from e
  for label, genome_data in _entries(data):
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
  parser.add_argument("--python", action="store_true", help="print standalone optax code instead of the equation")
  parser.set_defaults(func=_run)
