"""EfficientNetV2: Keras' layout and rounding rules, weight conversion from torchvision and Keras names, the
pretrained-backbone starting point of fine-tuning, and a fine-tuning task trained end to end on tiny files."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fake_image_files import write_flowers
from flax.traverse_util import flatten_dict

from optix_evo import graph, models, tasks
from optix_evo.data import load_flowers102
from optix_evo.errors import InputError
from optix_evo.models.efficientnet import Stage, from_keras, from_torchvision, round_filters, round_repeats
from optix_evo.search.evaluate import Budget, Evaluator
from optix_evo.search.protocol import seed_keys

STAGES = (Stage(3, 1, 8, 8, 1, 0.0, 1, True), Stage(3, 2, 8, 16, 2, 0.0, 2, True),
          Stage(3, 2, 16, 16, 2, 0.25, 1, False))


def tiny(outputs=5, **kwargs):
  return models.EfficientNetV2(outputs=outputs, stages=STAGES, top_filters=16, **kwargs)


@pytest.fixture(scope="module")
def variables():
  return jax.jit(lambda k: tiny().init(k, jnp.zeros((1, 16, 16, 3))))(jax.random.PRNGKey(0))


def test_keras_rounding_rules():
  assert [round_filters(f, 1.0) for f in (24, 48, 64, 128, 160, 256, 1280)] == [24, 48, 64, 128, 160, 256, 1280]
  assert round_filters(24, 0.25) == 8 and round_filters(1280, 0.25) == 320 and round_filters(40, 1.1) == 48
  assert round_repeats(15, 0.1) == 2 and round_repeats(2, 1.0) == 2


def test_layout_follows_keras(variables):
  params = variables["params"]
  assert params["stem_conv"]["kernel"].shape == (3, 3, 3, 8)
  assert "block1a_expand_conv" not in params and params["block1a_project_conv"]["kernel"].shape == (3, 3, 8, 8)
  assert params["block2a_expand_conv"]["kernel"].shape == (3, 3, 8, 16)  # fused: a full k×k expansion, stride 2
  assert params["block2a_project_conv"]["kernel"].shape == (1, 1, 16, 16)
  assert params["block3b_dwconv2"]["kernel"].shape == (3, 3, 1, 32)  # depthwise
  assert params["block3b_se_reduce"]["kernel"].shape == (1, 1, 32, 4)  # max(1, int(16 * 0.25)) squeezed channels
  assert params["top_conv"]["kernel"].shape == (1, 1, 16, 16) and params["predictions"]["kernel"].shape == (16, 5)
  assert set(variables["batch_stats"]) == {k for k in params if k.endswith("bn") or k == "stem_bn" or k.endswith("_bn")}


def test_dropout_and_stochastic_depth_only_in_training(variables):
  x = jax.random.uniform(jax.random.PRNGKey(1), (4, 16, 16, 3)) * 255
  model = tiny()
  train = jax.jit(lambda v, k: model.apply(v, x, train=True, rngs={"dropout": k}, mutable=["batch_stats"])[0])
  assert not np.allclose(train(variables, jax.random.PRNGKey(0)), train(variables, jax.random.PRNGKey(1)))
  infer = jax.jit(lambda v: model.apply(v, x))
  np.testing.assert_array_equal(infer(variables), infer(variables))
  # Inference reads the running averages: one example's logits do not depend on its batch.
  np.testing.assert_allclose(jax.jit(lambda v: model.apply(v, x[:1]))(variables)[0], infer(variables)[0],
                             rtol=1e-4, atol=1e-5)


def _to_torchvision(v, stages):
  """Writes flax variables under torchvision's efficientnet_v2 names (features.S.J.block.K; conv [out, in, kh, kw])."""
  p, s, out = v["params"], v["batch_stats"], {}

  def conv(name, key, bias=False):
    out[f"{key}.weight"] = np.transpose(np.asarray(p[name]["kernel"]), (3, 2, 0, 1))
    if bias:
      out[f"{key}.bias"] = np.asarray(p[name]["bias"])

  def bn(name, key):
    out[f"{key}.weight"], out[f"{key}.bias"] = np.asarray(p[name]["scale"]), np.asarray(p[name]["bias"])
    out[f"{key}.running_mean"], out[f"{key}.running_var"] = np.asarray(s[name]["mean"]), np.asarray(s[name]["var"])
    out[f"{key}.num_batches_tracked"] = np.asarray(0)

  conv("stem_conv", "features.0.0")
  bn("stem_bn", "features.0.1")
  for i, st in enumerate(stages):
    for j in range(st.repeats):
      pre, base = f"block{i + 1}{chr(97 + j)}_", f"features.{i + 1}.{j}.block"
      layers = ([("expand_conv", "expand_bn")] if st.expand != 1 else [])
      if st.fused:
        layers += [("project_conv", "project_bn")]
      else:
        layers += [("dwconv2", "bn"), ("se", None), ("project_conv", "project_bn")]
      for k, (c, b) in enumerate(layers):
        if c == "se":
          conv(pre + "se_reduce", f"{base}.{k}.fc1", True)
          conv(pre + "se_expand", f"{base}.{k}.fc2", True)
        else:
          conv(pre + c, f"{base}.{k}.0")
          bn(pre + b, f"{base}.{k}.1")
  conv("top_conv", f"features.{len(stages) + 1}.0")
  bn("top_bn", f"features.{len(stages) + 1}.1")
  out["classifier.1.weight"] = np.zeros((1000, 16))
  return out


def _same_backbone(converted, variables):
  flat, want = flatten_dict(converted), flatten_dict(jax.tree.map(np.asarray, variables))
  expected = {k: v for k, v in want.items() if k[1] != "predictions"}
  assert set(flat) == set(expected)
  for k, v in expected.items():
    np.testing.assert_array_equal(flat[k], v, err_msg="/".join(k))


def test_torchvision_names_convert(variables):
  _same_backbone(from_torchvision(_to_torchvision(variables, STAGES), tiny()), variables)
  state = _to_torchvision(variables, STAGES)
  del state["features.3.1.block.2.fc1.weight"]
  with pytest.raises(KeyError, match="features.3.1.block.2.fc1.weight"):
    from_torchvision(state, tiny())


def test_keras_names_convert(variables):
  rename = {"kernel": "kernel", "scale": "gamma", "mean": "moving_mean", "var": "moving_variance"}
  weights = {}
  for (collection, layer, name), value in flatten_dict(jax.tree.map(np.asarray, variables)).items():
    keras_name = rename.get(name, "beta" if (collection, name) == ("params", "bias") and "bn" in layer else name)
    if layer.endswith("dwconv2"):
      keras_name, value = "depthwise_kernel", np.transpose(value, (0, 1, 3, 2))  # Keras [kh, kw, C, 1]
    weights[f"{layer}/{layer}/{keras_name}:0"] = value
  _same_backbone(from_keras(weights), variables)


def test_pretrained_backbone_and_new_head(variables, tmp_path):
  path = tmp_path / "backbone.msgpack"
  models.save_variables(path, variables)
  model = tiny(outputs=3)
  x = jnp.zeros((1, 16, 16, 3))
  start = jax.jit(models.with_pretrained(model, x, models.load_variables(path)))
  a, b = start(jax.random.PRNGKey(7)), start(jax.random.PRNGKey(8))
  np.testing.assert_array_equal(a["params"]["block3b_dwconv2"]["kernel"],
                                variables["params"]["block3b_dwconv2"]["kernel"])
  np.testing.assert_array_equal(a["batch_stats"]["top_bn"]["var"], variables["batch_stats"]["top_bn"]["var"])
  assert a["params"]["predictions"]["kernel"].shape == (16, 3)  # the new head, drawn from the key
  assert not np.allclose(a["params"]["predictions"]["kernel"], b["params"]["predictions"]["kernel"])
  with pytest.raises(InputError, match="lack params/top_conv/kernel"):
    broken = jax.tree.map(np.asarray, variables)
    del broken["params"]["top_conv"]
    models.with_pretrained(model, x, broken)
  with pytest.raises(InputError, match="block1a_project_bn/mean has shape"):
    models.with_pretrained(models.EfficientNetV2(outputs=3, stages=STAGES, top_filters=16, width=2.0), x, variables)
  (tmp_path / "bad.msgpack").write_bytes(b"\x00garbage")
  with pytest.raises(InputError, match="not a flax msgpack|must hold a variables dict"):
    models.load_variables(tmp_path / "bad.msgpack")
  with pytest.raises(InputError, match="convert_weights.py"):
    models.load_variables(tmp_path / "missing.msgpack")


@pytest.mark.slow  # compiles a training program of a (tiny) EfficientNet: a minute on 2 cores
def test_finetuning_task_trains_end_to_end_on_tiny_files(variables, tmp_path):
  write_flowers(tmp_path)
  models.save_variables(tmp_path / "w.msgpack", variables)
  split = load_flowers102(root=tmp_path, image_size=16)
  task = tasks.finetune_task("flowers_tiny", tiny(outputs=split.num_classes), split, tmp_path / "w.msgpack",
                             batch_size=3, augment=tasks.flip_images)
  assert task.modes is not None and task.train.x.dtype == np.uint8
  evaluator = Evaluator(task, max_steps=4, batch=1, population_loop="map")
  out = evaluator(graph.stack([graph.known("adam")]), seed_keys(0, 1), np.asarray([1e-3]), Budget(4, 4, 1, 2))
  assert out.steps_run[0] == 4 and not out.diverged[0] and 0.0 <= out.best_valid[0] <= 1.0
