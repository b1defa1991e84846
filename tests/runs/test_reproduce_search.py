"""`optix-evo reproduce` on a real (tiny) `optix-evo search` run: the headline figures must come back the same."""

import pytest

import optix_evo.cli
from optix_evo.runs import manifest

TINY = ["--set", "particles=3", "--set", "steps=1", "--set", "mutants=2", "--set", "pool_factor=1",
        "--set", "surrogate_steps=40", "--set", "probe_steps=10", "--set", "elimination_candidates=2",
        "--set", "epochs=2", "--set", "stages=({'steps': 40, 'seeds': 1, 'keep': 1},)", "--set", "finalists=1",
        "--set", "final_steps=40", "--set", "final_seeds=2", "--set", "final_lr_grid=(0.1, 0.01)",
        "--set", "references=()"]


@pytest.mark.slow
def test_reproduce_quick_search(tmp_path, capsys):
  run_dir = tmp_path / "search"
  assert optix_evo.cli.main(["search", "--preset", "quick", "--quiet", *TINY, "--out", str(run_dir)]) == 0
  recorded = manifest.read_manifest(run_dir)
  assert recorded["argv"][0] == "search" and recorded["headline"] and recorded["data_fingerprint"]
  assert optix_evo.cli.main(["reproduce", str(run_dir)]) == 0, capsys.readouterr().out
  again = manifest.read_manifest(tmp_path / "search.reproduce1")
  assert again["headline"] == pytest.approx(recorded["headline"], rel=1e-5)
  assert again["data_fingerprint"] == recorded["data_fingerprint"] and again["config"] == recorded["config"]
