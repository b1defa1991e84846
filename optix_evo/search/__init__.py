"""Neural optimizer search (Morgan & Hougen 2024): a mutation-only particle GA over the genomes of
``optix_evo.graph``, scored by one compiled program per task, then progressive elimination and a tuned final
comparison against baselines and known optimizers, with intervals and a held-out task.

``ox.search.run(ox.search.preset("quick"), "runs/q")`` or ``optix-evo search --preset quick``.

References:
  Morgan & Hougen, `Neural Optimizer Equation, Decay Function, and Learning Rate Schedule Joint Evolution
  <https://arxiv.org/abs/2404.06679>`_, 2024; the authors' code: https://github.com/OUStudent/NeuralOptimizerSearch
"""

from optix_evo.search import ga
from optix_evo.search.config import BASELINES, PRESETS, WARM_START, SearchConfig, Stage, baseline_optimizer, preset
from optix_evo.search.driver import Search, SearchInterrupted, run
from optix_evo.search.evaluate import Budget, Evaluator, Outcome, population_mesh, zoo_optimizer
from optix_evo.search.phases import normalised_score, select_survivors
from optix_evo.search.protocol import Protocol, Scores, score, seed_keys, tune
from optix_evo.search.results import verdict_sentences, write_results
from optix_evo.search.results_types import WORST, SearchResult
from optix_evo.search.state import SearchState
from optix_evo.search.statistics import (
    Interval, holm_bonferroni, mean_interval, paired_difference, paired_p_value, spearman, spearman_interval, verdict,
)
from optix_evo.search.strategies import STRATEGIES, RegularizedEvolution, Strategy, tournament

__all__ = [
    "BASELINES", "Budget", "Evaluator", "Interval", "Outcome", "PRESETS", "Protocol", "RegularizedEvolution",
    "STRATEGIES", "Scores", "Search", "SearchConfig", "SearchInterrupted", "SearchResult", "SearchState", "Stage",
    "Strategy", "WARM_START", "WORST", "baseline_optimizer", "ga", "holm_bonferroni", "mean_interval", "normalised_score",
    "paired_difference", "paired_p_value", "population_mesh", "preset", "run", "score", "seed_keys",
    "select_survivors", "spearman", "spearman_interval", "tournament", "tune", "verdict", "verdict_sentences",
    "write_results", "zoo_optimizer",
]
