"""Seed-variability statistics, table and plot."""

import numpy as np
import pytest

import optix_evo as ox


def test_statistics_and_divergence():
  stats = ox.seed_variability(
      {"adam": np.array([0.9, 0.92, 0.94]), "sgd": [0.8, np.nan, 0.85, np.inf], "one": [0.5], "dead": [np.nan]}
  )
  a = stats["adam"]
  np.testing.assert_allclose([a.mean, a.std, a.min, a.max, a.range], [0.92, 0.02, 0.9, 0.94, 0.04], atol=1e-12)
  assert (a.n, a.diverged) == (3, 0)
  assert (stats["sgd"].n, stats["sgd"].diverged) == (2, 2) and stats["sgd"].mean == pytest.approx(0.825)
  assert stats["one"].std == 0.0 and stats["one"].range == 0.0
  assert stats["dead"].diverged == 1 and np.isnan(stats["dead"].mean)
  assert list(stats) == ["adam", "sgd", "one", "dead"]


def test_table_and_plot(tmp_path):
  results = {"adam": [0.9, 0.92, 0.94], "sgd": [0.8, float("nan"), 0.85]}
  table = ox.seed_variability_table(ox.seed_variability(results), metric="test accuracy", digits=3)
  assert "| adam | 0.920 ± 0.020 | 0.040 | 0.900 – 0.940 | 3 | 0 |" in table
  assert "| sgd |" in table and table.splitlines()[-1].endswith("| 3 | 1 |")
  path = ox.plot_seed_variability(results, tmp_path / "seeds.png", metric="test accuracy")
  assert path.read_bytes()[:4] == b"\x89PNG"


def test_bad_input():
  with pytest.raises(ValueError, match="empty"):
    ox.seed_variability({})
  with pytest.raises(ValueError, match="no runs"):
    ox.seed_variability({"adam": []})
