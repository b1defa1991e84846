"""The small deterministic problem on which reference trajectories are recorded (shared by torch and JAX).

Two parameter leaves ``w`` (4×3) and ``b`` (3,), a fixed data set ``X`` (8×4), ``Y`` (8×3), and the non-convex loss

    L(w, b) = mean((tanh(X w + b) − Y)²) + 0.01 · Σ w⁴

written once against an array namespace (``torch`` or ``jax.numpy``) so both sides compute the same function.
Every array is created from a fixed NumPy seed in float64; the fixtures store them, so the JAX tests do not depend on
NumPy's generator staying the same.
"""

from __future__ import annotations

import numpy as np

SEED = 20261123


def make_problem() -> dict[str, np.ndarray]:
  rng = np.random.default_rng(SEED)
  return {
      "x": rng.normal(size=(8, 4)),
      "y": rng.uniform(-0.9, 0.9, size=(8, 3)),
      "w": rng.normal(scale=0.7, size=(4, 3)),
      "b": rng.normal(scale=0.3, size=(3,)),
  }


def loss(w, b, x, y, tanh):
  """``L(w, b)`` with ``tanh`` taken from the caller's array library (``torch.tanh`` or ``jnp.tanh``)."""
  return ((tanh(x @ w + b) - y) ** 2).mean() + 0.01 * (w**4).sum()
