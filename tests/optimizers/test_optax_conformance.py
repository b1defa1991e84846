"""optax's own optimizer test battery, run on every registry optimizer, the SAM family, ALDVI, the monitor and
interpreted genomes.

Each test is named after the optax test it ports (the installed optax ships them):

* ``optax/_src/alias_test.py`` (``AliasTest``): ``test_optimization`` (parabola and Rosenbrock, float32 and complex64,
  ``optax.tree.map_params``), ``test_optimizers_accept_extra_args`` (with the no-recompilation check of
  ``contrib/_common_test.py``), ``test_optimizers_can_be_wrapped_in_inject_hyperparams`` (plus: the injected learning
  rate changes the step), ``test_explicit_dtype``, ``test_preserve_dtype``, ``test_state_shape_dtype_shard_stability``
  (f16, bf16, f32, f64, c64, c128) and ``test_gradient_accumulation`` (``optax.MultiSteps``);
* ``optax/_src/float64_test.py``: ``test_mixed_dtype_input_outputs`` (a float32 and a float64 leaf in one tree);
* ``optax/transforms/_conditionality_test.py``: ``test_apply_if_finite``;
* ``optax/transforms/_combining_test.py``: ``test_chain`` (behind ``clip_by_global_norm``, also without params, as
  optax's ``test_chain`` calls ``update(updates, state)``) and ``test_empty`` (empty list, tuple and dict);
* ``optax/_src/transform_test.py``: ``test_scalers`` (jitted init/update, finite state and updates of the params'
  shapes) on odd trees: scalars, zero-size arrays, ``None`` leaves, nesting.

Speed: XLA compilation dominates, so every optimizer's behaviours that run in one precision are traced into one jitted
probe (a trace-time error is caught per behaviour and re-raised by its own test), and an interpreted genome is an
argument of the compiled programs, so one compilation serves all the genomes.

Exemptions mirror optax's (complex parameters: optax skips lion, adan and the sign-based optimizers, and tests no
``optax.contrib`` optimizer such as sophia on them) or are written in the optimizer's docstring; they are listed in
:data:`EXEMPT`. Interpreter failures are strict xfails (:data:`INTERPRETER_XFAIL`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optix_evo as ox
from optix_evo import graph

# ----------------------------------------------------------------------------------------------------------------
# The optimizers under test


class Case(NamedTuple):
  """``make(learning_rate=..., **hparams)`` builds the optimizer (``make`` is what ``inject_hyperparams`` wraps)."""

  make: Callable[..., optax.GradientTransformation]
  hparams: dict[str, Any]
  learning_rate: float  # for the convergence tests (optax tunes one per optimizer too)
  extra: Callable[[Callable], dict[str, Any]] = lambda objective: {}  # extra args the optimizer needs
  static_args: tuple[str, ...] = ()  # hyperparameters inject_hyperparams cannot trace
  genome: str | None = None  # the known genome of an interpreted case
  steps: int = 10_000  # of the convergence tests (optax's alias_test; contrib/_common_test.py runs 30,000)


def _grad_fn_extra(objective):
  """``grad_fn`` in the convention of the gradients the tests feed (conjugated for complex parameters)."""
  return {"grad_fn": lambda p: jax.tree.map(jnp.conj, jax.grad(objective)(p))}


def _value_extra(objective):
  return {**_grad_fn_extra(objective), "value": jnp.asarray(0.0)}  # the value itself is set by each test's step


def _registry_case(name: str, learning_rate: float, **override: Any) -> Case:
  spec = ox.OPTIMIZERS[name]
  hparams = {k: v for k, v in {**spec.defaults, **override}.items() if k != "learning_rate"}
  extra = _grad_fn_extra if name == "sophia" else (lambda objective: {})
  static = ("update_interval",) if name == "sophia" else ()
  return Case(spec.constructor, hparams, learning_rate, extra, static)


# Learning rates for the convergence tests (optax's alias_test uses the same scale per family).
REGISTRY_LR = {
    "sgd": 1e-3, "momentum": 1e-3, "nesterov": 5e-4, "adagrad": 1.0, "rmsprop": 5e-3, "adam": 1e-1, "adamw": 1e-1,
    "radam": 5e-3, "adabelief": 1e-2, "adan": 1e-1, "lion": 1e-2, "sophia": 1e-2, "swats": 1e-2, "adabound": 1e-2,
    "amsbound": 1e-2, "powersign": 1e-3, "addsign": 1e-3,
}
# The re-exports of optax and optax.contrib, at the learning rates of optax's own alias_test / contrib _common_test.
OPTAX_LR = {
    "adadelta": 0.1, "adafactor": 5e-3, "adamax": 1e-1, "adamaxw": 1e-1, "amsgrad": 1e-1, "fromage": 5e-3,
    "lamb": 1e-3, "lars": 1.0, "nadam": 1e-2, "nadamw": 1e-2, "novograd": 1e-3, "polyak_sgd": 1.0, "rprop": 1e-1,
    "sign_sgd": 1e-1, "signum": 1e-2, "sm3": 1.0, "yogi": 1e-1, "acprop": 1e-3, "ademamix": 1e-3,
    "simplified_ademamix": 1e-3, "adopt": 1e-2, "cocob": 1.0, "dadapt_adamw": 1e-1, "dog": 1.0, "dowg": 1.0,
    "madgrad": 1e-2, "momo": 1e-1, "momo_adam": 1e-1, "muon": 1e-2, "prodigy": 1e-1, "schedule_free_sgd": 1e-2,
    "schedule_free_adamw": 1e-2,
}
# Of those, the default suite runs the six the zoo was asked for; the others run with ``pytest -m slow``.
OPTAX_DEFAULT = {"schedule_free_adamw", "schedule_free_sgd", "muon", "adopt", "prodigy", "ademamix"}
CASES: dict[str, Case] = {name: _registry_case(name, lr) for name, lr in {**REGISTRY_LR, **OPTAX_LR}.items()}
for _name in ("polyak_sgd", "momo", "momo_adam"):  # they read the batch loss value=
  CASES[_name] = CASES[_name]._replace(extra=_value_extra)
for _name in ("schedule_free_sgd", "schedule_free_adamw"):  # as optax's test (its warmup keeps early steps small)
  CASES[_name] = _registry_case(_name, 1e-2, warmup_steps=5000)._replace(steps=30_000, static_args=("warmup_steps",))
CASES["adopt"] = CASES["adopt"]._replace(static_args=("clip_value_fn",))  # a function, not a schedule
CASES["adafactor"] = CASES["adafactor"]._replace(static_args=("min_dim_size_to_factor", "decay_offset"))
CASES["adamaxw"] = _registry_case("adamaxw", 1e-1, weight_decay=1e-4)  # optax's test: its default, small decay
CASES["nadamw"] = _registry_case("nadamw", 1e-2, weight_decay=1e-4)
for _name in OPTAX_LR.keys() & {"acprop", "simplified_ademamix", "cocob", "dadapt_adamw", "dog", "dowg", "madgrad",
                                 "momo", "momo_adam", "muon", "prodigy", "adopt"}:
  CASES[_name] = CASES[_name]._replace(steps=30_000)  # optax.contrib's _common_test runs 30,000 steps
CASES["ademamix"] = CASES["ademamix"]._replace(steps=30_000)  # as optax.contrib's test: lr 1e-3, b3 = 0.9999
# As optax's test cases: a small weight decay (it moves the optimum), and bounds that converge to a stable SGD rate.
CASES["sgd"] = CASES["sgd"]._replace(steps=30_000)
CASES["adamw"] = _registry_case("adamw", 1e-1, weight_decay=1e-4)
CASES["lion"] = _registry_case("lion", 1e-2, weight_decay=1e-4)
CASES["adabound"] = _registry_case("adabound", 1e-2, final_lr=1e-3)
CASES["amsbound"] = _registry_case("amsbound", 1e-2, final_lr=1e-3)
CASES.update({
    "sam(sgd)": Case(lambda learning_rate, rho: ox.sam(ox.sgd(learning_rate, momentum=0.9), rho=rho), {"rho": 1e-3},
                     1e-3, _grad_fn_extra),
    "asam(sgd)": Case(lambda learning_rate, rho: ox.asam(ox.sgd(learning_rate, momentum=0.9), rho=rho), {"rho": 1e-3},
                      1e-3, _grad_fn_extra),
    "looksam(sgd)": Case(lambda learning_rate, rho, k: ox.looksam(ox.sgd(learning_rate, momentum=0.9), rho=rho, k=k),
                         {"rho": 1e-3, "k": 2}, 1e-3, _grad_fn_extra, ("k",)),
    "aldvi(adam)": Case(lambda learning_rate, steps_per_epoch: ox.aldvi(ox.adam, learning_rate, steps_per_epoch),
                        {"steps_per_epoch": 10}, 1e-1, _value_extra, ("steps_per_epoch",)),
    "monitor(adam)": Case(lambda learning_rate: ox.monitor(ox.adam(learning_rate)), {}, 1e-1),
})
GENOME_LR = {"adam": 1e-1, "momentum": 1e-3, "nesterov": 1e-3, "lion": 1e-2, "nos_opt1": 3e-3, "nos_opt9": 1e-3}
for _name, _lr in GENOME_LR.items():
  CASES[f"genome:{_name}"] = Case(functools.partial(graph.interpret, graph.known(_name)), {}, _lr, genome=_name)

# The two halves of the battery, one per xdist worker (tests/conftest.py: every other test file is one group), of about
# the same time (per-case sums of `--durations=0`: 163 s and 161 s on one busy core); the genomes stay together (one
# compilation serves them all).
HALF_B = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "radam", "adabelief", "powersign", "addsign")
HALF = {name: "B" if name in HALF_B or CASES[name].genome is not None else "A" for name in CASES}

COMPLEX_EXEMPT = "optax exempts this family on complex parameters"
EXEMPT: dict[tuple[str, str], str] = {
    # (test, case) -> reason; "complex" stands for every complex-dtype variant of a test.
    **{("complex", n): f"{COMPLEX_EXEMPT} (lion, sign_sgd, signum)" for n in ("lion", "powersign", "addsign",
                                                                           "genome:lion")},
    ("complex", "adan"): f"{COMPLEX_EXEMPT} (adan)",
    ("complex", "sophia"): "optax tests no optax.contrib optimizer (sophia included) on complex parameters",
    ("rosenbrock", "looksam(sgd)"): "the reused direction (size α‖g‖) kicks across narrow valleys (docstring)",
    ("inject_lr", "aldvi(adam)"): "ALDVI's η lives in its state (set by the rule); initial_lr only seeds it",
    ("no_params", "adamw"): "weight decay reads the params (docstring), as optax.adamw's",
    ("no_params", "lion"): "this case's weight decay (1e-4, as optax's test) reads the params; at 0 none are needed",
    ("no_params", "sophia"): "the Hessian estimate differentiates the loss at params (docstring)",
    ("no_params", "sam(sgd)"): "SAM evaluates the gradient at perturbed params (docstring)",
    ("no_params", "asam(sgd)"): "ASAM evaluates the gradient at perturbed params (docstring)",
    ("no_params", "looksam(sgd)"): "LookSAM evaluates the gradient at perturbed params (docstring)",
    **{("complex", f"genome:{n}"): "the NOS operands and ops are real-valued (g², sign, max, erf ...): interpret "
                                   "refuses complex parameters (docstring)" for n in GENOME_LR},
}
EXEMPT.update({
    ("complex", "adopt"): "optax.contrib.adopt clips g/sqrt(v) with jnp.clip, which refuses complex values",
    ("complex", "prodigy"): "optax.contrib.prodigy does not reach the target on complex parameters in these steps",
    ("inject", "ademamix"): "injected as float32, 1 - b3 (b3 = 0.9999) is off by 1.7e-4 relative: rounding",
})
EXEMPT.update({("no_params", n): "reads the params, as optax's own (its weight decay or its averaging)"
               for n in ("ademamix", "muon", "prodigy", "schedule_free_sgd", "schedule_free_adamw", "adadelta",
                         "adafactor", "adamaxw", "fromage", "lamb", "lars", "nadamw", "novograd", "acprop",
                         "simplified_ademamix", "cocob", "dadapt_adamw", "dog", "dowg", "madgrad", "momo",
                         "momo_adam")})
EXEMPT.update({("complex", n): f"{COMPLEX_EXEMPT} ({n})" for n in ("fromage", "sm3", "rprop", "adadelta",
                                                                   "polyak_sgd", "sign_sgd", "signum")})
EXEMPT.update({("complex", n): "optax tests optax.contrib optimizers in float32 only (contrib/_common_test.py)"
               for n in OPTAX_LR if n in ox.OPTAX_CONTRIB and n not in ("adopt", "prodigy")})
EXEMPT.update({("apply_if_finite", n): "its first step is (nearly) zero by design, which the test's first check "
               "needs to move: " + why for n, why in (
    ("adopt", "ADOPT's first step only initialises v"), ("prodigy", "its step size starts at 1e-6"),
    ("dadapt_adamw", "its step size starts at 1e-6"), ("dog", "its first step is 1e-6 relative"),
    ("momo", "the test's loss sum(p·x) starts at -0.5, below its lower bound 0: a zero Polyak-type step"),
    ("momo_adam", "the test's loss starts below its lower bound 0: a zero Polyak-type step"),
    ("schedule_free_sgd", "this case's 5000-step warmup"), ("schedule_free_adamw", "this case's 5000-step warmup"))})
EXEMPT.update({("rosenbrock", n): "optax: needs learning-rate scheduling to solve the Rosenbrock function"
               for n in ("sign_sgd", "signum")})
EXEMPT.update({("inject_lr", n): "its step is not proportional to the learning rate (" + why + ")" for n, why in (
    ("fromage", "w is rescaled by 1/sqrt(1 + lr²)"), ("madgrad", "dual averaging: lr weights the gradient sum"),
    ("cocob", "learning-rate-free coin betting"), ("rprop", "lr is only the initial step size"))})
# What the battery finds in optax.contrib's own optimizers (the zoo re-exports them unchanged): strict xfails, so a
# fixed optax release turns them into failures to remove from here.
OPTAX_XFAIL: dict[tuple[str, str], str] = {
    ("scalers", "muon"): "optax.contrib.muon divides by zero on zero-size leaves",
    **{("mixed", n): f"optax.contrib.{n}'s state changes dtype on a mixed float32/float64 tree"
       for n in ("prodigy", "dadapt_adamw", "dog", "dowg", "momo", "momo_adam")},
    ("scalers", "sm3"): "optax.sm3 fails on scalar leaves (IndexError)",
    **{("inject", n): "optax.inject_hyperparams cannot wrap it (a non-numeric or integer hyperparameter)"
       for n in ("adopt", "schedule_free_sgd", "schedule_free_adamw")},
}
INTERPRETER_XFAIL: dict[str, str] = {}  # every interpreter failure the battery found is fixed


def _marks(test: str, name: str, tags: set[str]) -> list:
  """The exemption (skip) or interpreter xfail of ``name`` in ``test``; ``tags`` name the variant ("complex", ...)."""
  if name in OPTAX_LR and name not in OPTAX_DEFAULT:
    return [pytest.mark.slow, *_exempt(test, name, tags)]
  return _exempt(test, name, tags)


def _exempt(test: str, name: str, tags: set[str]) -> list:
  for key in [(test, name), *((tag, name) for tag in sorted(tags))]:
    if key in EXEMPT:
      return [pytest.mark.skip(reason=EXEMPT[key])]
  if (test, name) in OPTAX_XFAIL:
    return [pytest.mark.xfail(strict=True, reason=OPTAX_XFAIL[test, name])]
  if CASES[name].genome is not None:
    for key in (test, *sorted(tags)):
      if key in INTERPRETER_XFAIL:
        return [pytest.mark.xfail(strict=True, reason=INTERPRETER_XFAIL[key])]
  return []


def _params(test: str, *variants: Any) -> list:
  """``pytest.param(name, *variant)`` for every case, with the case's exemption or xfail mark. A variant value that
  is a complex dtype tags the variant "complex", float16/bfloat16 "half", the Rosenbrock target "rosenbrock", and
  test_chain without params "no_params"."""
  out = []
  for name in CASES:
    for variant in variants or [()]:
      variant = variant if isinstance(variant, tuple) else (variant,)
      tags = {"complex" for v in variant if isinstance(v, str) and v.startswith("complex")}
      tags |= {"rosenbrock" for v in variant if v == "rosenbrock"}
      tags |= {"half" for v in variant if v in ("float16", "bfloat16")}
      tags |= {"no_params" for v in variant if test == "chain" and v is False}
      marks = [*_marks(test, name, tags), pytest.mark.xdist_group(f"optax battery, half {HALF[name]}")]
      out.append(pytest.param(name, *variant, marks=marks, id="-".join([name, *map(str, variant)])))
  return out


def _is_complex(dtype) -> bool:
  return jnp.issubdtype(jnp.dtype(dtype), jnp.complexfloating)


# ----------------------------------------------------------------------------------------------------------------
# Probes: one compiled program per optimizer and precision, shared by all the genomes


class Caught(NamedTuple):
  """A trace-time error of one behaviour, re-raised by the test that owns it."""

  error: BaseException


def _each(behaviours: dict[Any, Callable[[], Any]], errors: dict) -> dict[Any, Any]:
  """Traces every behaviour; one that raises goes to ``errors`` (not a jit output) so the others still compile."""
  out = {}
  for key, fn in behaviours.items():
    try:
      out[key] = fn()
    except Exception as e:  # noqa: BLE001 - re-raised by the owning test
      errors[key] = Caught(e)
  return out


_PROGRAMS: dict[Any, tuple[Callable, dict]] = {}


def _probe(name: str, behaviours: Callable[..., dict], *args: Any) -> tuple[dict, dict]:
  """Runs ``behaviours(make, kwargs, extra, static_args, *args)`` (a dict of thunks) in one jitted program.

  ``make(**kwargs)`` builds the optimizer (``make`` is what ``inject_hyperparams`` wraps; ``kwargs`` holds the
  learning rate and the case's hyperparameters). For a genome, the genome and its learning rate are arguments of the
  program, cached per ``behaviours``, so one compilation serves every genome. Returns the values and the caught
  trace-time errors.
  """
  case = CASES[name]
  key = (behaviours, jax.config.jax_enable_x64, name if case.genome is None else "genome")
  if key not in _PROGRAMS:
    errors: dict = {}

    def program(genome, learning_rate, *a):
      if genome is None:
        make, kwargs = case.make, {"learning_rate": case.learning_rate, **case.hparams}
      else:
        make, kwargs = functools.partial(graph.interpret, genome), {"learning_rate": learning_rate}
      return _each(behaviours(make, kwargs, case.extra, case.static_args, *a), errors)

    _PROGRAMS[key] = (jax.jit(program), errors)
  program, errors = _PROGRAMS[key]
  genome = graph.known(case.genome) if case.genome is not None else None
  learning_rate = jnp.asarray(case.learning_rate, jnp.float32) if case.genome is not None else None
  return program(genome, learning_rate, *args), errors


def _get(results: tuple[dict, dict], key: Any) -> Any:
  values, errors = results
  if key in errors:
    raise errors[key].error
  return values[key]


# ----------------------------------------------------------------------------------------------------------------
# Problems (optax's)


def _setup_parabola(dtype):
  initial = jnp.array([-1.0, 10.0, 1.0], dtype=dtype)
  final = jnp.array([1.0, -1.0, 1.0], dtype=dtype)
  if _is_complex(dtype):
    final = final * (1 + 1j)
  return initial, final, lambda p: jnp.sum(jnp.abs(p - final) ** 2)


def _setup_rosenbrock(dtype):
  a, b = (1.0 + 1j if _is_complex(dtype) else 1.0), 100.0
  initial = jnp.array([0.0, 0.0], dtype=dtype)
  final = jnp.array([a, a**2], dtype=dtype)
  return initial, final, lambda p: jnp.abs(a - p[0]) ** 2 + b * jnp.abs(p[1] - p[0] ** 2) ** 2


def _sum_of_squares(tree):
  return sum((jnp.sum(jnp.abs(x.astype(jnp.float32)) ** 2) for x in jax.tree.leaves(tree)), jnp.zeros([]))


TARGETS = {"parabola": _setup_parabola, "rosenbrock": _setup_rosenbrock}
DTYPES_32 = ("float16", "bfloat16", "float32", "complex64")
DTYPES_64 = ("float64", "complex128")


def _extra_args(extra: Callable, objective: Callable, params: Any) -> dict[str, Any]:
  args = extra(objective)
  if "value" in args:
    args["value"] = objective(params)
  return args


def _grads(objective, params):
  """The gradient optax's tests feed: conjugated for complex parameters."""
  return jax.tree.map(jnp.conj, jax.grad(objective)(params))


# ----------------------------------------------------------------------------------------------------------------
# alias_test.AliasTest.test_optimization


def _convergence(make, kwargs, extra, static_args, steps):
  del static_args
  def solve(target, dtype):
    params, _, objective = TARGETS[target](dtype)
    opt = optax.with_extra_args_support(make(**kwargs))

    def body(carry, _):
      p, s = carry
      u, s = opt.update(_grads(objective, p), s, p, **_extra_args(extra, objective, p))
      return (optax.apply_updates(p, u), s), None

    return jax.lax.scan(body, (params, opt.init(params)), None, length=steps)[0][0]

  return {f"{t}/{d}": functools.partial(solve, t, d) for t in TARGETS for d in ("float32", "complex64")}


@pytest.mark.parametrize(
    "name, target, dtype", _params("optimization", *[(t, d) for t in TARGETS for d in ("float32", "complex64")]))
def test_optimization(name, target, dtype):
  initial, final, _ = TARGETS[target](dtype)
  opt = _build(CASES[name])
  optax.tree.map_params(opt, lambda v: v, opt.init(initial))  # a no-op map must work ("tree_map_params works")
  results = _probe(name, _CONVERGENCE(CASES[name].steps))
  chex.assert_trees_all_close(_get(results, f"{target}/{dtype}"), final, rtol=3e-2, atol=3e-2)


_CONVERGENCE = functools.cache(lambda steps: functools.partial(_convergence, steps=steps))


def _build(case: Case, **override: Any) -> optax.GradientTransformation:
  if case.genome is not None:
    return graph.interpret(graph.known(case.genome), **{"learning_rate": case.learning_rate, **override})
  return case.make(**{"learning_rate": case.learning_rate, **case.hparams, **override})


# ----------------------------------------------------------------------------------------------------------------
# alias_test / _common_test: test_optimizers_accept_extra_args (and no recompilation on the second call)


@pytest.mark.parametrize("name", _params("extra_args"))
def test_optimizers_accept_extra_args(name):
  case = CASES[name]
  opt = _build(case)  # intentionally without optax.with_extra_args_support
  initial, _, objective = _setup_rosenbrock(jnp.float32)

  @jax.jit
  def step(params, state):
    extra = {"unexpected_extra_args_your_optimizer_doesnt_expect": 1, **_extra_args(case.extra, objective, params)}
    updates, state = opt.update(jax.grad(objective)(params), state, params, **extra)
    return optax.apply_updates(params, updates), state

  params, state = initial, opt.init(initial)
  for _ in range(2):
    params, state = step(params, state)
  assert step._cache_size() == 1, "the optimizer recompiles on the second call to update"
  assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(params))


# ----------------------------------------------------------------------------------------------------------------
# alias_test: test_optimizers_can_be_wrapped_in_inject_hyperparams (+ the injected learning rate changes the step)

INJECT_PARAMS = [-jnp.ones((2, 3)), jnp.ones((2, 5, 2))]
INJECT_GRADS = [jnp.ones((2, 3)), -jnp.ones((2, 5, 2))]


def _inject(make, kwargs, extra, static_args):
  """Updates of the optimizer and of its inject_hyperparams version, the latter at the learning rate ×1 and ×0.5
  (vmapped: one trace)."""
  args = _extra_args(extra, _sum_of_squares, INJECT_PARAMS)
  opt = optax.with_extra_args_support(make(**kwargs))
  injected = optax.inject_hyperparams(make, static_args=static_args)(**kwargs)

  def run_injected(scale):
    state = injected.init(INJECT_PARAMS)
    state.hyperparams["learning_rate"] = state.hyperparams["learning_rate"] * scale
    return injected.update(INJECT_GRADS, state, INJECT_PARAMS, **args)

  return {
      "plain": lambda: opt.update(INJECT_GRADS, opt.init(INJECT_PARAMS), INJECT_PARAMS, **args),
      "injected": lambda: jax.vmap(run_injected)(jnp.array([1.0, 0.5])),
  }


@pytest.mark.parametrize("name", _params("inject"))
def test_optimizers_can_be_wrapped_in_inject_hyperparams(name):
  results = _probe(name, _inject)
  updates, state = _get(results, "plain")
  at = lambda tree, i: jax.tree.map(lambda x: x[i], tree)  # noqa: E731
  updates_inject, state_inject = at(_get(results, "injected"), 0)
  chex.assert_trees_all_close(updates_inject, updates, rtol=1e-3)
  chex.assert_trees_all_close(state_inject.inner_state, state, rtol=1e-4)
  if ("inject_lr", name) not in EXEMPT:  # the injected learning rate is the one used
    halved, _ = at(_get(results, "injected"), 1)
    chex.assert_trees_all_close(halved, jax.tree.map(lambda u: 0.5 * u, updates), rtol=1e-5, atol=1e-7)
    assert not np.allclose(np.asarray(updates[0]), 0.0)


# ----------------------------------------------------------------------------------------------------------------
# alias_test: test_explicit_dtype (the state dtype arguments)

EXPLICIT_DTYPE = {  # name -> (constructor with the state dtype argument, attribute holding that state)
    "sgd_mom": (lambda d: ox.sgd(0.1, momentum=0.9, accumulator_dtype=d), "trace"),
    "adam": (lambda d: ox.adam(0.1, mu_dtype=d), "mu"),
    "adamw": (lambda d: ox.adamw(0.1, mu_dtype=d), "mu"),
    "lion": (lambda d: ox.lion(0.1, mu_dtype=d), "mu"),
    "sophia": (lambda d: ox.sophia(0.1, mu_dtype=d), "mu"),
}


@pytest.mark.parametrize("params_dtype", ["bfloat16", "float32", "complex64", None])
@pytest.mark.parametrize("state_dtype", ["bfloat16", "float32", "complex64", None])
@pytest.mark.parametrize("opt_name", sorted(EXPLICIT_DTYPE))
def test_explicit_dtype(params_dtype, state_dtype, opt_name):
  build, attribute = EXPLICIT_DTYPE[opt_name]
  params_dtype = jax.dtypes.canonicalize_dtype(params_dtype)
  state = build(state_dtype).init(jnp.array([0.0, 0.0], dtype=params_dtype))
  expected = params_dtype if state_dtype is None else jax.dtypes.canonicalize_dtype(state_dtype)
  assert optax.tree.get(state, attribute).dtype == expected


# ----------------------------------------------------------------------------------------------------------------
# test_preserve_dtype, test_state_shape_dtype_shard_stability, test_gradient_accumulation, test_apply_if_finite,
# test_chain, test_empty, test_scalers (odd trees): one program per optimizer (and one in float64)

ODD_TREE = {"scalar": jnp.array(0.5), "zero_size": jnp.zeros((0, 3)), "none": None,
            "nested": [jnp.arange(6.0).reshape(2, 3) - 2.5, (jnp.array([-1.5]),)]}


def _stability(opt, extra, dtype):
  """alias_test.test_state_shape_dtype_shard_stability: update in a lax.cond against (params, state)."""
  initial, _, objective = _setup_parabola(dtype)

  def step(params, state):
    grads = _grads(objective, params)
    args = _extra_args(extra, objective, params)
    if "value" in args:  # confuse the dtype intentionally, as optax does
      args["value"] = args["value"].astype(jnp.float16 if dtype != "float16" else jnp.float32)
    new = opt.update(grads, state, params, **args)
    updates, state = jax.lax.cond(_opaque_true(params), lambda: new, lambda: (params, state))
    return optax.apply_updates(params, updates), state, new[0]

  def scan_step(carry, _):  # the carry must keep its dtypes: a stronger form of optax's two unrolled steps
    params, state = carry
    params, new_state, updates = step(params, state)
    return (params, jax.lax.cond(_opaque_true(params), lambda: state, lambda: new_state)), updates

  (params, _), updates = jax.lax.scan(scan_step, (initial, opt.init(initial)), None, length=2)
  return params, updates[0], jax.grad(objective)(initial)  # the first update keeps the gradients' dtype


def _opaque_true(params):
  """A predicate the compiler cannot fold (optax draws a random integer; a threefry hash costs more to compile)."""
  return jnp.isfinite(jnp.sum(jnp.abs(params)))


def _accumulate(opt, extra, dtype):
  params = jnp.array([1.0, 2.0], dtype=dtype)
  objective = lambda x: jnp.sum(x**2)  # noqa: E731
  multi = optax.MultiSteps(opt, every_k_schedule=4)
  updates, _ = multi.update(jax.grad(objective)(params), multi.init(params), params,
                            **_extra_args(extra, objective, params))
  return updates


def _apply_if_finite(opt, extra):
  """conditionality_test.test_apply_if_finite: rejected non-finite steps leave params and state untouched."""
  opt = optax.apply_if_finite(opt, max_consecutive_errors=2)
  params = jnp.array([0.5, -1.0])

  def step(carry, x):
    params, state = carry
    f = lambda p: jnp.sum(p * x)  # noqa: E731
    updates, state = opt.update(jax.grad(f)(params), state, params, **_extra_args(extra, f, params))
    params = optax.apply_updates(params, updates)
    return (params, state), (params, state)

  init = (params, opt.init(params))
  _, steps = jax.lax.scan(step, init, jnp.array([1.0, jnp.nan, jnp.nan, jnp.nan]))
  return jax.tree.map(lambda first, rest: jnp.concatenate([first[None], rest]), init, steps)


def _chain(opt, extra, with_params):
  """combining_test.test_chain: clip_by_global_norm then the optimizer equals the two applied by hand."""
  clip = optax.clip_by_global_norm(1.0)
  chained = optax.chain(clip, opt)
  params = {"a": jnp.array([3.0, -4.0]), "b": jnp.array([[0.5, 2.0]])}
  objective = _sum_of_squares

  def step(carry, _):
    params, state, manual = carry
    grads, args = jax.grad(objective)(params), _extra_args(extra, objective, params)
    p = params if with_params else None
    updates, state = chained.update(grads, state, p, **args)
    clipped, clip_state = clip.update(grads, manual[0], p)
    by_hand, opt_state = opt.update(clipped, manual[1], p, **args)
    return (optax.apply_updates(params, updates), state, (clip_state, opt_state)), (updates, by_hand)

  init = (params, chained.init(params), (clip.init(params), opt.init(params)))
  return jax.lax.scan(step, init, None, length=2)[1]


def _empty(opt, extra, container):
  tree = container()
  updates, _ = opt.update(tree, opt.init(tree), tree, **_extra_args(extra, _sum_of_squares, tree))
  return updates


def _scalers(opt, extra):
  state = opt.init(ODD_TREE)
  updates, state = opt.update(jax.tree.map(lambda x: 0.1 * x + 0.3, ODD_TREE), state, ODD_TREE,
                              **_extra_args(extra, _sum_of_squares, ODD_TREE))
  return updates, state


CONTAINERS = {"list": list, "tuple": tuple, "dict": dict}


def _behaviours32(make, kwargs, extra, static_args):
  del static_args
  opt = optax.with_extra_args_support(make(**kwargs))
  out = {}
  for d in DTYPES_32:
    out[f"stability/{d}"] = functools.partial(_stability, opt, extra, d)
  for d in ("bfloat16", "float32"):
    out[f"accumulate/{d}"] = functools.partial(_accumulate, make(**kwargs), extra, d)
  out["apply_if_finite"] = functools.partial(_apply_if_finite, opt, extra)
  for with_params in (True, False):
    out[f"chain/{with_params}"] = functools.partial(_chain, opt, extra, with_params)
  for label, container in CONTAINERS.items():
    out[f"empty/{label}"] = functools.partial(_empty, opt, extra, container)
  out["scalers"] = functools.partial(_scalers, opt, extra)
  return out


def _behaviours64(make, kwargs, extra, static_args):
  del static_args
  opt = optax.with_extra_args_support(make(**kwargs))
  out = {f"stability/{d}": functools.partial(_stability, opt, extra, d) for d in DTYPES_64}

  def mixed():
    """float64_test.test_mixed_dtype_input_outputs."""
    params = (jnp.array([1.0, 2.0], jnp.float32), jnp.array([3.0, 4.0], jnp.float64))
    grads = (jnp.array([10.0, 21.0], jnp.float32), jnp.array([33.0, 42.0], jnp.float64))
    state = opt.init(params)
    updates, new_state = opt.update(grads, state, params, **_extra_args(extra, _sum_of_squares, params))
    return state, new_state, optax.apply_updates(params, updates)

  out["mixed"] = mixed
  return out


def _probe32(name):
  return _probe(name, _behaviours32)


def _probe64(name):
  with jax.enable_x64(True):
    return _probe(name, _behaviours64)


def _dtype_names(tree):
  return jax.tree.map(lambda x: jnp.dtype(x.dtype).name, tree)


@pytest.mark.parametrize("name, dtype", _params("preserve", "bfloat16", "float32"))
def test_preserve_dtype(name, dtype):
  """The first update of the stability probe (optax feeds sum(x²) gradients; any dtype-preserving problem will do)."""
  _, updates, grads = _get(_probe32(name), f"stability/{dtype}")
  assert grads.dtype == jnp.dtype(dtype) and updates.dtype == grads.dtype


@pytest.mark.parametrize("name, dtype", _params("stability", *DTYPES_32, *DTYPES_64))
def test_state_shape_dtype_shard_stability(name, dtype):
  results = _probe64(name) if dtype in DTYPES_64 else _probe32(name)
  assert _get(results, f"stability/{dtype}")[0].dtype == jnp.dtype(dtype)


@pytest.mark.parametrize("name, dtype", _params("accumulate", "bfloat16", "float32"))
def test_gradient_accumulation(name, dtype):
  updates = _get(_probe32(name), f"accumulate/{dtype}")
  chex.assert_trees_all_equal(updates, jnp.zeros(2, dtype))


@pytest.mark.parametrize("name", _params("mixed"))
def test_mixed_dtype_input_outputs(name):
  state, new_state, new_params = _get(_probe64(name), "mixed")
  assert _dtype_names(state) == _dtype_names(new_state)
  assert _dtype_names(new_params) == ["float32", "float64"] or _dtype_names(new_params) == ("float32", "float64")


@pytest.mark.parametrize("name", _params("apply_if_finite"))
def test_apply_if_finite(name):
  trajectory, states = _get(_probe32(name), "apply_if_finite")
  at = lambda i: jax.tree.map(lambda x: x[i], states)  # noqa: E731
  assert not np.allclose(trajectory[1], trajectory[0]) and bool(at(1).last_finite)  # the finite step moves
  for rejected in (2, 3):  # two rejected steps: params and inner state untouched
    np.testing.assert_array_equal(trajectory[rejected], trajectory[rejected - 1])
    chex.assert_trees_all_equal(at(rejected).inner_state, at(rejected - 1).inner_state)
    assert not bool(at(rejected).last_finite) and int(at(rejected).notfinite_count) == rejected - 1
  assert int(at(4).total_notfinite) == 3 and not np.all(np.isfinite(trajectory[4]))  # the third NaN passes


@pytest.mark.parametrize("name, with_params", _params("chain", True, False))
def test_chain(name, with_params):
  chained, manual = _get(_probe32(name), f"chain/{with_params}")
  chex.assert_trees_all_close(chained, manual, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name, container", _params("empty", *CONTAINERS))
def test_empty(name, container):
  assert _get(_probe32(name), f"empty/{container}") == CONTAINERS[container]()


@pytest.mark.parametrize("name", _params("scalers"))
def test_scalers(name):
  updates, state = _get(_probe32(name), "scalers")
  chex.assert_trees_all_equal_shapes(updates, ODD_TREE)
  for leaf in jax.tree.leaves((updates, state)):
    if jnp.issubdtype(leaf.dtype, jnp.inexact):
      assert bool(jnp.all(jnp.isfinite(leaf)))
