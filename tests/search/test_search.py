"""End to end: config validation, a REAL kill mid-run then --resume, old checkpoints, two processes, results folder."""

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from optix_evo.cli import main
from optix_evo.search import SearchConfig, Stage, preset, run
from optix_evo.search.checkpoint import load_checkpoint, save_checkpoint
from optix_evo.search.cli import parse_overrides
from optix_evo.search.tasks import get_task

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--set", "particles=2", "--set", "steps=1", "--set", "mutants=2", "--set", "pool_factor=2",
        "--set", "surrogate_steps=20", "--set", "probe_steps=4", "--set", "lr_grid=(0.1, 0.01)",
        "--set", "elimination_candidates=3", "--set", "stages=[{'steps': 20, 'seeds': 1, 'keep': 2}]", "--quiet"]


def test_bad_settings_say_what_is_wrong(capsys):
  with pytest.raises(ValueError, match="Known presets: paper, quick"):
    preset("fast")
  with pytest.raises(ValueError, match="Known tasks"):
    SearchConfig(task="imagenet")
  with pytest.raises(ValueError, match="particles"):
    preset("quick", particles=0)
  with pytest.raises(ValueError, match="Unknown task 'nope' in an elimination stage"):
    preset("quick", stages=(Stage(10, tasks=("nope",)),))
  with pytest.raises(ValueError, match="Known loops: auto, map, vmap"):
    preset("quick", population_loop="gpu")
  with pytest.raises(ValueError, match="expected an integer"):
    parse_overrides(["particles=2.5"])
  with pytest.raises(ValueError, match="Unknown search setting 'partcles'"):
    parse_overrides(["partcles=2"])
  with pytest.raises(ValueError, match="--data-dir"):
    get_task("cifar10_convnet")
  assert main(["search", "--preset", "nope", "--out", "unused"]) == 2
  assert "Unknown preset 'nope'" in capsys.readouterr().err
  assert main(["search", "--num-processes", "2", "--process-id", "0", "--out", "unused"]) == 2
  assert "need --coordinator" in capsys.readouterr().err
  assert parse_overrides(["lr_grid=(0.1, 0.01)", "chunk_size=None", "task=mnist1d_mlp", "population_loop=vmap"]) == {
      "lr_grid": (0.1, 0.01), "chunk_size": None, "task": "mnist1d_mlp", "population_loop": "vmap"}


def _search(out, *extra, env):
  cmd = [sys.executable, "-m", "optix_evo.cli", "search", "--preset", "quick", "--seed", "3", *TINY, "--out", str(out),
         *extra]
  return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _finish(proc):
  out, _ = proc.communicate(timeout=600)
  assert proc.returncode == 0, out.decode()[-4000:]
  return out.decode()


def test_killed_run_resumes_to_the_same_hall_of_fame(tmp_path):
  # 2 fake devices (the population is sharded), a compilation cache shared by the three runs.
  env = {**os.environ, "PYTHONPATH": ROOT, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
         "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax_cache"),
         "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
  full, killed = tmp_path / "full", tmp_path / "killed"
  log = _finish(_search(full, env=env))
  assert "Adam on the final elimination stage" in log or "adam on the final elimination stage" in log
  # Kill -9 a second run once generation 0 is checkpointed, i.e. while it trains generation 1.
  proc = _search(killed, env=env)
  deadline = time.time() + 300
  while not (killed / "checkpoint.pkl").exists():
    assert proc.poll() is None and time.time() < deadline, "the run ended before its first checkpoint"
    time.sleep(0.05)
  os.kill(proc.pid, signal.SIGKILL)
  proc.wait()
  assert not (killed / "hall_of_fame.json").exists()
  _finish(_search(killed, "--resume", env=env))
  a, b = (json.loads((d / "hall_of_fame.json").read_text()) for d in (full, killed))
  assert a == b and a["hall_of_fame"]
  lines = lambda d: [{k: v for k, v in json.loads(s).items() if k != "time"} for s in (d / "history.jsonl").open()]
  assert lines(full) == lines(killed)  # history truncated to the checkpoint, then regenerated identically
  for name in ("history.jsonl", "hall_of_fame.json", "report.md", "fitness.png", "lr_schedules.png", "run.json",
               "optimizers/rank_01.py"):
    assert (full / name).exists(), name
  report = (full / "report.md").read_text()
  assert "Spearman" in report and "Hall of fame" in report
  manifest = json.loads((full / "run.json").read_text())
  assert manifest["argv"][-2:] == ["--out", str(full)] and "best_final_fitness" in manifest["headline"]
  # The same folder without --resume is refused rather than silently overwritten.
  proc = _search(full, env=env)
  out, _ = proc.communicate(timeout=300)
  assert proc.returncode == 2 and b"--resume" in out


def _history(d):
  return [{k: v for k, v in json.loads(s).items() if k != "time"} for s in (d / "history.jsonl").open()]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
  """The TINY search (seed 3) run to the end in this process (8 fake devices): its results folder."""
  out = tmp_path_factory.mktemp("tiny") / "run"
  config = preset("quick", seed=3, **parse_overrides([a for a in TINY if a not in ("--set", "--quiet")]))
  run(config, str(out))
  return out


def test_resume_accepts_a_checkpoint_written_before_population_loop(tiny_run, tmp_path):
  config = preset("quick", seed=3, **parse_overrides([a for a in TINY if a not in ("--set", "--quiet")]))
  state = load_checkpoint(tiny_run / "checkpoint.pkl")
  assert state["config"] == config.to_dict() and state["phase"] == "done"

  def old_checkpoint(folder, **edit):
    """``tiny_run``'s checkpoint with its stored config edited (``None`` deletes a setting)."""
    shutil.copytree(tiny_run, folder)
    stored = {**state["config"], **edit}
    save_checkpoint(folder / "checkpoint.pkl", {**state, "config": {k: v for k, v in stored.items() if v is not None}})
    return str(folder)

  # The format before population_loop existed: the setting takes its default ("auto"), the run resumes.
  out = old_checkpoint(tmp_path / "old", population_loop=None)
  assert "population_loop" not in load_checkpoint(tmp_path / "old" / "checkpoint.pkl")["config"]
  with pytest.raises(ValueError, match="--resume"):
    run(config, out)  # still refused without --resume
  result = run(config, out, resume=True)
  assert result.hall_of_fame == json.loads((tiny_run / "hall_of_fame.json").read_text())["hall_of_fame"]
  assert _history(tmp_path / "old") == _history(tiny_run)
  # A default that differs from this run's setting is a different configuration.
  with pytest.raises(ValueError, match=r"settings \['population_loop'\] differ"):
    run(dataclasses.replace(config, population_loop="map"), out, resume=True)
  # Unknown settings and settings without a default are refused by name.
  with pytest.raises(ValueError, match="'fancy_new_setting'.*SearchConfig does not know"):
    run(config, old_checkpoint(tmp_path / "newer", fancy_new_setting=1), resume=True)
  stages = [{k: v for k, v in s.items() if k != "steps"} for s in state["config"]["stages"]]
  with pytest.raises(ValueError, match="stage 1.*lacks the Stage setting 'steps', which has no default"):
    run(config, old_checkpoint(tmp_path / "broken", stages=stages), resume=True)


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _two_processes(tmp_path, *extra):
  """``optix-evo search`` (TINY, seed 3) as 2 jax.distributed processes on loopback, 2 CPU devices each. Each
  process runs in its own folder ``host<i>`` with ``--out run`` (hosts that share no filesystem); returns the exit
  codes and outputs."""
  port = _free_port()
  env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu",
         "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
  procs, logs = [], []
  try:
    for i in range(2):
      (tmp_path / f"host{i}").mkdir(exist_ok=True)
      logs.append(open(tmp_path / f"log{i}.txt", "w+b"))  # pylint: disable=consider-using-with
      cmd = [sys.executable, "-m", "optix_evo.cli", "search", "--preset", "quick", "--seed", "3", *TINY, "--out", "run",
             "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i), *extra]
      procs.append(subprocess.Popen(cmd, env=env, cwd=tmp_path / f"host{i}", stdout=logs[i], stderr=subprocess.STDOUT))
    codes = [p.wait(timeout=300) for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()
  outs = []
  for log in logs:
    log.seek(0)
    outs.append(log.read().decode())
    log.close()
  return codes, outs


@pytest.mark.multiprocess
def test_two_process_cli_run_writes_once_and_matches_one_process(tiny_run, tmp_path):
  codes, outs = _two_processes(tmp_path)
  assert codes == [0, 0], "\n\n".join(o[-3000:] for o in outs)
  res = tmp_path / "host0" / "run"
  for name in ("checkpoint.pkl", "history.jsonl", "hall_of_fame.json", "report.md", "fitness.png", "lr_schedules.png",
               "run.json", "optimizers/rank_01.py", "optimizers/rank_02.py"):
    assert (res / name).exists(), name
  assert not os.listdir(tmp_path / "host1"), "process 1 wrote files"  # results and checkpoints: process 0 only
  assert "Results: run/" in outs[0] and "Results:" not in outs[1]
  # Same seed and config as the one-process run on 8 devices: each candidate trains on its own, the hall of fame and
  # every history line (fitness, chosen learning rate) are bit-identical.
  hof = json.loads((res / "hall_of_fame.json").read_text())
  assert hof == json.loads((tiny_run / "hall_of_fame.json").read_text()) and len(hof["hall_of_fame"]) == 2
  assert _history(res) == _history(tiny_run)
  assert json.loads((res / "run.json").read_text())["argv"][-2:] == ["--out", "run"]  # re-runs on one host
  # Only process 0 can see the checkpoint: the refusal without --resume and the resumed state reach process 1 too
  # (else it would train a fresh GA alone and wait forever for process 0).
  codes, outs = _two_processes(tmp_path)
  assert codes == [2, 2] and all("pass --resume" in o for o in outs), "\n\n".join(o[-3000:] for o in outs)
  codes, outs = _two_processes(tmp_path, "--resume")
  assert codes == [0, 0], "\n\n".join(o[-3000:] for o in outs)
  assert json.loads((res / "hall_of_fame.json").read_text()) == hof and not os.listdir(tmp_path / "host1")
