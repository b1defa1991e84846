"""``optix-evo search`` end to end in real processes: a kill -9 and a Ctrl-C mid-run, then --resume, end with the same
results; results folders are protected; flags that contradict a checkpoint are named; two processes on loopback."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optix_evo.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--task", "digits_mlp", "--seed", "3", "--quiet", "--devices", "2",
        *sum((["--set", s] for s in (
            "space=extended", "particles=2", "steps=1", "mutants=2", "pool_factor=2", "surrogate_steps=20", "epochs=2",
            "probe_steps=6", "lr_grid=(0.1, 0.01)", "elimination_candidates=3",
            "stages=({'steps': 20, 'seeds': 1, 'keep': 2},)", "finalists=2", "final_steps=20", "final_seeds=2",
            "final_lr_grid=(0.1, 0.01)", "holdout_tasks=iris_mlp", "baselines=adam", "references=nos_opt9")), [])]
ENV = {**os.environ, "PYTHONPATH": ROOT, "XLA_FLAGS": ""}


def _search(out, *extra, cwd=ROOT):
  cmd = [sys.executable, "-m", "optix_evo.cli", "search", *TINY, "--out", str(out), *extra]
  return subprocess.Popen(cmd, env=ENV, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _finish(proc, code=0):
  out, _ = proc.communicate(timeout=900)
  assert proc.returncode == code, out.decode()[-4000:]
  return out.decode()


def _wait_for_checkpoint(proc, folder):
  deadline = time.time() + 600
  while not (folder / "checkpoint.npz").exists():
    assert proc.poll() is None and time.time() < deadline, "the run ended before its first checkpoint"
    time.sleep(0.05)


def _results(folder):
  hall = json.loads((folder / "hall_of_fame.json").read_text())
  for table in hall["final"]["tasks"].values():
    table.pop("seconds")
    table.pop("cpu_seconds")
  history = [json.loads(line) for line in (folder / "history.jsonl").open()]
  return hall, history


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  out = tmp_path_factory.mktemp("cli") / "full"
  log = _finish(_search(out))
  assert "best found optimizer" in log and "programs compiled" in log
  return out


def test_kill_and_ctrl_c_then_resume_give_the_same_results(uninterrupted, tmp_path):
  killed = tmp_path / "killed"
  proc = _search(killed)
  _wait_for_checkpoint(proc, killed)
  os.kill(proc.pid, signal.SIGKILL)
  proc.wait()
  assert not (killed / "hall_of_fame.json").exists()
  _finish(_search(killed, "--resume"))
  assert _results(killed) == _results(uninterrupted)

  stopped = tmp_path / "ctrl_c"
  proc = _search(stopped)
  _wait_for_checkpoint(proc, stopped)
  sent = time.time()
  proc.send_signal(signal.SIGINT)
  log = _finish(proc, code=130)
  assert time.time() - sent < 60 and "interrupted" in log and "--resume" in log and "Traceback" not in log
  _finish(_search(stopped, "--resume"))
  assert _results(stopped) == _results(uninterrupted)
  report = (stopped / "report.md").read_text()
  assert "over 2 session(s)" in report  # the times cover the whole run, both sessions


def test_results_folders_are_protected_and_resume_reads_the_checkpoint(uninterrupted, tmp_path, one_error_line):
  assert main(["search", *TINY, "--out", str(uninterrupted)]) == 2
  one_error_line("search", "--resume")  # a run into a folder with results is refused
  assert main(["search", *TINY, "--out", str(tmp_path / "new"), "--resume"]) == 2
  one_error_line("search", "checkpoint")
  assert main(["search", "--out", str(uninterrupted), "--resume", "--set", "particles=3", "--quiet"]) == 2
  one_error_line("search", "particles is 2 in the checkpoint but 3 here")
  (tmp_path / "file").write_text("x")
  assert main(["search", *TINY, "--out", str(tmp_path / "file")]) == 2
  one_error_line("search")
  assert main(["search", "--quiet"]) == 2
  one_error_line("search", "--out")


def test_a_checkpoint_with_a_reshaped_array_is_one_line(uninterrupted, tmp_path, one_error_line):
  from optix_evo.search.checkpoint import load_checkpoint, save_checkpoint  # pylint: disable=import-outside-toplevel

  for name, change in (("inputs", lambda a: a.reshape(a.shape[0], -1)), ("kind", lambda a: a.astype(np.int64)),
                       ("unary", lambda a: a + 99)):
    copy = tmp_path / name
    shutil.copytree(uninterrupted, copy)
    state = load_checkpoint(copy / "checkpoint.npz")
    state["strategy"]["particles"][name] = change(state["strategy"]["particles"][name])
    save_checkpoint(copy / "checkpoint.npz", state)
    assert main(["search", "--quiet", "--resume", "--out", str(copy)]) == 2
    one_error_line("search", "checkpoint.npz: strategy/particles", "Resume from an intact copy" if name != "unary" else
                   "unary op index")


def _race_kill_resume(uninterrupted, folder, fraction, signum):
  """Two searches start into ``folder`` at once: one gets it, the other is refused (exit 2, one line). The winner is
  stopped by ``signum`` after ``fraction`` of an uninterrupted run's time; then the run is continued (--resume when it
  left a checkpoint, else started again with --force, which deletes only what the killed run wrote) and its results
  must equal the uninterrupted run's: no history row lost or written twice."""
  (folder / "notes.txt").parent.mkdir(parents=True, exist_ok=True)
  (folder / "notes.txt").write_text("the user's")  # never touched by any of it
  a, b = _search(folder, "--force"), _search(folder, "--force")
  wall = json.loads((uninterrupted / "run.json").read_text())["timing"]["wall_s"]
  deadline = time.time() + 300
  while a.poll() is None and b.poll() is None:  # the loser is refused once the winner holds the folder
    assert time.time() < deadline
    time.sleep(0.05)
  loser = a if a.poll() is not None else b
  winner = b if loser is a else a
  time.sleep(fraction * wall)
  if winner.poll() is None:
    winner.send_signal(signum)
  outs = {p: p.communicate(timeout=900)[0].decode() for p in (a, b)}
  assert loser.returncode == 2 and "is in use by another optix-evo run" in outs[loser], outs[loser]
  assert outs[loser].strip().count("\n") == 0  # one line
  assert winner.returncode in (0, 130, -signal.SIGKILL), outs[winner]
  if winner.returncode != 0:
    extra = ["--resume"] if (folder / "checkpoint.npz").exists() else ["--force"]
    _finish(_search(folder, *extra))
  assert _results(folder) == _results(uninterrupted)
  assert (folder / "notes.txt").read_text() == "the user's"


_RACE = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))


@settings(max_examples=1, derandomize=True, **_RACE)
@given(fraction=st.floats(0.0, 1.0), signum=st.sampled_from([signal.SIGKILL, signal.SIGINT]))
def test_two_runs_race_for_a_folder_and_a_killed_one_resumes_without_losing_or_repeating_rows(
    uninterrupted, tmp_path_factory, fraction, signum):
  _race_kill_resume(uninterrupted, tmp_path_factory.mktemp("race") / "run", fraction, signum)


@pytest.mark.slow
@settings(max_examples=12, **_RACE)
@given(fraction=st.floats(0.0, 1.0), signum=st.sampled_from([signal.SIGKILL, signal.SIGINT]))
def test_two_runs_race_for_a_folder_large(uninterrupted, tmp_path_factory, fraction, signum):
  _race_kill_resume(uninterrupted, tmp_path_factory.mktemp("race") / "run", fraction, signum)


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.mark.slow  # the default suite keeps one kill -9 and one Ctrl-C end-to-end run (above)
@pytest.mark.multiprocess
def test_two_processes_write_once_and_match_one_process(uninterrupted, tmp_path):
  port, procs = _free_port(), []
  try:
    for i in range(2):
      (tmp_path / f"host{i}").mkdir()
      procs.append(_search("run", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i),
                           cwd=tmp_path / f"host{i}"))
    outs = [_finish(p) for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  assert "Results:" in outs[0] and "Results:" not in outs[1]
  assert not os.listdir(tmp_path / "host1"), "process 1 wrote files"
  assert _results(tmp_path / "host0" / "run") == _results(uninterrupted)  # every run trains on its own
