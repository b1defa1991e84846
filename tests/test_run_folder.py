"""prepare_out_dir: results folders that cannot lose data; --out pointing at a file or an unwritable folder."""

import os
import pathlib

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


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path):
  ro = tmp_path / "ro"
  ro.mkdir()
  ro.chmod(0o555)
  try:
    with pytest.raises(InputError, match="Permission denied"):
      prepare_out_dir(ro / "run")
  finally:
    ro.chmod(0o755)
