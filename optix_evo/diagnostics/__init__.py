"""Diagnostics: sharpness measures, optimizer telemetry, loss landscapes and reproducible run manifests."""

from optix_evo.diagnostics.sharpness import (
    hessian_top_eigenvalue,
    hessian_trace,
    hessian_vector_product,
    perturbation_sharpness,
)

__all__ = [
    "hessian_top_eigenvalue",
    "hessian_trace",
    "hessian_vector_product",
    "perturbation_sharpness",
]
