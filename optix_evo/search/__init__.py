"""Neural optimizer search (Morgan & Hougen 2024): a mutation-only particle GA over genomes of
``optix_evo.graph``, scored by one jitted, sharded program per generation (``lax.map`` over candidates on CPU,
``vmap`` on GPU/TPU), then progressive elimination.

``ox.search.run(ox.search.preset("quick"), "runs/q")`` or ``optix-evo search --preset quick``.
"""

from optix_evo.search import ga
from optix_evo.search.elimination import Stage, spearman
from optix_evo.search.evaluate import BASELINES, WORST, Evaluator, Protocol, Scores, population_mesh
from optix_evo.search.results import verdict, write_results
from optix_evo.search.search import PRESETS, SearchConfig, SearchResult, genome_builder, preset, run
from optix_evo.search.tasks import TASKS, Task, get_task
from optix_evo.search.transfer import confidence_interval, transfer

__all__ = [
    "BASELINES", "Evaluator", "PRESETS", "Protocol", "Scores", "SearchConfig", "SearchResult", "Stage", "TASKS",
    "Task", "WORST", "confidence_interval", "ga", "genome_builder", "get_task", "population_mesh",
    "preset", "run", "spearman", "transfer", "verdict", "write_results",
]
