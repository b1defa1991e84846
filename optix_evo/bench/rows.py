"""Optimizer rows of the benchmark, parsed from short specs.

Spec grammar: ``KIND:NAME`` followed by optional ``@key=value`` fixed hyperparameters, e.g. ``adam`` (= ``zoo:adam``),
``zoo:adamw@weight_decay=0.05``, ``sam:adam@rho=0.1``, ``asam:sgd``, ``looksam:adam@k=5``, ``aldvi:adam@rule=phased``,
``schedule:nos_lr3:adam`` (a zoo optimizer under one of the NOS schedules: ``warmup_hold_cosine`` or an evolved
``nos_lr<k>`` times it, :func:`optix_evo.nos_schedule`), ``genome:run/hall_of_fame.json`` (``#i`` picks entry ``i``
of a hall of fame) or ``genome:known:nos_opt9`` (``@use_decay=false`` / ``@variant=1``: the authors' switches).
Known genomes train as their references do (``optix_evo.graph.known_defaults``: the NOS optimizers under the
authors' warmup / hold / cosine schedule and momentum cycle over the run); other genomes with the row's learning
rate, constant.

Every row builds its optimizer from a dict of hyperparameters that may be *traced* values, so one compiled program
trains a whole grid (``jax.vmap`` over the dict). The learning rate is ``base_lr × lr`` where ``lr`` is the grid's
multiplier (1 when the grid has none); other grid entries are passed by name (``b1``, ``b2``, ``weight_decay``, ``rho``).
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import optax

import optix_evo
from optix_evo.errors import InputError
from optix_evo.optimizers.registry import OPTIMIZERS, get_optimizer

Hyperparams = Mapping[str, Any]


class Schedule(NamedTuple):
  """The training length a row may need (ALDVI adapts per epoch; evolved LR schedules span the whole run)."""

  steps_per_epoch: int
  total_steps: int


# (hyperparameters, schedule) -> optimizer
Builder = Callable[[Hyperparams, Schedule], optax.GradientTransformation]

ROW_KINDS = ("zoo", "sam", "asam", "looksam", "aldvi", "schedule", "genome")
_WRAPPERS = ("sam", "asam", "looksam")


class Row(NamedTuple):
  """One optimizer row: its spec, a readable label, its builder and its reference learning rate.

  Attributes:
    spec: the row spec it was parsed from.
    label: a readable name for tables and plots.
    build: ``build(hyperparameters, schedule) -> optax.GradientTransformation`` (hyperparameters may be traced).
    base_lr: the reference learning rate the grid's ``lr`` multiplies.

  Examples:
    >>> import optix_evo.bench
    >>> row = optix_evo.bench.parse_row("zoo:adamw@weight_decay=0.05")
    >>> print(row.label, row.base_lr)
    adamw@weight_decay=0.05 0.001
  """

  spec: str
  label: str
  build: Builder
  base_lr: float


def _parse_value(spec: str, key: str, text: str) -> Any:
  """``@key=text``: a JSON value (number, true/false, null, list) or else the text itself; numbers must be finite."""
  if not text:
    raise InputError(f"Row {spec!r}: '@{key}=' has no value.")
  try:
    value = json.loads(text)
  except (json.JSONDecodeError, RecursionError):
    return text
  finite = lambda v: math.isfinite(v) if isinstance(v, float) else all(map(finite, v)) if isinstance(v, list) else True
  if not finite(value):
    raise InputError(f"Row {spec!r}: @{key}={text} is not a finite number.")
  return value


def _learning_rate(spec: str, value: Any, what: str) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
    raise InputError(f"Row {spec!r}: {what} must be a positive number, got {value!r}.")
  return float(value)


def _zoo_lr(spec: str, name: str, fixed: dict[str, Any]) -> float:
  """The row's reference learning rate: a fixed ``@learning_rate=`` (removed from ``fixed``), else the zoo default."""
  if name not in OPTIMIZERS:
    raise InputError(f"Row {spec!r}: unknown optimizer {name!r}. Known optimizers: {', '.join(sorted(OPTIMIZERS))}.")
  if "learning_rate" in fixed:
    return _learning_rate(spec, fixed.pop("learning_rate"), "@learning_rate")
  return float(OPTIMIZERS[name].defaults.get("learning_rate", 1e-3))


def _lr(hp: Hyperparams, base_lr: float) -> Any:
  return base_lr * hp.get("lr", 1.0)


def _split_kwargs(fn: Callable, kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
  accepted = inspect.signature(fn).parameters
  own = {k: v for k, v in kwargs.items() if k in accepted and k != "base"}
  return own, {k: v for k, v in kwargs.items() if k not in own}


def _zoo_row(spec: str, name: str, fixed: dict[str, Any]) -> Row:
  base_lr = _zoo_lr(spec, name, fixed)

  def build(hp, schedule):
    del schedule
    extra = {k: v for k, v in hp.items() if k != "lr"}
    return get_optimizer(name, **{**fixed, **extra, "learning_rate": _lr(hp, base_lr)})

  return Row(spec, spec.split(":", 1)[-1], build, base_lr)


def _wrapper_row(spec: str, kind: str, name: str, fixed: dict[str, Any]) -> Row:
  wrapper = getattr(optix_evo, kind, None)
  if wrapper is None:
    raise InputError(f"Row {spec!r}: ox.{kind} is not available in this installation.")
  base_lr = _zoo_lr(spec, name, fixed)

  def build(hp, schedule):
    del schedule
    extra = {k: v for k, v in {**fixed, **hp}.items() if k != "lr"}
    own, rest = _split_kwargs(wrapper, extra)
    return wrapper(get_optimizer(name, **rest, learning_rate=_lr(hp, base_lr)), **own)

  return Row(spec, spec, build, base_lr)


def _aldvi_row(spec: str, name: str, fixed: dict[str, Any]) -> Row:
  aldvi = getattr(optix_evo, "aldvi", None)
  if aldvi is None:
    raise InputError(f"Row {spec!r}: ox.aldvi is not available in this installation.")
  base_lr = _zoo_lr(spec, name, fixed)

  def build(hp, schedule):
    extra = {k: v for k, v in {**fixed, **hp}.items() if k != "lr"}
    base_kwargs = {k: v for k, v in extra.items() if k in OPTIMIZERS[name].defaults}
    own = {k: v for k, v in extra.items() if k not in base_kwargs}
    if own.get("rule") == "phased" and "total_epochs" not in own:  # the phases span the whole run
      own["total_epochs"] = -(-schedule.total_steps // schedule.steps_per_epoch)
    base = lambda lr: get_optimizer(name, **base_kwargs, learning_rate=lr)
    return aldvi(base, _lr(hp, base_lr), schedule.steps_per_epoch, **own)

  return Row(spec, spec, build, base_lr)


def _known(source: str, name: str, switches: dict[str, Any]) -> Any:
  try:
    return optix_evo.graph.known(name, **switches)
  except (TypeError, ValueError) as e:  # an unknown name (the message lists the known ones) or a bad switch
    raise InputError(f"genome:{source}: {e}") from None


def _extended(data: Any) -> Any:
  """A genome document as a genome of the default (extended) space, whichever space it records."""
  graph = optix_evo.graph
  space = graph.space_of(data)
  return graph.convert(graph.from_json(data, space), space, graph.DEFAULT_SPEC)


def load_genome(source: str) -> tuple[Any, float | None]:
  """A genome of the default space and its recorded learning rate (or None) from ``known:NAME``
  (``ox.graph.known``), a genome JSON file (``ox.graph.to_json`` format, any space), or entry ``#i`` (default 0,
  the best) of a search's ``hall_of_fame.json``."""
  graph = optix_evo.graph
  if source.startswith("known:"):
    try:
      return graph.known(source[len("known:"):]), None
    except ValueError as e:  # an unknown name: the message lists the known ones
      raise InputError(f"genome:{source}: {e}") from None
  path, hash_sign, index = source.partition("#")
  if not Path(path).is_file():
    raise InputError(f"Genome file {path!r} does not exist (expected a genome JSON or a search's hall_of_fame.json).")
  try:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
  except (OSError, ValueError, RecursionError) as e:
    raise InputError(f"cannot read the genome file {path}: {e}") from None
  if not (isinstance(data, dict) and "hall_of_fame" in data):
    if hash_sign:
      raise InputError(f"{path} is not a hall of fame, so '#{index}' picks nothing; drop it.")
    return _extended(data), None
  entries = data["hall_of_fame"]
  if not index.isdigit() and index:
    raise InputError(f"'#{index}' after {path} must be an entry number (0 = the best).")
  i = int(index or 0)
  if not isinstance(entries, list) or not 0 <= i < len(entries):
    count = len(entries) if isinstance(entries, list) else 0
    raise InputError(f"{path} holds {count} hall-of-fame entries; entry #{i} does not exist.")
  entry = entries[i]
  if not isinstance(entry, dict) or "genome" not in entry:
    raise InputError(f"{path}: hall-of-fame entry #{i} holds no 'genome'.")
  lr = entry.get("learning_rate")
  lr = None if lr is None else _learning_rate(source, lr, f"entry #{i}'s learning_rate")
  return _extended(entry["genome"]), lr


_KNOWN_SWITCHES = ("use_decay", "variant")


def _genome_row(spec: str, source: str, fixed: dict[str, Any]) -> Row:
  graph = optix_evo.graph
  name = source[len("known:"):] if source.startswith("known:") else None
  switches = {k: fixed.pop(k) for k in _KNOWN_SWITCHES if k in fixed}
  if switches and name is None:
    raise InputError(f"Row {spec!r}: {', '.join(switches)} only apply to known genomes (genome:known:NAME).")
  genome, recorded_lr = load_genome(source) if name is None else (_known(source, name, switches), None)
  base_lr = _learning_rate(spec, fixed.pop("learning_rate", recorded_lr or 1e-3), "@learning_rate")

  def build(hp, schedule):
    extra = {k: v for k, v in {**fixed, **hp}.items() if k != "lr"}
    if name is None:
      return graph.interpret(genome, learning_rate=_lr(hp, base_lr), total_steps=schedule.total_steps, **extra)
    return graph.interpret(genome, **{**graph.known_defaults(name, _lr(hp, base_lr), schedule.total_steps), **extra})

  return Row(spec, spec, build, base_lr)


def _schedule_row(spec: str, name: str, fixed: dict[str, Any]) -> Row:
  schedule_name, sep, opt_name = name.partition(":")
  names = ("warmup_hold_cosine", *optix_evo.schedules.NOS_SCHEDULES)
  if not sep or schedule_name not in names:
    raise InputError(f"Row {spec!r}: expected 'schedule:SCHEDULE:OPTIMIZER' with SCHEDULE one of {', '.join(names)} "
                     "(e.g. 'schedule:nos_lr3:adam').")
  base_lr = _zoo_lr(spec, opt_name, fixed)

  def build(hp, schedule):
    extra = {k: v for k, v in {**fixed, **hp}.items() if k != "lr"}
    peak, total = _lr(hp, base_lr), schedule.total_steps
    sched = (optix_evo.warmup_hold_cosine_schedule(peak, total) if schedule_name == "warmup_hold_cosine"
             else optix_evo.nos_schedule(schedule_name, peak, total))
    return get_optimizer(opt_name, **extra, learning_rate=sched)

  return Row(spec, spec, build, base_lr)


def split_spec(spec: str) -> tuple[str, str, dict[str, Any]]:
  """``(kind, name, fixed hyperparameters)`` of a row spec, e.g. ``("sam", "adam", {"rho": 0.1})``.

  Raises:
    InputError: for an unknown kind, a malformed or repeated ``@key=value``, ``@lr=`` (the grid's multiplier), or a
      non-finite number.
  """
  head, *pairs = spec.strip().split("@")
  kind, sep, name = head.partition(":")
  if not sep:
    kind, name = "zoo", head
  if kind not in ROW_KINDS:
    raise InputError(f"Row {spec!r}: unknown kind {kind!r}. Known kinds: {', '.join(ROW_KINDS)} (e.g. 'sam:adam').")
  fixed = {}
  for pair in pairs:
    key, eq, value = pair.partition("=")
    if not eq or not key.strip():
      raise InputError(f"Row {spec!r}: expected '@key=value' hyperparameters, got '@{pair}'.")
    key = key.strip()
    if key in fixed:
      raise InputError(f"Row {spec!r}: @{key}= is given twice.")
    if key == "lr":
      raise InputError(f"Row {spec!r}: 'lr' is the grid's learning-rate multiplier; fix the rate with @learning_rate=.")
    fixed[key] = _parse_value(spec, key, value.strip())
  return kind, name, fixed


def parse_row(spec: str) -> Row:
  """Parses one row spec (see the module docstring).

  Args:
    spec: ``KIND:NAME`` with optional ``@key=value`` fixed hyperparameters, e.g. ``adam``, ``sam:adam@rho=0.1``,
      ``schedule:nos_lr3:adam``, ``genome:known:nos_opt9``.

  Returns:
    The :class:`Row`.

  Raises:
    InputError: for an unknown kind or optimizer, a malformed ``@key=value``, or a kind whose code is absent.

  Examples:
    >>> import optix_evo.bench
    >>> print([optix_evo.bench.parse_row(s).label for s in ("adam", "sam:adam@rho=0.1", "genome:known:nos_opt9")])
    ['adam', 'sam:adam@rho=0.1', 'genome:known:nos_opt9']
  """
  kind, name, fixed = split_spec(spec)
  if kind == "zoo":
    return _zoo_row(spec, name, fixed)
  if kind in _WRAPPERS:
    return _wrapper_row(spec, kind, name, fixed)
  if kind == "aldvi":
    return _aldvi_row(spec, name, fixed)
  if kind == "schedule":
    return _schedule_row(spec, name, fixed)
  return _genome_row(spec, name, fixed)


def check_buildable(row: Row, grid: Mapping[str, Any]) -> None:
  """Builds ``row`` and takes one update step (abstractly) with its own ``@`` hyperparameters, then with the grid's
  first point, so that a bad hyperparameter name or value fails before any training, with a message that blames the
  right one.

  Raises:
    InputError: naming the row's ``@`` values or the grid's hyperparameters, whichever the optimizer refuses.
  """
  def step(hp):  # init and one update, with the extra arguments training.fit passes
    optimizer = optax.with_extra_args_support(row.build(hp, Schedule(1, 1)))
    params = {"w": jax.numpy.ones(2)}
    one = jax.numpy.float32(1.0)
    return optimizer.update(params, optimizer.init(params), params, grad_fn=lambda p: p, value=one, loss=one,
                            accuracy=one)

  attempt = lambda hp: jax.eval_shape(step, hp)

  fixed = split_spec(row.spec)[2]
  try:
    attempt({})
  except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as e:
    given = ", ".join(f"{k}={v!r}" for k, v in fixed.items())
    what = f"its hyperparameters {given} are refused" if given else "it cannot be built"
    raise InputError(f"Row {row.spec!r}: {what}: {e}") from e
  extra = sorted(k for k in grid if k != "lr")
  try:
    attempt({k: v[0] for k, v in grid.items()})
  except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as e:
    raise InputError(f"Row {row.spec!r} cannot take the grid's hyperparameters {extra or sorted(grid)}: {e}") from e
