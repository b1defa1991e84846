"""The run folder's decisions (optix_evo/runs/folder.py): who holds a folder, the lock file's contents and permissions,
the retries of a lock that moved, which recorded files --force and a failed start delete (and which folders go with
them), the exact messages and the options' help."""

import argparse
import errno
import fcntl
import json
import os
import pathlib
import re

import pytest

from optix_evo.errors import InputError
from optix_evo.runs import folder as run_folder
from optix_evo.runs.folder import (FILES_NAME, LOCK_NAME, FolderInUse, atomic_write_text, check_out_dir, claim,
                                   close_run_folders, open_count, open_run_folder)


@pytest.fixture(autouse=True)
def _release():
  yield
  close_run_folders()


@pytest.fixture
def umask_022():
  old = os.umask(0o022)
  yield
  os.umask(old)


def _in_use(path, option="--out", holder=""):
  return (f"{option} {path} is in use by another optix-evo run{holder}; wait until it ends or choose another folder "
          "(--force does not take a folder from a running run).")


def _exactly(error, message):
  return pytest.raises(error, match="^" + re.escape(message) + "$")


def test_the_options_help_names_the_folder_the_default_and_force():
  parser = argparse.ArgumentParser()
  run_folder.add_out_argument(parser, default="bench_results")
  out, force = parser._actions[1], parser._actions[2]  # pylint: disable=protected-access
  assert (out.option_strings, out.default, out.required, out.metavar) == (["--out"], "bench_results", False, "DIR")
  assert out.help == ("results folder, new or empty; it receives run.json, the manifest that `optix-evo reproduce` "
                      "re-runs; one run at a time (a lock) (default: bench_results)")
  assert force.option_strings == ["--force"] and force.default is False
  assert force.help == ("write into --out even if it already holds files: what an earlier optix-evo run wrote there "
                        "is deleted first; other files are left alone")
  assert parser.parse_args([]).out == "bench_results"

  parser = argparse.ArgumentParser()
  run_folder.add_out_argument(parser, option="--into", what="the reproduction's folder")
  into, force = parser._actions[1], parser._actions[2]  # pylint: disable=protected-access
  assert (into.option_strings, into.default, into.required) == (["--into"], None, True)  # no default: required
  assert into.help == ("the reproduction's folder, new or empty; it receives run.json, the manifest that `optix-evo "
                       "reproduce` re-runs; one run at a time (a lock)")
  assert force.help.startswith("write into --into even if")
  with pytest.raises(SystemExit):
    parser.parse_args([])


def test_required_and_force_follow_the_arguments():
  parser = argparse.ArgumentParser()
  run_folder.add_out_argument(parser, default="r", required=True, force=False)
  assert [a.dest for a in parser._actions] == ["help", "out"] and parser._actions[1].required  # pylint: disable=protected-access
  parser = argparse.ArgumentParser()
  run_folder.add_out_argument(parser, required=False)
  assert parser.parse_args([]).out is None
  parser = argparse.ArgumentParser()
  run_folder.add_force_argument(parser)
  assert parser._actions[1].help.startswith("write into --out even if")  # pylint: disable=protected-access


@pytest.mark.parametrize("count, listed", [(5, "f0, f1, f2, f3, f4"), (6, "f0, f1, f2, f3, f4 and 1 more"),
                                           (7, "f0, f1, f2, f3, f4 and 2 more")])
def test_a_folder_holding_files_is_refused_with_the_first_five_names_sorted(tmp_path, count, listed):
  for i in reversed(range(count)):
    (tmp_path / f"f{i}").write_text("")
  message = (f"--out {tmp_path} already holds files ({listed}); choose a new folder, or pass --force to write into it "
             "anyway (what an earlier optix-evo run wrote there is deleted; other files are left alone).")
  with _exactly(InputError, message):
    check_out_dir(tmp_path)


def test_an_unreadable_folder_is_refused_with_the_reason(tmp_path, monkeypatch):
  def refuse(path):
    raise PermissionError(errno.EACCES, "Permission denied", str(path))

  monkeypatch.setattr(run_folder.os, "listdir", refuse)
  with _exactly(InputError, f"cannot read --into {tmp_path}: Permission denied."):
    check_out_dir(tmp_path, option="--into")


def test_a_second_run_in_this_process_reads_the_holders_pid_and_command(tmp_path):
  path = tmp_path / "run"
  with open_run_folder(path, command="bench"):
    assert json.loads((path / LOCK_NAME).read_text()) == {"pid": os.getpid(), "command": "bench"}
    with _exactly(FolderInUse, _in_use(path, "--into", f" (process {os.getpid()}, bench)")):
      open_run_folder(path, force=True, option="--into")
  with open_run_folder(path):  # the lock file of the run before: truncated and rewritten
    assert json.loads((path / LOCK_NAME).read_text()) == {"pid": os.getpid(), "command": "optix-evo"}


@pytest.mark.parametrize("text, holder", [
    ('{"pid": 12, "command": "search --preset quick"}', " (process 12, search --preset quick)"),
    ('{"pid": "34"}', " (process 34, optix-evo)"),  # an older lock file without the command
    ("", ""), ("{not json", ""), ('{"command": "x"}', ""), ('{"pid": "x"}', ""), ("[1]", ""), ('{"pid": null}', ""),
])
def test_the_holder_named_in_the_message_is_read_from_the_lock_file(tmp_path, text, holder):
  (tmp_path / LOCK_NAME).write_text(text)
  assert run_folder._holder(tmp_path / LOCK_NAME) == holder  # pylint: disable=protected-access
  fd = os.open(tmp_path / LOCK_NAME, os.O_RDONLY)  # another holder of the lock (its own open file)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with _exactly(FolderInUse, _in_use(tmp_path, "--out", holder)):
      check_out_dir(tmp_path, force=True)
  finally:
    os.close(fd)
  assert run_folder._holder(tmp_path / "missing") == ""  # pylint: disable=protected-access


def test_two_different_folders_may_be_open_at_once_and_only_the_held_one_is_in_use(tmp_path):
  outer = open_run_folder(tmp_path / "outer")
  inner = open_run_folder(tmp_path / "inner")
  assert open_count() == 2 and check_out_dir(tmp_path / "third") == tmp_path / "third"
  with pytest.raises(FolderInUse):
    check_out_dir(tmp_path / "inner", force=True)
  close_run_folders(keep=1)  # the one opened first stays open
  assert outer.is_open and not inner.is_open and open_count() == 1
  check_out_dir(tmp_path / "inner", force=True)
  close_run_folders()
  assert not outer.is_open and open_count() == 0


def test_a_lock_taken_between_the_check_and_the_lock_is_refused_with_the_option(tmp_path, monkeypatch):
  (tmp_path / "run").mkdir()
  fd = os.open(tmp_path / "run" / LOCK_NAME, os.O_RDWR | os.O_CREAT)
  os.write(fd, b'{"pid": 7, "command": "search"}')
  fcntl.flock(fd, fcntl.LOCK_EX)
  monkeypatch.setattr(run_folder, "_locked_by_other", lambda out: False)  # the other run locked it after our check
  try:
    with _exactly(FolderInUse, _in_use(tmp_path / "run", "--into", " (process 7, search)")):
      open_run_folder(tmp_path / "run", option="--into")
  finally:
    os.close(fd)
  assert os.listdir(tmp_path / "run") == [LOCK_NAME]


def test_another_error_of_flock_is_not_called_in_use(tmp_path, monkeypatch):
  def fail(fd, op):
    raise OSError(errno.ENOLCK, "No locks available")

  monkeypatch.setattr(run_folder.fcntl, "flock", fail)
  with pytest.raises(OSError) as info:
    run_folder._lock(tmp_path, "--out", "x")  # pylint: disable=protected-access
  assert info.type is OSError and info.value.errno == errno.ENOLCK


def test_a_lock_file_replaced_after_each_try_is_given_up_after_ten_tries(tmp_path, monkeypatch):
  opened = []
  real_open, real_close = os.open, os.close

  def counting_open(path, flags, *args):
    fd = real_open(path, flags, *args)
    opened.append(fd)
    return fd

  closed = []
  monkeypatch.setattr(run_folder.os, "open", counting_open)
  monkeypatch.setattr(run_folder.os, "close", lambda fd: (closed.append(fd), real_close(fd)))
  monkeypatch.setattr(run_folder.os, "fstat", lambda fd: os.stat_result((0,) * 10))  # never the file at the path
  with _exactly(FolderInUse, _in_use(tmp_path, "--into")):
    run_folder._lock(tmp_path, "--into", "x")  # pylint: disable=protected-access
  assert len(opened) == 10 and closed == opened  # ten tries, each file closed


def test_a_lock_file_removed_after_we_locked_it_is_replaced_by_a_new_locked_one(tmp_path, monkeypatch):
  """A run that failed at its start removes its lock file; one that had opened and locked it meanwhile must lock the
  new file at the path, or two runs would hold 'the' lock."""
  (tmp_path / LOCK_NAME).write_text("")
  real_flock, calls = fcntl.flock, []

  def flock_then_remove(fd, op):
    real_flock(fd, op)
    calls.append(fd)
    if len(calls) == 1:
      os.remove(tmp_path / LOCK_NAME)

  monkeypatch.setattr(run_folder.fcntl, "flock", flock_then_remove)
  fd, created = run_folder._lock(tmp_path, "--out", "search")  # pylint: disable=protected-access
  try:
    assert len(calls) == 2 and created
    assert os.fstat(fd).st_ino == os.stat(tmp_path / LOCK_NAME).st_ino
    assert json.loads((tmp_path / LOCK_NAME).read_text()) == {"pid": os.getpid(), "command": "search"}
  finally:
    os.close(fd)


def test_a_lock_file_removed_between_the_two_opens_is_tried_again(tmp_path, monkeypatch):
  (tmp_path / LOCK_NAME).write_text("")
  real_open, calls = os.open, []

  def vanishing_open(path, flags, *args):
    calls.append(flags)
    if flags == os.O_RDWR and len(calls) == 2:  # the file existed at O_EXCL, and is gone when reopened
      raise FileNotFoundError(errno.ENOENT, "No such file or directory")
    return real_open(path, flags, *args)

  monkeypatch.setattr(run_folder.os, "open", vanishing_open)
  fd, created = run_folder._lock(tmp_path, "--out", "x")  # pylint: disable=protected-access
  os.close(fd)
  assert len(calls) == 4 and not created


def test_the_lock_file_gets_the_permissions_of_a_new_file(tmp_path, umask_022):
  with open_run_folder(tmp_path / "run"):
    assert (tmp_path / "run" / LOCK_NAME).stat().st_mode & 0o777 == 0o644


def test_a_failed_start_keeps_a_lock_file_that_was_there_before(tmp_path):
  path = tmp_path / "run"
  open_run_folder(path).close()
  assert os.listdir(path) == [LOCK_NAME]
  run = open_run_folder(path)
  atomic_write_text(path / "report.md", "partial")
  run.close(failed=True)
  assert os.listdir(path) == [LOCK_NAME]  # as it was: the lock file an ended run left
  run = open_run_folder(tmp_path / "new")
  run.close(failed=True)
  assert not (tmp_path / "new").exists()  # created by the failed run: removed, with its lock file


def test_a_failed_start_removes_only_the_files_it_created_and_keeps_the_list_of_the_others(tmp_path):
  path = tmp_path / "run"
  with open_run_folder(path):
    atomic_write_text(path / "kept.md", "an earlier run's")
  run = open_run_folder(path, force=True, checkpoint_name="ckpt.npz")
  atomic_write_text(path / "a" / "b" / "new.md", "this run's")
  assert run.created_files == ["a/b/new.md"]
  run.close(failed=True)
  assert sorted(os.listdir(path)) == [LOCK_NAME]  # --force deleted kept.md; the failed start removed a/b/new.md


def test_a_failed_run_with_a_checkpoint_keeps_everything_for_resume(tmp_path):
  path = tmp_path / "run"
  run = open_run_folder(path, checkpoint_name="ckpt.npz")
  atomic_write_text(path / "ckpt.npz", "state")
  atomic_write_text(path / "history.jsonl", "rows")
  run.close(failed=True)
  assert sorted(os.listdir(path)) == sorted([LOCK_NAME, FILES_NAME, "ckpt.npz", "history.jsonl"])
  assert (path / FILES_NAME).read_text().split() == ["ckpt.npz", "history.jsonl"]


def test_claim_records_a_file_once_and_knows_which_it_created(tmp_path):
  path = tmp_path / "run"
  path.mkdir()
  (path / "old.txt").write_text("there before")
  run = open_run_folder(path, force=True)
  claim(path / "old.txt")
  claim(path / "new.txt")
  claim(path / "new.txt")
  run.claim("sub/x.txt")  # relative to the folder
  run.claim("../outside.txt")
  run.claim(LOCK_NAME)
  claim(tmp_path / "elsewhere.txt")  # outside every run folder: not ours to record
  assert run.written == ["old.txt", "new.txt", "sub/x.txt"] and run.created_files == ["new.txt", "sub/x.txt"]
  assert (path / FILES_NAME).read_text() == "old.txt\nnew.txt\nsub/x.txt\n"
  run.close()


def test_claim_goes_to_the_innermost_open_folder_holding_the_file(tmp_path):
  outer = open_run_folder(tmp_path / "outer")
  inner = open_run_folder(tmp_path / "outer" / "inner")
  claim(tmp_path / "outer" / "inner" / "a.txt")
  claim(tmp_path / "outer" / "b.txt")
  claim(tmp_path / "outer-sibling" / "c.txt")  # a path that only starts with the folder's name
  assert inner.written == ["a.txt"] and outer.written == ["b.txt"]


def test_the_files_list_keeps_safe_relative_paths_once_in_order(tmp_path):
  lines = ["b.txt", "", "a/c.txt", "b.txt", "/etc/passwd", "../up.txt", "x/../../y", "..", LOCK_NAME,
           FILES_NAME + "/z", "d.txt"]
  (tmp_path / FILES_NAME).write_text("\n".join(lines) + "\n")
  assert run_folder._read_files_list(tmp_path) == ["b.txt", "a/c.txt", "d.txt"]  # pylint: disable=protected-access
  (tmp_path / FILES_NAME).write_bytes(b"a.txt\n\xff\xfe\n")
  assert run_folder._read_files_list(tmp_path) == []  # pylint: disable=protected-access


def test_force_removes_our_files_past_a_link_out_and_a_missing_file_and_their_empty_folders(tmp_path):
  outside = tmp_path / "outside"
  outside.mkdir()
  (outside / "x").write_text("not ours")
  path = tmp_path / "run"
  for name in ("a/b/c/deep.txt", "a/b/other.txt", "e/f/g.txt", "own.txt"):
    (path / name).parent.mkdir(parents=True, exist_ok=True)
    (path / name).write_text("ours")
  (path / "a" / "keep.txt").write_text("not ours")
  (path / "link").symlink_to(outside)
  (path / FILES_NAME).write_text("link/x\ngone.txt\na/b/c/deep.txt\na/b/other.txt\ne/f/g.txt\nown.txt\n")
  with open_run_folder(path, force=True):
    pass
  assert (outside / "x").read_text() == "not ours"
  assert sorted(p.relative_to(path).as_posix() for p in path.rglob("*")) == [LOCK_NAME, "a", "a/keep.txt", "link"]


@pytest.mark.parametrize("error", [FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError])
def test_a_file_that_cannot_be_deleted_does_not_stop_the_others(tmp_path, monkeypatch, error):
  path = tmp_path / "run"
  path.mkdir()
  for name in ("first.txt", "second.txt"):
    (path / name).write_text("ours")
  (path / FILES_NAME).write_text("first.txt\nsecond.txt\n")
  real_unlink = pathlib.Path.unlink

  def unlink(self, missing_ok=False):
    if self.name == "first.txt":
      raise error(errno.EPERM, "refused")
    real_unlink(self, missing_ok)

  monkeypatch.setattr(pathlib.Path, "unlink", unlink)
  with open_run_folder(path, force=True):
    assert sorted(os.listdir(path)) == [LOCK_NAME, "first.txt"]


def test_an_atomic_write_goes_through_a_temporary_file_in_the_same_folder(tmp_path, monkeypatch, umask_022):
  renames, real_replace = [], os.replace
  monkeypatch.setattr(run_folder.os, "replace", lambda src, dst: (renames.append((src, dst)), real_replace(src, dst)))
  run_folder.atomic_write_bytes(tmp_path / "sub" / "data.bin", b"\x00\x01")
  ((src, dst),) = renames
  assert os.path.dirname(src) == str(tmp_path / "sub") and dst == str(tmp_path / "sub" / "data.bin")
  assert re.fullmatch(r"\.tmp-[0-9a-f]{16}-data\.bin", os.path.basename(src))
  assert (tmp_path / "sub" / "data.bin").read_bytes() == b"\x00\x01" and os.listdir(tmp_path / "sub") == ["data.bin"]
  assert (tmp_path / "sub" / "data.bin").stat().st_mode & 0o777 == 0o644  # 0666 minus the umask, not mkstemp's 0600


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
  (tmp_path / "report.md").write_text("old")

  def fail(src, dst):
    raise OSError(errno.EXDEV, "Invalid cross-device link")

  monkeypatch.setattr(run_folder.os, "replace", fail)
  with pytest.raises(OSError, match="cross-device"):
    atomic_write_text(tmp_path / "report.md", "new")
  assert os.listdir(tmp_path) == ["report.md"] and (tmp_path / "report.md").read_text() == "old"


def test_json_is_indented_by_two_unless_told_and_text_is_utf8(tmp_path):
  run_folder.atomic_write_json(tmp_path / "a.json", {"k": [1]})
  assert (tmp_path / "a.json").read_text() == '{\n  "k": [\n    1\n  ]\n}\n'
  run_folder.atomic_write_json(tmp_path / "b.json", {"k": 1}, indent=None, sort_keys=True)
  assert (tmp_path / "b.json").read_text() == '{"k": 1}\n'
  atomic_write_text(tmp_path / "c.txt", "η")
  assert (tmp_path / "c.txt").read_bytes() == "η".encode("utf-8")


class _Figure:
  def savefig(self, buffer, *, format, **kwargs):  # pylint: disable=redefined-builtin
    buffer.write(f"{format} {sorted(kwargs.items())}".encode())


@pytest.mark.parametrize("name, data", [("plot.svg", "svg [('dpi', 50)]"), ("plot", "png [('dpi', 50)]"),
                                        ("plot.pdf", "pdf [('dpi', 50)]"), ("plot.Xz", "Xz [('dpi', 50)]")])
def test_a_figure_is_saved_in_the_format_its_name_says_png_by_default(tmp_path, name, data):
  with open_run_folder(tmp_path / "run") as run:
    run_folder.atomic_write_figure(_Figure(), tmp_path / "run" / name, dpi=50)
    assert (tmp_path / "run" / name).read_text() == data and run.written == [name]


def test_resume_and_folder_messages_name_the_option(tmp_path):
  with _exactly(InputError, "this command keeps no checkpoint, so it cannot --resume; run it without --resume."):
    check_out_dir(tmp_path, resume=True)
  (tmp_path / "ckpt.npz").write_text("")
  message = (f"--out {tmp_path} already holds files (ckpt.npz); choose a new folder, or pass --force to write into it "
             "anyway (what an earlier optix-evo run wrote there is deleted; other files are left alone) or --resume to "
             "continue its checkpoint.")
  with _exactly(InputError, message):
    open_run_folder(tmp_path, checkpoint_name="ckpt.npz")
  with _exactly(InputError, message.replace(" or --resume to continue its checkpoint", "")):
    open_run_folder(tmp_path, checkpoint_name="other.npz")
  with open_run_folder(tmp_path / "held"):
    with _exactly(FolderInUse, _in_use(tmp_path / "held", "--out", f" (process {os.getpid()}, optix-evo)")):
      open_run_folder(tmp_path / "held")


def test_a_deep_new_folder_is_created_with_its_parents(tmp_path):
  with open_run_folder(tmp_path / "a" / "b" / "c") as run:
    assert run.created and (tmp_path / "a" / "b" / "c").is_dir()
    assert os.fspath(run) == str(tmp_path / "a" / "b" / "c")  # usable wherever a path is


def test_a_folder_that_cannot_be_created_is_refused_with_the_reason(tmp_path, monkeypatch):
  (tmp_path / "file.txt").write_text("")
  with _exactly(InputError, f"cannot write into --into {tmp_path / 'file.txt' / 'run'}: {tmp_path / 'file.txt'} is a "
                            "file, not a folder."):
    open_run_folder(tmp_path / "file.txt" / "run", option="--into")

  def refuse(self, *args, **kwargs):
    raise PermissionError(errno.EACCES, "Permission denied")

  monkeypatch.setattr(pathlib.Path, "mkdir", refuse)
  with _exactly(InputError, f"cannot write into --out {tmp_path / 'new'}: Permission denied; choose a folder you can "
                            "write to."):
    open_run_folder(tmp_path / "new")


def test_closing_all_folders_as_failed_cleans_up_each(tmp_path):
  run_folder.prepare_out_dir(tmp_path / "run")
  atomic_write_text(tmp_path / "run" / "partial.md", "x")
  close_run_folders(failed=True)
  assert not (tmp_path / "run").exists()


def test_files_written_between_the_check_and_the_lock_are_refused_and_the_failed_start_cleans_up(tmp_path, monkeypatch):
  real_lock = run_folder._lock  # pylint: disable=protected-access

  def lock_after_another_run_wrote(out, option, command):
    (out / "intruder.txt").write_text("another run's")
    return real_lock(out, option, command)

  monkeypatch.setattr(run_folder, "_lock", lock_after_another_run_wrote)
  path = tmp_path / "run"
  with _exactly(InputError, f"--into {path} already holds files (intruder.txt); choose a new folder, or pass --force "
                            "to write into it anyway (what an earlier optix-evo run wrote there is deleted; other "
                            "files are left alone)."):
    open_run_folder(path, option="--into")
  assert os.listdir(path) == ["intruder.txt"] and open_count() == 0  # our lock file removed, the folder released


def test_without_force_nothing_is_deleted_not_even_the_list_of_gone_files(tmp_path):
  (tmp_path / FILES_NAME).write_text("gone.txt\n")
  with open_run_folder(tmp_path):
    assert (tmp_path / FILES_NAME).read_text() == "gone.txt\n"


@pytest.fixture
def ascii_locale():
  """A process whose locale encoding is ASCII (LC_CTYPE=C without UTF-8 mode): files must still be read as UTF-8."""
  import locale  # pylint: disable=import-outside-toplevel
  old = locale.setlocale(locale.LC_CTYPE)
  locale.setlocale(locale.LC_CTYPE, "C")
  yield
  locale.setlocale(locale.LC_CTYPE, old)


def test_the_bookkeeping_files_are_utf8_whatever_the_locale(tmp_path, ascii_locale):
  path = tmp_path / "run"
  with open_run_folder(path, command="résumé η"):
    atomic_write_text(path / "η.txt", "x")  # recorded in the files list
    assert (path / FILES_NAME).read_bytes() == "η.txt\n".encode("utf-8")
    with pytest.raises(FolderInUse, match=re.escape(f"(process {os.getpid()}, résumé η)")):
      open_run_folder(path, force=True)
  with open_run_folder(path, force=True):  # reads the list, deletes η.txt
    assert os.listdir(path) == [LOCK_NAME]


def test_a_failed_start_keeps_the_record_of_files_it_overwrote_but_did_not_create(tmp_path):
  path = tmp_path / "run"
  path.mkdir()
  (path / "notes.txt").write_text("the user's")
  (path / "plan.txt").write_text("the user's")
  run = open_run_folder(path, force=True)
  atomic_write_text(path / "notes.txt", "overwritten by the run")  # ours now, but they were there before
  atomic_write_text(path / "new.txt", "created by the run")
  atomic_write_text(path / "plan.txt", "overwritten by the run")
  run.close(failed=True)
  assert sorted(os.listdir(path)) == sorted([LOCK_NAME, FILES_NAME, "notes.txt", "plan.txt"])
  assert (path / FILES_NAME).read_text() == "notes.txt\nplan.txt\n"  # --force deletes them next time: we wrote them
