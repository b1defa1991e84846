"""Zoo optimizers as baselines of the search's final comparison: names are validated before anything compiles; a zoo
baseline is trained with the same seeds, data orders and learning-rate grid as the found optimizers (its scores are
those of training it directly with those seeds), and its comparison row is found − baseline."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optix_evo as ox
from optix_evo import graph
from optix_evo.cli import main
from optix_evo.errors import InputError
from optix_evo.search import Budget, Evaluator, Search, Stage, baseline_optimizer, preset, seed_keys, zoo_optimizer
from optix_evo.search.evaluate import plain_genome, schedule_tables, train_run

CONFIG = preset("quick", task="iris_mlp", surrogate_steps=12, probe_steps=4, stages=(Stage(12, seeds=1, keep=1),),
                finalists=1, final_steps=12, final_seeds=2, final_lr_grid=(0.02,), holdout_tasks=(),
                baselines=("adam", "prodigy"), references=("nos_opt9",), seed=4)


def test_unknown_baselines_are_refused_in_one_line_that_lists_the_valid_names():
  with pytest.raises(InputError) as error:
    preset("quick", baselines=("adam", "prodigyy"))
  message = str(error.value)
  assert "\n" not in message and "'prodigyy'" in message
  for name in ("adam, adamw, sgd", "prodigy", "muon", "schedule_free_adamw", "zoo:NAME"):
    assert name in message, message
  with pytest.raises(InputError, match="'zoo:nope'"):
    preset("quick", baselines=("zoo:nope",))
  with pytest.raises(InputError, match="twice"):
    preset("quick", baselines=("prodigy", "prodigy"))
  assert preset("quick", baselines=("adam", "zoo:adam", "prodigy", "muon")).baselines[-1] == "muon"


def test_genome_names_stay_genomes_and_zoo_names_pick_the_zoo():
  assert [baseline_optimizer(n) for n in ("adam", "adamw", "sgd")] == [None, None, None]  # the interpreter, as before
  assert [baseline_optimizer(n) for n in ("zoo:adam", "zoo:sgd", "prodigy", "adopt")] == ["adam", "sgd", "prodigy",
                                                                                         "adopt"]


def test_the_command_lines_refuse_an_unknown_baseline_before_compiling(tmp_path, monkeypatch, one_error_line):
  import optix_evo.search.driver as driver  # pylint: disable=import-outside-toplevel
  import optix_evo.search.transfer as transfer  # pylint: disable=import-outside-toplevel

  ran = lambda *a, **k: (_ for _ in ()).throw(AssertionError("started before the input was validated"))  # noqa: E731
  monkeypatch.setattr(driver, "Search", ran)
  monkeypatch.setattr(transfer, "transfer", ran)
  out = tmp_path / "run"
  assert main(["search", "--quiet", "--task", "digits_mlp", "--set", "holdout_tasks=iris_mlp", "--set",
               "baselines=adam,prodigyy", "--out", str(out)]) == 2
  one_error_line("search", "Unknown baseline 'prodigyy'", "prodigy")
  assert main(["transfer", "--tasks", "iris_mlp", "--baselines", "adam,prodigyy", "--out", str(out)]) == 2
  one_error_line("transfer", "Unknown baseline 'prodigyy'", "prodigy")
  assert not out.exists()


@pytest.fixture(scope="module")
def compared():
  """The tiny search's final comparison on iris (12 steps, 2 seeds, one rate) with one planted finalist (SGD's
  genome) against the genome baseline Adam, the zoo baseline Prodigy and the reference nos_opt9."""
  search = Search(CONFIG)
  record = search.describe(graph.known("sgd", search.space), fitness=0.5, generation=0)
  search.state = dataclasses.replace(search.state, archive=(record,), stages=({"survivors": [0]},), phase="final")
  final = search.compare()
  return search, final


def test_a_zoo_baseline_is_a_comparison_row_of_found_minus_baseline(compared):
  _, final = compared
  names = [p["name"] for p in final["participants"]]
  assert names == ["found #1", "adam", "prodigy", "nos_opt9"]
  assert final["participants"][1] == {"name": "adam", "kind": "baseline", "known": "adam"}
  assert final["participants"][2] == {"name": "prodigy", "kind": "baseline", "zoo": "prodigy"}
  table = final["tasks"]["iris_mlp"]
  test = np.asarray(table["test"], float)
  assert np.isfinite(test).all() and not np.array_equal(test[0], test[2])
  rows = {c["baseline"]: c for c in table["comparisons"]}
  assert set(rows) == {"adam", "prodigy"}
  for j, name in ((1, "adam"), (2, "prodigy")):
    assert rows[name]["found"] == "found #1"
    assert rows[name]["difference"]["estimate"] == pytest.approx(np.mean(test[0] - test[j]))
  assert final["holm"] == []  # no held-out task here; test_phases checks a zoo baseline's Holm line


def test_the_zoo_baseline_scores_are_those_of_training_it_directly_with_the_same_seeds(compared):
  search, final = compared
  table = final["tasks"]["iris_mlp"]
  steps, seeds = CONFIG.final_steps, CONFIG.final_seeds
  budget = Budget(steps, steps, steps // 15, max(steps // CONFIG.epochs, 1), hold=2 * steps // 15)
  keys = seed_keys(CONFIG.seed * 1000 + 500, seeds)  # the comparison's seeds for its first task
  lrs = np.full(seeds, CONFIG.final_lr_grid[0])

  def prodigy(genome, learning_rate, momentum, factors):  # Prodigy at the peak rate, scaled by the schedule
    del genome, momentum, factors
    return optax.chain(ox.prodigy(learning_rate=learning_rate.peak),
                       optax.scale_by_schedule(lambda t: learning_rate(t) / learning_rate.peak))

  direct = Evaluator(search.task("iris_mlp"), max_steps=CONFIG.max_steps, batch=seeds, make_optimizer=prodigy)
  out = direct(graph.stack([plain_genome()] * seeds), keys, lrs, budget)
  np.testing.assert_array_equal(np.asarray(table["test"][2], np.float32), out.test)
  np.testing.assert_array_equal(np.asarray(table["valid"][2], np.float32), out.best_valid)
  # the genome rows are unchanged by the zoo row beside them: Adam's genome trained alone with the same seeds
  alone = search.evaluator("iris_mlp")(graph.stack([graph.known("adam")] * seeds), keys, lrs, budget)
  np.testing.assert_array_equal(np.asarray(table["test"][1], np.float32), alone.test)


@pytest.mark.parametrize("name", ["polyak_sgd", "momo"])
def test_the_search_step_hands_a_zoo_baseline_the_batch_loss(name):
  """Polyak-type steps read ``value=`` (the batch loss): the search's training step passes it, as ``fit`` does."""
  task = ox.tasks.get_task("iris_mlp")
  budget = Budget(*(np.asarray(v, np.int32) for v in (4, 4, 1, 2)))
  tables = schedule_tables(graph.stack([plain_genome()]), np.asarray([0.1], np.float32), budget, length=4,
                           spec=graph.DEFAULT_SPEC)
  data = {f"{part}_{field}": jnp.asarray(getattr(getattr(task, part), field)) for part in ("train", "valid", "test")
          for field in ("x", "y")}
  run = lambda: train_run(task, graph.DEFAULT_SPEC, "switch", plain_genome(), jax.random.PRNGKey(0),  # noqa: E731
                          jax.tree.map(lambda a: a[0], tables), budget, data, make_optimizer=zoo_optimizer(name))
  best, *_ = jax.eval_shape(run)
  assert best.shape == ()
