"""Fuzz of the front doors: random and mutated CSV files, ``--set KEY=VALUE`` settings and bench row specs.

Each input must either work or be refused with the library's :class:`~optix_evo.errors.InputError` (at the command
line: exit code 2 and one line on stderr); an uncaught exception or a silently ignored value fails the test. The
default suite runs a small, derandomised budget with no JAX compilation in the loop; ``-m slow`` a large random one.
"""

import ast
import contextlib
import dataclasses
import io
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optix_evo.schedules.cli as aldvi_cli
from optix_evo import cli
from optix_evo.data.timeseries import read_csv_series
from optix_evo.errors import InputError

SMALL = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LARGE = settings(max_examples=2000, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Reached(Exception):
  """Raised where the command would start its real work: the input got through every check."""


def _run_cli(argv, stub_target, stub_name):
  """``main(argv)`` with ``stub_target.stub_name`` (the work) replaced by :class:`Reached`.

  Returns ``("worked", arguments the work got)`` or ``("refused", stderr)``; anything else propagates.
  """
  def reached(*args, **kwargs):
    raise Reached(args, kwargs)

  err = io.StringIO()
  with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
    mp.setattr(stub_target, stub_name, reached)
    try:
      code = cli.main(argv)
    except Reached as e:
      return "worked", e.args
    except SystemExit as e:  # argparse: a usage line and one error line, exit 2
      assert e.code == 2, argv
      assert err.getvalue().splitlines()[-1].startswith(f"optix-evo {argv[0]}: error: argument "), err.getvalue()
      return "refused", err.getvalue()
  assert code == 2, (argv, code, err.getvalue())
  assert err.getvalue().count("\n") == 1 and err.getvalue().startswith(f"optix-evo {argv[0]}: error: "), err.getvalue()
  return "refused", err.getvalue()


# --- CSV files ---

_FIELDS = ["1", "2.5", "-3e2", "", " ", "nan", "NaN", "-nan", "inf", "-Infinity", "1e39", "-1e999", "abc", "N/A",
           "null", "None", "1_0", " 4 ", '"5"', '"6,5"', "0x10", "é", "\x00", "1e-50", "﻿7", '"', "8\r9"]
_NAMES = ["close", "value", "t", "", "Close", "é"]


@st.composite
def csv_files(draw):
  """CSV-like bytes: a header and rows of tricky fields, then random byte edits (or plain random bytes)."""
  if draw(st.booleans()):
    sep = draw(st.sampled_from([",", ";", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    width = draw(st.integers(1, 4))
    header = [draw(st.sampled_from(_NAMES)) for _ in range(width)]
    rows = draw(st.lists(st.lists(st.sampled_from(_FIELDS), min_size=0, max_size=width + 1), max_size=12))
    text = newline.join(sep.join(r) for r in [header, *rows]) + draw(st.sampled_from(["", newline]))
    data = bytearray(text.encode("utf-8"))
    for _ in range(draw(st.integers(0, 3))):  # mutations: flip, insert or delete a byte
      if not data:
        break
      i = draw(st.integers(0, len(data) - 1))
      op = draw(st.sampled_from(["flip", "insert", "delete"]))
      if op == "flip":
        data[i] ^= draw(st.integers(1, 255))
      elif op == "insert":
        data.insert(i, draw(st.integers(0, 255)))
      else:
        del data[i]
    return bytes(data)
  return draw(st.binary(max_size=200))


def _check_csv(data, column, dropna):
  with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "series.csv")
    with open(path, "wb") as f:
      f.write(data)
    try:
      got = read_csv_series(path, column, dropna=dropna)
    except InputError as e:
      assert "\n" not in str(e)
      return
    assert got.values.dtype == np.float32 and got.values.ndim == 1 and got.values.size >= 1
    assert np.isfinite(got.values).all()  # never a NaN or inf in a series that loaded
    assert dropna or not got.dropped  # rows are dropped only when asked
    # At the command line the same file reaches the evaluation, with the same series.
    sizes = ["--lags", "1", "--train-size", "1", "--test-size", "1", "--batch-size", "1"]  # 3 points make a window
    argv = ["aldvi", "--csv", path, "--column", str(column), "--seeds", "1", *sizes] + (["--dropna"] if dropna else [])
    outcome, detail = _run_cli(argv, aldvi_cli, "make_walk_forward")
    if got.values.size < 3:  # too short for one window: refused before the evaluator is built
      assert outcome == "refused" and "too short" in detail, detail
    else:
      assert outcome == "worked" and detail[1]["length"] == got.values.size, detail


@SMALL
@given(csv_files(), st.one_of(st.sampled_from(_NAMES), st.integers(0, 4)), st.booleans())
def test_csv_files_load_or_are_refused(data, column, dropna):
  _check_csv(data, column, dropna)


@pytest.mark.slow
@LARGE
@given(csv_files(), st.one_of(st.sampled_from(_NAMES), st.integers(0, 4)), st.booleans())
def test_csv_files_load_or_are_refused_large(data, column, dropna):
  _check_csv(data, column, dropna)


# --- search --set KEY=VALUE ---

def _search_fields():
  from optix_evo.search.config import SearchConfig  # pylint: disable=import-outside-toplevel
  return [f.name for f in dataclasses.fields(SearchConfig)]


_VALUES = ["0", "1", "-3", "8", "2**99", "3.5", "1e999", "nan", "None", "True", "(0.1, 0.01)", "[1, 2]", "()", "(1,)",
           "(0.0,)", "(-1.0, 0.1)", "abc", "'quick'", "map", "vmap", "auto", "digits_mlp", "mnist1d_mlp", "(", "",
           "{'steps': 40}", "({'steps': 40, 'seeds': 1, 'keep': 1},)", "({'steps': 'x', 'seeds': 1, 'keep': 1},)",
           "({'bogus': 1},)", "({'steps': 40, 'seeds': 1, 'keep': 1, 'tasks': ('nope',)},)", "(5,)", "[{}]", "{}",
           "({'steps': 0, 'seeds': 1, 'keep': 1},)", "({'steps': 40, 'seeds': 0, 'keep': 1},)", "'a' * 10"]


@st.composite
def set_items(draw):
  key = draw(st.one_of(st.sampled_from(_search_fields()), st.sampled_from(["bogus", "", " particles", "Seed"])))
  value = draw(st.one_of(st.sampled_from(_VALUES), st.text(max_size=12)))
  return f"{key}={value}" if draw(st.integers(0, 9)) else key + value


def _expected(config, item):
  """The value ``--set item`` must have put in ``config`` (no silent default), when it can be stated simply."""
  key, _, text = item.partition("=")
  key, text = key.strip(), text.strip()  # `--set " particles = 1"` is particles=1, as parse_set reads it
  if key in ("task", "space", "strategy", "population_loop", "normalise"):
    return getattr(config, key) == text
  if key in ("pool_task", "data_dir"):
    return getattr(config, key) == (None if text == "None" else text)
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):  # names without quotes: adam,sgd
    return getattr(config, key) == tuple(t.strip() for t in text.split(",") if t.strip())
  if key in ("lr_grid", "final_lr_grid"):
    values = value if isinstance(value, (list, tuple)) else [value]
    return tuple(getattr(config, key)) == tuple(float(v) for v in values)
  if key in ("holdout_tasks", "baselines", "references", "family"):
    return getattr(config, key) == ((value,) if isinstance(value, str) else tuple(value))
  if key == "stages":
    return len(config.stages) == len(value)
  return getattr(config, key) == value


def _check_set(items):
  import optix_evo.search.driver as search_driver  # pylint: disable=import-outside-toplevel

  with tempfile.TemporaryDirectory() as folder:
    argv = ["search", "--preset", "quick", "--quiet", "--out", os.path.join(folder, "run")]
    for item in items:
      argv += ["--set", item]
    outcome, detail = _run_cli(argv, search_driver, "Search")
  if outcome == "worked":
    config = detail[0][0]
    assert len({item.partition("=")[0].strip() for item in items}) == len(items)  # a repeated setting is refused
    for item in items:
      assert _expected(config, item), (item, config)


@SMALL
@given(st.lists(set_items(), min_size=1, max_size=3))
def test_search_settings_work_or_are_refused(items):
  _check_set(items)


@pytest.mark.slow
@LARGE
@given(st.lists(set_items(), min_size=1, max_size=4))
def test_search_settings_work_or_are_refused_large(items):
  _check_set(items)


# --- bench row specs ---

_HYPERPARAMETERS = ["b1", "b2", "rho", "weight_decay", "learning_rate", "eps", "k", "adaptive", "rule", "momentum",
                    "nesterov", "bogus", "lr", "alpha", "max_lr", ""]
_ROW_VALUES = ["0.1", "0", "-1", "1e999", "NaN", "abc", "true", "null", "[1]", "{}", "", "3", "trend", "0.9", "1e-8",
               '"x"', "[", "2**3"]


@st.composite
def row_specs(draw):
  kind = draw(st.sampled_from(["", "zoo:", "sam:", "asam:", "looksam:", "aldvi:", "genome:", "bogus:"]))
  if kind == "genome:":
    name = draw(st.sampled_from(["known:lion", "known:nope", "missing.json", "missing.json#x", "", "known:"]))
  else:
    name = draw(st.sampled_from(["adam", "sgd", "lion", "adamw", "nope", "", "ADAM"]))
  pairs = draw(st.lists(st.tuples(st.sampled_from(_HYPERPARAMETERS), st.sampled_from(_ROW_VALUES)), max_size=3))
  spec = kind + name + "".join(f"@{k}={v}" for k, v in pairs)
  if draw(st.integers(0, 9)) == 0:
    spec = spec.replace("=", "", 1)
  return spec


def _check_row(spec, grid):
  from optix_evo.bench.rows import check_buildable, parse_row  # pylint: disable=import-outside-toplevel
  from optix_evo.bench.runner import Grid  # pylint: disable=import-outside-toplevel

  try:
    check_buildable(parse_row(spec), Grid(grid).arrays())
  except InputError as e:
    assert "cannot take hyperparameters ['lr']" not in str(e)


_GRIDS = st.sampled_from([{"lr": (1.0,)}, {"lr": (0.3, 3.0)}, {"lr": (1.0,), "b1": (0.9,)},
                          {"lr": (1.0,), "rho": (0.1,)}])


@settings(SMALL, max_examples=25)
@given(row_specs(), _GRIDS)
def test_bench_row_specs_work_or_are_refused(spec, grid):
  _check_row(spec, grid)


@pytest.mark.slow
@settings(LARGE, max_examples=500)
@given(row_specs(), _GRIDS)
def test_bench_row_specs_work_or_are_refused_large(spec, grid):
  _check_row(spec, grid)


def test_a_bad_row_spec_at_the_command_line_is_one_line(tmp_path):
  import optix_evo.bench.core as core  # pylint: disable=import-outside-toplevel

  outcome, detail = _run_cli(["bench", "--out", str(tmp_path / "o"), "--optimizers", "sam:adam@rho=abc", "--tasks",
                              "iris_mlp", "--main-only", "--quiet"], core, "run_cell")
  assert outcome == "refused" and "rho='abc'" in detail


@pytest.mark.parametrize("argv, message", [
    (["--seed", "3", "--set", "seed=1"], "--seed 3 contradicts --set seed=1"),
    (["--task", "mnist1d_mlp", "--set", "task=digits_mlp"], "--task 'mnist1d_mlp' contradicts --set task='digits_mlp'"),
    (["--set", "particles=4", "--set", "particles=5"], "--set particles= is given twice"),
    (["--set", "stages=({'steps': 'x'},)"], "stage 1 field 'steps' must be an integer, got 'x'"),
    (["--set", "stages=({'steps': 9, 'bogus': 1},)"], "stage 1 has unknown field(s) ['bogus']"),
    (["--set", "lr_grid=(0.1, -1)"], "expected positive learning rates"),
    (["--set", "chunk_size=2.5"], "expected an integer"),
])
def test_search_settings_refused_at_the_command_line(tmp_path, argv, message):
  import optix_evo.search.driver as search_driver  # pylint: disable=import-outside-toplevel

  outcome, detail = _run_cli(["search", "--quiet", "--out", str(tmp_path / "o"), *argv], search_driver, "Search")
  assert outcome == "refused" and message in detail, detail


def test_search_flags_and_matching_settings_work(tmp_path):
  import optix_evo.search.driver as search_driver  # pylint: disable=import-outside-toplevel

  outcome, detail = _run_cli(["search", "--quiet", "--out", str(tmp_path / "o"), "--seed", "3", "--set", "seed=3",
                              "--set", "stages=({'steps': 9, 'keep': 2},)"], search_driver, "Search")
  config = detail[0][0]
  assert outcome == "worked" and config.seed == 3 and config.stages[0].keep == 2
