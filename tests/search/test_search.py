"""End to end: config validation, a REAL kill mid-run then --resume, the results folder, transfer."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from optix_evo.cli import main
from optix_evo.search import SearchConfig, Stage, preset
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
