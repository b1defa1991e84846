"""The optimizers optax and ``optax.contrib`` ship, re-exported into the zoo.

Each name here is optax's own function with optax's signature and maths, wrapped only as every zoo optimizer is: a
negative or non-finite learning rate is refused at construction, ``init`` refuses integer parameters, and ``update``
checks the gradient tree against the parameters. Nothing is re-implemented: where optax disagrees with the reference
the zoo has its own module instead (:func:`adan`, :func:`rprop`). ``tests/optimizers/test_from_optax.py`` checks each one step by step
against the paper's algorithm written out in NumPy, or against optax's own test expectations.

Extra arguments: :func:`polyak_sgd`, :func:`momo` and :func:`momo_adam` read the batch loss ``value=``, which
:func:`optix_evo.training.fit` passes. Schedule-free optimizers (:func:`schedule_free_adamw`,
:func:`schedule_free_sgd`) train the sequence :math:`y_t`; evaluate at
``optax.contrib.schedule_free_eval_params(state, params)`` (the averaged :math:`x_t`) for the paper's figures.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import optax
import optax.contrib

from optix_evo.optimizers._validation import check_learning_rate, check_non_negative, with_tree_check


def _reexport(fn: Callable[..., optax.GradientTransformation], name: str, summary: str, reference: str) -> Callable:
  """``fn`` with the zoo's checks (learning rate at construction, :func:`with_tree_check` on the result); optax's
  signature (``inspect.signature`` follows ``__wrapped__``) and a docstring naming ``fn`` and the paper."""
  signature = inspect.signature(fn)
  where = "optax.contrib" if "contrib" in getattr(fn, "__module__", "") else "optax"

  @functools.wraps(fn, assigned=("__module__", "__name__", "__qualname__", "__doc__", "__annotations__"))
  def build(*args: Any, **kwargs: Any) -> optax.GradientTransformationExtraArgs:
    bound = signature.bind(*args, **kwargs)
    for key in ("learning_rate", "max_learning_rate"):
      if bound.arguments.get(key) is not None:
        check_learning_rate(bound.arguments[key], key)
    weight_decay = bound.arguments.get("weight_decay")
    if weight_decay is not None and not callable(weight_decay):
      check_non_negative("weight_decay", weight_decay)
    return with_tree_check(fn(*args, **kwargs), name)

  build.__name__ = build.__qualname__ = name
  build.__module__ = __name__
  build.__doc__ = (
      f"{summary}\n\n"
      f"optax's :func:`{where}.{name}` (same arguments, defaults, state and maths) with the zoo's checks: a "
      "negative learning rate or weight decay raises ``ValueError`` here, integer parameters at ``init``, a gradient "
      "tree that does not match the parameters at ``update``.\n\n"
      f"References:\n  {reference}\n"
  )
  return build


# optax
adadelta = _reexport(optax.adadelta, "adadelta", "Adadelta: the step scaled by the ratio of two running RMS.",
                     "Zeiler, `ADADELTA: An Adaptive Learning Rate Method <https://arxiv.org/abs/1212.5701>`_, 2012.")
adafactor = _reexport(
    optax.adafactor, "adafactor", "Adafactor: factored second moments (row and column means) for matrices.",
    "Shazeer & Stern, `Adafactor: Adaptive Learning Rates with Sublinear Memory Cost "
    "<https://arxiv.org/abs/1804.04235>`_, ICML 2018.")
adamax = _reexport(optax.adamax, "adamax", r"AdaMax: Adam with the infinity norm, :math:`u = -\eta\,\hat m_t / "
                   r"(\max(\beta_2 v_{t-1}, |g_t|) + \epsilon)`.",
                   "Kingma & Ba, `Adam <https://arxiv.org/abs/1412.6980>`_, ICLR 2015, Algorithm 2.")
adamaxw = _reexport(optax.adamaxw, "adamaxw", "AdaMax with decoupled weight decay.",
                    "Loshchilov & Hutter, `Decoupled Weight Decay Regularization <https://arxiv.org/abs/1711.05101>`_, "
                    "ICLR 2019.")
amsgrad = _reexport(optax.amsgrad, "amsgrad", r"AMSGrad: Adam with the running maximum of :math:`v_t`.",
                    "Reddi et al., `On the Convergence of Adam and Beyond <https://openreview.net/forum?id=ryQu7f-RZ>`_, "
                    "ICLR 2018.")
fromage = _reexport(optax.fromage, "fromage", r"Fromage: :math:`w \leftarrow (w - \eta\,\|w\|/\|g\|\, g) / "
                    r"\sqrt{1 + \eta^2}` per layer.",
                    "Bernstein et al., `On the distance between two neural networks and the stability of learning "
                    "<https://arxiv.org/abs/2002.03432>`_, NeurIPS 2020.")
lamb = _reexport(optax.lamb, "lamb", r"LAMB: the Adam step rescaled per layer by the trust ratio "
                 r":math:`\|w\| / \|u\|`.",
                 "You et al., `Large Batch Optimization for Deep Learning: Training BERT in 76 minutes "
                 "<https://arxiv.org/abs/1904.00962>`_, ICLR 2020.")
lars = _reexport(optax.lars, "lars", r"LARS: momentum SGD with the per-layer trust ratio :math:`\|w\| / \|g + "
                 r"\lambda w\|`.",
                 "You, Gitman & Ginsburg, `Large Batch Training of Convolutional Networks "
                 "<https://arxiv.org/abs/1708.03888>`_, 2017.")
nadam = _reexport(optax.nadam, "nadam", "NAdam: Adam with Nesterov momentum.",
                  "Dozat, `Incorporating Nesterov Momentum into Adam <https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ>`_, "
                  "ICLR 2016 workshop.")
nadamw = _reexport(optax.nadamw, "nadamw", "NAdam with decoupled weight decay.",
                   "Dozat 2016; Loshchilov & Hutter, `Decoupled Weight Decay Regularization "
                   "<https://arxiv.org/abs/1711.05101>`_, ICLR 2019.")
novograd = _reexport(optax.novograd, "novograd", "NovoGrad: layer-wise second moments of normalised gradients.",
                     "Ginsburg et al., `Stochastic Gradient Methods with Layer-wise Adaptive Moments for Training of "
                     "Deep Networks <https://arxiv.org/abs/1905.11286>`_, 2019.")
polyak_sgd = _reexport(
    optax.polyak_sgd, "polyak_sgd", r"SGD with the Polyak step :math:`\min((f(w) - f^*) / \|g\|^2, \eta_{max})`; "
    "``update`` takes the batch loss ``value=``.",
    "Loizou et al., `Stochastic Polyak Step-size for SGD <https://arxiv.org/abs/2002.10542>`_, AISTATS 2021.")
sign_sgd = _reexport(optax.sign_sgd, "sign_sgd", r"signSGD: :math:`u = -\eta\,\mathrm{sign}(g)`.",
                     "Bernstein et al., `signSGD: Compressed Optimisation for Non-Convex Problems "
                     "<https://arxiv.org/abs/1802.04434>`_, ICML 2018.")
signum = _reexport(optax.signum, "signum", r"Signum: the sign of the momentum, :math:`u = -\eta\,\mathrm{sign}(m_t)`.",
                   "Bernstein et al., `signSGD: Compressed Optimisation for Non-Convex Problems "
                   "<https://arxiv.org/abs/1802.04434>`_, ICML 2018.")
sm3 = _reexport(optax.sm3, "sm3", "SM3: memory-efficient adaptive second moments over covers of the indices.",
                "Anil et al., `Memory-Efficient Adaptive Optimization <https://arxiv.org/abs/1901.11150>`_, NeurIPS 2019.")
yogi = _reexport(optax.yogi, "yogi", r"Yogi: Adam with the additive second-moment update "
                 r":math:`v_t = v_{t-1} - (1-\beta_2)\,\mathrm{sign}(v_{t-1} - g_t^2)\, g_t^2`. optax starts both moments at "
                 "1e-6 (the authors' TF code starts the first at 0): a negligible offset.",
                 "Zaheer et al., `Adaptive Methods for Nonconvex Optimization "
                 "<https://papers.nips.cc/paper/8186-adaptive-methods-for-nonconvex-optimization>`_, NeurIPS 2018.")

# optax.contrib
acprop = _reexport(optax.contrib.acprop, "acprop", "ACProp: AdaBelief's second moment, asynchronously centred.",
                   "Zhuang et al., `Momentum Centering and Asynchronous Update for Adaptive Gradient Methods "
                   "<https://arxiv.org/abs/2110.05454>`_, NeurIPS 2021.")
ademamix = _reexport(
    optax.contrib.ademamix, "ademamix", r"AdEMAMix: Adam with a second, slow momentum: "
    r":math:`u = -\eta\,(\hat m^{(1)}_t + \alpha\, m^{(2)}_t) / (\sqrt{\hat v_t} + \epsilon)`.",
    "Pagliardini, Ablin & Grangier, `The AdEMAMix Optimizer: Better, Faster, Older "
    "<https://arxiv.org/abs/2409.03137>`_, ICLR 2025.")
adopt = _reexport(
    optax.contrib.adopt, "adopt", r"ADOPT: the gradient normalised by the previous second moment, then averaged: "
    r":math:`m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t / \max(\sqrt{v_{t-1}}, \epsilon)`.",
    "Taniguchi et al., `ADOPT: Modified Adam Can Converge with Any β2 with the Optimal Rate "
    "<https://arxiv.org/abs/2411.02853>`_, NeurIPS 2024.")
cocob = _reexport(optax.contrib.cocob, "cocob", "COCOB-Backprop: learning-rate-free coin betting.",
                  "Orabona & Tommasi, `Training Deep Networks without Learning Rates Through Coin Betting "
                  "<https://arxiv.org/abs/1705.07795>`_, NeurIPS 2017.")
dadapt_adamw = _reexport(optax.contrib.dadapt_adamw, "dadapt_adamw",
                         "D-Adaptation AdamW: the step size estimated from the distance travelled.",
                         "Defazio & Mishchenko, `Learning-Rate-Free Learning by D-Adaptation "
                         "<https://arxiv.org/abs/2301.07733>`_, ICML 2023.")
dog = _reexport(optax.contrib.dog, "dog", r"DoG: step size :math:`\max_i \|w_i - w_0\| / \sqrt{\sum_i \|g_i\|^2}`.",
                "Ivgi, Hinder & Carmon, `DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size Schedule "
                "<https://arxiv.org/abs/2302.12022>`_, ICML 2023.")
dowg = _reexport(optax.contrib.dowg, "dowg", "DoWG: distance over weighted gradients.",
                 "Khaled, Mishchenko & Jin, `DoWG Unleashed: An Efficient Universal Parameter-Free Gradient Descent "
                 "Method <https://arxiv.org/abs/2305.16284>`_, NeurIPS 2023.")
madgrad = _reexport(optax.contrib.madgrad, "madgrad", "MADGRAD: momentumised, adaptive, dual-averaged gradients.",
                    "Defazio & Jelassi, `Adaptivity without Compromise: A Momentumized, Adaptive, Dual Averaged "
                    "Gradient Method for Stochastic Optimization <https://arxiv.org/abs/2101.11075>`_, JMLR 2022.")
momo = _reexport(optax.contrib.momo, "momo", "MoMo: momentum SGD with a Polyak-type model step; ``update`` takes "
                 "``value=``.",
                 "Schaipp et al., `MoMo: Momentum Models for Adaptive Learning Rates <https://arxiv.org/abs/2305.07583>`_, "
                 "ICML 2024.")
momo_adam = _reexport(optax.contrib.momo_adam, "momo_adam", "MoMo-Adam: Adam with a Polyak-type model step; "
                      "``update`` takes ``value=``.",
                      "Schaipp et al., `MoMo: Momentum Models for Adaptive Learning Rates "
                      "<https://arxiv.org/abs/2305.07583>`_, ICML 2024.")
muon = _reexport(
    optax.contrib.muon, "muon", "Muon: the momentum of each matrix orthogonalised by Newton-Schulz iterations; other "
    "leaves take NAdam. Differences from KellerJordan/Muon: optax bias-corrects the Nesterov momentum "
    r"(:math:`\beta \hat m_{t+1} + (1-\beta) \hat g_t`) and does not scale the orthogonalised update by "
    r":math:`\sqrt{\max(1, rows/cols)}` (``consistent_rms`` offers another scale).",
    "Jordan et al., `Muon: An optimizer for hidden layers in neural networks "
    "<https://kellerjordan.github.io/posts/muon/>`_, 2024; code: `KellerJordan/Muon "
    "<https://github.com/KellerJordan/Muon>`_.")
prodigy = _reexport(optax.contrib.prodigy, "prodigy", "Prodigy: D-Adaptation's step-size estimate, grown faster.",
                    "Mishchenko & Defazio, `Prodigy: An Expeditiously Adaptive Parameter-Free Learner "
                    "<https://arxiv.org/abs/2306.06101>`_, ICML 2024.")
schedule_free_adamw = _reexport(
    optax.contrib.schedule_free_adamw, "schedule_free_adamw",
    "Schedule-free AdamW: Polyak-Ruppert averaging and interpolation replace the schedule.",
    "Defazio et al., `The Road Less Scheduled <https://arxiv.org/abs/2405.15682>`_, NeurIPS 2024; code: "
    "`facebookresearch/schedule_free <https://github.com/facebookresearch/schedule_free>`_.")
schedule_free_sgd = _reexport(
    optax.contrib.schedule_free_sgd, "schedule_free_sgd",
    "Schedule-free SGD: Polyak-Ruppert averaging and interpolation replace the schedule.",
    "Defazio et al., `The Road Less Scheduled <https://arxiv.org/abs/2405.15682>`_, NeurIPS 2024.")
simplified_ademamix = _reexport(
    optax.contrib.simplified_ademamix, "simplified_ademamix", "Simplified AdEMAMix: one momentum with the fast term "
    "added back.",
    "Morwani et al., `Connections between Schedule-Free Optimizers, AdEMAMix, and Accelerated SGD Variants "
    "<https://arxiv.org/abs/2502.02431>`_, 2025.")

#: The names of this module, by source: what optax ships in its core and in ``optax.contrib``.
OPTAX_CORE = ("adadelta", "adafactor", "adamax", "adamaxw", "amsgrad", "fromage", "lamb", "lars", "nadam", "nadamw",
              "novograd", "polyak_sgd", "sign_sgd", "signum", "sm3", "yogi")
OPTAX_CONTRIB = ("acprop", "ademamix", "adopt", "cocob", "dadapt_adamw", "dog", "dowg", "madgrad", "momo", "momo_adam",
                 "muon", "prodigy", "schedule_free_adamw", "schedule_free_sgd", "simplified_ademamix")
