"""The op tables of the NOS search space: one table per kind of op, each entry a name and a pure expression.

Every entry holds its maths once, as a Python expression over ``jax.numpy`` (plus the helpers of :data:`PRELUDE`).
The interpreter compiles the expression into a function, :func:`optix_evo.graph.to_python` pastes it into the
generated code, the renderer uses the entry's text/LaTeX templates, and mutation draws indices into the same tables.
Adding an op is one line here. Definitions follow the authors' reference code (``OUStudent/NeuralOptimizerSearch``,
``NeuralOptimizerSearch.py`` and ``finalOptimizers.py``); deviations are flagged next to the entry.

Expression variables:

* buffers (:data:`BUFFERS`): ``prev`` (the buffer before this step) and ``g``;
* operands (:data:`OPERANDS`): ``g``, ``w``, ``k = t + 1`` and each buffer by name after (``v``) and before
  (``v_prev``) this step's update;
* update-graph ops (:data:`UNARY`, :data:`BINARY`): ``x`` (and ``y``); stateful unary ops also ``n`` (the node's
  buffer) and ``k``; random ones ``key``; ``tsum(v)``: the sum of ``v`` over its parameter tensor;
* decay operands (:data:`DECAY_OPERANDS`): ``t`` (step, from 0) and ``T`` (total steps); decay ops ``x``, ``y``;
  schedules (:data:`SCHEDULES`): ``t``, ``T`` and the decay operands ``a1`` .. ``a14``;
* momentum types (:data:`MOMENTUM_TYPES`): ``mom`` (buffer), ``m`` (momentum coefficient), ``d = -lr_t * u``
  (``+lr_t * u`` when the genome's flip bit is set) and ``new`` (the updated buffer).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

# Shared by the interpreter (executed below) and the standalone code written by ``to_python``.
PRELUDE = '''\
import jax
import jax.numpy as jnp
from jax.scipy.special import erf, erfc, i1e

EPS = 1e-7  # the Keras epsilon of the NOS reference ops
EXP_MAX = 80.0  # exp arguments are clipped here: finite in float32, far beyond any useful update


def sig(x):
  return jax.nn.sigmoid(x)


def softsign(x):
  return x / (1 + jnp.abs(x))


def dtanh(x):
  return 1 - jnp.tanh(x) ** 2


def dsoft(x):
  return 1 / (1 + jnp.abs(x))


def dsig(x):
  return sig(x) * (1 - sig(x))


def dropout(x, key, rate):
  return jnp.where(jax.random.bernoulli(key, 1 - rate, x.shape), x / (1 - rate), 0.0)


def clip_by_norm(x, tensor_sum=jnp.sum):
  return x * jnp.minimum(1.0, 1.0 / jnp.sqrt(tensor_sum(x * x)))
'''

NAMESPACE: dict = {}
exec(PRELUDE, NAMESPACE)  # noqa: S102 - our own constant source, shared with the generated code


@functools.cache
def compile_expr(expr: str, args: str) -> Callable:
  """``lambda <args>: <expr>`` evaluated in :data:`NAMESPACE` (cached: each expression is compiled once)."""
  return eval(f"lambda {args}: {expr}", NAMESPACE)  # noqa: S307 - expressions come from the tables below


class Buffer(NamedTuple):
  """A per-parameter exponential moving average ``prev ← decay·prev + (1-decay)·g^power``."""

  name: str
  decay: float
  power: int

  @property
  def expr(self) -> str:  # the same operation order as optax.tree.update_moment
    return f"(1 - {self.decay!r}) * (g ** {self.power}) + {self.decay!r} * prev"


class Operand(NamedTuple):
  """A leaf of the update graph: ``expr`` over g, w, k and the named buffers."""

  name: str
  expr: str
  text: str
  latex: str
  buffers: tuple[str, ...] = ()


class Op(NamedTuple):
  """A unary (``x``) or binary (``x``, ``y``) function; ``text``/``latex`` are format templates ({0}, {1}).

  ``state`` (stateful unary ops): the new value of the node's buffer ``n``, written with the op's output ``out``
  (and ``n``, ``k``): the interpreter updates the buffer after the node has run, from what the node returned;
  ``random``: the op reads ``key``;
  ``commutative``: argument order does not matter (canonical form sorts the arguments).
  """

  name: str
  expr: str
  text: str
  latex: str
  state: str | None = None
  random: bool = False
  commutative: bool = False


class DecayOperand(NamedTuple):
  """A scalar function of the step ``t`` and the horizon ``T`` (the leaves of decay graphs)."""

  name: str
  expr: str
  text: str


class Schedule(NamedTuple):
  """A learning-rate multiplier ``f(t/T)`` over the decay operands: ``lr_t = learning_rate(t) · f``."""

  name: str
  expr: str
  text: str
  latex: str


class MomentumType(NamedTuple):
  """How the step ``d = -lr_t·u`` becomes the parameter update ``update`` (``mom`` expression: new buffer)."""

  name: str
  mom: str
  update: str
  text: str


BUFFERS: tuple[Buffer, ...] = (
    Buffer("v", 0.9, 1),  # Adam first moment (NOS operand v)
    Buffer("s", 0.99, 2),  # NOS second moment (beta2 = 0.99)
    Buffer("lam", 0.999, 3),  # NOS third moment
    Buffer("nu", 0.999, 2),  # Adam second moment (beta2 = 0.999), for the Adam operand
    Buffer("r", 0.9, 2),  # RMSprop accumulator (optax.rmsprop defaults)
    Buffer("lion_m", 0.99, 1),  # Lion momentum (beta2 = 0.99)
)

_VHAT, _SHAT, _LHAT = "(v / (1 - 0.9 ** k))", "(s / (1 - 0.99 ** k))", "(lam / (1 - 0.999 ** k))"

OPERANDS: tuple[Operand, ...] = (
    Operand("g", "g", "g", "g"),
    Operand("g^2", "g ** 2", "g²", "g^2"),
    Operand("g^3", "g ** 3", "g³", "g^3"),
    Operand("v_hat", _VHAT, "v̂", r"\hat v", ("v",)),
    Operand("s_hat", _SHAT, "ŝ", r"\hat s", ("s",)),
    Operand("lam_hat", _LHAT, "λ̂", r"\hat\lambda", ("lam",)),
    Operand("1", "jnp.ones_like(g)", "1", "1"),
    Operand("2", "2 * jnp.ones_like(g)", "2", "2"),
    Operand("1e-6w", "1e-6 * w", "10⁻⁶w", r"10^{-6}w"),
    Operand("1e-5w", "1e-5 * w", "10⁻⁵w", r"10^{-5}w"),
    Operand("1e-4w", "1e-4 * w", "10⁻⁴w", r"10^{-4}w"),
    Operand("1e-3w", "1e-3 * w", "10⁻³w", r"10^{-3}w"),
    Operand("sign(g)", "jnp.sign(g)", "sign(g)", r"\operatorname{sign}(g)"),
    Operand("sign(v_hat)", f"jnp.sign({_VHAT})", "sign(v̂)", r"\operatorname{sign}(\hat v)", ("v",)),
    Operand("qh_v", f"(1 - 0.7) * g + 0.7 * {_VHAT}", "(0.3g+0.7v̂)", r"(0.3g+0.7\hat v)", ("v",)),
    Operand("qh_s", f"(1 - 0.95) * g ** 2 + 0.95 * {_SHAT}", "(0.05g²+0.95ŝ)", r"(0.05g^2+0.95\hat s)", ("s",)),
    Operand("qh_lam", f"(1 - 0.99) * g ** 3 + 0.99 * {_LHAT}", "(0.01g³+0.99λ̂)", r"(0.01g^3+0.99\hat\lambda)",
            ("lam",)),
    Operand("aggmo_v", "(-g + (0.9 * v - g) + (0.999 * v - g)) / 3", "mean(βv-g)", r"\overline{\beta v-g}", ("v",)),
    Operand("aggmo_s", "(-g ** 2 + (0.99 * s - g ** 2) + (0.999 * s - g ** 2)) / 3", "mean(βs-g²)",
            r"\overline{\beta s-g^2}", ("s",)),
    Operand("aggmo_lam", "(-g ** 3 + (0.999 * lam - g ** 3) + (0.9999 * lam - g ** 3)) / 3", "mean(βλ-g³)",
            r"\overline{\beta\lambda-g^3}", ("lam",)),
    # Beyond the NOS list (Bello et al. 2017 operands, and what Lion needs):
    Operand("adam", "(v / (1 - 0.9 ** k)) / (jnp.sqrt(nu / (1 - 0.999 ** k)) + 1e-8)", "adam", r"\mathrm{adam}",
            ("v", "nu")),
    Operand("rmsprop", "g * jax.lax.rsqrt(r + 1e-8)", "rmsprop", r"\mathrm{rmsprop}", ("r",)),
    # Lion's c = 0.9 m_prev + 0.1 g, written with the updated m = 0.99 m_prev + 0.01 g: c = (10 m + g) / 11 (reading
    # m_prev would keep the old buffer alive past its update, and XLA would copy it every step).
    Operand("lion_c", "(10 * lion_m + g) / 11", "(0.9m+0.1g)", r"(0.9m+0.1g)", ("lion_m",)),
    # Opt3 as finalOptimizers.py ships it: its "lambda" slot accumulates g² (β = 0.999, i.e. Adam's ν), not g³.
    Operand("qh_nu", "(1 - 0.99) * g ** 3 + 0.99 * (nu / (1 - 0.999 ** k))", "(0.01g³+0.99ν̂)",
            r"(0.01g^3+0.99\hat\nu)", ("nu",)),
)
NOS_OPERANDS = 20  # the paper's operands are the first 20 entries (the NOS code's list, in its order)

UNARY: tuple[Op, ...] = (
    Op("id", "x", "{0}", "{0}"),
    Op("neg", "-x", "-({0})", r"-\left({0}\right)"),
    Op("ln", "jnp.log(jnp.abs(x) + EPS)", "ln(|{0}|)", r"\ln\left|{0}\right|"),
    Op("sqrt", "jnp.sqrt(jnp.abs(x))", "sqrt(|{0}|)", r"\sqrt{{\left|{0}\right|}}"),
    Op("exp", "jnp.exp(jnp.minimum(x, EXP_MAX))", "exp({0})", r"e^{{{0}}}"),  # clipped (safe) exp
    Op("abs", "jnp.abs(x)", "|{0}|", r"\left|{0}\right|"),
    Op("sigmoid", "sig(x)", "sig({0})", r"\sigma\left({0}\right)"),
    Op("dsoft", "1 / (1 + jnp.abs(x))", "1/(1+|{0}|)", r"\frac{{1}}{{1+\left|{0}\right|}}"),
    Op("softplus", "jnp.log(jnp.abs(1 + jnp.exp(jnp.minimum(x, EXP_MAX))) + EPS)", "ln(|1+exp({0})|)",
       r"\ln\left|1+e^{{{0}}}\right|"),
    Op("erf", "erf(x)", "erf({0})", r"\operatorname{{erf}}\left({0}\right)"),
    Op("erfc", "erfc(x)", "erfc({0})", r"\operatorname{{erfc}}\left({0}\right)"),
    Op("asinh", "jnp.arcsinh(x)", "arcsinh({0})", r"\sinh^{{-1}}\left({0}\right)"),
    Op("tanh", "jnp.tanh(x)", "tanh({0})", r"\tanh\left({0}\right)"),
    Op("atan", "jnp.arctan(x)", "arctan({0})", r"\tan^{{-1}}\left({0}\right)"),
    Op("inv", "1 / (x + EPS)", "1/({0})", r"\frac{{1}}{{{0}}}"),
    Op("i1e", "i1e(x)", "bessel_i1e({0})", r"I_1^e\left({0}\right)"),
    Op("relu", "jnp.maximum(x, 0.0)", "max({0}, 0)", r"\max\left({0}, 0\right)"),
    Op("min0", "jnp.minimum(x, 0.0)", "min({0}, 0)", r"\min\left({0}, 0\right)"),
    Op("drop0.5", "dropout(x, key, 0.5)", "drop({0}, 0.5)", r"\operatorname{{drop}}_{{0.5}}\left({0}\right)",
       random=True),
    Op("drop0.3", "dropout(x, key, 0.3)", "drop({0}, 0.3)", r"\operatorname{{drop}}_{{0.3}}\left({0}\right)",
       random=True),
    Op("drop0.1", "dropout(x, key, 0.1)", "drop({0}, 0.1)", r"\operatorname{{drop}}_{{0.1}}\left({0}\right)",
       random=True),
    Op("norm", "clip_by_norm(x, tsum)", "norm({0})", r"\operatorname{{clip}}_{{\|\cdot\|\le1}}\left({0}\right)"),
    Op("softsign", "softsign(x)", "{0}/(1+|{0}|)", r"\frac{{{0}}}{{1+\left|{0}\right|}}"),
    # Stateful ops (one buffer n per node). expMovAvg: bias-corrected with k = t + 1 (the reference code divides
    # by 1 - 0.95^0 = 0, so it never produced a finite update there).
    Op("ema", "(0.95 * n + 0.05 * x) / (1 - 0.95 ** k)", "expMovAvg({0})", r"\operatorname{{EMA}}\left({0}\right)",
       state="out * (1 - 0.95 ** k)"),  # = 0.95 n + 0.05 x
    Op("delta", "x - n", "deltaChange({0})", r"\Delta\left({0}\right)", state="out"),  # the NOS code's n ← x - n
    Op("maxval", "jnp.maximum(x, n)", "MaxValue({0})", r"\max_{{\le t}}\left({0}\right)", state="out"),
    Op("sign", "jnp.sign(x)", "sign({0})", r"\operatorname{{sign}}\left({0}\right)"),  # Bello et al.; Lion
)
NOS_UNARY = 26  # the paper's unary ops (identity + the NOS code's 25) are the first 26 entries

BINARY: tuple[Op, ...] = (
    Op("add", "x + y", "({0} + {1})", r"\left({0} + {1}\right)", commutative=True),
    Op("sub", "x - y", "({0} - {1})", r"\left({0} - {1}\right)"),
    Op("mul", "x * y", "({0} * {1})", r"\left({0} \cdot {1}\right)", commutative=True),
    Op("max", "jnp.maximum(x, y)", "max({0}, {1})", r"\max\left({0}, {1}\right)", commutative=True),
    Op("min", "jnp.minimum(x, y)", "min({0}, {1})", r"\min\left({0}, {1}\right)", commutative=True),
    Op("div", "x / (y + EPS)", "({0} / {1})", r"\frac{{{0}}}{{{1}}}"),
    Op("div_sqrt", "x / jnp.sqrt(1 + y ** 2)", "({0} / sqrt(1+({1})^2))",
       r"\frac{{{0}}}{{\sqrt{{1+\left({1}\right)^2}}}}"),
    Op("clip", "jnp.clip(x, -jnp.abs(y), jnp.abs(y))", "clip({0}, {1})",
       r"\operatorname{{clip}}\left({0}, \pm\left|{1}\right|\right)"),
    Op("mix", "0.95 * x + 0.05 * y", "(0.95*{0} + 0.05*{1})", r"\left(0.95\,{0} + 0.05\,{1}\right)"),
    Op("pow", "jnp.abs(x) ** y", "(|{0}|)^({1})", r"\left|{0}\right|^{{{1}}}"),
)

_DEMON = "(0.95 * (1 - (t + 1) / T) / ((1 - 0.95) + 0.95 * (1 - (t + 1) / T)))"
DECAY_OPERANDS: tuple[DecayOperand, ...] = (
    DecayOperand("a1", "1 - t / T", "a1"),  # linear decay
    DecayOperand("a2", "t / T", "a2"),  # linear increase
    DecayOperand("a3", "0.5 * (1 + jnp.cos(jnp.pi * t / T))", "a3"),  # cosine decay
    DecayOperand("a4", "0.5 * (1 - jnp.cos(jnp.pi * t / T))", "a4"),  # cosine increase
    DecayOperand("a5", "0.5 * (1 + jnp.cos(2 * jnp.pi * t / T))", "a5"),  # one cosine cycle 1→0→1
    DecayOperand("a6", "0.5 * (1 - jnp.cos(2 * jnp.pi * t / T))", "a6"),  # 0→1→0
    DecayOperand("a7", "0.5 * (1 + jnp.cos(jnp.pi * jnp.mod(2 * t, T) / T))", "a7"),  # cosine with restart
    DecayOperand("a8", "0.5 * (1 - jnp.cos(jnp.pi * jnp.mod(2 * t, T) / T))", "a8"),
    DecayOperand("a9", "1 - jnp.mod(2 * t, T) / T", "a9"),  # saw-tooth down
    DecayOperand("a10", "jnp.mod(2 * t, T) / T", "a10"),  # saw-tooth up
    DecayOperand("a11", "0.01 ** (t / T)", "a11"),  # exponential decay
    DecayOperand("a12", "1 - 0.01 ** (t / T)", "a12"),
    DecayOperand("a13", _DEMON, "a13"),  # demon decay
    DecayOperand("a14", f"0.95 - {_DEMON}", "a14"),  # complementary demon, the search code's form b0 - demon
)

DECAY_UNARY: tuple[Op, ...] = (
    Op("id", "x", "{0}", "{0}"),
    Op("sigmoid", "sig(x)", "sig({0})", r"\sigma({0})"),
    Op("dsoft", "dsoft(x)", "1/(1+|{0}|)", r"\frac{{1}}{{1+|{0}|}}"),
    Op("erf", "erf(x)", "erf({0})", r"\operatorname{{erf}}({0})"),
    Op("erfc", "erfc(x)", "erfc({0})", r"\operatorname{{erfc}}({0})"),
    Op("tanh", "jnp.tanh(x)", "tanh({0})", r"\tanh({0})"),
    Op("atan", "jnp.arctan(x)", "arctan({0})", r"\tan^{{-1}}({0})"),
    Op("i1e", "i1e(x)", "bessel_i1e({0})", r"I_1^e({0})"),
    Op("square", "x ** 2", "({0})^2", r"({0})^2"),
    Op("sqrt", "jnp.sqrt(jnp.abs(x))", "sqrt(|{0}|)", r"\sqrt{{|{0}|}}"),
    Op("softsign", "softsign(x)", "{0}/(1+|{0}|)", r"\frac{{{0}}}{{1+|{0}|}}"),
    Op("dtanh", "dtanh(x)", "(1-tanh({0})^2)", r"(1-\tanh^2 {0})"),
    Op("dsig", "dsig(x)", "sig'({0})", r"\sigma'({0})"),
)

DECAY_BINARY: tuple[Op, ...] = BINARY[:6] + (BINARY[6],)  # +, -, *, max, min, /, x1/sqrt(1+x2²)

# a14 as finalOptimizers.py computes it, (b0 - b)/((1 - b0) + b); the decay operand a14 keeps the search code's form.
_A14_FINAL = "((0.95 - 0.95 * (1 - (t + 1) / T)) / ((1 - 0.95) + 0.95 * (1 - (t + 1) / T)))"

SCHEDULES: tuple[Schedule, ...] = (
    Schedule("constant", "1.0 + 0.0 * t", "1", "1"),
    # The authors' evolved schedules (finalOptimizers.py, EvolvedLRSchedules type k = 0..8, as shipped); family
    # labels are our reading of the formulas: family 1 = lr0, lr1; family 2 = lr2, lr5, lr6, lr8; outsiders = lr3,
    # lr4, lr7.
    Schedule("nos_lr0", "erfc(erfc(a4)) / dtanh(a8)", "erfc(erfc(a4))/(1-tanh(a8)^2)",
             r"\frac{\operatorname{erfc}(\operatorname{erfc}(a_4))}{1-\tanh^2 a_8}"),
    Schedule("nos_lr1", "erfc(erfc(a4)) / (dtanh(a8) * dtanh(a4))", "erfc(erfc(a4))/((1-tanh(a8)^2)(1-tanh(a4)^2))",
             r"\frac{\operatorname{erfc}(\operatorname{erfc}(a_4))}{(1-\tanh^2 a_8)(1-\tanh^2 a_4)}"),
    # shipped with finalOptimizers' a14 = (b0 - b)/((1 - b0) + b); "nos_lr2_search" below uses the search's a14.
    Schedule("nos_lr2", f"jnp.arctan(a2) / (dtanh(a10) * jnp.sqrt(dsoft({_A14_FINAL})))",
             "arctan(a2)/((1-tanh(a10)^2) sqrt(1/(1+|a14'|))), a14' = (0.95-b)/(0.05+b)",
             r"\frac{\tan^{-1} a_2}{(1-\tanh^2 a_{10})\sqrt{1/(1+|a'_{14}|)}}"),
    Schedule("nos_lr3", "sig(a2) ** 2 / sig(2 * softsign(a1))", "sig(a2)^2/sig(2 softsign(a1))",
             r"\frac{\sigma(a_2)^2}{\sigma(2\,\mathrm{softsign}(a_1))}"),
    Schedule("nos_lr4", "1 / jnp.sqrt(erf(a11))", "1/sqrt(erf(a11))", r"\frac{1}{\sqrt{\operatorname{erf}(a_{11})}}"),
    Schedule("nos_lr5", "jnp.arctan(a2) * erfc(a6) / jnp.sqrt(dsoft(a6))", "arctan(a2) erfc(a6)/sqrt(1/(1+|a6|))",
             r"\frac{\tan^{-1}(a_2)\operatorname{erfc}(a_6)}{\sqrt{1/(1+|a_6|)}}"),
    Schedule("nos_lr6", "1 / jnp.sqrt(dsoft(a10))", "1/sqrt(1/(1+|a10|))", r"\sqrt{1+|a_{10}|}"),
    # The formula is ~1e7 at t = 0; the authors' callback meant to set step 0 to 1e-7 (``self.lr[0] = 1e-7``), we use
    # factor 0 there (the base schedule's warmup starts at 0 anyway).
    Schedule("nos_lr7", "jnp.where(t == 0, 0.0, 1 / (jnp.sqrt(softsign(jnp.arctan(a12))) + 1e-7))",
             "1/sqrt(softsign(arctan(a12)))", r"\frac{1}{\sqrt{\mathrm{softsign}(\tan^{-1} a_{12})}}"),
    Schedule("nos_lr8", "jnp.tanh(jnp.maximum(a10, a6))", "tanh(max(a10, a6))", r"\tanh(\max(a_{10}, a_6))"),
    # nos_lr2 with the search code's a14 = 0.95 - a13 (what this library called nos_lr2 before genome format 2).
    Schedule("nos_lr2_search", "jnp.arctan(a2) / (dtanh(a10) * jnp.sqrt(dsoft(a14)))",
             "arctan(a2)/((1-tanh(a10)^2) sqrt(1/(1+|a14|)))",
             r"\frac{\tan^{-1} a_2}{(1-\tanh^2 a_{10})\sqrt{1/(1+|a_{14}|)}}"),
)

MOMENTUM_TYPES: tuple[MomentumType, ...] = (
    MomentumType("none", "mom", "d", "w ← w - η_t·u"),
    MomentumType("momentum", "m * mom + d", "new", "mom ← m·mom - η_t·u;  w ← w + mom"),
    # Nesterov as the authors' search code ran it: w ← w + mom_new - η_t·u.
    MomentumType("nesterov_nos", "m * mom + d", "new + d", "mom ← m·mom - η_t·u;  w ← w + mom - η_t·u"),
    # Nesterov as optax and the authors' final optimizers (Opt9, Opt10): w ← w + m·mom_new - η_t·u.
    MomentumType("nesterov", "m * mom + d", "m * new + d", "mom ← m·mom - η_t·u;  w ← w + m·mom - η_t·u"),
)
NOS_MOMENTUM_TYPES = 3  # the search code's three types are the first three entries
