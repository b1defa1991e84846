"""``optix-evo zoo``: the command trains each named optimizer over vmapped seeds and prints a table, best first."""

import re

from optix_evo import cli


def test_zoo_command_prints_a_table_best_first(capsys):
  assert cli.main(["zoo", "--task", "iris", "--optimizers", "sgd,adam", "--seeds", "2", "--steps", "40",
                   "--batch-size", "16"]) == 0
  lines = capsys.readouterr().out.strip().splitlines()
  assert lines[0].startswith("| optimizer | test accuracy")
  rows = [re.match(r"\| (\w+) \| ([\d.]+) ± ([\d.]+) \| ([\d.]+) \|", line) for line in lines[2:]]
  assert [r.group(1) for r in rows if r] and len(rows) == 2 and all(rows)
  assert {r.group(1) for r in rows} == {"sgd", "adam"}
  accuracies = [float(r.group(2)) for r in rows]
  assert accuracies == sorted(accuracies, reverse=True)  # best first
  assert max(accuracies) > 0.6  # iris has 3 classes: above chance after 40 steps


def test_zoo_command_refuses_an_unknown_optimizer(capsys):
  assert cli.main(["zoo", "--task", "iris", "--optimizers", "adamx"]) == 2
  assert "Known optimizers" in capsys.readouterr().err
