"""prepare_out_dir: results folders that cannot lose data; --out pointing at a file or an unwritable folder."""

import os
import pathlib
import shutil
import tempfile
import warnings

import pytest

from optix_evo.errors import InputError
from optix_evo.run_folder import prepare_out_dir


def test_new_and_empty_folders_are_used(tmp_path):
  assert prepare_out_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()
  assert prepare_out_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"  # still empty: a retry after a failed start
  assert os.listdir(tmp_path / "a" / "b") == []


def test_a_folder_holding_files_is_refused_unless_forced(tmp_path):
  (tmp_path / "history.jsonl").write_text("12 lines\n")
  with pytest.raises(InputError, match=r"already holds files \(history.jsonl\).*--force") as e:
    prepare_out_dir(tmp_path)
  assert "--resume" not in str(e.value)
  (tmp_path / "checkpoint.npz").write_bytes(b"old run")
  with pytest.raises(InputError, match="or --resume to continue its checkpoint"):
    prepare_out_dir(tmp_path, checkpoint_name="checkpoint.npz")
  assert (tmp_path / "history.jsonl").read_text() == "12 lines\n"  # nothing touched
  prepare_out_dir(tmp_path, force=True, checkpoint_name="checkpoint.npz")
  assert sorted(os.listdir(tmp_path)) == ["history.jsonl"]  # the stale checkpoint cannot be resumed any more


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
  assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz", "report.md"]


def test_a_file_or_an_unwritable_place_is_refused(tmp_path, monkeypatch):
  (tmp_path / "results.txt").write_text("x")
  with pytest.raises(InputError, match="--out .*results.txt is a file, not a folder"):
    prepare_out_dir(tmp_path / "results.txt")
  with pytest.raises(InputError, match="cannot write into --into .*results.txt/sub: Not a directory"):
    prepare_out_dir(tmp_path / "results.txt" / "sub", option="--into")

  def denied(self, exist_ok=True):
    raise PermissionError(13, "Permission denied", str(self))

  monkeypatch.setattr(pathlib.Path, "touch", denied)  # a read-only folder, also when the tests run as root
  with pytest.raises(InputError, match="cannot write into --out .*: Permission denied; choose a folder"):
    prepare_out_dir(tmp_path / "ro")


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
