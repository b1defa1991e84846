"""The optimizers re-exported from optax and optax.contrib (``optix_evo/optimizers/from_optax.py``), each against its
paper's algorithm written out in NumPy (float64, a few steps on a two-leaf quadratic), and as zoo entries: a
registry name, a bench row and an ``optix-evo zoo`` entry."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optix_evo as ox
from optix_evo.bench.rows import parse_row

A = {"w": np.array([[1.0, 3.0], [0.5, 2.0], [1.5, 0.7]]), "b": np.array([2.0, 0.25])}
C = {"w": np.array([[1.0, -2.0], [0.5, 3.0], [-1.0, 0.2]]), "b": np.array([-0.5, 1.5])}
P0 = {"w": np.array([[0.3, 0.1], [-0.4, 0.8], [0.6, -0.2]]), "b": np.array([0.2, -0.1])}
STEPS = 6


def grad(p):
  return {k: A[k] * (p[k] - C[k]) for k in p}


def loss(p):
  return sum(0.5 * jnp.sum(A[k] * (p[k] - C[k]) ** 2) for k in p)


def run_optax(tx, steps=STEPS, **extra):
  """The parameter trajectory of ``tx`` (float64), with the batch loss as ``value=`` where asked."""
  with jax.enable_x64(True):
    p = jax.tree.map(jnp.asarray, P0)
    state, out = tx.init(p), []
    for _ in range(steps):
      kw = {"value": loss(p)} if extra.get("value") else {}
      u, state = tx.update(jax.tree.map(jnp.asarray, grad(jax.tree.map(np.asarray, p))), state, p, **kw)
      p = optax.apply_updates(p, u)
      out.append(jax.tree.map(np.asarray, p))
    return out, state


def run_numpy(step, steps=STEPS):
  """``step(t, p, g, s) -> (p, s)`` per leaf-dict, t = 1, 2, ...; ``s`` a dict the step keeps."""
  p, s, out = {k: v.copy() for k, v in P0.items()}, {}, []
  for t in range(1, steps + 1):
    p, s = step(t, p, grad(p), s)
    out.append({k: v.copy() for k, v in p.items()})
  return out


def close(got, want, rtol=1e-7):
  for g, w in zip(got, want, strict=True):
    for k in w:
      np.testing.assert_allclose(g[k], w[k], rtol=rtol, atol=1e-9)  # eps-level differences (optax adds eps to |g| in adamax)


def per_leaf(fn):
  """A NumPy step written for one leaf (p, g, state-dict of that leaf) applied to every leaf."""
  def step(t, p, g, s):
    new = {}
    for k in p:
      new[k], s[k] = fn(t, p[k], g[k], s.get(k, {}))
    return new, s
  return step


# ----------------------------------------------------------------------------------------------------------------
# References, each the paper's algorithm


def adamax_ref(lr, b1=0.9, b2=0.999):  # Kingma & Ba 2015, Algorithm 2
  def f(t, p, g, s):
    m = b1 * s.get("m", 0) + (1 - b1) * g
    u = np.maximum(b2 * s.get("u", 0), np.abs(g))
    return p - lr / (1 - b1**t) * m / u, {"m": m, "u": u}
  return per_leaf(f)


def amsgrad_ref(lr, b1=0.9, b2=0.999, eps=1e-8):  # Reddi et al. 2018, Algorithm 2 (no bias correction)
  def f(t, p, g, s):
    m = b1 * s.get("m", 0) + (1 - b1) * g
    v = b2 * s.get("v", 0) + (1 - b2) * g**2
    vhat = np.maximum(s.get("vhat", 0), v)
    return p - lr * m / (np.sqrt(vhat) + eps), {"m": m, "v": v, "vhat": vhat}
  return per_leaf(f)


def yogi_ref(lr, b1=0.9, b2=0.999, eps=1e-8, v0=1e-6, m0=0.0):
  """Zaheer et al. 2018, Algorithm 2, bias-corrected as their TF code (tfa.optimizers.Yogi); ``m0`` is the first
  moment's start (0 there; optax starts it at its initial_accumulator_value 1e-6, documented in ``ox.yogi``)."""
  def f(t, p, g, s):
    m = b1 * s.get("m", m0) + (1 - b1) * g
    v = s.get("v", v0 * np.ones_like(p))
    v = v - (1 - b2) * np.sign(v - g**2) * g**2
    return p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps), {"m": m, "v": v}
  return per_leaf(f)


def lamb_ref(lr, wd, b1=0.9, b2=0.999, eps=1e-6):  # You et al. 2020, Algorithm 2 (phi = identity)
  def f(t, p, g, s):
    m = b1 * s.get("m", 0) + (1 - b1) * g
    v = b2 * s.get("v", 0) + (1 - b2) * g**2
    r = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps) + wd * p
    trust = np.linalg.norm(p) / np.linalg.norm(r)
    return p - lr * trust * r, {"m": m, "v": v}
  return per_leaf(f)


def sign_sgd_ref(lr):  # Bernstein et al. 2018, Algorithm 1
  return per_leaf(lambda t, p, g, s: (p - lr * np.sign(g), s))


def signum_ref(lr, beta=0.9):  # Bernstein et al. 2018, Algorithm 3
  def f(t, p, g, s):
    m = beta * s.get("m", 0) + (1 - beta) * g
    return p - lr * np.sign(m), {"m": m}
  return per_leaf(f)


def adopt_ref(lr, b1=0.9, b2=0.9999, eps=1e-6):  # Taniguchi et al. 2024, Algorithm 2 (v_0 = g_0^2, no step at t=0)
  def f(t, p, g, s):
    if "v" not in s:
      return p, {"v": g**2, "m": np.zeros_like(p)}
    m = b1 * s["m"] + (1 - b1) * g / np.maximum(np.sqrt(s["v"]), eps)
    v = b2 * s["v"] + (1 - b2) * g**2
    return p - lr * m, {"m": m, "v": v}
  return per_leaf(f)


def ademamix_ref(lr, b1=0.9, b2=0.999, b3=0.9999, alpha=5.0, eps=1e-8, wd=0.0):  # Pagliardini et al., Algorithm 1
  def f(t, p, g, s):
    m1 = b1 * s.get("m1", 0) + (1 - b1) * g
    m2 = b3 * s.get("m2", 0) + (1 - b3) * g
    v = b2 * s.get("v", 0) + (1 - b2) * g**2
    u = (m1 / (1 - b1**t) + alpha * m2) / (np.sqrt(v / (1 - b2**t)) + eps)
    return p - lr * (u + wd * p), {"m1": m1, "m2": m2, "v": v}
  return per_leaf(f)


def schedule_free_sgd_ref(lr, beta=0.9):  # Defazio et al. 2024, Algorithm 1 (SGD) as facebookresearch/schedule_free
  def step(t, y, g_y, s):
    z = s.get("z", {k: v.copy() for k, v in P0.items()})
    x = s.get("x", {k: v.copy() for k, v in P0.items()})
    z = {k: z[k] - lr * g_y[k] for k in z}
    c = 1.0 / t  # the authors' code: weight_sum starts at 0, so the first average is z itself (c = 1), then 1/t
    x = {k: (1 - c) * x[k] + c * z[k] for k in x}
    y = {k: (1 - beta) * z[k] + beta * x[k] for k in x}
    return y, {"z": z, "x": x}
  return step


def muon_ref(lr, beta=0.95, coeffs=(3.4445, -4.775, 2.0315), ns_steps=5, eps=1e-8):
  """The matrix's update is KellerJordan/Muon's ``zeropower_via_newtonschulz5`` (Frobenius-normalised, transposed
  when tall, quintic iteration) of optax's bias-corrected Nesterov momentum
  :math:`\\beta \\hat m_{t+1} + (1-\\beta) \\hat g_t` (the code's momentum is uncorrected and its update is scaled by
  :math:`\\sqrt{\\max(1, rows/cols)}`: differences documented in ``ox.muon``); the vector leaf takes NAdam (optax's default ``nesterov=True``)."""
  def orthogonalise(G):
    X = G / (np.linalg.norm(G) + eps)
    transpose = X.shape[0] > X.shape[1]
    X = X.T if transpose else X
    a, b, c = coeffs
    for _ in range(ns_steps):
      M = X @ X.T
      X = a * X + (b * M + c * M @ M) @ X
    return X.T if transpose else X

  def step(t, p, g, s):
    new = {}
    m = beta * s.get("m", 0) + (1 - beta) * g["w"]
    u = orthogonalise(beta * m / (1 - beta ** (t + 1)) + (1 - beta) * g["w"] / (1 - beta**t))
    new["w"] = p["w"] - lr * u
    am = 0.9 * s.get("am", 0) + 0.1 * g["b"]
    av = 0.999 * s.get("av", 0) + 0.001 * g["b"] ** 2
    mhat = 0.9 * am / (1 - 0.9 ** (t + 1)) + 0.1 * g["b"] / (1 - 0.9**t)  # optax's NAdam form (nesterov=True)
    new["b"] = p["b"] - lr * mhat / (np.sqrt(av / (1 - 0.999**t)) + 1e-8)
    return new, {"m": m, "am": am, "av": av}
  return step


REFERENCES = {  # name -> (the optimizer as ox builds it, the NumPy reference)
    "adamax": (lambda: ox.adamax(0.05, eps=1e-14), adamax_ref(0.05)),  # optax adds eps to |g| inside the max
    "amsgrad": (lambda: ox.amsgrad(0.05, bias_correction_mu=False, bias_correction_nu=False), amsgrad_ref(0.05)),
    # b2 = 0.75: its powers are exact in float32, where optax computes 1 - b2**t even under x64
    "yogi": (lambda: ox.yogi(0.05, b2=0.75, eps=1e-8), yogi_ref(0.05, b2=0.75, m0=1e-6)),
    "lamb": (lambda: ox.lamb(0.05, weight_decay=0.01), lamb_ref(0.05, 0.01)),
    "sign_sgd": (lambda: ox.sign_sgd(0.05), sign_sgd_ref(0.05)),
    "signum": (lambda: ox.signum(0.05), signum_ref(0.05)),
    "adopt": (lambda: ox.adopt(0.05, use_clipping=False), adopt_ref(0.05)),
    "ademamix": (lambda: ox.ademamix(0.05), ademamix_ref(0.05)),
    "schedule_free_sgd": (lambda: ox.schedule_free_sgd(0.05), schedule_free_sgd_ref(0.05)),
    "muon": (lambda: ox.muon(0.05), muon_ref(0.05)),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_matches_the_papers_algorithm(name):
  build, reference = REFERENCES[name]
  close(run_optax(build())[0], run_numpy(reference))


# The re-exports checked here only by optax's battery (tests/optimizers/test_optax_conformance.py) and the zoo's
# property tests (tests/optimizers/test_zoo.py); every other one has a NumPy reference above.
BATTERY_ONLY = {"acprop", "adadelta", "adafactor", "adamaxw", "cocob", "dadapt_adamw", "dog", "dowg", "fromage", "lars",
                "madgrad", "momo", "momo_adam", "nadam", "nadamw", "novograd", "polyak_sgd", "prodigy",
                "schedule_free_adamw", "simplified_ademamix", "sm3"}


def test_every_reexport_is_a_registry_entry_with_a_stated_check():
  names = set(ox.OPTAX_CORE) | set(ox.OPTAX_CONTRIB)
  assert names <= set(ox.OPTIMIZERS) and names <= set(ox.__all__)
  assert set(REFERENCES) | BATTERY_ONLY == names and not set(REFERENCES) & BATTERY_ONLY
  for name in names:  # optax's signature, the zoo's own checks
    assert getattr(ox, name).__wrapped__ in (getattr(optax, name, None), getattr(optax.contrib, name, None))


@pytest.mark.parametrize("build", [lambda: ox.lamb(-1e-3), lambda: ox.prodigy(learning_rate=float("nan")),
                                   lambda: ox.adamaxw(1e-3, weight_decay=-0.1)])
def test_bad_hyperparameters_raise_value_error_at_construction(build):
  with pytest.raises(ValueError, match="learning_rate|weight_decay"):
    build()


def test_integer_parameters_and_mismatched_trees_are_refused():
  with pytest.raises(ValueError, match="int32 parameter"):
    ox.muon(1e-2).init({"w": jnp.ones((2, 2), jnp.int32)})
  opt = ox.schedule_free_adamw(1e-2)
  params = {"w": jnp.ones((2, 2))}
  with pytest.raises(ValueError, match="gradient tree"):
    opt.update({"v": jnp.ones((2, 2))}, opt.init(params), params)


def test_polyak_registry_entry_scales_the_polyak_step():
  """The registry's learning_rate (what a bench grid sweeps) is optax's scaling of the Polyak step."""
  params = {"w": jnp.array([3.0, -4.0])}
  g = {"w": jnp.array([1.0, 1.0])}  # step = min(value / |g|^2, max) = 2 / 2 = 1
  steps = [ox.get_optimizer("polyak_sgd", learning_rate=lr).update(g, ox.get_optimizer("polyak_sgd").init(params),
                                                                   params, value=jnp.asarray(2.0))[0]["w"]
           for lr in (1.0, 0.5)]
  np.testing.assert_allclose(steps[0], [-1.0, -1.0])
  np.testing.assert_allclose(steps[1], [-0.5, -0.5])


@pytest.mark.parametrize("name", sorted(set(ox.OPTAX_CORE) | set(ox.OPTAX_CONTRIB)))
def test_is_a_bench_row_trained_over_a_learning_rate_grid(name):
  """What ``optix-evo bench`` does with a zoo row: build it with traced hyperparameters and train under vmap over
  the grid (traced here: ``jax.eval_shape``, no compilation)."""
  from optix_evo import training
  from optix_evo.bench.rows import Schedule, check_buildable

  row = parse_row(name)
  check_buildable(row, {"lr": [1.0, 0.1]})
  x = jnp.ones((8, 3))
  data = ox.data.Dataset(x, jnp.zeros(8, jnp.int32))
  loss_fn = lambda p, xb, yb: (jnp.mean((xb @ p["w"] + p["b"]) ** 2), {})
  params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}

  def train(lr):
    opt = row.build({"lr": lr}, Schedule(4, 4))
    return training.fit(loss_fn, params, opt, data, jax.random.key(0), steps=4, batch_size=4).params

  out = jax.eval_shape(jax.vmap(train), jnp.array([1.0, 0.1]))
  assert out["w"].shape == (2, 3, 2)


def test_zoo_command_trains_new_entries():
  from optix_evo.optimizers.compare import compare_zoo

  rows = compare_zoo(["schedule_free_adamw", "muon"], seeds=1, steps=3, hidden=(8,))
  assert {r.optimizer for r in rows} == {"schedule_free_adamw", "muon"}
  assert all(np.isfinite(r.final_train_loss_mean) for r in rows)


def rprop_ref(lr, eta_minus=0.5, eta_plus=1.2, lo=1e-6, hi=50.0):  # torch.optim.Rprop (iRprop-), written out
  def f(t, p, g, s):
    prev, size = s.get("prev", np.zeros_like(p)), s.get("size", np.full_like(p, lr))
    sign = np.sign(g * prev)
    size = np.clip(size * np.where(sign > 0, eta_plus, np.where(sign < 0, eta_minus, 1.0)), lo, hi)
    g = np.where(sign < 0, 0.0, g)
    return p - np.sign(g) * size, {"prev": g, "size": size}
  return per_leaf(f)


def test_rprop_is_torchs_and_optax_lags_one_step():
  """ox.rprop takes torch.optim.Rprop's steps (a long enough run to cross the minimum: sign flips, growth, shrink);
  optax.rprop (0.2.8) applies each step one update late: its first step is zero, so its trajectory differs."""
  steps = 12
  want = run_numpy(rprop_ref(0.3), steps)
  close(run_optax(ox.rprop(0.3), steps)[0], want)
  lagged = run_optax(optax.rprop(0.3), steps)[0]
  close(lagged[:1], [P0])
  close(lagged[1:2], want[:1])  # its second step is the reference's first
  assert max(np.abs(a[k] - b[k]).max() for a, b in zip(lagged, want) for k in b) > 0.1
