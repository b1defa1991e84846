"""The paper preset's protocol at a tiny scale (small ConvNets on 8×8 digits stand in for CIFAR-10): the NOS space,
a pool surrogate and an augmented evolution surrogate, the rejection thresholds and mutant retry."""

import functools

import pytest

from optix_evo import graph, models
from optix_evo.data import load_dataset
from optix_evo.errors import InputError
from optix_evo.search import PRESETS, Search, Stage, preset
from optix_evo.tasks import Task, augment_images

SPLIT = load_dataset("digits_image", seed=0)
POOL = Task.from_model("pool_cnn", models.NOSConvNet(base=4, outputs=10), SPLIT, batch_size=32, vmap=False)
EVOLUTION = Task.from_model("evolution_cnn", models.NOSConvNet(base=6, outputs=10), SPLIT, batch_size=32, vmap=False,
                            augment=functools.partial(augment_images, pad=1, cutout=2))
TINY = dict(task=EVOLUTION, pool_task=POOL, particles=2, steps=1, mutants=2, pool_factor=2, surrogate_steps=20,
            pool_surrogate_steps=10, epochs=2, probe_steps=4, lr_grid=(0.1, 0.01), elimination_candidates=2,
            stages=(Stage(20, seeds=1, keep=1),), finalists=1, final_steps=20, final_seeds=2, final_lr_grid=(0.1,),
            holdout_tasks=("iris_mlp",), baselines=("adam",), references=("nos_opt9",))


def test_the_paper_preset_is_the_papers_protocol():
  paper = PRESETS["paper"]
  assert paper.space == "nos" and graph.get_space("nos").num_operands == 20
  assert (paper.particles, paper.steps, paper.mutants, paper.pool_factor) == (50, 5, 7, 10)
  assert (paper.pool_surrogate_steps, paper.surrogate_steps, paper.probe_steps, paper.epochs) == (8000, 16000, 800, 40)
  assert paper.lr_grid == (10.0, 1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5)
  assert (paper.probe_min_accuracy, paper.probe_check_after, paper.best_probe_min_accuracy) == (0.25, 2, 0.40)
  assert (paper.run_min_accuracy, paper.run_check_after, paper.mutant_tries) == (0.40, 4, 4)
  assert paper.task == "cifar10_cnn48_aug" and paper.pool_task == "cifar10_cnn"
  for pool in (True, False):  # the authors' reading of the probes and of stopped runs (tests/search/test_authors_*)
    protocol = paper.surrogate(pool=pool)
    assert protocol.rules == "nos" and protocol.probe_first == (10.0, 1e-2, 1e-5)
    assert protocol.probe_first_min_accuracy == 0.25 and protocol.probe_order() == (0, 3, 6, 1, 2, 4, 5)
  assert graph.get_space(paper.space).rules == "nos"  # mutation and integrity as the authors' code
  quick = PRESETS["quick"].surrogate(pool=False)
  assert quick.rules == "library" and quick.probe_first == () and graph.get_space(PRESETS["quick"].space).rules == (
      "library")


def test_paper_protocol_end_to_end_at_a_tiny_scale():
  config = preset("paper", **TINY, probe_min_accuracy=0.0, best_probe_min_accuracy=0.0, run_min_accuracy=0.0)
  search = Search(config)
  result = search.run()
  archive = search.state.archive
  assert {r["task"] for r in archive if r["generation"] == 0} == {"pool_cnn"}  # the pool surrogate
  assert {r["task"] for r in archive if r["generation"] == 1} == {"evolution_cnn"}  # the augmented one
  assert all(r["genome"]["space"] == "nos" for r in archive)
  nos = graph.get_space("nos")
  for rec in result.hall_of_fame:  # genomes of the paper's space, evaluated in the extended one
    graph.validate_genome(graph.from_json(rec["genome"], nos), nos)
  assert set(result.final["tasks"]) == {"evolution_cnn", "iris_mlp"}


def test_rejection_thresholds_and_mutant_retry():
  config = preset("paper", **TINY, probe_min_accuracy=0.99, probe_check_after=0, best_probe_min_accuracy=0.99)
  search = Search(config)
  with search._running():  # pylint: disable=protected-access
    search.generation()
    search.generation()
  archive = search.state.archive
  assert all(r["rejected"] for r in archive)
  # the authors' pool ranks a rejected member at 0 (L1504-1509); later rejections score -1
  assert all(r["fitness"] == (0.0 if r["generation"] == 0 else -1.0) for r in archive)
  assert [r["attempts"] for r in archive if r["generation"] == 0] == [1] * 4  # the pool is not retried
  assert [r["attempts"] for r in archive if r["generation"] == 1 and r["role"] == "candidate"] == [
      config.mutant_tries] * 4  # mutants are
  with pytest.raises(InputError, match="No candidate survived"):
    search.eliminate()


def test_a_stopped_full_run_keeps_its_fitness_and_is_not_retried():
  """The authors' fitness function returns the best validation accuracy of a full run that the accuracy callback
  stopped (L1570-1575); only the probe stage's None makes the search re-mutate (REDO, L1693-1708)."""
  config = preset("paper", **TINY, probe_min_accuracy=0.0, best_probe_min_accuracy=0.0, run_min_accuracy=0.99,
                  run_check_after=0)
  search = Search(config)
  with search._running():  # pylint: disable=protected-access
    search.generation()
    search.generation()
  archive = [r for r in search.state.archive if r.get("role") != "particle"]  # the candidates, not the re-scores
  assert not any(r["rejected"] for r in archive) and all(0 <= r["fitness"] <= 1 for r in archive)
  assert [r["attempts"] for r in archive if r["generation"] == 1] == [1] * 4  # no retry
