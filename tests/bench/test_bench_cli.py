"""``optix-evo bench`` at the door: --seeds/--steps, --out, --force, --data-dir and row specs, refused before
training."""

import json

import pytest

from optix_evo.bench import core
from optix_evo.bench.rows import check_buildable, parse_row, split_spec
from optix_evo.bench.runner import Grid
from optix_evo.tasks import get_task
from optix_evo.cli import main
from optix_evo.errors import InputError


@pytest.fixture
def no_training(monkeypatch):
  """Fails the test if any cell would be trained: every check here must come before that."""
  def run_cell(*args, **kwargs):
    raise AssertionError("a cell was trained")

  monkeypatch.setattr(core, "run_cell", run_cell)


@pytest.mark.parametrize("flag", ["--seeds", "--steps", "--batch-size"])
@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_counts_below_one_are_refused(flag, value, capsys, tmp_path, no_training):
  with pytest.raises(SystemExit) as e:
    main(["bench", "--out", str(tmp_path / "o"), "--quiet", flag, value])
  assert e.value.code == 2 and f"argument {flag}: " in capsys.readouterr().err


def test_out_must_be_a_new_or_empty_folder(tmp_path, one_error_line, no_training):
  (tmp_path / "file").write_text("x")
  assert main(["bench", "--out", str(tmp_path / "file"), "--quiet"]) == 2
  one_error_line("bench", "is a file, not a folder")
  (tmp_path / "old").mkdir()
  (tmp_path / "old" / "results.csv").write_text("earlier results")
  assert main(["bench", "--out", str(tmp_path / "old"), "--quiet"]) == 2
  one_error_line("bench", "already holds files (results.csv)", "--force")
  # --force passes the folder check (and the run then stops at the bad task, before training).
  assert main(["bench", "--out", str(tmp_path / "old"), "--force", "--tasks", "nope", "--quiet"]) == 2
  one_error_line("bench", "Known tasks")
  assert (tmp_path / "old" / "results.csv").read_text() == "earlier results"


def test_cifar_without_data_is_one_line_and_data_dir_is_used(tmp_path, one_error_line, no_training):
  assert main(["bench", "--out", str(tmp_path / "a"), "--tasks", "cifar10_cnn", "--data-dir", str(tmp_path / "none"),
               "--main-only", "--quiet"]) == 2
  one_error_line("bench", "cifar-10-batches-py", str(tmp_path / "none"), "--data-dir")
  with pytest.raises(InputError, match=str(tmp_path / "none")):
    get_task("cifar10_cnn", data_dir=str(tmp_path / "none"))
  assert get_task("iris_mlp", data_dir=str(tmp_path / "none")).name == "iris_mlp"  # no files needed: ignored


@pytest.mark.parametrize("spec, fragments", [
    ("sam:adam@rho=abc", ["Row 'sam:adam@rho=abc': its hyperparameters rho='abc' are refused"]),
    ("adam@bogus=1", ["Row 'adam@bogus=1': its hyperparameters bogus=1 are refused"]),
    ("adam@learning_rate=abc", ["@learning_rate must be a positive number, got 'abc'"]),
    ("adam@learning_rate=-1", ["@learning_rate must be a positive number, got -1"]),
    ("sam:adam@rho=NaN", ["@rho=NaN is not a finite number"]),
    ("sam:adam@rho=1e999", ["@rho=1e999 is not a finite number"]),
    ("adam@lr=2", ["'lr' is the grid's learning-rate multiplier"]),
    ("adam@b1=0.9@b1=0.8", ["@b1= is given twice"]),
    ("adam@b1=", ["'@b1=' has no value"]),
    ("adam@=3", ["expected '@key=value'"]),
    ("genome:missing.json", ["Genome file 'missing.json' does not exist"]),
])
def test_bad_row_specs_name_what_is_wrong(tmp_path, one_error_line, no_training, spec, fragments):
  assert main(["bench", "--out", str(tmp_path / "o"), "--optimizers", spec, "--tasks", "iris_mlp", "--main-only",
               "--quiet"]) == 2
  err = one_error_line("bench", *fragments)
  assert "cannot take hyperparameters ['lr']" not in err


def test_grid_hyperparameters_are_blamed_when_they_are_refused():
  with pytest.raises(InputError, match=r"cannot take the grid's hyperparameters \['rho'\]"):
    check_buildable(parse_row("adam"), Grid({"lr": (1.0,), "rho": (0.1,)}).arrays())
  check_buildable(parse_row("sam:adam@rho=0.1"), Grid({"lr": (1.0,)}).arrays())
  assert split_spec(" sam:adam@rho=0.1@adaptive=true ") == ("sam", "adam", {"rho": 0.1, "adaptive": True})


def test_genome_rows_from_a_hall_of_fame(tmp_path):
  from optix_evo import graph  # pylint: disable=import-outside-toplevel

  hof = tmp_path / "hall_of_fame.json"
  hof.write_text(json.dumps({"hall_of_fame": [{"genome": graph.to_json(graph.known("lion")), "learning_rate": 3e-4}]}))
  assert parse_row(f"genome:{hof}#0").base_lr == 3e-4
  for suffix, match in (("#1", "holds 1 hall-of-fame entries; entry #1"), ("#x", "must be an entry number")):
    with pytest.raises(InputError, match=match):
      parse_row(f"genome:{hof}{suffix}")
  one = tmp_path / "one.json"
  one.write_text(json.dumps(graph.to_json(graph.known("lion"))))
  with pytest.raises(InputError, match="is not a hall of fame, so '#2' picks nothing"):
    parse_row(f"genome:{one}#2")
  one.write_text("{")
  with pytest.raises(InputError, match="cannot read the genome file"):
    parse_row(f"genome:{one}")
  hof.write_text(json.dumps({"hall_of_fame": [{"genome": graph.to_json(graph.known("lion")), "learning_rate": "x"}]}))
  with pytest.raises(InputError, match="entry #0's learning_rate must be a positive number"):
    parse_row(f"genome:{hof}")


def test_data_dir_is_recorded_for_reproduce(tmp_path):
  import argparse  # pylint: disable=import-outside-toplevel

  from optix_evo.bench import cli as bench_cli  # pylint: disable=import-outside-toplevel
  from optix_evo.cli import build_parser  # pylint: disable=import-outside-toplevel
  from optix_evo.runs.manifest import command_argv  # pylint: disable=import-outside-toplevel

  args = build_parser().parse_args(["bench", "--optimizers", "adam, ,sgd", "--tasks", "iris_mlp", "--seeds", "3",
                                    "--main-only", "--data-dir", str(tmp_path), "--out", "o"])
  config = bench_cli.resolve_config(args)
  assert config.data_dir == str(tmp_path) and config.studies[0].rows == ("adam", "sgd")
  assert config.studies[0].seeds == 3 and len(config.studies) == 1
  assert command_argv("bench", args, args.parser) == [
      "bench", "--optimizers=adam, ,sgd", "--tasks=iris_mlp", "--seeds=3", f"--data-dir={tmp_path}", "--main-only",
      "--out=o"]
  for grid in ("0,1", "a", "1,inf", ","):
    with pytest.raises(InputError, match="--lr-grid"):
      bench_cli.resolve_config(argparse.Namespace(**{**vars(args), "lr_grid": grid}))
