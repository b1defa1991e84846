"""A NumPy float64 transcription of the authors' ``finalOptimizers.py`` (github.com/OUStudent/NeuralOptimizerSearch,
Morgan & Hougen 2024, arXiv:2404.06679): ``EvolvedLRSchedules``, ``AdamClip`` and ``Opt1`` .. ``Opt10``.

Line by line: ``tf.math.f`` → ``np.f`` / ``scipy.special.f``, slots → a dict per variable, ``self.t`` → an int
advanced by :meth:`_Optimizer.finish` after every variable is updated (the class's ``_finish``). Everything is
float64: the classes store their schedules as float32 tensors and cast them to the variable's dtype, which this
transcription does not copy (the library computes the schedules in the input dtype on purpose).

Checked against the file itself with ``tests/oracles/check_nos_final_tf.py`` (TensorFlow 2.21.0 CPU, float32, the
classes' only working dtype): every class and switch agrees to float32 rounding (largest relative difference of a
step's change 7e-5; Opt1 in the search's parenthesisation or Opt3 with a g³ moment differ by 3.3 and 0.06), and
``EvolvedLRSchedules`` types 0-8 to 1.1e-7.

``EvolvedLRSchedules.__init__`` ends with ``self.lr[0] = 1e-7`` on a TensorFlow tensor, which does not support item
assignment: as shipped the callback raises there (TypeError, confirmed with TensorFlow 2.21.0).
:class:`EvolvedLRSchedules` below does what it means (step 0 at 1e-7) and, like ``on_batch_begin``,
:meth:`EvolvedLRSchedules.value` adds 1e-7 to every step.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf, erfc, i1e

softsign = lambda x: x / (1 + np.abs(x))  # noqa: E731
sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
deriv_tanh = lambda x: 1 - np.power(np.tanh(x), 2)  # noqa: E731
deriv_soft = lambda x: 1 / (1 + np.abs(x))  # noqa: E731


def lr_warmup_cosine_decay(t, target_lr, warmup_steps, hold, total_steps):
  learning_rate = 0.5 * target_lr * (
      1 + np.cos(math.pi * (t - warmup_steps - hold) / float(total_steps - warmup_steps - hold)))
  with np.errstate(divide="ignore", invalid="ignore"):
    warmup_lr = target_lr * (t / warmup_steps)
  if hold > 0:
    learning_rate = np.where(t > warmup_steps + hold, learning_rate, target_lr)
  return np.where(t < warmup_steps, warmup_lr, learning_rate)


def momentum_schedule(total_steps, warmup_steps, hold):
  return np.concatenate((np.linspace(0.95, 0.85, warmup_steps), np.linspace(0.85, 0.85, hold),
                         np.linspace(0.85, 0.95, total_steps - hold - warmup_steps)))


def decay_operands(total_steps):
  """a1 .. a14 at t = 0 .. T-1 as ``EvolvedLRSchedules`` computes them (a14: the file's (b0 - b)/((1 - b0) + b))."""
  t = np.arange(0, total_steps).astype(np.float64)
  T = total_steps
  a = {1: 1.0 - t / T, 2: t / T, 3: 0.5 * (1 + np.cos(math.pi * t / T)), 4: 0.5 * (1 - np.cos(math.pi * t / T)),
       5: 0.5 * (1 + np.cos(2 * math.pi * t / T)), 6: 0.5 * (1 - np.cos(2 * math.pi * t / T)),
       7: 0.5 * (1 + np.cos(math.pi * np.mod(2 * t, T) / T)), 8: 0.5 * (1 - np.cos(math.pi * np.mod(2 * t, T) / T)),
       9: 1 - np.mod(2 * t, T) / T, 10: np.mod(2 * t, T) / T, 11: np.power(0.01, t / T), 12: 1 - np.power(0.01, t / T)}
  beta_init = 0.95
  beta_decay = beta_init * (1 - (t + 1) / T)
  a[13] = beta_decay / ((1.0 - beta_init) + beta_decay)
  a[14] = (beta_init - beta_decay) / ((1.0 - beta_init) + beta_decay)
  return a


class EvolvedLRSchedules:
  """The learning rate of ``EvolvedLRSchedules(total_steps, warmup_steps, target_lr, hold, type)``."""

  def __init__(self, total_steps, warmup_steps, target_lr, hold=0, type=0):  # noqa: A002 - the class's name
    base = lr_warmup_cosine_decay(np.arange(0, total_steps), target_lr, warmup_steps, hold, total_steps)
    a = decay_operands(total_steps)
    with np.errstate(divide="ignore"):
      factors = [
          erfc(erfc(a[4])) / deriv_tanh(a[8]),
          erfc(erfc(a[4])) / (deriv_tanh(a[8]) * deriv_tanh(a[4])),
          np.arctan(a[2]) / (deriv_tanh(a[10]) * np.sqrt(deriv_soft(a[14]))),
          np.power(sigmoid(a[2]), 2) / sigmoid(2 * softsign(a[1])),
          None,  # type 4 divides: lr / sqrt(erf(a11))
          np.arctan(a[2]) * erfc(a[6]) / np.sqrt(deriv_soft(a[6])),
          None,  # type 6: lr / sqrt(deriv_soft(a10))
          None,  # type 7: lr / (sqrt(softsign(atan(a12))) + 1e-7)
          np.tanh(np.maximum(a[10], a[6])),
      ]
      if type == 4:
        lr = base / np.sqrt(erf(a[11]))
      elif type == 6:
        lr = base / np.sqrt(deriv_soft(a[10]))
      elif type == 7:
        lr = base / (np.sqrt(softsign(np.arctan(a[12]))) + 1e-7)
      else:
        lr = base * factors[type]
    self.formula = lr.copy()  # before the step-0 override
    self.lr = lr
    self.lr[0] = 1e-7

  def value(self, step):
    """The learning rate ``on_batch_begin`` sets before step ``step``."""
    return self.lr[step] + 1e-7


class _Optimizer:
  """The shared constructor of the classes: schedules built once, step counter ``t``.

  Not in the file: ``div_eps`` (added to the denominators of Opt4-6, 0 as shipped) and ``bound_eps`` (the 1e-7 of
  AdamClip 0, 3 and 4 as shipped) express the library's documented deviations; ``denominator`` keeps Opt4-6's
  last denominator per variable, to bound the effect of ``div_eps``.
  """

  div_eps = 0.0
  bound_eps = 1e-7

  def __init__(self, learning_rate=0.001, total_steps=0, warmup_steps=0, hold=0, use_decay=False, variant=0):
    self.t = 0
    self.total_steps, self.warmup_steps, self.hold = total_steps, warmup_steps, hold
    self.use_decay, self.variant = use_decay, variant
    self.lr = lr_warmup_cosine_decay(np.arange(0, total_steps), learning_rate, warmup_steps, hold, total_steps)
    self.slots: dict = {}
    self.denominator: dict = {}
    self.setup()

  def setup(self):
    pass

  def slot(self, var_name, name, like):
    return self.slots.setdefault(var_name, {}).setdefault(name, np.zeros_like(like))

  def apply(self, var_name, grad, var):
    """The change of the variable at this step (the argument of ``state_ops.assign_add(var, ...)``)."""
    raise NotImplementedError

  def finish(self):
    self.t += 1


def _vhat(v, t):
  return v / (1 - np.power(0.9, t + 1))


def _shat(s, t):
  return s / (1 - np.power(0.99, t + 1))


class AdamClip(_Optimizer):

  def apply(self, name, grad, var):
    lr_t, t = self.lr[self.t], self.t
    v = self.slots.setdefault(name, {})["v"] = 0.9 * self.slot(name, "v", var) + (1 - 0.9) * grad
    s = self.slots[name]["s"] = 0.99 * self.slot(name, "s", var) + (1 - 0.99) * grad * grad
    if self.variant == 0:
      s1 = np.sqrt(_shat(s, t)) + self.bound_eps
      update = np.clip(_vhat(v, t), -s1, s1)
    elif self.variant == 1:
      s1 = np.abs(np.log(_shat(s, t) + 1e-7))
      update = np.clip(_vhat(v, t), -s1, s1)
    elif self.variant == 2:
      s1 = np.sqrt(np.abs(np.log(_shat(s, t) + 1e-7)))
      update = np.clip(_vhat(v, t), -s1, s1)
    elif self.variant == 3:
      s1 = sigmoid(_shat(s, t) + self.bound_eps)
      update = np.clip(_vhat(v, t), -s1, s1)
    else:
      s1 = np.sqrt(_shat(s, t)) + self.bound_eps
      clipped = np.clip(_vhat(v, t), -s1, s1)
      norm = np.sqrt(np.sum(clipped * clipped))
      update = clipped * 1 / np.maximum(norm, 1)  # tf.clip_by_norm(x, 1)
    return -lr_t * update


class Opt1(_Optimizer):

  def apply(self, name, grad, var):
    lr_t, t = self.lr[self.t], self.t
    v = self.slots.setdefault(name, {})["v"] = 0.9 * self.slot(name, "v", var) + (1 - 0.9) * grad
    s = self.slots[name]["s"] = 0.99 * self.slot(name, "s", var) + (1 - 0.99) * grad * grad
    s1 = np.abs((1e-5 * var) - ((1 - 0.95) * np.power(grad, 2)) + 0.95 * _shat(s, t))
    update = (1 - 0.7) * grad + 0.7 * _vhat(v, t) + softsign(np.clip(1e-5 * var, -s1, s1))
    return -lr_t * update


class Opt2(_Optimizer):

  def apply(self, name, grad, var):
    lr_t, t = self.lr[self.t], self.t
    v = self.slots.setdefault(name, {})["v"] = 0.9 * self.slot(name, "v", var) + (1 - 0.9) * grad
    s = self.slots[name]["s"] = 0.99 * self.slot(name, "s", var) + (1 - 0.99) * grad * grad
    s1 = 1e-5 * var - ((1 - 0.95) * np.power(grad, 2) + 0.95 * _shat(s, t))
    update = (1 - 0.7) * grad + 0.7 * _vhat(v, t) + softsign(1e-5 * var / np.sqrt(1 + np.power(s1, 2)))
    return -lr_t * update


class Opt3(_Optimizer):

  def apply(self, name, grad, var):
    lr_t, t = self.lr[self.t], self.t
    v = self.slots.setdefault(name, {})["v"] = 0.9 * self.slot(name, "v", var) + (1 - 0.9) * grad
    l = self.slots[name]["l"] = 0.999 * self.slot(name, "l", var) + (1 - 0.999) * grad * grad  # noqa: E741
    l1 = 1e-5 * var - ((1 - 0.99) * np.power(grad, 3) + 0.99 * (l / (1 - np.power(0.999, t + 1))))
    update = (1 - 0.7) * grad + 0.7 * _vhat(v, t) + softsign(1e-5 * var / np.sqrt(1 + np.power(l1, 2)))
    return -lr_t * update


def _lr_multiplier(opt):
  """``use_decay``: the Opt4-6 learning rate times erfc(erfc(a4)) / (1 - tanh(a8)²)."""
  a = decay_operands(opt.total_steps)  # t / T, as the classes' float32 t over total_steps
  if opt.use_decay:
    opt.lr = opt.lr * erfc(erfc(a[4])) / (1 - np.power(np.tanh(a[8]), 2.0))
  return a


class Opt4(_Optimizer):

  def setup(self):
    a = _lr_multiplier(self)
    self.a13 = np.arctan(a[13])

  def apply(self, name, grad, var):
    lr_t, t = self.lr[self.t], self.t
    a13 = 1.0 if self.variant == 1 else self.a13[self.t]
    v = self.slots.setdefault(name, {})["v"] = 0.9 * self.slot(name, "v", var) + (1 - 0.9) * grad
    c = np.abs(a13 * np.exp(_vhat(v, t)))
    self.denominator[name] = np.clip(2 * np.ones_like(var), -c, c)
    with np.errstate(divide="ignore", invalid="ignore"):
      update = ((1 - 0.7) * grad + 0.7 * _vhat(v, t)) / (np.clip(2 * np.ones_like(var), -c, c) + self.div_eps)
    return -lr_t * update


class Opt5(_Optimizer):

  def setup(self):
    _lr_multiplier(self)

  def apply(self, name, grad, var):
    lr_t, t = self.lr[self.t], self.t
    v = self.slots.setdefault(name, {})["v"] = 0.9 * self.slot(name, "v", var) + (1 - 0.9) * grad
    c = np.abs(np.exp(_vhat(v, t)))
    self.denominator[name] = np.clip(2 * np.ones_like(var), -c, c)
    update = ((1 - 0.7) * grad + 0.7 * _vhat(v, t)) / (np.clip(2 * np.ones_like(var), -c, c) + self.div_eps)
    return -lr_t * update


class Opt6(_Optimizer):

  def setup(self):
    a = _lr_multiplier(self)
    self.a4 = 1 - np.power(np.tanh(a[4]), 2)

  def apply(self, name, grad, var):
    lr_t, t = self.lr[self.t], self.t
    a4 = self.a4[self.t] if self.use_decay else 1.0
    v = self.slots.setdefault(name, {})["v"] = 0.9 * self.slot(name, "v", var) + (1 - 0.9) * grad
    self.denominator[name] = np.abs(a4 * np.exp(1e-4 * var))
    update = ((1 - 0.7) * grad + 0.7 * _vhat(v, t)) / (np.abs(a4 * np.exp(1e-4 * var)) + self.div_eps)
    return -lr_t * update


class _Opt78(_Optimizer):
  squash = staticmethod(np.tanh)

  def setup(self):
    a = decay_operands(self.total_steps)
    self.a = np.maximum(a[6], a[10])

  def apply(self, name, grad, var):
    lr_t, t = self.lr[self.t], self.t
    a = self.a[self.t] if self.use_decay else 1.0
    v = self.slots.setdefault(name, {})["v"] = 0.9 * self.slot(name, "v", var) + (1 - 0.9) * grad
    update = self.squash(a * np.arcsinh((1 - 0.7) * grad + 0.7 * _vhat(v, t)))
    return -lr_t * update


class Opt7(_Opt78):
  squash = staticmethod(np.tanh)


class Opt8(_Opt78):
  squash = staticmethod(np.arcsinh)


class Opt9(_Optimizer):

  def setup(self):
    a = decay_operands(self.total_steps)
    self.a = erfc(a[11])
    self.m = momentum_schedule(self.total_steps, self.warmup_steps, self.hold)

  def apply(self, name, grad, var):
    lr_t, t = self.lr[self.t], self.t
    a = self.a[self.t] if self.use_decay else 1.0
    m_t = self.m[self.t]
    s = self.slots.setdefault(name, {})["s"] = 0.99 * self.slot(name, "s", var) + (1 - 0.99) * grad * grad
    update = a * grad * np.exp(np.arctan((1 - 0.95) * np.power(grad, 2) + 0.95 * _shat(s, t)))
    mom = self.slots[name]["mom"] = m_t * self.slot(name, "mom", var) - lr_t * update
    return m_t * mom - lr_t * update


class Opt10(_Optimizer):

  def setup(self):
    a = decay_operands(self.total_steps)
    self.a = a[13] * a[2]
    self.m = momentum_schedule(self.total_steps, self.warmup_steps, self.hold)

  def apply(self, name, grad, var):
    lr_t = self.lr[self.t]
    a = self.a[self.t] if self.use_decay else 1.0
    m_t = self.m[self.t]
    update = i1e(i1e(a * grad))
    mom = self.slots.setdefault(name, {})["mom"] = m_t * self.slot(name, "mom", var) - lr_t * update
    return m_t * mom - lr_t * update


CLASSES = {f"nos_opt{k}": cls for k, cls in enumerate((Opt1, Opt2, Opt3, Opt4, Opt5, Opt6, Opt7, Opt8, Opt9, Opt10), 1)}
CLASSES.update({f"nos_adam_clip{k}": (lambda k: lambda **kw: AdamClip(**kw, variant=k))(k) for k in range(5)})
