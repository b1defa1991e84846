"""What the integrity check rejects a genome for, and in which order, on planted outcomes: every field outside its
table (both ends), the node/input limits, no gradient, duplicates, then the numeric checks' thresholds and the descent
test's flip, under the library's rules and under the authors' ("nos"). The numeric program is replaced by planted
values (``numeric_checks`` monkeypatched), so nothing here compiles."""

import jax
import numpy as np
import pytest

import optix_evo.graph as G
from optix_evo.graph import integrity
from optix_evo.graph.genome import to_numpy

SPEC, NOS = G.DEFAULT_SPEC, G.NOS_SPEC
N_LR = len(integrity.DESCENT_LRS)


class Planted:
  """A stand-in for ``numeric_checks``: per population row the planted values (rows not planted pass every check);
  records what it was asked."""

  def __init__(self, **rows):
    self.rows, self.calls = rows, []

  def __call__(self, genomes, todo, spec, key, steps=35, warmup=6, chunk_size=64):
    self.calls.append({"todo": list(np.asarray(todo)), "spec": spec, "key": key, "steps": steps, "warmup": warmup,
                       "chunk_size": chunk_size})
    size = genomes.kind.shape[0]
    finite, biggest, change = np.ones(size, bool), np.ones(size, np.float32), np.ones(size, np.float32)
    losses, before = np.zeros((size, 2, N_LR), np.float32), np.zeros((size, 2, N_LR), np.float32)
    for i, v in self.rows.items():
      i = int(i[1:])
      finite[i] = v.get("finite", True)
      biggest[i] = v.get("biggest", 1.0)
      change[i] = v.get("change", 1.0)
      losses[i] = v.get("losses", 0.0)
      before[i] = v.get("before", 0.0)
    return finite, biggest, change, losses, before


def _check(monkeypatch, genomes, planted=None, **kw):
  planted = planted or Planted()
  monkeypatch.setattr(integrity, "numeric_checks", planted)
  return G.check_integrity(G.stack(genomes) if isinstance(genomes, list) else genomes, **kw), planted


def _distinct(n, spec=SPEC):
  """n genomes with different canonical hashes that pass the host checks (the root reads h0, h0 reads the
  gradient-dependent operand k)."""
  grad = np.flatnonzero(integrity.gradient_operands(spec))
  out = []
  for k in grad[:n]:
    g = to_numpy(G.known("sgd", spec))
    g.inputs[0, 0] = k
    out.append(g)
  assert len({G.canonical_hash(g, spec) for g in out}) == n
  return out


def _losses(as_is, flipped):
  """[2, lr] losses: 0 (halved) at the learning rates listed, 10 elsewhere."""
  out = np.full((2, N_LR), 10.0, np.float32)
  out[0, list(as_is)] = 0.0
  out[1, list(flipped)] = 0.0
  return out


FIELDS = [("unary", (0,), len(SPEC.unary)), ("binary", (5,), len(SPEC.binary)), ("kind", (1,), 2),
          ("decay_unary", (2, 1, 0), len(SPEC.decay_unary)), ("decay_binary", (4, 0, 1), len(SPEC.decay_binary)),
          ("decay_inputs", (3, 1, 1, 0), len(SPEC.decay_operands) + 1), ("momentum", (), len(SPEC.momentum_types)),
          ("schedule", (), len(SPEC.schedules)), ("flip", (), 2)]


@pytest.mark.parametrize("field, index, size", FIELDS)
def test_a_field_outside_its_table_is_malformed_at_both_ends_and_its_last_entry_is_not(monkeypatch, field, index,
                                                                                       size):
  pop = []
  for value in (-1, size, size - 1, 0):
    g = to_numpy(G.known("adam"))
    getattr(g, field)[index] = value
    pop.append(g)
  result, planted = _check(monkeypatch, pop)
  names = result.reason_names()
  assert names[0] == names[1] == "malformed" and "malformed" not in names[2:]
  assert not result.passed[:2].any()
  assert set(planted.calls[0]["todo"]) <= {2, 3}  # malformed genomes never reach the numeric checks


def test_each_node_reads_only_vertices_before_it_and_only_its_used_inputs_are_checked(monkeypatch):
  n_op = SPEC.num_operands
  cases = {}
  for name, (node, slot, value) in {"h0 reads itself": (0, 0, n_op), "h0 reads -1": (0, 0, -1),
                                    "h2 reads h2": (2, 0, n_op + 2), "root reads past h4": (5, 0, n_op + 5),
                                    "h1 reads h0": (1, 0, n_op), "root reads h4": (5, 0, n_op + 4),
                                    "unused second input of a unary node": (0, 1, 999)}.items():
    g = to_numpy(G.known("adam"))
    g.inputs[node, slot] = value
    cases[name] = g
  binary = to_numpy(G.known("adamw"))  # its root is binary: the second input is read, and checked
  binary.inputs[5, 1] = n_op + 5
  cases["second input of a binary node past the table"] = binary
  result, _ = _check(monkeypatch, list(cases.values()))
  got = dict(zip(cases, result.reason_names()))
  assert {k for k, v in got.items() if v == "malformed"} == {
      "h0 reads itself", "h0 reads -1", "h2 reads h2", "root reads past h4",
      "second input of a binary node past the table"}, got


def test_a_malformed_population_member_is_named_and_the_others_are_judged_as_usual(monkeypatch):
  pop = _distinct(3)
  pop[1].unary[0] = 999
  result, planted = _check(monkeypatch, pop)
  assert result.reason_names() == ["ok", "malformed", "ok"] and result.passed.tolist() == [True, False, True]
  assert planted.calls[0]["todo"] == [0, 2]


def test_no_gradient_is_a_library_check_only(monkeypatch):
  blind = to_numpy(G.known("sgd"))
  blind.inputs[0, 0] = np.flatnonzero(~integrity.gradient_operands(SPEC))[0]
  result, planted = _check(monkeypatch, [blind, *_distinct(1)])
  assert result.reason_names() == ["no_gradient", "ok"] and planted.calls[0]["todo"] == [1]
  nos_blind = to_numpy(G.known("sgd", NOS))
  nos_blind.inputs[0, 0] = np.flatnonzero(~integrity.gradient_operands(NOS))[0]
  result, planted = _check(monkeypatch, [nos_blind], spec=NOS)
  assert result.reason_names() == ["ok"] and planted.calls[0]["todo"] == [0]


def test_duplicates_of_earlier_members_or_of_seen_hashes_and_the_first_copy_is_kept(monkeypatch):
  a, b, c = _distinct(3)
  result, planted = _check(monkeypatch, [a, b, a, c, b], seen={G.canonical_hash(c)})
  assert result.reason_names() == ["ok", "ok", "duplicate", "duplicate", "duplicate"]
  assert planted.calls[0]["todo"] == [0, 1]
  bad = to_numpy(G.known("sgd"))
  bad.kind[0] = 7
  result, _ = _check(monkeypatch, [bad, bad, a])  # malformed members have no hash: malformed, not duplicates
  assert result.reason_names() == ["malformed", "malformed", "ok"]


def test_the_numeric_checks_reject_in_order_at_their_thresholds(monkeypatch):
  pop = _distinct(12)
  planted = Planted(
      r0={"finite": False, "biggest": 1e9, "change": 0.0},  # nonfinite first
      r1={"biggest": 1e6 * 1.0001},  # above max_update
      r2={"biggest": 1e6},  # at max_update: not exploding
      r3={"biggest": 0.0, "change": 0.0},  # zero before constant
      r4={"biggest": 1e-30},  # tiny but not zero
      r5={"change": 0.0},
      r6={"change": 1e-30},
      r7={"losses": np.full((2, N_LR), 3.5)},  # at descent_loss: not below it
      r8={"losses": _losses([5], [])},  # one learning rate is enough
      r9={"biggest": 2e6, "losses": np.full((2, N_LR), 9.0)},  # exploding before no_descent
      r10={"losses": np.full((2, N_LR), 3.4999)},
      r11={"losses": _losses([], [0])})  # only flipped: passes
  result, _ = _check(monkeypatch, pop, planted)
  assert result.reason_names() == ["nonfinite", "exploding", "ok", "zero", "ok", "constant", "ok", "no_descent", "ok",
                                   "exploding", "ok", "ok"]
  assert result.passed.tolist() == [n == "ok" for n in result.reason_names()]
  result, _ = _check(monkeypatch, pop, planted, max_update=2e6, descent_loss=3.6)  # the options move the thresholds
  names = result.reason_names()
  assert names[1] == "ok" and names[7] == "ok" and names[9] == "no_descent"  # r9: not above 2e6, then its descent
  result, _ = _check(monkeypatch, pop, planted, descent=False)
  assert result.reason_names()[7] == "ok" and result.reason_names()[0] == "nonfinite"


def test_the_library_descent_test_flips_the_update_only_when_the_flipped_one_alone_descends(monkeypatch):
  pop = _distinct(6)
  pop[3].flip[...] = 1
  pop[4].flip[...] = 1
  pop[5].flip[...] = 1
  planted = Planted(r0={"losses": _losses([1], [2])},  # both: kept as is
                    r1={"losses": _losses([], [3])},  # flipped only: flip 0 -> 1
                    r2={"losses": _losses([], []), "biggest": 0.0},  # rejected earlier: flip untouched
                    r3={"losses": _losses([], [0])},  # flipped only, inherited flip 1 -> 0
                    r4={"losses": _losses([], [])},  # neither: no_descent, flip untouched
                    r5={"losses": _losses([0], [])})
  result, _ = _check(monkeypatch, pop, planted)
  assert result.reason_names() == ["ok", "ok", "zero", "ok", "no_descent", "ok"]
  assert np.asarray(result.genomes.flip).tolist() == [0, 1, 0, 0, 1, 1]
  blocked = Planted(r1={"losses": _losses([], [3]), "change": 0.0})  # flipped would pass, but constant came first
  result, _ = _check(monkeypatch, pop[:2], blocked)
  assert result.reason_names() == ["ok", "constant"] and np.asarray(result.genomes.flip).tolist() == [0, 0]


def test_the_authors_check_reads_the_loss_before_the_last_update_and_only_ever_sets_the_flip(monkeypatch):
  pop = _distinct(7, NOS)
  for i in (3, 4, 5):
    pop[i].flip[...] = 1
  high = np.full((2, N_LR), 10.0)
  planted = Planted(
      r0={"before": _losses([2], []), "losses": high},  # unflipped passes (the loss after is not read)
      r1={"before": _losses([], [4]), "losses": np.zeros((2, N_LR))},  # only flipped: flip set to 1
      r2={"before": high, "losses": np.zeros((2, N_LR)), "finite": False, "biggest": 0.0},  # neither: no_descent
      r3={"before": _losses([], [0])},  # flip 1: index 1 is the unflipped run, it passes: the flip stays 1
      r4={"before": _losses([0], [])},  # flip 1: only the flipped (index 0) passes: stays 1
      r5={"before": _losses([0], [0])},
      r6={"before": np.full((2, N_LR), 3.5)})  # at descent_loss: fails
  result, _ = _check(monkeypatch, pop, planted, spec=NOS)
  assert result.reason_names() == ["ok", "ok", "no_descent", "ok", "ok", "ok", "no_descent"]
  assert np.asarray(result.genomes.flip).tolist() == [0, 1, 0, 1, 1, 1, 0]
  result, _ = _check(monkeypatch, pop, planted, spec=NOS, descent=False)  # no descent test: nothing else is checked
  assert result.reason_names() == ["ok"] * 7 and np.asarray(result.genomes.flip).tolist() == [0, 0, 0, 1, 1, 1, 0]


def test_a_single_genome_gives_scalars_and_the_options_reach_the_numeric_checks(monkeypatch):
  (g,) = _distinct(1)
  result, planted = _check(monkeypatch, g, Planted(r0={"change": 0.0}), key=7, steps=20, warmup=3, chunk_size=8)
  assert result.passed.shape == () and not result.passed and result.reason_names() == ["constant"]
  assert int(result.reason) == G.REASONS.index("constant") and np.asarray(result.genomes.kind).shape == (6,)
  call = planted.calls[0]
  assert (call["steps"], call["warmup"], call["chunk_size"], call["spec"]) == (20, 3, 8, SPEC)
  np.testing.assert_array_equal(jax.random.key_data(call["key"]) if jax.dtypes.issubdtype(
      call["key"].dtype, jax.dtypes.prng_key) else call["key"], jax.random.PRNGKey(7))
  key = jax.random.PRNGKey(3)
  _, planted = _check(monkeypatch, g, key=key)
  assert planted.calls[0]["key"] is key
  _, planted = _check(monkeypatch, g)
  call = planted.calls[0]
  assert (call["steps"], call["warmup"], call["chunk_size"]) == (35, 6, 64)
  np.testing.assert_array_equal(call["key"], jax.random.PRNGKey(0))
  assert result.genomes.flip.dtype == np.int32
  result, _ = _check(monkeypatch, _distinct(2))
  assert result.reason.dtype == np.int32 and result.passed.dtype == bool  # indices into REASONS, as documented
  assert G.REASONS[result.reason[0]] == "ok"


def test_numeric_checks_give_the_rows_not_checked_values_that_fail_nothing():
  pop = G.stack(_distinct(3))
  finite, biggest, change, losses, before = integrity.numeric_checks(pop, np.array([], int), SPEC,
                                                                       jax.random.PRNGKey(0))
  assert finite.tolist() == [True] * 3 and biggest.tolist() == [1.0] * 3 and change.tolist() == [1.0] * 3
  assert losses.shape == before.shape == (3, 2, N_LR) and not losses.any() and not before.any()
  # float32 like the program's: the fingerprints hash these numbers' bytes
  assert finite.dtype == bool and {a.dtype for a in (biggest, change, losses, before)} == {np.dtype(np.float32)}


def test_the_returned_population_is_int32_and_malformed_members_are_neutralised_before_the_host_checks(monkeypatch):
  pop = G.stack(_distinct(2))
  wide = G.Genome(*(np.asarray(x, np.int64) for x in pop))
  result, _ = _check(monkeypatch, wide)
  assert all(np.asarray(x).dtype == np.int32 for x in result.genomes) and result.reason_names() == ["ok", "ok"]
  far = to_numpy(G.known("adamw"))
  far.inputs[5, 1] = 10**6  # read by the binary root, far outside every table: no host check may index with it
  far.kind[0] = 5
  result, _ = _check(monkeypatch, [far, *_distinct(1)])
  assert result.reason_names() == ["malformed", "ok"]


def test_reason_names_and_the_gradient_operands():
  result = integrity.IntegrityResult(np.array([[True, False]]), np.array([[0, 8]]), None)
  assert result.reason_names() == ["ok", "no_descent"]
  mask = integrity.gradient_operands(SPEC)
  names = [o.name for o in SPEC.operands]
  # exactly the weight-decay operands read neither g nor a buffer ("1" and "2" are ones_like(g): counted as reading
  # g, so u = 1 is rejected as "constant" by the probes rather than as "no_gradient" on the host)
  assert {n for n, m in zip(names, mask) if not m} == {"1e-6w", "1e-5w", "1e-4w", "1e-3w"}
  nos_names = [o.name for o in NOS.operands]
  nos_mask = integrity.gradient_operands(NOS)
  assert sum(nos_mask) == 16 and "g" in {n for n, m in zip(nos_names, nos_mask) if m}
  assert integrity._names("a + b_prev * sqrt(g)") == {"a", "b_prev", "sqrt", "g"}  # pylint: disable=protected-access


def test_the_fingerprints_numeric_checks_share_the_integrity_checks_program():
  """behaviour_fingerprints calls numeric_checks with its defaults: they are check_integrity's (35 steps, warmup 6,
  chunks of 64), so both use one compiled program."""
  import inspect  # pylint: disable=import-outside-toplevel
  numeric = inspect.signature(integrity.numeric_checks).parameters
  check = inspect.signature(G.check_integrity).parameters
  for name, value in (("steps", 35), ("warmup", 6), ("chunk_size", 64)):
    assert numeric[name].default == check[name].default == value, name
