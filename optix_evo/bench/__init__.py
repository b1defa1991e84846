"""Cross-model optimizer benchmark (``optix-evo bench``): rows × tasks × seeds × grids, one compile per cell. Tasks are
:mod:`optix_evo.tasks` (the same ones the search and ``transfer`` train)."""

from optix_evo.bench.core import BenchConfig, Study, preset, run_bench, timed_bench, write_results
from optix_evo.bench.rows import Row, parse_row
from optix_evo.bench.runner import CellResult, Grid, run_cell

__all__ = [
    "BenchConfig", "CellResult", "Grid", "Row", "Study", "parse_row", "preset", "run_bench", "run_cell", "timed_bench",
    "write_results",
]
