"""Sharpness-aware minimisation as composable optax transformations: SAM, ASAM and LookSAM.

Each wraps a base optimizer and takes ``grad_fn=`` (the gradient function of the current batch) as an extra
argument of ``update``; :func:`optix_evo.training.fit` passes it. Maths and references: ``shared/design/zoo_references.md``
§3–4.
"""

from optix_evo.sam.looksam import LookSAMState, looksam
from optix_evo.sam.sharpness_aware import SAMState, asam, sam

__all__ = ["LookSAMState", "SAMState", "asam", "looksam", "sam"]
