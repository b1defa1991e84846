"""Sharpness-aware minimisation as composable optax transformations: SAM, ASAM and LookSAM.

Each wraps a base optimizer and takes ``grad_fn=`` (the gradient function of the current batch) as an extra
argument of ``update``; :func:`optix_evo.training.fit` passes it. Maths and references: ``shared/design/zoo_references.md``
§3–4.
"""

from optix_evo.sam.looksam import LookSAMState, looksam
from optix_evo.sam.sharpness_aware import SAMState, asam, sam

# "sam" itself joins __all__ once optix_evo/__init__.py reads this package's names before its star import
# (the function would otherwise shadow the subpackage there); until then it is ``ox.sam.sam``.
__all__ = ["LookSAMState", "SAMState", "asam", "looksam"]
