"""Reference trajectories of the optimizer zoo (``python tests/oracles/make_fixtures.py zoo`` → ``zoo.json``).

Every case runs ``STEPS`` full-batch steps on :mod:`problem` in float64 and records the parameters after each step
(``w`` flattened row-major, then ``b``), with the hyperparameters and the reference it was produced with.
References: ``torch.optim``, pytorch-optimizer, and, where no package implements the algorithm as specified, a
faithful torch transcription written here: SWATS (Keskar & Socher 2017, Algorithm 1 over the whole tree),
PowerSign/AddSign (TF 1.x ``ApplyPowerSign``/``ApplyAddSign`` kernels and ``sign_decay.py``), AdaBound (Luolc/AdaBound,
cross-checked against pytorch-optimizer), Sophia (optax's Sophia-H algorithm with the exact Hessian diagonal, so that
no random probes are involved) and the layer-wise weight decays (zoo_references.md §6).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytorch_optimizer as po
import torch

from problem import loss, make_problem

STEPS = 50
Step = Callable[[list[torch.Tensor], list[torch.Tensor]], None]  # (params, grads) -> None, updates params in place


def _trajectory(problem, make_step: Callable[[list[torch.Tensor]], Step]) -> list[list[float]]:
  x, y = (torch.tensor(problem[k], dtype=torch.float64) for k in ("x", "y"))
  params = [torch.tensor(problem[k], dtype=torch.float64, requires_grad=True) for k in ("w", "b")]
  step = make_step(params)
  out = []
  for _ in range(STEPS):
    grads = torch.autograd.grad(loss(params[0], params[1], x, y, torch.tanh), params)
    with torch.no_grad():
      step(params, [g.detach().clone() for g in grads])
    out.append(torch.cat([p.detach().reshape(-1) for p in params]).tolist())  # full float64 precision
  return out


def _torch_optimizer(cls, **kwargs) -> Callable[[list[torch.Tensor]], Step]:
  def make(params):
    opt = cls(params, **kwargs)

    def step(ps, gs):
      for p, g in zip(ps, gs):
        p.grad = g
      opt.step()

    return step

  return make


# ----------------------------------------------------------------------------------------------------------------
# Transcriptions


def _swats(lr, b1, b2, eps, weight_decay, nesterov, info) -> Callable[[list[torch.Tensor]], Step]:
  """Keskar & Socher 2017, Algorithm 1; one γ/λ/Λ over all tensors; coupled L2; guard Λ > 0 as both torch packages."""

  def make(params):
    st = {"k": 0, "m": [torch.zeros_like(p) for p in params], "a": [torch.zeros_like(p) for p in params],
          "v": None, "lam": 0.0, "Lambda": None}

    def step(ps, gs):
      st["k"] += 1
      k = st["k"]
      gs = [g + weight_decay * p for p, g in zip(ps, gs)]
      if st["Lambda"] is not None:
        st["v"] = [b1 * v + g for v, g in zip(st["v"], gs)]
        for p, v, g in zip(ps, st["v"], gs):
          p -= (1 - b1) * st["Lambda"] * ((g + b1 * v) if nesterov else v)
        return
      st["m"] = [b1 * m + (1 - b1) * g for m, g in zip(st["m"], gs)]
      st["a"] = [b2 * a + (1 - b2) * g * g for a, g in zip(st["a"], gs)]
      scale = lr * math.sqrt(1 - b2**k) / (1 - b1**k)
      p_k = [-scale * m / (a.sqrt() + eps) for m, a in zip(st["m"], st["a"])]
      for p, d in zip(ps, p_k):
        p += d
      pg = sum(float((d * g).sum()) for d, g in zip(p_k, gs))
      if pg != 0:
        gamma = sum(float((d * d).sum()) for d in p_k) / (-pg)
        st["lam"] = b2 * st["lam"] + (1 - b2) * gamma
        rate = st["lam"] / (1 - b2**k)
        info.setdefault("gap", []).append(abs(rate - gamma))
        if k > 1 and rate > 0 and abs(rate - gamma) < eps:
          st["Lambda"], st["v"] = rate, [torch.zeros_like(p) for p in ps]
          info["switch_step"], info["sgd_rate"] = k, rate

    return step

  return make


def _adabound_luolc(lr, final_lr, gamma, b1, b2, eps, weight_decay, amsbound, info) -> Callable:
  """Luolc/AdaBound ``AdaBound.step`` (coupled L2), counting how often each bound binds."""

  def make(params):
    st = {"t": 0, "m": [torch.zeros_like(p) for p in params], "v": [torch.zeros_like(p) for p in params],
          "vmax": [torch.zeros_like(p) for p in params]}
    info.update(lower_binds=0, upper_binds=0)

    def step(ps, gs):
      st["t"] += 1
      t = st["t"]
      for i, (p, g) in enumerate(zip(ps, gs)):
        g = g + weight_decay * p
        st["m"][i] = b1 * st["m"][i] + (1 - b1) * g
        st["v"][i] = b2 * st["v"][i] + (1 - b2) * g * g
        if amsbound:
          st["vmax"][i] = torch.maximum(st["vmax"][i], st["v"][i])
        denom = (st["vmax"][i] if amsbound else st["v"][i]).sqrt() + eps
        step_size = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        lower, upper = final_lr * (1 - 1 / (gamma * t + 1)), final_lr * (1 + 1 / (gamma * t))
        raw = step_size / denom
        info["lower_binds"] += int((raw < lower).sum())
        info["upper_binds"] += int((raw > upper).sum())
        p -= raw.clamp(lower, upper) * st["m"][i]

    return step

  return make


def _sign_decay(kind, decay_steps, num_periods=None):
  """TF ``sign_decay.py`` (``zero_after=None``), evaluated at the pre-increment global step."""
  if kind is None:
    return lambda t: 1.0
  if kind == "linear":
    return lambda t: max(0.0, (decay_steps - min(t, decay_steps)) / decay_steps)
  if kind == "cosine":
    return lambda t: 0.5 * (1 + math.cos(math.pi * 2 * num_periods * min(t, decay_steps) / decay_steps))
  return lambda t: 0.5 * (1 + math.cos(math.pi * ((num_periods * min(t, decay_steps)) % decay_steps) / decay_steps))


def _sign_optimizer(lr, beta, gain, decay) -> Callable:
  """TF ``ApplyPowerSign`` / ``ApplyAddSign``: m = βm + (1-β)g; w -= lr·gain(decay·sign(g)·sign(m))·g."""

  def make(params):
    st = {"t": 0, "m": [torch.zeros_like(p) for p in params]}

    def step(ps, gs):
      d = decay(st["t"])
      for i, (p, g) in enumerate(zip(ps, gs)):
        st["m"][i] = beta * st["m"][i] + (1 - beta) * g
        p -= lr * gain(d * torch.sign(g) * torch.sign(st["m"][i])) * g
      st["t"] += 1

    return step

  return make


def _sophia_exact(problem, learning_rate, b1, b2, eps, weight_decay, gamma, clip_threshold, update_interval) -> Callable:
  """optax.contrib.sophia's algorithm (bias-corrected m; h refreshed after the update at steps 1, 1+k, ...), with
  the exact Hessian diagonal of the problem in place of Hutchinson's estimate."""
  x, y = (torch.tensor(problem[k], dtype=torch.float64) for k in ("x", "y"))

  def hess_diag(ps):
    sizes = [p.numel() for p in ps]

    def f(flat):
      w, b = torch.split(flat, sizes)
      return loss(w.reshape(ps[0].shape), b.reshape(ps[1].shape), x, y, torch.tanh)

    h = torch.autograd.functional.hessian(f, torch.cat([p.detach().reshape(-1) for p in ps])).diagonal()
    return [t.reshape(p.shape) for t, p in zip(torch.split(h, sizes), ps)]

  def make(params):
    st = {"k": 0, "m": [torch.zeros_like(p) for p in params], "h": [torch.zeros_like(p) for p in params]}

    def step(ps, gs):
      refresh = st["k"] % update_interval == 0
      st["k"] += 1
      hd = hess_diag(ps) if refresh else None
      for i, (p, g) in enumerate(zip(ps, gs)):
        st["m"][i] = b1 * st["m"][i] + (1 - b1) * g
        m_hat = st["m"][i] / (1 - b1 ** st["k"])
        u = (m_hat / torch.clamp(gamma * st["h"][i], min=eps)).clamp(-clip_threshold, clip_threshold)
        if refresh:
          st["h"][i] = b2 * st["h"][i] + (1 - b2) * hd[i]
        p -= learning_rate * (u + weight_decay * p)

    return step

  return make


def _sgd_layerwise(lr, weight_decay, mode, alpha, eps, beta) -> Callable:
  """w -= lr · layerwise_decay(g, w) (zoo_references.md §6; the decay link placed first, on raw gradients)."""

  def make(params):
    st = {"k": 0, "lam": [None for _ in params]}

    def step(ps, gs):
      for i, (p, g) in enumerate(zip(ps, gs)):
        if mode == "adadecay":
          a = g.abs()
          z = (a - a.mean()) / (a.std(correction=0) + eps)
          u = g + weight_decay * 2 * torch.sigmoid(alpha * z) * p
        elif mode == "awd":
          lam = weight_decay * float(g.norm()) / (float(p.norm()) + eps)
          lam = lam if st["k"] == 0 else beta * st["lam"][i] + (1 - beta) * lam
          st["lam"][i] = lam
          u = g + lam * p
        else:
          r = g + weight_decay * p
          wn, rn = float(p.norm()), float(r.norm())
          u = (wn / rn if wn > 0 and rn > 0 else 1.0) * r
        p -= lr * u
      st["k"] += 1

    return step

  return make


# ----------------------------------------------------------------------------------------------------------------


def make() -> dict:
  torch.set_default_dtype(torch.float64)
  problem = make_problem()
  cases = []

  def add(name, optimizer, hparams, reference, make_step, info=None):
    cases.append({"name": name, "optimizer": optimizer, "hparams": hparams, "reference": reference,
                  "info": info or {}, "trajectory": _trajectory(problem, make_step)})

  add("sgd", "sgd", {"learning_rate": 0.1}, "torch.optim.SGD", _torch_optimizer(torch.optim.SGD, lr=0.1))
  add("momentum", "sgd", {"learning_rate": 0.05, "momentum": 0.9}, "torch.optim.SGD",
      _torch_optimizer(torch.optim.SGD, lr=0.05, momentum=0.9))
  add("nesterov", "sgd", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}, "torch.optim.SGD",
      _torch_optimizer(torch.optim.SGD, lr=0.05, momentum=0.9, nesterov=True))
  add("adagrad_torch", "adagrad",
      {"learning_rate": 0.05, "initial_accumulator_value": 0.0, "eps": 1e-10, "eps_in_sqrt": False},
      "torch.optim.Adagrad", _torch_optimizer(torch.optim.Adagrad, lr=0.05))
  add("rmsprop_torch", "rmsprop", {"learning_rate": 0.003, "decay": 0.99, "eps": 1e-8, "eps_in_sqrt": False},
      "torch.optim.RMSprop", _torch_optimizer(torch.optim.RMSprop, lr=0.003, alpha=0.99, eps=1e-8))
  add("rmsprop_momentum_centered", "rmsprop",
      {"learning_rate": 0.003, "decay": 0.99, "eps": 1e-8, "eps_in_sqrt": False, "momentum": 0.5, "centered": True},
      "torch.optim.RMSprop",
      _torch_optimizer(torch.optim.RMSprop, lr=0.003, alpha=0.99, eps=1e-8, momentum=0.5, centered=True))
  add("adam", "adam", {"learning_rate": 0.01}, "torch.optim.Adam", _torch_optimizer(torch.optim.Adam, lr=0.01))
  add("adamw", "adamw", {"learning_rate": 0.01, "weight_decay": 0.1}, "torch.optim.AdamW",
      _torch_optimizer(torch.optim.AdamW, lr=0.01, weight_decay=0.1))
  add("radam_torch", "radam", {"learning_rate": 0.01, "eps_after_bias_correction": False}, "torch.optim.RAdam",
      _torch_optimizer(torch.optim.RAdam, lr=0.01))
  add("adabelief_wd", "adabelief", {"learning_rate": 0.01, "weight_decay": 0.1},
      "pytorch_optimizer.AdaBelief(weight_decouple=True, rectify=False, eps=1e-16)",
      _torch_optimizer(po.AdaBelief, lr=0.01, weight_decay=0.1, foreach=False))
  add("adan", "adan", {"learning_rate": 0.01}, "pytorch_optimizer.Adan",
      _torch_optimizer(po.Adan, lr=0.01, foreach=False))
  add("adan_proximal_wd", "adan", {"learning_rate": 0.01, "weight_decay": 0.2, "proximal": True},
      "pytorch_optimizer.Adan(weight_decouple=False) (= official no_prox=False)",
      _torch_optimizer(po.Adan, lr=0.01, weight_decay=0.2, foreach=False))
  add("adan_adamw_wd", "adan", {"learning_rate": 0.01, "weight_decay": 0.2, "proximal": False},
      "pytorch_optimizer.Adan(weight_decouple=True) (= official no_prox=True)",
      _torch_optimizer(po.Adan, lr=0.01, weight_decay=0.2, weight_decouple=True, foreach=False))
  add("lion_wd", "lion", {"learning_rate": 0.003, "weight_decay": 0.3}, "pytorch_optimizer.Lion",
      _torch_optimizer(po.Lion, lr=0.003, weight_decay=0.3, foreach=False))
  sophia_hp = {"learning_rate": 0.01, "b1": 0.965, "b2": 0.99, "eps": 1e-8, "weight_decay": 0.01, "gamma": 0.01,
               "clip_threshold": 1.0, "update_interval": 3}
  add("sophia_exact_hessian", "sophia", sophia_hp,
      "torch transcription of optax.contrib.sophia with the exact Hessian diagonal",
      _sophia_exact(problem, **sophia_hp))

  for name, hp in [
      ("swats_no_switch", {"learning_rate": 0.01, "eps": 1e-9}),
      ("swats_switch", {"learning_rate": 0.002, "eps": 1e-4}),
      ("swats_switch_nesterov_wd", {"learning_rate": 0.001, "eps": 1e-4, "weight_decay": 0.01, "nesterov": True}),
  ]:
    info: dict = {}
    full = {"b1": 0.9, "b2": 0.999, "weight_decay": 0.0, "nesterov": False, **hp}
    lr = full.pop("learning_rate")
    make_step = _swats(lr, info=info, **full)
    trajectory = _trajectory(problem, make_step)
    gaps = info.pop("gap")
    if name == "swats_no_switch":
      assert "switch_step" not in info, "the eps=1e-9 SWATS case should not switch"
    else:
      k = info["switch_step"]
      assert k < STEPS - 10, f"{name}: switched too late ({k}) to test the SGD phase"
      # The switch decision must not be sensitive to rounding: clear margins on both sides of the threshold.
      assert gaps[k - 1] < hp["eps"] * (1 - 1e-3) and all(gap > hp["eps"] * (1 + 1e-3) for gap in gaps[1 : k - 1]), gaps
    cases.append({"name": name, "optimizer": "swats", "hparams": hp, "info": info, "trajectory": trajectory,
                  "reference": "torch transcription of Keskar & Socher 2017, Algorithm 1 (whole tree)"})

  for name, hp, ams in [
      ("adabound_binding_wd", {"learning_rate": 0.01, "final_lr": 0.1, "gamma": 0.1, "weight_decay": 0.05}, False),
      ("amsbound_binding", {"learning_rate": 0.01, "final_lr": 0.1, "gamma": 0.1, "amsbound": True}, True),
  ]:
    info = {}
    args = dict(lr=hp["learning_rate"], final_lr=hp["final_lr"], gamma=hp["gamma"], b1=0.9, b2=0.999, eps=1e-8,
                weight_decay=hp.get("weight_decay", 0.0), amsbound=ams)
    trajectory = _trajectory(problem, _adabound_luolc(info=info, **args))
    assert info["lower_binds"] > 0 and info["upper_binds"] > 0, f"{name}: the bounds must bind ({info})"
    check = _trajectory(problem, _torch_optimizer(
        po.AdaBound, lr=args["lr"], final_lr=args["final_lr"], gamma=args["gamma"], weight_decay=args["weight_decay"],
        weight_decouple=False, ams_bound=ams, foreach=False))
    assert np.allclose(trajectory, check, rtol=1e-8, atol=1e-10), f"{name}: Luolc transcription != pytorch-optimizer"
    cases.append({"name": name, "optimizer": "adabound", "hparams": hp, "info": info, "trajectory": trajectory,
                  "reference": "Luolc/AdaBound transcription (coupled L2), equal to pytorch_optimizer.AdaBound(weight_decouple=False)"})
  add("adabound_decoupled_wd", "adabound",
      {"learning_rate": 0.01, "final_lr": 0.1, "gamma": 0.1, "weight_decay": 0.05, "decoupled_weight_decay": True},
      "pytorch_optimizer.AdaBound(weight_decouple=True)",
      _torch_optimizer(po.AdaBound, lr=0.01, final_lr=0.1, gamma=0.1, weight_decay=0.05, foreach=False))

  sign_cases = [
      ("powersign", "powersign", {"learning_rate": 0.05}, lambda s: math.e**s, None),
      ("powersign_base2_ld", "powersign", {"learning_rate": 0.05, "base": 2.0, "sign_decay": ["linear", 40]},
       lambda s: 2.0**s, ("linear", 40, None)),
      ("addsign", "addsign", {"learning_rate": 0.05}, lambda s: 1.0 + s, None),
      ("addsign_cd", "addsign", {"learning_rate": 0.05, "sign_decay": ["cosine", 40, 0.5]},
       lambda s: 1.0 + s, ("cosine", 40, 0.5)),
      ("addsign_rd", "addsign", {"learning_rate": 0.05, "alpha": 0.5, "beta": 0.8, "sign_decay": ["restart", 40, 3.0]},
       lambda s: 0.5 + s, ("restart", 40, 3.0)),
  ]
  for name, opt, hp, gain, decay in sign_cases:
    add(name, opt, hp, "torch transcription of TF 1.x contrib PowerSign/AddSign + sign_decay.py",
        _sign_optimizer(hp["learning_rate"], hp.get("beta", 0.9), gain,
                        _sign_decay(*decay) if decay else _sign_decay(None, 0)))

  for mode, hp in [("adadecay", {"alpha": 4.0}), ("awd", {"beta": 0.5}), ("trust", {})]:
    full = {"learning_rate": 0.1, "weight_decay": 0.05, "mode": mode, "alpha": 4.0, "eps": 1e-8, "beta": 0.0, **hp}
    add(f"layerwise_{mode}", "sgd+layerwise_decay", full, "torch transcription of zoo_references.md §6",
        _sgd_layerwise(full["learning_rate"], full["weight_decay"], mode, full["alpha"], full["eps"], full["beta"]))

  _registry_defaults(problem, add)
  return {"steps": STEPS, "problem": {k: v.tolist() for k, v in problem.items()}, "cases": cases}


def _registry_defaults(problem, add) -> None:
  """One case per registry entry, built on the JAX side by ``ox.get_optimizer(name)`` with no argument: the
  reference runs with its own defaults for every hyperparameter. Learning rates are the registry's; they differ from
  the reference's default only for SGD (torch.optim.SGD defaults to 1e-3), and momentum/Nesterov set torch's
  ``momentum=0.9`` (its default is 0). Sophia's case swaps in the exact Hessian diagonal on both sides."""
  torch_cases = {
      "sgd": (torch.optim.SGD, {"lr": 0.1}),
      "momentum": (torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
      "nesterov": (torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
      "adagrad": (torch.optim.Adagrad, {}),
      "rmsprop": (torch.optim.RMSprop, {}),
      "adam": (torch.optim.Adam, {}),
      "adamw": (torch.optim.AdamW, {}),
      "radam": (torch.optim.RAdam, {}),
      "adabelief": (po.AdaBelief, {"foreach": False}),
      "adan": (po.Adan, {"foreach": False}),
      "lion": (po.Lion, {"foreach": False}),
      "adabound": (po.AdaBound, {"foreach": False}),
      "amsbound": (po.AdaBound, {"ams_bound": True, "foreach": False}),
  }
  for name, (cls, kwargs) in torch_cases.items():
    add(f"default_{name}", name, {}, f"{cls.__module__}.{cls.__name__}({kwargs or 'defaults'})",
        _torch_optimizer(cls, **kwargs), {"registry_default": True})
  sophia = {"learning_rate": 1e-4, "b1": 0.965, "b2": 0.99, "eps": 1e-8, "weight_decay": 1e-4, "gamma": 0.01,
            "clip_threshold": 1.0, "update_interval": 10}  # optax.contrib.sophia's defaults
  add("default_sophia", "sophia", {}, "torch transcription of optax.contrib.sophia (defaults, exact Hessian diagonal)",
      _sophia_exact(problem, **sophia), {"registry_default": True})
  swats_info: dict = {"registry_default": True}
  add("default_swats", "swats", {}, "torch transcription of Keskar & Socher 2017, Algorithm 1 (paper defaults)",
      _swats(1e-3, 0.9, 0.999, 1e-9, 0.0, False, swats_info), swats_info)
  swats_info.pop("gap", None)
  for name, gain in (("powersign", lambda s: math.e**s), ("addsign", lambda s: 1.0 + s)):
    add(f"default_{name}", name, {}, "torch transcription of TF 1.x contrib (defaults: lr 0.1, beta 0.9)",
        _sign_optimizer(0.1, 0.9, gain, _sign_decay(None, 0)), {"registry_default": True})
