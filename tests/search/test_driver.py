"""The search driver step by step on a tiny search: one program per task, resume, Ctrl-C, a custom task, the
results folder; and its decisions (which candidates enter elimination, which survive) on planted scores."""

import dataclasses
import importlib.util
import json

import flax.linen as nn
import jax
import numpy as np
import pytest

import optix_evo as ox
from optix_evo.compilation import CompileLog
from optix_evo.errors import InputError
from optix_evo.search import Search, SearchInterrupted, SearchState, Stage, phases, preset, run, select_survivors
from optix_evo.search.evaluate import WORST

TINY = preset("quick", task="digits_mlp", space="extended", particles=2, steps=1, mutants=2, pool_factor=2,
              surrogate_steps=20, epochs=2, probe_steps=6, lr_grid=(0.1, 0.01), elimination_candidates=3,
              stages=(Stage(20, seeds=1, keep=2),), finalists=2, final_steps=20, final_seeds=2,
              final_lr_grid=(0.1, 0.01), holdout_tasks=("iris_mlp",), baselines=("adam",), references=("nos_opt9",),
              seed=3)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
  """The tiny search run to the end in its results folder, step by step, with its compilations counted."""
  out = tmp_path_factory.mktemp("full") / "run"
  jax.clear_caches()  # count every program the search builds, whatever other tests of the process compiled before
  with CompileLog() as log:
    search = Search(TINY, str(out))
    with search._running():  # pylint: disable=protected-access
      summaries = [search.generation() for _ in range(TINY.steps + 1)]
      stages = search.eliminate()
      final = search.compare()
  result = search.result()
  ox.search.write_results(str(out), result, TINY)
  return {"search": search, "summaries": summaries, "stages": stages, "final": final, "result": result, "out": out,
          "log": log.summary(), "names": log.names}


def test_one_program_per_task_serves_every_protocol(full):
  search = full["search"]
  # The surrogate, its probes, the elimination stage and the tuned final comparison of each task share one program.
  assert sorted(search._evaluators) == ["digits_mlp", "iris_mlp"]  # pylint: disable=protected-access
  assert all(ev.compiled_programs == 1 for ev in search._evaluators.values())  # pylint: disable=protected-access
  # Beside them: the integrity check and the schedule tables, each built once; nothing per generation or stage.
  names = full["names"]
  assert names["jit(per_device_fn)"] == 2 and names["jit(numeric)"] == 1 and names["jit(schedule_tables)"] == 1, names
  assert full["log"]["programs"] == sum(names.values()) <= 25, names  # the rest: tiny helpers (keys, conversions)


def test_steps_produce_the_generations_stages_and_final_comparison(full):
  summaries, result = full["summaries"], full["result"]
  assert [s["generation"] for s in summaries] == [0, 1] and [s["candidates"] for s in summaries] == [4, 4]
  assert len(full["stages"]) == 1 and len(full["stages"][0]["candidates"]) <= TINY.elimination_candidates
  assert len(result.hall_of_fame) == 2 and result.hall_of_fame[0]["rank"] == 1
  tasks = result.final["tasks"]
  assert list(tasks) == ["digits_mlp", "iris_mlp"] and tasks["iris_mlp"]["held_out"]
  names = [p["name"] for p in result.final["participants"]]
  assert names == ["found #1", "found #2", "adam", "nos_opt9"]
  for table in tasks.values():
    assert np.asarray(table["test"]).shape == (4, TINY.final_seeds)
    assert {c["verdict"] for c in table["comparisons"]} <= {"beats", "ties", "loses"}
  assert result.rank_correlation["n"] == len(full["stages"][0]["candidates"])
  assert result.timing["wall_s"] > 0 and result.timing["compile_and_trace_s"] > 0
  # the runs each task's evaluator trained, counted apart from compilation: every generation, stage and comparison's
  training, timing = result.timing["training"], result.timing
  search_runs = sum(g["runs"] for g in result.generations) + sum(s["runs"] for s in full["stages"])
  assert sorted(training) == ["digits_mlp", "iris_mlp"]
  assert training["digits_mlp"]["runs"] == search_runs + tasks["digits_mlp"]["runs"]
  assert training["iris_mlp"]["runs"] == tasks["iris_mlp"]["runs"]
  assert all(t["steps"] > 0 and t["train_s"] > 0 for t in training.values())
  assert sum(t["train_s"] for t in training.values()) + timing["compile_wait_s"] <= timing["wall_s"]


def test_results_folder(full):
  out = full["out"]
  for name in ("report.md", "hall_of_fame.json", "history.jsonl", "run.json", "fitness.png", "final.png",
               "checkpoint.npz", "optimizers/rank_01.py", "optimizers/rank_02.py"):
    assert (out / name).exists(), name
  report = (out / "report.md").read_text()
  assert "held-out task, never seen by the search" in report and "Spearman rank correlation" in report
  assert "training" in report and "waiting for compilation" in report and "Tracing, lowering and compiling" in report
  manifest = json.loads((out / "run.json").read_text())
  assert manifest["argv"][-2:] == ["--out", str(out)] and "timing" in manifest
  rc = full["result"].rank_correlation
  assert [manifest["headline"][k] for k in ("rank_correlation", "rank_correlation_low", "rank_correlation_high")] == [
      rc["estimate"], rc["low"], rc["high"]]
  # the data trained on (digits and iris), so that a reproduction can tell it trained on the same
  assert manifest["data_fingerprint"] == full["result"].data_fingerprint and manifest["data_fingerprint"].startswith(
      "sha256:")
  # Each optimizer file is standalone optax code with its own name (importing them all keeps them apart).
  names = set()
  for rank in (1, 2):
    spec = importlib.util.spec_from_file_location(f"rank_{rank:02d}", out / "optimizers" / f"rank_{rank:02d}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names.add(getattr(module, f"rank_{rank:02d}").__name__)
  assert len(names) == 2


def test_resume_after_each_step_ends_with_the_same_results(full, tmp_path):
  out = str(tmp_path / "resumed")
  first = Search(TINY, out)
  with first._running():  # pylint: disable=protected-access
    first.generation()  # as if killed after generation 0's checkpoint
  result = Search(TINY, out, resume=True).run()
  assert result.hall_of_fame == full["result"].hall_of_fame
  timed = ("seconds", "cpu_seconds")
  untimed = lambda final: {**final, "tasks": {t: {k: v for k, v in table.items() if k not in timed}  # noqa: E731
                                              for t, table in final["tasks"].items()}}
  assert untimed(result.final) == untimed(json.loads(json.dumps(full["result"].final)))
  assert result.timing["sessions"] == 1 and result.timing["wall_s"] > 0
  assert result.data_fingerprint == full["result"].data_fingerprint
  lines = lambda d: [json.loads(s) for s in (d / "history.jsonl").open()]  # noqa: E731
  assert lines(tmp_path / "resumed") == lines(full["out"])  # history truncated to the checkpoint and regenerated


def test_ctrl_c_stops_at_the_next_safe_point_with_a_checkpoint(tmp_path):
  out = str(tmp_path / "interrupted")
  search = Search(TINY, out)
  search.interrupts.requested = True  # what the SIGINT handler sets
  with pytest.raises(SearchInterrupted, match="continue it with --resume"):
    search.run()
  resumed = Search(TINY, out, resume=True)
  assert resumed.state.phase == "search" and len(resumed.state.generations) == 1


def test_resume_refuses_a_missing_checkpoint_and_other_settings(full, tmp_path):
  with pytest.raises(InputError, match="no checkpoint"):
    Search(TINY, str(tmp_path / "empty"), resume=True)
  with pytest.raises(InputError, match=r"particles is 2 there, 3 here"):
    Search(dataclasses.replace(TINY, particles=3), str(full["out"]), resume=True)


class TanhNet(nn.Module):
  """A custom model: one tanh hidden layer."""

  @nn.compact
  def __call__(self, x):
    return nn.Dense(3)(nn.tanh(nn.Dense(8)(x)))


def test_a_custom_task_runs_a_search_from_python():
  split = ox.data.load_dataset("iris", seed=0)
  task = ox.tasks.Task.from_model("my_iris", TanhNet(), split, batch_size=16)
  config = dataclasses.replace(TINY, task=task, holdout_tasks=(), stages=(Stage(20, seeds=1, keep=1),), finalists=1)
  result = run(config)
  assert list(result.final["tasks"]) == ["my_iris"] and result.hall_of_fame
  assert config.to_dict()["task"] == "my_iris"


def test_select_survivors_keeps_the_best_and_never_a_rejected_one():
  candidates = [10, 11, 12, 13, 14]
  fitness = np.array([0.5, 0.9, WORST, 0.9, 0.7])
  assert select_survivors(candidates, fitness, 3) == [11, 13, 14]  # the earlier of equal ones first
  assert select_survivors(candidates, fitness, 10) == [11, 13, 14, 10]  # a rejected one never survives
  assert select_survivors(candidates, np.full(5, WORST), 2) == []


def test_elimination_candidates_are_the_best_distinct_unrejected_archive_members():
  config = dataclasses.replace(TINY, elimination_candidates=3)
  rec = lambda fp, fitness, rejected=False: {"fingerprint": fp, "fitness": fitness, "rejected": rejected}  # noqa: E731
  state = SearchState.fresh({}, {}, ())
  state = dataclasses.replace(state, archive=(rec("a", 0.5), rec("b", 0.9), rec("b", 0.95),
                                              rec("c", 0.97, rejected=True), rec("d", 0.8), rec("e", WORST),
                                              rec("f", 0.6)))
  assert phases.elimination_candidates(state, config) == [2, 4, 6]  # b's better copy, d, f; c rejected, a beaten


def test_elimination_candidates_drop_a_later_candidate_that_behaves_like_an_earlier_one():
  # "a" and "b" differ in canonical form but run the same program (adam), "c" is another (sgd): given genome_of, the
  # worse of the two adams is dropped; without it, both count
  config = dataclasses.replace(TINY, elimination_candidates=3)
  programs = {"a": "adam", "b": "adam", "c": "sgd"}
  rec = lambda fp, fitness: {"fingerprint": fp, "fitness": fitness, "rejected": False}  # noqa: E731
  state = dataclasses.replace(SearchState.fresh({}, {}, ()), archive=(rec("a", 0.9), rec("b", 0.8), rec("c", 0.7)))
  space = ox.graph.get_space(config.space)
  genome_of = lambda record: ox.graph.known(programs[record["fingerprint"]], space)  # noqa: E731
  assert phases.elimination_candidates(state, config, genome_of) == [0, 2]
  assert phases.elimination_candidates(state, config) == [0, 1, 2]


def test_search_result_and_worst_live_in_a_leaf_module_without_a_driver_results_cycle():
  import ast  # pylint: disable=import-outside-toplevel
  import pathlib  # pylint: disable=import-outside-toplevel

  root = pathlib.Path(ox.__file__).parent / "search"

  def imports(name):
    tree = ast.parse((root / name).read_text())
    return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}

  assert not {m for m in imports("results_types.py") if m.startswith("optix_evo")}  # a leaf
  assert "optix_evo.search.driver" not in imports("results.py")
  assert ox.search.SearchResult is ox.search.results_types.SearchResult and ox.search.WORST == -1.0
  assert ox.search.evaluate.WORST is ox.search.results_types.WORST


def test_resume_from_python_refuses_a_reshaped_checkpoint_array(full, tmp_path):
  # the Python API checks the checkpoint's arrays as the CLI does: a reshaped genome array is one InputError naming
  # the file, before anything uses it (it used to be an IndexError deep in graph/analysis.py)
  from optix_evo.search.checkpoint import load_checkpoint, save_checkpoint  # pylint: disable=import-outside-toplevel

  state = load_checkpoint(full["out"] / "checkpoint.npz")
  particles = state["strategy"]["particles"]
  particles["kind"] = np.asarray(particles["kind"])[:, :-1]
  (tmp_path / "bad").mkdir()
  save_checkpoint(tmp_path / "bad" / "checkpoint.npz", state)
  with pytest.raises(InputError, match="checkpoint.npz"):
    Search(TINY, str(tmp_path / "bad"), resume=True)


class _Stopped(Exception):
  pass


def test_run_starts_compiling_every_program_it_will_need_at_once(monkeypatch):
  started = []
  monkeypatch.setattr(ox.search.Evaluator, "start_compiling", lambda self: started.append(self.task.name) or self)

  def first_generation(self):
    raise _Stopped  # the compilations started before the first generation trained anything

  monkeypatch.setattr(Search, "generation", first_generation)
  config = dataclasses.replace(TINY, pool_task="sbm_gcn", family=("wine_dnm",), holdout_tasks=("iris_mlp",))
  search = Search(config)
  with pytest.raises(_Stopped):
    search.run()
  assert started == ["sbm_gcn", "digits_mlp", "wine_dnm", "iris_mlp"]  # pool, search tasks, held-out: each once
  # after the pool: no pool task; in the final comparison: the tasks not compared yet
  search.state = dataclasses.replace(search.state, generations=({"generation": 0},))
  assert search.pending_tasks() == ["digits_mlp", "wine_dnm", "iris_mlp"]
  search.state = dataclasses.replace(search.state, phase="final", final={"tasks": {"digits_mlp": {}}})
  assert search.pending_tasks() == ["wine_dnm", "iris_mlp"]
  search.state = dataclasses.replace(search.state, final={"tasks": {"digits_mlp": {}, "wine_dnm": {}}})
  started.clear()
  assert search.start_compiling() == [] and started == []  # one program left: compiled by its first call
  started.clear()
  with pytest.raises(_Stopped):
    Search(dataclasses.replace(TINY, holdout_tasks=())).run()  # one program in all: nothing in the background
  assert started == []
  # across processes, no background compilation: its warm-up run's collectives would interleave with the main
  # thread's in a different order on each process (gloo: "Received data size doesn't match expected size")
  search = Search(config)
  with monkeypatch.context() as m:
    m.setattr(jax, "process_count", lambda: 2)
    assert search.start_compiling() == []
  assert started == []


def test_a_stopped_run_returns_after_its_background_compilations(monkeypatch):
  # XLA aborts a process that exits while one of its threads compiles (a Ctrl-C'd CLI run exited -6 instead of 130)
  import threading  # pylint: disable=import-outside-toplevel

  def first_generation(self):
    raise _Stopped

  monkeypatch.setattr(Search, "generation", first_generation)
  search = Search(dataclasses.replace(TINY, holdout_tasks=("iris_mlp",)))
  with pytest.raises(_Stopped):
    search.run()
  assert [t.name for t in threading.enumerate() if t.name.startswith("compile ")] == []
  assert sorted(search._evaluators) == ["digits_mlp", "iris_mlp"]  # pylint: disable=protected-access
