"""ALDVI's front doors (optix_evo/schedules/aldvi.py): every hyperparameter's boundary accepted or refused as the
docstrings state it, with the exact message a user reads. Nothing here compiles: the checks run before any JAX code."""

import re

import jax.numpy as jnp
import optax
import pytest

import optix_evo as ox
from optix_evo.errors import InputError

S = ox.schedules


def _refused(error, message, build):
  with pytest.raises(error, match="^" + re.escape(message) + "$"):
    build()


# ----------------------------------------------------------------------------------------------------------------
# the rules' own refusals (ValueError) and the same through make_aldvi_rule / scale_by_aldvi (InputError)

RULE_REFUSALS = [
    ("paper", dict(alpha=-0.5), "paper rule: alpha must be >= 0, got -0.5."),
    ("paper", dict(sigma=-0.01), "paper rule: sigma must be >= 0, got -0.01."),
    ("trend", dict(alpha=-0.5), "trend rule: alpha must be >= 0, got -0.5."),
    ("trend", dict(cut=0.0), "trend rule: cut must be in (0, 1) (it multiplies η on divergence), got 0.0."),
    ("trend", dict(cut=1.0), "trend rule: cut must be in (0, 1) (it multiplies η on divergence), got 1.0."),
    ("trend", dict(decay=0.0), "trend rule: decay must be in (0, 1] (it multiplies η on steady progress), got 0.0."),
    ("trend", dict(decay=1.01), "trend rule: decay must be in (0, 1] (it multiplies η on steady progress), got 1.01."),
    ("trend", dict(tol=-1e-9), "trend rule: need 0 <= tol < rise and accuracy_tol >= 0; got tol=-1e-09, rise=0.1, "
                               "accuracy_tol=0.001."),
    ("trend", dict(tol=0.1, rise=0.1), "trend rule: need 0 <= tol < rise and accuracy_tol >= 0; got tol=0.1, "
                                       "rise=0.1, accuracy_tol=0.001."),
    ("trend", dict(accuracy_tol=-1e-9), "trend rule: need 0 <= tol < rise and accuracy_tol >= 0; got tol=0.001, "
                                        "rise=0.1, accuracy_tol=-1e-09."),
    ("trend", dict(window=1), "trend rule: window must be >= 2 loss differences, got 1."),
    ("phased", dict(total_epochs=10, boundaries=(0.3, 0.5, 0.7)),
     "phased rule: boundaries must be two increasing fractions in (0, 1], got (0.3, 0.5, 0.7)."),
    ("phased", dict(total_epochs=10, boundaries=(0.0, 0.5)),
     "phased rule: boundaries must be two increasing fractions in (0, 1], got (0.0, 0.5)."),
    ("phased", dict(total_epochs=10, boundaries=(0.6, 0.5)),
     "phased rule: boundaries must be two increasing fractions in (0, 1], got (0.6, 0.5)."),
    ("phased", dict(total_epochs=10, boundaries=(0.3, 1.1)),
     "phased rule: boundaries must be two increasing fractions in (0, 1], got (0.3, 1.1)."),
    ("phased", dict(total_epochs=10, gains=(2.0, 1.0)),
     "phased rule: gains must be three positive exponents (early, middle, late), got (2.0, 1.0)."),
    ("phased", dict(total_epochs=10, gains=(2.0, 0.0, 0.5)),
     "phased rule: gains must be three positive exponents (early, middle, late), got (2.0, 0.0, 0.5)."),
    ("phased", dict(total_epochs=10, fine_tune_drop=0.0), "phased rule: fine_tune_drop must be in (0, 1], got 0.0."),
    ("phased", dict(total_epochs=10, fine_tune_drop=1.5), "phased rule: fine_tune_drop must be in (0, 1], got 1.5."),
    ("phased", dict(total_epochs=0), "phased rule: total_epochs must be >= 1, got 0."),
    ("phased", dict(total_epochs=10, inner=lambda lr, h, k: lr, alpha=0.2),
     "phased rule: keyword arguments ['alpha'] only apply to an inner rule given by name."),
    ("phased", dict(total_epochs=10, window=1), "trend rule: window must be >= 2 loss differences, got 1."),
]


@pytest.mark.parametrize("name, kwargs, message", RULE_REFUSALS)
def test_a_rule_refuses_a_hyperparameter_outside_its_range_with_the_range(name, kwargs, message):
  refuser = "trend" if message.startswith("trend") else name  # phased's inner rule explains its own refusal
  wrapped = f"Bad hyperparameters for ALDVI rule {refuser!r}: {message[:-1]}."
  if refuser == name:
    _refused(ValueError, message, lambda: S.ALDVI_RULES[name](**kwargs))
  else:
    _refused(InputError, wrapped, lambda: S.ALDVI_RULES[name](**kwargs))
  _refused(InputError, wrapped, lambda: ox.scale_by_aldvi(0.1, 2, rule=name, **kwargs))


@pytest.mark.parametrize("name, kwargs", [
    ("paper", dict(alpha=0.0, sigma=0.0)),
    ("trend", dict(alpha=0.0, cut=0.999, decay=1.0, tol=0.0, rise=1e-9, accuracy_tol=0.0, window=2)),
    ("phased", dict(total_epochs=1, boundaries=(0.5, 0.5), gains=(1e-3, 1e-3, 1e-3), fine_tune_drop=1.0)),
    ("phased", dict(total_epochs=1, boundaries=(1.0, 1.0), inner="paper", alpha=0.0)),
])
def test_each_range_includes_its_closed_ends(name, kwargs):
  assert callable(S.ALDVI_RULES[name](**kwargs))
  ox.scale_by_aldvi(0.1, 2, rule=name, **kwargs)


def test_an_unknown_rule_is_refused_with_the_known_names():
  message = ("Unknown ALDVI rule 'cosine'. Known rules: paper, phased, trend "
             "(or pass a function rule(lr, history, key) -> next_lr).")
  _refused(InputError, message, lambda: ox.make_aldvi_rule("cosine"))
  _refused(InputError, message, lambda: ox.scale_by_aldvi(0.1, 2, rule="cosine"))
  _refused(InputError, message.replace("'cosine'", "'nope'"), lambda: S.phased_rule(10, inner="nope"))


def test_a_name_the_rule_does_not_take_is_refused():
  with pytest.raises(InputError, match=r"^Bad hyperparameters for ALDVI rule 'paper': .*unexpected keyword argument "
                                       r"'window'\.$"):
    ox.make_aldvi_rule("paper", window=3)


# ----------------------------------------------------------------------------------------------------------------
# scale_by_aldvi and aldvi

SCALE_REFUSALS = [
    (dict(steps_per_epoch=0), "steps_per_epoch must be a positive number of updates, got 0."),
    (dict(history_size=1), "history_size must be >= 2 epochs (rules compare consecutive epochs), got 1."),
    (dict(divergence_cut=0.0), "divergence_cut must be in (0, 1), got 0.0."),
    (dict(divergence_cut=1.0), "divergence_cut must be in (0, 1), got 1.0."),
    (dict(initial_lr=0.0), "initial_lr must be positive, got 0.0."),
    (dict(initial_lr=-0.1), "initial_lr must be positive, got -0.1."),
    (dict(min_lr=0.0, max_lr=1.0), "need 0 < min_lr <= max_lr, got min_lr=0.0, max_lr=1.0."),
    (dict(min_lr=0.2, max_lr=0.1), "need 0 < min_lr <= max_lr, got min_lr=0.2, max_lr=0.1."),
    (dict(max_lr=1e-5), "need 0 < min_lr <= max_lr, got min_lr=0.0001, max_lr=1e-05."),  # default min_lr = 0.1 / 1000
    (dict(min_lr=2.0), "need 0 < min_lr <= max_lr, got min_lr=2.0, max_lr=1.0."),  # default max_lr = 10 × 0.1
    (dict(rule=lambda lr, h, k: lr, alpha=1.0, sigma=0.0),
     "keyword arguments ['alpha', 'sigma'] only apply to a rule given by name; bind them in your rule function "
     "instead."),
]


@pytest.mark.parametrize("kwargs, message", SCALE_REFUSALS)
def test_scale_by_aldvi_refuses_bad_settings_with_the_reason(kwargs, message):
  settings = dict(initial_lr=0.1, steps_per_epoch=2) | kwargs
  _refused(ValueError, message, lambda: ox.scale_by_aldvi(**settings))


def test_scale_by_aldvi_accepts_the_closed_ends():
  for kwargs in [dict(steps_per_epoch=1), dict(history_size=2), dict(divergence_cut=0.999),
                 dict(min_lr=0.5, max_lr=0.5), dict(initial_lr=1e-9)]:
    ox.scale_by_aldvi(**(dict(initial_lr=0.1, steps_per_epoch=2) | kwargs))


def test_aldvi_refuses_what_is_not_an_optimizer_constructor():
  _refused(ValueError, "base must be an optimizer constructor taking the learning rate (e.g. optax.adam), got 0.1.",
           lambda: ox.aldvi(0.1, 0.1, steps_per_epoch=2))
  built = ("aldvi needs the optimizer's constructor, not a built optimizer: pass e.g. optax.adam (or lambda lr: "
           "optax.sgd(lr, momentum=0.9)); aldvi builds it with learning rate 1 and sets the rate itself (a built "
           "optimizer's own learning rate would multiply it).")
  _refused(ValueError, built, lambda: ox.aldvi(optax.sgd(0.1), 0.1, steps_per_epoch=2))
  # a built wrapper that is not a GradientTransformation but has an update method (not a class): the same reason
  _refused(ValueError, built, lambda: ox.aldvi(optax.MultiSteps(optax.sgd(0.1), 2), 0.1, steps_per_epoch=2))
  assert ox.aldvi(optax.sgd, 0.1, steps_per_epoch=2).init(jnp.zeros(1)) is not None  # a constructor is fine


def test_the_state_lookup_counts_the_aldvi_states():
  one = ox.scale_by_aldvi(0.1, 2).init(jnp.zeros(1))
  _refused(ValueError, "Expected exactly one ALDVI state inside the optimizer state, found 0.",
           lambda: ox.current_lr(optax.sgd(0.1).init(jnp.zeros(1))))
  _refused(ValueError, "Expected exactly one ALDVI state inside the optimizer state, found 2.",
           lambda: ox.aldvi_history((one, one)))
  assert ox.aldvi_state((optax.EmptyState(), one)) is one


def test_an_update_without_a_batch_loss_is_refused_with_the_fix():
  tx = ox.scale_by_aldvi(0.1, 2)
  message = ("scale_by_aldvi got no batch loss: call update(..., value=loss[, accuracy=accuracy]) "
             "(optix_evo.training.fit passes both; a wrapper that is a plain optax.GradientTransformation, "
             "such as optax.MultiSteps(...).gradient_transformation() inside optax.chain, drops them).")
  _refused(ValueError, message, lambda: tx.update(jnp.ones(1), tx.init(jnp.zeros(1))))
  _refused(ValueError, message, lambda: tx.update(jnp.ones(1), tx.init(jnp.zeros(1)), accuracy=0.5))
