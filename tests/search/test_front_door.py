"""Issue rows of ``optix-evo search``/``transfer`` that end before any program compiles: a failed start leaves the
folder as it was; a held folder is refused with or without --force; custom task signatures; regression refused;
sizes that cannot end refused with the limit in the message."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from optix_evo.cli import main
from optix_evo.errors import InputError
from optix_evo.runs.folder import LOCK_NAME
from optix_evo.tasks import load_task_hook

TINY = ["--quiet", "--task", "digits_mlp", "--set", "particles=2"]


@pytest.fixture
def no_compile(monkeypatch):
  """Fails the test if the search gets as far as building its driver (where programs are compiled)."""
  import optix_evo.search.driver as driver  # pylint: disable=import-outside-toplevel

  def refuse(*args, **kwargs):
    raise AssertionError("the search started before its input was validated")

  monkeypatch.setattr(driver, "Search", refuse)


@pytest.mark.parametrize("argv, message", [
    (["--task", "no_such_module_xyz:make"], "cannot import 'no_such_module_xyz'"),
    (["--task", "adding_lstm"], "'adding_lstm' is a regression task (scored by its loss); search and transfer rank"),
    (["--set", "holdout_tasks=digits_mlp"], "holdout_tasks must not include the search task"),
    (["--set", "holdout_tasks=iris_mlp,adding_lstm"], "'adding_lstm' is a regression task"),
    (["--set", "steps=1000000000000"], "(GA generations) 1000000000000 is above the limit of 100000 generations; pass --max-steps"),
    (["--set", "final_steps=2000000"], "has 2000000 is above the limit of 1000000 steps per run; pass --max-steps"),
])
@pytest.mark.parametrize("existing", [False, True])
def test_a_failed_start_leaves_the_folder_as_it_was_and_compiles_nothing(tmp_path, no_compile, one_error_line, argv,
                                                                         message, existing):
  out = tmp_path / "run"
  if existing:
    out.mkdir()
  start = time.perf_counter()
  holdout = [] if any("holdout" in a for a in argv) else ["--set", "holdout_tasks=iris_mlp"]
  assert main(["search", *TINY, *holdout, *argv, "--out", str(out)]) == 2
  one_error_line("search", message)
  assert time.perf_counter() - start < 30  # the task's data is loaded; nothing is compiled
  assert os.listdir(out) == [] if existing else not out.exists()


def test_a_larger_max_steps_lets_a_long_run_through(tmp_path, no_compile):
  with pytest.raises(AssertionError, match="started"):  # validated, then the (refused here) driver is built
    main(["search", *TINY, "--set", "holdout_tasks=iris_mlp", "--set", "final_steps=2000000", "--max-steps", "2000000", "--out", str(tmp_path / "r")])


_HOLD = textwrap.dedent("""
    import sys, time
    from optix_evo.runs.folder import open_run_folder, atomic_write_text
    run = open_run_folder(sys.argv[1], checkpoint_name="checkpoint.npz", command="optix-evo search")
    atomic_write_text(sys.argv[1] + "/checkpoint.npz", "state")
    print("held", flush=True)
    time.sleep(120)
""")


def test_a_running_search_folder_is_refused_with_or_without_force(tmp_path, no_compile, one_error_line):
  out = tmp_path / "run"
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONPATH": root})
  try:
    assert proc.stdout.readline().strip() == "held"
    for extra in ([], ["--force"], ["--resume"]):
      assert main(["search", *TINY, "--set", "holdout_tasks=iris_mlp", "--out", str(out), *extra]) == 2
      one_error_line("search", f"is in use by another optix-evo run (process {proc.pid}, optix-evo search)")
    assert (out / "checkpoint.npz").read_text() == "state"
  finally:
    proc.kill()
    proc.wait()
  assert sorted(os.listdir(out)) == [".optix-evo-files", LOCK_NAME, "checkpoint.npz"]


@pytest.fixture
def task_module(tmp_path, monkeypatch):
  (tmp_path / "h5_tasks.py").write_text(textwrap.dedent("""
      import optix_evo as ox
      CALLS = []
      def none():
        CALLS.append(())
        return ox.tasks.get_task("iris_mlp", steps=20)
      def seed_only(seed):
        CALLS.append((seed,))
        return ox.tasks.get_task("iris_mlp", seed=seed, steps=20)
      def both(seed, data_dir):
        CALLS.append((seed, data_dir))
        return ox.tasks.get_task("iris_mlp", seed=seed, steps=20)
      def defaults(seed=0, data_dir=None, *, extra=1):
        CALLS.append((seed, data_dir))
        return ox.tasks.get_task("iris_mlp", seed=seed, steps=20)
      def three(seed, data_dir, other):
        return None
      def keyword_only(*, seed):
        return None
      def not_a_task(seed):
        return 3
  """))
  monkeypatch.syspath_prepend(str(tmp_path))
  import h5_tasks  # pylint: disable=import-outside-toplevel
  yield h5_tasks
  sys.modules.pop("h5_tasks", None)


@pytest.mark.parametrize("name, call", [("none", ()), ("seed_only", (4,)), ("both", (4, "/d")), ("defaults", (4, "/d"))])
def test_custom_task_functions_of_every_accepted_signature_work(task_module, name, call):
  task = load_task_hook(f"h5_tasks:{name}", seed=4, data_dir="/d")
  assert task.name == "iris_mlp" and task_module.CALLS == [call]


@pytest.mark.parametrize("name, message", [
    ("three", r"three\(seed, data_dir, other\) cannot be called as a task function; accepted signatures: make_task\(\), "
              r"make_task\(seed\), make_task\(seed, data_dir\)"),
    ("keyword_only", "accepted signatures"),
    ("not_a_task", r"not_a_task\(\) returned int, not optix_evo.tasks.Task"),
])
def test_other_task_functions_are_refused_in_one_line(task_module, name, message):
  with pytest.raises(InputError, match=message) as e:
    load_task_hook(f"h5_tasks:{name}")
  assert "\n" not in str(e.value)


def test_a_zero_argument_task_at_the_command_line(task_module, tmp_path, no_compile, one_error_line):
  with pytest.raises(AssertionError, match="started"):  # accepted: the run gets as far as the driver
    main(["search", "--quiet", "--task", "h5_tasks:none", "--set", "holdout_tasks=digits_mlp", "--out",
          str(tmp_path / "ok")])
  assert main(["search", "--quiet", "--task", "h5_tasks:three", "--out", str(tmp_path / "bad")]) == 2
  one_error_line("search", "accepted signatures")
  assert not (tmp_path / "bad").exists()


def test_transfer_refuses_regression_and_long_runs_before_compiling(tmp_path, one_error_line, monkeypatch):
  import optix_evo.search.transfer as transfer  # pylint: disable=import-outside-toplevel

  monkeypatch.setattr(transfer, "transfer", lambda *a, **k: (_ for _ in ()).throw(AssertionError("ran")))
  assert main(["transfer", "--tasks", "digits_mlp,adding_lstm", "--out", str(tmp_path / "t")]) == 2
  one_error_line("transfer", "'adding_lstm' is a regression task")
  assert main(["transfer", "--set", "steps=10000000", "--out", str(tmp_path / "t")]) == 2
  one_error_line("transfer", "--steps 10000000 is above the limit of 1000000 steps per run")
  assert main(["transfer", "--set", "seeds=0", "--out", str(tmp_path / "t")]) == 2
  one_error_line("transfer", "--set seeds='0': must be > 0, got 0")
  assert not (tmp_path / "t").exists()
