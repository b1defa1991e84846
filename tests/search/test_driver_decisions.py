"""Decisions of ``optix_evo.search.driver`` on planted states and scores (nothing is trained or compiled): who enters
the final comparison and as which genome, the direction of every reported difference (found − baseline) through
``Search.compare``, which candidate the hall of fame ranks first and with which stage's learning rate, what a resumed
run restores (exactly) and refuses, the history file, Ctrl-C, the timing totals and the warm start."""

import dataclasses
import importlib
import json
import os
import re
import types

import jax
import numpy as np
import pytest

import optix_evo as ox
from optix_evo.errors import InputError
from optix_evo.search import Search, SearchInterrupted, Stage, driver, preset
from optix_evo.search.evaluate import Usage

TINY = preset("quick", task="digits_mlp", space="extended", particles=2, steps=1, mutants=2, pool_factor=2,
              surrogate_steps=20, epochs=2, probe_steps=6, lr_grid=(0.1, 0.01), elimination_candidates=3,
              stages=(Stage(20, seeds=1, keep=2), Stage(20, seeds=2, keep=2)), finalists=2, final_steps=30,
              final_seeds=3, final_lr_grid=(0.1, 0.01), holdout_tasks=("iris_mlp",), baselines=("adam", "zoo:sgd"),
              references=("nos_opt9",), seed=3)
NAMES = ("lion", "rmsprop", "adam")  # archive 0, 1, 2


def _planted(search, phase="final"):
  """The search at ``phase`` with an archive of three known optimizers and two elimination stages."""
  archive = tuple(search.describe(ox.graph.known(n, search.space), generation=g, fitness=f)
                  for n, g, f in zip(NAMES, (0, 1, 1), (0.5, 0.7, 0.6)))
  stages = ({"stage": 1, "candidates": [0, 1, 2], "survivors": [2, 1], "fitness": [0.1, 0.2, 0.3],
             "learning_rate": [0.1, 0.1, 0.01]},
            {"stage": 2, "candidates": [1, 2], "survivors": [2, 1], "fitness": [0.4, 0.9],
             "learning_rate": [0.01, 0.1]})
  search.state = dataclasses.replace(search.state, phase=phase, archive=archive, stages=stages)
  return search


# --- participants and the final comparison ---------------------------------------------------------------------------

def test_the_participants_are_the_finalists_in_rank_order_then_the_baselines_then_the_references():
  search = _planted(Search(TINY))
  assert search.participants() == [
      {"name": "found #1", "kind": "found", "archive": 2, "equation": search.state.archive[2]["equation"]},
      {"name": "found #2", "kind": "found", "archive": 1, "equation": search.state.archive[1]["equation"]},
      {"name": "adam", "kind": "baseline", "known": "adam"},
      {"name": "zoo:sgd", "kind": "baseline", "zoo": "sgd"},
      {"name": "nos_opt9", "kind": "reference", "known": "nos_opt9"}]
  one = _planted(Search(dataclasses.replace(TINY, finalists=1, baselines=("sgd",), references=())))
  assert [p["name"] for p in one.participants()] == ["found #1", "sgd"]
  assert one.participants()[1]["known"] == "momentum"


def test_the_participants_genomes_are_the_finalists_the_known_baselines_and_a_plain_row_for_the_zoo():
  search = _planted(Search(TINY))
  got = search._participant_genomes(search.participants())  # pylint: disable=protected-access
  spec = ox.graph.DEFAULT_SPEC
  want = ox.search.ga.stack([ox.graph.convert(search.genome(search.state.archive[2]), search.space, spec),
                             ox.graph.convert(search.genome(search.state.archive[1]), search.space, spec),
                             ox.graph.known("adam", spec), ox.search.evaluate.plain_genome(spec),
                             ox.graph.known("nos_opt9", spec)])
  for name in want._fields:
    np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


def _fake_tune(calls, test):
  def tune(task, genomes, **kw):
    calls.append({"task": task, "n": int(np.shape(genomes.kind)[0]), **kw})
    t = np.asarray(test, float) + 0.01 * (len(calls) - 1)
    n, seeds = t.shape
    return ox.search.protocol.Scores(
        fitness=t.mean(1), learning_rate=np.full(n, 0.1), rejected=np.zeros(n, bool), diverged=np.zeros(n, bool),
        valid=t / 2, test=t, grid_valid=np.zeros((n, 2)), runs=n * seeds * 2)
  return tune


def test_compare_reports_found_minus_baseline_per_task_and_restores_exactly_on_resume(tmp_path):
  out = str(tmp_path / "run")
  events = []
  search = _planted(Search(TINY, out, callback=events.append))
  test = [[0.9, 0.8, 0.7], [0.1, 0.2, 0.3], [0.5, 0.5, 0.6], [0.6, 0.6, 0.6], [0.0, 0.0, 0.0]]
  calls = []
  search.tune = _fake_tune(calls, test)
  final = search.compare()
  assert search.state.phase == "done" and list(final["tasks"]) == ["digits_mlp", "iris_mlp"]
  assert [c["task"] for c in calls] == ["digits_mlp", "iris_mlp"]
  assert events == [{"phase": "final", "task": "digits_mlp", "done": 1, "total": 2},
                    {"phase": "final", "task": "iris_mlp", "done": 2, "total": 2}]
  assert all(c["n"] == 5 and c["zoo"] == {3: "sgd"} and c["seeds"] == 3 for c in calls)
  for task in final["tasks"].values():
    by = {(c["found"], c["baseline"]): c for c in task["comparisons"]}
    assert set(by) == {("found #1", "adam"), ("found #1", "zoo:sgd"), ("found #2", "adam"), ("found #2", "zoo:sgd")}
    assert by[("found #1", "adam")]["difference"]["estimate"] == pytest.approx(0.8 - 0.5 - 0.1 / 3)
    assert by[("found #1", "zoo:sgd")]["difference"]["estimate"] == pytest.approx(0.8 - 0.6)
    assert by[("found #2", "zoo:sgd")]["difference"]["estimate"] == pytest.approx(0.2 - 0.6)
    assert by[("found #2", "zoo:sgd")]["verdict"] == "loses"
  assert final["tasks"]["iris_mlp"]["held_out"] and not final["tasks"]["digits_mlp"]["held_out"]
  assert final["tasks"]["iris_mlp"]["test"][0] == pytest.approx([0.91, 0.81, 0.71])
  assert final["participants"] == search.participants()
  resumed = Search(TINY, out, resume=True)
  assert resumed.state.to_dict() == search.state.to_dict()
  assert resumed.state.final == final and resumed.state.phase == "done"


def test_a_resumed_comparison_keeps_its_stored_participants_and_does_only_the_tasks_left(tmp_path):
  out = str(tmp_path / "run")
  search = _planted(Search(TINY, out))
  calls = []
  search.tune = _fake_tune(calls, np.full((5, 3), 0.5))
  stored = [dict(p) for p in search.participants()]
  stored[0]["name"] = "kept #1"
  search.state = dataclasses.replace(search.state, final={"participants": stored, "tasks": {}})
  state = ox.search.phases.comparison_step(search.state, TINY, search, stored,
                                           search._participant_genomes(stored))  # pylint: disable=protected-access
  search._advance(state, [])  # pylint: disable=protected-access
  assert search.pending_tasks() == ["iris_mlp"]
  resumed = Search(TINY, out, resume=True)
  resumed.tune = _fake_tune(calls, np.full((5, 3), 0.5))
  final = resumed.compare()
  assert [c["task"] for c in calls] == ["digits_mlp", "iris_mlp"]
  assert final["participants"][0]["name"] == "kept #1"
  assert {c["found"] for c in final["tasks"]["iris_mlp"]["comparisons"]} == {"kept #1", "found #2"}
  assert resumed.pending_tasks() == []


# --- the result -------------------------------------------------------------------------------------------------------

def test_the_hall_of_fame_follows_the_last_stage_with_its_learning_rate_and_every_stage_fitness():
  search = _planted(Search(TINY), phase="done")
  search.state = dataclasses.replace(search.state, timing={**search.state.timing, "compile_s": 1.5, "trace_s": 0.25,
                                                           "lower_s": 0.125, "cache_load_s": 8.0})
  result = search.result()
  hall = result.hall_of_fame
  assert [h["rank"] for h in hall] == [1, 2]
  archive = search.state.archive
  assert hall[0] == {"rank": 1, "fingerprint": archive[2]["fingerprint"], "equation": archive[2]["equation"],
                     "surrogate_fitness": 0.6, "learning_rate": 0.1, "stage_fitness": [0.3, 0.9], "generation": 1,
                     "space": "extended", "genome": archive[2]["genome"]}
  assert (hall[1]["learning_rate"], hall[1]["stage_fitness"], hall[1]["surrogate_fitness"]) == (0.01, [0.2, 0.4], 0.7)
  assert result.timing["compile_and_trace_s"] == 1.875
  assert Search(TINY).result().hall_of_fame == []


# --- resume: what is restored and what is refused ---------------------------------------------------------------------

def test_a_fresh_search_starts_an_empty_history_and_a_resume_truncates_it_to_the_checkpoint(tmp_path):
  out = tmp_path / "run"
  out.mkdir()
  (out / driver.HISTORY).write_text("old\n")
  search = Search(TINY, str(out))
  assert (out / driver.HISTORY).read_text() == "" and not (out / driver.CHECKPOINT).exists()
  search._advance(search.state, [{"a": 1}, {"b": 2}])  # pylint: disable=protected-access
  assert search.state.history_lines == 2
  with open(out / driver.HISTORY, "a", encoding="utf-8") as f:
    f.write('{"c": 3}\n')  # a line written after the checkpoint (a killed run)
  resumed = Search(TINY, str(out), resume=True)
  assert (out / driver.HISTORY).read_text() == '{"a": 1}\n{"b": 2}\n'
  assert resumed.state.history_lines == 2
  resumed._advance(resumed.state, [{"d": 4}])  # pylint: disable=protected-access
  assert [json.loads(x) for x in (out / driver.HISTORY).read_text().splitlines()] == [{"a": 1}, {"b": 2}, {"d": 4}]
  assert Search(TINY, str(out), resume=True).state.history_lines == 3


def test_resume_refuses_other_settings_naming_each_and_a_foreign_file(tmp_path):
  out = tmp_path / "run"
  Search(TINY, str(out)).checkpoint()
  other = dataclasses.replace(TINY, particles=3, seed=4)
  with pytest.raises(InputError, match="^" + re.escape(
      f"--resume: the checkpoint in {out} was written with other settings: seed is 3 there, 4 here; particles is 2 "
      "there, 3 here. Resume without them (the checkpoint's settings are used) or start a new --out.") + "$"):
    Search(other, str(out), resume=True)
  assert driver.stored_config(str(out)) == TINY
  ox.search.checkpoint.save_checkpoint(out / driver.CHECKPOINT, {"format": "other"})
  with pytest.raises(InputError, match="^" + re.escape(f"{out / driver.CHECKPOINT} is not a search state of this "
                                                       "version of optix_evo (format 'other').") + "$"):
    Search(TINY, str(out), resume=True)
  with pytest.raises(InputError, match="^" + re.escape(f"{out / driver.CHECKPOINT} is not a search state of this "
                                                       "version of optix_evo.") + "$"):
    driver.stored_config(str(out))
  ox.search.checkpoint.save_checkpoint(out / driver.CHECKPOINT, [1])
  with pytest.raises(InputError, match=re.escape("(format 'list')")):
    Search(TINY, str(out), resume=True)
  for call in (lambda: Search(TINY, str(tmp_path / "none"), resume=True),
               lambda: driver.stored_config(str(tmp_path / "none"))):
    with pytest.raises(InputError, match="^" + re.escape(f"--resume: no checkpoint checkpoint.npz in "
                                                         f"{tmp_path / 'none'}; start a new search instead.") + "$"):
      call()
  with pytest.raises(InputError, match=re.escape("--resume: no checkpoint checkpoint.npz in None")):
    Search(TINY, None, resume=True)


def test_the_fresh_state_holds_the_config_and_the_strategys_first_state(tmp_path):
  search = Search(TINY)
  assert search.state.config == TINY.to_dict() and search.state.phase == "search"
  strategy = ox.search.strategies.make_strategy("ga", ox.search.ga.graph_ops(search.space), ())
  want = strategy.init(jax.random.PRNGKey(3), TINY.ga_params()).to_dict()
  encode = ox.search.checkpoint.encode_checkpoint
  assert encode(search.state.strategy) == encode(want)
  assert not search.writer and Search(TINY, str(tmp_path)).writer


# --- Ctrl-C, timing, warm start, tasks --------------------------------------------------------------------------------

def test_ctrl_c_stops_at_the_checkpoint_with_a_message_saying_where(tmp_path):
  search = Search(TINY, str(tmp_path / "run"))
  search.interrupts.requested = True
  with pytest.raises(SearchInterrupted, match="^" + re.escape(
      f"stopped after search step; the search is checkpointed in {tmp_path / 'run'}, continue it with "
      "--resume") + "$"):
    search.checkpoint()
  assert (tmp_path / "run" / driver.CHECKPOINT).exists()
  memory = Search(TINY)
  memory.interrupts.requested = True
  with pytest.raises(SearchInterrupted, match="^stopped after search step$"):
    memory.checkpoint()


def test_the_timing_totals_add_each_sessions_time(monkeypatch):
  search = Search(TINY)
  clock = iter([10.0, 12.5])
  cpu = iter([3.0, 4.0])
  search._session_start, search._session_cpu = 7.0, 1.0  # pylint: disable=protected-access
  monkeypatch.setattr(driver.time, "perf_counter", lambda: next(clock))
  monkeypatch.setattr(driver.time, "process_time", lambda: next(cpu))
  monkeypatch.setattr(search.log, "summary", lambda: {"compile_s": 2.0, "programs": 1, "unknown": 5.0})
  search.state = dataclasses.replace(search.state, timing={**search.state.timing, "wall_s": 1.0, "cpu_s": 0.5,
                                                           "compile_s": 0.25})
  search._account_time()  # pylint: disable=protected-access
  timing = search.state.timing
  assert (timing["wall_s"], timing["cpu_s"], timing["compile_s"], timing["programs"]) == (4.0, 2.5, 2.25, 1)
  assert "unknown" not in timing
  search._account_time()  # pylint: disable=protected-access
  assert (search.state.timing["wall_s"], search.state.timing["cpu_s"]) == (6.5, 3.5)


def test_a_timing_without_cpu_seconds_counts_them_from_0(monkeypatch):
  """A state's timing without ``cpu_s`` (built before CPU time was counted) gets this session's CPU seconds."""
  search = Search(TINY)
  search._session_start, search._session_cpu = 7.0, 1.0  # pylint: disable=protected-access
  monkeypatch.setattr(driver.time, "perf_counter", lambda: 10.0)
  monkeypatch.setattr(driver.time, "process_time", lambda: 4.0)
  monkeypatch.setattr(search.log, "summary", dict)
  older = {k: v for k, v in search.state.timing.items() if k != "cpu_s"}
  search.state = dataclasses.replace(search.state, timing=older)
  search._account_time()  # pylint: disable=protected-access
  assert (search.state.timing["wall_s"], search.state.timing["cpu_s"]) == (3.0, 3.0)


class _PlantedUsage:
  """An evaluator whose calls cost what the test says (each :meth:`take_usage` hands over the next one)."""

  def __init__(self, *usages):
    self.usages = list(usages)

  def take_usage(self):
    return self.usages.pop(0) if self.usages else Usage()


def test_the_timing_adds_each_evaluators_training_per_task_and_its_wait_for_compilation(monkeypatch):
  search = Search(TINY)
  monkeypatch.setattr(search.log, "summary", dict)
  # pylint: disable=protected-access
  search._evaluators = {"mnist1d_mlp": _PlantedUsage(Usage(2.0, 800, 4, 1.5), Usage(1.0, 100, 1, 0.0)),
                        "iris_mlp": _PlantedUsage(Usage(0.0, 0, 0, 0.25))}
  search._zoo_evaluators = {("mnist1d_mlp", "prodigy"): _PlantedUsage(Usage(0.5, 200, 2, 3.0))}
  search._account_time()  # pylint: disable=protected-access
  timing = search.state.timing
  assert timing["compile_wait_s"] == 4.75
  assert timing["training"] == {"mnist1d_mlp": {"train_s": 2.5, "steps": 1000, "runs": 6}}  # a task with no runs: none
  search._account_time()  # pylint: disable=protected-access
  assert search.state.timing["training"] == {"mnist1d_mlp": {"train_s": 3.5, "steps": 1100, "runs": 7}}
  assert search.state.timing["compile_wait_s"] == 4.75
  assert timing["training"]["mnist1d_mlp"]["steps"] == 1000  # the earlier state's record is not changed in place


def test_the_warm_start_seeds_the_known_optimizers_the_space_can_express():
  assert Search(TINY).warm_names == ()
  extended = Search(dataclasses.replace(TINY, warm_start=True))
  assert extended.warm_names == ox.search.config.WARM_START
  assert extended.state.warm_start == ox.search.config.WARM_START
  nos = Search(dataclasses.replace(TINY, warm_start=True, space="nos"))
  expressible = []
  for name in ox.search.config.WARM_START:
    try:
      ox.graph.known(name, ox.graph.get_space("nos"))
    except (InputError, ValueError, KeyError):
      continue
    expressible.append(name)
  assert nos.warm_names == tuple(expressible) and "adam" not in expressible and "nos_opt1" in expressible


def test_pending_tasks_follow_the_phase():
  search = Search(dataclasses.replace(TINY, pool_task="mnist1d_mlp"))
  assert search.pending_tasks() == ["mnist1d_mlp", "digits_mlp", "iris_mlp"]
  search.state = dataclasses.replace(search.state, generations=({"best": 0.5},))
  assert search.pending_tasks() == ["digits_mlp", "iris_mlp"]
  search.state = dataclasses.replace(search.state, phase="final", final={"tasks": {"digits_mlp": {}}})
  assert search.pending_tasks() == ["iris_mlp"]
  search.state = dataclasses.replace(search.state, final=None)
  assert search.pending_tasks() == ["digits_mlp", "iris_mlp"]
  search.state = dataclasses.replace(search.state, phase="done")
  assert search.pending_tasks() == []


def test_each_task_gets_one_evaluator_and_each_zoo_baseline_its_own(monkeypatch):
  made = []
  monkeypatch.setattr(driver, "Evaluator", lambda task, spec, **kw: made.append((task.name, spec, kw)) or len(made))
  monkeypatch.setattr(driver, "zoo_optimizer", lambda name: f"zoo({name})")
  search = Search(dataclasses.replace(TINY, chunk_size=2, population_loop="map"))
  assert search.evaluator("digits_mlp") == 1 == search.evaluator("digits_mlp")
  assert search.evaluator("digits_mlp", "sgd") == 2 == search.evaluator("digits_mlp", "sgd")
  assert search.evaluator("iris_mlp") == 3
  assert made[0] == ("digits_mlp", ox.graph.DEFAULT_SPEC, {"max_steps": 30, "batch": max(jax.device_count() * 8, 16),
                                                           "chunk_size": 2, "population_loop": "map",
                                                           "make_optimizer": None})
  assert made[1][2]["make_optimizer"] == "zoo(sgd)"
  assert search.task("digits_mlp") is search.task("digits_mlp")
  custom = ox.tasks.get_task("iris_mlp")
  own = Search(dataclasses.replace(TINY, task=custom, holdout_tasks=()))
  assert own.task("iris_mlp") is custom  # the config's own Task object, not a fresh one by name
  assert own.chance("iris_mlp") == float(custom.chance)


def test_search_space_genomes_are_converted_to_the_evaluation_space():
  nos = Search(dataclasses.replace(TINY, space="nos"))
  genomes = ox.search.ga.stack([ox.graph.known("nos_opt1", nos.space), ox.graph.known("nos_opt2", nos.space)])
  got = nos.to_eval_space(genomes)
  want = ox.search.ga.stack([ox.graph.convert(g, nos.space, ox.graph.DEFAULT_SPEC)
                             for g in ox.search.ga.unstack(genomes)])
  for name in want._fields:
    np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
  same = Search(TINY)
  population = ox.search.ga.stack([ox.graph.known("adam", same.space)])
  assert same.to_eval_space(population) is population


def test_score_appends_the_extra_known_optimizers_after_the_candidates(monkeypatch):
  seen = {}
  monkeypatch.setattr(driver, "score", lambda evaluator, population, protocol, seed: seen.update(
      population=population, evaluator=evaluator, protocol=protocol, seed=seed) or "scores")
  search = Search(TINY)
  monkeypatch.setattr(search, "evaluator", lambda task, optimizer=None: f"ev({task})")
  genomes = ox.search.ga.stack([ox.graph.known("lion", search.space)])
  assert search.score("digits_mlp", genomes, "P", seed=7, extra=("adam",)) == "scores"
  want = ox.search.ga.stack([ox.graph.known("lion", ox.graph.DEFAULT_SPEC), ox.graph.known("adam",
                                                                                           ox.graph.DEFAULT_SPEC)])
  for name in want._fields:
    np.testing.assert_array_equal(getattr(seen["population"], name), getattr(want, name), err_msg=name)
  assert (seen["evaluator"], seen["protocol"], seen["seed"]) == ("ev(digits_mlp)", "P", 7)


def test_tune_hands_each_zoo_row_its_own_evaluator(monkeypatch):
  seen = {}
  monkeypatch.setattr(driver, "tune", lambda evaluator, genomes, **kw: seen.update(evaluator=evaluator, **kw) or "t")
  search = Search(TINY)
  monkeypatch.setattr(search, "evaluator", lambda task, optimizer=None: (task, optimizer))
  assert search.tune("digits_mlp", "G", seed=5, zoo={3: "sgd"}, steps=9) == "t"
  assert seen == {"evaluator": ("digits_mlp", None), "seed": 5, "steps": 9, "zoo": {3: ("digits_mlp", "sgd")}}
  search.tune("iris_mlp", "G", seed=1)
  assert seen["zoo"] == {}


def test_run_skips_the_steps_already_done_and_counts_a_session(monkeypatch, tmp_path):
  search = _planted(Search(TINY, str(tmp_path / "run")), phase="done")
  for name in ("generation", "eliminate", "compare"):
    monkeypatch.setattr(search, name, lambda name=name: pytest.fail(f"{name} ran on a finished search"))
  monkeypatch.setattr(search, "start_compiling", lambda: [])
  before = search.state.timing["sessions"]
  result = search.run()
  assert search.state.timing["sessions"] == before + 1 and [h["rank"] for h in result.hall_of_fame] == [1, 2]
  assert os.path.exists(tmp_path / "run" / driver.HISTORY)


# --- the search and elimination steps through Search, with planted surrogate scores -----------------------------------

def _fake_score(calls):
  def score(task, genomes, protocol, *, seed, extra=()):
    n = int(np.shape(genomes.kind)[0]) + len(extra)
    calls.append({"task": task, "n": n, "seed": seed, "steps": protocol.steps, "seeds": protocol.seeds})
    fitness = 0.1 + 0.8 * (np.arange(n)[::-1] + len(calls)) / (n + 10)  # a different best per call
    seeds = protocol.seeds
    return ox.search.protocol.Scores(
        fitness=fitness, learning_rate=np.full(n, protocol.lr_grid[0]), rejected=np.zeros(n, bool),
        diverged=np.zeros(n, bool), valid=np.repeat(fitness[:, None], seeds, 1),
        test=np.repeat(fitness[:, None], seeds, 1), grid_valid=None, runs=n * seeds)
  return score


def test_generations_are_logged_checkpointed_and_reported_to_the_callback(tmp_path):
  out = tmp_path / "run"
  events, calls = [], []
  search = Search(TINY, str(out), callback=events.append)
  search.score = _fake_score(calls)
  summaries = [search.generation() for _ in range(TINY.steps + 1)]
  assert search.done_generations == 2 and search.state.phase == "elimination"
  assert [e["phase"] for e in events] == ["search", "search"]
  assert [(e["generation"], e["done"], e["total"]) for e in events] == [(0, 1, 2), (1, 2, 2)]
  assert [e["best"] for e in events] == [max(s["best"] for s in summaries[:k]) for k in (1, 2)]
  assert summaries[-1] == search.state.generations[-1]
  lines = (out / driver.HISTORY).read_text().splitlines()
  assert len(lines) == search.state.history_lines == len(search.state.archive) > 0
  encode = ox.search.checkpoint.encode_checkpoint
  assert encode(Search(TINY, str(out), resume=True).state.to_dict()) == encode(search.state.to_dict())


def test_stages_are_logged_checkpointed_and_reported_to_the_callback(tmp_path):
  out = tmp_path / "run"
  events, calls = [], []
  search = Search(TINY, str(out), callback=events.append)
  search.score = _fake_score(calls)
  for _ in range(TINY.steps + 1):
    search.generation()
  encode = ox.search.checkpoint.encode_checkpoint
  stages = search.eliminate()
  assert search.state.phase == "final" and len(stages) == 2 and stages == list(search.state.stages)
  assert [(e["phase"], e["stage"], e["done"], e["total"]) for e in events[2:]] == [
      ("elimination", 0, 1, 2), ("elimination", 1, 2, 2)]
  assert [e["best"] for e in events[2:]] == [float(max(s["fitness"])) for s in stages]
  assert len((out / driver.HISTORY).read_text().splitlines()) == search.state.history_lines
  resumed = Search(TINY, str(out), resume=True)
  assert encode(resumed.state.to_dict()) == encode(search.state.to_dict())
  assert resumed.eliminate() == stages  # nothing left to run
  assert resumed.elimination_candidates() == ox.search.phases.elimination_candidates(resumed.state, TINY,
                                                                                     resumed.genome)


def test_an_archive_record_is_read_in_the_searchs_own_space_and_one_of_another_space_is_refused():
  search = Search(TINY)
  record = search.describe(ox.graph.known("lion", search.space), generation=0, fitness=0.5)
  genome = search.genome(record)
  want = ox.graph.simplify(ox.graph.known("lion", search.space), search.space)
  for name in want._fields:
    np.testing.assert_array_equal(getattr(genome, name), getattr(want, name), err_msg=name)
  nos = ox.graph.get_space("nos")
  foreign = {"genome": ox.graph.to_json(ox.graph.known("nos_opt1", nos), nos)}
  with pytest.raises(InputError, match="^" + re.escape("This genome is in the 'nos' space, not 'extended'")):
    search.genome(foreign)


def test_an_archive_record_is_described_in_the_searchs_own_space():
  nos = ox.graph.get_space("nos")
  search = Search(dataclasses.replace(TINY, space="nos"))
  genome = ox.graph.known("nos_opt1", nos)
  simple = ox.graph.simplify(genome, nos)
  record = search.describe(genome, generation=2, fitness=0.25)
  assert record == {"generation": 2, "fitness": 0.25, "fingerprint": ox.graph.canonical_hash(simple, nos),
                    "equation": ox.graph.render(simple, nos), "nodes": int(ox.graph.active_nodes(simple, nos).sum()),
                    "genome": ox.graph.to_json(simple, nos)}
  assert record["fingerprint"] != ox.graph.canonical_hash(simple)  # the extended space's hash of the same arrays
  assert ox.graph.space_of(record["genome"]) is nos


def test_run_continues_the_checkpointed_search_and_writes_the_results_only_when_asked(monkeypatch, tmp_path):
  out = str(tmp_path / "run")
  _planted(Search(TINY, out), phase="final").checkpoint()
  for name in ("generation", "eliminate"):
    monkeypatch.setattr(Search, name, lambda self, name=name: pytest.fail(f"{name} ran after the elimination"))
  monkeypatch.setattr(Search, "start_compiling", lambda self: [])
  calls = []
  fake = _fake_tune(calls, np.full((5, 3), 0.5))
  monkeypatch.setattr(Search, "tune", lambda self, task, genomes, **kw: fake(task, genomes, **kw))
  written = []
  monkeypatch.setattr(ox.search.results, "write_results", lambda *args: written.append(args))
  events = []
  result = driver.run(TINY, out, resume=True, callback=events.append)
  assert [h["rank"] for h in result.hall_of_fame] == [1, 2] and result.out_dir == out
  assert [c["task"] for c in calls] == ["digits_mlp", "iris_mlp"] and list(result.final["tasks"]) == [
      "digits_mlp", "iris_mlp"]
  assert [(e["phase"], e["task"]) for e in events] == [("final", "digits_mlp"), ("final", "iris_mlp")]
  assert len(written) == 1 and written[0][0] == out and written[0][1] is result and written[0][2] == TINY
  again = driver.run(TINY, out, resume=True, report=False)  # the finished search: nothing to run, nothing written
  assert again.final == result.final and len(calls) == 2 and len(written) == 1
  with pytest.raises(InputError, match="^--resume: no checkpoint"):
    driver.run(TINY, str(tmp_path / "none"), resume=True)


def test_each_zoo_baseline_has_its_own_evaluator_apart_from_the_genomes_one(monkeypatch):
  made = []
  monkeypatch.setattr(driver, "Evaluator", lambda task, spec, **kw: made.append(kw["make_optimizer"]) or len(made))
  monkeypatch.setattr(driver, "zoo_optimizer", lambda name: f"zoo({name})")
  search = Search(TINY)
  assert [search.evaluator("digits_mlp", "sgd"), search.evaluator("digits_mlp", "adam"),
          search.evaluator("digits_mlp"), search.evaluator("digits_mlp", "adam")] == [1, 2, 3, 2]
  assert made == ["zoo(sgd)", "zoo(adam)", None]


def test_the_tasks_data_split_is_drawn_from_the_configs_seed():
  got = Search(TINY).task("iris_mlp")
  want, other = ox.tasks.get_task("iris_mlp", seed=TINY.seed), ox.tasks.get_task("iris_mlp", seed=0)
  np.testing.assert_array_equal(got.train.x, want.train.x)
  assert not np.array_equal(got.train.x, other.train.x)


def test_a_stored_configuration_that_cannot_be_read_is_named_by_its_file(tmp_path):
  out = tmp_path / "run"
  Search(TINY, str(out)).checkpoint()
  path = out / driver.CHECKPOINT
  state = ox.search.checkpoint.load_checkpoint(path)
  state["config"]["bogus"] = 1
  ox.search.checkpoint.save_checkpoint(path, state)
  for call in (lambda: driver.stored_config(str(out)), lambda: Search(TINY, str(out), resume=True)):
    with pytest.raises(InputError, match="^" + re.escape(f"the configuration in {path} has setting(s) ['bogus']")):
      call()


def test_a_resumed_checkpoint_with_a_retyped_array_is_refused_naming_its_file(tmp_path):
  out = tmp_path / "run"
  Search(TINY, str(out)).checkpoint()
  path = out / driver.CHECKPOINT
  state = ox.search.checkpoint.load_checkpoint(path)
  state["fitness"] = np.zeros(3, np.int64)
  ox.search.checkpoint.save_checkpoint(path, state)
  with pytest.raises(InputError, match="^" + re.escape(f"{path}: fitness has shape (3,) and dtype int64, expected")):
    Search(TINY, str(out), resume=True)


def test_the_result_carries_the_generations_the_comparison_the_folder_and_the_warm_start(tmp_path):
  search = _planted(Search(dataclasses.replace(TINY, warm_start=True), str(tmp_path)), phase="done")
  final = {"participants": [], "tasks": {"digits_mlp": {}}}
  search.state = dataclasses.replace(search.state, generations=({"best": 0.5}, {"best": 0.75}), final=final)
  result = search.result()
  assert result.generations == [{"best": 0.5}, {"best": 0.75}] and result.final == final
  assert result.out_dir == str(tmp_path) and result.warm_start == ox.search.config.WARM_START
  assert re.fullmatch("sha256:[0-9a-f]{64}", result.data_fingerprint) and result.data_fingerprint == (
      search.data_fingerprint())
  assert Search(TINY).result().final == {}


def test_elimination_candidates_drop_the_behavioural_duplicates_of_the_searchs_genomes(monkeypatch):
  search = _planted(Search(TINY), phase="elimination")
  archive = tuple({**r, "rejected": False} for r in search.state.archive)
  search.state = dataclasses.replace(search.state, archive=archive)
  seen = []

  def distinct(genomes, spec):
    seen.append((genomes, spec))
    return [0, 2]  # the second best (archive 2) behaves as the best one (archive 1)
  monkeypatch.setattr(importlib.import_module("optix_evo.graph.fingerprint"), "distinct_behaviour", distinct)
  assert search.elimination_candidates() == [1, 0]  # by fitness 0.7, 0.6, 0.5: archive 2 dropped
  genomes, spec = seen[0]
  assert spec is search.space and len(genomes) == 3
  for got, i in zip(genomes, (1, 2, 0)):
    want = search.genome(archive[i])
    for name in want._fields:
      np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


def test_ctrl_c_sets_the_flag_once_and_a_second_ctrl_c_interrupts_at_once():
  import signal  # noqa: PLC0415
  import threading  # noqa: PLC0415

  if threading.current_thread() is not threading.main_thread():  # a signal handler is the main thread's only
    pytest.skip("signal handlers can only be installed from the main thread")
  before = signal.getsignal(signal.SIGINT)
  interrupts = driver._Interrupts()  # pylint: disable=protected-access
  with interrupts.active():
    assert not interrupts.requested
    signal.raise_signal(signal.SIGINT)
    assert interrupts.requested
    with pytest.raises(KeyboardInterrupt):
      signal.raise_signal(signal.SIGINT)
  assert signal.getsignal(signal.SIGINT) is before
