"""Learning-rate schedules: ALDVI (adaptive learning via dynamic variable integration), driven by training metrics,
and the schedules of neural optimizer search (``nos_schedule``, ``warmup_hold_cosine_schedule``).

The rule factories (``paper_rule``, ``trend_rule``, ``phased_rule``) and the walk-forward evaluation
(``optix_evo.schedules.walk_forward``) are reachable here and from their modules; ``__all__`` lists what is
re-exported at the top level (``ox.aldvi``, ``ox.current_lr``, ...).
"""

from optix_evo.schedules.aldvi import (
    ALDVI_RULES,
    AldviHistory,
    AldviRule,
    ScaleByAldviState,
    aldvi,
    aldvi_history,
    aldvi_state,
    current_lr,
    make_aldvi_rule,
    paper_rule,
    phased_rule,
    scale_by_aldvi,
    trend_rule,
)
from optix_evo.schedules.nos import NOS_SCHEDULES, nos_schedule, warmup_hold_cosine_schedule

__all__ = [
    "ALDVI_RULES",
    "AldviHistory",
    "AldviRule",
    "ScaleByAldviState",
    "aldvi",
    "aldvi_history",
    "aldvi_state",
    "current_lr",
    "make_aldvi_rule",
    "nos_schedule",
    "scale_by_aldvi",
    "warmup_hold_cosine_schedule",
]
