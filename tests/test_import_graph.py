"""The package's import graph: no cycle among module-level imports, and every module imports on its own."""

import ast
import pathlib
import subprocess
import sys

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "optix_evo"


def _module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, pathlib.Path]:
  return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _top_level_imports(name: str, path: pathlib.Path, known: set[str]) -> set[str]:
  """The package modules ``name`` imports at module level (imports inside functions run later and are skipped)."""
  package = name if path.name == "__init__.py" else name.rpartition(".")[0]
  found = set()
  for node in ast.parse(path.read_text(encoding="utf-8")).body:
    if isinstance(node, ast.Import):
      targets = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
        base = ".".join(anchor + ([base] if base else []))
      targets = [base] + [f"{base}.{a.name}" for a in node.names]
    else:
      continue
    for target in targets:
      while target and target not in known:
        target = target.rpartition(".")[0]
      if target and target != name and not name.startswith(target + "."):  # a package's own __init__ is no edge
        found.add(target)
  return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
  state, stack = {}, []

  def visit(node):
    state[node] = "open"
    stack.append(node)
    for nxt in sorted(graph[node]):
      if state.get(nxt) == "open":
        return stack[stack.index(nxt):] + [nxt]
      if nxt not in state:
        found = visit(nxt)
        if found:
          return found
    stack.pop()
    state[node] = "done"
    return None

  for node in sorted(graph):
    if node not in state:
      found = visit(node)
      if found:
        return found
  return None


def test_the_cycle_finder_finds_a_planted_cycle():
  assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
  assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_among_module_level_imports():
  modules = _modules()
  graph = {name: _top_level_imports(name, path, set(modules)) for name, path in modules.items()}
  assert graph["optix_evo.search.results"] >= {"optix_evo.search.results_types"}  # the parser sees real edges
  assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_every_module_imports_on_its_own():
  """Each module in a fresh set of optix_evo modules (jax and the other libraries stay loaded, so this is fast)."""
  names = [n for n in _modules() if not n.endswith("__main__")]
  script = (
      "import importlib, sys\n"
      "import jax, optax, flax\n"
      "failed = []\n"
      f"for name in {names!r}:\n"
      "  for loaded in [m for m in sys.modules if m == 'optix_evo' or m.startswith('optix_evo.')]:\n"
      "    del sys.modules[loaded]\n"
      "  try:\n"
      "    importlib.import_module(name)\n"
      "  except Exception as e:  # noqa: BLE001\n"
      "    failed.append(f'{name}: {type(e).__name__}: {e}')\n"
      "print('\\n'.join(failed))\n"
      "sys.exit(1 if failed else 0)\n")
  done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                        cwd=PACKAGE.parent, check=False)
  assert done.returncode == 0, done.stdout + done.stderr
