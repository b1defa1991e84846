"""Sharpness-aware minimisation as composable optax transformations: SAM, ASAM and LookSAM.

Each wraps a base optimizer and takes ``grad_fn=`` (the gradient function of the current batch) as an extra
argument of ``update``; :func:`optix_evo.training.fit` passes it. Maths and references are in each function's
docstring: SAM (Foret et al. 2021, arXiv:2010.01412, code davda54/sam), ASAM (Kwon et al. 2021, arXiv:2102.11600,
code SamsungLabs/ASAM) and LookSAM (Liu et al. 2022, arXiv:2203.02714).

Compared with ``optax.contrib.sam``: one ``update`` call per SAM step on the same batch (no alternating
adversarial/outer calls, no discarded outer update, no params cache), ``eps`` in the normalisation (a zero gradient
gives no NaN), the adaptive forms (ASAM), ``grad_fn(params)`` with one argument, and an efficient variant.
"""

from optix_evo.sam_family.looksam import LookSAMState, looksam
from optix_evo.sam_family.sharpness_aware import SharpnessAwareState, asam, sam

__all__ = ["LookSAMState", "SharpnessAwareState", "asam", "looksam", "sam"]
