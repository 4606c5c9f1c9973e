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
  :class:`~hf_geommem.probing.ProbePack` whose prompt has a checkable answer (e.g. ``"The month
  after {} is"`` for ``months``: the stand-in is the centroid of the entity's graph neighbours).
* :func:`geometry_use` runs both path-star tests and returns one flat dict of numbers, like the
  other evaluate-style functions.

Every "significant" uses the library's one rule (:func:`hf_geommem.metrics.significant`,
one-sided ``p <= ALPHA = 0.025``). Everything is deterministic given ``seed``; nothing is loaded
from the Hub.

Sites. ``layer=0`` is the output of the input-embedding module (the token embedding, before any
position embedding is added); ``layer=L`` (``1 <= L <= num_layers``) is the output of decoder
block ``L``. On a path prompt ``[PATH] leaf [PAUSE]...`` the patched position is the leaf's
(position 1); a causal model's state there depends only on ``[PATH] leaf``, so the
representation of node ``v`` at a site is taken from the two-token input ``[PATH] v``
(:func:`node_representations`; at ``layer=0`` it is the embedding row of ``v``). Patching at
``L >= 1`` leaves the lower layers of the later positions reading the real leaf: it asks whether
what is read *after* block ``L`` comes from the leaf position's state.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from .metrics import ALPHA, binomial_p, permutation_p, significant
from .tokenization import NUM_SPECIAL_TOKENS, SPECIAL_TOKEN_IDS

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

PATH_ID = SPECIAL_TOKEN_IDS["[PATH]"]
ABLATION_METHODS = ("arm-means", "laplacian")
DEFAULT_K = 16
"""Directions ablated when ``k`` is not given (capped at what the representations allow)."""

PACK_TEMPLATES = {"months": "Months: January, February, March. {},",
                  "days": "The days of the week in order are: {},",
                  "digits": "0, 1, 2, 3. {},",
                  "numbers": "Numbers in words, in order: {},",
                  "letters": "The letters of the alphabet in order are: {},"}
"""Default checkable prompts of the built-in probe packs (answer: the next entity). List-style
prompts: a small model (SmolLM2-135M) answers "The month after {} is" with " " or " a" for
every month, and a stand-in test on prompts the unpatched model gets wrong says nothing."""

Edit = Callable[[torch.Tensor, "torch.Tensor | None"], "torch.Tensor | None"]


# ---------------------------------------------------------------------- sites and hooks
def _decoder_blocks(model: Any) -> torch.nn.ModuleList | None:
    n = getattr(model.config, "num_hidden_layers", None)
    if not n:
        return None
    for _, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n:
            return module
    return None


def num_layers(model: Any) -> int:
    """Decoder blocks of a ``transformers`` causal LM (the ``nn.ModuleList`` of
    ``config.num_hidden_layers`` modules); 0 when it has none (e.g. the linear network)."""
    blocks = _decoder_blocks(model)
    return 0 if blocks is None else len(blocks)


def site_module(model: Any, layer: int) -> torch.nn.Module:
    """The module whose output is the site ``layer``: the input embedding for 0, decoder block
    ``layer`` (1-based) otherwise."""
    n = num_layers(model)
    if not isinstance(layer, (int, np.integer)) or not 0 <= layer <= n:
        raise ValueError(f"layer must be an integer in 0..{n} for this model ({n} decoder "
                         f"blocks), got {layer!r}")
    if layer == 0:
        return model.get_input_embeddings()
    return _decoder_blocks(model)[int(layer) - 1]


@contextlib.contextmanager
def patch_site(model: Any, layer: int, edit: Edit) -> Iterator[None]:
    """Apply ``edit`` to the output of site ``layer`` on every forward inside the block.

    ``edit(hidden, input_ids)`` gets the site's hidden states ``(B, T, D)`` and the token ids
    ``(B, T)`` of the same forward (captured by a pre-hook on the input embedding; ``None`` when
    the model was given ``inputs_embeds``) and returns the new hidden states (same shape) or
    ``None`` to leave them. Works with ``generate`` and its KV cache (later steps see
    ``T == 1``). Hooks are removed on exit, also on error.
    """
    site = site_module(model, layer)
    state: dict[str, torch.Tensor | None] = {"ids": None}

    def pre(module, args, kwargs):
        ids = args[0] if args else kwargs.get("input", kwargs.get("input_ids"))
        state["ids"] = ids if isinstance(ids, torch.Tensor) else None

    def post(module, args, output):
        h = output[0] if isinstance(output, tuple) else output
        new = edit(h, state["ids"])
        if new is None:
            return None
        return (new,) + tuple(output[1:]) if isinstance(output, tuple) else new

    handles = [model.get_input_embeddings().register_forward_pre_hook(pre, with_kwargs=True),
               site.register_forward_hook(post)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _source_rows(h: torch.Tensor, ids: torch.Tensor | None) -> torch.Tensor | None:
    """Rows whose position 1 is the source node of a path prompt (``[PATH] v ...``)."""
    if ids is None or h.shape[1] < 2 or ids.shape[1] < 2:
        return None
    rows = (ids[:, 0] == PATH_ID) & (ids[:, 1] >= NUM_SPECIAL_TOKENS)
    return rows if bool(rows.any()) else None


@torch.no_grad()
def node_representations(model: Any, num_nodes: int, layer: int = 0,
                         batch_size: int = 2048) -> np.ndarray:
    """``(num_nodes, D)`` float32 representation of every node at site ``layer``: the site's
    output at position 1 of the input ``[PATH] v`` (at ``layer=0`` the embedding row of node
    ``v``)."""
    if num_nodes < 1:
        raise ValueError(f"num_nodes must be >= 1, got {num_nodes}")
    rows_avail = model.get_input_embeddings().weight.shape[0] - NUM_SPECIAL_TOKENS
    if num_nodes > rows_avail:
        raise ValueError(f"num_nodes={num_nodes} exceeds the {rows_avail} node tokens of the "
                         f"model's vocabulary")
    device = next(model.parameters()).device
    out: list[np.ndarray] = []

    def grab(h, ids):
        out.append(h[:, 1].detach().float().cpu().numpy())
        return None

    was_training = model.training
    model.eval()
    try:
        with patch_site(model, layer, grab):
            for s in range(0, num_nodes, batch_size):
                v = torch.arange(s, min(num_nodes, s + batch_size), device=device)
                ids = torch.stack([torch.full_like(v, PATH_ID), v + NUM_SPECIAL_TOKENS], 1)
                model(input_ids=ids, attention_mask=torch.ones_like(ids))
    finally:
        model.train(was_training)
    return np.concatenate(out).astype(np.float32)


# ---------------------------------------------------------------------- directions
def _check_k(k: int, limit: int, what: str) -> int:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= limit:
        raise ValueError(f"k must be an integer in 1..{limit} ({what}), got {k!r}")
    return int(k)


def geometric_directions(R: np.ndarray, graph: Any, k: int, method: str = "arm-means"
                         ) -> np.ndarray:
    """``(D, k)`` orthonormal directions of the representations ``R`` that carry the graph's
    geometry.

    Args:
        R: ``(num_nodes, D)`` node representations.
        graph: a rooted :class:`~hf_geommem.graphs.Graph` (``method="arm-means"``) or any graph
            without isolated nodes (``"laplacian"``).
        k: number of directions.
        method: ``"arm-means"``: the top-``k`` principal directions of the centred per-arm means
            of the non-root nodes (the directions that tell arms apart); ``"laplacian"``: the
            top-``k`` left singular vectors of ``Rc^T Y``, ``Y`` the smoothest non-trivial
            eigenspaces of the paper's Laplacian taken whole
            (:func:`~hf_geommem.spectral.laplacian_embedding` with ``dim=k``), i.e. the span of
            the representations' projection onto them. Both are basis-free.
    """
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2 or R.shape[0] != graph.num_nodes:
        raise ValueError(f"R must be ({graph.num_nodes}, D) for this graph, got {R.shape}")
    if method not in ABLATION_METHODS:
        raise ValueError(f"method must be one of {ABLATION_METHODS}, got {method!r}")
    Rc = R - R.mean(axis=0)
    if method == "arm-means":
        graph.require_rooted("arm-mean directions")
        M = R[graph.arms[:, 1:]].mean(axis=1)
        k = _check_k(k, min(M.shape[0] - 1, R.shape[1]), "arms - 1 and the width")
        _, _, vt = np.linalg.svd(M - M.mean(axis=0), full_matrices=False)
        return np.ascontiguousarray(vt[:k].T)
    from .spectral import laplacian_embedding

    k = _check_k(k, min(graph.num_nodes - 2, R.shape[1]), "nodes - 2 and the width")
    Y = laplacian_embedding(graph, dim=k)
    u, _, _ = np.linalg.svd(Rc.T @ Y, full_matrices=False)
    if u.shape[1] < k:
        raise ValueError(f"the Laplacian eigenspaces span only {u.shape[1]} < k={k} directions")
    return np.ascontiguousarray(u[:, :k])


def _variance_share(Rc: np.ndarray, Q: np.ndarray) -> float:
    return float(np.square(Rc @ Q).sum() / max(np.square(Rc).sum(), 1e-30))


def random_frames(R: np.ndarray, k: int, n: int, target_share: float | None = None,
                  seed: int = 0, candidates: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random ``(D, k)`` orthonormal frames and the share of the variance of ``R`` each
    captures.

    Candidates are ``orth(V S^a G)`` with ``R - mean = U S V^T`` (``S`` relative to its largest
    value, floored at 1e-3), ``G`` Gaussian and ``a`` uniform in ``[-3, 3]`` (from nearly the
    bottom principal directions through isotropic ones at ``a = 0`` to nearly the top ones), so
    their captured variance spans about the bottom-``k`` to the top-``k`` principal share; with
    ``target_share`` the ``n`` candidates (of ``candidates * n``) whose share is closest to it
    are kept: random directions *of the same variance* as the geometric ones.

    Returns:
        ``(frames (n, D, k), shares (n,))``.
    """
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2:
        raise ValueError(f"R must be (num_nodes, D), got shape {R.shape}")
    k = _check_k(k, R.shape[1], "the width")
    if n < 1 or candidates < 1:
        raise ValueError(f"n and candidates must be >= 1, got n={n}, candidates={candidates}")
    Rc = R - R.mean(axis=0)
    _, s, vt = np.linalg.svd(Rc, full_matrices=False)
    V = vt.T
    scale = np.maximum(s / max(s[0], 1e-30), 1e-3)
    rng = np.random.default_rng(seed)
    m = n if target_share is None else n * candidates
    frames, shares = [], []
    for _ in range(m):
        a = rng.uniform(-3.0, 3.0)
        G = rng.standard_normal((V.shape[1], k)) * (scale ** a)[:, None]
        Q, _ = np.linalg.qr(V @ G)
        if Q.shape[1] < k:  # R has fewer non-zero directions than k: pad isotropically
            Q, _ = np.linalg.qr(np.concatenate([Q, rng.standard_normal((R.shape[1], k))], 1))
            Q = Q[:, :k]
        frames.append(Q)
        shares.append(_variance_share(Rc, Q))
    shares_a = np.asarray(shares)
    order = np.arange(m) if target_share is None else \
        np.argsort(np.abs(shares_a - target_share), kind="stable")[:n]
    return np.stack([frames[i] for i in order]), shares_a[order]


# ---------------------------------------------------------------------- path-star plumbing
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
    from .training import evaluate_paths

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
            rows = _source_rows(h, ids)
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
        rows = _source_rows(h, ids)
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
    share = _variance_share(R - mu, U)
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
    if not isinstance(n_null, (int, np.integer)) or n_null < 0:
        raise ValueError(f"n_null must be an integer >= 0, got {n_null!r}")
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
        drops = base[key] - res["null"][key]
        drop = out[f"drop_{key}"]
        if n_null:
            p = permutation_p(drop, drops, tol=1e-12)
            out[f"null_drop_{key}_mean"] = float(drops.mean())
            out[f"null_drop_{key}_q975"] = float(np.quantile(drops, 1 - ALPHA))
        else:
            p = float("nan")
            out[f"null_drop_{key}_mean"] = out[f"null_drop_{key}_q975"] = float("nan")
        out[f"p_{key}"] = p
        out[f"significant_{key}"] = significant(p)
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
            nul = res["null"][key]
            row[f"null_{key}_mean"] = float(nul.mean()) if n_null else float("nan")
            row[f"null_{key}_q025"] = float(np.quantile(nul, ALPHA)) if n_null else float("nan")
            row[f"null_{key}_q975"] = float(np.quantile(nul, 1 - ALPHA)) if n_null \
                else float("nan")
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
    rv = np.asarray(rand_v1)
    out["random_v1_mean"] = float(rv.mean()) if n_null else float("nan")
    out["random_v1_q975"] = float(np.quantile(rv, 1 - ALPHA)) if n_null else float("nan")
    out["random_v1_decoded_mean"] = float(np.mean(rand_dec)) if n_null else float("nan")
    for name in ("centroid", "middle"):
        v = out[f"{name}_v1"]
        p = permutation_p(v, rv, tol=1e-12) if n_null else float("nan")
        pc = binomial_p(int(round(v * m)), m, chance)
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


# ---------------------------------------------------------------------- pretrained packs
def pack_answers(pack: Any) -> dict[int, int]:
    """Entity index -> index of the entity after it in the pack's order (``i -> i + 1``, and
    ``n - 1 -> 0`` when the pack's graph has that edge, as on a cycle), for the edges the
    pack's graph has: the checkable answer of "the X after {}" prompts."""
    n = len(pack.entities)
    edges = {tuple(sorted(e)) for e in pack.edges}
    return {i: (i + 1) % n for i in range(n) if tuple(sorted((i, (i + 1) % n))) in edges}


@torch.no_grad()
def _pack_forward(model: Any, ids: list[list[int]], positions: list[int], layer: int,
                  vectors: np.ndarray | None, grab: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Next-token argmax of each prompt (one at a time, no padding), with the state at
    ``positions[i]`` of site ``layer`` replaced by ``vectors[i]`` (or grabbed)."""
    device = next(model.parameters()).device
    preds, grabbed = [], []
    for i, x in enumerate(ids):
        pos = positions[i]

        def edit(h, _ids, i=i, pos=pos):
            if h.shape[1] <= pos:
                return None
            if grab:
                grabbed.append(h[0, pos].float().cpu().numpy())
                return None
            if vectors is None:
                return None
            h = h.clone()
            h[0, pos] = torch.as_tensor(vectors[i], dtype=h.dtype, device=h.device)
            return h

        t = torch.tensor([x], dtype=torch.long, device=device)
        with patch_site(model, layer, edit):
            logits = model(input_ids=t, attention_mask=torch.ones_like(t)).logits
        preds.append(int(logits[0, -1].argmax()))
    return np.asarray(preds), (np.stack(grabbed) if grabbed else np.zeros((0, 0)))


def pack_stand_in_test(model: Any, tokenizer: Any, pack: Any, template: str, layer: int,
                       answers: dict[int, int] | None = None, answer_prefix: str = " ",
                       n_null: int = 100, seed: int = 0) -> dict[str, Any]:
    """The stand-in test on a pretrained checkpoint with a probe pack whose prompt has a
    checkable answer, e.g. ``pack_stand_in_test(model, tok, get_pack("months"),
    "The month after {} is", layer=4)``.

    For each entity ``e`` with an answer (``answers``: entity index -> answer entity index;
    default :func:`pack_answers`, the next entity), the prompt ``template.format(e)`` must make
    the model's next token the first token of ``answer_prefix + answer`` that the prefix alone
    does not already give (tokens shared with the bare prefix, such as SmolLM2's lone ``" "``
    before a digit, are teacher-forced after the prompt; answers must differ in the token
    checked, else ``ValueError``). At site ``layer`` the
    state of the entity's last token is replaced by: ``centroid``, the mean state of ``e``'s
    graph neighbours (same template, same site: on a geometric code it points where ``e``
    does); ``neighbour``, one of them (seeded); ``other``, an entity with an answer, at graph
    distance >= 2 and a different answer (must fail); ``random``, random directions of the
    state's norm (``n_null`` draws, the null). ``entity`` is the unpatched model.

    Returns a flat dict: ``{entity,centroid,neighbour,other}_acc``, ``random_acc_mean``,
    ``random_acc_q975``, ``p_centroid_vs_random``, ``p_centroid_vs_chance`` (binomial against
    ``1 / num_entities``), ``significant_centroid`` (both p at most ``ALPHA``),
    ``p_entity_vs_chance`` and ``significant_entity`` (does the unpatched model answer above
    chance? when not, the test is uninformative), ``chance``, ``n``, ``layer``, ``n_null``.
    """
    from .probing import entity_token_positions

    if template.count("{}") != 1:
        raise ValueError(f"template must contain exactly one '{{}}', got {template!r}")
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("pack_stand_in_test needs a fast tokenizer (character offsets)")
    if not isinstance(n_null, (int, np.integer)) or n_null < 0:
        raise ValueError(f"n_null must be an integer >= 0, got {n_null!r}")
    site_module(model, layer)  # validates the layer
    ents = list(pack.entities)
    n_ent = len(ents)
    answers = pack_answers(pack) if answers is None else dict(answers)
    bad = [i for i in list(answers) + list(answers.values()) if not 0 <= int(i) < n_ent]
    if bad:
        raise ValueError(f"answers name entity index {bad[0]} outside 0..{n_ent - 1}")
    if not answers:
        raise ValueError(f"pack {pack.name!r} gives no entity with an answer")
    g = pack.graph()
    nbrs = [np.flatnonzero(g.adjacency()[i].toarray().ravel()) for i in range(n_ent)]
    start = template.index("{}")
    ids, pos = [], []
    for e in ents:
        text = template.format(e)
        enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
        pos.append(entity_token_positions(enc["offset_mapping"], start, start + len(e),
                                          "last", text)[0])
        ids.append(list(enc["input_ids"]))
    ans_tok, forced = _answer_tokens(tokenizer, {int(i): ents[j] for i, j in answers.items()},
                                     answer_prefix)
    was_training = model.training
    model.eval()
    try:
        # one unpatched pass: the forced tokens come after the entity, so the grabbed state is
        # the same with or without them
        ids = [x + forced.get(i, []) for i, x in enumerate(ids)]
        preds, H = _pack_forward(model, ids, pos, layer, None, grab=True)
        rng = np.random.default_rng(seed)
        qs = sorted(ans_tok)
        target = np.asarray([ans_tok[i] for i in qs])
        q_ids, q_pos = [ids[i] for i in qs], [pos[i] for i in qs]
        base = preds[qs]
        dist = _hop_distances(g)
        stand = {"centroid": [], "neighbour": [], "other": []}
        for i in qs:
            nb = nbrs[i] if len(nbrs[i]) else np.asarray([i])
            stand["centroid"].append(H[nb].mean(axis=0))
            stand["neighbour"].append(H[rng.choice(nb)])
            far = [j for j in qs if dist[i, j] >= 2 and ans_tok[j] != ans_tok[i]]
            stand["other"].append(H[rng.choice(far)] if far else np.full(H.shape[1], np.nan))
        out: dict[str, Any] = {"layer": int(layer), "n": len(qs), "n_null": int(n_null),
                               "chance": 1.0 / n_ent,
                               "entity_acc": float((base == target).mean())}
        for name, vecs in stand.items():
            V = np.stack(vecs)
            if np.isnan(V).any():
                out[f"{name}_acc"] = float("nan")
                continue
            pred, _ = _pack_forward(model, q_ids, q_pos, layer, V)
            out[f"{name}_acc"] = float((pred == target).mean())
        norms = np.linalg.norm(H[qs], axis=1)
        rand = []
        for _ in range(n_null):
            G = rng.standard_normal((len(qs), H.shape[1]))
            V = G / np.linalg.norm(G, axis=1, keepdims=True) * norms[:, None]
            pred, _ = _pack_forward(model, q_ids, q_pos, layer, V)
            rand.append(float((pred == target).mean()))
    finally:
        model.train(was_training)
    rv = np.asarray(rand)
    out["random_acc_mean"] = float(rv.mean()) if n_null else float("nan")
    out["random_acc_q975"] = float(np.quantile(rv, 1 - ALPHA)) if n_null else float("nan")
    p = permutation_p(out["centroid_acc"], rv, tol=1e-12) if n_null else float("nan")
    pc = binomial_p(int(round(out["centroid_acc"] * len(qs))), len(qs), out["chance"])
    out["p_centroid_vs_random"] = p
    out["p_centroid_vs_chance"] = pc
    out["significant_centroid"] = significant(max(p, pc))
    out["p_entity_vs_chance"] = binomial_p(int(round(out["entity_acc"] * len(qs))), len(qs),
                                           out["chance"])
    out["significant_entity"] = significant(out["p_entity_vs_chance"])
    return out


def _answer_tokens(tokenizer: Any, answer_of: dict[int, str], prefix: str
                   ) -> tuple[dict[int, int], dict[int, list[int]]]:
    """For each query, the token that tells its answer apart (the first token of ``prefix +
    answer`` past those the bare prefix shares with it) and the shared tokens before it."""
    bare = tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else []
    tok, forced, first_answer = {}, {}, {}
    for i, answer in answer_of.items():
        full = list(tokenizer(prefix + answer, add_special_tokens=False)["input_ids"])
        k = 0
        while k < min(len(bare), len(full)) and bare[k] == full[k]:
            k += 1
        if k >= len(full):
            raise ValueError(f"the answer {answer!r} adds no token after the prefix {prefix!r}")
        t = int(full[k])
        if first_answer.setdefault(t, answer) != answer:
            raise ValueError(f"the answers {first_answer[t]!r} and {answer!r} begin with the same "
                             f"token after the prefix {prefix!r}: a next-token check cannot tell "
                             f"them apart")
        tok[i], forced[i] = t, full[:k]
    return tok, forced


def _hop_distances(g: Any) -> np.ndarray:
    from scipy.sparse.csgraph import shortest_path

    return shortest_path(g.adjacency(), unweighted=True, directed=False)


# ---------------------------------------------------------------------- figure
def plot_ablation_curve(rows: Sequence[dict[str, Any]], path: str | Path, title: str = ""
                        ) -> Path:
    """Held-out accuracy vs ``k`` for geometric and random ablations (rows of
    :func:`ablation_curve`): v1 and exact path, the random null's mean and 2.5-97.5% band,
    the unablated accuracy and chance."""
    from .plotting import _pyplot, _save

    if not rows:
        raise ValueError("no rows to plot")
    plt = _pyplot()
    ks = [r["k"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, key, label in ((axes[0], "v1", "teacher-forced v1"), (axes[1], "exact",
                                                                   "exact path")):
        ax.plot(ks, [r[f"geo_{key}"] for r in rows], "o-", color="C3",
                label="geometric directions ablated")
        ax.plot(ks, [r[f"null_{key}_mean"] for r in rows], "s--", color="C0",
                label="random directions (mean)")
        ax.fill_between(ks, [r[f"null_{key}_q025"] for r in rows],
                        [r[f"null_{key}_q975"] for r in rows], color="C0", alpha=0.2,
                        label="random 2.5-97.5%")
        ax.axhline(rows[0][f"base_{key}"], color="k", lw=0.8, label="no ablation")
        ax.axhline(rows[0]["chance"], color="grey", ls=":", lw=0.8, label="chance 1/d")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("k (directions ablated)")
        ax.set_title(f"held-out {label}")
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return _save(fig, path)
