"""Pretrained weights: flax variables stored as msgpack (``flax.serialization``), and a model's starting point
with a pretrained backbone and a freshly initialised head (fine-tuning)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import numpy as np
from flax import serialization
from flax.traverse_util import flatten_dict, unflatten_dict

from optix_evo.errors import InputError


def save_variables(path: str | os.PathLike, variables: Mapping[str, Any]) -> None:
  """Writes ``variables`` (``{"params": ..., "batch_stats": ...}``) to ``path`` as flax msgpack."""
  with open(path, "wb") as f:
    f.write(serialization.msgpack_serialize(jax.tree.map(np.asarray, dict(variables))))


def load_variables(path: str | os.PathLike) -> dict[str, Any]:
  """The variables stored by :func:`save_variables` (or ``flax.serialization.to_bytes`` of a variables dict).

  Raises:
    InputError: the file is missing or is not a msgpack of a ``{"params": ...}`` tree.
  """
  try:
    with open(path, "rb") as f:
      tree = serialization.msgpack_restore(f.read())
  except FileNotFoundError:
    raise InputError(f"Pretrained weights {path} not found: convert a local checkpoint with "
                     "scripts/convert_weights.py (see its --help).") from None
  except Exception as e:  # msgpack raises several types for damaged input
    raise InputError(f"{path} is not a flax msgpack file ({type(e).__name__}: {e}).") from None
  if not isinstance(tree, dict) or "params" not in tree:
    raise InputError(f"{path} must hold a variables dict with 'params' (and 'batch_stats'), got "
                     f"{sorted(tree) if isinstance(tree, dict) else type(tree).__name__}.")
  return tree


def with_pretrained(model: nn.Module, example: Any, backbone: Mapping[str, Any], *, head: str = "predictions",
                    init_kwargs: Mapping[str, Any] | None = None) -> Callable[[jax.Array], dict[str, Any]]:
  """``variables(key)``: ``model``'s variables with every entry outside the module ``head`` taken from
  ``backbone`` and the head freshly initialised from ``key`` (fine-tuning's starting point).

  Args:
    model: the full model (backbone and new head).
    example: an input batch (shapes for ``init``).
    backbone: pretrained variables (the head's entries, if any, are ignored).
    head: the top-level module name of the head.
    init_kwargs: extra arguments of ``model.init`` (default ``{"train": False}``).

  Returns:
    The function of the key.

  Raises:
    InputError: naming the first backbone entry the model has that ``backbone`` lacks, or one whose shape differs.
  """
  init_kwargs = {"train": False} if init_kwargs is None else dict(init_kwargs)
  shapes = flatten_dict(jax.eval_shape(lambda k: model.init(k, example, **init_kwargs), jax.random.PRNGKey(0)))
  given = flatten_dict(dict(backbone))
  fixed = {}
  for path, shape in shapes.items():
    if path[1] == head:
      continue
    if path not in given:
      raise InputError(f"The pretrained weights lack {'/'.join(path)} (shape {tuple(shape.shape)}); do they belong "
                       "to this architecture?")
    value = np.asarray(given[path], shape.dtype)
    if value.shape != shape.shape:
      raise InputError(f"The pretrained {'/'.join(path)} has shape {value.shape}; the model needs {shape.shape}.")
    fixed[path] = value

  def variables(key):
    fresh = flatten_dict(model.init(key, example, **init_kwargs))
    return unflatten_dict({path: fixed.get(path, value) for path, value in fresh.items()})

  return variables
