"""What run.json records and what it refuses (optix_evo/runs/manifest.py): the fingerprint transcribed from its
definition, the environment and git state against their sources, every field written, each refusal's exact message,
and the argv that command_argv rebuilds from parsed arguments."""

import argparse
import dataclasses
import datetime
import hashlib
import importlib.metadata
import json
import os
import pathlib
import platform
import re
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optix_evo
from optix_evo.errors import InputError
from optix_evo.runs import manifest


def _sha256(*arrays):
  """The fingerprint's definition: per array, its dtype string, shape and ';', then its C-order bytes."""
  digest = hashlib.sha256()
  for a in arrays:
    digest.update(f"{a.dtype.str}{a.shape};".encode())
    digest.update(np.ascontiguousarray(a).tobytes())
  return "sha256:" + digest.hexdigest()


def test_the_fingerprint_is_the_sha256_of_each_arrays_dtype_shape_and_bytes_in_order():
  a, b = np.arange(6, dtype=np.int32).reshape(2, 3), np.linspace(0, 1, 4, dtype=np.float32)
  assert manifest.fingerprint_arrays(a, b) == _sha256(a, b)
  assert manifest.fingerprint_arrays() == "sha256:" + hashlib.sha256().hexdigest()
  # A strided view is hashed as its contiguous copy; lists and JAX arrays as the NumPy array they make.
  view = np.arange(12.0).reshape(3, 4)[:, ::2]
  assert manifest.fingerprint_arrays(view) == _sha256(np.ascontiguousarray(view))
  assert manifest.fingerprint_arrays([[1, 2], [3, 4]]) == _sha256(np.array([[1, 2], [3, 4]]))
  assert manifest.fingerprint_arrays(jnp.arange(3, dtype=jnp.float32)) == _sha256(np.arange(3, dtype=np.float32))


def test_the_environment_is_this_processs_versions_platform_and_jax_backend():
  env = manifest.environment()
  versions = {p: importlib.metadata.version(p) for p in ("jax", "jaxlib", "optax", "flax", "numpy")}
  assert env == {
      "versions": {"optix_evo": optix_evo.__version__, **versions, "python": platform.python_version()},
      "platform": platform.platform(),
      "jax_backend": jax.default_backend(),
      "device_count": len(jax.devices()),
      "device_kind": jax.devices()[0].device_kind,
      "x64": bool(jax.config.jax_enable_x64),
  }
  assert env["x64"] is False  # the suite runs without x64 (a flipped flag would read True)


def test_a_missing_package_is_recorded_as_none():
  assert manifest._version("surely-not-an-installed-package-name") is None
  assert manifest._version("numpy") == importlib.metadata.version("numpy")


def _git(cwd, *args):
  subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                 env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                      "GIT_COMMITTER_EMAIL": "t@t"})


def test_git_state_is_the_checkouts_commit_and_whether_a_tracked_file_changed(tmp_path):
  repo = tmp_path / "repo"
  repo.mkdir()
  assert manifest.git_state(repo) is None  # not a checkout
  _git(repo, "init", "-q")
  (repo / "a.txt").write_text("1")
  _git(repo, "add", "a.txt")
  _git(repo, "commit", "-q", "-m", "one")
  head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
  assert manifest.git_state(repo) == {"commit": head, "dirty": False}
  (repo / "new.txt").write_text("untracked files do not make it dirty")
  assert manifest.git_state(repo) == {"commit": head, "dirty": False}
  (repo / "a.txt").write_text("2")
  assert manifest.git_state(repo) == {"commit": head, "dirty": True}
  assert manifest.git_state(repo / "nowhere") is None  # a folder that does not exist


def test_the_manifest_records_every_field_as_given(tmp_path):
  run = tmp_path / "deep" / "run"

  @dataclasses.dataclass
  class Point:
    x: int
    y: float

  config = {"lr": np.float32(0.5), "shape": np.array([2, 3]), "w": jnp.array([1.0, 2.0]), "path": pathlib.Path("/d"),
            "point": Point(1, 2.5), "tags": {"b", "a"}, "frozen": frozenset({3, 1}), "n": np.int64(7)}
  path = manifest.write_manifest(run, argv=["zoo", "--out", str(run)], config=config, seeds={"data": 1, "init": 2},
                                 data_fingerprint="sha256:abc", headline={"acc": np.float32(0.75), "n": 3},
                                 timing={"wall_s": 1.5})
  assert path == run / "run.json" and path.is_file()
  m = json.loads(path.read_text(encoding="utf-8"))
  assert set(m) == {"argv", "config", "seeds", "data_fingerprint", "headline", "timing", "environment", "git", "cwd",
                    "created"}
  assert m["argv"] == ["zoo", "--out", str(run)]
  assert m["config"] == {"lr": 0.5, "shape": [2, 3], "w": [1.0, 2.0], "path": "/d", "point": {"x": 1, "y": 2.5},
                         "tags": ["a", "b"], "frozen": [1, 3], "n": 7}
  assert m["seeds"] == {"data": 1, "init": 2} and m["data_fingerprint"] == "sha256:abc"
  assert m["headline"] == {"acc": 0.75, "n": 3.0} and isinstance(m["headline"]["n"], float)
  assert m["timing"] == {"wall_s": 1.5}
  assert m["environment"] == manifest.environment() and m["git"] == manifest.git_state()
  assert m["cwd"] == os.getcwd()
  created = datetime.datetime.fromisoformat(m["created"])
  assert created.utcoffset() == datetime.timedelta(0) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00",
                                                                       m["created"])
  assert abs((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()) < 120
  assert path.read_text(encoding="utf-8").startswith('{\n  "argv": [\n')  # indented JSON
  assert manifest.read_manifest(run) == m == manifest.read_manifest(path)


def test_the_defaults_record_no_fingerprint_no_headline_and_no_timing(tmp_path):
  m = json.loads(manifest.write_manifest(tmp_path, argv=["x", "--out=d"], config={}, seeds=0).read_text())
  assert (m["data_fingerprint"], m["headline"], m["timing"], m["seeds"]) == (None, {}, {}, 0)


def test_a_config_value_that_is_not_json_ready_is_refused_with_its_type(tmp_path):
  with pytest.raises(TypeError, match=r"^Cannot record a complex in run\.json; pass JSON-ready config values "
                                      r"\(numbers, strings, lists, dicts\)\.$"):
    manifest.write_manifest(tmp_path, argv=["x", "--out=d"], config={"c": 1j}, seeds=0)
  with pytest.raises(TypeError, match="^Cannot record a type in run.json"):
    manifest.write_manifest(tmp_path, argv=["x", "--out=d"], config={"c": Exception}, seeds=0)  # a class, not data


@pytest.mark.parametrize("argv", ["x --out d", ["x", 3, "--out", "d"], ("x", b"--out", "d")])
def test_an_argv_that_is_not_a_list_of_strings_is_refused(tmp_path, argv):
  message = f"argv must be a list of strings (the arguments after `optix-evo`), got {argv!r}."
  with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
    manifest.write_manifest(tmp_path, argv=argv, config={}, seeds=0)
  assert not (tmp_path / "run.json").exists()


@pytest.mark.parametrize("argv", [["x"], ["x", "--out"], ["x", "--output=d"], ["x", "--outd"], ["x", "-o", "d"]])
def test_an_argv_without_an_out_value_is_refused(tmp_path, argv):
  message = (f"argv {argv} has no '--out DIR' option; every results-writing command takes one so that `optix-evo "
             "reproduce` can re-run it into a fresh folder (see optix_evo.runs.manifest).")
  with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
    manifest.write_manifest(tmp_path, argv=argv, config={}, seeds=0)
  with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
    manifest.with_out(argv, "e")


@pytest.mark.parametrize("value", ["0.9", [0.9], np.array([0.9]), None, {"a": 1}, jnp.ones(2)])
def test_a_headline_figure_that_is_not_a_scalar_number_is_refused(tmp_path, value):
  with pytest.raises(ValueError, match="^" + re.escape(f"headline['acc'] must be a scalar number, got {value!r}.") + "$"):
    manifest.write_manifest(tmp_path, argv=["x", "--out=d"], config={}, seeds=0, headline={"ok": 1.0, "acc": value})
  assert not (tmp_path / "run.json").exists()


def test_scalar_headline_figures_of_every_number_type_are_accepted(tmp_path):
  headline = {"i": 2, "f": 0.5, "np": np.float64(0.25), "np0d": np.array(0.125), "jax": jnp.float32(4.0)}
  manifest.write_manifest(tmp_path, argv=["x", "--out=d"], config={}, seeds=0, headline=headline)
  assert manifest.read_manifest(tmp_path)["headline"] == {"i": 2.0, "f": 0.5, "np": 0.25, "np0d": 0.125, "jax": 4.0}


def test_with_out_replaces_only_the_out_value_in_the_spelling_given():
  argv = ["bench", "--out", "a", "--seeds=2"]
  assert manifest.with_out(argv, pathlib.Path("b")) == ["bench", "--out", "b", "--seeds=2"]
  assert argv == ["bench", "--out", "a", "--seeds=2"]  # a new list
  assert manifest.with_out(["bench", "--out=a", "--k"], "b") == ["bench", "--out=b", "--k"]
  assert manifest.with_out(["bench", "--k", "--out", "a", "--out", "c"], "b") == ["bench", "--k", "--out", "b",
                                                                                 "--out", "c"]  # the first one
  assert manifest.with_out(["bench", "--out=a", "--out", "c"], "b") == ["bench", "--out=b", "--out", "c"]


def _write(tmp_path, obj, text=None):
  (tmp_path / "run.json").write_text(json.dumps(obj) if text is None else text, encoding="utf-8")
  return tmp_path


@pytest.mark.parametrize("obj, text, reason", [
    (None, "{not json", "cannot read {path}: "),
    (None, "[" * 100000 + "]" * 100000, "cannot read {path}: "),  # too deep for the parser
    ([1, 2], None, "{path} is not a run manifest (a JSON object)."),
    ({"headline": {}}, None, "{path}: 'argv' must be a non-empty list of strings."),
    ({"argv": []}, None, "{path}: 'argv' must be a non-empty list of strings."),
    ({"argv": "x --out d"}, None, "{path}: 'argv' must be a non-empty list of strings."),
    ({"argv": ["x", 1]}, None, "{path}: 'argv' must be a non-empty list of strings."),
    ({"argv": ["x"], "headline": [1.0]}, None, "{path}: 'headline' must map names to numbers."),
    ({"argv": ["x"], "headline": {"a": "1"}}, None, "{path}: 'headline' must map names to numbers."),
    ({"argv": ["x"], "headline": {"a": True}}, None, "{path}: 'headline' must map names to numbers."),
    ({"argv": ["x"], "headline": {"a": None}}, None, "{path}: 'headline' must map names to numbers."),
    ({"argv": ["x"], "environment": []}, None, "{path}: 'environment' must be a JSON object."),
])
def test_a_manifest_that_is_not_one_is_refused_with_the_reason(tmp_path, obj, text, reason):
  path = tmp_path / "run.json"
  _write(tmp_path, obj, text)
  message = reason.format(path=path)
  for where in (tmp_path, path):
    with pytest.raises(InputError) as info:
      manifest.read_manifest(where)
    assert str(info.value).startswith(message) if message.endswith(": ") else str(info.value) == message


def test_a_minimal_manifest_is_read_and_a_missing_one_is_refused(tmp_path):
  _write(tmp_path, {"argv": ["x"], "headline": {"a": 1, "b": 0.5}, "environment": {}})
  assert manifest.read_manifest(tmp_path)["headline"] == {"a": 1, "b": 0.5}
  _write(tmp_path, {"argv": ["x"]})  # headline and environment may be absent
  assert manifest.read_manifest(tmp_path) == {"argv": ["x"]}
  with pytest.raises(InputError, match="^" + re.escape(f"No run.json at {tmp_path / 'none'}; only "
                                                      "folders written by an optix-evo command have one.") + "$"):
    manifest.read_manifest(tmp_path / "none")
  (tmp_path / "sub").mkdir()
  with pytest.raises(InputError, match=re.escape(f"No run.json at {tmp_path / 'sub' / 'run.json'};")):
    manifest.read_manifest(tmp_path / "sub")
  (tmp_path / "other.json").write_text('{"argv": ["y"]}')  # a manifest file given by its path, any name
  assert manifest.read_manifest(tmp_path / "other.json") == {"argv": ["y"]}


def _parser():
  parser = argparse.ArgumentParser()
  parser.add_argument("task")  # a positional: never recorded
  parser.add_argument("--lr", "--learning-rate", type=float, default=0.1)
  parser.add_argument("-q", "--quiet", action="store_true")
  parser.add_argument("-v", type=int, default=0)  # short only: never recorded
  parser.add_argument("--flag", action="store_true")
  parser.add_argument("--no-cache", dest="cache", action="store_false")
  parser.add_argument("--set", action="append", default=[])
  parser.add_argument("--tasks", type=lambda s: s.split(","), default=None)
  parser.add_argument("--shape", nargs=2, type=int, default=None)
  parser.add_argument("--out", type=pathlib.Path)
  parser.add_argument("--data-dir", default="data")
  parser.add_argument("--version", action="version", version="1")
  for name in ("--force", "--resume", "--debug", "--devices", "--log-dir"):
    parser.add_argument(name, action="store_true" if name in ("--force", "--resume", "--debug") else "store")
  parser.add_argument("--coordinator")
  parser.add_argument("--num-processes", type=int)
  parser.add_argument("--process-id", type=int)
  parser.add_argument("--compile-cache")
  parser.add_argument("--no-compile-cache", action="store_true")
  return parser


def test_command_argv_records_each_changed_option_once_in_the_parsers_order_with_out_last():
  parser = _parser()
  args = parser.parse_args(["t", "--out", "runs/a", "--set", "a=1", "--learning-rate", "0.2", "--flag", "--no-cache",
                            "--set", "b=2", "--tasks", "x,y", "--shape", "3", "4", "-v", "5", "-q"])
  assert manifest.command_argv("bench", args, parser) == [
      "bench", "--lr=0.2", "--flag", "--no-cache", "--set=a=1", "--set=b=2", "--tasks=x,y", "--shape=3,4",
      "--out=runs/a"]


def test_command_argv_leaves_out_defaults_the_run_options_and_the_skipped_ones():
  parser = _parser()
  args = parser.parse_args(["t", "--lr", "0.1", "--data-dir", "elsewhere", "--force", "--resume", "--debug",
                            "--devices", "2", "--log-dir", "logs", "--coordinator", "h:1", "--num-processes", "2",
                            "--process-id", "1", "--compile-cache", "c", "--no-compile-cache", "--out", "o"])
  assert manifest.command_argv("search", args, parser) == ["search", "--data-dir=elsewhere", "--out=o"]
  assert manifest.command_argv("search", args, parser, skip=["--data-dir"]) == ["search", "--out=o"]
  assert manifest.command_argv("search", args, parser, skip=("--out",)) == ["search", "--data-dir=elsewhere"]
  # An option the namespace does not hold (another sub-command's) is left out.
  assert manifest.command_argv("search", argparse.Namespace(out="o", lr=0.5), parser) == ["search", "--lr=0.5",
                                                                                        "--out=o"]
  assert manifest.command_argv("search", argparse.Namespace(out=None, lr=None), parser) == ["search"]


def test_the_environment_records_x64_when_it_is_on():
  with jax.enable_x64(True):
    assert manifest.environment()["x64"] is True


class _Where(os.PathLike):
  def __fspath__(self):
    return "runs/a"

  def __str__(self):
    return "<the folder runs/a>"


def test_command_argv_records_a_path_by_its_file_system_spelling_and_never_help_or_version():
  parser = argparse.ArgumentParser(add_help=False)
  parser.add_argument("--help", action="store_true")  # flags that happen to be called help / version
  parser.add_argument("--version", action="store_true")
  parser.add_argument("--cache")
  parser.add_argument("--out")
  args = parser.parse_args(["--help", "--version"])
  args.cache, args.out = _Where(), "o"
  assert manifest.command_argv("bench", args, parser) == ["bench", "--cache=runs/a", "--out=o"]


def test_a_manifest_is_read_as_utf8_whatever_the_locale(tmp_path):
  import locale  # pylint: disable=import-outside-toplevel
  (tmp_path / "run.json").write_bytes(json.dumps({"argv": ["x", "--out=η"]}, ensure_ascii=False).encode("utf-8"))
  old = locale.setlocale(locale.LC_CTYPE)
  locale.setlocale(locale.LC_CTYPE, "C")
  try:
    assert manifest.read_manifest(tmp_path)["argv"] == ["x", "--out=η"]
  finally:
    locale.setlocale(locale.LC_CTYPE, old)
