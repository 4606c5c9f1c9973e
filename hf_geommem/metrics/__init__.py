"""Memorization and geometry metrics: plain numpy functions with documented return values.

Inputs are node representations ``X`` (``n x m`` numpy array or torch tensor; row ``i`` is node
``i``) and a graph (a :class:`~hf_geommem.graphs.Graph`, an ``(E, 2)`` edge list, a networkx
graph, the ``graph`` config of one of our datasets, or a loaded task). Nothing forms an ``n x n``
matrix on big graphs: similarities are computed blockwise or on sampled pairs.

Every geometry score returns a :class:`Score`: its value, a shuffled-node null (rows of ``X``
permuted: mean, std, 2.5/97.5% quantiles, z and a one-sided permutation p-value in the
geometric direction) and, where one exists, the best achievable value. The nulls reuse what the
score computed once (neighbour lists, sampled pairs) whenever permuting rows allows it, so 100
draws stay cheap on 90,001-node graphs.

The paper's metrics (science.md section 6): :func:`topk_edge_recovery`,
:func:`geometric_level`, :func:`spectral_profile`, :func:`leaf_first_hop` (navigation accuracy),
:func:`path_distance_matrix`, :func:`edge_margin` and :func:`skewed_low_rank_margin`. Standard
scores: :func:`dirichlet_energy`, :func:`spectral_energy_fraction`, :func:`knn_edge_recall`,
:func:`link_prediction_auc`, :func:`distance_correlation`. :func:`geometry_report` runs all that
apply.

Rooms: :mod:`.inputs` (coercion and validation), :mod:`.nulls` (:class:`Score`, the shuffled-node
machinery and the one significance rule), :mod:`.recovery` (top-k, kNN, link AUC),
:mod:`.smoothness` (geometric level, Dirichlet, spectral fraction and profile, distance
correlation), :mod:`.pathstar` (leaf vs first hop, path matrix), :mod:`.margins` (edge and skewed
low-rank margins) and :mod:`.report` (the memory verdict, :func:`geometry_report`). Every public
name is importable from ``hf_geommem.metrics``.
"""

from .inputs import as_graph, as_representations, prepare_representations
from .margins import edge_margin, skewed_low_rank_margin
from .nulls import (ALPHA, Score, accuracy_p, binomial_p, holm_adjust, null_score, permutation_p,
                    significant)
from .pathstar import leaf_first_hop, path_distance_matrix
from .recovery import (edge_recovery_from_topk, knn_edge_recall, link_prediction_auc,
                       topk_edge_recovery)
from .report import (VERDICT_MIN_NULL, VERDICT_RULE, VERDICT_SCORES, VERDICTS, geometry_report,
                     memory_verdict, verdict_scores, verdict_tests)
from .smoothness import (dirichlet_energy, distance_correlation, geometric_level,
                         spectral_energy_fraction, spectral_profile)

__all__ = [
    "Score",
    "ALPHA",
    "significant",
    "binomial_p",
    "accuracy_p",
    "null_score",
    "permutation_p",
    "holm_adjust",
    "memory_verdict",
    "verdict_scores",
    "verdict_tests",
    "VERDICTS",
    "VERDICT_SCORES",
    "VERDICT_RULE",
    "VERDICT_MIN_NULL",
    "as_graph",
    "as_representations",
    "prepare_representations",
    "edge_recovery_from_topk",
    "topk_edge_recovery",
    "geometric_level",
    "dirichlet_energy",
    "spectral_energy_fraction",
    "spectral_profile",
    "knn_edge_recall",
    "link_prediction_auc",
    "distance_correlation",
    "leaf_first_hop",
    "path_distance_matrix",
    "edge_margin",
    "skewed_low_rank_margin",
    "geometry_report",
]
