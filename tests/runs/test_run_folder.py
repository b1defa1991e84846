"""Results folders: one run at a time (an OS lock), --force that deletes only what we wrote, a failed start that leaves
the folder as it was, --out pointing at a file or an unwritable folder."""

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import warnings

import pytest

from optix_evo.errors import InputError
from optix_evo.runs import folder as run_folder
from optix_evo.runs.folder import (FILES_NAME, LOCK_NAME, FolderInUse, atomic_write_text, claim, close_run_folders,
                                   open_run_folder, prepare_out_dir)


@pytest.fixture(autouse=True)
def _release():
  yield
  close_run_folders()


def _ours(path):
  return (path / FILES_NAME).read_text().split() if (path / FILES_NAME).exists() else []


def test_new_and_empty_folders_are_used(tmp_path):
  assert prepare_out_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()
  close_run_folders()
  assert prepare_out_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"  # only our lock file in it: still empty
  close_run_folders()
  assert os.listdir(tmp_path / "a" / "b") == [LOCK_NAME]


def test_a_folder_holding_files_is_refused_unless_forced(tmp_path):
  (tmp_path / "history.jsonl").write_text("12 lines\n")
  with pytest.raises(InputError, match=r"already holds files \(history.jsonl\).*--force") as e:
    prepare_out_dir(tmp_path)
  assert "--resume" not in str(e.value)
  (tmp_path / "checkpoint.npz").write_bytes(b"old run")
  with pytest.raises(InputError, match="or --resume to continue its checkpoint"):
    prepare_out_dir(tmp_path, checkpoint_name="checkpoint.npz")
  assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz", "history.jsonl"]  # nothing touched, no lock file left
  prepare_out_dir(tmp_path, force=True, checkpoint_name="checkpoint.npz")
  assert sorted(os.listdir(tmp_path)) == [LOCK_NAME, "history.jsonl"]  # the stale checkpoint cannot be resumed


def test_force_deletes_what_an_earlier_run_of_ours_wrote_and_nothing_else(tmp_path):
  out = tmp_path / "run"
  with open_run_folder(out) as run:
    atomic_write_text(out / "report.md", "old")
    atomic_write_text(out / "optimizers" / "rank_09.py", "stale")  # a subfolder, created by the write
    claim(out / "history.jsonl")  # a file written by other means is claimed before it is written
    (out / "history.jsonl").write_text("rows\n")
    assert run.written == ["report.md", "optimizers/rank_09.py", "history.jsonl"]
  assert _ours(out) == ["report.md", "optimizers/rank_09.py", "history.jsonl"]
  (out / "notes.txt").write_text("the user's")
  (out / "optimizers" / "mine.py").write_text("the user's")
  (tmp_path / "outside.txt").write_text("not in the folder")
  with open(out / FILES_NAME, "a") as f:  # a crafted list cannot point outside the folder
    f.write("../outside.txt\n/etc/passwd\n.optix-evo.lock\n")
  with pytest.raises(InputError, match="already holds files"):
    open_run_folder(out)
  with open_run_folder(out, force=True) as run:
    assert sorted(os.listdir(out)) == [LOCK_NAME, "notes.txt", "optimizers"]
    assert os.listdir(out / "optimizers") == ["mine.py"] and not (out / FILES_NAME).exists()
    atomic_write_text(out / "report.md", "new")
  assert (tmp_path / "outside.txt").exists() and _ours(out) == ["report.md"]
  with open_run_folder(out, force=True):  # our files gone, empty folders too, the user's files kept
    pass
  assert sorted(os.listdir(out)) == [LOCK_NAME, "notes.txt", "optimizers"]


def test_force_does_not_follow_a_link_out_of_the_folder(tmp_path):
  out, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
  elsewhere.mkdir()
  (elsewhere / "report.md").write_text("keep me")
  with open_run_folder(out):
    atomic_write_text(out / "sub" / "report.md", "ours")
  (out / "sub" / "report.md").unlink()
  (out / "sub").rmdir()
  (out / "sub").symlink_to(elsewhere)
  with open_run_folder(out, force=True):
    pass
  assert (elsewhere / "report.md").read_text() == "keep me"


def test_a_second_run_into_a_held_folder_is_refused_with_or_without_force(tmp_path):
  out = tmp_path / "run"
  with open_run_folder(out, checkpoint_name="checkpoint.npz", command="optix-evo search"):
    atomic_write_text(out / "checkpoint.npz", "state")
    for kwargs in ({}, {"force": True}, {"resume": True}):
      with pytest.raises(FolderInUse, match=r"in use by another optix-evo run \(process \d+, optix-evo search\)"):
        open_run_folder(out, checkpoint_name="checkpoint.npz", **kwargs)
    assert (out / "checkpoint.npz").read_text() == "state"
  with open_run_folder(out, resume=True, checkpoint_name="checkpoint.npz"):  # released: it may be resumed
    pass


_HOLD = textwrap.dedent("""
    import sys, time
    from optix_evo.runs.folder import open_run_folder, atomic_write_text
    run = open_run_folder(sys.argv[1], checkpoint_name="checkpoint.npz", command="optix-evo search")
    atomic_write_text(sys.argv[1] + "/checkpoint.npz", "state")
    print("held", flush=True)
    time.sleep(60)
""")


def _holder(out):
  env = {**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).resolve().parents[2])}
  proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE, text=True, env=env)
  assert proc.stdout.readline().strip() == "held"
  return proc


def test_another_process_holds_the_folder_and_a_killed_one_leaves_no_stale_lock(tmp_path):
  out = tmp_path / "run"
  proc = _holder(out)
  try:
    with pytest.raises(FolderInUse, match=rf"process {proc.pid}, optix-evo search"):
      open_run_folder(out, force=True, checkpoint_name="checkpoint.npz")
    with pytest.raises(FolderInUse):
      open_run_folder(out, resume=True, checkpoint_name="checkpoint.npz")
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  assert (out / LOCK_NAME).exists()  # the lock file stays; the lock died with its process
  with open_run_folder(out, resume=True, checkpoint_name="checkpoint.npz"):
    pass


def test_a_failed_start_leaves_the_folder_as_it_was(tmp_path):
  out = tmp_path / "new"
  with pytest.raises(RuntimeError):
    with open_run_folder(out):
      atomic_write_text(out / "history.jsonl", "")
      raise RuntimeError("the task failed to load")
  assert not out.exists()  # created by the run: removed again
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(RuntimeError):
    with open_run_folder(empty):
      atomic_write_text(empty / "history.jsonl", "")
      raise RuntimeError
  assert os.listdir(empty) == []  # existed before: left empty, without our lock file
  with pytest.raises(KeyboardInterrupt):  # interrupted after its checkpoint: everything kept for --resume
    with open_run_folder(out, checkpoint_name="checkpoint.npz"):
      atomic_write_text(out / "history.jsonl", "row\n")
      atomic_write_text(out / "checkpoint.npz", "state")
      raise KeyboardInterrupt
  assert sorted(os.listdir(out)) == [FILES_NAME, LOCK_NAME, "checkpoint.npz", "history.jsonl"]


def test_a_refused_start_writes_nothing(tmp_path):
  (tmp_path / "notes.txt").write_text("x")
  with pytest.raises(InputError):
    open_run_folder(tmp_path)
  with pytest.raises(InputError):
    open_run_folder(tmp_path / "new", resume=True, checkpoint_name="checkpoint.npz")
  assert os.listdir(tmp_path) == ["notes.txt"]


def test_many_files_are_summarised(tmp_path):
  for i in range(8):
    (tmp_path / f"f{i}").write_text("")
  with pytest.raises(InputError, match=r"\(f0, f1, f2, f3, f4 and 3 more\)"):
    prepare_out_dir(tmp_path)


def test_resume_needs_a_checkpoint(tmp_path):
  (tmp_path / "report.md").write_text("old")
  with pytest.raises(InputError, match="keeps no checkpoint, so it cannot --resume"):
    prepare_out_dir(tmp_path, resume=True)
  with pytest.raises(InputError, match=r"--resume: .* holds no checkpoint \(checkpoint.npz\)"):
    prepare_out_dir(tmp_path, resume=True, checkpoint_name="checkpoint.npz")
  with pytest.raises(InputError, match="holds no checkpoint"):
    prepare_out_dir(tmp_path / "new", resume=True, checkpoint_name="checkpoint.npz")
  assert not (tmp_path / "new").exists()
  (tmp_path / "checkpoint.npz").write_bytes(b"x")
  assert prepare_out_dir(tmp_path, resume=True, checkpoint_name="checkpoint.npz") == tmp_path
  assert sorted(os.listdir(tmp_path)) == [LOCK_NAME, "checkpoint.npz", "report.md"]


def test_a_file_or_an_unwritable_place_is_refused(tmp_path, monkeypatch):
  (tmp_path / "results.txt").write_text("x")
  with pytest.raises(InputError, match="--out .*results.txt is a file, not a folder"):
    prepare_out_dir(tmp_path / "results.txt")
  with pytest.raises(InputError, match="cannot write into --into .*results.txt/sub: .*results.txt is a file"):
    prepare_out_dir(tmp_path / "results.txt" / "sub", option="--into")
  real_open = os.open

  def denied(path, flags, *args):
    if os.fspath(path).endswith(LOCK_NAME):
      raise PermissionError(13, "Permission denied", os.fspath(path))
    return real_open(path, flags, *args)

  monkeypatch.setattr(run_folder.os, "open", denied)  # a read-only folder, also when the tests run as root
  with pytest.raises(InputError, match="cannot write into --out .*: Permission denied; choose a folder"):
    prepare_out_dir(tmp_path / "ro")
  assert not (tmp_path / "ro").exists()


def _as_nobody(check) -> int:
  """Runs ``check()`` in a forked child that dropped root for the user ``nobody`` (65534), so that file permissions
  apply to it; returns its exit status (``check`` returns it)."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # fork of a process with threads: the child only calls Python
    pid = os.fork()
  if pid == 0:  # pragma: no cover - the child
    code = 99
    try:
      os.setgroups([])
      os.setgid(65534)
      os.setuid(65534)
      code = check()
    finally:
      os._exit(code)
  return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _refuses_read_only(ro, rw) -> int:
  """0: the read-only folder is refused with "Permission denied" and the writable one is used; else the failure."""
  try:
    prepare_out_dir(ro / "run")
    return 1  # not refused
  except InputError as e:
    if "Permission denied" not in str(e):
      return 2
  return 0 if prepare_out_dir(rw / "run").is_dir() else 3


def test_a_read_only_folder_is_refused():
  """As a user, a read-only folder is refused. Root writes into read-only folders, so under root (CI) the check runs
  in a child process that gave up root."""
  base = pathlib.Path(tempfile.mkdtemp())
  base.chmod(0o755)  # reachable by the unprivileged child
  ro, rw = base / "ro", base / "rw"
  ro.mkdir()
  rw.mkdir()
  ro.chmod(0o555)
  rw.chmod(0o777)
  try:
    code = _as_nobody(lambda: _refuses_read_only(ro, rw)) if os.geteuid() == 0 else _refuses_read_only(ro, rw)
    assert code == 0, {1: "not refused", 2: "refused for another reason", 3: "the writable folder was refused",
                       99: "the child raised (or could not drop root)"}.get(code, code)
    assert not (ro / "run").exists()
  finally:
    ro.chmod(0o755)
    shutil.rmtree(base)
