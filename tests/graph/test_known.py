"""Known genomes reproduce their references step by step (float64, rtol 1e-6) through the interpreter.

References: optax for the standard optimizers; TF ``ApplyPowerSign`` / ``ApplyAddSign`` semantics (Bello et al.
2017); the equations of the authors' ``finalOptimizers.py`` (nos.md §7) for the NOS results, written here in NumPy
independently of the op tables.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.special import erfc, i1e

import optix_evo.graph as G
from oracles.problem import loss, make_problem

STEPS, T, LR = 12, 20, 0.05


PROBLEM = make_problem()


@jax.jit
def _grad(params):
  return jax.grad(lambda p: loss(p["w"], p["b"], jnp.asarray(PROBLEM["x"]), jnp.asarray(PROBLEM["y"]), jnp.tanh))(params)


def _grads_trajectory(step_fn):
  """Runs ``STEPS`` steps on the shared problem; ``step_fn(t, grads, params) -> updates`` (dict of arrays)."""
  params = {"w": jnp.asarray(PROBLEM["w"]), "b": jnp.asarray(PROBLEM["b"])}
  grad = _grad
  out = []
  for t in range(STEPS):
    g = grad(params)
    u = step_fn(t, g, params)
    out.append(u)
    params = jax.tree.map(lambda p, d: p + d, params, u)
  return out


@pytest.fixture(scope="module")
def interpreted():
  """name -> list of per-step updates of the interpreted genome (one compiled program for all names)."""
  with jax.enable_x64(True):
    @jax.jit
    def step(genome, state, g, params):
      return G.interpret(genome, LR, total_steps=T).update(g, state, params)

    results = {}
    for name in G.KNOWN:
      genome = G.known(name)
      opt = G.interpret(genome, LR, total_steps=T)
      box = {}

      def step_fn(t, g, params, genome=genome, opt=opt, box=box):
        state = box.get("s", opt.init(params))
        u, box["s"] = step(genome, state, g, params)
        return u

      results[name] = (_grads_trajectory(step_fn), box["s"])
    yield results


def _optax_reference(opt):
  box = {}

  def step_fn(t, g, params):
    state = box.get("s", opt.init(params))
    u, box["s"] = opt.update(g, state, params)
    return u

  return _grads_trajectory(step_fn)


def _numpy_reference(direction, momentum_type="none", schedule=lambda t: 1.0):
  """``direction(t, g, w, st) -> u`` per leaf (st: a per-leaf dict of moment buffers, updated in place)."""
  states: dict = {}

  def step_fn(t, g, params):
    out = {}
    for name in g:
      st = states.setdefault(name, {"v": 0.0, "s": 0.0, "l": 0.0, "mom": 0.0})
      gn, w = np.asarray(g[name]), np.asarray(params[name])
      st["v"] = 0.9 * st["v"] + 0.1 * gn
      st["s"] = 0.99 * st["s"] + 0.01 * gn**2
      st["l"] = 0.999 * st["l"] + 0.001 * gn**3
      k = t + 1
      st["v_hat"], st["s_hat"], st["l_hat"] = st["v"] / (1 - 0.9**k), st["s"] / (1 - 0.99**k), st["l"] / (1 - 0.999**k)
      d = -LR * schedule(t) * direction(t, gn, w, st)
      if momentum_type == "nesterov":
        st["mom"] = 0.9 * st["mom"] + d
        out[name] = jnp.asarray(0.9 * st["mom"] + d)
      else:
        out[name] = jnp.asarray(d)
    return out

  return _grads_trajectory(step_fn)


def _decay(expr):
  """Decay operands a1..a14 at step t of T (nos.md §2.2)."""
  def f(t):
    p = min(t, T - 1) / T
    r = ((2 * min(t, T - 1)) % T) / T
    b = 0.95 * (1 - (min(t, T - 1) + 1) / T)
    a = {1: 1 - p, 2: p, 4: 0.5 * (1 - np.cos(np.pi * p)), 6: 0.5 * (1 - np.cos(2 * np.pi * p)),
         8: 0.5 * (1 - np.cos(np.pi * r)), 10: r, 11: 0.01**p, 13: b / (0.05 + b)}
    return expr(a)
  return f


sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
softsign = lambda x: x / (1 + np.abs(x))  # noqa: E731
dtanh = lambda x: 1 - np.tanh(x) ** 2  # noqa: E731
EPS = 1e-7
lr0 = _decay(lambda a: erfc(erfc(a[4])) / dtanh(a[8]))
q = lambda st, g: 0.3 * g + 0.7 * st["v_hat"]  # noqa: E731
qs = lambda st, g: 0.05 * g**2 + 0.95 * st["s_hat"]  # noqa: E731
clip = lambda x, b: np.clip(x, -np.abs(b), np.abs(b))  # noqa: E731
sign_m = lambda g, st: np.sign(g) * np.sign(st["v"])  # noqa: E731


def _norm_clip(x):
  return x * min(1.0, 1.0 / np.sqrt(np.sum(x * x)))


REFERENCES = {
    "sgd": lambda: _optax_reference(optax.sgd(LR)),
    "momentum": lambda: _optax_reference(optax.sgd(LR, momentum=0.9)),
    "nesterov": lambda: _optax_reference(optax.sgd(LR, momentum=0.9, nesterov=True)),
    "rmsprop": lambda: _optax_reference(optax.rmsprop(LR)),
    "adam": lambda: _optax_reference(optax.adam(LR)),
    "adamw": lambda: _optax_reference(optax.adamw(LR)),
    "lion": lambda: _optax_reference(optax.lion(LR)),
    "powersign": lambda: _numpy_reference(lambda t, g, w, st: np.exp(sign_m(g, st)) * g),
    "addsign": lambda: _numpy_reference(lambda t, g, w, st: (1 + sign_m(g, st)) * g),
    "powersign_ld": lambda: _numpy_reference(lambda t, g, w, st: np.exp(_decay(lambda a: a[1])(t) * sign_m(g, st)) * g),
    "addsign_ld": lambda: _numpy_reference(lambda t, g, w, st: (1 + _decay(lambda a: a[1])(t) * sign_m(g, st)) * g),
    "nos_opt1": lambda: _numpy_reference(
        lambda t, g, w, st: q(st, g) + softsign(clip(1e-5 * w, 1e-5 * w - qs(st, g)))),
    "nos_opt2": lambda: _numpy_reference(
        lambda t, g, w, st: q(st, g) + softsign(1e-5 * w / np.sqrt(1 + (1e-5 * w - qs(st, g)) ** 2))),
    "nos_opt3": lambda: _numpy_reference(
        lambda t, g, w, st: q(st, g) + softsign(1e-5 * w / np.sqrt(1 + (1e-5 * w - (0.01 * g**3 + 0.99 * st["l_hat"])) ** 2))),
    "nos_opt4": lambda: _numpy_reference(
        lambda t, g, w, st: q(st, g) / (np.minimum(2, np.abs(np.arctan(_decay(lambda a: a[13])(t)) * np.exp(st["v_hat"]))) + EPS),
        schedule=lr0),
    "nos_opt5": lambda: _numpy_reference(
        lambda t, g, w, st: q(st, g) / (np.minimum(2, np.exp(st["v_hat"])) + EPS), schedule=lr0),
    "nos_opt6": lambda: _numpy_reference(
        lambda t, g, w, st: q(st, g) / (np.abs(dtanh(_decay(lambda a: a[4])(t)) * np.exp(1e-4 * w)) + EPS), schedule=lr0),
    "nos_opt7": lambda: _numpy_reference(
        lambda t, g, w, st: np.tanh(_decay(lambda a: max(a[6], a[10]))(t) * np.arcsinh(q(st, g)))),
    "nos_opt8": lambda: _numpy_reference(
        lambda t, g, w, st: np.arcsinh(_decay(lambda a: max(a[6], a[10]))(t) * np.arcsinh(q(st, g)))),
    "nos_opt9": lambda: _numpy_reference(
        lambda t, g, w, st: _decay(lambda a: erfc(a[11]))(t) * g * np.exp(np.arctan(qs(st, g))), "nesterov"),
    "nos_opt10": lambda: _numpy_reference(
        lambda t, g, w, st: i1e(i1e(_decay(lambda a: a[13] * a[2])(t) * g)), "nesterov"),
    "nos_adam_clip0": lambda: _numpy_reference(lambda t, g, w, st: clip(st["v_hat"], np.sqrt(st["s_hat"]))),
    "nos_adam_clip1": lambda: _numpy_reference(lambda t, g, w, st: clip(st["v_hat"], np.log(st["s_hat"] + EPS))),
    "nos_adam_clip2": lambda: _numpy_reference(
        lambda t, g, w, st: clip(st["v_hat"], np.sqrt(np.abs(np.log(st["s_hat"] + EPS))))),
    "nos_adam_clip3": lambda: _numpy_reference(lambda t, g, w, st: clip(st["v_hat"], sig(st["s_hat"] + 1e-7))),
    "nos_adam_clip4": lambda: _numpy_reference(lambda t, g, w, st: _norm_clip(clip(st["v_hat"], np.sqrt(st["s_hat"])))),
}


def test_every_known_genome_has_a_reference():
  assert set(REFERENCES) == set(G.KNOWN)


@pytest.mark.parametrize("name", sorted(G.KNOWN))
def test_known_matches_reference(interpreted, name):
  with jax.enable_x64(True):
    ours, state = interpreted[name]
    ref = REFERENCES[name]()
  for t, (a, b) in enumerate(zip(ours, ref)):
    for leaf in a:
      np.testing.assert_allclose(np.asarray(a[leaf]), np.asarray(b[leaf]), rtol=1e-6, atol=1e-12,
                                 err_msg=f"{name}, step {t}, leaf {leaf}")
  assert bool(G.is_finite(state))


def test_unknown_name_lists_known_ones():
  with pytest.raises(ValueError, match="adam"):
    G.known("adamax_evolved")
