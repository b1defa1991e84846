"""The optimizer zoo: every optimizer of the zoo as an ``optax.GradientTransformation``.

Optimizers that optax already has are re-exported with argument checks (or thinly wrapped where the reference
implementation's semantics differ, see each docstring); the others are new ``scale_by_*`` transformations with an
alias, in the optax style. :data:`OPTIMIZERS` lists them all with their reference default hyperparameters.
"""

from optix_evo.optimizers.adabound import ScaleByAdaBoundState, adabound, amsbound, scale_by_adabound
from optix_evo.optimizers.adan import adan, scale_by_adan
from optix_evo.optimizers.baselines import (
    adabelief,
    adagrad,
    adam,
    adamw,
    hutchinson_diag_hessian,
    lion,
    radam,
    rmsprop,
    scale_by_radam_eps_outside,
    scale_by_rss_eps_outside,
    sgd,
    sophia,
)
from optix_evo.optimizers.registry import OPTIMIZERS, OptimizerSpec, get_optimizer, register
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

__all__ = [
    "LayerwiseDecayState",
    "OPTIMIZERS",
    "OptimizerSpec",
    "ScaleByAdaBoundState",
    "ScaleBySignMomentumState",
    "ScaleBySwatsState",
    "adabelief",
    "adabound",
    "adagrad",
    "adam",
    "adamw",
    "adan",
    "add_layerwise_decayed_weights",
    "addsign",
    "amsbound",
    "cosine_sign_decay",
    "get_optimizer",
    "hutchinson_diag_hessian",
    "linear_sign_decay",
    "lion",
    "powersign",
    "radam",
    "register",
    "restart_sign_decay",
    "rmsprop",
    "scale_by_adabound",
    "scale_by_adan",
    "scale_by_addsign",
    "scale_by_powersign",
    "scale_by_radam_eps_outside",
    "scale_by_rss_eps_outside",
    "scale_by_swats",
    "sgd",
    "sophia",
    "swats",
    "swats_in_sgd_phase",
]
