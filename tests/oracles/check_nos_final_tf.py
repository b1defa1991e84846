"""Checks the NumPy transcription ``nos_final.py`` against the authors' TensorFlow ``finalOptimizers.py`` itself.

Not part of the test suite (TensorFlow is no dependency). Run it in a separate environment with TensorFlow, on the
authors' file (github.com/OUStudent/NeuralOptimizerSearch, not copied here)::

    python -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu numpy scipy
    /tmp/tf/bin/python tests/oracles/check_nos_final_tf.py /path/to/NeuralOptimizerSearch/finalOptimizers.py

The classes only run with float32 variables (``tf.math.pow(b9, self.t + 1)`` mixes the variable's dtype with the
float32 step counter), so the comparison is float32 against the transcription's float64, on the change each step
makes (the argument of ``assign_add``, recorded): relative differences of order 1e-5 are rounding (and float32
weights), a transcription mistake shows as 1e-2 or more. Prints one line per configuration and exits 1 on a
mismatch.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from oracles import nos_final  # noqa: E402

T, W, H, LR = 30, 2, 4, 0.05
RTOL = 2e-4


def _stream(seed=0):
  """The stream of tests/graph/test_known.py, scaled down for float32 (weights up to 1e3)."""
  rng = np.random.default_rng(seed)
  shapes = {"w": (4, 5), "b": (5,)}
  params = {k: rng.uniform(-1, 1, s) * 10 ** rng.uniform(0, 3, s) for k, s in shapes.items()}
  scale = {k: 10 ** rng.uniform(-3, 1, s) for k, s in shapes.items()}
  grads = [{k: rng.normal(size=s) * scale[k] for k, s in shapes.items()} for _ in range(T)]
  return params, grads


class _Recorder:
  """Stands in for the module's ``state_ops``: records the argument of every ``assign_add`` (the step's change of
  the variable, read before float32 rounding of the variable hides it) and applies it."""

  def __init__(self, real):
    self.real, self.log = real, []

  def assign_add(self, ref, value, *args, **kwargs):
    self.log.append(np.asarray(value, np.float64))
    return self.real.assign_add(ref, value, *args, **kwargs)

  def __getattr__(self, name):
    return getattr(self.real, name)


def _run_tf(tf, module, cls, **kwargs):
  params, grads = _stream()
  variables = {k: tf.Variable(v.astype(np.float32)) for k, v in params.items()}
  opt = cls(learning_rate=LR, total_steps=T, warmup_steps=W, hold=H, **kwargs)
  recorder = module.state_ops = _Recorder(module.state_ops)
  deltas = []
  for g in grads:
    recorder.log.clear()
    opt.apply_gradients([(tf.constant(g[k].astype(np.float32)), variables[k]) for k in variables])
    deltas.append(dict(zip(variables, recorder.log)))
  module.state_ops = recorder.real
  return deltas


def _run_numpy(name, **kwargs):
  params, grads = _stream()
  params = {k: v.astype(np.float32).astype(np.float64) for k, v in params.items()}
  opt = nos_final.CLASSES[name](learning_rate=LR, total_steps=T, warmup_steps=W, hold=H, **kwargs)
  deltas = []
  for g in grads:
    g = {k: v.astype(np.float32).astype(np.float64) for k, v in g.items()}
    delta = {k: opt.apply(k, g[k], params[k]) for k in params}
    params = {k: params[k] + delta[k] for k in params}
    deltas.append(delta)
    opt.finish()
  return deltas


def main(path: str) -> int:
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  spec = importlib.util.spec_from_file_location("finalOptimizers", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  failures = 0
  configs = [(f"nos_opt{k}", getattr(module, f"Opt{k}"), {"use_decay": d}) for k in range(1, 11) for d in (True, False)]
  configs += [("nos_opt4", module.Opt4, {"use_decay": d, "variant": 1}) for d in (True, False)]
  configs += [(f"nos_adam_clip{k}", module.AdamClip, {"variant": k}) for k in range(5)]
  for name, cls, kwargs in configs:
    own = {k: v for k, v in kwargs.items() if not (name.startswith("nos_adam") and k == "variant")}
    ours = _run_numpy(name, **own)
    theirs = _run_tf(tf, module, cls, **kwargs)
    worst = 0.0
    for t, (a, b) in enumerate(zip(ours, theirs)):
      for k in a:
        finite = np.isfinite(a[k]) & np.isfinite(b[k])
        if not np.array_equal(np.isfinite(a[k]), np.isfinite(b[k])):
          worst = np.inf
        scale = np.maximum(np.abs(a[k]), 1e-6 * np.max(np.abs(a[k][finite]), initial=0.0))
        if finite.any():
          worst = max(worst, float(np.max(np.abs(a[k] - b[k])[finite] / np.maximum(scale[finite], 1e-30))))
    ok = worst <= RTOL
    failures += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {name} {kwargs}: max relative difference {worst:.2e}")
  # EvolvedLRSchedules: the formula (self.lr before the step-0 assignment, which raises on a tensor)
  for k in range(9):
    obj = module.EvolvedLRSchedules.__new__(module.EvolvedLRSchedules)
    raised = None
    try:
      obj.__init__(total_steps=T, warmup_steps=W, target_lr=LR, hold=H, type=k)
    except TypeError as e:
      raised = e
    theirs = np.asarray(obj.lr, np.float64)
    ours = nos_final.EvolvedLRSchedules(T, W, LR, H, type=k).formula
    worst = float(np.max(np.abs(ours[1:] - theirs[1:]) / np.abs(ours[1:])))
    ok = worst <= RTOL
    failures += not ok
    print(f"{'ok  ' if ok else 'FAIL'} EvolvedLRSchedules type {k}: max relative difference {worst:.2e}; "
          f"self.lr[0] = 1e-7 {'raises ' + type(raised).__name__ if raised else 'does not raise'}")
  return 1 if failures else 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1]))
