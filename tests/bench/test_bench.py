"""``optix-evo bench``: row specs, one compilation per (row, task) whatever the grid, and the results folder."""

import csv
import re

import jax
import numpy as np
import pytest

import optix_evo as ox
from optix_evo.bench import core
from optix_evo.bench.rows import parse_row
from optix_evo.bench.runner import Grid, run_cell
from optix_evo.tasks import TASKS, get_task
from optix_evo.cli import main


def test_row_specs():
  assert parse_row("adam").label == "adam" and parse_row("zoo:adam").base_lr == 1e-3
  row = parse_row("adamw@weight_decay=0.05@learning_rate=0.02")
  assert row.base_lr == 0.02 and row.label == "adamw@weight_decay=0.05@learning_rate=0.02"
  opt = row.build({"lr": jax.numpy.asarray(0.5)}, 10)
  params = {"w": jax.numpy.ones(3)}
  updates, _ = opt.update({"w": jax.numpy.ones(3)}, opt.init(params), params)
  assert np.all(np.asarray(updates["w"]) < 0)
  with pytest.raises(ValueError, match="Known kinds"):
    parse_row("magic:adam")
  with pytest.raises(ValueError, match="Known optimizers"):
    parse_row("zoo:nope")
  with pytest.raises(ValueError, match="@key=value"):
    parse_row("adam@oops")


@pytest.mark.skipif(not hasattr(ox, "sam"), reason="ox.sam is not available yet")
def test_sam_row_uses_grad_fn():
  row = parse_row("sam:sgd@rho=0.1")
  problem = get_task("iris_dnm", steps=5)
  cell = run_cell(row, problem, Grid({"lr": (1.0,)}), [0], curve_points=5)
  assert np.isfinite(cell.test).all()


def test_one_compile_per_cell_and_vmap_matches_single_runs():
  problem = get_task("iris_dnm", steps=20)
  row = parse_row("adam@learning_rate=0.01")
  grid = Grid({"lr": (0.3, 1.0, 3.0)})
  cell = run_cell(row, problem, grid, [0, 1], curve_points=4)
  assert cell.compiles == 1 and cell.valid.shape == (3, 2) and cell.curves.shape == (3, 2, 4)
  single = run_cell(row, problem, Grid({"lr": (3.0,)}), [1], curve_points=4)
  assert single.compiles == 1
  np.testing.assert_allclose(single.curves[0, 0], cell.curves[2, 1], rtol=2e-4, atol=1e-5)
  assert not np.allclose(cell.curves[0, 0], cell.curves[2, 0])  # grid points really differ


def test_cli_quick_writes_the_results_folder(tmp_path, capsys):
  out = tmp_path / "run"
  code = main(["bench", "--preset", "quick", "--out", str(out), "--set", "steps=8", "--seeds", "2", "--optimizers",
               "sgd,adam", "--tasks", "iris_dnm", "--quiet"])
  assert code == 0
  stdout = capsys.readouterr().out
  for name in ["results.csv", "timings.csv", "summary.md", "curves.npz", "loss_curves.png", "lr_sensitivity.png",
               "ranking.png", "seed_variability.png", "heatmap_b1_b2_digits_mlp_adam.png", "heatmap_lr_wd_digits_mlp_adamw.png"]:
    assert (out / name).stat().st_size > 0, name
  with open(out / "timings.csv") as f:
    timings = list(csv.DictReader(f))
  assert len(timings) == 4 and all(t["compiles"] == "1" for t in timings)
  assert {t["grid_points"] for t in timings} == {"3", "4"}
  with open(out / "results.csv") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 2 * 3 * 2 + 4 * 2 + 4 * 2
  summary = (out / "summary.md").read_text()
  assert "Mean rank per task family" in summary and "| sgd |" in summary and "peak resident memory" in summary
  assert "## Seed variability at the best learning rate" in summary
  assert '"bench"' in (out / "run.json").read_text()  # the manifest that `optix-evo reproduce` re-runs
  # One peak-memory figure: the command's last line says what summary.md says.
  peak = re.search(r"peak resident memory (\d+) MiB", summary).group(1)
  assert f"peak resident memory {peak} MiB" in stdout
  # One standard deviation: the sample one (n - 1), named, and equal in the main and the seed-variability tables.
  adam = [float(r["test"]) for r in rows if r["study"] == "lr" and r["optimizer"] == "adam"]
  by_lr = np.array(adam).reshape(3, 2)
  valid = np.array([float(r["valid"]) for r in rows if r["study"] == "lr" and r["optimizer"] == "adam"]).reshape(3, 2)
  best = by_lr[int(np.argmax(np.where(np.isfinite(valid), valid, -np.inf).mean(axis=1)))]
  assert "mean ± sample std over seeds, n − 1" in summary
  main_cell = re.search(r"\| adam \| (\S+) ± (\S+) \|", summary)
  assert float(main_cell.group(2)) == pytest.approx(np.std(best, ddof=1), abs=6e-4)
  seed_row = re.search(r"\| iris_dnm / adam \| (\S+) ± (\S+) \|", summary)
  assert seed_row.group(2) == main_cell.group(2) or float(seed_row.group(2)) == pytest.approx(
      float(main_cell.group(2)), abs=6e-4)


def test_cli_bad_values_exit_2(tmp_path, capsys):
  assert main(["bench", "--out", str(tmp_path), "--tasks", "nope", "--quiet"]) == 2
  assert "Known tasks" in capsys.readouterr().err
  assert main(["bench", "--out", str(tmp_path), "--optimizers", "adam@bogus=1", "--quiet"]) == 2


def test_presets():
  full = core.preset("full")
  main_study = full.studies[0]
  assert main_study.seeds == 5 and len(main_study.axes["lr"]) == 5
  assert set(main_study.tasks) <= set(TASKS)
  assert {TASKS[t].family for t in main_study.tasks} >= {"mlp", "cnn", "transformer", "gnn", "dnm"}
  with pytest.raises(ValueError, match="quick, full"):
    core.preset("huge")


def test_gradient_free_baselines_at_equal_time():
  from optix_evo.bench import heuristics  # needs evosax: in the dev extra, so this runs (never skips) in CI

  results = heuristics.compare_at_equal_time(("iris_dnm",), methods=("pso", "de"), steps=30, population_size=8)
  assert [r.method for r in results] == ["adam@learning_rate=0.01", "pso", "de"]
  budget = results[0].seconds
  for r in results[1:]:
    assert r.iterations >= 5 and r.seconds >= budget and 0.0 <= r.test <= 1.0
  with pytest.raises(ValueError, match="Known methods"):
    heuristics.gradient_free(get_task("iris_dnm", steps=5), "annealing", seconds=0.0)
