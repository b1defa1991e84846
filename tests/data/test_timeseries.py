"""Synthetic series, CSV column loader, lagged windows and rolling-origin splits."""

import numpy as np
import pytest

from optix_evo.data import timeseries as ts
from optix_evo.errors import InputError


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
  path.write_text("close\n1\nabc\n")
  with pytest.raises(InputError, match=":3: value 'abc' of column 'close' is not a number"):
    ts.load_csv_column(path, "close")


def test_missing_and_non_finite_values_are_refused_or_dropped(tmp_path):
  path = tmp_path / "s.csv"
  path.write_bytes("\ufeffclose,x\n1,a\n n/a ,b\n2,c\nnan,d\n-inf,e\n1e39,f\n,g\n3,h\n".encode())  # BOM: Excel
  with pytest.raises(InputError, match=r"5 missing or non-finite value\(s\) \(line\(s\) 3, 5, 6, 7, 8\); drop"):
    ts.load_csv_column(path, "close")
  got = ts.read_csv_series(path, "close", dropna=True)
  np.testing.assert_array_equal(got.values, np.float32([1, 2, 3]))
  assert got.dropped == (3, 5, 6, 7, 8)
  path.write_text("v\n" + "nan\n" * 12)
  with pytest.raises(InputError, match=r"line\(s\) 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 2 more"):
    ts.load_csv_column(path, 0)


@pytest.mark.parametrize("content, match", [
    (b"", "is empty"), (b"a\n1,\xff\n", "not a UTF-8 text file"), (b"a,b\n1\n", ":2: no column 'b'"),
    (b'a\n"' + b"x" * 200_000 + b'"\n', "not a readable CSV file"), (b"a\n", "holds no values"),
])
def test_unreadable_files_are_input_errors(tmp_path, content, match):
  (tmp_path / "s.csv").write_bytes(content)
  with pytest.raises(InputError, match=match):
    ts.load_csv_column(tmp_path / "s.csv", "b" if b"a,b" in content else "a")
  with pytest.raises(InputError, match="cannot read the CSV file"):
    ts.load_csv_column(tmp_path / "missing.csv", "a")


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
  with pytest.raises(InputError, match="^50 examples leave no window"):
    ts.walk_forward_splits(50, train_size=40, test_size=15)
  with pytest.raises(InputError, match="^there are no examples, so there is no window of train_size=40"):
    ts.walk_forward_splits(-6, train_size=40, test_size=15)
