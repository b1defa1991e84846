"""One process of the two-process evaluation test: ``worker.py COORDINATOR PROCESS_ID OUT.npy``."""

import sys

import jax

jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(sys.argv[1], num_processes=2, process_id=int(sys.argv[2]))

import numpy as np  # noqa: E402

from optix_evo.search import Evaluator, get_task  # noqa: E402
from test_evaluate import PROTOCOL, SCALES, _keys, scaled_sgd  # noqa: E402

assert jax.device_count() == 4 and jax.local_device_count() == 2, jax.devices()
ev = Evaluator(get_task("digits_mlp"), scaled_sgd, PROTOCOL, batch=5)
scores = ev(SCALES, _keys(5))
np.save(sys.argv[3], scores.fitness)
jax.distributed.shutdown()
