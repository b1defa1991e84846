"""optix-evo transfer: hall-of-fame genomes vs optax baselines over seeds, with Student-t confidence intervals."""

import json

import numpy as np
import pytest

from optix_evo import graph
from optix_evo.search.transfer import confidence_interval, format_table, transfer


def test_confidence_interval():
  mean, half = confidence_interval([0.5, 0.7, 0.6, 0.6, 0.6])
  assert mean == pytest.approx(0.6) and half == pytest.approx(2.776 * np.std([0.5, 0.7, 0.6, 0.6, 0.6], ddof=1) / 5 ** 0.5, rel=1e-3)
  assert np.isnan(confidence_interval([0.5])[1])


def test_transfer_hall_of_fame_vs_baseline(tmp_path):
  adam = graph.known("adam")
  hall = {"hall_of_fame": [{"rank": 1, "equation": graph.render(adam), "genome": graph.to_json(adam)}]}
  (tmp_path / "hall_of_fame.json").write_text(json.dumps(hall))
  rows = transfer(str(tmp_path), ["digits_mlp"], seeds=2, steps=10, top=3, lr_grid=(0.1,), baselines=("sgd",))
  assert [r["optimizer"].split()[0] for r in rows] == ["#1", "sgd"]
  for r in rows:
    assert len(r["test_accuracy"]) == 2 and 0 <= r["mean"] <= 1 and r["ci95"] >= 0
  assert "± " in format_table(rows)
  with pytest.raises(ValueError, match="at least 2"):
    transfer(str(tmp_path), ["digits_mlp"], seeds=1)
  with pytest.raises(ValueError, match="not found"):
    transfer(str(tmp_path / "nope"), ["digits_mlp"])
