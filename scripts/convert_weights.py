"""Converts a local EfficientNetV2-S ImageNet checkpoint to the flax msgpack the fine-tuning tasks load.

Sources (nothing is downloaded; bring the file):

* torchvision: the state dict of ``torchvision.models.efficientnet_v2_s(weights="IMAGENET1K_V1")``, e.g.
  ``efficientnet_v2_s-dd5fe13b.pth`` (needs ``pip install "optix-evo[torch]"``). Mind the inputs: torchvision's
  weights expect ImageNet-normalised pixels: build the model with ``preprocessing="torchvision"`` (the built-in
  fine-tuning tasks use Keras' ``x / 128 - 1``).
* Keras: the weights of ``keras.applications.EfficientNetV2S(include_top=...)`` saved as HDF5 (``.h5``, e.g.
  ``efficientnetv2-s.h5``), read with ``h5py`` (``pip install h5py``); Keras itself is not needed.

Usage::

  python scripts/convert_weights.py torchvision efficientnet_v2_s-dd5fe13b.pth DATA/efficientnetv2-s.msgpack
  python scripts/convert_weights.py keras efficientnetv2-s.h5 DATA/efficientnetv2-s.msgpack

The output holds ``{"params", "batch_stats"}`` of the backbone (no classification head); the script checks that
every entry of ``optix_evo.models.EfficientNetV2`` is present with its shape, then ``optix-evo transfer --tasks
flowers102_effnetv2s --data-dir DATA ...`` fine-tunes from it.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def read_torchvision(path: str) -> dict[str, np.ndarray]:
  import torch  # pylint: disable=import-outside-toplevel  # the `torch` extra, only here

  state = torch.load(path, map_location="cpu", weights_only=True)
  if isinstance(state, dict) and "state_dict" in state:
    state = state["state_dict"]
  return {k: v.detach().cpu().numpy() for k, v in state.items()}


def read_keras_h5(path: str) -> dict[str, np.ndarray]:
  import h5py  # pylint: disable=import-outside-toplevel

  out = {}
  with h5py.File(path, "r") as f:
    root = f["model_weights"] if "model_weights" in f else f

    def visit(name, obj):
      if isinstance(obj, h5py.Dataset):
        out[name] = np.asarray(obj)

    root.visititems(visit)
  return out


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("source", choices=("torchvision", "keras"))
  parser.add_argument("checkpoint", help="the local .pth (torchvision) or .h5 (Keras) file")
  parser.add_argument("out", help="the flax msgpack to write (the fine-tuning tasks look for "
                                  "DATA/efficientnetv2-s.msgpack)")
  args = parser.parse_args(argv)

  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  from optix_evo import models  # pylint: disable=import-outside-toplevel
  from optix_evo.errors import InputError  # pylint: disable=import-outside-toplevel
  from optix_evo.models.efficientnet import from_keras, from_torchvision  # pylint: disable=import-outside-toplevel

  model = models.EfficientNetV2(outputs=1000)
  try:
    if args.source == "torchvision":
      variables = from_torchvision(read_torchvision(args.checkpoint), model)
    else:
      variables = from_keras(read_keras_h5(args.checkpoint))
    # Every backbone entry present with its shape (the same check the fine-tuning task makes).
    models.with_pretrained(model, jnp.zeros((1, 64, 64, 3)), variables)
  except (KeyError, InputError, OSError) as e:
    print(f"convert_weights: error: {e}", file=sys.stderr)
    return 2
  models.save_variables(args.out, variables)
  count = sum(np.size(x) for x in jax.tree.leaves(variables))
  print(f"Wrote {args.out}: {count} backbone values ({args.source} {args.checkpoint}).")
  return 0


if __name__ == "__main__":
  sys.exit(main())
