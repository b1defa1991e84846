"""The optimizer zoo: every optimizer of the review as an ``optax.GradientTransformation``.

Optimizers that optax already has are re-exported (or thinly wrapped where the reference implementation's semantics
differ); the others are new ``scale_by_*`` transformations with an alias, in the optax style.
"""

import optax

from optix_evo.optimizers.registry import OPTIMIZERS, OptimizerSpec, get_optimizer, register

sgd = optax.sgd
adam = optax.adam
adamw = optax.adamw

register("sgd", sgd, {"learning_rate": 0.1}, "Robbins & Monro 1951")
register("momentum", sgd, {"learning_rate": 0.05, "momentum": 0.9}, "Polyak 1964")
register("nesterov", sgd, {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}, "Nesterov 1983; Sutskever et al. 2013")
register("adam", adam, {"learning_rate": 1e-3}, "Kingma & Ba 2015, arXiv:1412.6980")
register("adamw", adamw, {"learning_rate": 1e-3, "weight_decay": 1e-2}, "Loshchilov & Hutter 2019, arXiv:1711.05101")

__all__ = ["OPTIMIZERS", "OptimizerSpec", "adam", "adamw", "get_optimizer", "register", "sgd"]
