"""Synthetic node classification on a stochastic block model graph."""

from __future__ import annotations

import numpy as np

from optix_evo.data.datasets import Dataset, Graph, Split


def load_sbm(
    seed: int = 0,
    *,
    nodes: int = 300,
    communities: int = 4,
    p_in: float = 0.1,
    p_out: float = 0.01,
    feature_dim: int = 16,
    noise: float = 2.0,
    valid_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> Split:
  """Node classification on a stochastic block model (Holland, Laskey & Leinhardt 1983).

  Node ``i`` belongs to community ``c_i`` (balanced, shuffled); an edge joins two nodes with probability ``p_in``
  inside a community and ``p_out`` across. A node's features are its community's random centre plus Gaussian noise
  of scale ``noise``, so features alone are weak evidence and aggregating neighbours (a GCN) helps. The examples'
  ``x`` are node indices into ``Split.graph``; their labels are the communities.

  Args:
    seed: the seed of the graph, the features and the split.
    nodes: the number of nodes.
    communities: the number of communities (classes).
    p_in: the edge probability inside a community.
    p_out: the edge probability across communities.
    feature_dim: the number of node features.
    noise: the scale of the features' Gaussian noise.
    valid_fraction: the fraction of nodes in the validation split.
    test_fraction: the fraction of nodes in the test split.

  Returns:
    A :class:`Split` whose ``graph`` holds the features and adjacency.

  Examples:
    >>> import optix_evo as ox
    >>> split = ox.data.load_sbm(seed=0, nodes=100, communities=4)
    >>> print(split.num_classes, split.graph.adjacency.shape, sum(len(d.x) for d in split[:3]))
    4 (100, 100) 100

  References:
    Holland, Laskey & Leinhardt, `Stochastic blockmodels: First steps <https://doi.org/10.1016/0378-8733(83)90021-7>`_,
    Social Networks 5, 1983.
  """
  if not (0 <= p_out <= 1 and 0 <= p_in <= 1) or communities < 2 or nodes < 2 * communities:
    raise ValueError(
        f"Need probabilities in [0, 1], at least 2 communities and 2 nodes per community; got p_in={p_in}, "
        f"p_out={p_out}, communities={communities}, nodes={nodes}."
    )
  rng = np.random.default_rng(seed)
  labels = rng.permutation(np.arange(nodes) % communities)
  same = labels[:, None] == labels[None, :]
  upper = np.triu(rng.uniform(size=(nodes, nodes)) < np.where(same, p_in, p_out), k=1)
  adjacency = (upper | upper.T).astype(np.float32)
  centres = rng.normal(size=(communities, feature_dim))
  features = (centres[labels] + noise * rng.normal(size=(nodes, feature_dim))).astype(np.float32)
  order = rng.permutation(nodes).astype(np.int32)
  n_test, n_valid = int(round(nodes * test_fraction)), int(round(nodes * valid_fraction))
  n_train = nodes - n_test - n_valid
  part = lambda idx: Dataset(idx, labels[idx].astype(np.int32))
  return Split(
      train=part(order[:n_train]),
      valid=part(order[n_train : n_train + n_valid]),
      test=part(order[n_train + n_valid :]),
      num_classes=communities,
      name="sbm",
      graph=Graph(features, adjacency),
  )
