"""Rendering (text, LaTeX) and standalone code generation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optix_evo.graph as G


def test_render_text_and_latex():
  text = G.render(G.known("nos_opt4"))
  assert text.splitlines()[0] == "u = ((0.3g+0.7v̂) / clip(2, |[arctan(a13)]·exp(v̂)|))"
  assert "nos_lr0" in text and "a13 =" in text
  latex = G.render(G.known("nos_opt10"), latex=True)
  assert latex.startswith(r"u_t = I_1^e") and r"\eta_t" in latex
  assert G.render(G.known("adam")).splitlines() == ["u = adam", "w ← w - η_t·u"]


def test_render_prunes_dead_nodes():
  data = G.to_json(G.known("sgd"))
  data["nodes"]["h1"] = {"op": "i1e", "inputs": ["g^3"]}  # dead: the root does not read it
  assert "bessel" not in G.render(G.from_json(data))


@jax.jit
def _interpreted(genome, grads, params):
  opt = G.interpret(genome, 0.01, total_steps=10)

  def step(state, _):
    u, state = opt.update(grads, state, params)
    return state, u

  updates = jax.lax.scan(step, opt.init(params), None, length=3)[1]
  return [jax.tree.map(lambda u, i=i: u[i], updates) for i in range(3)]


@pytest.mark.parametrize("source", ["known", "random"])
def test_to_python_equals_interpreter(source):
  if source == "known":
    genomes = [G.known(n) for n in ("nos_opt4", "nos_opt9", "nos_adam_clip4", "lion", "addsign_ld")]
  else:
    genomes = [g for g in (G.random_genome(s) for s in range(40))
               if not any(G.DEFAULT_SPEC.unary[int(op)].random for op in g.unary[G.active_nodes(g)])][:6]
  params = {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.full((4,), 0.3)}
  grads = {"w": jnp.sin(jnp.arange(12.0)).reshape(3, 4), "b": jnp.cos(jnp.arange(4.0))}
  for genome in genomes:
    ns: dict = {}
    exec(G.to_python(genome, name="found"), ns)  # noqa: S102 - the code under test
    opt = ns["found"](0.01, total_steps=10)
    state = opt.init(params)
    want = _interpreted(genome, grads, params)
    for step in range(3):
      u, state = opt.update(grads, state, params)
      for leaf in u:
        np.testing.assert_allclose(np.asarray(u[leaf]), np.asarray(want[step][leaf]), rtol=1e-6, atol=1e-7,
                                   err_msg=G.render(genome))


def test_cli_render(tmp_path, capsys):
  import json

  from optix_evo.cli import main
  one = tmp_path / "g.json"
  one.write_text(json.dumps(G.to_json(G.known("nos_opt7"))))
  hall = tmp_path / "hall_of_fame.json"
  hall.write_text(json.dumps({"hall_of_fame": [{"genome": G.to_json(G.known("lion")), "fitness": 0.8}]}))
  assert main(["render", str(one)]) == 0
  assert "tanh([max(a6, a10)]·arcsinh((0.3g+0.7v̂)))" in capsys.readouterr().out
  assert main(["render", str(hall), "--latex"]) == 0
  assert "#1 (fitness 0.8)" in capsys.readouterr().out
  bad = tmp_path / "bad.json"
  bad.write_text(json.dumps({"hall_of_fame": [{"fitness": 1.0}]}))
  assert main(["render", str(bad)]) == 2
