"""Decisions of ``optix_evo.search.checkpoint`` that change what a resumed run restores or refuses: which arrays of a
stored state ``check_state_arrays`` accepts (shape, dtype, population length, valid genomes, fitness vectors) and the
exact line it refuses with; which values the format stores and how they come back (types kept exactly)."""

import dataclasses
import io
import json
import re
import zipfile

import numpy as np
import pytest

import optix_evo as ox
from optix_evo.errors import InputError
from optix_evo.search import checkpoint as ck

SPACE = "extended"


def _population(names=("adam", "lion")):
  return {k: np.asarray(v) for k, v in ox.search.ga.stack([ox.graph.known(n) for n in names])._asdict().items()}


def _refusal(where, array, expected, source="the checkpoint"):
  return re.escape(f"{source}: {where} has shape {array.shape} and dtype {array.dtype}, expected {expected}; the file "
                   "was changed or is corrupt. Resume from an intact copy or start afresh in a new folder.")


def test_an_intact_population_and_fitness_are_accepted_with_or_without_the_expected_size():
  pop = _population()
  state = {"ga": {"particles": pop, "fitness": np.array([0.5, -1.0])}, "archive": [{"score": np.float32(1.0)}]}
  ck.check_state_arrays(state, space=SPACE, population=2)
  ck.check_state_arrays(state, space=SPACE)  # the stored size (momentum's length) is taken
  ck.check_state_arrays([{"particles": pop}], space=SPACE)
  ck.check_state_arrays({"fitness": np.zeros(7)}, space=SPACE)  # no population to compare with: any length


@pytest.mark.parametrize("field", ["kind", "inputs", "decay_kind", "momentum", "decay_memory"])
def test_every_genome_field_of_another_dtype_is_refused_naming_it(field):
  pop = _population()
  pop[field] = pop[field].astype(np.int64)
  shape = ck._expected_genome_fields(ox.graph.get_space(SPACE))[field]
  with pytest.raises(InputError, match="^" + _refusal(f"ga/particles/{field}", pop[field],
                                                       f"shape {(2, *shape)} and dtype int32 (a population of "
                                                       f"'{SPACE}' genomes)") + "$"):
    ck.check_state_arrays({"ga": {"particles": pop}}, space=SPACE, population=2)


def test_a_population_of_another_size_than_the_configured_one_is_refused():
  pop = _population(("adam", "lion", "rmsprop"))
  with pytest.raises(InputError, match="^" + _refusal("ga/particles/kind", pop["kind"], "shape (2, 6) and dtype int32 "
                                                      f"(a population of '{SPACE}' genomes)", "the file x")):
    ck.check_state_arrays({"ga": {"particles": pop}}, space=SPACE, population=2, source="the file x")
  ck.check_state_arrays({"ga": {"particles": pop}}, space=SPACE, population=3)


def test_a_field_reshaped_within_the_population_is_refused():
  pop = _population()
  pop["inputs"] = pop["inputs"][:, :, ::-1].copy()  # same shape: accepted (a valid genome? checked below)
  pop["decay_on"] = pop["decay_on"].reshape(2, 2, 6)
  with pytest.raises(InputError, match=re.escape("ga/particles/decay_on has shape (2, 2, 6)")):
    ck.check_state_arrays({"ga": {"particles": pop}}, space=SPACE)


def test_a_two_dimensional_momentum_leaves_the_size_unknown_and_is_refused():
  pop = _population()
  pop["momentum"] = pop["momentum"].reshape(2, 1)
  with pytest.raises(InputError, match="^" + _refusal("p/kind", pop["kind"], f"shape ('P', 6) and dtype int32 (a "
                                                      f"population of '{SPACE}' genomes)")):
    ck.check_state_arrays({"p": pop}, space=SPACE)


def test_an_invalid_genome_of_the_right_shapes_is_refused_naming_its_place():
  pop = _population()
  pop["kind"] = np.full_like(pop["kind"], 99)
  with pytest.raises(InputError, match=r"^the checkpoint: s\[1\]/particles: .+ The file was changed or is corrupt\.$"):
    ck.check_state_arrays({"s": [{}, {"particles": pop}]}, space=SPACE, population=2)
  with pytest.raises(InputError, match=r"^the checkpoint: .+ The file was changed or is corrupt\.$"):
    ck.check_state_arrays(pop, space=SPACE)  # at the top: no place before the message


def test_a_dict_with_the_genome_fields_but_a_non_array_is_not_a_population():
  pop = _population()
  pop["kind"] = pop["kind"].tolist()
  ck.check_state_arrays({"p": pop}, space=SPACE, population=5)  # not all arrays: walked as an ordinary dict
  pop = _population()
  pop["extra"] = np.zeros(2, np.int32)  # another key: an ordinary dict, not a population
  ck.check_state_arrays({"p": pop}, space=SPACE, population=5)


@pytest.mark.parametrize("fitness, n", [(np.zeros(2, np.int32), 2), (np.zeros((2, 1)), 2), (np.zeros(3), 2),
                                        (np.zeros(1, np.float32), 2)])
def test_a_fitness_that_is_not_a_float_vector_of_the_populations_length_is_refused(fitness, n):
  with pytest.raises(InputError, match="^" + _refusal("ga/fitness", fitness,
                                                      f"a float vector of the population's length ({n})")):
    ck.check_state_arrays({"ga": {"particles": _population(), "fitness": fitness}}, space=SPACE)
  with pytest.raises(InputError, match=re.escape(f"the population's length ({n})")):
    ck.check_state_arrays({"ga": {"fitness": fitness}}, space=SPACE, population=n)


def test_the_stored_length_is_read_from_the_particles_only_when_their_momentum_is_a_vector():
  pop = _population()
  pop["momentum"] = pop["momentum"].reshape(2, 1)
  fitness = np.zeros(5)
  with pytest.raises(InputError, match=re.escape("the population's length (None)")):
    ck.check_state_arrays({"ga": {"fitness": np.zeros((5, 1)), "particles": pop}}, space=SPACE)
  with pytest.raises(InputError, match=re.escape("ga/particles/kind")):  # the length is unknown, not 5 or 2
    ck.check_state_arrays({"ga": {"fitness": fitness, "particles": pop}}, space=SPACE)


def test_a_fitness_entry_that_is_not_an_array_is_walked_not_checked():
  ck.check_state_arrays({"ga": {"particles": _population(), "fitness": [0.0, 1.0, 2.0]}}, space=SPACE)
  with pytest.raises(InputError, match=re.escape("ga/fitness/x/particles/kind")):
    ck.check_state_arrays({"ga": {"fitness": {"x": {"particles": _population(("adam",))}}}}, space=SPACE,
                          population=2)


def test_scalars_and_containers_come_back_with_their_exact_types():
  state = {"i": 3, "f": 2.5, "b": True, "n": None, "s": "x", "t": (1, [2, (3,)]), "l": [],
           "g": np.float32(1.5), "k": np.int64(-2), "a": np.arange(3, dtype=np.uint8), "nan": float("nan"),
           "c": np.complex64(1 + 2j), "z": np.zeros((0, 2), np.bool_)}
  back = ck.decode_checkpoint(ck.encode_checkpoint(state))
  assert list(back) == list(state)
  for key in state:
    assert type(back[key]) is type(state[key]), key
  assert back["t"] == (1, [2, (3,)]) and type(back["t"][1][1]) is tuple
  assert back["g"].dtype == np.float32 and back["k"].dtype == np.int64 and back["c"] == np.complex64(1 + 2j)
  assert np.isnan(back["nan"]) and back["a"].dtype == np.uint8 and back["z"].shape == (0, 2)


def test_the_file_layout_is_the_documented_one():
  data = ck.encode_checkpoint({"a": np.arange(2), "t": (np.float64(1.0),)})
  with zipfile.ZipFile(io.BytesIO(data)) as zf:
    assert sorted(zf.namelist()) == ["a0.npy", "a1.npy", "checkpoint.npy"]
    assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    meta = json.loads(np.load(io.BytesIO(zf.read("checkpoint.npy"))).tobytes().decode("utf-8"))
    assert np.load(io.BytesIO(zf.read("a1.npy"))).shape == ()
  assert meta == {"format": "optix_evo.checkpoint", "version": 1, "arrays": 2,
                  "tree": {"dict": {"a": {"array": 0}, "t": {"tuple": [{"scalar": 1}]}}}}


@pytest.mark.parametrize("value, where", [
    ({1: 2}, "the dict at state['x']: its keys must be str, got 1"),
    (np.array(["a"]), "the <U1 array at state['x']"),
    (np.zeros(1, [("a", "f4")]), "the [('a', '<f4')] array at state['x']: only boolean and numeric dtypes are "
                                 "stored (convert it, e.g. bfloat16 to float32)."),
    (object(), "the object at state['x']"),
    (b"x", "the bytes at state['x']"),
    (np.array([None]), "the object array at state['x']"),
    (2j, "the complex at state['x']: a state holds only dicts (str keys), lists, tuples, str, int, float, bool, "
          "None, NumPy arrays and NumPy scalars; convert it first."),
])
def test_each_unsupported_value_is_refused_where_it_is(value, where):
  with pytest.raises(TypeError, match=re.escape(f"cannot checkpoint {where}")):
    ck.encode_checkpoint({"x": value})


def test_fill_defaults_uses_the_default_factory_and_names_what_it_reads():
  import dataclasses  # pylint: disable=import-outside-toplevel

  @dataclasses.dataclass
  class C:
    a: int
    b: list = dataclasses.field(default_factory=lambda: [1])
    c: int = 0

  assert ck.fill_defaults(C, {"a": 5}) == {"a": 5, "b": [1], "c": 0}
  assert ck.fill_defaults(C, {"a": 5, "c": 2}) == {"a": 5, "b": [1], "c": 2}
  with pytest.raises(InputError, match=re.escape("run.json has setting(s) ['d', 'e'] that C does not know (written by "
                                                 "another version of optix_evo?). Known settings: a, b, c.")):
    ck.fill_defaults(C, {"a": 1, "e": 2, "d": 3}, what="run.json")
  with pytest.raises(InputError, match=re.escape("run.json lacks the C setting 'a', which has no default; it cannot "
                                                 "be read.")):
    ck.fill_defaults(C, {}, what="run.json")


# --- SearchState: what a resumed run restores -------------------------------------------------------------------------

def _state(**kw):
  from optix_evo.search.state import SearchState  # pylint: disable=import-outside-toplevel
  return SearchState(**{"config": {"particles": 2}, "phase": "elimination", "strategy": {"ga": 1}, **kw})


def test_the_phases_and_the_format():
  from optix_evo.search import state as st  # pylint: disable=import-outside-toplevel
  assert st.PHASES == ("search", "elimination", "final", "done")
  assert st.STATE_FORMAT == "optix_evo.search_state/2"
  for phase in st.PHASES:
    assert _state(phase=phase).phase == phase
  with pytest.raises(ValueError, match="^" + re.escape("Unknown search phase 'Done'; one of ('search', 'elimination', "
                                                       "'final', 'done').") + "$"):
    _state(phase="Done")


def test_a_fresh_state_starts_the_search_with_its_warm_start_and_zero_timing():
  from optix_evo.search.state import SearchState  # pylint: disable=import-outside-toplevel
  state = SearchState.fresh({"a": 1}, {"g": 0}, ["adam", "lion"])
  assert (state.config, state.phase, state.strategy, state.warm_start) == ({"a": 1}, "search", {"g": 0},
                                                                          ("adam", "lion"))
  assert (state.archive, state.generations, state.stages, state.rank_correlation, state.final,
          state.history_lines, state.format) == ((), (), (), None, None, 0, "optix_evo.search_state/2")
  assert state.timing == {"wall_s": 0.0, "cpu_s": 0.0, "programs": 0, "compiled": 0, "cache_hits": 0,
                          "compile_s": 0.0, "trace_s": 0.0, "lower_s": 0.0, "cache_load_s": 0.0, "sessions": 0,
                          "compile_wait_s": 0.0, "training": {}}
  assert SearchState.fresh({}, {}).warm_start == ()
  assert state.best == float("-inf")


def test_to_dict_and_from_dict_restore_every_field_through_a_checkpoint_file(tmp_path):
  from optix_evo.search.state import SearchState  # pylint: disable=import-outside-toplevel
  state = _state(archive=({"f": 0.5},), generations=({"best": 0.25}, {"best": 0.75}, {"best": 0.5}),
                 stages=({"s": 1},), rank_correlation={"rho": 0.5}, final={"t": 1}, history_lines=7,
                 timing={**_state().timing, "wall_s": 3.5, "sessions": 2, "compile_wait_s": 0.5,
                         "training": {"mnist1d_mlp": {"train_s": 2.5, "steps": 800, "runs": 4}}}, warm_start=("adam",))
  d = state.to_dict()
  assert set(d) == {f.name for f in dataclasses.fields(SearchState)}
  for name in ("archive", "generations", "stages", "warm_start"):
    assert type(d[name]) is list, name
  assert type(d["timing"]) is dict and d["timing"] is not state.timing
  assert d["timing"]["training"] == state.timing["training"] and d["timing"]["training"] is not state.timing["training"]
  assert d["timing"]["training"]["mnist1d_mlp"] is not state.timing["training"]["mnist1d_mlp"]  # each task's own copy
  ck.save_checkpoint(tmp_path / "c.npz", d)
  back = SearchState.from_dict(ck.load_checkpoint(tmp_path / "c.npz"))
  assert back == state and back.best == 0.75
  for name in ("archive", "generations", "stages", "warm_start"):
    assert type(getattr(back, name)) is tuple, name


def test_an_older_state_takes_the_defaults_and_its_timing_keeps_what_it_had():
  from optix_evo.search.state import SearchState  # pylint: disable=import-outside-toplevel
  old = {"config": {}, "phase": "final", "strategy": {}, "generations": [{"best": -0.5}], "timing": {"wall_s": 9.0},
         "unknown_field": 1}
  back = SearchState.from_dict(old)
  assert back.generations == ({"best": -0.5},) and back.best == -0.5 and back.archive == () and back.warm_start == ()
  assert back.timing == {**SearchState.fresh({}, {}).timing, "wall_s": 9.0}
  fresh = SearchState.fresh({}, {}).timing
  assert SearchState.from_dict({"config": {}, "phase": "done", "strategy": {}}).timing == fresh


def _crafted(tree, arrays=()):
  """A checkpoint file whose JSON tree is ``tree`` (arrays ``a0.npy`` ...)."""
  buffer = io.BytesIO()
  meta = json.dumps({"format": ck.FORMAT, "version": ck.VERSION, "arrays": len(arrays), "tree": tree})
  with zipfile.ZipFile(buffer, "w") as zf:
    for name, array in [("checkpoint.npy", np.frombuffer(meta.encode(), np.uint8)),
                        *((f"a{i}.npy", a) for i, a in enumerate(arrays))]:
      with zf.open(name, "w") as f:
        np.lib.format.write_array(f, np.asarray(array))
  return buffer.getvalue()


@pytest.mark.parametrize("entry", [{"dict": {}, "tuple": []}, {"set": [1]}, {"dict": [1]}, {"tuple": {"a": 1}}])
def test_an_unexpected_entry_is_refused_naming_it(entry):
  with pytest.raises(InputError, match="^" + re.escape(
      f"the checkpoint is truncated or corrupt (_Corrupt: unexpected entry {str(entry)[:80]}); it cannot be read. "
      "Resume from an intact copy or start afresh in a new folder.") + "$"):
    ck.decode_checkpoint(_crafted({"dict": {"x": entry}}))


def test_a_scalar_must_be_zero_dimensional_and_references_must_be_in_range():
  with pytest.raises(InputError, match=re.escape("(_Corrupt: scalar 0 has shape (2,))")):
    ck.decode_checkpoint(_crafted({"scalar": 0}, [np.zeros(2)]))
  for ref in (1, -1, True, "0", 0.0):
    with pytest.raises(InputError, match=re.escape(f"array reference {ref!r} is not one of the file's 1 arrays")):
      ck.decode_checkpoint(_crafted({"array": ref}, [np.zeros(2)]))
  assert ck.decode_checkpoint(_crafted({"scalar": 0}, [np.float32(2.0)])) == np.float32(2.0)


def test_fill_defaults_names_the_stored_configuration_by_default():
  @dataclasses.dataclass
  class C:
    a: int

  with pytest.raises(InputError, match=re.escape("the stored configuration has setting(s) ['b']")):
    ck.fill_defaults(C, {"a": 1, "b": 2})
  with pytest.raises(InputError, match=re.escape("the stored configuration lacks the C setting 'a'")):
    ck.fill_defaults(C, {})


def test_the_other_processes_receive_into_a_buffer_of_the_broadcast_size(monkeypatch):
  import jax  # pylint: disable=import-outside-toplevel
  from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel

  payload = ck.encode_checkpoint({"value": {"x": (1, 2.5)}})
  received = []

  def broadcast(x):  # process 1's view: the size first, then the bytes of process 0
    received.append(np.asarray(x))
    if np.ndim(x) == 0:
      return np.int32(len(payload))
    assert np.shape(x) == (len(payload),) and not np.asarray(x).any()
    return np.frombuffer(payload, np.uint8)

  monkeypatch.setattr(jax, "process_count", lambda: 2)
  monkeypatch.setattr(jax, "process_index", lambda: 1)
  monkeypatch.setattr(multihost_utils, "broadcast_one_to_all", broadcast)
  assert ck.broadcast_from_process_zero(lambda: pytest.fail("only process 0 makes the state")) == {"x": (1, 2.5)}
  assert received[0] == 0 and received[1].dtype == np.uint8
  error = ck.encode_checkpoint({"error": "bad file", "input_error": True})
  payload = error
  with pytest.raises(InputError, match="^bad file$"):
    ck.broadcast_from_process_zero(lambda: None)


def test_a_foreign_format_or_version_is_named_in_at_most_40_or_20_characters():
  def meta(**kw):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
      with zf.open("checkpoint.npy", "w") as f:
        np.lib.format.write_array(f, np.frombuffer(json.dumps({"arrays": 0, "tree": None, **kw}).encode(), np.uint8))
    return buffer.getvalue()

  long = "f" * 39 + "XYZ"
  with pytest.raises(InputError, match="^" + re.escape(
      f"x is not an optix_evo checkpoint (its format is '{long[:40]}', not 'optix_evo.checkpoint').") + "$"):
    ck.decode_checkpoint(meta(format=long), source="x")
  with pytest.raises(InputError, match="^" + re.escape("x has checkpoint format version " + "9" * 20 + ", but this "
                                                       "optix_evo reads version 1; use the optix_evo version that "
                                                       "wrote it (or a newer one).") + "$"):
    ck.decode_checkpoint(meta(format=ck.FORMAT, version=int("9" * 25)), source="x")
  for version in (0, 2, "1", 1.0, None):
    with pytest.raises(InputError, match="has checkpoint format version"):
      ck.decode_checkpoint(meta(format=ck.FORMAT, version=version))
  assert ck.decode_checkpoint(meta(format=ck.FORMAT, version=1)) is None
