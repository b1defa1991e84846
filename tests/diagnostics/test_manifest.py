"""run.json manifests and `optix-evo reproduce`, exercised with a tiny fake command registered in the CLI."""

import json

import numpy as np
import pytest

import optix_evo.cli
from optix_evo.diagnostics import manifest

# The fake command's result is seed-determined plus DRIFT, so a test can make a re-run disagree.
DRIFT = {"value": 0.0}


def _fake_run(args):
  x = np.random.default_rng(args.seed).normal(size=(32, 3)).astype(np.float32)
  argv = ["fake-train", "--seed", str(args.seed), "--out", args.out]
  manifest.write_manifest(
      args.out, argv=argv, config={"seed": args.seed, "lr": np.float32(0.1), "shape": x.shape}, seeds=[args.seed],
      data_fingerprint=manifest.fingerprint_arrays(x), headline={"loss": float(x.mean()) + DRIFT["value"], "count": 32},
  )
  return 0


@pytest.fixture
def fake_cli(monkeypatch):
  build = optix_evo.cli.build_parser

  def build_with_fake():
    parser = build()
    sub = next(a for a in parser._actions if a.dest == "command")
    fake = sub.add_parser("fake-train")
    fake.add_argument("--seed", type=int, default=0)
    manifest.add_out_argument(fake)
    fake.set_defaults(func=_fake_run)
    return parser

  monkeypatch.setattr(optix_evo.cli, "build_parser", build_with_fake)
  monkeypatch.setitem(DRIFT, "value", 0.0)


def test_manifest_contents(tmp_path, fake_cli):
  assert optix_evo.cli.main(["fake-train", "--seed", "3", "--out", str(tmp_path / "run")]) == 0
  m = manifest.read_manifest(tmp_path / "run")
  assert m["argv"] == ["fake-train", "--seed", "3", "--out", str(tmp_path / "run")]
  assert m["config"] == {"seed": 3, "lr": pytest.approx(0.1), "shape": [32, 3]}
  assert m["seeds"] == [3] and m["data_fingerprint"].startswith("sha256:")
  env = m["environment"]
  assert set(env["versions"]) == {"optix_evo", "jax", "jaxlib", "optax", "flax", "numpy", "python"}
  assert env["jax_backend"] == "cpu" and env["device_count"] >= 1
  assert m["git"] is None or set(m["git"]) == {"commit", "dirty"}
  assert json.loads((tmp_path / "run" / "run.json").read_text()) == m


def test_fingerprint():
  a, b = np.arange(6.0), np.arange(6.0).reshape(2, 3)
  assert manifest.fingerprint_arrays(a) == manifest.fingerprint_arrays(a.copy())
  assert manifest.fingerprint_arrays(a) != manifest.fingerprint_arrays(b)  # same bytes, other shape
  assert manifest.fingerprint_arrays(a) != manifest.fingerprint_arrays(a.astype(np.float32))
  assert manifest.fingerprint_arrays(a, b) != manifest.fingerprint_arrays(b, a)


def test_reproduce_matches(tmp_path, fake_cli, capsys):
  optix_evo.cli.main(["fake-train", "--seed", "1", "--out", str(tmp_path / "run")])
  assert optix_evo.cli.main(["reproduce", str(tmp_path / "run")]) == 0
  assert "all headline figures match" in capsys.readouterr().out
  assert manifest.read_manifest(tmp_path / "run.reproduce1")["argv"][-1] == str(tmp_path / "run.reproduce1")
  report = manifest.reproduce(tmp_path / "run")  # a second reproduction goes to the next fresh folder
  assert report.ok and report.out_dir == tmp_path / "run.reproduce2"
  assert [c.name for c in report.checks] == ["loss", "count"] and report.environment_changes == {}


def test_reproduce_reports_mismatch(tmp_path, fake_cli, capsys, monkeypatch):
  optix_evo.cli.main(["fake-train", "--seed", "1", "--out", str(tmp_path / "run")])
  monkeypatch.setitem(DRIFT, "value", 1e-3)
  assert optix_evo.cli.main(["reproduce", str(tmp_path / "run"), "--into", str(tmp_path / "again")]) == 1
  out = capsys.readouterr().out
  assert "| loss |" in out and "NO" in out and "REPRODUCTION FAILED" in out
  # A loose enough tolerance accepts the drift.
  assert manifest.reproduce(tmp_path / "run", tmp_path / "loose", atol=1e-2).ok


def test_bad_input(tmp_path):
  with pytest.raises(ValueError, match="--out"):
    manifest.write_manifest(tmp_path, argv=["search", "--preset", "quick"], config={}, seeds=0)
  with pytest.raises(ValueError, match="list of strings"):
    manifest.write_manifest(tmp_path, argv="search --out x", config={}, seeds=0)
  with pytest.raises(ValueError, match="scalar"):
    manifest.write_manifest(tmp_path, argv=["x", "--out", "d"], config={}, seeds=0, headline={"a": [1, 2]})
  with pytest.raises(ValueError, match="No run.json"):
    manifest.read_manifest(tmp_path / "nowhere")
  with pytest.raises(TypeError, match="JSON-ready"):
    manifest.write_manifest(tmp_path, argv=["x", "--out=d"], config={"f": object()}, seeds=0)
  assert manifest.with_out(["x", "--out=d", "--k"], "e") == ["x", "--out=e", "--k"]
