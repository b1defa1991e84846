"""ALDVI: an epoch-level learning rate set from the loss and accuracy trends of previous epochs.

Bhandari & Hirawat, "Dynamic Learning for Iterative Optimization" (Adaptive Learning via Dynamic Variable
Integration). The learning rate of the next epoch is

.. math::
  \\eta_{t+1} = f(\\eta_t, L_t, A_t),

where :math:`L_t` and :math:`A_t` are the epoch means of the training loss and accuracy. Everything lives in the
optimizer state (step count, running epoch sums, the metrics of the last few epochs, the current η and a PRNG key), so
the rule runs inside the compiled training step: no host callbacks, and a batch of (α, η₀, seed) can be trained under
one ``jax.vmap``.

A rule ``f`` is a pure function ``rule(lr, history, key) -> next_lr`` (:data:`AldviRule`); the built-in ones are built by
name with :func:`make_aldvi_rule` (``"paper"``, ``"trend"``, ``"phased"``). Whatever the rule says, an epoch with a
non-finite batch loss counts as divergence (η is multiplied by ``divergence_cut``), a non-finite proposal is treated the
same way, and the result is clipped to ``[min_lr, max_lr]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from optix_evo.errors import InputError

_TINY = 1e-12


class AldviHistory(NamedTuple):
  """What a rule sees at an epoch boundary: the last ``history_size`` epochs, oldest first, most recent last.

  An epoch whose batch losses were all non-finite repeats the previous epoch's metrics, and one without a finite
  accuracy at a finite loss repeats the previous accuracy (a rule never sees NaN/inf).

  Attributes:
    loss: ``[H]`` epoch-mean training loss (over the finite batch losses).
    accuracy: ``[H]`` epoch-mean accuracy (over the finite accuracies at finite batch losses), or ``None`` when the
      task has none (regression).
    lr: ``[H]`` the learning rate used during each of those epochs.
    valid: ``[H]`` bool, ``False`` for slots not yet filled.
    epoch: the number of completed epochs (int32; the next η is used for epoch index ``epoch``).

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> history = ox.AldviHistory(loss=jnp.array([1.0, 0.8]), accuracy=None, lr=jnp.array([0.1, 0.1]),
    ...                           valid=jnp.array([True, True]), epoch=jnp.array(2))
    >>> rule = ox.make_aldvi_rule("trend")
    >>> print(rule(jnp.array(0.1), history, jax.random.PRNGKey(0)))  # the loss fell 20%: steady progress, x0.99
    0.099
  """

  loss: jax.Array  # [H] epoch-mean training loss (over the finite batch losses)
  accuracy: jax.Array | None  # [H] epoch-mean finite accuracy, or None when the task has none (regression)
  lr: jax.Array  # [H] learning rate used during each of those epochs
  valid: jax.Array  # [H] bool, False for slots not yet filled
  epoch: jax.Array  # int32, number of completed epochs (the next η is used for epoch index ``epoch``)


AldviRule = Callable[[jax.Array, AldviHistory, jax.Array], jax.Array]
"""``rule(lr, history, key) -> next_lr``: pure, traceable; ``key`` is a fresh PRNG key for stochastic rules."""


class ScaleByAldviState(NamedTuple):
  """State of :func:`scale_by_aldvi`; read it with :func:`current_lr` and :func:`aldvi_history`.

  Attributes:
    count: the number of steps taken (int32).
    lr: the learning rate of the current epoch.
    loss_sum: the sum of this epoch's finite batch losses.
    accuracy_sum: the sum of this epoch's finite accuracies at those steps.
    num_finite: the number of finite batch losses this epoch (int32).
    num_accuracy: the number of those steps whose accuracy was finite too (int32): the accuracy mean's count.
    num_nonfinite: the number of non-finite batch losses this epoch (int32).
    loss_history: ``[H]`` as :attr:`AldviHistory.loss`.
    accuracy_history: ``[H]`` as :attr:`AldviHistory.accuracy` (zeros when there is no accuracy).
    lr_history: ``[H]`` as :attr:`AldviHistory.lr`.
    valid: ``[H]`` bool, the filled slots.
    diverged_history: ``[H]`` bool, the epochs that saw a non-finite loss.
    epoch: the number of completed epochs (int32).
    key: the PRNG key of stochastic rules.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> state = ox.scale_by_aldvi(0.1, steps_per_epoch=10, history_size=3).init(jnp.zeros(2))
    >>> print(state.lr, state.epoch, state.loss_history)
    0.1 0 [0. 0. 0.]
  """

  count: jax.Array  # int32, steps taken
  lr: jax.Array  # learning rate of the current epoch
  loss_sum: jax.Array  # sum of this epoch's finite batch losses
  accuracy_sum: jax.Array  # sum of this epoch's finite accuracies at those steps
  num_finite: jax.Array  # int32, finite batch losses this epoch
  num_accuracy: jax.Array  # int32, those steps whose accuracy was finite too
  num_nonfinite: jax.Array  # int32, non-finite batch losses this epoch
  loss_history: jax.Array  # [H] as AldviHistory.loss
  accuracy_history: jax.Array  # [H] as AldviHistory.accuracy (zeros when there is no accuracy)
  lr_history: jax.Array  # [H] as AldviHistory.lr
  valid: jax.Array  # [H] bool
  diverged_history: jax.Array  # [H] bool, epochs that saw a non-finite loss
  epoch: jax.Array  # int32, completed epochs
  key: jax.Array  # PRNG key for stochastic rules


def _is_static_number(x: Any) -> bool:
  return isinstance(x, (int, float)) and not isinstance(x, bool)


def _push(buffer: jax.Array, value: jax.Array) -> jax.Array:
  """Drops the oldest entry of ``buffer`` and appends ``value`` at the end."""
  return jnp.concatenate([buffer[1:], jnp.asarray(value, buffer.dtype)[None]])


def _relative_change(new: jax.Array, old: jax.Array) -> jax.Array:
  return (new - old) / jnp.maximum(jnp.abs(old), _TINY)


def paper_rule(alpha: float | jax.Array = 1.0, *, sigma: float | jax.Array = 0.0) -> AldviRule:
  r"""The paper's stochastic model: :math:`\eta_{t+1} = \eta_t (1 + \alpha |A_t - A_{t-1}|) + \epsilon_t` (IV.B).

  :math:`\epsilon_t \sim N(0, \sigma^2)` (additive, in learning-rate units). Without an accuracy (regression) the
  change is the relative loss change :math:`|L_t - L_{t-1}| / |L_{t-1}|`. With ``sigma=0`` this rule **only ever
  grows** η (any change in accuracy raises it), so ``max_lr`` is what stops it; use it for the paper's analysis,
  prefer ``"trend"`` or ``"phased"`` for training.

  Args:
    alpha: sensitivity of η to the change in accuracy.
    sigma: standard deviation of the additive noise.

  Returns:
    An :data:`AldviRule`.

  Raises:
    ValueError: for a negative ``alpha`` or ``sigma``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> rule = ox.schedules.paper_rule(alpha=2.0)
    >>> history = ox.AldviHistory(loss=jnp.array([1.0, 0.8]), accuracy=jnp.array([0.5, 0.6]),
    ...                           lr=jnp.array([0.1, 0.1]), valid=jnp.array([True, True]), epoch=jnp.array(2))
    >>> print(rule(jnp.array(0.1), history, jax.random.PRNGKey(0)))  # 0.1 * (1 + 2 * |0.6 - 0.5|)
    0.12

  References:
    Bhandari & Hirawat, *Dynamic Learning for Iterative Optimization* (Adaptive Learning via Dynamic Variable
    Integration, ALDVI), section IV.B.
  """
  if _is_static_number(alpha) and alpha < 0:
    raise ValueError(f"paper rule: alpha must be >= 0, got {alpha}.")
  if _is_static_number(sigma) and sigma < 0:
    raise ValueError(f"paper rule: sigma must be >= 0, got {sigma}.")

  def rule(lr, history, key):
    if history.accuracy is None:
      change = jnp.abs(_relative_change(history.loss[-1], history.loss[-2]))
    else:
      change = jnp.abs(history.accuracy[-1] - history.accuracy[-2])
    change = jnp.where(history.valid[-2], change, 0.0)
    return lr * (1.0 + alpha * change) + sigma * jax.random.normal(key, (), lr.dtype)

  return rule


def trend_rule(
    alpha: float | jax.Array = 0.1,
    *,
    decay: float = 0.99,
    cut: float = 0.5,
    tol: float = 1e-3,
    rise: float = 0.1,
    accuracy_tol: float = 1e-3,
    window: int = 4,
) -> AldviRule:
  r"""The paper's stated principle (section II.B) as a rule on the recent loss (and accuracy) trend.

  With :math:`r = (L_t - L_{t-1}) / |L_{t-1}|` and :math:`\Delta A = A_t - A_{t-1}`, checked in this order:

  * divergence, :math:`r > \text{rise}`: :math:`\eta \cdot \text{cut}` (cut it hard);
  * oscillation (the last ``window`` loss differences larger than ``tol`` alternate in sign) or stagnation
    (:math:`|r| \le \text{tol}` and :math:`|\Delta A| \le \text{accuracy\_tol}`): :math:`\eta (1 + \alpha)`
    (raise it to escape);
  * steady progress (:math:`r < -\text{tol}` or :math:`\Delta A > \text{accuracy\_tol}`): :math:`\eta \cdot
    \text{decay}` (keep it, or lower it gently);
  * otherwise (a small rise in loss): keep η.

  Without an accuracy (regression, time series) only the loss is used. The first epoch keeps η.

  Args:
    alpha: the relative increase of η on oscillation or stagnation.
    decay: the factor in (0, 1] applied to η on steady progress.
    cut: the factor in (0, 1) applied to η on a sharp loss rise.
    tol: the relative loss change below which the loss counts as flat.
    rise: the relative loss rise (> ``tol``) that counts as divergence.
    accuracy_tol: the accuracy change below which the accuracy counts as flat.
    window: the number of consecutive loss differences (>= 2) that must alternate in sign to count as oscillation.

  Returns:
    An :data:`AldviRule`.

  Raises:
    ValueError: for hyperparameters outside the ranges above.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> rule = ox.schedules.trend_rule(alpha=0.1)
    >>> history = ox.AldviHistory(loss=jnp.array([1.0, 1.5]), accuracy=None, lr=jnp.array([0.1, 0.1]),
    ...                           valid=jnp.array([True, True]), epoch=jnp.array(2))
    >>> print(rule(jnp.array(0.1), history, jax.random.PRNGKey(0)))  # the loss rose by 50%: cut in half
    0.05

  References:
    Bhandari & Hirawat, *Dynamic Learning for Iterative Optimization* (Adaptive Learning via Dynamic Variable
    Integration, ALDVI), section II.B.
  """
  if _is_static_number(alpha) and alpha < 0:
    raise ValueError(f"trend rule: alpha must be >= 0, got {alpha}.")
  if not 0 < cut < 1:
    raise ValueError(f"trend rule: cut must be in (0, 1) (it multiplies η on divergence), got {cut}.")
  if not 0 < decay <= 1:
    raise ValueError(f"trend rule: decay must be in (0, 1] (it multiplies η on steady progress), got {decay}.")
  if tol < 0 or rise <= tol or accuracy_tol < 0:
    raise ValueError(f"trend rule: need 0 <= tol < rise and accuracy_tol >= 0; got tol={tol}, rise={rise}, "
                     f"accuracy_tol={accuracy_tol}.")
  if window < 2:
    raise ValueError(f"trend rule: window must be >= 2 loss differences, got {window}.")

  def rule(lr, history, key):
    del key
    loss, valid = history.loss, history.valid
    have_two = valid[-1] & valid[-2]
    r = _relative_change(loss[-1], loss[-2])
    if history.accuracy is None:
      d_acc = jnp.zeros_like(r)
    else:
      d_acc = history.accuracy[-1] - history.accuracy[-2]
    diffs = _relative_change(loss[1:], loss[:-1])[-window:]
    pair_valid = (valid[1:] & valid[:-1])[-window:]
    moved = pair_valid & (jnp.abs(diffs) > tol)
    alternations = moved[1:] & moved[:-1] & (diffs[1:] * diffs[:-1] < 0)
    oscillating = (diffs.shape[0] >= window) & jnp.all(alternations)
    stagnating = (jnp.abs(r) <= tol) & (jnp.abs(d_acc) <= accuracy_tol)
    progressing = (r < -tol) | (d_acc > accuracy_tol)
    factor = jnp.select(
        [r > rise, oscillating | stagnating, progressing],
        [jnp.asarray(cut, lr.dtype), 1.0 + alpha, jnp.asarray(decay, lr.dtype)],
        jnp.ones((), lr.dtype),
    )
    return lr * jnp.where(have_two, factor, 1.0)

  return rule


def phased_rule(
    total_epochs: int | jax.Array,
    inner: str | AldviRule = "trend",
    *,
    boundaries: Sequence[float] = (0.3, 0.7),
    gains: Sequence[float] = (2.0, 1.0, 0.5),
    fine_tune_drop: float = 0.1,
    **inner_kwargs: Any,
) -> AldviRule:
  r"""The paper's hybrid strategy (section IV.D): aggressive early, moderate in the middle, small rates at the end.

  The epochs are cut into three phases at ``boundaries`` (fractions of ``total_epochs``). In phase ``k`` the
  inner rule's multiplicative change is raised to the power ``gains[k]``:
  :math:`\eta_{t+1} = \eta_t (f(\eta_t, \dots) / \eta_t)^{g_k}` (``g > 1`` amplifies, ``g < 1`` damps), and on
  entering the last phase η is multiplied once by ``fine_tune_drop``.

  Args:
    total_epochs: epochs of the whole run (phase boundaries are fractions of it).
    inner: the rule whose changes are scaled: a name for :func:`make_aldvi_rule` or a :data:`AldviRule`.
    boundaries: two increasing fractions in (0, 1].
    gains: three positive exponents, one per phase.
    fine_tune_drop: factor in (0, 1] applied once at the start of the last phase.
    **inner_kwargs: hyperparameters of the inner rule when it is given by name (e.g. ``alpha``).

  Returns:
    An :data:`AldviRule`.

  Raises:
    ValueError: for bad boundaries, gains, ``fine_tune_drop`` or ``total_epochs``, or keyword arguments given with
      an inner rule that is a function.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> rule = ox.schedules.phased_rule(total_epochs=10)
    >>> history = ox.AldviHistory(loss=jnp.array([1.0, 0.8]), accuracy=None, lr=jnp.array([0.1, 0.1]),
    ...                           valid=jnp.array([True, True]), epoch=jnp.array(2))
    >>> print(rule(jnp.array(0.1), history, jax.random.PRNGKey(0)))  # early phase: the trend's x0.99 squared
    0.09801

  References:
    Bhandari & Hirawat, *Dynamic Learning for Iterative Optimization* (Adaptive Learning via Dynamic Variable
    Integration, ALDVI), section IV.D.
  """
  if len(boundaries) != 2 or not 0 < boundaries[0] <= boundaries[1] <= 1:
    raise ValueError(f"phased rule: boundaries must be two increasing fractions in (0, 1], got {tuple(boundaries)}.")
  if len(gains) != 3 or min(gains) <= 0:
    raise ValueError(f"phased rule: gains must be three positive exponents (early, middle, late), got {tuple(gains)}.")
  if not 0 < fine_tune_drop <= 1:
    raise ValueError(f"phased rule: fine_tune_drop must be in (0, 1], got {fine_tune_drop}.")
  if _is_static_number(total_epochs) and total_epochs < 1:
    raise ValueError(f"phased rule: total_epochs must be >= 1, got {total_epochs}.")
  if isinstance(inner, str):
    inner = make_aldvi_rule(inner, **inner_kwargs)
  elif inner_kwargs:
    raise ValueError(
        f"phased rule: keyword arguments {sorted(inner_kwargs)} only apply to an inner rule given by name.")
  first_end = jnp.round(boundaries[0] * total_epochs).astype(jnp.int32)
  last_start = jnp.round(boundaries[1] * total_epochs).astype(jnp.int32)

  def rule(lr, history, key):
    ratio = jnp.maximum(inner(lr, history, key), _TINY) / lr
    epoch = history.epoch
    gain = jnp.where(epoch < first_end, gains[0], jnp.where(epoch < last_start, gains[1], gains[2]))
    drop = jnp.where(epoch == last_start, fine_tune_drop, 1.0)
    return lr * ratio ** gain.astype(lr.dtype) * drop

  return rule


#: The built-in ALDVI rules by name (``"paper"``, ``"trend"``, ``"phased"``): factories that take the rule's
#: hyperparameters as keywords and return an :data:`AldviRule`; :func:`make_aldvi_rule` builds one by name.
ALDVI_RULES: dict[str, Callable[..., AldviRule]] = {"paper": paper_rule, "trend": trend_rule, "phased": phased_rule}


def make_aldvi_rule(name: str, **kwargs: Any) -> AldviRule:
  """Builds the built-in rule ``name`` (see :data:`ALDVI_RULES`) with its hyperparameters.

  Args:
    name: ``"paper"`` (:func:`paper_rule`), ``"trend"`` (:func:`trend_rule`) or ``"phased"`` (:func:`phased_rule`).
    **kwargs: the rule's hyperparameters.

  Returns:
    An :data:`AldviRule`, ``rule(lr, history, key) -> next_lr``.

  Raises:
    InputError: for an unknown name (the message lists the known ones) or bad hyperparameters.

  Examples:
    >>> import optix_evo as ox
    >>> rule = ox.make_aldvi_rule("trend", alpha=0.2)
    >>> ox.make_aldvi_rule("cosine")
    Traceback (most recent call last):
      ...
    optix_evo.errors.InputError: Unknown ALDVI rule 'cosine'. Known rules: paper, phased, trend (...).
  """
  try:
    factory = ALDVI_RULES[name]
  except KeyError:
    raise InputError(f"Unknown ALDVI rule {name!r}. Known rules: {', '.join(sorted(ALDVI_RULES))} "
                     "(or pass a function rule(lr, history, key) -> next_lr).") from None
  try:
    return factory(**kwargs)
  except InputError:  # an unknown inner rule's name, already explained
    raise
  except (TypeError, ValueError) as e:  # a name the rule does not take, or a value it refuses
    raise InputError(f"Bad hyperparameters for ALDVI rule {name!r}: {str(e).rstrip('.')}.") from e


def scale_by_aldvi(
    initial_lr: float | jax.Array,
    steps_per_epoch: int,
    rule: str | AldviRule = "trend",
    *,
    min_lr: float | jax.Array | None = None,
    max_lr: float | jax.Array | None = None,
    divergence_cut: float = 0.5,
    history_size: int = 8,
    seed: int | jax.Array = 0,
    **rule_kwargs: Any,
) -> optax.GradientTransformationExtraArgs:
  r"""Scales updates by an epoch-level learning rate η that ALDVI adapts from the loss/accuracy trend.

  ``update(updates, state, params, *, value, accuracy=None)`` multiplies ``updates`` by the current η, adds the batch
  loss ``value`` (optax's name for it, as in ``optax.contrib.reduce_on_plateau``; ``loss=`` is accepted too) and
  ``accuracy`` to the epoch sums, and after every ``steps_per_epoch`` steps sets
  :math:`\eta \leftarrow \operatorname{clip}(f(\eta, \text{history}, \text{key}), \text{min\_lr},
  \text{max\_lr})`. An epoch with a non-finite batch loss skips ``f`` and sets η ← η · ``divergence_cut``.

  A non-finite loss is left out of the epoch's mean loss (and its step's accuracy out of the mean accuracy). A
  non-finite ``accuracy`` at a finite loss (e.g. 0/0 on an empty batch) is not divergence: it is left out of the mean
  accuracy, which averages the finite ones (``state.num_accuracy`` counts them); an epoch without any repeats the
  previous epoch's accuracy (0 before the first). It is neither averaged in as 0 nor allowed to make η NaN.

  η lives in the state: ``initial_lr`` only seeds it at ``init`` (so under ``optax.inject_hyperparams`` a changed
  ``initial_lr`` does not change the step; the rule does).

  Args:
    initial_lr: η of the first epoch (may be traced, e.g. under ``jax.vmap``).
    steps_per_epoch: updates per epoch (``optix_evo.training.steps_per_epoch``).
    rule: a name for :func:`make_aldvi_rule` (``"paper"``, ``"trend"``, ``"phased"``) or a :data:`AldviRule`.
    min_lr: lower bound of η (default ``initial_lr / 1000``); must be positive.
    max_lr: upper bound of η (default ``10 * initial_lr``).
    divergence_cut: factor in (0, 1) applied to η after an epoch with a non-finite loss.
    history_size: epochs of metrics kept in the state (at least 2).
    seed: seed of the PRNG key held in the state (may be traced).
    **rule_kwargs: hyperparameters of a rule given by name (``alpha``, ``sigma``, ``total_epochs``, ...).

  Returns:
    An :class:`optax.GradientTransformationExtraArgs` whose state is a :class:`ScaleByAldviState`.

  Raises:
    ValueError: for ``steps_per_epoch < 1``, ``history_size < 2``, ``divergence_cut`` outside (0, 1), a
      non-positive ``initial_lr``, bounds that are not ``0 < min_lr <= max_lr``, ``rule_kwargs`` with a rule
      function, or (from ``update``) no batch loss.
    InputError: for a rule given by a name that is unknown, or with hyperparameters it refuses
      (:func:`make_aldvi_rule`).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> tx = ox.scale_by_aldvi(0.1, steps_per_epoch=2, rule="trend")
    >>> state = tx.init(jnp.zeros(1))
    >>> for loss in [1.0, 1.0, 0.5, 0.5, 0.9, 0.9]:  # three epochs: the loss halves, then rises 80%
    ...   updates, state = tx.update(jnp.ones(1), state, value=jnp.array(loss))
    ...   print(updates, ox.current_lr(state))
    [0.1] 0.1
    [0.1] 0.1
    [0.1] 0.1
    [0.1] 0.099
    [0.099] 0.099
    [0.099] 0.0495

  References:
    Bhandari & Hirawat, *Dynamic Learning for Iterative Optimization* (Adaptive Learning via Dynamic Variable
    Integration, ALDVI), sections II and IV.
  """
  if steps_per_epoch < 1:
    raise ValueError(f"steps_per_epoch must be a positive number of updates, got {steps_per_epoch}.")
  if history_size < 2:
    raise ValueError(f"history_size must be >= 2 epochs (rules compare consecutive epochs), got {history_size}.")
  if not 0 < divergence_cut < 1:
    raise ValueError(f"divergence_cut must be in (0, 1), got {divergence_cut}.")
  if _is_static_number(initial_lr) and initial_lr <= 0:
    raise ValueError(f"initial_lr must be positive, got {initial_lr}.")
  min_lr = initial_lr * 1e-3 if min_lr is None else min_lr
  max_lr = initial_lr * 10.0 if max_lr is None else max_lr
  if _is_static_number(min_lr) and _is_static_number(max_lr) and not 0 < min_lr <= max_lr:
    raise ValueError(f"need 0 < min_lr <= max_lr, got min_lr={min_lr}, max_lr={max_lr}.")
  if isinstance(rule, str):
    rule = make_aldvi_rule(rule, **rule_kwargs)
  elif rule_kwargs:
    raise ValueError(f"keyword arguments {sorted(rule_kwargs)} only apply to a rule given by name; "
                     "bind them in your rule function instead.")

  def init_fn(params):
    del params
    zeros = jnp.zeros((history_size,), jnp.float32)
    return ScaleByAldviState(
        count=jnp.zeros((), jnp.int32),
        lr=jnp.clip(jnp.asarray(initial_lr, jnp.float32), min_lr, max_lr),
        loss_sum=jnp.zeros((), jnp.float32),
        accuracy_sum=jnp.zeros((), jnp.float32),
        num_finite=jnp.zeros((), jnp.int32),
        num_accuracy=jnp.zeros((), jnp.int32),
        num_nonfinite=jnp.zeros((), jnp.int32),
        loss_history=zeros,
        accuracy_history=zeros,
        lr_history=zeros,
        valid=jnp.zeros((history_size,), bool),
        diverged_history=jnp.zeros((history_size,), bool),
        epoch=jnp.zeros((), jnp.int32),
        key=jax.random.PRNGKey(seed),
    )

  def end_epoch(state: ScaleByAldviState, has_accuracy: bool) -> ScaleByAldviState:
    any_finite = state.num_finite > 0
    denominator = jnp.maximum(state.num_finite, 1).astype(jnp.float32)
    loss = jnp.where(any_finite, state.loss_sum / denominator, state.loss_history[-1])
    any_accuracy = state.num_accuracy > 0
    accuracy = jnp.where(any_accuracy, state.accuracy_sum / jnp.maximum(state.num_accuracy, 1).astype(jnp.float32),
                         state.accuracy_history[-1])
    diverged = state.num_nonfinite > 0
    epoch = state.epoch + 1
    history = AldviHistory(
        loss=_push(state.loss_history, loss),
        accuracy=_push(state.accuracy_history, accuracy),
        lr=_push(state.lr_history, state.lr),
        valid=_push(state.valid, any_finite | state.valid[-1]),
        epoch=epoch,
    )
    key, rule_key = jax.random.split(state.key)
    proposal = rule(state.lr, history if has_accuracy else history._replace(accuracy=None), rule_key)
    proposal = jnp.where(diverged | ~jnp.isfinite(proposal), state.lr * divergence_cut, proposal)
    return state._replace(
        lr=jnp.clip(proposal, min_lr, max_lr).astype(jnp.float32),
        loss_sum=jnp.zeros_like(state.loss_sum),
        accuracy_sum=jnp.zeros_like(state.accuracy_sum),
        num_finite=jnp.zeros_like(state.num_finite),
        num_accuracy=jnp.zeros_like(state.num_accuracy),
        num_nonfinite=jnp.zeros_like(state.num_nonfinite),
        loss_history=history.loss,
        accuracy_history=history.accuracy,
        lr_history=history.lr,
        valid=history.valid,
        diverged_history=_push(state.diverged_history, diverged),
        epoch=epoch,
        key=key,
    )

  def update_fn(updates, state, params=None, *, value=None, loss=None, accuracy=None, **extra_args):
    del params, extra_args
    loss = value if value is not None else loss
    if loss is None:
      raise ValueError("scale_by_aldvi got no batch loss: call update(..., value=loss[, accuracy=accuracy]) "
                       "(optix_evo.training.fit passes both; a wrapper that is a plain optax.GradientTransformation, "
                       "such as optax.MultiSteps(...).gradient_transformation() inside optax.chain, drops them).")
    updates = jax.tree.map(lambda u: (state.lr * u).astype(u.dtype), updates)
    loss = jnp.asarray(loss, jnp.float32)
    finite = jnp.isfinite(loss)
    step_accuracy = jnp.zeros((), jnp.float32) if accuracy is None else jnp.asarray(accuracy, jnp.float32)
    counted = finite & jnp.isfinite(step_accuracy)
    state = state._replace(
        count=state.count + 1,
        loss_sum=state.loss_sum + jnp.where(finite, loss, 0.0),
        accuracy_sum=state.accuracy_sum + jnp.where(counted, step_accuracy, 0.0),
        num_finite=state.num_finite + finite.astype(jnp.int32),
        num_accuracy=state.num_accuracy + counted.astype(jnp.int32),
        num_nonfinite=state.num_nonfinite + (~finite).astype(jnp.int32),
    )
    boundary = state.count % steps_per_epoch == 0
    state = optax.tree.where(boundary, end_epoch(state, accuracy is not None), state)
    return updates, state

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def aldvi(
    base: optax.GradientTransformation | Callable[[float], optax.GradientTransformation],
    initial_lr: float | jax.Array,
    steps_per_epoch: int,
    rule: str | AldviRule = "trend",
    **kwargs: Any,
) -> optax.GradientTransformationExtraArgs:
  """A base optimizer whose learning rate ALDVI sets once per epoch: ``chain(base(1.0), scale_by_aldvi(...))``.

  Args:
    base: an optimizer constructor taking the learning rate (``optax.adam``, ``ox.swats``,
      ``lambda lr: optax.sgd(lr, momentum=0.9)``, ...), which is built with learning rate 1. An already built
      transformation is refused: its own learning rate would multiply η, and :func:`current_lr` would not be the
      rate used (chain it with :func:`scale_by_aldvi` yourself if that is what you mean).
    initial_lr: η of the first epoch, as in :func:`scale_by_aldvi`.
    steps_per_epoch: as in :func:`scale_by_aldvi`.
    rule: as in :func:`scale_by_aldvi`.
    **kwargs: as in :func:`scale_by_aldvi`.

  Returns:
    An :class:`optax.GradientTransformationExtraArgs`: ``optax.chain(base(1.0), scale_by_aldvi(...))``; ``update``
    takes ``value=`` (the batch loss) and optionally ``accuracy=``.

  Raises:
    ValueError: if ``base`` is an already built transformation, or not callable.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> opt = ox.aldvi(optax.sgd, 0.1, steps_per_epoch=2, rule="trend")
    >>> loss = lambda w: jnp.sum(w ** 2)
    >>> params = jnp.array([1.0, -1.0])
    >>> state = opt.init(params)
    >>> for _ in range(4):
    ...   value, grads = jax.value_and_grad(loss)(params)
    ...   updates, state = opt.update(grads, state, params, value=value)
    ...   params = optax.apply_updates(params, updates)
    >>> print(ox.current_lr(state), params)  # two epochs of steady progress: 0.1 * 0.99
    0.099 [ 0.4096 -0.4096]

  References:
    Bhandari & Hirawat, *Dynamic Learning for Iterative Optimization* (Adaptive Learning via Dynamic Variable
    Integration, ALDVI).
  """
  if isinstance(base, optax.GradientTransformation) or (hasattr(base, "update") and not isinstance(base, type)):
    raise ValueError(
        "aldvi needs the optimizer's constructor, not a built optimizer: pass e.g. optax.adam (or "
        "lambda lr: optax.sgd(lr, momentum=0.9)); aldvi builds it with learning rate 1 and sets the rate itself "
        "(a built optimizer's own learning rate would multiply it)."
    )
  if not callable(base):
    raise ValueError(f"base must be an optimizer constructor taking the learning rate (e.g. optax.adam), got {base!r}.")
  return optax.chain(base(1.0), scale_by_aldvi(initial_lr, steps_per_epoch, rule, **kwargs))


def aldvi_state(opt_state: optax.OptState) -> ScaleByAldviState:
  """Finds the (single) :class:`ScaleByAldviState` inside an optimizer state, e.g. one built by ``optax.chain``.

  Args:
    opt_state: an optimizer state holding one ALDVI state.

  Returns:
    The :class:`ScaleByAldviState`.

  Raises:
    ValueError: if there is no ALDVI state, or more than one.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> state = ox.aldvi(optax.adam, 1e-3, steps_per_epoch=10).init(jnp.zeros(2))
    >>> print(ox.aldvi_state(state).epoch)
    0
  """
  found = optax.tree.get_all_with_path(opt_state, "ScaleByAldviState")
  if len(found) != 1:
    raise ValueError(f"Expected exactly one ALDVI state inside the optimizer state, found {len(found)}.")
  return found[0][1]


def current_lr(opt_state: optax.OptState) -> jax.Array:
  """The learning rate ALDVI uses for the current epoch (batched like the state under ``jax.vmap``).

  Args:
    opt_state: an optimizer state holding one ALDVI state.

  Returns:
    η of the current epoch.

  Raises:
    ValueError: if there is no ALDVI state, or more than one.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> init = lambda lr: ox.aldvi(optax.adam, lr, steps_per_epoch=10).init(jnp.zeros(2))
    >>> print(ox.current_lr(jax.vmap(init)(jnp.array([1e-3, 1e-2]))))  # one rate per vmapped optimizer
    [0.001 0.01 ]
  """
  return aldvi_state(opt_state).lr


def aldvi_history(opt_state: optax.OptState) -> dict[str, chex.Array]:
  """The last ``history_size`` epochs (oldest first), for logging.

  Args:
    opt_state: an optimizer state holding one ALDVI state.

  Returns:
    A dict with ``loss``, ``accuracy``, ``lr`` (η used in that epoch), ``valid`` and ``diverged`` (saw a non-finite
    loss), each an array of ``history_size`` entries.

  Raises:
    ValueError: if there is no ALDVI state, or more than one.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> tx = ox.scale_by_aldvi(0.1, steps_per_epoch=1, history_size=3)
    >>> state = tx.init(jnp.zeros(1))
    >>> for loss in [2.0, float("nan")]:
    ...   _, state = tx.update(jnp.ones(1), state, value=jnp.array(loss))
    >>> history = ox.aldvi_history(state)
    >>> print(history["loss"], history["diverged"], history["lr"])  # the NaN epoch repeats the last finite loss
    [0. 2. 2.] [False False True] [0. 0.1 0.1]
  """
  state = aldvi_state(opt_state)
  return {
      "loss": state.loss_history,
      "accuracy": state.accuracy_history,
      "lr": state.lr_history,
      "valid": state.valid,
      "diverged": state.diverged_history,
  }
