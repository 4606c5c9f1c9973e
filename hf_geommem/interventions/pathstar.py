"""The causal tests on a model trained on a path-star task (held-out arms): subspace ablation
(:func:`ablation_test`, :func:`ablation_curve`), the stand-in test (:func:`stand_in_test`) and
both as one flat dict (:func:`geometry_use`). See :mod:`hf_geommem.interventions`."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..checks import check_int
from ..metrics import accuracy_p, null_score, significant
from ..tokenization import NUM_SPECIAL_TOKENS
from .directions import geometric_directions, random_frames, variance_share
from .sites import Edit, node_representations, patch_site, source_rows

__all__ = ["ablation_test", "ablation_curve", "stand_in_test", "geometry_use", "DEFAULT_K"]

DEFAULT_K = 32
"""Directions ablated when ``k`` is not given (capped at what the representations allow).
Chosen by power on tuning runs no report uses (``benchmarks/use_power.py``,
``docs/use_power.md``): with arm-mean directions, k = 32 was the only k whose ablation fell
below the random frames' 2.5% quantile on all three (GPT-2, Llama, Mamba); at 16, GPT-2's and
Llama's held-out v1 stayed inside the null band."""


def _held_out(task: Any) -> tuple[Any, np.ndarray, float]:
    """(paths/test dataset, its arms (m, l), chance 1/d); validates a forward path task."""
    g = getattr(task, "graph", None)
    if g is None or g.arms is None or g.root is None:
        raise ValueError("the intervention tests need a task on a rooted graph with arms "
                         "(e.g. a path-star)")
    if "paths" not in task or "test" not in task["paths"]:
        raise ValueError("the intervention tests need a task with a paths/test split")
    ds = task["paths"]["test"]
    if ds.num_rows < 2:
        raise ValueError(f"the tests need >= 2 held-out arms, got {ds.num_rows}")
    arms = g.arms[np.asarray(ds["arm"], dtype=np.int64)]
    first = np.asarray([t[0] for t in ds["target"]])
    if not (first == g.root).all() or arms.shape[1] < 2:
        raise ValueError("the intervention tests need forward paths (target root v1 ...); "
                         "this task's held-out targets do not start at the root")
    return ds, arms, 1.0 / float(g.degrees[g.root])


def _score(model: Any, tokenizer: Any, ds: Any, batch_size: int) -> dict[str, float]:
    from ..training import evaluate_paths

    r = evaluate_paths(model, tokenizer, ds, batch_size)
    pp = r["per_position"]
    return {"v1": r["first_token"], "v1_decoded": pp[1] if len(pp) > 1 else pp[0],
            "exact": r["exact"]}


def _project_edit(U: np.ndarray, mu: np.ndarray, positions: str, device: Any) -> Edit:
    """Mean-preserving projection: ``h <- h - ((h - mu) U) U^T`` at the chosen positions."""
    Ut = torch.as_tensor(U, dtype=torch.float32, device=device)
    mut = torch.as_tensor(mu, dtype=torch.float32, device=device)

    def edit(h, ids):
        if positions == "all":
            if ids is None or ids.shape != h.shape[:2]:
                return None
            mask = ids >= NUM_SPECIAL_TOKENS
        else:
            rows = source_rows(h, ids)
            if rows is None:
                return None
            mask = torch.zeros(h.shape[:2], dtype=torch.bool, device=h.device)
            mask[rows, 1] = True
        if not bool(mask.any()):
            return None
        x = h[mask].float()
        x = x - ((x - mut) @ Ut) @ Ut.T
        h = h.clone()
        h[mask] = x.to(h.dtype)
        return h

    return edit


def _replace_edit(table: dict[int, np.ndarray], vocab: int, device: Any) -> Edit:
    """Replace the source position's state of prompts whose source token is a key of
    ``table`` (token id -> vector)."""
    width = len(next(iter(table.values())))
    T = torch.zeros((vocab, width), dtype=torch.float32, device=device)
    has = torch.zeros(vocab, dtype=torch.bool, device=device)
    for tok, vec in table.items():
        T[tok] = torch.as_tensor(vec, dtype=torch.float32)
        has[tok] = True

    def edit(h, ids):
        rows = source_rows(h, ids)
        if rows is None:
            return None
        rows = rows & has[ids[:, 1].clamp(max=vocab - 1)]
        if not bool(rows.any()):
            return None
        h = h.clone()
        h[rows, 1] = T[ids[rows, 1]].to(h.dtype)
        return h

    return edit


def _prepare(model: Any, task: Any, layer: int):
    ds, arms, chance = _held_out(task)
    tok = task.tokenizer
    if tok is None:
        raise ValueError("the task has no tokenizer")
    R = node_representations(model, task.graph.num_nodes, layer)
    return ds, arms, chance, tok, R


def _default_k(R: np.ndarray, graph: Any, method: str) -> int:
    limit = R.shape[1] if method == "laplacian" else min(graph.arms.shape[0] - 1, R.shape[1])
    return int(min(DEFAULT_K, limit))


def _ablate_at(model: Any, tok: Any, ds: Any, R: np.ndarray, graph: Any, k: int,
               n_null: int, seed: int, layer: int, method: str, positions: str,
               batch_size: int) -> dict[str, Any]:
    device = next(model.parameters()).device
    mu = R.mean(axis=0)
    U = geometric_directions(R, graph, k, method)
    share = variance_share(R - mu, U)
    with patch_site(model, layer, _project_edit(U, mu, positions, device)):
        geo = _score(model, tok, ds, batch_size)
    null = {"v1": [], "exact": [], "v1_decoded": []}
    shares = np.zeros(0)
    if n_null > 0:
        frames, shares = random_frames(R, k, n_null, target_share=share, seed=seed)
        for Q in frames:
            with patch_site(model, layer, _project_edit(Q, mu, positions, device)):
                r = _score(model, tok, ds, batch_size)
            for key in null:
                null[key].append(r[key])
    return {"geo": geo, "null": {key: np.asarray(v) for key, v in null.items()},
            "share": share, "null_shares": shares, "k": k}


def _check_common(n_null: int, positions: str, batch_size: int) -> None:
    check_int("n_null", n_null, 0)
    if positions not in ("source", "all"):
        raise ValueError(f"positions must be 'source' or 'all', got {positions!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")


# ---------------------------------------------------------------------- ablation
def ablation_test(model: Any, task: Any, k: int | None = None, n_null: int = 100,
                  seed: int = 0, layer: int = 0, method: str = "arm-means",
                  positions: str = "source", batch_size: int = 1024) -> dict[str, Any]:
    """Ablate the geometric subspace and compare the drop with ablating random directions.

    At site ``layer`` the ``k`` geometric directions (:func:`geometric_directions` of the node
    representations there) are projected out, keeping the representations' mean along them
    (``h <- h - ((h - mu) U) U^T``), at the held-out leaf's position (``positions="source"``) or
    at every node token (``"all"``). Held-out teacher-forced v1, decoded v1 and exact-path
    accuracy (:func:`~hf_geommem.training.evaluate_paths`) are measured before and after; the
    null is ``n_null`` ablations of ``k`` random directions of the same captured variance
    (:func:`random_frames`).

    Returns a flat dict: ``base_{v1,v1_decoded,exact}``, ``ablated_*``, ``drop_*``, and for
    ``v1`` and ``exact``: ``null_drop_*_mean``, ``null_drop_*_q975``, ``p_*`` (permutation p
    of the drop, one-sided), ``significant_*`` (``p <= ALPHA``); ``variance_share`` (of the
    node representations' variance in the geometric directions) and ``null_variance_share``
    (mean over the random frames), ``k``, ``layer``, ``n_null``, ``n_arms``, ``chance``.
    """
    _check_common(n_null, positions, batch_size)
    ds, arms, chance, tok, R = _prepare(model, task, layer)
    if k is None:
        k = _default_k(R, task.graph, method)
    base = _score(model, tok, ds, batch_size)
    res = _ablate_at(model, tok, ds, R, task.graph, k, n_null, seed, layer, method, positions,
                     batch_size)
    out: dict[str, Any] = {"k": int(res["k"]), "layer": int(layer), "n_null": int(n_null),
                           "n_arms": int(len(arms)), "chance": chance}
    for key in ("v1", "v1_decoded", "exact"):
        out[f"base_{key}"] = base[key]
        out[f"ablated_{key}"] = res["geo"][key]
        out[f"drop_{key}"] = base[key] - res["geo"][key]
    for key in ("v1", "exact"):
        drop = null_score(f"drop_{key}", out[f"drop_{key}"], base[key] - res["null"][key],
                          tol=1e-12)
        out[f"null_drop_{key}_mean"], out[f"null_drop_{key}_q975"] = drop.null_mean, \
            drop.null_high
        out[f"p_{key}"] = drop.p
        out[f"significant_{key}"] = significant(drop.p)
    out["variance_share"] = res["share"]
    out["null_variance_share"] = float(res["null_shares"].mean()) if n_null else float("nan")
    return out


def ablation_curve(model: Any, task: Any, ks: Sequence[int], n_null: int = 20, seed: int = 0,
                   layer: int = 0, method: str = "arm-means", positions: str = "source",
                   batch_size: int = 1024) -> list[dict[str, Any]]:
    """Held-out accuracy after ablating ``k`` geometric vs ``k`` random directions, for each
    ``k`` in ``ks`` (one representation pass, ``n_null`` random frames per ``k``).

    Returns one flat dict per ``k``: ``k``, ``base_v1``, ``base_exact``, ``geo_v1``,
    ``geo_exact``, ``null_v1_mean``, ``null_v1_q025``, ``null_v1_q975`` (and the same for
    ``exact``), ``variance_share``, ``null_variance_share``.
    """
    _check_common(n_null, positions, batch_size)
    if not ks:
        raise ValueError("ks must name at least one k")
    ds, arms, chance, tok, R = _prepare(model, task, layer)
    base = _score(model, tok, ds, batch_size)
    rows = []
    for k in ks:
        res = _ablate_at(model, tok, ds, R, task.graph, k, n_null, seed, layer, method,
                         positions, batch_size)
        row: dict[str, Any] = {"k": int(k), "base_v1": base["v1"], "base_exact": base["exact"],
                               "chance": chance, "variance_share": res["share"],
                               "null_variance_share": float(res["null_shares"].mean())
                               if n_null else float("nan")}
        for key in ("v1", "exact"):
            row[f"geo_{key}"] = res["geo"][key]
            nul = null_score(f"geo_{key}", res["geo"][key], res["null"][key])
            row[f"null_{key}_mean"] = nul.null_mean
            row[f"null_{key}_q025"], row[f"null_{key}_q975"] = nul.null_low, nul.null_high
        rows.append(row)
    return rows


# ---------------------------------------------------------------------- stand-in
def stand_in_test(model: Any, task: Any, n_null: int = 100, seed: int = 0, layer: int = 0,
                  batch_size: int = 1024) -> dict[str, Any]:
    """Replace each held-out leaf by a stand-in that carries only its arm's geometry.

    At site ``layer`` the leaf position's state (position 1 of ``[PATH] leaf [PAUSE]...``) is
    replaced by: ``centroid``, the mean representation of the arm's middle nodes (arm nodes
    2..l-2: neither root, v1 nor leaf); ``middle``, one of them (seeded draw); ``other_leaf``,
    the leaf of another held-out arm (a seeded derangement: must fail); ``random``, a random
    direction scaled to the leaf's norm (``n_null`` draws: the null). ``leaf`` is the unpatched
    model. For each: held-out teacher-forced v1 accuracy (after the root) and decoded v1
    accuracy (greedy).

    Returns a flat dict: ``{leaf,centroid,middle,other_leaf}_v1`` and ``*_v1_decoded``,
    ``random_v1_mean``, ``random_v1_q975``, ``random_v1_decoded_mean``; for ``centroid`` and
    ``middle``: ``p_*_vs_random`` (permutation p against the random draws),
    ``p_*_vs_chance`` (binomial against ``1/d``) and ``significant_*`` (both p at most
    ``ALPHA``: above the random null *and* above chance; a null of all zeros alone would let
    one hit out of 75 pass); ``chance``, ``n_arms``, ``n_null``, ``layer``.
    """
    _check_common(n_null, "source", batch_size)
    ds, arms, chance, tok, R = _prepare(model, task, layer)
    if arms.shape[1] < 4:
        raise ValueError(f"the stand-in test needs arms with a middle node (root, v1, middle, "
                         f"leaf: >= 4 nodes), got arms of {arms.shape[1]} nodes")
    rng = np.random.default_rng(seed)
    device = next(model.parameters()).device
    vocab = model.get_input_embeddings().weight.shape[0]
    leaves = arms[:, -1]
    leaf_tok = leaves + NUM_SPECIAL_TOKENS
    middle = arms[:, 2:-1]
    m = len(arms)
    perm = (np.arange(m) + rng.integers(1, m)) % m  # a derangement: arm i -> another arm
    pick = middle[np.arange(m), rng.integers(0, middle.shape[1], size=m)]
    stand_ins = {
        "centroid": R[middle].mean(axis=1),
        "middle": R[pick],
        "other_leaf": R[leaves[perm]],
    }
    out: dict[str, Any] = {"layer": int(layer), "n_arms": int(m), "n_null": int(n_null),
                           "chance": chance}
    base = _score(model, tok, ds, batch_size)
    out["leaf_v1"], out["leaf_v1_decoded"] = base["v1"], base["v1_decoded"]
    for name, vecs in stand_ins.items():
        with patch_site(model, layer, _replace_edit(dict(zip(leaf_tok.tolist(), vecs)), vocab,
                                                    device)):
            r = _score(model, tok, ds, batch_size)
        out[f"{name}_v1"], out[f"{name}_v1_decoded"] = r["v1"], r["v1_decoded"]
    norms = np.linalg.norm(R[leaves], axis=1)
    rand_v1, rand_dec = [], []
    for _ in range(n_null):
        g = rng.standard_normal((m, R.shape[1]))
        vecs = g / np.linalg.norm(g, axis=1, keepdims=True) * norms[:, None]
        with patch_site(model, layer, _replace_edit(dict(zip(leaf_tok.tolist(), vecs)), vocab,
                                                    device)):
            r = _score(model, tok, ds, batch_size)
        rand_v1.append(r["v1"])
        rand_dec.append(r["v1_decoded"])
    scores = {name: null_score(f"{name}_v1", out[f"{name}_v1"], rand_v1, tol=1e-12)
              for name in ("centroid", "middle")}
    out["random_v1_mean"] = scores["centroid"].null_mean  # the same null for both
    out["random_v1_q975"] = scores["centroid"].null_high
    out["random_v1_decoded_mean"] = float(np.mean(rand_dec)) if n_null else float("nan")
    for name, score in scores.items():
        p, pc = score.p, accuracy_p(score.value, m, chance)
        out[f"p_{name}_vs_random"] = p
        out[f"p_{name}_vs_chance"] = pc
        out[f"significant_{name}"] = significant(max(p, pc))
    return out


def geometry_use(model: Any, task: Any, k: int | None = None, n_null: int = 100,
                 seed: int = 0, layer: int = 0, method: str = "arm-means",
                 batch_size: int = 1024) -> dict[str, Any]:
    """Is the geometry used? Both causal tests on the held-out arms, as one flat dict.

    Args:
        model: a causal LM trained on ``task`` (node ``v`` is token ``NUM_SPECIAL_TOKENS + v``).
        task: its :class:`~hf_geommem.builder.TaskData` (a rooted graph, forward paths, a
            ``paths/test`` split).
        k: directions ablated (default ``min(DEFAULT_K, arms - 1, width)``).
        n_null: draws of each null (random frames; random stand-ins).
        layer: the site (0: token embeddings; ``L``: output of block ``L``).

    Returns:
        ``ablate_*`` (:func:`ablation_test`: ``ablate_drop_v1``, ``ablate_drop_exact``,
        ``ablate_null_drop_v1_mean``, ``ablate_null_drop_v1_q975``, ``ablate_p_v1``,
        ``ablate_significant_v1``, the same for ``exact``, base and ablated accuracies,
        variance shares, ``ablate_k``) and ``stand_in_*`` (:func:`stand_in_test`:
        ``stand_in_{leaf,centroid,middle,other_leaf}_v1``, ``stand_in_random_v1_mean``,
        ``stand_in_random_v1_q975``, ``stand_in_p_centroid_vs_random``,
        ``stand_in_significant_centroid``, ...), plus ``chance``, ``n_arms``, ``layer``,
        ``n_null``. Booleans are the library's significance rule; every other value is a
        number.
    """
    ab = ablation_test(model, task, k=k, n_null=n_null, seed=seed, layer=layer, method=method,
                       batch_size=batch_size)
    si = stand_in_test(model, task, n_null=n_null, seed=seed, layer=layer,
                       batch_size=batch_size)
    shared = ("chance", "n_arms", "layer", "n_null")
    out: dict[str, Any] = {key: ab[key] for key in shared}
    out.update({f"ablate_{key}": v for key, v in ab.items() if key not in shared})
    out.update({f"stand_in_{key}": v for key, v in si.items() if key not in shared})
    return out


