"""``optix-evo aldvi`` on a CSV column."""

import numpy as np
import pytest

from optix_evo import cli
from optix_evo.data.timeseries import synthetic_series


def test_aldvi_command_on_a_csv_column(tmp_path, capsys):
  path = tmp_path / "series.csv"
  values = synthetic_series("ar2", 120)
  path.write_text("t,value\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)))
  argv = ["aldvi", "--csv", str(path), "--column", "value", "--strategies", "aldvi_phased", "--modes", "sequential",
          "--seeds", "2", "--lags", "4", "--train-size", "32", "--test-size", "16", "--epochs", "2",
          "--batch-size", "16"]
  assert cli.main(argv) == 0
  row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| aldvi_phased")]
  assert len(row) == 1 and np.isfinite(float(row[0].split("|")[3].split("±")[0]))


def test_aldvi_command_rejects_bad_values(tmp_path, capsys):
  assert cli.main(["aldvi", "--csv", str(tmp_path / "x.csv")]) == 2
  assert "--csv needs --column" in capsys.readouterr().err
  with pytest.raises(SystemExit):
    cli.main(["aldvi", "--strategies", "adam"])


def test_aldvi_out_folder_holds_a_manifest_that_reproduces(tmp_path):
  from optix_evo.diagnostics import read_manifest, reproduce  # pylint: disable=import-outside-toplevel

  out = tmp_path / "run"
  argv = ["aldvi", "--length", "200", "--strategies", "aldvi_trend", "--modes", "sequential", "--seeds", "2",
          "--lags", "4", "--train-size", "64", "--test-size", "16", "--epochs", "2", "--batch-size", "16",
          "--out", str(out)]
  assert cli.main(argv) == 0
  manifest = read_manifest(out)
  assert manifest["argv"] == argv and (out / "results.md").exists()
  assert set(manifest["headline"]) == {"aldvi_trend/sequential/relative_mse"}
  assert reproduce(out).ok
