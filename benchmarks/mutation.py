"""Mutation testing of one module at a time with mutmut (the ``[tool.mutmut]`` settings of pyproject.toml, scoped).

mutmut reads its settings from ``pyproject.toml`` only, and runs every mutant of every configured module against the
whole configured test selection. This script runs it on ONE module against the tests that check it: it copies the
repository's ``optix_evo/``, ``tests/`` and ``pyproject.toml`` into a scratch folder, narrows ``only_mutate`` and the
test selection there, runs ``mutmut run --max-children N`` and prints (and with ``--record``, appends to
``benchmarks/results/mutation.md``) the module's score and its surviving mutants.

  python benchmarks/mutation.py optix_evo/data/restricted_pickle.py tests/data/test_restricted_pickle_allowlist.py

Scores count killed (a test failed), timeout and segfault as killed, survived and "no tests" as not killed; mutants
that mutmut marks suspicious are reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _scoped_pyproject(text: str, module: str, tests: list[str]) -> str:
  start = text.index("\n[tool.mutmut]\n") + 1
  end = text.find("\n[", start + 1)
  section = text[start:end if end >= 0 else len(text)]
  scoped = re.sub(r"only_mutate = \[.*?\]\n", f"only_mutate = {json.dumps([module])}\n", section, flags=re.S)
  scoped = re.sub(r"pytest_add_cli_args_test_selection = \[.*?\]\n",
                  f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n", scoped, flags=re.S)
  assert scoped != section, "pyproject.toml's [tool.mutmut] lacks only_mutate / pytest_add_cli_args_test_selection"
  return text.replace(section, scoped)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("module", help="the file to mutate, e.g. optix_evo/schedules/aldvi.py")
  parser.add_argument("tests", nargs="+", help="test files or node ids that check it")
  parser.add_argument("--max-children", type=int, default=1)
  parser.add_argument("--work", default=None, help="scratch folder (default: a new one under the temporary folder)")
  parser.add_argument("--keep", action="store_true", help="keep the scratch folder (mutmut show NAME works there)")
  args = parser.parse_args(argv)
  for path in [args.module, *(t.split("::")[0] for t in args.tests)]:
    if not os.path.exists(os.path.join(ROOT, path)):
      print(f"mutation.py: error: {path} does not exist (paths are relative to the repository root)", file=sys.stderr)
      return 2
  work = args.work or tempfile.mkdtemp(prefix="optix_evo_mutation_")
  for name in ("optix_evo", "tests"):
    shutil.copytree(os.path.join(ROOT, name), os.path.join(work, name), dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
  with open(os.path.join(ROOT, "pyproject.toml")) as f:
    pyproject = _scoped_pyproject(f.read(), args.module, args.tests)
  with open(os.path.join(work, "pyproject.toml"), "w") as f:
    f.write(pyproject)
  env = {**os.environ, "PYTHONPATH": work}
  run = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)], cwd=work,
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  subprocess.run([sys.executable, "-m", "mutmut", "export-cicd-stats"], cwd=work, env=env, capture_output=True)
  stats_path = os.path.join(work, "mutants", "mutmut-cicd-stats.json")
  if run.returncode != 0 or not os.path.exists(stats_path):
    print(run.stdout[-4000:])
    print(f"mutmut failed (exit {run.returncode}); scratch folder {work}")
    return 1
  with open(stats_path) as f:
    stats = json.load(f)
  listing = subprocess.run([sys.executable, "-m", "mutmut", "results"], cwd=work, env=env, capture_output=True,
                           text=True).stdout
  survivors = [line.split(":")[0].strip() for line in listing.splitlines() if line.strip().endswith("survived")]
  no_tests = [line.split(":")[0].strip() for line in listing.splitlines() if line.strip().endswith("no tests")]
  killed = stats["killed"] + stats.get("timeout", 0) + stats.get("segfault", 0)
  total = killed + stats["survived"] + stats.get("no_tests", 0) + stats.get("suspicious", 0)
  print(f"{args.module}: {killed}/{total} killed ({100 * killed / max(total, 1):.1f} %), "
        f"{stats['survived']} survived, {stats.get('no_tests', 0)} without tests, "
        f"{stats.get('suspicious', 0)} suspicious")
  for name in survivors + no_tests:
    diff = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=work, env=env, capture_output=True,
                          text=True).stdout
    print(f"--- {name}\n{diff.strip()}")
  if not args.keep and args.work is None:
    shutil.rmtree(work, ignore_errors=True)
  else:
    print(f"scratch folder: {work}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
