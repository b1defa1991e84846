"""TensorBoard event files (``optix_evo.tensorboard``), read back with the ``tensorboard`` package's own reader."""

import json

import numpy as np
import pytest

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

from optix_evo import tensorboard as oxtb  # noqa: E402
from optix_evo.errors import InputError  # noqa: E402


def read(log_dir):
  acc = event_accumulator.EventAccumulator(str(log_dir), size_guidance={event_accumulator.SCALARS: 0,
                                                                         event_accumulator.TENSORS: 0})
  acc.Reload()
  scalars = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
  return acc, scalars


def test_search_folder_becomes_per_generation_fitness_headline_and_report(tmp_path):
  run = tmp_path / "run"
  run.mkdir()
  rows = [
      {"stage": "surrogate", "generation": 0, "fitness": 0.2, "rejected": False},
      {"stage": "surrogate", "generation": 0, "fitness": 0.4, "rejected": False},
      {"stage": "surrogate", "generation": 0, "fitness": 0.9, "rejected": True},  # rejected: not in the fitness
      {"stage": "surrogate", "generation": 1, "fitness": 0.5, "rejected": False},
      {"stage": "surrogate", "generation": 1, "fitness": 0.7, "rejected": False},
      {"stage": "elimination-1", "fitness": 0.6}, {"stage": "elimination-1", "fitness": 0.65},
      {"stage": "elimination-2", "fitness": 0.66},
  ]
  (run / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
  (run / "run.json").write_text(json.dumps({"headline": {"rank_correlation": 0.74, "note": "text"}}))
  (run / "report.md").write_text("| optimizer | test |\n|---|---|\n| adam | 0.9 |\n")
  acc, s = read(oxtb.search_events(run, tmp_path / "tb"))
  np.testing.assert_allclose([v for _, v in s["search/fitness/best"]], [0.4, 0.7], rtol=1e-6)
  np.testing.assert_allclose([v for _, v in s["search/fitness/mean"]], [0.3, 0.6], rtol=1e-6)
  assert [step for step, _ in s["search/fitness/best"]] == [0, 1]
  np.testing.assert_allclose([v for _, v in s["search/rejected"]], [1 / 3, 0.0], rtol=1e-6)
  np.testing.assert_allclose(s["elimination/best_fitness"], [(1, 0.65), (2, 0.66)], rtol=1e-6)
  np.testing.assert_allclose(s["headline/rank_correlation"][0][1], 0.74, rtol=1e-6)
  assert "headline/note" not in s
  assert "search/fitness" in acc.Tags()["histograms"]
  text = acc.Tensors("report/text_summary")[0].tensor_proto.string_val[0].decode()
  assert "| adam | 0.9 |" in text


def test_bench_folder_becomes_per_cell_scalars_curves_and_summary(tmp_path):
  out = tmp_path / "bench"
  out.mkdir()
  (out / "results.csv").write_text(
      "study,task,family,optimizer,lr,seed,metric,valid,test,final_train_loss\n"
      "main,digits_mlp,mlp,adam,0.1,0,accuracy,0.8,0.7,0.5\n"
      "main,digits_mlp,mlp,adam,0.1,1,accuracy,0.9,0.9,0.4\n"
      "main,digits_mlp,mlp,adam,1.0,0,accuracy,0.5,0.4,0.9\n"
      "main,digits_mlp,mlp,adam,1.0,1,accuracy,0.3,0.2,1.1\n")
  np.savez(out / "curves.npz", **{"lr/digits_mlp/adam": np.array([[[1.0, 0.5], [3.0, 1.5]]])})
  (out / "summary.md").write_text("# bench\n")
  acc, s = read(oxtb.bench_events(out, tmp_path / "tb"))
  np.testing.assert_allclose(s["bench/main/digits_mlp/adam/test"], [(0, 0.8), (1, 0.3)], rtol=1e-6)
  np.testing.assert_allclose(s["bench/main/digits_mlp/adam/valid"], [(0, 0.85), (1, 0.4)], rtol=1e-6)
  np.testing.assert_allclose(s["curves/lr/digits_mlp/adam/grid0"], [(0, 2.0), (1, 1.0)], rtol=1e-6)
  assert "summary/text_summary" in acc.Tags()["tensors"]


def test_monitor_telemetry_one_series_per_vmapped_run(tmp_path):
  history = {"total/update_norm": np.array([[1.0, 0.5, np.nan], [2.0, 1.0, 0.5]])}
  _, s = read(oxtb.monitor_events(history, tmp_path / "tb"))
  assert s["monitor/total/update_norm/run0"] == [(0, 1.0), (1, 0.5)]  # non-finite values left out
  assert s["monitor/total/update_norm/run1"] == [(0, 2.0), (1, 1.0), (2, 0.5)]


def test_folders_that_are_not_results_are_refused(tmp_path):
  with pytest.raises(InputError, match="history.jsonl"):
    oxtb.search_events(tmp_path, tmp_path / "tb")
  with pytest.raises(InputError, match="results.csv"):
    oxtb.bench_events(tmp_path, tmp_path / "tb")


def test_bench_log_dir_writes_events_next_to_the_results(tmp_path):
  from optix_evo.cli import main

  out, tb = tmp_path / "out", tmp_path / "tb"
  assert main(["bench", "--out", str(out), "--optimizers", "adam", "--tasks", "iris_dnm", "--seeds", "1", "--steps", "3",
               "--lr-grid", "1", "--main-only", "--no-plots", "--quiet", "--log-dir", str(tb)]) == 0
  _, s = read(tb)
  assert set(s) >= {"bench/lr/iris_dnm/adam/test", "bench/lr/iris_dnm/adam/valid"}
  assert (out / "results.csv").is_file()  # the results folder stays the record


def test_log_dir_without_the_writer_is_refused_before_anything_runs(tmp_path, monkeypatch):
  import sys

  from optix_evo.cli import main

  monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if not installed
  for command in (["bench", "--out", str(tmp_path / "b")], ["search", "--out", str(tmp_path / "s")]):
    assert main([*command, "--quiet", "--log-dir", str(tmp_path / "tb")]) == 2
    assert not (tmp_path / command[2].rsplit("/", 1)[-1]).exists()


@pytest.mark.slow
def test_search_log_dir_writes_events_next_to_the_results(tmp_path):
  """The search's call site, on a tiny search (the tiny settings of tests/search/test_cli.py)."""
  from optix_evo.cli import main

  tiny = ["--task", "digits_mlp", "--seed", "3", "--quiet", *sum((["--set", s] for s in (
      "space=extended", "particles=2", "steps=1", "mutants=2", "pool_factor=2", "surrogate_steps=20", "epochs=2",
      "probe_steps=6", "lr_grid=(0.1, 0.01)", "elimination_candidates=3",
      "stages=({'steps': 20, 'seeds': 1, 'keep': 2},)", "finalists=2", "final_steps=20", "final_seeds=2",
      "final_lr_grid=(0.1, 0.01)", "holdout_tasks=iris_mlp", "baselines=adam", "references=nos_opt9")), [])]
  out, tb = tmp_path / "out", tmp_path / "tb"
  assert main(["search", *tiny, "--out", str(out), "--log-dir", str(tb)]) == 0
  acc, s = read(tb)
  generations = sorted({json.loads(line)["generation"] for line in (out / "history.jsonl").read_text().splitlines()
                        if json.loads(line)["stage"] == "surrogate"})
  assert [step for step, _ in s["search/fitness/best"]] == generations
  assert "elimination/best_fitness" in s and any(tag.startswith("headline/") for tag in s)
  assert "report/text_summary" in acc.Tags()["tensors"]
