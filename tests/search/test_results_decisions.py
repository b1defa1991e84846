"""The results folder's decisions on a planted result (no search, no training): which comparison the verdict is
about and its direction, the Holm line's counts, the final table's order, learning-rate edges and NaN seeds, the
rank correlation against its target, the figures' data, the hall of fame and generation tables, run.json's headline
and the command line that re-runs the search."""

import json
import math

import matplotlib.colors
import numpy as np
import pytest

import optix_evo as ox
from optix_evo import graph
from optix_evo.search import results
from optix_evo.search.statistics import mean_interval, paired_difference, verdict

CONFIG = ox.search.preset("quick")
SPACE = graph.get_space(CONFIG.space)
PARTICIPANTS = [{"name": "found #1", "kind": "found", "equation": "u = sign(m)\nw ← w - η_t·u"},
                {"name": "found #2", "kind": "found", "equation": "u = g\nw ← w - η_t·u"},
                {"name": "adam", "kind": "baseline"}, {"name": "nos_opt9", "kind": "reference"}]
NAN = float("nan")
# per participant and seed, test accuracy; found #2 has a divergent seed (NaN): its mean counts it as 0
TEST = {"mnist1d_mlp": [[0.62, 0.64, 0.66], [0.70, NAN, 0.72], [0.60, 0.61, 0.62], [0.50, 0.52, 0.51]],
        "digits_mlp": [[0.80, 0.90, 0.85], [0.86, 0.87, 0.85], [0.88, 0.91, 0.90], [0.40, 0.41, 0.42]]}


def _comparisons(test):
  out = []
  for i, p in enumerate(PARTICIPANTS[:2]):
    d = paired_difference(test[i], test[2])
    out.append({"found": p["name"], "baseline": "adam", "difference": d._asdict(), "verdict": verdict(d),
                "p_value": ox.search.paired_p_value(test[i], test[2])})
  return out


def _result(rank_correlation=None, holm=()):
  tasks = {}
  for task, held in (("mnist1d_mlp", False), ("digits_mlp", True)):
    tasks[task] = {"held_out": held, "test": TEST[task], "valid": [[0.7, 0.8, 0.9]] * 4,
                   "learning_rate": [1.0, 0.1, 1e-3, 0.01], "diverged": [0, 1, 0, 2],
                   "comparisons": _comparisons(TEST[task])}
  genome = graph.to_json(graph.known("adam", SPACE), SPACE)
  hall = [{"rank": 1, "surrogate_fitness": 0.61, "stage_fitness": [0.62, 0.63], "learning_rate": 0.01,
           "equation": "u = sign(m)\nw ← w - η_t·u", "genome": genome},
          {"rank": 2, "surrogate_fitness": 0.6, "stage_fitness": [0.55], "learning_rate": 0.1, "equation": "u = g",
           "genome": genome}]
  generations = [{"generation": 0, "candidates": 24, "runs": 72, "best": 0.5, "median": 0.3, "rejected": 2,
                  "seconds": 3.25},
                 {"generation": 1, "candidates": 24, "runs": 80, "best": 0.55, "median": NAN, "rejected": 24,
                  "seconds": 4.0}]
  timing = {"wall_s": 200.0, "compile_and_trace_s": 50.0, "sessions": 2, "compiled": 7, "cache_hits": 3,
            "compile_wait_s": 12.5, "training": {"mnist1d_mlp": {"train_s": 150.0, "steps": 600000, "runs": 1500},
                                                 "digits_mlp": {"train_s": 30.0, "steps": 120000, "runs": 300}}}
  final = {"participants": PARTICIPANTS, "tasks": tasks, "holm": list(holm)}
  return ox.search.SearchResult(hall, generations, rank_correlation, final, timing, None, "abc", ("adam",))


def test_the_verdict_is_about_found_1_against_each_baseline_with_found_minus_baseline():
  result = _result()
  rows = results.best_found_comparisons(result)
  assert [(r["task"], r["held_out"], r["found"], r["baseline"]) for r in rows] == [
      ("mnist1d_mlp", False, "found #1", "adam"), ("digits_mlp", True, "found #1", "adam")]
  sentences = results.verdict_sentences(result)
  # mnist1d: found #1 is 0.02, 0.03, 0.04 above adam on the three seeds: it beats adam by +0.03
  d = paired_difference(TEST["mnist1d_mlp"][0], TEST["mnist1d_mlp"][2])
  assert d.estimate == pytest.approx(0.03) and verdict(d) == "beats"
  assert sentences[0] == (
      "On `mnist1d_mlp` (search task) the best found optimizer (found #1, `u = sign(m)`) **beats** adam (both tuned "
      f"on the same grid): test accuracy difference +0.0300, 95% interval [{d.low:+.4f}, {d.high:+.4f}] over 3 paired "
      "seeds.")
  d = paired_difference(TEST["digits_mlp"][0], TEST["digits_mlp"][2])  # digits: below adam on every seed
  assert d.estimate == pytest.approx(-0.14 / 3) and f"{d.estimate:+.4f}" in sentences[1]
  assert "(held-out task, never seen by the search)" in sentences[1] and f"**{verdict(d)}** adam" in sentences[1]
  no_equation = _result()
  no_equation.final["participants"] = [{"name": "found #1", "kind": "found"}]
  assert "the best found optimizer **beats** adam" in results.verdict_sentences(no_equation)[0]


def test_the_holm_line_counts_each_verdict_and_names_its_tasks():
  holm = [{"found": "found #1", "baseline": "adam", "alpha": 0.01, "tasks": [
      {"task": "a", "verdict": "loses"}, {"task": "b", "verdict": "beats"}, {"task": "c", "verdict": "loses"},
      {"task": "d", "verdict": "ties"}]}, {"found": "found #1", "baseline": "sgd", "alpha": 0.05, "tasks": []}]
  assert results.holm_sentences(_result(holm=holm)) == [
      "Over the 4 held-out tasks, Holm–Bonferroni corrected (α = 0.01): the best found optimizer beats adam on 1 (b), "
      "loses on 2 (a, c), ties on 1 (d)."]  # a baseline without held-out tasks gets no line
  one = [{"found": "found #1", "baseline": "adam", "alpha": 0.05, "tasks": [{"task": "a", "verdict": "ties"}]}]
  assert results.holm_sentences(_result(holm=one))[0].startswith("Over the 1 held-out task, Holm")  # singular


def test_the_final_table_is_sorted_by_the_mean_it_shows_and_marks_grid_edges():
  result = _result()
  lines = results.final_table(result, "mnist1d_mlp", (1.0, 0.1, 0.01, 1e-3))
  rows = [line.split(" | ") for line in lines[2:]]
  # found #2 scored 0.70 and 0.72 but diverged on a seed: its mean counts that seed as 0 (0.4733), below found #1's
  assert [r[0].strip("| ") for r in rows] == ["**found #1**", "adam", "nos_opt9", "**found #2**"]
  shown = {r[0].strip("| *"): r for r in rows}
  two = mean_interval([0.70, 0.0, 0.72])
  assert shown["found #2"][4] == f"{two.estimate:.4f} [{two.low:.4f}, {two.high:.4f}]"
  assert [shown[n][1] for n in ("found #1", "adam", "nos_opt9")] == ["found", "baseline", "reference"]
  assert shown["found #1"][2] == "1†" and shown["adam"][2] == "0.001†"  # both ends of the grid
  assert shown["found #2"][2] == "0.1" and shown["nos_opt9"][2] == "0.01"  # inside it
  assert shown["found #2"][5] == "1 |" and shown["nos_opt9"][5] == "2 |" and shown["found #1"][3] == "0.8000"
  single = results.final_table(result, "mnist1d_mlp", (0.1,))  # one rate: no edge to mark
  assert not any("†" in line for line in single[2:])


@pytest.mark.parametrize("estimate, says", [(0.5, "meets"), (0.4999, "is below"), (0.9, "meets")])
def test_the_rank_correlation_meets_its_target_at_0_5(estimate, says):
  line = results.rank_correlation_lines(_result({"estimate": estimate, "low": 0.1, "high": 0.95, "n": 12}), CONFIG)[0]
  assert line == (f"Surrogate vs elimination stage 1, Spearman rank correlation over 12 candidates: **{estimate:.3f}** "
                  f"(bootstrap 95% interval [0.100, 0.950]); it {says} the target of 0.5. Stage 1 trains 400 steps × 2 "
                  "seeds against the surrogate's 200 × 1.")
  line = results.rank_correlation_lines(_result({"estimate": estimate, "low": NAN, "high": 0.9, "n": 3}), CONFIG)[0]
  assert f"**{estimate:.3f}**; it {says} the target of 0.5, but its interval is not computable" in line
  assert results.rank_correlation_lines(_result(None), CONFIG) == [
      "Surrogate rank correlation: not measured (no elimination stage ran)."]


def test_the_timing_sentence_splits_the_wall_time_and_says_each_tasks_cost_per_step():
  timing = {"wall_s": 10.0, "compile_and_trace_s": 4.0, "sessions": 1, "compiled": 2, "cache_hits": 0,
            "compile_wait_s": 1.5, "training": {"iris_mlp": {"train_s": 6.0, "steps": 3000, "runs": 10}}}
  assert results.timing_sentence(timing) == (
      "Wall time 10.0 s over 1 session(s): training 6.0 s (`iris_mlp` 6.0 s, 3,000 steps, 2000 µs per step), waiting "
      "for compilation 1.5 s, the rest 2.5 s (integrity checks, the strategy, programs compiled in the main thread, "
      "files). Tracing, lowering and compiling took 4.0 s (2 programs compiled, 0 loaded from the persistent cache), "
      "partly in background threads while other work ran.")
  no_runs = results.timing_sentence({**timing, "training": {}, "compile_wait_s": 0.0})
  assert "training 0.0 s (no runs), waiting for compilation 0.0 s, the rest 10.0 s" in no_runs
  older = {k: v for k, v in timing.items() if k not in ("training", "compile_wait_s")}  # a result of round 6
  assert results.timing_sentence(older) == (
      "Wall time 10.0 s over 1 session(s). Tracing, lowering and compiling took 4.0 s (2 programs compiled, 0 loaded "
      "from the persistent cache), partly in background threads while other work ran.")

def test_the_timing_sentence_reads_a_missing_wait_as_0_and_divides_by_the_steps_one_included():
  """A one-step task's cost per step is its whole training time (1 s: 1,000,000 µs, exactly, to the µs); a task of
  0 steps divides by 1, not 0; a timing with training but no compile_wait_s waited for nothing."""
  timing = {"wall_s": 5.0, "compile_and_trace_s": 0.5, "sessions": 1, "compiled": 1, "cache_hits": 1,
            "training": {"iris_mlp": {"train_s": 1.0, "steps": 1, "runs": 1},
                         "digits_mlp": {"train_s": 0.0, "steps": 0, "runs": 0}}}
  assert results.timing_sentence(timing).startswith(
      "Wall time 5.0 s over 1 session(s): training 1.0 s (`iris_mlp` 1.0 s, 1 steps, 1000000 µs per step; "
      "`digits_mlp` 0.0 s, 0 steps, 0 µs per step), waiting for compilation 0.0 s, the rest 4.0 s (")



def test_the_report_and_run_json_of_a_planted_result(tmp_path, monkeypatch):
  figures = {}
  monkeypatch.setattr(results, "atomic_write_figure", lambda fig, path, **kw: figures.setdefault(
      path.rsplit("/", 1)[-1], fig))
  result = _result({"estimate": 0.7, "low": 0.2, "high": 0.9, "n": 10})
  path = results.write_results(str(tmp_path), result, CONFIG)
  assert path == str(tmp_path / "report.md")
  report = (tmp_path / "report.md").read_text()
  assert report.startswith("# Neural optimizer search on `mnist1d_mlp` (seed 0, ga)\n\n## Verdict\n\n")
  assert ("Wall time 200.0 s over 2 session(s): training 180.0 s (`mnist1d_mlp` 150.0 s, 600,000 steps, 250 µs per "
          "step; `digits_mlp` 30.0 s, 120,000 steps, 250 µs per step), waiting for compilation 12.5 s, the rest 7.5 s "
          "(integrity checks, the strategy, programs compiled in the main thread, files). Tracing, lowering and "
          "compiling took 50.0 s (7 programs compiled, 3 loaded from the persistent cache), partly in background "
          "threads while other work ran.") in report
  assert "## Final comparison on `mnist1d_mlp` (search task)" in report
  assert "## Final comparison on `digits_mlp` (held out)" in report
  assert "| 1 | 0.6100 | 0.6200 | 0.6300 | 0.01 | `u = sign(m)` |" in report
  assert "| 2 | 0.6000 | 0.5500 | – | 0.1 | `u = g` |" in report  # a stage it did not reach: a dash
  assert "| 0 | 24 | 72 | 0.5000 | 0.3000 | 2 | 3.2 |" in report and "| 1 | 24 | 80 | 0.5500 | – | 24 | 4.0 |" in report
  assert "warm start: the first population seeded with adam" in report and "![fitness.png](fitness.png)" in report
  assert "### #2 (`optimizers/rank_02.py`)\n\n```\nu = g\n```" in report
  code = (tmp_path / "optimizers" / "rank_01.py").read_text()
  assert "def rank_01(" in code
  saved = json.loads((tmp_path / "hall_of_fame.json").read_text())
  assert saved["hall_of_fame"][1]["rank"] == 2 and saved["config"] == json.loads(json.dumps(CONFIG.to_dict()))
  run = json.loads((tmp_path / "run.json").read_text())
  headline = run["headline"]
  assert (headline["rank_correlation"], headline["rank_correlation_low"], headline["rank_correlation_high"]) == (
      0.7, 0.2, 0.9)
  assert headline["mnist1d_mlp_vs_adam_difference"] == pytest.approx(0.03)  # found − baseline
  assert headline["digits_mlp_vs_adam_difference"] == pytest.approx(-0.14 / 3)
  assert run["argv"] == ["search", "--preset", "quick", "--out", str(tmp_path)]
  assert run["seeds"] == 0 and run["data_fingerprint"] == "abc" and run["timing"] == result.timing
  assert run["config"] == json.loads(json.dumps(CONFIG.to_dict()))
  # fitness.png: best and median per generation
  (ax,) = figures["fitness.png"].axes
  best, median = ax.lines
  assert best.get_label() == "best" and list(best.get_xdata()) == [0, 1] and list(best.get_ydata()) == [0.5, 0.55]
  assert median.get_label() == "median (not rejected)" and list(median.get_ydata())[0] == 0.3
  assert ax.get_xlabel() == "generation (0 = random pool)" and ax.get_ylabel() == "fitness (validation accuracy)"
  assert ax.get_title() == "Surrogate fitness on mnist1d_mlp (ga)"
  # final.png: per task, every participant's mean test accuracy (NaN seeds as 0), found ones in red
  axes = figures["final.png"].axes
  assert [a.get_title() for a in axes] == ["mnist1d_mlp", "digits_mlp (held out)"]
  points = axes[0].collections[-1]
  means = [mean_interval(np.nan_to_num(t, nan=0.0)).estimate for t in TEST["mnist1d_mlp"]]
  np.testing.assert_allclose(points.get_offsets()[:, 0], means)
  colors = [matplotlib.colors.to_hex(c) for c in points.get_facecolors()]  # found red, baselines blue, others grey
  assert colors == [matplotlib.colors.to_hex(c) for c in ("tab:red", "tab:red", "tab:blue", "tab:gray")]
  (bars,) = axes[0].containers[0].lines[2]  # the error bars span each mean's 95% interval
  intervals = [mean_interval(np.nan_to_num(t, nan=0.0)) for t in TEST["mnist1d_mlp"]]
  np.testing.assert_allclose([(s[0][0], s[1][0]) for s in bars.get_segments()], [(i.low, i.high) for i in intervals])
  assert [t.get_text() for t in axes[0].get_yticklabels()] == [p["name"] for p in PARTICIPANTS]
  assert axes[0].get_xlabel() == "test accuracy (mean, 95% interval)"
  assert axes[0].yaxis_inverted()  # the first participant on top


def test_the_fitness_figure_says_when_fitness_is_normalised(tmp_path, monkeypatch):
  figures = {}
  monkeypatch.setattr(results, "atomic_write_figure", lambda fig, path, **kw: figures.setdefault(
      path.rsplit("/", 1)[-1], fig))
  config = ox.search.preset("quick", family=("iris_mlp",), normalise="adam", strategy="regularized")
  results.write_report(str(tmp_path), _result(), config)
  (ax,) = figures["fitness.png"].axes
  assert ax.get_ylabel() == "fitness (validation accuracy normalised: 1 = Adam, 0 = chance)"
  assert ax.get_title() == "Surrogate fitness on mnist1d_mlp (regularized)"
  report = (tmp_path / "report.md").read_text()
  assert ("Strategy `regularized`; fitness on `mnist1d_mlp`, `iris_mlp` (each normalised against Adam trained in the "
          "same call: 1 = Adam, 0 = chance; fitness = their mean); warm start: the first population seeded with adam.") \
      in report


def test_a_result_without_a_final_comparison_still_gets_its_report(tmp_path, monkeypatch):
  """A search stopped before its final phase: no final tables, no verdict, no final figure; the rest is there."""
  monkeypatch.setattr(results, "atomic_write_figure", lambda fig, path, **kw: None)
  result = _result()._replace(final={})
  results.write_report(str(tmp_path), result, CONFIG)
  report = (tmp_path / "report.md").read_text()
  assert "## Final comparison" not in report and "**beats**" not in report and "## Hall of fame" in report
  assert "![final.png]" not in report and "![fitness.png](fitness.png)" in report
  results.write_report(str(tmp_path), result._replace(warm_start=()), CONFIG)
  report = (tmp_path / "report.md").read_text()
  assert "; no warm start (the first population is random). Found programs" in report and "seeded with" not in report


def test_the_optimizers_are_written_as_code_in_the_searchs_own_space(tmp_path, monkeypatch):
  monkeypatch.setattr(results, "atomic_write_figure", lambda fig, path, **kw: None)
  nos = graph.get_space("nos")
  config = ox.search.preset("quick", space="nos")
  genome = graph.to_json(graph.known("nos_opt1", nos), nos)
  result = _result()._replace(hall_of_fame=[{"rank": 1, "surrogate_fitness": 0.6, "stage_fitness": [0.6],
                                             "learning_rate": 0.1, "equation": "u", "genome": genome}])
  results.write_results(str(tmp_path), result, config)
  code = (tmp_path / "optimizers" / "rank_01.py").read_text()
  assert code == graph.to_python(graph.known("nos_opt1", nos), nos, name="rank_01")


def test_a_nan_rank_correlation_leaves_nan_in_the_headline(tmp_path):
  result = _result(None)
  argv = ["search", "--preset", "quick", "--out", "elsewhere"]
  results.write_results(str(tmp_path), result, CONFIG, argv=argv)
  run = json.loads((tmp_path / "run.json").read_text())
  assert math.isnan(run["headline"]["rank_correlation"]) and run["argv"] == argv


def test_cli_argv_starts_from_the_closest_preset_and_sets_the_rest():
  config = ox.search.preset("quick", particles=7, strategy="random")
  argv = results.cli_argv(config, "runs/x")
  assert argv[:3] == ["search", "--preset", "quick"] and argv[-2:] == ["--out", "runs/x"]
  assert sorted(argv[3:-2]) == sorted(["--set", "particles=7", "--set", "strategy=random"])
  config = ox.search.preset("quick", lr_grid=(0.5, 0.05))  # a non-string value: its repr
  assert "lr_grid=[0.5, 0.05]" in results.cli_argv(config, "o")
  for name in ox.search.PRESETS:
    assert results.cli_argv(ox.search.PRESETS[name], "o") == ["search", "--preset", name, "--out", "o"]


def test_the_validation_column_counts_a_seed_without_a_finite_epoch_as_0_not_as_worst():
  """A seed that diverged before its first validation keeps best_valid = WORST (-1): the column shows an accuracy,
  so that seed counts as 0 (as the test column counts a NaN seed), never as -1."""
  result = _result()
  table = result.final["tasks"]["mnist1d_mlp"]
  table["valid"] = [[0.9, ox.search.WORST, 0.6], [ox.search.WORST] * 3, [0.7, 0.8, 0.9], [0.5, 0.25, NAN]]
  rows = {r.split(" | ")[0].strip("| *"): r.split(" | ") for r in results.final_table(result, "mnist1d_mlp", (0.1,))[2:]}
  assert rows["found #1"][3] == "0.5000"  # (0.9 + 0 + 0.6) / 3, not (0.9 - 1 + 0.6) / 3 = 0.1667
  assert rows["found #2"][3] == "0.0000"  # every seed diverged at once: 0, not -1
  assert rows["adam"][3] == "0.8000" and rows["nos_opt9"][3] == "0.2500"  # a NaN seed counts as 0 too


GOLDEN_CONFIG = dict(seed=3, final_steps=300, final_seeds=4, surrogate_steps=150, family=("iris_mlp",),
                     stages=(ox.search.Stage(120, 2, 4), ox.search.Stage(240, 3, 2)))
GOLDEN = """# Neural optimizer search on `mnist1d_mlp` (seed 3, ga)

## Verdict

The verdict is about **found #1**, the first of the hall of fame: the candidate with the best mean validation fitness \
in the last elimination stage (240 steps × 3 seeds), chosen before the final comparison so that the test set does not \
pick it. The final tables below are sorted by test accuracy, where another finalist can come first.

On `mnist1d_mlp` (search task) the best found optimizer (found #1, `u = sign(m)`) **beats** adam (both tuned on the \
same grid): test accuracy difference +0.0300, 95% interval [+0.0052, +0.0548] over 3 paired seeds.
On `digits_mlp` (held-out task, never seen by the search) the best found optimizer (found #1, `u = sign(m)`) **ties** \
adam (both tuned on the same grid): test accuracy difference -0.0467, 95% interval [-0.1339, +0.0406] over 3 paired \
seeds.

Over the 1 held-out task, Holm–Bonferroni corrected (α = 0.05): the best found optimizer beats adam on 0, loses on 1 \
(digits_mlp), ties on 0.

Surrogate vs elimination stage 1, Spearman rank correlation over 10 candidates: **0.700** (bootstrap 95% interval \
[0.200, 0.900]); it meets the target of 0.5. Stage 1 trains 120 steps × 2 seeds against the surrogate's 150 × 1.

Strategy `ga`; fitness on `mnist1d_mlp`, `iris_mlp`; warm start: the first population seeded with adam. Found \
programs are simplified (dead and redundant nodes removed) before they are compared; the equations are the programs \
that ran.

Wall time 200.0 s over 2 session(s): training 180.0 s (`mnist1d_mlp` 150.0 s, 600,000 steps, 250 µs per step; \
`digits_mlp` 30.0 s, 120,000 steps, 250 µs per step), waiting for compilation 12.5 s, the rest 7.5 s (integrity \
checks, the strategy, programs compiled in the main thread, files). Tracing, lowering and compiling took 50.0 s (7 \
programs compiled, 3 loaded from the persistent cache), partly in background threads while other work ran.

## Final comparison on `mnist1d_mlp` (search task)

Every optimizer trained 300 steps at each peak learning rate of [1.0, 0.1, 0.01, 0.001] with 4 seeds (the same seeds \
for all); the rate with the best mean validation accuracy is kept, and the test accuracy at each run's best validation \
epoch is reported. † The chosen rate is at an edge of the grid: a wider grid might raise that optimizer's score.

| optimizer | kind | tuned lr | validation | test accuracy (95% interval) | divergent seeds |
|---|---|---|---|---|---|
| **found #1** | found | 1† | 0.8000 | 0.6400 [0.5903, 0.6897] | 0 |
| adam | baseline | 0.001† | 0.8000 | 0.6100 [0.5852, 0.6348] | 0 |
| nos_opt9 | reference | 0.01 | 0.8000 | 0.5100 [0.4852, 0.5348] | 2 |
| **found #2** | found | 0.1 | 0.8000 | 0.4733 [-0.5453, 1.4919] | 1 |

## Final comparison on `digits_mlp` (held out)

Every optimizer trained 300 steps at each peak learning rate of [1.0, 0.1, 0.01, 0.001] with 4 seeds (the same seeds \
for all); the rate with the best mean validation accuracy is kept, and the test accuracy at each run's best validation \
epoch is reported. † The chosen rate is at an edge of the grid: a wider grid might raise that optimizer's score.

| optimizer | kind | tuned lr | validation | test accuracy (95% interval) | divergent seeds |
|---|---|---|---|---|---|
| adam | baseline | 0.001† | 0.8000 | 0.8967 [0.8587, 0.9346] | 0 |
| **found #2** | found | 0.1 | 0.8000 | 0.8600 [0.8352, 0.8848] | 1 |
| **found #1** | found | 1† | 0.8000 | 0.8500 [0.7258, 0.9742] | 0 |
| nos_opt9 | reference | 0.01 | 0.8000 | 0.4100 [0.3852, 0.4348] | 2 |

## Hall of fame

| rank | surrogate | stage 1 | stage 2 | lr | equation |
|---|---|---|---|---|---|
| 1 | 0.6100 | 0.6200 | 0.6300 | 0.01 | `u = sign(m)` |
| 2 | 0.6000 | 0.5500 | – | 0.1 | `u = g` |

### #1 (`optimizers/rank_01.py`)

```
u = sign(m)
w ← w - η_t·u
```

### #2 (`optimizers/rank_02.py`)

```
u = g
```

## Generations

| generation | candidates | training runs | best | median | rejected | seconds |
|---|---|---|---|---|---|---|
| 0 | 24 | 72 | 0.5000 | 0.3000 | 2 | 3.2 |
| 1 | 24 | 80 | 0.5500 | – | 24 | 4.0 |

## Settings

```
"""
GOLDEN_END = """```

Every evaluated candidate: `history.jsonl`. Standalone optax code: `optimizers/rank_<k>.py`.

## Figures

![fitness.png](fitness.png)
![final.png](final.png)
"""


def test_the_whole_report_of_a_planted_result_word_for_word(tmp_path, monkeypatch):
  """The report of a planted result, every line: headings, verdict and subject, Holm line, rank correlation, search
  and timing lines, both final tables, hall of fame with its stage columns, generations, settings and figures; and
  each figure written into the results folder at 120 dpi."""
  written = []
  monkeypatch.setattr(results, "atomic_write_figure", lambda fig, path, **kw: written.append((path, kw)))
  config = ox.search.preset("quick", **GOLDEN_CONFIG)
  holm = [{"found": "found #1", "baseline": "adam", "alpha": 0.05, "tasks": [{"task": "digits_mlp", "verdict": "loses"}]}]
  path = results.write_report(str(tmp_path), _result({"estimate": 0.7, "low": 0.2, "high": 0.9, "n": 10}, holm), config)
  assert path == str(tmp_path / "report.md")
  report = (tmp_path / "report.md").read_text()
  settings = "".join(f"{k} = {v!r}\n" for k, v in config.to_dict().items())
  assert "seed = 3\n" in settings and "final_seeds = 4\n" in settings
  assert report.split("\n") == (GOLDEN + settings + GOLDEN_END).split("\n")
  assert written == [(str(tmp_path / "fitness.png"), {"dpi": 120}), (str(tmp_path / "final.png"), {"dpi": 120})]


def test_the_verdict_needs_no_participant_list_and_names_no_equation_without_one():
  result = _result()
  del result.final["participants"]
  sentences = results.verdict_sentences(result)
  assert len(sentences) == 2 and sentences[0].startswith(
      "On `mnist1d_mlp` (search task) the best found optimizer **beats** adam (both tuned on the same grid)")
  result.final["participants"] = [{"name": "found #2", "kind": "found", "equation": "u = g"}]  # not found #1's
  assert "the best found optimizer **beats** adam" in results.verdict_sentences(result)[0]
  assert results.verdict_sentences(ox.search.SearchResult([], [], None, {}, {}, None)) == []
  assert results.verdict_subject_lines(ox.search.SearchResult([], [], None, {}, {}, None), CONFIG) == []


def test_the_figures_look_as_drawn(tmp_path, monkeypatch):
  """fitness.png: 5.5 × 3.5 in, best as circles and a line, median as squares and dashes, a small legend;
  final.png: 4.5 in per task wide, 0.3 in per participant + 1.5 tall, error bars without markers in each
  participant's colour under the points, names at 7 pt; one task still gets its figure."""
  figures = {}
  monkeypatch.setattr(results, "atomic_write_figure", lambda fig, path, **kw: figures.setdefault(
      path.rsplit("/", 1)[-1], fig))
  result = _result()
  results.write_report(str(tmp_path), result, CONFIG)
  fitness, final = figures["fitness.png"], figures["final.png"]
  assert tuple(fitness.get_size_inches()) == (5.5, 3.5)
  best, median = fitness.axes[0].lines
  assert (best.get_marker(), best.get_linestyle()) == ("o", "-") and (median.get_marker(), median.get_linestyle()) == (
      "s", "--")
  legend = fitness.axes[0].get_legend()
  assert [t.get_text() for t in legend.get_texts()] == ["best", "median (not rejected)"]
  assert legend.get_texts()[0].get_fontsize() == 8
  np.testing.assert_allclose(final.get_size_inches(), (9.0, 0.3 * 4 + 1.5))
  ax = final.axes[0]
  assert all(t.get_fontsize() == 7 for t in ax.get_yticklabels())
  container = ax.containers[0]
  assert container.lines[0] is None  # fmt="none": no line or markers through the means
  (bars,) = container.lines[2]
  expected = [matplotlib.colors.to_rgba(c) for c in ("tab:red", "tab:red", "tab:blue", "tab:gray")]
  np.testing.assert_allclose(bars.get_colors(), expected)
  points = ax.collections[-1]
  assert points.get_zorder() == 3 and bars.get_zorder() < 3
  np.testing.assert_allclose(points.get_offsets()[:, 1], [0, 1, 2, 3])
  one = _result()._replace(final={**result.final, "tasks": {"digits_mlp": result.final["tasks"]["digits_mlp"]}})
  figures.clear()
  results.write_report(str(tmp_path), one, CONFIG)
  assert [a.get_title() for a in figures["final.png"].axes] == ["digits_mlp (held out)"]
  np.testing.assert_allclose(figures["final.png"].get_size_inches(), (4.5, 2.7))
