"""Learning-rate schedules driven by training metrics: ALDVI (adaptive learning via dynamic variable integration)."""

from optix_evo.schedules.aldvi import (
    RULES,
    EpochHistory,
    Rule,
    ScaleByAldviState,
    aldvi,
    aldvi_history,
    aldvi_state,
    current_lr,
    make_rule,
    paper_rule,
    phased_rule,
    scale_by_aldvi,
    trend_rule,
)

__all__ = [
    "RULES",
    "EpochHistory",
    "Rule",
    "ScaleByAldviState",
    "aldvi",
    "aldvi_history",
    "aldvi_state",
    "current_lr",
    "make_rule",
    "paper_rule",
    "phased_rule",
    "scale_by_aldvi",
    "trend_rule",
]
