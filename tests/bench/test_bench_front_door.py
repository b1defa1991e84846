"""``optix-evo bench`` issue rows: MODULE:FUNCTION tasks (also regression), --set like search, sizes refused with the
limit in the message before anything is written or trained."""

import sys
import textwrap

import pytest

from optix_evo.bench import cli as bench_cli
from optix_evo.bench import core
from optix_evo.cli import build_parser, main
from optix_evo.runs.limits import parameter_count


@pytest.fixture
def no_training(monkeypatch):
  def run_cell(*args, **kwargs):
    raise AssertionError("a cell was trained")

  monkeypatch.setattr(core, "run_cell", run_cell)


@pytest.fixture
def task_module(tmp_path, monkeypatch):
  (tmp_path / "h5_bench_tasks.py").write_text(textwrap.dedent("""
      import optix_evo as ox
      def iris():
        return ox.tasks.get_task("iris_mlp", steps=30)
      def adding(seed):
        return ox.tasks.get_task("adding_lstm", seed=seed, steps=30)
  """))
  monkeypatch.syspath_prepend(str(tmp_path))
  yield
  sys.modules.pop("h5_bench_tasks", None)


def test_bench_trains_module_function_tasks_of_any_signature(tmp_path, task_module):
  out = tmp_path / "run"
  assert main(["bench", "--main-only", "--no-plots", "--quiet", "--optimizers", "adam", "--tasks",
               "h5_bench_tasks:iris,h5_bench_tasks:adding", "--set", "steps=5", "--set", "seeds=2", "--set",
               "lr_grid=1", "--out", str(out)]) == 0
  summary = (out / "summary.md").read_text()
  assert "iris_mlp (acc)" in summary and "adding_lstm (mse)" in summary  # regression: trained, scored by its MSE


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "100000000"], "--seeds 100000000 × 3 grid points of study 'lr' on iris_mlp: 300000000 runs of"),
    (["--set", "seeds=100000000"], "GiB are available; use fewer seeds or a smaller grid"),
    (["--steps", "1000000000000"], "--steps (task iris_mlp) 1000000000000 is above the limit of 1000000 steps per run; "
                                   "pass --max-steps 1000000000000"),
    (["--set", "steps=0"], "--set steps='0': must be > 0, got 0"),
    (["--steps", "5", "--set", "steps=6"], "--steps 5 contradicts --set steps=6; give one"),
    (["--set", "bogus=1"], "Unknown bench setting 'bogus'. Known settings:"),
    (["--tasks", "no_such_module_h5:f"], "cannot import 'no_such_module_h5'"),
])
def test_sizes_and_settings_are_refused_before_anything_is_written(tmp_path, one_error_line, no_training, argv,
                                                                   message):
  out = tmp_path / "run"
  assert main(["bench", "--main-only", "--quiet", "--optimizers", "adam", "--tasks", "iris_mlp", *argv, "--out",
               str(out)]) == 2
  one_error_line("bench", message)
  assert not out.exists()


def test_memory_check_counts_seeds_grid_and_parameters():
  args = build_parser().parse_args(["bench", "--tasks", "iris_mlp", "--main-only", "--seeds", "4"])
  plan = core.plan_bench(bench_cli.resolve_config(args))
  runs, params = 4 * 3, parameter_count(plan[0][3])
  need = runs * params * 4 * 4  # float32 parameters, gradients and two optimizer-state slots
  bench_cli.check_sizes(plan, max_steps=10**6, available=need)  # just fits
  with pytest.raises(ValueError, match=f"{runs} runs of {params} parameters"):
    bench_cli.check_sizes(plan, max_steps=10**6, available=need - 1)
