"""Decisions of ``optix_evo.search.config``: which settings a search accepts or refuses (with the exact line), the
protocols it derives from them (surrogates, stages), the named baselines, and how a stored configuration comes back.
Nothing here compiles or trains."""

import dataclasses
import re

import pytest

import optix_evo as ox
from optix_evo.errors import InputError
from optix_evo.search import config as cf
from optix_evo.search.config import SearchConfig, Stage, preset

QUICK = cf.PRESETS["quick"]


def _refused(message, **overrides):
  with pytest.raises(InputError, match="^" + re.escape(message) + "$"):
    dataclasses.replace(QUICK, **overrides)


# --- the named baselines ---------------------------------------------------------------------------------------------

def test_the_genome_baselines_are_adam_adamw_and_sgd_with_momentum():
  assert cf.BASELINES == {"adam": "adam", "adamw": "adamw", "sgd": "momentum"}
  assert SearchConfig().baselines == ("adam", "adamw", "sgd")
  assert QUICK.baselines == ("adam",) and cf.PRESETS["cpu"].baselines == ("adam",)
  for name in cf.BASELINES:
    assert cf.baseline_optimizer(name) is None
    assert cf.baseline_optimizer(cf.ZOO_PREFIX + name) == (name if name in ox.OPTIMIZERS else None) or name == "sgd"


def test_zoo_baselines_name_the_zoo_optimizer_with_or_without_the_prefix():
  assert cf.ZOO_PREFIX == "zoo:"
  assert cf.baseline_optimizer("zoo:adam") == "adam"
  assert cf.baseline_optimizer("prodigy") == "prodigy" and cf.baseline_optimizer("zoo:prodigy") == "prodigy"
  zoo_own = ", ".join(n for n in cf.BASELINES if n in ox.OPTIMIZERS)
  message = (f"Unknown baseline 'zoo:nope'. Baselines: the genomes adam, adamw, sgd, or an optimizer of the zoo "
             f"(zoo:NAME for the zoo's own {zoo_own}): {', '.join(sorted(ox.OPTIMIZERS))}.")
  for bad in ("zoo:nope", "zoo:zoo:adam", "Adam", "", 3, None):
    with pytest.raises(InputError, match="^" + re.escape(message.replace("'zoo:nope'", repr(bad))) + "$"):
      cf.baseline_optimizer(bad)


def test_the_reference_and_warm_start_lists():
  assert cf.NOS_OPTIMIZERS == tuple(f"nos_opt{i}" for i in range(1, 11))
  assert cf.WARM_START == ("adam", "rmsprop", "lion", *cf.NOS_OPTIMIZERS)
  assert cf.NORMALISATIONS == ("none", "adam")
  assert cf.PAPER_LR_GRID == (10.0, 1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5)


# --- Stage ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["steps", "seeds", "keep"])
@pytest.mark.parametrize("value", [0, -1, True, 2.0, "3", None])
def test_a_stage_refuses_every_count_that_is_not_a_positive_integer(name, value):
  kw = {"steps": 10, "seeds": 1, "keep": 1, name: value}
  message = f"Stage {name} must be a positive integer, got {value!r}."
  with pytest.raises(InputError, match="^" + re.escape(message) + "$"):
    Stage(**kw)


def test_a_stage_accepts_one_and_probe_steps_from_zero_to_steps():
  assert Stage(1, seeds=1, keep=1) == Stage(1, 1, 1, None)
  for probe in (0, 5, 10):
    assert Stage(10, probe_steps=probe).probe_steps == probe
  for probe in (-1, 11):
    with pytest.raises(InputError, match="^" + re.escape(f"Stage probe_steps must be in [0, steps=10] or None, got "
                                                         f"{probe}.") + "$"):
      Stage(10, probe_steps=probe)
  assert Stage(10) == Stage(10, seeds=1, keep=5, probe_steps=None)


# --- SearchConfig's refusals ------------------------------------------------------------------------------------------

KNOWN = ", ".join(sorted(ox.tasks.TASKS))


@pytest.mark.parametrize("field, what", [("task", "task"), ("pool_task", "pool_task")])
def test_unknown_tasks_are_refused_naming_the_setting_and_the_known_tasks(field, what):
  for bad in ("nope", 3):
    _refused(f"Unknown {what} {bad!r}. Known tasks: {KNOWN}; or MODULE:FUNCTION for your own "
             "(optix_evo.tasks.load_task_hook), or an optix_evo.tasks.Task from Python.", **{field: bad})
  dataclasses.replace(QUICK, **{field: "my_module:my_task"})  # a hook: checked when loaded


def test_held_out_and_family_tasks_are_checked_and_never_the_search_task():
  _refused("Unknown held-out task 'nope'. Known tasks: " + KNOWN + "; or MODULE:FUNCTION for your own "
           "(optix_evo.tasks.load_task_hook), or an optix_evo.tasks.Task from Python.", holdout_tasks=("nope",))
  _refused("holdout_tasks must not include the search task 'mnist1d_mlp': the search saw it.",
           holdout_tasks=("digits_mlp", "mnist1d_mlp"))
  _refused("Unknown family task 'nope'. Known tasks: " + KNOWN + "; or MODULE:FUNCTION for your own "
           "(optix_evo.tasks.load_task_hook), or an optix_evo.tasks.Task from Python.", family=("nope",))
  for name in ("mnist1d_mlp", "digits_mlp"):
    _refused(f"family task {name!r} is the search task or a held-out task; name each task once.", family=(name,))
  config = dataclasses.replace(QUICK, family=("digits_cnn",), holdout_tasks=())
  assert config.search_tasks == ("mnist1d_mlp", "digits_cnn")
  task = ox.tasks.get_task("mnist1d_mlp")
  assert dataclasses.replace(QUICK, task=task).task_name == "mnist1d_mlp"
  _refused("holdout_tasks must not include the search task 'mnist1d_mlp': the search saw it.", task=task,
           holdout_tasks=("mnist1d_mlp",))


def test_strategy_normalise_and_warm_start_are_checked():
  _refused(f"Unknown strategy 'ea'. Known: {', '.join(ox.search.strategies.STRATEGIES)}.", strategy="ea")
  _refused("Unknown normalise 'Adam'. Known: none, adam.", normalise="Adam")
  for bad in (1, 0, "true", None):
    _refused(f"warm_start must be true or false, got {bad!r}.", warm_start=bad)
  for ok in ("regularized", "random"):
    assert dataclasses.replace(QUICK, strategy=ok, normalise="adam", warm_start=True).strategy == ok


def test_baselines_are_at_least_one_known_name_each_named_once():
  _refused("baselines must name at least one optimizer (e.g. adam, adamw, sgd), got none.", baselines=())
  _refused("baselines name an optimizer twice: ['adam', 'sgd', 'adam'].", baselines=("adam", "sgd", "adam"))
  with pytest.raises(InputError, match="^Unknown baseline 'nope'"):
    dataclasses.replace(QUICK, baselines=("adam", "nope"))
  assert dataclasses.replace(QUICK, baselines=("adam", "zoo:adam")).baselines == ("adam", "zoo:adam")


@pytest.mark.parametrize("name", ["elimination_candidates", "finalists", "final_steps", "final_seeds", "mutant_tries",
                                  "epochs", "surrogate_steps"])
def test_counts_must_be_positive_integers(name):
  for bad in (0, -2, True, 2.5):
    _refused(f"{name} must be a positive integer, got {bad!r}.", **{name: bad})


def test_final_seeds_chunk_size_and_the_final_grid():
  _refused("final_seeds must be at least 2 for intervals over seeds, got 1.", final_seeds=1)
  assert dataclasses.replace(QUICK, final_seeds=2, chunk_size=1).chunk_size == 1
  for bad in (0, -1):
    _refused(f"chunk_size must be positive or None, got {bad}.", chunk_size=bad)
  for grid in ((), (1.0, 0.0), (-1e-3,), (float("nan"),)):
    _refused(f"final_lr_grid must hold positive learning rates, got {grid}.", final_lr_grid=grid)
  _refused("stages must hold at least one elimination stage.", stages=())


def test_the_ga_parameters_are_the_configs():
  config = dataclasses.replace(QUICK, particles=3, steps=4, mutants=5, pool_factor=6, tournament=7)
  assert config.ga_params() == ox.search.ga.GAParams(3, 4, 5, 6, tournament=7)


def test_the_ga_the_space_the_loop_and_the_references_are_checked():
  _refused("GA particles must be a positive integer, got 0.", particles=0)
  _refused("GA tournament must be a positive integer, got 0.", tournament=0)
  with pytest.raises(InputError, match="^Unknown population_loop 'loop'"):
    dataclasses.replace(QUICK, population_loop="loop")
  with pytest.raises(InputError, match="space"):
    dataclasses.replace(QUICK, space="nope")
  _refused(f"Unknown reference optimizer 'nope'. Known genomes: {', '.join(ox.graph.KNOWN)}.",
           references=("nos_opt1", "nope"))
  with pytest.raises(InputError, match=re.escape("probe_steps=500 must be in [0, steps=200]")):
    dataclasses.replace(QUICK, probe_steps=500)  # the evolution surrogate is built (and refused)
  with pytest.raises(InputError, match=re.escape("probe_steps=150 must be in [0, steps=100]")):
    dataclasses.replace(QUICK, probe_steps=150, pool_surrogate_steps=100, surrogate_steps=400)  # the pool's


# --- the protocols a config derives ----------------------------------------------------------------------------------

def test_the_surrogates_of_the_library_rules():
  config = dataclasses.replace(QUICK, surrogate_steps=203, pool_surrogate_steps=101, epochs=4, probe_steps=7,
                               lr_grid=(10.0, 1.0, 1e-2), probe_min_accuracy=0.125, probe_check_after=3,
                               best_probe_min_accuracy=0.25, run_min_accuracy=0.375, run_check_after=5)
  common = dict(lr_grid=(10.0, 1.0, 1e-2), probe_steps=7, probe_epoch=1, probe_min_accuracy=0.125,
                probe_check_after=3, best_probe_min_accuracy=0.25, run_min_accuracy=0.375, run_check_after=5,
                probe_first=(), probe_first_min_accuracy=0.0, rules="library")
  assert config.surrogate(pool=False) == ox.search.protocol.Protocol(203, epoch=50, **common)
  assert config.surrogate(pool=True) == ox.search.protocol.Protocol(101, epoch=25, **common)
  same = dataclasses.replace(config, pool_surrogate_steps=None)
  assert same.surrogate(pool=True) == same.surrogate(pool=False)
  tiny = dataclasses.replace(config, surrogate_steps=5, pool_surrogate_steps=None, epochs=40, probe_steps=3)
  assert tiny.surrogate(pool=False).epoch == 1 and tiny.surrogate(pool=False).probe_epoch == 1
  assert dataclasses.replace(config, probe_steps=9).surrogate(pool=False).probe_epoch == 2


def test_the_nos_space_takes_the_authors_rules_and_first_probes_from_the_grid():
  config = dataclasses.replace(cf.PRESETS["paper"], lr_grid=(10.0, 1.0, 1e-2, 1e-3), probe_min_accuracy=0.125)
  for pool in (True, False):
    protocol = config.surrogate(pool=pool)
    assert protocol.rules == "nos" and protocol.probe_first == (10.0, 1e-2)
    assert protocol.probe_first_min_accuracy == 0.125
  paper = cf.PRESETS["paper"].surrogate(pool=True)
  assert (paper.steps, paper.epoch, paper.probe_epoch, paper.probe_first) == (8000, 200, 200, (10.0, 1e-2, 1e-5))


def test_a_stage_protocol_takes_the_stage_budget_and_seeds():
  config = dataclasses.replace(QUICK, surrogate_steps=203, epochs=4, probe_steps=7)
  got = config.stage_protocol(Stage(401, seeds=3, keep=2))
  assert got == dataclasses.replace(config.surrogate(pool=False), steps=401, probe_steps=80, seeds=3, epoch=100,
                                    probe_epoch=20)
  got = config.stage_protocol(Stage(401, seeds=2, keep=2, probe_steps=0))
  assert (got.probe_steps, got.probe_epoch, got.epoch) == (0, 1, 100)
  got = config.stage_protocol(Stage(40, probe_steps=7))
  assert (got.probe_epoch, type(got.probe_epoch), got.epoch, type(got.epoch)) == (1, int, 10, int)
  got = config.stage_protocol(Stage(3, probe_steps=2))
  assert (got.steps, got.probe_steps, got.probe_epoch, got.epoch, got.seeds) == (3, 2, 1, 1, 1)


def test_max_steps_is_the_longest_run_of_any_phase():
  base = dict(surrogate_steps=100, pool_surrogate_steps=None, final_steps=100, stages=(Stage(100), Stage(100)),
              probe_steps=10)
  assert dataclasses.replace(QUICK, **base).max_steps == 100
  for change, expected in [({"surrogate_steps": 300}, 300), ({"pool_surrogate_steps": 301}, 301),
                           ({"final_steps": 302}, 302), ({"stages": (Stage(100), Stage(303))}, 303),
                           ({"stages": (Stage(304), Stage(100))}, 304)]:
    assert dataclasses.replace(QUICK, **{**base, **change}).max_steps == expected


# --- stored configurations --------------------------------------------------------------------------------------------

def test_to_dict_is_plain_data_and_from_dict_restores_exactly():
  config = dataclasses.replace(cf.PRESETS["cpu"], lr_grid=(1, 0.5), stages=(Stage(200, 2, 3, 7),))
  d = config.to_dict()
  for name in ("lr_grid", "final_lr_grid", "holdout_tasks", "baselines", "references", "family"):
    assert type(d[name]) is list, name
  assert d["stages"] == [{"steps": 200, "seeds": 2, "keep": 3, "probe_steps": 7}]
  back = SearchConfig.from_dict(d)
  assert back == config and type(back.stages) is tuple and type(back.family) is tuple
  assert back.lr_grid == (1.0, 0.5) and all(type(v) is float for v in back.lr_grid + back.final_lr_grid)
  task = ox.tasks.get_task("mnist1d_mlp")
  d = dataclasses.replace(QUICK, task=task, pool_task=task).to_dict()
  assert d["task"] == "mnist1d_mlp" and d["pool_task"] == "mnist1d_mlp" and QUICK.to_dict()["pool_task"] is None


def test_from_dict_fills_missing_settings_and_refuses_unknown_ones_naming_where():
  d = QUICK.to_dict()
  del d["tournament"], d["stages"][1]["probe_steps"]
  assert SearchConfig.from_dict(d) == QUICK
  d = QUICK.to_dict()
  d["stages"][1]["speed"] = 1
  with pytest.raises(InputError, match="^" + re.escape("run.json (stage 2) has setting(s) ['speed'] that Stage")):
    SearchConfig.from_dict(d, what="run.json")
  d = QUICK.to_dict()
  d["colour"] = 1
  with pytest.raises(InputError, match="^" + re.escape("the stored configuration has setting(s) ['colour']")):
    SearchConfig.from_dict(d)


def test_differences_list_every_changed_setting_in_order_with_both_values():
  other = dataclasses.replace(QUICK, particles=8, lr_grid=(1.0,), stages=(Stage(400, 2, 8),))
  assert other.differences(QUICK) == [("particles", 8, 6), ("lr_grid", [1.0], [0.1, 0.01, 0.001]),
                                      ("stages", [{"steps": 400, "seeds": 2, "keep": 8, "probe_steps": None}],
                                       QUICK.to_dict()["stages"])]
  assert QUICK.differences(QUICK) == []


def test_preset_replaces_fields_and_refuses_unknown_presets_and_settings():
  assert preset("quick") == QUICK and preset("quick", particles=8) == dataclasses.replace(QUICK, particles=8)
  with pytest.raises(InputError, match="^" + re.escape("Unknown preset 'fast'. Known presets: cpu, paper, quick.")):
    preset("fast")
  fields = ", ".join(sorted(f.name for f in dataclasses.fields(SearchConfig)))
  with pytest.raises(InputError, match="^" + re.escape(f"Unknown search setting(s) ['a', 'b']. Known settings: "
                                                       f"{fields}.") + "$"):
    preset("quick", b=1, a=2, particles=3)
  with pytest.raises(InputError, match="GA particles"):
    preset("paper", particles=0)


def test_the_presets_settings():
  assert SearchConfig() == cf.PRESETS["paper"]
  paper = cf.PRESETS["paper"]
  assert (paper.particles, paper.steps, paper.mutants, paper.pool_factor, paper.surrogate_steps,
          paper.pool_surrogate_steps, paper.probe_steps, paper.mutant_tries) == (50, 5, 7, 10, 16000, 8000, 800, 4)
  assert (paper.probe_min_accuracy, paper.probe_check_after, paper.best_probe_min_accuracy, paper.run_min_accuracy,
          paper.run_check_after) == (0.25, 2, 0.40, 0.40, 4)
  assert (paper.task_name, paper.pool_task, paper.space, paper.epochs) == ("cifar10_cnn48_aug", "cifar10_cnn", "nos",
                                                                          40)
  quick = cf.PRESETS["quick"]
  assert (quick.task_name, quick.space, quick.holdout_tasks, quick.final_seeds) == (
      "mnist1d_mlp", "extended", ("digits_mlp",), 5)
  assert quick.max_steps == 400 and cf.PRESETS["cpu"].normalise == "adam"
