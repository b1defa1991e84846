"""Reference trajectories for SAM / ASAM: faithful torch transcriptions of davda54/sam and SamsungLabs/ASAM.

``DavdaSAM`` is davda54/sam's ``sam.py`` (latest revision: ``adaptive`` flag, exact restore of ``old_p``);
``SamsungASAM`` is SamsungLabs/ASAM's ``asam.py`` (``T_w = |w| + eta`` on parameters whose name contains
"weight", norm + 1e-16, restore by subtracting ε). Both run their two-step protocol on the shared problem of
:mod:`problem` in float64: gradient at ``w``, ascent step, gradient at ``w + ε`` on the same data, descent step
with a ``torch.optim`` base optimizer. Each case records the parameters after every step.
"""

from __future__ import annotations

from collections import defaultdict

import torch

import problem

STEPS = 5


class DavdaSAM(torch.optim.Optimizer):
  """davda54/sam ``SAM`` (sam.py), transcribed line by line."""

  def __init__(self, params, base_optimizer, rho=0.05, adaptive=False, **kwargs):
    assert rho >= 0.0, f"Invalid rho, should be non-negative: {rho}"
    defaults = dict(rho=rho, adaptive=adaptive, **kwargs)
    super().__init__(params, defaults)
    self.base_optimizer = base_optimizer(self.param_groups, **kwargs)
    self.param_groups = self.base_optimizer.param_groups
    self.defaults.update(self.base_optimizer.defaults)

  @torch.no_grad()
  def first_step(self, zero_grad=False):
    grad_norm = self._grad_norm()
    for group in self.param_groups:
      scale = group["rho"] / (grad_norm + 1e-12)
      for p in group["params"]:
        if p.grad is None:
          continue
        self.state[p]["old_p"] = p.data.clone()
        e_w = (torch.pow(p, 2) if group["adaptive"] else 1.0) * p.grad * scale.to(p)
        p.add_(e_w)
    if zero_grad:
      self.zero_grad()

  @torch.no_grad()
  def second_step(self, zero_grad=False):
    for group in self.param_groups:
      for p in group["params"]:
        if p.grad is None:
          continue
        p.data = self.state[p]["old_p"]
    self.base_optimizer.step()
    if zero_grad:
      self.zero_grad()

  @torch.no_grad()
  def step(self, closure=None):
    assert closure is not None, "Sharpness Aware Minimization requires closure, but it was not provided"
    closure = torch.enable_grad()(closure)
    self.first_step(zero_grad=True)
    closure()
    self.second_step()

  def _grad_norm(self):
    shared_device = self.param_groups[0]["params"][0].device
    return torch.norm(
        torch.stack([
            ((torch.abs(p) if group["adaptive"] else 1.0) * p.grad).norm(p=2).to(shared_device)
            for group in self.param_groups
            for p in group["params"]
            if p.grad is not None
        ]),
        p=2,
    )


class SamsungASAM:
  """SamsungLabs/ASAM ``ASAM`` (asam.py), transcribed line by line."""

  def __init__(self, optimizer, model, rho=0.5, eta=0.01):
    self.optimizer = optimizer
    self.model = model
    self.rho = rho
    self.eta = eta
    self.state = defaultdict(dict)

  @torch.no_grad()
  def ascent_step(self):
    wgrads = []
    for n, p in self.model.named_parameters():
      if p.grad is None:
        continue
      t_w = self.state[p].get("eps")
      if t_w is None:
        t_w = torch.clone(p).detach()
        self.state[p]["eps"] = t_w
      if "weight" in n:
        t_w[...] = p[...]
        t_w.abs_().add_(self.eta)
        p.grad.mul_(t_w)
      wgrads.append(torch.norm(p.grad, p=2))
    wgrad_norm = torch.norm(torch.stack(wgrads), p=2) + 1.0e-16
    for n, p in self.model.named_parameters():
      if p.grad is None:
        continue
      t_w = self.state[p].get("eps")
      if "weight" in n:
        p.grad.mul_(t_w)
      eps = t_w
      eps[...] = p.grad[...]
      eps.mul_(self.rho / wgrad_norm)
      p.add_(eps)
    self.optimizer.zero_grad()

  @torch.no_grad()
  def descent_step(self):
    for n, p in self.model.named_parameters():
      if p.grad is None:
        continue
      p.sub_(self.state[p]["eps"])
    self.optimizer.step()
    self.optimizer.zero_grad()


class Model(torch.nn.Module):
  """The problem's parameters under torch names: ``weight`` = w, ``bias`` = b (ASAM keys on "weight")."""

  def __init__(self, arrays):
    super().__init__()
    self.weight = torch.nn.Parameter(torch.tensor(arrays["w"], dtype=torch.float64))
    self.bias = torch.nn.Parameter(torch.tensor(arrays["b"], dtype=torch.float64))

  def forward(self, x, y):
    return problem.loss(self.weight, self.bias, x, y, torch.tanh)


BASES = {
    "sgd_momentum": (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-3}),
    "adam": (torch.optim.Adam, {"lr": 0.02}),
}


def trajectory(model, step) -> list[dict[str, list]]:
  out = []
  for _ in range(STEPS):
    step()
    out.append({"w": model.weight.detach().tolist(), "b": model.bias.detach().tolist()})
  return out


def davda_case(arrays, x, y, base, rho, adaptive):
  model = Model(arrays)
  cls, kwargs = BASES[base]
  opt = DavdaSAM(model.parameters(), cls, rho=rho, adaptive=adaptive, **kwargs)

  def step():
    model(x, y).backward()
    opt.first_step(zero_grad=True)
    model(x, y).backward()
    opt.second_step(zero_grad=True)

  return {"impl": "davda54", "base": base, "base_kwargs": kwargs, "rho": rho, "adaptive": adaptive,
          "trajectory": trajectory(model, step)}


def samsung_case(arrays, x, y, base, rho, eta):
  model = Model(arrays)
  cls, kwargs = BASES[base]
  minimizer = SamsungASAM(cls(model.parameters(), **kwargs), model, rho=rho, eta=eta)

  def step():
    model(x, y).backward()
    minimizer.ascent_step()
    model(x, y).backward()
    minimizer.descent_step()

  return {"impl": "samsung_asam", "base": base, "base_kwargs": kwargs, "rho": rho, "eta": eta,
          "trajectory": trajectory(model, step)}


def make() -> dict:
  torch.set_default_dtype(torch.float64)
  arrays = problem.make_problem()
  x = torch.tensor(arrays["x"])
  y = torch.tensor(arrays["y"])
  cases = {}
  for base in BASES:
    cases[f"sam_{base}"] = davda_case(arrays, x, y, base, rho=0.05, adaptive=False)
    cases[f"sam_adaptive_{base}"] = davda_case(arrays, x, y, base, rho=0.5, adaptive=True)
    cases[f"asam_{base}"] = samsung_case(arrays, x, y, base, rho=0.5, eta=0.01)
  return {"problem": {k: v.tolist() for k, v in arrays.items()}, "steps": STEPS, "cases": cases}
