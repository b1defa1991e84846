"""``optix-evo zoo``: compare the zoo's optimizers on a small offline task."""

from __future__ import annotations

import argparse
import inspect

from optix_evo.cli import positive_int
from optix_evo.optimizers import compare
from optix_evo.optimizers.compare import compare_zoo, format_table
from optix_evo.runs.limits import MAX_STEPS, check_memory, check_steps


def _check_sizes(args: argparse.Namespace) -> None:
  """--steps against --max-steps, and --seeds vmapped runs of the MLP against the available memory."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel

  from optix_evo.data.datasets import load_dataset  # pylint: disable=import-outside-toplevel
  from optix_evo.models.mlp import MLP  # pylint: disable=import-outside-toplevel

  check_steps(args.steps, limit=args.max_steps)
  split = load_dataset(args.task, seed=0)
  model = MLP(hidden=tuple(inspect.signature(compare.compare_zoo).parameters["hidden"].default),
              outputs=max(split.num_classes or 1, 1))
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, *split.train.x.shape[1:])))
  check_memory(runs=args.seeds, parameters=int(sum(np.prod(x.shape) for x in jax.tree.leaves(shapes))),
               what=f"--seeds {args.seeds}")


def _cmd_zoo(args: argparse.Namespace) -> int:
  _check_sizes(args)
  names = args.optimizers.split(",") if args.optimizers else None
  rows = compare_zoo(names, task=args.task, seeds=args.seeds, steps=args.steps, batch_size=args.batch_size)
  print(format_table(rows))
  return 0


def register(subparsers) -> None:
  parser = subparsers.add_parser("zoo", help="train a small MLP with every zoo optimizer and print a comparison table")
  parser.add_argument("--task", default="digits", help="offline data set (default: digits)")
  parser.add_argument("--optimizers", default="", help="comma-separated names (default: the whole zoo)")
  parser.add_argument("--seeds", type=positive_int, default=3)
  parser.add_argument("--steps", type=positive_int, default=300)
  parser.add_argument("--max-steps", type=positive_int, default=MAX_STEPS, metavar="N",
                      help=f"refuse training runs longer than N steps (default: {MAX_STEPS})")
  parser.add_argument("--batch-size", type=positive_int, default=64)
  parser.set_defaults(func=_cmd_zoo)
