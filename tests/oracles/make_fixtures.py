"""Regenerates the PyTorch reference fixtures in ``tests/oracles/*.json``.

Usage (needs the optional ``torch`` extra; the package and the default tests never import torch)::

    pip install -e ".[torch]"
    python tests/oracles/make_fixtures.py            # every cases_*.py module
    python tests/oracles/make_fixtures.py zoo sam    # only cases_zoo.py and cases_sam.py

Each ``cases_<group>.py`` module next to this script defines ``make() -> dict`` returning JSON-ready data (lists of
float64 values); it is written to ``<group>.json``. The shared problem is :mod:`problem`.
"""

from __future__ import annotations

import importlib
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent


def main(groups: list[str]) -> None:
  sys.path.insert(0, str(HERE))
  available = sorted(p.stem.removeprefix("cases_") for p in HERE.glob("cases_*.py"))
  unknown = sorted(set(groups) - set(available))
  if unknown:
    raise SystemExit(f"Unknown fixture groups {unknown}; available: {available}")
  for group in groups or available:
    data = importlib.import_module(f"cases_{group}").make()
    path = HERE / f"{group}.json"
    path.write_text(json.dumps(data, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {path.relative_to(HERE.parent.parent)} ({path.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
  main(sys.argv[1:])
