"""optix_evo: compare, combine and discover neural-network optimizers with JAX and Optax.

``import optix_evo as ox`` gives the optimizer zoo (``ox.adam``, ``ox.swats``, ...), the SAM family (``ox.sam``,
``ox.asam``, ``ox.looksam``; the subpackage is ``ox.sam_family``),
ALDVI (``ox.aldvi``), diagnostics (``ox.monitor``), and the subpackages ``ox.graph`` (evolved optimizers as data)
``ox.search`` (neural optimizer search), ``ox.tasks`` (models with their data: what the search, the bench and
``transfer`` train) and ``ox.runs`` (results folders, their ``run.json`` manifests and ``reproduce``).
"""

# Each feature package lists its public names in its own ``__all__``; they are re-exported here.
from optix_evo import (compilation, data, diagnostics, graph, models, optimizers, runs, sam_family, schedules, search,
                       tasks, training)
from optix_evo.diagnostics import *  # noqa: F401,F403
from optix_evo.optimizers import *  # noqa: F401,F403
from optix_evo.sam_family import *  # noqa: F401,F403
from optix_evo.schedules import *  # noqa: F401,F403

__version__ = "0.1.0"
__all__ = [
    "compilation", "data", "diagnostics", "graph", "models", "optimizers", "runs", "sam_family", "schedules", "search",
    "tasks", "training",
    *optimizers.__all__, *sam_family.__all__, *schedules.__all__, *diagnostics.__all__,
]
