"""Decisions of `optix_evo.graph.spec`: which spaces are refused (and with which message), the derived sizes, the
index look-up and the named spaces. Pure Python: no compilation."""

import dataclasses

import pytest

from optix_evo.errors import InputError
from optix_evo.graph import ops
from optix_evo.graph.spec import DEFAULT_SPEC, EXTENDED_SPEC, NOS_SPEC, SPACES, GenomeSpec, get_space

_TABLES = ("operands", "unary", "binary", "decay_operands", "decay_unary", "decay_binary", "schedules",
           "momentum_types")


@pytest.mark.parametrize("name", ["", None, 3])
def test_a_space_needs_a_non_empty_string_name(name):
  with pytest.raises(InputError) as e:
    dataclasses.replace(NOS_SPEC, name=name)
  assert str(e.value) == f"GenomeSpec.name must be a non-empty string, got {name!r}."
  assert dataclasses.replace(NOS_SPEC, name="x").name == "x"  # one character is enough


@pytest.mark.parametrize("field", _TABLES)
def test_every_table_but_the_buffers_refuses_a_duplicate_name(field):
  table = getattr(NOS_SPEC, field)
  doubled = table + (table[-1],)
  names = [e.name for e in doubled]
  with pytest.raises(InputError) as e:
    dataclasses.replace(NOS_SPEC, **{field: doubled})
  assert str(e.value) == f"GenomeSpec.{field} has duplicate names: {names}."
  # the same table without the duplicate is accepted (the last entry is never the checked first entry)
  assert getattr(dataclasses.replace(NOS_SPEC, **{field: table}), field) == table


def test_a_duplicate_buffer_name_is_not_refused():
  assert len(dataclasses.replace(NOS_SPEC, buffers=NOS_SPEC.buffers + NOS_SPEC.buffers[:1]).buffers) == 7


@pytest.mark.parametrize("field, first, message", [
    ("unary", "id", "The first unary op (of the update and of the decay tables) must be the identity 'id'."),
    ("decay_unary", "id", "The first unary op (of the update and of the decay tables) must be the identity 'id'."),
    ("schedules", "constant", "The first schedule must be 'constant'."),
    ("momentum_types", "none", "The first momentum type must be 'none'."),
])
def test_the_first_entry_of_each_table_with_a_neutral_entry_is_that_entry(field, first, message):
  table = getattr(EXTENDED_SPEC, field)
  assert table[0].name == first
  rotated = table[1:] + table[:1]  # same names, the neutral one last
  with pytest.raises(InputError) as e:
    dataclasses.replace(EXTENDED_SPEC, **{field: rotated})
  assert str(e.value) == message


@pytest.mark.parametrize("rules", ["library", "nos"])
def test_the_two_rule_sets_are_accepted(rules):
  assert dataclasses.replace(NOS_SPEC, rules=rules).rules == rules


@pytest.mark.parametrize("rules", ["Library", "", "authors"])
def test_other_rules_are_refused(rules):
  with pytest.raises(InputError) as e:
    dataclasses.replace(NOS_SPEC, rules=rules)
  assert str(e.value) == f"GenomeSpec.rules must be 'library' or 'nos', got {rules!r}."


def test_one_hidden_node_is_the_smallest_space():
  assert dataclasses.replace(NOS_SPEC, num_hidden=1).num_nodes == 2
  for n in (0, -1):
    with pytest.raises(InputError) as e:
      dataclasses.replace(NOS_SPEC, num_hidden=n)
    assert str(e.value) == f"num_hidden must be >= 1, got {n}."


@pytest.mark.parametrize("probs", [(0.5, 0.5, 0, 0, 0), (0.4, 0.3, 0.1, 0.1, 0.1, 0.0, 0.0),
                                   (0.4, 0.3, 0.1, 0.1, 0.1, 0.1), (0.4, 0.3, 0.1, 0.1, 0.1, -2e-9),
                                   (0.4, 0.3, 0.1, 0.1, 0.1, 2e-9)])
def test_mutation_probabilities_are_six_that_sum_to_one(probs):
  with pytest.raises(InputError) as e:
    dataclasses.replace(NOS_SPEC, mutation_probs=probs)
  assert str(e.value) == f"mutation_probs must be 6 probabilities summing to 1, got {probs}."


@pytest.mark.parametrize("probs", [(0.4, 0.3, 0.1, 0.1, 0.1, 5e-10), (0.4, 0.3, 0.1, 0.1, 0.1, -5e-10),
                                   (1.0, 0, 0, 0, 0, 0)])
def test_rounding_within_a_billionth_is_accepted(probs):
  assert dataclasses.replace(NOS_SPEC, mutation_probs=probs).mutation_probs == probs


def test_mutation_unary_is_none_or_between_2_and_the_table_size():
  n = len(NOS_SPEC.unary)
  for ok in (None, 2, n):
    assert dataclasses.replace(NOS_SPEC, mutation_unary=ok).mutation_unary == ok
  for bad in (1, 0, n + 1):
    with pytest.raises(InputError) as e:
      dataclasses.replace(NOS_SPEC, mutation_unary=bad)
    assert str(e.value) == f"mutation_unary must be None or in [2, {n}], got {bad}."


def test_an_operand_may_read_only_known_buffers():
  reader = ops.Operand("x", "v", "x", "x", buffers=("v", "nope"))
  with pytest.raises(InputError) as e:
    dataclasses.replace(NOS_SPEC, operands=NOS_SPEC.operands + (reader,))
  known = sorted(b.name for b in NOS_SPEC.buffers)
  assert str(e.value) == f"Operand 'x' reads buffers ('v', 'nope'), not all in {known}."
  fine = ops.Operand("x", "v", "x", "x", buffers=("v", "lion_m"))
  assert dataclasses.replace(NOS_SPEC, operands=NOS_SPEC.operands + (fine,)).num_operands == 21
  every = ops.Operand("x", "v", "x", "x", buffers=tuple(b.name for b in NOS_SPEC.buffers))  # all of them is fine
  assert dataclasses.replace(NOS_SPEC, operands=NOS_SPEC.operands + (every,)).num_operands == 21


def test_the_repr_gives_the_table_sizes():
  assert repr(NOS_SPEC) == ("GenomeSpec('nos', operands=20, unary=26, binary=10, decay_operands=14, decay_unary=13, "
                            "decay_binary=7, schedules=1, momentum_types=3, buffers=6, num_hidden=5)")
  assert repr(dataclasses.replace(EXTENDED_SPEC, num_hidden=2)) == (
      "GenomeSpec('extended', operands=24, unary=27, binary=10, decay_operands=14, decay_unary=13, decay_binary=7, "
      "schedules=11, momentum_types=4, buffers=6, num_hidden=2)")


def test_derived_sizes():
  for spec, operands in ((NOS_SPEC, 20), (EXTENDED_SPEC, 24)):
    assert spec.num_operands == operands
    for h in (1, 5, 7):
      s = dataclasses.replace(spec, num_hidden=h)
      assert (s.num_nodes, s.num_vertices) == (h + 1, operands + h)


def test_used_buffers_are_the_ones_some_operand_reads_in_table_order():
  assert [b.name for b in NOS_SPEC.used_buffers] == ["v", "s", "lam"]
  assert [b.name for b in EXTENDED_SPEC.used_buffers] == ["v", "s", "lam", "nu", "r", "lion_m"]
  g_only = dataclasses.replace(NOS_SPEC, operands=NOS_SPEC.operands[:3])  # g, g^2, g^3
  assert g_only.used_buffers == ()
  s_only = dataclasses.replace(NOS_SPEC, operands=(NOS_SPEC.operands[4],))  # s_hat
  assert [b.name for b in s_only.used_buffers] == ["s"]


def test_a_space_is_stateful_when_some_unary_op_keeps_state():
  assert NOS_SPEC.stateful and EXTENDED_SPEC.stateful
  stateless = tuple(op for op in NOS_SPEC.unary if op.state is None)
  assert len(stateless) == len(NOS_SPEC.unary) - 3
  assert not dataclasses.replace(NOS_SPEC, unary=stateless, mutation_unary=None).stateful
  one = tuple(op for op in NOS_SPEC.unary if op.state is None or op.name == "ema")
  assert dataclasses.replace(NOS_SPEC, unary=one, mutation_unary=None).stateful


def test_a_space_has_momentum_unless_its_only_type_is_none():
  assert NOS_SPEC.has_momentum and EXTENDED_SPEC.has_momentum
  assert not dataclasses.replace(NOS_SPEC, momentum_types=NOS_SPEC.momentum_types[:1]).has_momentum
  assert dataclasses.replace(NOS_SPEC, momentum_types=NOS_SPEC.momentum_types[:2]).has_momentum


def test_index_finds_first_middle_and_last_entries():
  for table in _TABLES + ("buffers",):
    entries = getattr(EXTENDED_SPEC, table)
    for i in {0, len(entries) // 2, len(entries) - 1}:
      assert EXTENDED_SPEC.index(table, entries[i].name) == i
  assert NOS_SPEC.index("unary", "tanh") == 12


def test_index_of_an_unknown_entry_names_the_table_space_and_known_entries():
  with pytest.raises(InputError) as e:
    NOS_SPEC.index("momentum_types", "adam")
  assert str(e.value) == ("Unknown momentum_types entry 'adam' in the 'nos' space. Known: none, momentum, "
                          "nesterov_nos.")


def test_named_spaces():
  assert SPACES == {"nos": NOS_SPEC, "extended": EXTENDED_SPEC}
  assert get_space("nos") is NOS_SPEC and get_space("extended") is EXTENDED_SPEC
  assert DEFAULT_SPEC is EXTENDED_SPEC
  for bad in ("NOS", "default", ""):
    with pytest.raises(InputError) as e:
      get_space(bad)
    assert str(e.value) == f"Unknown genome space {bad!r}. Known spaces: nos, extended."
