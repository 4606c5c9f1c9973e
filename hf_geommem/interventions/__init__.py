"""Is the geometry *used*? Causal tests beside the geometry scores.

The geometry scores (:mod:`hf_geommem.metrics`) say whether a model's node representations are
geometric; they do not say whether the model *reads* that geometry to answer. The tests here
intervene on the representations at inference and measure what the answer does:

* **Subspace ablation** (:func:`ablation_test`): project out the ``k`` directions that carry the
  graph's geometry (:func:`geometric_directions`: the top principal directions of the arm means,
  or of the embedding's projection onto the smoothest Laplacian eigenspaces) from the held-out
  leaf's representation and measure the drop in held-out teacher-forced first-hop (v1) and
  exact-path accuracy. The null is the drop from ablating ``k`` random directions that capture
  the same share of the representations' variance (:func:`random_frames`, many draws); the test
  reports the drop, the null's mean and 97.5% quantile and the permutation p.
* **Stand-in test** (:func:`stand_in_test`): replace a held-out leaf's representation by a
  stand-in that carries only its arm's geometry (the centroid of the arm's middle nodes, i.e.
  neither root, v1 nor leaf, or one such node) and measure how often v1 still comes out
  (teacher-forced after the root, and decoded). Controls: another held-out arm's leaf (must
  fail) and random vectors of the leaf's norm (the null); chance is ``1/d``.
* Both work at the token embeddings (``layer=0``) or on the hidden state after any block
  (``layer=L``, activation patching through forward hooks: no custom model code).
  :func:`pack_stand_in_test` runs the stand-in test on a pretrained checkpoint with a
  :class:`~hf_geommem.probing.ProbePack` whose prompt has a checkable answer (its
  ``answer_prompt``, e.g. ``"Months: January, February, March. {},"``: the stand-in is the
  centroid of the entity's graph neighbours).
* :func:`geometry_use` runs both path-star tests and returns one flat dict of numbers, like the
  other evaluate-style functions.

Every "significant" uses the library's one rule (:func:`hf_geommem.metrics.significant`,
one-sided ``p <= ALPHA = 0.025``). Everything is deterministic given ``seed``; nothing is loaded
from the Hub.

Sites (``layer=0``: token embeddings; ``layer=L``: output of block ``L``) are described in
:mod:`.sites`.

Rooms: :mod:`.sites` (where to patch: hooks, layers, node representations), :mod:`.directions`
(numpy: geometric and random frames), :mod:`.pathstar` (ablation and stand-in tests on a
trained run), :mod:`.pretrained` (the probe-pack test); the figure is
:func:`hf_geommem.plotting.plot_ablation_curve`. Every name stays importable from here.
"""

from __future__ import annotations

from ..lazy import lazy_getattr
from .directions import ABLATION_METHODS, geometric_directions, random_frames
from .pathstar import DEFAULT_K, ablation_curve, ablation_test, geometry_use, stand_in_test
from .pretrained import PACK_TEMPLATES, _answer_tokens, pack_answers, pack_stand_in_test  # noqa: F401
from .sites import node_representations, num_layers, patch_site, site_module

__all__ = [
    "num_layers",
    "site_module",
    "patch_site",
    "node_representations",
    "geometric_directions",
    "random_frames",
    "ablation_test",
    "ablation_curve",
    "stand_in_test",
    "geometry_use",
    "pack_answers",
    "pack_stand_in_test",
    "plot_ablation_curve",
    "ABLATION_METHODS",
    "DEFAULT_K",
    "PACK_TEMPLATES",
]

# the figure's old home: loaded from plotting (a face, above this room) only when asked for
__getattr__ = lazy_getattr(__name__, {"plot_ablation_curve": ".plotting"}, globals())
