"""The learning-rate schedules of neural optimizer search as optax schedules, usable with any optimizer.

Morgan & Hougen (2024), "Neural Optimizer Equation, Decay Function, and Learning Rate Schedule Joint Evolution",
arXiv:2404.06679; the authors' ``finalOptimizers.py`` (https://github.com/OUStudent/NeuralOptimizerSearch):

* :func:`warmup_hold_cosine_schedule`: their base schedule ``lr_warmup_cosine_decay`` with the final runs' phases,
  linear warmup over ``T/15`` steps, hold for ``2T/15``, then cosine decay to 0 at ``T``;
* :func:`nos_schedule`: ``EvolvedLRSchedules(type=k)``, the evolved multiplier ``f_k(t/T)`` times that base.

The maths is the genome interpreter's (:func:`optix_evo.graph.nos_learning_rate`, the schedule table of
:mod:`optix_evo.graph.ops` through :func:`optix_evo.graph.schedule_value`): an evolved genome whose schedule gene is
``nos_lr<k>`` trains with exactly these values.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from optix_evo.errors import InputError
from optix_evo.graph.decays import nos_learning_rate, schedule_value
from optix_evo.graph.spec import EXTENDED_SPEC

NOS_SCHEDULES = tuple(s.name for s in EXTENDED_SPEC.schedules if s.name.startswith("nos_lr"))
"""The evolved schedules: ``nos_lr0`` .. ``nos_lr8`` (``EvolvedLRSchedules`` types 0-8 as shipped) and
``nos_lr2_search`` (type 2 with the search code's ``a14 = 0.95 - a13``)."""


def _phases(total_steps: int, warmup_steps: int | None, hold_steps: int | None) -> tuple[int, int]:
  if not isinstance(total_steps, int) or isinstance(total_steps, bool) or total_steps < 1:
    raise ValueError(f"total_steps must be an int >= 1, got {total_steps!r}.")
  warmup = total_steps // 15 if warmup_steps is None else warmup_steps
  hold = 2 * total_steps // 15 if hold_steps is None else hold_steps
  return warmup, hold


def warmup_hold_cosine_schedule(peak_value: float | jax.Array, total_steps: int, warmup_steps: int | None = None,
                                hold_steps: int | None = None) -> optax.Schedule:
  r"""Linear warmup to ``peak_value``, a hold, then cosine decay to 0 at ``total_steps`` (0 afterwards).

  .. math::
    \eta_t = \begin{cases} \eta\,t/W & t < W \\ \eta & W \le t \le W + H \\
    \tfrac{\eta}{2}\left(1 + \cos\frac{\pi (t - W - H)}{T - W - H}\right) & t > W + H \end{cases}

  Args:
    peak_value: the peak learning rate η.
    total_steps: T.
    warmup_steps: W, default ``T // 15`` (the authors' final runs: T = 96000, W = 6400).
    hold_steps: H, default ``2T // 15`` (H = 12800 there).

  Returns:
    An optax schedule (computed in the default float dtype: float64 when x64 is on).

  Raises:
    ValueError: if ``total_steps`` is not an int >= 1.

  Examples:
    >>> import optax
    >>> import optix_evo as ox
    >>> schedule = ox.warmup_hold_cosine_schedule(0.1, total_steps=150)  # W = 10, H = 20
    >>> print([round(float(schedule(t)), 4) for t in (0, 5, 10, 30, 90, 150)])
    [0.0, 0.05, 0.1, 0.1, 0.05, 0.0]
    >>> opt = optax.sgd(learning_rate=schedule, momentum=0.9)

  References:
    Morgan & Hougen, `Neural Optimizer Equation, Decay Function, and Learning Rate Schedule Joint Evolution
    <https://arxiv.org/abs/2404.06679>`_, 2024; code: `OUStudent/NeuralOptimizerSearch
    <https://github.com/OUStudent/NeuralOptimizerSearch>`_ (``lr_warmup_cosine_decay`` in ``finalOptimizers.py``).
  """
  warmup, hold = _phases(total_steps, warmup_steps, hold_steps)
  return nos_learning_rate(peak_value, total_steps, warmup, hold)


def nos_schedule(k: int | str, peak_value: float | jax.Array, total_steps: int, warmup_steps: int | None = None,
                 hold_steps: int | None = None) -> optax.Schedule:
  r"""The authors' evolved learning-rate schedule ``k``: ``η_t = f_k(t/T) · base(t)``, base =
  :func:`warmup_hold_cosine_schedule`.

  ``f_k`` are their ``EvolvedLRSchedules`` types 0-8 (e.g. ``f_3 = σ(a_2)^2 / σ(2 softsign(a_1))``, ``f_6 =
  \sqrt{1 + a_{10}}``), over the decay operands ``a_i(t/T)`` of the NOS space. ``k`` may also be a name of
  :data:`NOS_SCHEDULES` (``"nos_lr2_search"``: type 2 with the search code's ``a14``). Differences from the
  authors' callback: it adds 1e-7 to every step (not done here) and means to set step 0 to 1e-7 (here 0): at most
  2e-7 in absolute value.

  Args:
    k: 0 .. 8, or a schedule name.
    peak_value: the base schedule's peak η.
    total_steps: T (the decay operands' horizon and the base's length).
    warmup_steps: default ``T // 15``.
    hold_steps: default ``2T // 15``.

  Returns:
    An optax schedule; steps past ``T`` keep the multiplier of step ``T - 1`` (the base is 0 there).

  Raises:
    InputError: for an unknown schedule (a name lookup; the message lists the known ones).
    ValueError: if ``total_steps`` is not an int >= 1.

  Examples:
    >>> import optax
    >>> import optix_evo as ox
    >>> schedule = ox.nos_schedule(6, 1e-3, total_steps=150)
    >>> print([round(float(schedule(t)) * 1e3, 4) for t in (10, 30, 90)])  # x1e-3
    [1.0646, 1.1832, 0.5477]
    >>> opt = optax.adam(learning_rate=schedule)

  References:
    Morgan & Hougen, `Neural Optimizer Equation, Decay Function, and Learning Rate Schedule Joint Evolution
    <https://arxiv.org/abs/2404.06679>`_, 2024; code: `OUStudent/NeuralOptimizerSearch
    <https://github.com/OUStudent/NeuralOptimizerSearch>`_ (``EvolvedLRSchedules`` in ``finalOptimizers.py``).
  """
  name = f"nos_lr{k}" if isinstance(k, int) and not isinstance(k, bool) else k
  if name not in NOS_SCHEDULES:
    raise InputError(f"Unknown evolved schedule {k!r}: use 0..8 or one of {', '.join(NOS_SCHEDULES)}.")
  entry = EXTENDED_SPEC.schedules[EXTENDED_SPEC.index("schedules", name)]
  base = warmup_hold_cosine_schedule(peak_value, total_steps, warmup_steps, hold_steps)

  def schedule(count):
    t = jnp.minimum(jnp.asarray(count, jnp.result_type(float)), total_steps - 1)
    return base(count) * schedule_value(entry, t, jnp.asarray(total_steps, t.dtype))

  return schedule
