"""Generation evaluation: one program for any population, sharding-invariant, divergence-isolated, multi-process."""

import os
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest

from optix_evo.search import Evaluator, Protocol, get_task, population_mesh
from optix_evo.search.evaluate import WORST, optax_builder

PROTOCOL = Protocol(steps=30, probe_steps=10, lr_grid=(0.3, 0.03))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def scaled_sgd(scale, schedule, protocol):
  """A toy population: SGD whose learning rate is multiplied by the candidate (a scalar)."""
  del protocol
  return optax.sgd(lambda t: schedule(t) * scale)


def _keys(n, seed=0):
  return np.stack([np.asarray(jax.random.fold_in(jax.random.PRNGKey(seed), i)) for i in range(n)])


SCALES = np.array([1.0, 0.5, 2.0, 0.1, 1.5], np.float32)


@pytest.fixture(scope="module")
def task():
  return get_task("digits_mlp")


@pytest.fixture(scope="module")
def many(task):
  return Evaluator(task, scaled_sgd, PROTOCOL, batch=8, chunk_size=2)  # all 8 fake devices (conftest), 2 chunks


@pytest.fixture(scope="module")
def one_device_scores(task):
  return Evaluator(task, scaled_sgd, PROTOCOL, batch=5, mesh=population_mesh(jax.devices()[:1]))(SCALES, _keys(5))


def test_sharded_equals_single_device_and_no_recompile(many, one_device_scores):
  scales = SCALES
  assert many.loop == "map" and many.protocol.strategy == "switch"  # "auto" on CPU
  assert many.mesh.devices.size == jax.device_count() and many.batch % many.mesh.devices.size == 0
  a, b = many(scales, _keys(5)), one_device_scores
  np.testing.assert_allclose(a.fitness, b.fitness, atol=1e-6)
  np.testing.assert_array_equal(a.learning_rate, b.learning_rate)
  assert set(a.learning_rate) <= {0.3, 0.03} and (a.fitness > 0.2).all()
  # A new population of the same padded size and a larger one (two calls) reuse the compiled program.
  before = many._fn._cache_size()
  many(scales[::-1].copy(), _keys(5, 1))
  many(np.tile(scales, 3), _keys(15))
  assert many._fn._cache_size() == before


def test_divergent_member_scored_worst_without_touching_others(many):
  healthy = many(np.array([1.0, 0.5, 1.0, 0.5], np.float32), _keys(4))
  mixed = many(np.array([1.0, np.nan, 1.0, 1e30], np.float32), _keys(4))
  assert mixed.diverged.tolist() == [False, True, False, True]
  assert mixed.fitness[1] == WORST and mixed.fitness[3] == WORST
  np.testing.assert_array_equal(mixed.fitness[[0, 2]], healthy.fitness[[0, 2]])


def test_vmap_loop_matches_map_loop(task, one_device_scores):
  """The GPU layout (vmapped chunks) scores like the CPU default (lax.map, one candidate at a time)."""
  ev = Evaluator(task, scaled_sgd, PROTOCOL, batch=6, chunk_size=3, mesh=population_mesh(jax.devices()[:2]),
                 population_loop="vmap")
  assert ev.loop == "vmap" and ev.protocol.strategy == "select"
  scores = ev(SCALES, _keys(5))
  np.testing.assert_allclose(scores.fitness, one_device_scores.fitness, atol=1e-6)
  np.testing.assert_array_equal(scores.learning_rate, one_device_scores.learning_rate)


def test_bad_settings(task):
  with pytest.raises(ValueError, match="Known loops: auto, map, vmap"):
    Evaluator(task, scaled_sgd, PROTOCOL, batch=2, population_loop="scan")
  with pytest.raises(ValueError, match="Known baselines"):
    optax_builder("adamax")
  with pytest.raises(ValueError, match="probe_steps"):
    Protocol(steps=10, probe_steps=20)
  with pytest.raises(ValueError, match="split"):
    Evaluator(task, optax_builder("adam"), PROTOCOL, batch=2, split="train")


@pytest.mark.multiprocess
def test_two_processes_on_loopback_match_one(tmp_path, one_device_scores):
  """Two jax.distributed processes (CPU collectives over loopback) score a population like one process."""
  env = {**os.environ, "PYTHONPATH": ROOT, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
  port = 20000 + os.getpid() % 20000
  worker = os.path.join(os.path.dirname(__file__), "multiprocess_worker.py")
  procs = [subprocess.Popen([sys.executable, worker, f"127.0.0.1:{port}", str(i), str(tmp_path / f"out{i}.npy")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for i in range(2)]
  for p in procs:
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 0, out.decode()[-3000:]
  for i in range(2):
    np.testing.assert_allclose(np.load(tmp_path / f"out{i}.npy"), one_device_scores.fitness, atol=1e-6)


@pytest.mark.slow
def test_genomes_score_alike_with_map_switch_and_vmap_select(task):
  """The interpreter's two strategies (lax.map + switch on CPU, vmap + select on GPU) give the same fitness."""
  from optix_evo import graph  # pylint: disable=import-outside-toplevel
  from optix_evo.search import ga  # pylint: disable=import-outside-toplevel
  from optix_evo.search.search import genome_builder  # pylint: disable=import-outside-toplevel

  ops = ga.graph_ops()
  randoms = [ops.random(jax.random.PRNGKey(i)) for i in range(8)]
  passed, checked = ops.check(ga.stack(randoms))
  genomes = ga.stack([graph.known(n) for n in graph.KNOWN] + [g for g, ok in zip(ga.unstack(checked), passed) if ok])
  n = jax.tree.leaves(genomes)[0].shape[0]
  mesh = population_mesh(jax.devices()[:2])
  scores = [Evaluator(task, genome_builder, PROTOCOL, batch=n, mesh=mesh, population_loop=loop)(genomes, _keys(n))
            for loop in ("map", "vmap")]
  np.testing.assert_array_equal(scores[0].diverged, scores[1].diverged)
  np.testing.assert_allclose(scores[0].fitness, scores[1].fitness, atol=0.02)
