"""Synthetic series, CSV column loader, lagged windows and rolling-origin splits."""

import numpy as np
import pytest

from optix_evo.data import timeseries as ts


@pytest.mark.parametrize("name", sorted(ts.SERIES))
def test_synthetic_series_are_deterministic_finite_float32(name):
  a, b, c = (ts.synthetic_series(name, 600, seed=s) for s in (1, 1, 2))
  assert a.shape == (600,) and a.dtype == np.float32 and np.all(np.isfinite(a))
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)


def test_ar2_is_predictable_from_its_two_lags():
  x = ts.synthetic_series("ar2", 5000).astype(np.float64)
  design = np.stack([x[1:-1], x[:-2]], axis=1)
  coef, *_ = np.linalg.lstsq(design, x[2:], rcond=None)
  np.testing.assert_allclose(coef, [1.6, -0.8], atol=0.05)


def test_unknown_series_lists_known_names():
  with pytest.raises(ValueError, match="ar2, random_walk, regime_switch, sine_mix"):
    ts.synthetic_series("nope", 10)


def test_load_csv_column_by_name_and_index(tmp_path):
  path = tmp_path / "prices.csv"
  path.write_text("date,close,volume\n2024-01-01,1.5,10\n2024-01-02,2.5,11\n\n2024-01-03,-3,12\n")
  np.testing.assert_array_equal(ts.load_csv_column(path, "close"), np.float32([1.5, 2.5, -3]))
  np.testing.assert_array_equal(ts.load_csv_column(path, 2), np.float32([10, 11, 12]))  # header skipped
  with pytest.raises(ValueError, match="no column 'open'"):
    ts.load_csv_column(path, "open")
  path.write_text("close\n1\nn/a\n")
  with pytest.raises(ValueError, match=":3: value 'n/a'"):
    ts.load_csv_column(path, "close")


def test_lagged_windows_align_inputs_and_targets():
  data = ts.lagged_windows(np.arange(10.0), lags=3, horizon=2)
  assert data.x.shape == (6, 3) and data.y.shape == (6,)
  np.testing.assert_array_equal(data.x[0], [0, 1, 2])
  assert data.y[0] == 4 and data.y[-1] == 9
  with pytest.raises(ValueError, match="too short"):
    ts.lagged_windows(np.arange(3.0), lags=3)


@pytest.mark.parametrize("expanding", [False, True])
def test_walk_forward_splits_never_train_on_the_future(expanding):
  splits = ts.walk_forward_splits(100, train_size=40, test_size=15, step=10, expanding=expanding)
  assert [s.train_stop for s in splits] == [40, 50, 60, 70, 80]
  for s in splits:
    assert s.test_stop - s.train_stop == 15 and s.test_stop <= 100
    assert s.train_stop - s.train_start == (s.train_stop if expanding else 40)
  with pytest.raises(ValueError, match="leave no window"):
    ts.walk_forward_splits(50, train_size=40, test_size=15)
