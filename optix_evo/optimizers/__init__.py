"""The optimizer zoo: every optimizer of the zoo as an ``optax.GradientTransformation``.

Modules: ``optax_parity`` (optax's optimizers with argument checks and the options that give the PyTorch references'
maths), ``from_optax`` (optax's and ``optax.contrib``'s other optimizers, re-exported unchanged), ``sophia``, and one
module per optimizer the library adds or corrects (``adabound``, ``adan``, ``rprop``, ``sign``, ``swats``,
``weight_decay``), each a ``scale_by_*`` transformation with an alias, in the optax style. :data:`OPTIMIZERS` lists
them all with their reference default hyperparameters.
"""

from optix_evo.optimizers.adabound import ScaleByAdaBoundState, adabound, amsbound, scale_by_adabound
from optix_evo.optimizers.adan import adan, scale_by_adan
from optix_evo.optimizers.optax_parity import (
    adabelief,
    adagrad,
    adam,
    adamw,
    lion,
    radam,
    rmsprop,
    scale_by_radam_eps_outside,
    scale_by_rss_eps_outside,
    sgd,
)
from optix_evo.optimizers.from_optax import (
    OPTAX_CONTRIB,
    OPTAX_CORE,
    acprop,
    adadelta,
    adafactor,
    adamax,
    adamaxw,
    ademamix,
    adopt,
    amsgrad,
    cocob,
    dadapt_adamw,
    dog,
    dowg,
    fromage,
    lamb,
    lars,
    madgrad,
    momo,
    momo_adam,
    muon,
    nadam,
    nadamw,
    novograd,
    polyak_sgd,
    prodigy,
    schedule_free_adamw,
    schedule_free_sgd,
    sign_sgd,
    signum,
    simplified_ademamix,
    sm3,
    yogi,
)
from optix_evo.optimizers.registry import OPTIMIZERS, OptimizerSpec, get_optimizer, register
from optix_evo.optimizers.rprop import rprop, scale_by_rprop
from optix_evo.optimizers.sign import (
    ScaleBySignMomentumState,
    addsign,
    cosine_sign_decay,
    linear_sign_decay,
    powersign,
    restart_sign_decay,
    scale_by_addsign,
    scale_by_powersign,
)
from optix_evo.optimizers.sophia import hutchinson_diag_hessian, sophia
from optix_evo.optimizers.swats import ScaleBySwatsState, scale_by_swats, swats, swats_in_sgd_phase
from optix_evo.optimizers.weight_decay import LayerwiseDecayState, add_layerwise_decayed_weights

register("sgd", sgd, {"learning_rate": 0.1}, "Robbins & Monro 1951")
register("momentum", sgd, {"learning_rate": 0.05, "momentum": 0.9}, "Polyak 1964")
register("nesterov", sgd, {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}, "Nesterov 1983; Sutskever et al. 2013")
register(
    "adagrad", adagrad, {"learning_rate": 1e-2, "initial_accumulator_value": 0.0, "eps": 1e-10, "eps_in_sqrt": False},
    "Duchi, Hazan & Singer 2011, JMLR 12 (torch.optim.Adagrad defaults)",
)
register(
    "rmsprop", rmsprop, {"learning_rate": 1e-2, "decay": 0.99, "eps": 1e-8, "eps_in_sqrt": False},
    "Tieleman & Hinton 2012, Coursera lecture 6.5 (torch.optim.RMSprop defaults)",
)
register("adam", adam, {"learning_rate": 1e-3}, "Kingma & Ba 2015, arXiv:1412.6980")
register("adamw", adamw, {"learning_rate": 1e-3, "weight_decay": 1e-2}, "Loshchilov & Hutter 2019, arXiv:1711.05101")
register(
    "radam", radam, {"learning_rate": 1e-3, "eps_after_bias_correction": False},
    "Liu et al. 2020, arXiv:1908.03265 (torch.optim.RAdam eps placement)",
)
register("adabelief", adabelief, {"learning_rate": 1e-3}, "Zhuang et al. 2020, arXiv:2010.07468")
register("adan", adan, {"learning_rate": 1e-3}, "Xie et al. 2024, arXiv:2208.06677 (sail-sg/Adan semantics)")
register("lion", lion, {"learning_rate": 1e-4, "weight_decay": 0.0}, "Chen et al. 2023, arXiv:2302.06675")
register("sophia", sophia, {"learning_rate": 1e-4}, "Liu et al. 2023, arXiv:2305.14342 (optax's Sophia-H)")
register("swats", swats, {"learning_rate": 1e-3}, "Keskar & Socher 2017, arXiv:1712.07628")
register("adabound", adabound, {"learning_rate": 1e-3, "final_lr": 0.1}, "Luo et al. 2019, arXiv:1902.09843")
register("amsbound", amsbound, {"learning_rate": 1e-3, "final_lr": 0.1}, "Luo et al. 2019, arXiv:1902.09843")
register("powersign", powersign, {"learning_rate": 0.1}, "Bello et al. 2017, arXiv:1709.07417 (TF PowerSignOptimizer)")
register("addsign", addsign, {"learning_rate": 0.1}, "Bello et al. 2017, arXiv:1709.07417 (TF AddSignOptimizer)")


def _polyak_sgd(learning_rate: float = 1.0, max_learning_rate: float = 1.0, f_min: float = 0.0, eps: float = 0.0,
                variant: str = "sps"):
  """The registry's ``"polyak_sgd"``: :func:`polyak_sgd` whose ``learning_rate`` (what a grid sweeps) is optax's
  ``scaling`` of the Polyak step."""
  return polyak_sgd(max_learning_rate=max_learning_rate, scaling=learning_rate, f_min=f_min, eps=eps, variant=variant)


# From optax and optax.contrib (module from_optax): the papers' (or their code's) default learning rates, optax's
# defaults for the rest. Learning-rate-free methods take 1.0 (a multiplier of their own estimate).
for _name, _constructor, _defaults, _citation in (
    ("adadelta", adadelta, {"learning_rate": 1.0, "rho": 0.9, "eps": 1e-6}, "Zeiler 2012, arXiv:1212.5701 "
     "(torch.optim.Adadelta defaults)"),
    ("adafactor", adafactor, {"learning_rate": 1e-2}, "Shazeer & Stern 2018, arXiv:1804.04235"),
    ("adamax", adamax, {"learning_rate": 2e-3}, "Kingma & Ba 2015, arXiv:1412.6980, Algorithm 2"),
    ("adamaxw", adamaxw, {"learning_rate": 2e-3, "weight_decay": 1e-2}, "Kingma & Ba 2015; Loshchilov & Hutter 2019"),
    ("amsgrad", amsgrad, {"learning_rate": 1e-3}, "Reddi et al. 2018, openreview ryQu7f-RZ"),
    ("fromage", fromage, {"learning_rate": 1e-2}, "Bernstein et al. 2020, arXiv:2002.03432"),
    ("lamb", lamb, {"learning_rate": 1e-3}, "You et al. 2020, arXiv:1904.00962"),
    ("lars", lars, {"learning_rate": 0.1}, "You, Gitman & Ginsburg 2017, arXiv:1708.03888"),
    ("nadam", nadam, {"learning_rate": 2e-3}, "Dozat 2016 (torch.optim.NAdam learning rate)"),
    ("nadamw", nadamw, {"learning_rate": 1e-3, "weight_decay": 1e-2}, "Dozat 2016; Loshchilov & Hutter 2019"),
    ("novograd", novograd, {"learning_rate": 1e-3}, "Ginsburg et al. 2019, arXiv:1905.11286"),
    ("polyak_sgd", _polyak_sgd, {"learning_rate": 1.0}, "Loizou et al. 2021, arXiv:2002.10542 (learning_rate is "
     "optax's scaling)"),
    ("rprop", rprop, {"learning_rate": 1e-2}, "Riedmiller & Braun 1993; Igel & Hüsken 2000 (torch.optim.Rprop: "
     "optax's lags one step)"),
    ("sign_sgd", sign_sgd, {"learning_rate": 1e-3}, "Bernstein et al. 2018, arXiv:1802.04434"),
    ("signum", signum, {"learning_rate": 1e-3}, "Bernstein et al. 2018, arXiv:1802.04434"),
    ("sm3", sm3, {"learning_rate": 0.1}, "Anil et al. 2019, arXiv:1901.11150"),
    ("yogi", yogi, {"learning_rate": 1e-2}, "Zaheer et al. 2018, NeurIPS (lr 1e-2, eps 1e-3)"),
    ("acprop", acprop, {"learning_rate": 1e-3}, "Zhuang et al. 2021, arXiv:2110.05454"),
    ("ademamix", ademamix, {"learning_rate": 1e-3}, "Pagliardini, Ablin & Grangier 2025, arXiv:2409.03137"),
    ("adopt", adopt, {"learning_rate": 1e-3}, "Taniguchi et al. 2024, arXiv:2411.02853"),
    ("cocob", cocob, {"learning_rate": 1.0}, "Orabona & Tommasi 2017, arXiv:1705.07795"),
    ("dadapt_adamw", dadapt_adamw, {"learning_rate": 1.0}, "Defazio & Mishchenko 2023, arXiv:2301.07733"),
    ("dog", dog, {"learning_rate": 1.0}, "Ivgi, Hinder & Carmon 2023, arXiv:2302.12022"),
    ("dowg", dowg, {"learning_rate": 1.0}, "Khaled, Mishchenko & Jin 2023, arXiv:2305.16284"),
    ("madgrad", madgrad, {"learning_rate": 1e-2}, "Defazio & Jelassi 2022, arXiv:2101.11075"),
    ("momo", momo, {"learning_rate": 1.0}, "Schaipp et al. 2024, arXiv:2305.07583"),
    ("momo_adam", momo_adam, {"learning_rate": 1e-2}, "Schaipp et al. 2024, arXiv:2305.07583"),
    ("muon", muon, {"learning_rate": 2e-2}, "Jordan et al. 2024, kellerjordan.github.io/posts/muon"),
    ("prodigy", prodigy, {"learning_rate": 1.0}, "Mishchenko & Defazio 2024, arXiv:2306.06101"),
    ("schedule_free_adamw", schedule_free_adamw, {"learning_rate": 2.5e-3}, "Defazio et al. 2024, arXiv:2405.15682"),
    ("schedule_free_sgd", schedule_free_sgd, {"learning_rate": 1.0}, "Defazio et al. 2024, arXiv:2405.15682"),
    ("simplified_ademamix", simplified_ademamix, {"learning_rate": 1e-3}, "Morwani et al. 2025, arXiv:2502.02431"),
):
  register(_name, _constructor, _defaults, _citation)

__all__ = [
    "LayerwiseDecayState",
    "OPTAX_CONTRIB",
    "OPTAX_CORE",
    "OPTIMIZERS",
    "OptimizerSpec",
    "ScaleByAdaBoundState",
    "ScaleBySignMomentumState",
    "ScaleBySwatsState",
    "acprop",
    "adabelief",
    "adabound",
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamaxw",
    "adamw",
    "adan",
    "add_layerwise_decayed_weights",
    "addsign",
    "ademamix",
    "adopt",
    "amsbound",
    "amsgrad",
    "cocob",
    "cosine_sign_decay",
    "dadapt_adamw",
    "dog",
    "dowg",
    "fromage",
    "get_optimizer",
    "hutchinson_diag_hessian",
    "lamb",
    "lars",
    "linear_sign_decay",
    "lion",
    "madgrad",
    "momo",
    "momo_adam",
    "muon",
    "nadam",
    "nadamw",
    "novograd",
    "polyak_sgd",
    "powersign",
    "prodigy",
    "radam",
    "register",
    "restart_sign_decay",
    "rmsprop",
    "rprop",
    "scale_by_adabound",
    "scale_by_adan",
    "scale_by_addsign",
    "scale_by_powersign",
    "scale_by_radam_eps_outside",
    "scale_by_rprop",
    "scale_by_rss_eps_outside",
    "scale_by_swats",
    "schedule_free_adamw",
    "schedule_free_sgd",
    "sgd",
    "sign_sgd",
    "signum",
    "simplified_ademamix",
    "sm3",
    "sophia",
    "swats",
    "swats_in_sgd_phase",
    "yogi",
]
