"""Every optimizer of the registry is a row of ``bench``, a baseline of the search and an entry of ``optix-evo zoo``,
each checked through that command's own code: a couple of training steps on a tiny task, finite and moving."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optix_evo as ox
from optix_evo import cli
from optix_evo.bench.rows import check_buildable, parse_row
from optix_evo.bench.runner import make_train_fn
from optix_evo.search import BASELINES, preset, zoo_optimizer
from optix_evo.search.evaluate import LearningRate
from optix_evo.tasks import get_task
from optix_evo.training import step_extra_args

NAMES = sorted(ox.OPTIMIZERS)


def _one_program(fn):
  """``fn(name)`` for every name of the registry, traced into one compiled program; returns ``name -> result``,
  which raises the name's own error where tracing it raised (so only that name's test fails)."""
  errors = {}

  def every_name():
    out = {}
    for name in NAMES:
      try:
        out[name] = fn(name)
      except Exception as e:  # pylint: disable=broad-exception-caught
        errors[name] = e
    return out

  results = jax.jit(every_name)()

  def get(name):
    if name in errors:
      raise errors[name]
    return results[name]

  return get


@pytest.fixture(scope="module")
def bench_rows():
  """Per optimizer, the bench's training of its row (``make_train_fn``: what ``run_cell`` vmaps) for 2 steps on the
  dendritic iris model at the row's reference rate: one program for the whole registry (compiled once)."""
  task = get_task("iris_dnm", steps=2)
  trains = {name: make_train_fn(parse_row(name), task, curve_points=1) for name in NAMES}
  return _one_program(lambda name: trains[name]({"lr": 1.0}, jax.random.key(0)))


@pytest.mark.parametrize("name", NAMES)
def test_every_zoo_optimizer_is_a_bench_row(name, bench_rows):
  row = parse_row(name)
  assert row.label == name and row.base_lr == ox.OPTIMIZERS[name].defaults.get("learning_rate", 1e-3)
  check_buildable(row, {"lr": (0.5, 1.0)})  # the bench's front door: built and stepped with its grid
  valid, test, final_loss, curve = bench_rows(name)
  assert np.isfinite([valid, test, final_loss]).all() and curve.shape == (1,), name


PARAMS = {"w": jnp.linspace(-1.0, 1.0, 12).reshape(4, 3), "b": jnp.linspace(0.5, -0.5, 3)}  # a matrix (Muon's) + a vector


def _loss(params):
  return jnp.sum(jnp.tanh(jnp.ones(4) @ params["w"] + params["b"]) ** 2) + 0.5 * jnp.sum(params["w"] ** 2)


@pytest.fixture(scope="module")
def baseline_steps():
  """Per optimizer, 4 steps of the search's zoo baseline (:func:`zoo_optimizer`, with the extra arguments the search's
  training step passes) under a warmup schedule whose first rate is 0, as the search's is: one program for all."""
  table = jnp.array([0.0, 0.5, 1.0, 0.5]) * 0.1

  def run(name):
    opt = zoo_optimizer(name)(None, LearningRate(table), None, None)

    def step(carry, _):
      params, state = carry
      loss, grads = jax.value_and_grad(_loss)(params)
      updates, state = opt.update(grads, state, params, **step_extra_args(_loss, loss, {"accuracy": loss}))
      return (optax.apply_updates(params, updates), state), None

    return jax.lax.scan(step, (PARAMS, opt.init(PARAMS)), None, length=4)[0][0]

  return _one_program(run)


@pytest.mark.parametrize("name", NAMES)
def test_every_zoo_optimizer_is_a_search_baseline(name, baseline_steps):
  baseline = f"zoo:{name}" if name in BASELINES else name  # adam, adamw, sgd alone name the genome baselines
  assert preset("quick", baselines=(baseline,)).baselines == (baseline,)
  params = baseline_steps(name)
  assert all(np.isfinite(v).all() for v in jax.tree.leaves(params)), name
  assert not np.array_equal(params["w"], PARAMS["w"]), name  # it trained


def _zoo_table(capsys, names):
  assert cli.main(["zoo", "--task", "iris", "--optimizers", ",".join(names), "--seeds", "1", "--steps", "2",
                   "--batch-size", "16"]) == 0
  rows = [re.match(r"\| (\w+) \| ([\d.]+) ± ", line) for line in capsys.readouterr().out.splitlines()[2:]]
  assert all(rows)
  return sorted(r.group(1) for r in rows)


def test_modern_optax_optimizers_are_entries_of_the_zoo_command(capsys):
  names = ["prodigy"]
  assert _zoo_table(capsys, names) == names


@pytest.mark.slow
def test_every_zoo_optimizer_is_an_entry_of_the_zoo_command(capsys):
  assert _zoo_table(capsys, NAMES) == NAMES
