"""Known optimizers written as genomes of the ``"extended"`` space, with the schedules their references train with.

``interpret(known(name), **known_defaults(name, learning_rate, total_steps))`` is the reference optimizer:

* ``sgd``, ``momentum``, ``nesterov``, ``rmsprop``, ``adam``, ``adamw``, ``lion``: optax's (constant learning rate,
  momentum 0.9); ``powersign`` / ``addsign`` (``_ld``: with the linear sign decay ``1 - t/T``): Bello et al. 2017
  (TF ``ApplyPowerSign`` / ``ApplyAddSign``, β = 0.9, base e / α = 1).
* ``nos_opt1`` .. ``nos_opt10`` and ``nos_adam_clip0`` .. ``nos_adam_clip4``: the classes ``Opt1`` .. ``Opt10`` and
  ``AdamClip(variant=k)`` of the authors' ``finalOptimizers.py`` (Morgan & Hougen 2024,
  `arXiv:2404.06679 <https://arxiv.org/abs/2404.06679>`_; https://github.com/OUStudent/NeuralOptimizerSearch),
  trained with its warmup / hold / cosine learning rate (warmup ``T/15``, hold ``2T/15`` by default, as in the file's
  usage example) and, for the Nesterov ones (Opt9, Opt10), its momentum 0.95 → 0.85 → 0.95.
  ``known(name, use_decay=False)`` is the class with ``use_decay=False`` (the constructors' default there): the
  learning-rate multiplier of Opt4-6 and the decays of Opt6-10 are off, while Opt4's ``arctan(a13)`` factor stays,
  governed by ``variant`` (``variant=1`` drops it), as in the class.

Each entry is tested step by step in float64 against its reference (optax; a NumPy transcription of
``finalOptimizers.py``) in ``tests/graph/test_known.py``. Remaining deviations from ``finalOptimizers.py``, each
measured there:

* Opt4-6 divide by ``y + 1e-7`` (the search space's division, the Keras epsilon of the search code) where the
  class divides by ``y``: relative difference ≤ 1e-7 / |y| (below 1e-7 while ``|y| ≥ 1``). At the last step of
  Opt4 (variant 0) ``arctan(a13) = 0`` makes the class divide by 0 (an infinite update); the genome's step stays
  finite.
* AdamClip 0 and 4 bound ``v̂`` by ``sqrt(ŝ)`` where the class uses ``sqrt(ŝ) + 1e-7``; AdamClip 3 uses
  ``sigmoid(ŝ)`` for ``sigmoid(ŝ + 1e-7)``: each update entry differs by at most ``1e-7`` (times the learning rate).
* The schedules are computed in the default float dtype (float64 with x64); the class stores them in float32.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optix_evo.errors import InputError
from optix_evo.graph.decays import nos_learning_rate, nos_momentum
from optix_evo.graph.genome import Genome
from optix_evo.graph.serialization import FORMAT, convert, from_json
from optix_evo.graph.spec import DEFAULT_SPEC, EXTENDED_SPEC, GenomeSpec


def _genome(nodes: dict, momentum: str = "none", schedule: str = "constant") -> dict:
  return {"format": FORMAT, "space": EXTENDED_SPEC.name, "nodes": nodes, "momentum": momentum, "flip": False,
          "schedule": schedule}


def _n(op: str, *inputs: str, decays: dict | None = None) -> dict:
  return {"op": op, "inputs": list(inputs), **({"decays": decays} if decays else {})}


def _decay(op: str, *inputs: str) -> dict:
  return {"root": {"op": op, "inputs": list(inputs)}}


def _on(use: bool, slot: int, op: str, *inputs: str) -> dict | None:
  """A decay on input ``slot`` when ``use``, else none."""
  return {str(slot): _decay(op, *inputs)} if use else None


_ID = {"h0": _n("id", "g"), "root": _n("id", "h0")}
_SIGNS = _n("mul", "sign(g)", "sign(v_hat)")  # sign(g)·sign(m): m = 0.9 EMA of g (bias correction keeps the sign)
_CLIP_SQRT = {"h0": _n("sqrt", "s_hat"), "root": _n("clip", "v_hat", "h0")}
_LR0 = "nos_lr0"  # the learning-rate multiplier of Opt4-6 when use_decay

# name -> (use_decay, variant) -> genome document
_BUILDERS: dict[str, Callable[[bool, int], dict]] = {
    # optax references (constant learning rate; optax applies it after the momentum trace, NOS inside it)
    "sgd": lambda d, v: _genome(_ID),
    "momentum": lambda d, v: _genome(_ID, "momentum"),  # optax.sgd(lr, momentum=0.9)
    "nesterov": lambda d, v: _genome(_ID, "nesterov"),  # optax.sgd(lr, momentum=0.9, nesterov=True)
    "rmsprop": lambda d, v: _genome({"h0": _n("id", "rmsprop"), "root": _n("id", "h0")}),  # optax.rmsprop defaults
    "adam": lambda d, v: _genome({"h0": _n("id", "adam"), "root": _n("id", "h0")}),  # optax.adam defaults
    "adamw": lambda d, v: _genome({"h0": _n("id", "adam"), "root": _n("add", "h0", "1e-4w")}),  # weight_decay=1e-4
    "lion": lambda d, v: _genome({"h0": _n("sign", "lion_c"), "root": _n("add", "h0", "1e-3w")}),  # wd = 1e-3
    # Bello et al. 2017 (TF ApplyPowerSign / ApplyAddSign, beta = 0.9, logbase = 1, alpha = 1)
    "powersign": lambda d, v: _genome({"h0": _SIGNS, "h1": _n("exp", "h0"), "root": _n("mul", "h1", "g")}),
    "addsign": lambda d, v: _genome({"h0": _SIGNS, "h1": _n("add", "1", "h0"), "root": _n("mul", "h1", "g")}),
    # ... with the linear sign decay f(t) = 1 - t/T (needs total_steps)
    "powersign_ld": lambda d, v: _genome({"h0": _SIGNS, "h1": _n("exp", "h0", decays=_on(d, 0, "id", "a1")),
                                          "root": _n("mul", "h1", "g")}),
    "addsign_ld": lambda d, v: _genome({"h0": _SIGNS, "h1": _n("add", "1", "h0", decays=_on(d, 1, "id", "a1")),
                                        "root": _n("mul", "h1", "g")}),
    # finalOptimizers.py. Opt1: s1 = |1e-5 w - 0.05 g² + 0.95 ŝ| (the class's parenthesisation), u = q + softsign(clip(
    # 1e-5 w, ±s1)) with q = 0.3 g + 0.7 v̂; 0.95 ŝ - 0.05 g² is mix(ŝ, -g²).
    "nos_opt1": lambda d, v: _genome({"h0": _n("neg", "g^2"), "h1": _n("mix", "s_hat", "h0"),
                                      "h2": _n("add", "1e-5w", "h1"), "h3": _n("clip", "1e-5w", "h2"),
                                      "h4": _n("softsign", "h3"), "root": _n("add", "qh_v", "h4")}),
    # Opt2: s1 = 1e-5 w - (0.05 g² + 0.95 ŝ), u = q + softsign(1e-5 w / sqrt(1 + s1²))
    "nos_opt2": lambda d, v: _genome({"h0": _n("sub", "1e-5w", "qh_s"), "h1": _n("div_sqrt", "1e-5w", "h0"),
                                      "h2": _n("softsign", "h1"), "root": _n("add", "qh_v", "h2")}),
    # Opt3: as Opt2 with 0.01 g³ + 0.99 l̂, where the class's l accumulates g² with β = 0.999 (operand qh_nu)
    "nos_opt3": lambda d, v: _genome({"h0": _n("sub", "1e-5w", "qh_nu"), "h1": _n("div_sqrt", "1e-5w", "h0"),
                                      "h2": _n("softsign", "h1"), "root": _n("add", "qh_v", "h2")}),
    # Opt4: c = |arctan(a13)·exp(v̂)| (variant 1: |exp(v̂)|), u = q / clip(2, ±c); LR × nos_lr0 when use_decay
    "nos_opt4": lambda d, v: _genome({"h0": _n("exp", "v_hat"),
                                      "h1": _n("abs", "h0", decays=_on(v == 0, 0, "atan", "a13")),
                                      "h2": _n("clip", "2", "h1"), "root": _n("div", "qh_v", "h2")},
                                     schedule=_LR0 if d else "constant"),
    # Opt5: u = q / clip(2, ±exp(v̂)); LR × nos_lr0 when use_decay
    "nos_opt5": lambda d, v: _genome({"h0": _n("exp", "v_hat"), "h1": _n("clip", "2", "h0"),
                                      "root": _n("div", "qh_v", "h1")}, schedule=_LR0 if d else "constant"),
    # Opt6: u = q / |(1 - tanh(a4)²)·exp(1e-4 w)| (the factor when use_decay); LR × nos_lr0 when use_decay
    "nos_opt6": lambda d, v: _genome({"h0": _n("exp", "1e-4w"), "h1": _n("abs", "h0", decays=_on(d, 0, "dtanh", "a4")),
                                      "root": _n("div", "qh_v", "h1")}, schedule=_LR0 if d else "constant"),
    # Opt7 / Opt8: u = tanh / asinh(a(t)·asinh(q)), a(t) = max(a6, a10) when use_decay
    "nos_opt7": lambda d, v: _genome({"h0": _n("asinh", "qh_v"),
                                      "root": _n("tanh", "h0", decays=_on(d, 0, "max", "a6", "a10"))}),
    "nos_opt8": lambda d, v: _genome({"h0": _n("asinh", "qh_v"),
                                      "root": _n("asinh", "h0", decays=_on(d, 0, "max", "a6", "a10"))}),
    # Opt9: u = a(t)·g·exp(arctan(0.05 g² + 0.95 ŝ)), a(t) = erfc(a11) when use_decay; Nesterov (final form)
    "nos_opt9": lambda d, v: _genome({"h0": _n("atan", "qh_s"), "h1": _n("exp", "h0"),
                                      "root": _n("mul", "g", "h1", decays=_on(d, 0, "erfc", "a11"))}, "nesterov"),
    # Opt10: u = i1e(i1e(a(t)·g)), a(t) = a13·a2 when use_decay; Nesterov (final form)
    "nos_opt10": lambda d, v: _genome({"h0": _n("i1e", "g", decays=_on(d, 0, "mul", "a13", "a2")),
                                       "root": _n("i1e", "h0")}, "nesterov"),
    # AdamClip(variant=k): Adam-like (β = 0.9, 0.99) with the second moment as a clip bound on the first
    "nos_adam_clip0": lambda d, v: _genome(_CLIP_SQRT),
    "nos_adam_clip1": lambda d, v: _genome({"h0": _n("ln", "s_hat"), "root": _n("clip", "v_hat", "h0")}),
    "nos_adam_clip2": lambda d, v: _genome({"h0": _n("ln", "s_hat"), "h1": _n("sqrt", "h0"),
                                            "root": _n("clip", "v_hat", "h1")}),
    "nos_adam_clip3": lambda d, v: _genome({"h0": _n("sigmoid", "s_hat"), "root": _n("clip", "v_hat", "h0")}),
    "nos_adam_clip4": lambda d, v: _genome({"h0": _n("sqrt", "s_hat"), "h1": _n("clip", "v_hat", "h0"),
                                            "root": _n("norm", "h1")}),
}
VARIANTS: dict[str, tuple[int, ...]] = {"nos_opt4": (0, 1)}
"""The ``variant`` values a known optimizer takes (others: 0 only)."""

KNOWN: dict[str, dict] = {name: build(True, 0) for name, build in _BUILDERS.items()}
"""Genome documents (:func:`~optix_evo.graph.to_json` format) of the known optimizers, decays on, variant 0."""


def _check(name: str, variant: int = 0) -> None:
  if name not in _BUILDERS:
    raise InputError(f"Unknown optimizer {name!r}. Known genomes: {', '.join(_BUILDERS)}.")
  if variant not in VARIANTS.get(name, (0,)):
    raise InputError(f"{name} has variants {VARIANTS.get(name, (0,))}, got variant={variant!r}.")


def known(name: str, spec: GenomeSpec = DEFAULT_SPEC, *, use_decay: bool = True, variant: int = 0) -> Genome:
  """The genome of a known optimizer (names: :data:`KNOWN`), in ``spec`` (converted by name from the extended
  space; a clear error names what ``spec`` lacks).

  ``use_decay=False`` / ``variant``: the authors' switches of ``finalOptimizers.py`` (see the module docstring).
  Train it as its reference does with ``interpret(known(name), **known_defaults(name, learning_rate, T))``.

  Args:
    name: a key of :data:`KNOWN` (``"adam"``, ``"lion"``, ``"nos_opt9"``, ...).
    spec: the space to write it in (``"nos"`` lacks some operands, ops and momentum types of the extended space).
    use_decay: the authors' ``use_decay`` switch of the NOS optimizers (their decays and LR multipliers).
    variant: the authors' ``variant`` (:data:`VARIANTS`; 0 for every other optimizer).

  Returns:
    The :class:`~optix_evo.graph.Genome`.

  Raises:
    InputError: for an unknown name or variant, or when ``spec`` lacks something the optimizer needs.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.graph.render(ox.graph.known("nos_opt9")))
    u = ([erfc(a11)]·g * exp(arctan((0.05g²+0.95ŝ))))
    mom ← m·mom - η_t·u;  w ← w + m·mom - η_t·u
    where t/T is training progress: a11 = 0.01 ** (t / T)
    >>> print(ox.graph.render(ox.graph.known("nos_opt9", use_decay=False)).splitlines()[0])
    u = (g * exp(arctan((0.05g²+0.95ŝ))))
  """
  _check(name, variant)
  genome = from_json(_BUILDERS[name](bool(use_decay), variant), EXTENDED_SPEC)
  return genome if spec.name == EXTENDED_SPEC.name and spec == EXTENDED_SPEC else convert(genome, EXTENDED_SPEC, spec)


def known_defaults(name: str, learning_rate: Any, total_steps: int | None = None, *, warmup_steps: int | None = None,
                   hold_steps: int | None = None) -> dict[str, Any]:
  """The :func:`~optix_evo.graph.interpret` arguments with which ``known(name)`` is its reference optimizer:
  ``{"learning_rate": ..., "momentum": ..., "total_steps": ...}``.

  optax / Bello references: ``learning_rate`` as given (float or schedule), momentum 0.9. The NOS optimizers:
  ``learning_rate`` is the peak of the authors' warmup / hold / cosine schedule over ``total_steps`` (warmup
  ``T // 15``, hold ``2T // 15`` unless given; :func:`~optix_evo.graph.nos_learning_rate`) and the momentum is their
  0.95 → 0.85 → 0.95 schedule (:func:`~optix_evo.graph.nos_momentum`).

  Args:
    name: a key of :data:`KNOWN`.
    learning_rate: the learning rate (optax / Bello references: a float or schedule) or the schedule's peak
      (the NOS optimizers: a number).
    total_steps: the training horizon ``T`` (required for the NOS optimizers).
    warmup_steps: the NOS warmup (default ``T // 15``).
    hold_steps: the NOS hold (default ``2T // 15``).

  Returns:
    The keyword arguments ``learning_rate``, ``momentum`` and ``total_steps`` of :func:`~optix_evo.graph.interpret`.

  Raises:
    InputError: for an unknown name, or a NOS optimizer without ``total_steps`` or with a schedule as
      ``learning_rate``.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.graph.known_defaults("adam", 1e-3))
    {'learning_rate': 0.001, 'momentum': 0.9, 'total_steps': None}
    >>> kwargs = ox.graph.known_defaults("nos_opt9", 1e-2, total_steps=150)  # warmup 10, hold 20 steps
    >>> print([round(float(kwargs["learning_rate"](t)), 4) for t in (0, 5, 10, 150)])
    [0.0, 0.005, 0.01, 0.0]
    >>> print([round(float(kwargs["momentum"](t)), 2) for t in (0, 9, 149)])
    [0.95, 0.85, 0.95]
    >>> opt = ox.graph.interpret(ox.graph.known("nos_opt9"), **kwargs)  # the authors' Opt9, as they train it
  """
  _check(name)
  if not name.startswith("nos_"):
    return {"learning_rate": learning_rate, "momentum": 0.9, "total_steps": total_steps}
  if total_steps is None:
    raise InputError(f"{name} trains with the authors' warmup / hold / cosine schedule: give total_steps.")
  if callable(learning_rate):
    raise InputError(f"For {name}, learning_rate is the peak of the authors' schedule (a number), not a schedule.")
  warmup = total_steps // 15 if warmup_steps is None else warmup_steps
  hold = 2 * total_steps // 15 if hold_steps is None else hold_steps
  return {"learning_rate": nos_learning_rate(learning_rate, total_steps, warmup, hold),
          "momentum": nos_momentum(total_steps, warmup, hold), "total_steps": total_steps}
