"""``optix-evo aldvi`` on a CSV column: missing values, bad sizes, results folders and their manifest."""

import numpy as np
import pytest

from optix_evo import cli
from optix_evo.data.timeseries import synthetic_series

SMALL = ["--strategies", "aldvi_phased", "--modes", "sequential", "--seeds", "2", "--lags", "4", "--train-size", "32",
         "--test-size", "16", "--epochs", "2", "--batch-size", "16"]


def _csv(path, values, bad=()):
  """A CSV of ``values`` with the rows in ``bad`` (index -> text) replaced."""
  rows = [bad.get(i, str(v)) for i, v in enumerate(values)] if bad else [str(v) for v in values]
  path.write_text("t,value\n" + "".join(f"{i},{v}\n" for i, v in enumerate(rows)))
  return path


def test_aldvi_command_on_a_csv_column_with_dropna(tmp_path, capsys):
  path = _csv(tmp_path / "series.csv", synthetic_series("ar2", 122), bad={5: "nan", 50: "inf", 51: ""})
  assert cli.main(["aldvi", "--csv", str(path), "--column", "value", "--dropna", *SMALL]) == 0
  out = capsys.readouterr().out
  assert "dropped 3 row(s)" in out and "(lines 7, 52, 53)" in out and "119 points" in out
  row = [line for line in out.splitlines() if line.startswith("| aldvi_phased")]
  assert len(row) == 1 and np.isfinite(float(row[0].split("|")[3].split("±")[0]))


def test_non_finite_csv_values_are_refused_naming_the_lines(tmp_path, one_error_line):
  path = _csv(tmp_path / "series.csv", np.arange(100.0), bad={3: "NaN", 9: "-inf", 10: "1e39"})
  assert cli.main(["aldvi", "--csv", str(path), "--column", "value", *SMALL]) == 2
  one_error_line("aldvi", "3 missing or non-finite value(s) (line(s) 5, 11, 12)", "--dropna")
  path = _csv(tmp_path / "all_bad.csv", [1.0, 2.0], bad={0: "nan", 1: "nan"})
  assert cli.main(["aldvi", "--csv", str(path), "--column", "1", "--dropna", *SMALL]) == 2
  one_error_line("aldvi", "holds no values (all 2 rows with a value were dropped)")


def test_aldvi_command_rejects_bad_input_with_one_line(tmp_path, capsys, one_error_line):
  assert cli.main(["aldvi", "--csv", str(tmp_path / "x.csv")]) == 2
  one_error_line("aldvi", "--csv needs --column")
  assert cli.main(["aldvi", "--csv", str(tmp_path / "missing.csv"), "--column", "close"]) == 2
  one_error_line("aldvi", "cannot read the CSV file", "missing.csv: No such file or directory")
  assert cli.main(["aldvi", "--csv", str(tmp_path), "--column", "close"]) == 2  # a folder
  one_error_line("aldvi", "cannot read the CSV file")
  assert cli.main(["aldvi", "--length", "20", "--lags", "16", *SMALL[:4]]) == 2  # the "-6 examples" case
  err = one_error_line("aldvi", "a series of 20 points is too short for lags=16 + train_size=256 + test_size=64",
                       "smaller --lags, --train-size")
  assert "--debug" not in err  # refused as input at the front door, not a ValueError from the evaluator
  assert cli.main(["aldvi", "--dropna"]) == 2
  one_error_line("aldvi", "apply to --csv files only")
  for bad in (["--seeds", "0"], ["--epochs", "-1"], ["--lr", "nan"], ["--strategies", "adam"], ["--lags", "x"]):
    with pytest.raises(SystemExit) as e:  # argparse: usage line and one error line, exit 2
      cli.main(["aldvi", *bad])
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith("optix-evo aldvi: error: argument ")


def test_aldvi_out_folder_holds_a_manifest_that_reproduces(tmp_path, one_error_line):
  from optix_evo.runs import read_manifest, reproduce  # pylint: disable=import-outside-toplevel

  out = tmp_path / "run"
  argv = ["aldvi", "--length", "200", "--strategies", "aldvi_trend", "--modes", "sequential", "--seeds", "2",
          "--lags", "4", "--train-size", "64", "--test-size", "16", "--epochs", "2", "--batch-size", "16",
          "--out", str(out)]
  assert cli.main(argv) == 0
  manifest = read_manifest(out)
  parse = lambda a: {k: v for k, v in vars(cli.build_parser().parse_args(a)).items() if k not in ("func", "parser")}
  assert parse(manifest["argv"]) == parse(argv) and (out / "results.md").exists()  # the same run, every value named
  assert set(manifest["headline"]) == {"aldvi_trend/sequential/relative_mse"}
  assert reproduce(out).ok
  # The folder now holds results: a second run into it is refused, before any training.
  before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
  assert cli.main(argv) == 2
  one_error_line("aldvi", f"--out {out} already holds files", "--force")
  assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
  assert cli.main(argv[:-2] + ["--out", str(out / "results.md")]) == 2
  one_error_line("aldvi", "is a file, not a folder")
