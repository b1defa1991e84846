"""``optix-evo render``: --rank, --python on a hall of fame, unreadable files and closed pipes as one-line errors."""

import json
import os
import subprocess
import sys

import pytest

from optix_evo import graph as G
from optix_evo.cli import main


@pytest.fixture
def hall(tmp_path):
  path = tmp_path / "hall_of_fame.json"
  records = [{"rank": i + 1, "genome": G.to_json(G.known(name)), "fitness": f} for i, (name, f) in
             enumerate((("lion", 0.8), ("adam", 0.7), ("sgd", 0.6)))]
  path.write_text(json.dumps({"hall_of_fame": records}))
  return path


def test_python_on_a_hall_of_fame_needs_rank(hall, capsys, one_error_line):
  assert main(["render", str(hall), "--python"]) == 2
  assert "holds 3 genomes and --python writes one module; pick one with --rank N (1..3)" in one_error_line("render")
  assert main(["render", str(hall), "--python", "--rank", "2"]) == 0
  source = capsys.readouterr().out
  namespace = {}
  exec(source, namespace)  # noqa: S102 - the module under test, written by render from a known genome
  assert source.count("def evolved(") == 1 and G.canonical_hash(G.known("adam")) in source
  assert main(["render", str(hall), "--rank", "3"]) == 0
  out = capsys.readouterr().out
  assert out.startswith("#3 (rank 3, fitness 0.6)") and "#1" not in out
  assert main(["render", str(hall), "--rank", "4"]) == 2
  assert "--rank 4: " in one_error_line("render")
  with pytest.raises(SystemExit):
    main(["render", str(hall), "--rank", "0"])


def test_unreadable_files_are_one_line_errors(tmp_path, one_error_line):
  assert main(["render", str(tmp_path / "missing.json")]) == 2
  assert "missing.json: No such file or directory" in one_error_line("render")
  (tmp_path / "bad.json").write_text('{"hall_of_fame": [')
  assert main(["render", str(tmp_path / "bad.json")]) == 2
  assert "is not valid JSON" in one_error_line("render")
  assert main(["render", str(tmp_path)]) == 2
  assert "cannot read" in one_error_line("render")
  (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
  assert main(["render", str(tmp_path / "deep.json")]) == 2
  one_error_line("render")


def test_a_closed_pipe_is_one_line_and_exit_2(hall):
  env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered stdout, as in a user's shell
  env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])
  proc = subprocess.Popen([sys.executable, "-m", "optix_evo.cli", "render", str(hall)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env)
  proc.stdout.close()  # `| head -0`: the reader is gone before anything is written
  err = proc.stderr.read().decode()
  assert proc.wait() == 2
  assert err == "optix-evo render: error: the output was closed before everything was written (broken pipe)\n"
