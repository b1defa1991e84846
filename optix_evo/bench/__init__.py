"""Cross-model optimizer benchmark (``optix-evo bench``): rows × tasks × seeds × grids, one compile per cell."""

from optix_evo.bench.core import BenchConfig, Study, preset, run_bench, timed_bench, write_results
from optix_evo.bench.rows import Row, parse_row
from optix_evo.bench.runner import CellResult, Grid, run_cell
from optix_evo.bench.tasks import TASKS, Problem, TaskSpec, build_task

__all__ = [
    "TASKS", "BenchConfig", "CellResult", "Grid", "Problem", "Row", "Study", "TaskSpec", "build_task", "parse_row",
    "preset", "run_bench", "run_cell", "timed_bench", "write_results",
]
