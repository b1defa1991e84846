"""The error rule of :mod:`optix_evo.errors`: a bad argument to a Python function is a plain ``ValueError`` (as optax
raises it); a lookup of a user-given name (and the hyperparameters given with it) is an :class:`InputError`."""

import jax.numpy as jnp
import optax
import pytest

import optix_evo as ox
from optix_evo.errors import InputError
from optix_evo.models.mlp import MLP
from optix_evo.schedules.walk_forward import make_strategy, make_walk_forward

SIZES = dict(length=120, lags=4, train_size=32, test_size=16, epochs=1, batch_size=8)
P = jnp.zeros(1)


def _no_loss_update():
  tx = ox.scale_by_aldvi(0.1, 2)
  tx.update(P, tx.init(P), P)


ARGUMENT_ERRORS = {
    # schedules/aldvi.py
    "aldvi.steps_per_epoch": (lambda: ox.scale_by_aldvi(0.1, 0), "steps_per_epoch"),
    "aldvi.rule_kwargs_with_function": (lambda: ox.scale_by_aldvi(0.1, 2, rule=lambda lr, h, k: lr, alpha=1.0),
                                        "only apply to a rule given by name"),
    "aldvi.trend_rule": (lambda: ox.schedules.trend_rule(cut=2.0), "cut must be in"),
    "aldvi.paper_rule": (lambda: ox.schedules.paper_rule(alpha=-1.0), "alpha must be >= 0"),
    "aldvi.phased_rule": (lambda: ox.schedules.phased_rule(total_epochs=0), "total_epochs must be >= 1"),
    "aldvi.built_base": (lambda: ox.aldvi(optax.adam(1e-3), 1e-2, steps_per_epoch=5), "constructor"),
    "aldvi.no_state": (lambda: ox.current_lr(optax.adam(1e-3).init(P)), "exactly one ALDVI state"),
    "aldvi.no_loss": (_no_loss_update, "got no batch loss"),
    # schedules/nos.py
    "nos.total_steps": (lambda: ox.nos_schedule(0, 1.0, 0), "total_steps"),
    "nos.warmup_hold_cosine_total_steps": (lambda: ox.warmup_hold_cosine_schedule(1.0, 2.5), "total_steps"),
    # schedules/walk_forward.py
    "walk_forward.mode": (lambda: make_walk_forward(MLP(outputs=1), make_strategy("constant", 0.1), mode="random",
                                                    **SIZES), "Known modes: sequential, refit"),
    "walk_forward.sizes": (lambda: make_walk_forward(MLP(outputs=1), make_strategy("constant", 0.1),
                                                     **{**SIZES, "epochs": 0}), "must be >= 1"),
    "walk_forward.too_short": (lambda: make_walk_forward(MLP(outputs=1), make_strategy("constant", 0.1),
                                                         **{**SIZES, "length": 20}), "too short"),
    # diagnostics/monitor.py
    "monitor.history": (lambda: ox.monitor(history=0), "history"),
    "monitor.no_state": (lambda: ox.monitor_metrics(optax.adam(1.0).init(P)), "No ox.monitor"),
}


@pytest.mark.parametrize("case", sorted(ARGUMENT_ERRORS))
def test_bad_python_arguments_raise_a_plain_value_error(case):
  call, match = ARGUMENT_ERRORS[case]
  with pytest.raises(ValueError, match=match) as e:
    call()
  assert not isinstance(e.value, InputError), f"{case}: {type(e.value).__name__}: {e.value}"


NAME_LOOKUPS = {
    "aldvi.unknown_rule": (lambda: ox.make_aldvi_rule("cosine"), "Known rules"),
    "aldvi.rule_refuses_a_value": (lambda: ox.make_aldvi_rule("trend", cut=2.0), "Bad hyperparameters.*cut must be"),
    "aldvi.rule_refuses_a_name": (lambda: ox.make_aldvi_rule("paper", cut=0.5), "Bad hyperparameters"),
    "aldvi.rule_by_name_in_scale_by_aldvi": (lambda: ox.scale_by_aldvi(0.1, 2, rule="trend", cut=2.0), "cut must be"),
    "aldvi.unknown_inner_rule": (lambda: ox.make_aldvi_rule("phased", total_epochs=5, inner="nope"),
                                 "^Unknown ALDVI rule 'nope'"),  # passed through, not wrapped as a hyperparameter
    "nos.unknown_schedule": (lambda: ox.nos_schedule("nos_lr9", 1.0, 10), "evolved schedule"),
    "walk_forward.unknown_strategy": (lambda: make_strategy("adam", 0.1), "Known strategies"),
    "walk_forward.misplaced_options": (lambda: make_strategy("cosine", 0.1, alpha=1.0), "only apply to the aldvi"),
}


@pytest.mark.parametrize("case", sorted(NAME_LOOKUPS))
def test_name_lookups_raise_input_error(case):
  call, match = NAME_LOOKUPS[case]
  with pytest.raises(InputError, match=match):
    call()
