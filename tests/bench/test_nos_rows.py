"""Bench rows of the seeds' systems: NOS schedules on zoo optimizers, known NOS genomes trained as the authors train
them, genome files of any space, phased ALDVI, and the full preset's studies."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optix_evo as ox
import optix_evo.graph as G
from optix_evo.bench import core, report
from optix_evo.bench.rows import Schedule, check_buildable, parse_row
from optix_evo.bench.runner import Grid, run_cell
from optix_evo.tasks import get_task

PARAMS = {"w": jnp.linspace(-1.0, 1.0, 4)}
STEPS = 12


def _updates(opt):
  """Updates of ``STEPS`` steps with the gradient g = w (a quadratic), in one jitted scan."""
  def step(carry, _):
    params, state = carry
    u, state = opt.update(params, state, params)
    return (jax.tree.map(jnp.add, params, u), state), u["w"]
  return np.asarray(jax.jit(lambda: jax.lax.scan(step, (PARAMS, opt.init(PARAMS)), None, length=STEPS)[1])())


def test_schedule_rows_train_under_the_nos_schedules():
  for k in (0, 3, 8):
    row = parse_row(f"schedule:nos_lr{k}:sgd@learning_rate=0.2")
    assert row.label == f"schedule:nos_lr{k}:sgd@learning_rate=0.2" and row.base_lr == 0.2
    ours = _updates(row.build({"lr": jnp.asarray(0.5)}, Schedule(4, STEPS)))
    expected = _updates(ox.get_optimizer("sgd", learning_rate=ox.nos_schedule(k, 0.1, STEPS)))
    np.testing.assert_allclose(ours, expected, rtol=1e-6)
  base = _updates(parse_row("schedule:warmup_hold_cosine:sgd@learning_rate=0.1").build({}, Schedule(4, STEPS)))
  np.testing.assert_allclose(base, _updates(ox.get_optimizer("sgd", learning_rate=ox.warmup_hold_cosine_schedule(
      0.1, STEPS))), rtol=1e-6)
  with pytest.raises(ValueError, match="warmup_hold_cosine, nos_lr0"):
    parse_row("schedule:cosine:adam")
  with pytest.raises(ValueError, match="SCHEDULE:OPTIMIZER"):
    parse_row("schedule:nos_lr3")


def test_known_genome_rows_train_as_the_authors():
  row = parse_row("genome:known:nos_opt9@learning_rate=0.05")
  ours = _updates(row.build({"lr": jnp.asarray(2.0)}, Schedule(4, STEPS)))
  ref = _updates(G.interpret(G.known("nos_opt9"), **G.known_defaults("nos_opt9", 0.1, STEPS)))
  np.testing.assert_allclose(ours, ref, rtol=1e-6)
  plain = _updates(G.interpret(G.known("nos_opt9"), 0.1, total_steps=STEPS))  # constant LR, momentum 0.9
  assert not np.allclose(ours, plain)
  off = parse_row("genome:known:nos_opt4@use_decay=false@variant=1").build({}, Schedule(4, STEPS))
  np.testing.assert_allclose(_updates(off), _updates(G.interpret(G.known("nos_opt4", use_decay=False, variant=1),
                                                                 **G.known_defaults("nos_opt4", 1e-3, STEPS))))
  with pytest.raises(ValueError, match="variant"):
    parse_row("genome:known:nos_opt9@variant=1")


def test_genome_files_of_either_space(tmp_path):
  genome = G.random_genome(4, G.NOS_SPEC)
  path = tmp_path / "nos.json"
  path.write_text(json.dumps(G.to_json(genome, G.NOS_SPEC)))
  row = parse_row(f"genome:{path}@learning_rate=0.1")
  ours = _updates(row.build({}, Schedule(4, STEPS)))
  np.testing.assert_allclose(ours, _updates(G.interpret(genome, 0.1, spec=G.NOS_SPEC, total_steps=STEPS)), rtol=1e-6)
  with pytest.raises(ValueError, match="only apply to known genomes"):
    parse_row(f"genome:{path}@use_decay=false")


def test_phased_aldvi_row_spans_the_run():
  row = parse_row("aldvi:adam@rule=phased")
  check_buildable(row, {"lr": (1.0,)})
  opt = row.build({"lr": jnp.asarray(1.0)}, Schedule(5, 40))  # 8 epochs
  assert opt.init(PARAMS) is not None


def test_full_preset_holds_the_seeds_systems_and_the_schedule_study():
  full = core.preset("full")
  studies = {s.name: s for s in full.studies}
  assert set(core.SEED_SYSTEMS) <= set(studies["lr"].rows)
  assert {"looksam:adam", "aldvi:adam@rule=paper", "aldvi:adam@rule=trend", "aldvi:adam@rule=phased"} <= set(
      studies["lr"].rows)
  assert len(studies["schedules"].rows) == 20 and "schedule:nos_lr8:momentum" in studies["schedules"].rows
  for study in (studies["lr"], studies["schedules"]):
    grid = Grid({k: tuple(v) for k, v in study.axes.items()})
    for spec in study.rows:
      if ":" in spec:  # the zoo rows are checked by test_bench
        check_buildable(parse_row(spec), grid.arrays())


def test_schedule_study_table():
  problem = get_task("iris_dnm", steps=6)
  cells = [run_cell(parse_row(spec), problem, Grid({"lr": (1.0,)}), [0], curve_points=3)
           for spec in ("schedule:warmup_hold_cosine:adam", "schedule:nos_lr3:adam")]
  assert all(c.compiles == 1 and np.isfinite(c.test).all() for c in cells)
  text = report.markdown_summary([("schedules", c) for c in cells], title="t")
  assert "## Schedule transfer" in text and "| nos_lr3 | " in text and "adam · iris_dnm" in text
