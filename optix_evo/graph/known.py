"""Known optimizers written as genomes of the default search space (JSON by op names, see :func:`from_json`).

Each entry is tested step by step against its reference (optax, TF semantics for PowerSign/AddSign, the authors'
``finalOptimizers.py`` equations for the NOS results) in ``tests/graph/test_known.py``. Where the search space
cannot express the reference exactly the difference is stated here.
"""

from __future__ import annotations

from optix_evo.graph.genome import Genome
from optix_evo.graph.serialization import from_json
from optix_evo.graph.spec import DEFAULT_SPEC, GenomeSpec


def _genome(nodes: dict, momentum: str = "none", schedule: str = "constant") -> dict:
  return {"format": "optix_evo.genome/1", "nodes": nodes, "momentum": momentum, "flip": False, "schedule": schedule}


def _n(op: str, *inputs: str, decays: dict | None = None) -> dict:
  return {"op": op, "inputs": list(inputs), **({"decays": decays} if decays else {})}


def _decay(op: str, *inputs: str) -> dict:
  return {"root": {"op": op, "inputs": list(inputs)}}


_ID = {"h0": _n("id", "g"), "root": _n("id", "h0")}
_SIGNS = _n("mul", "sign(g)", "sign(v_hat)")  # sign(g)·sign(m): m = 0.9 EMA of g (bias correction keeps the sign)
_CLIP_SQRT = {"h0": _n("sqrt", "s_hat"), "root": _n("clip", "v_hat", "h0")}

KNOWN: dict[str, dict] = {
    # optax references (constant learning rate; optax applies it after the momentum trace, NOS inside it)
    "sgd": _genome(_ID),
    "momentum": _genome(_ID, "momentum"),  # optax.sgd(lr, momentum=0.9)
    "nesterov": _genome(_ID, "nesterov"),  # optax.sgd(lr, momentum=0.9, nesterov=True)
    "rmsprop": _genome({"h0": _n("id", "rmsprop"), "root": _n("id", "h0")}),  # optax.rmsprop defaults
    "adam": _genome({"h0": _n("id", "adam"), "root": _n("id", "h0")}),  # optax.adam defaults
    "adamw": _genome({"h0": _n("id", "adam"), "root": _n("add", "h0", "1e-4w")}),  # optax.adamw, weight_decay=1e-4
    "lion": _genome({"h0": _n("sign", "lion_c"), "root": _n("add", "h0", "1e-3w")}),  # optax.lion, wd = 1e-3
    # Bello et al. 2017 (TF ApplyPowerSign / ApplyAddSign, beta = 0.9, logbase = 1, alpha = 1)
    "powersign": _genome({"h0": _SIGNS, "h1": _n("exp", "h0"), "root": _n("mul", "h1", "g")}),
    "addsign": _genome({"h0": _SIGNS, "h1": _n("add", "1", "h0"), "root": _n("mul", "h1", "g")}),
    # ... with the linear sign decay f(t) = 1 - t/T (needs total_steps)
    "powersign_ld": _genome({"h0": _SIGNS, "h1": _n("exp", "h0", decays={"0": _decay("id", "a1")}),
                             "root": _n("mul", "h1", "g")}),
    "addsign_ld": _genome({"h0": _SIGNS, "h1": _n("add", "1", "h0", decays={"1": _decay("id", "a1")}),
                           "root": _n("mul", "h1", "g")}),
    # NOS final optimizers (Morgan & Hougen 2024, finalOptimizers.py; nos.md §7.1), in the search-space form:
    # Opt1 uses |1e-5 w - (0.05 g² + 0.95 ŝ)|, Opt3 the g³ moment λ̂, Opt4-6 the division x/(y + 1e-7).
    "nos_opt1": _genome({"h0": _n("sub", "1e-5w", "qh_s"), "h1": _n("clip", "1e-5w", "h0"), "h2": _n("softsign", "h1"),
                         "root": _n("add", "qh_v", "h2")}),
    "nos_opt2": _genome({"h0": _n("sub", "1e-5w", "qh_s"), "h1": _n("div_sqrt", "1e-5w", "h0"),
                         "h2": _n("softsign", "h1"), "root": _n("add", "qh_v", "h2")}),
    "nos_opt3": _genome({"h0": _n("sub", "1e-5w", "qh_lam"), "h1": _n("div_sqrt", "1e-5w", "h0"),
                         "h2": _n("softsign", "h1"), "root": _n("add", "qh_v", "h2")}),
    "nos_opt4": _genome({"h0": _n("exp", "v_hat"), "h1": _n("abs", "h0", decays={"0": _decay("atan", "a13")}),
                         "h2": _n("clip", "2", "h1"), "root": _n("div", "qh_v", "h2")}, schedule="nos_lr0"),
    "nos_opt5": _genome({"h0": _n("exp", "v_hat"), "h1": _n("clip", "2", "h0"), "root": _n("div", "qh_v", "h1")},
                        schedule="nos_lr0"),
    "nos_opt6": _genome({"h0": _n("exp", "1e-4w"), "h1": _n("abs", "h0", decays={"0": _decay("dtanh", "a4")}),
                         "root": _n("div", "qh_v", "h1")}, schedule="nos_lr0"),
    "nos_opt7": _genome({"h0": _n("asinh", "qh_v"), "root": _n("tanh", "h0", decays={"0": _decay("max", "a6", "a10")})}),
    "nos_opt8": _genome({"h0": _n("asinh", "qh_v"), "root": _n("asinh", "h0", decays={"0": _decay("max", "a6", "a10")})}),
    "nos_opt9": _genome({"h0": _n("atan", "qh_s"), "h1": _n("exp", "h0"),
                         "root": _n("mul", "g", "h1", decays={"0": _decay("erfc", "a11")})}, "nesterov"),
    "nos_opt10": _genome({"h0": _n("i1e", "g", decays={"0": _decay("mul", "a13", "a2")}), "root": _n("i1e", "h0")},
                         "nesterov"),
    # NOS Adam variants ("AdamClip" 0..4, nos.md §7.2): the second moment bounds the first. Variants 0 and 4 use the
    # bound sqrt(ŝ) (the reference adds 1e-7, which the search space cannot express); variant 3 uses sig(ŝ) for
    # sig(ŝ + 1e-7) (a relative difference below 1e-7).
    "nos_adam_clip0": _genome(_CLIP_SQRT),
    "nos_adam_clip1": _genome({"h0": _n("ln", "s_hat"), "root": _n("clip", "v_hat", "h0")}),
    "nos_adam_clip2": _genome({"h0": _n("ln", "s_hat"), "h1": _n("sqrt", "h0"), "root": _n("clip", "v_hat", "h1")}),
    "nos_adam_clip3": _genome({"h0": _n("sigmoid", "s_hat"), "root": _n("clip", "v_hat", "h0")}),
    "nos_adam_clip4": _genome({"h0": _n("sqrt", "s_hat"), "h1": _n("clip", "v_hat", "h0"), "root": _n("norm", "h1")}),
}


def known(name: str, spec: GenomeSpec = DEFAULT_SPEC) -> Genome:
  """The genome of a known optimizer (names: :data:`KNOWN`), e.g. ``interpret(known("adam"), 1e-3)``."""
  if name not in KNOWN:
    raise ValueError(f"Unknown optimizer {name!r}. Known genomes: {', '.join(KNOWN)}.")
  return from_json(KNOWN[name], spec)
