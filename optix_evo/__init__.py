"""optix_evo: compare, combine and discover neural-network optimizers with JAX and Optax.

``import optix_evo as ox`` gives the optimizer zoo (``ox.adam``, ``ox.swats``, ...), the SAM family (``ox.sam``),
ALDVI (``ox.aldvi``), and the subpackages ``ox.graph`` (evolved optimizers as data) and ``ox.search`` (neural
optimizer search).
"""

from optix_evo import data, models, training
from optix_evo.optimizers import *  # noqa: F401,F403  (the zoo, see optix_evo/optimizers/__init__.py::__all__)
from optix_evo.optimizers import __all__ as _zoo_all

__version__ = "0.1.0"
__all__ = ["data", "models", "training", *_zoo_all]
