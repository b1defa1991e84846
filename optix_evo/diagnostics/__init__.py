"""Diagnostics: sharpness measures, optimizer telemetry and loss landscapes (run manifests: :mod:`optix_evo.runs`)."""

from optix_evo.diagnostics.landscape import (
    Landscape1D,
    Landscape2D,
    filter_normalized_direction,
    loss_interpolation,
    loss_surface,
    plot_landscape,
)
from optix_evo.diagnostics.monitor import MonitorState, monitor, monitor_history, monitor_metrics, parameter_groups
from optix_evo.diagnostics.sharpness import (
    hessian_top_eigenvalue,
    hessian_trace,
    hessian_vector_product,
    perturbation_sharpness,
    sharpness_summary,
)
from optix_evo.diagnostics.variability import SeedStats, plot_seed_variability, seed_variability, seed_variability_table

__all__ = [
    "Landscape1D",
    "Landscape2D",
    "filter_normalized_direction",
    "hessian_top_eigenvalue",
    "hessian_trace",
    "hessian_vector_product",
    "loss_interpolation",
    "loss_surface",
    "monitor",
    "monitor_history",
    "monitor_metrics",
    "MonitorState",
    "parameter_groups",
    "perturbation_sharpness",
    "plot_landscape",
    "plot_seed_variability",
    "seed_variability",
    "seed_variability_table",
    "SeedStats",
    "sharpness_summary",
]
