"""The stand-in test on a pretrained checkpoint with a probe pack whose prompt has a checkable
answer (:func:`pack_stand_in_test`; the pack's ``answer_prompt``, e.g. ``"Months: January,
February, March. {},"`` for ``months``: the stand-in is the centroid of the entity's graph
neighbours)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..checks import check_int
from ..metrics import accuracy_p, null_score, significant
from ..modeling import model_mode
from .sites import patch_site, site_module

__all__ = ["pack_answers", "pack_stand_in_test", "PACK_TEMPLATES"]


def _default_prompts() -> dict[str, str]:
    from ..probing import BUILTIN_PACKS

    return {name: p.answer_prompt for name, p in BUILTIN_PACKS.items() if p.answer_prompt}


PACK_TEMPLATES = _default_prompts()
"""Default checkable prompts of the built-in probe packs (their ``answer_prompt``; answer: the
next entity). List-style prompts: a small model (SmolLM2-135M) answers "The month after {} is"
with " " or " a" for every month, and a stand-in test on prompts the unpatched model gets
wrong says nothing."""


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


def _check_pack_test(tokenizer: Any, template: str, n_null: int, model: Any, layer: int
                     ) -> None:
    if template.count("{}") != 1:
        raise ValueError(f"template must contain exactly one '{{}}', got {template!r}")
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("pack_stand_in_test needs a fast tokenizer (character offsets)")
    check_int("n_null", n_null, 0)
    site_module(model, layer)  # validates the layer


def _prompts(tokenizer: Any, entities: list[str], template: str
             ) -> tuple[list[list[int]], list[int]]:
    """Token ids of ``template.format(e)`` for every entity, and the position of its last
    token."""
    from ..probing import entity_token_positions

    start = template.index("{}")
    ids, pos = [], []
    for e in entities:
        text = template.format(e)
        enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
        pos.append(entity_token_positions(enc["offset_mapping"], start, start + len(e),
                                          "last", text)[0])
        ids.append(list(enc["input_ids"]))
    return ids, pos


def _stand_ins(H: np.ndarray, g: Any, qs: list[int], ans_tok: dict[int, int],
               rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    """Per query entity: its neighbours' centroid, one neighbour, and a far entity with
    another answer (NaN when there is none)."""
    nbrs = [np.flatnonzero(g.adjacency()[i].toarray().ravel()) for i in range(g.num_nodes)]
    dist = _hop_distances(g)
    stand: dict[str, list[np.ndarray]] = {"centroid": [], "neighbour": [], "other": []}
    for i in qs:
        nb = nbrs[i] if len(nbrs[i]) else np.asarray([i])
        stand["centroid"].append(H[nb].mean(axis=0))
        stand["neighbour"].append(H[rng.choice(nb)])
        far = [j for j in qs if dist[i, j] >= 2 and ans_tok[j] != ans_tok[i]]
        stand["other"].append(H[rng.choice(far)] if far else np.full(H.shape[1], np.nan))
    return stand


def _pack_accuracies(model: Any, ids: list[list[int]], pos: list[int], layer: int,
                     ans_tok: dict[int, int], g: Any, n_null: int, seed: int
                     ) -> tuple[dict[str, float], list[float]]:
    """Accuracy of the unpatched model and of every stand-in, and of ``n_null`` random
    stand-ins (the null), on the query entities."""
    # one unpatched pass: the forced tokens come after the entity, so the grabbed state is
    # the same with or without them
    preds, H = _pack_forward(model, ids, pos, layer, None, grab=True)
    rng = np.random.default_rng(seed)
    qs = sorted(ans_tok)
    target = np.asarray([ans_tok[i] for i in qs])
    q_ids, q_pos = [ids[i] for i in qs], [pos[i] for i in qs]
    acc = {"entity": float((preds[qs] == target).mean())}
    for name, vecs in _stand_ins(H, g, qs, ans_tok, rng).items():
        V = np.stack(vecs)
        if np.isnan(V).any():
            acc[name] = float("nan")
            continue
        acc[name] = float((_pack_forward(model, q_ids, q_pos, layer, V)[0] == target).mean())
    norms = np.linalg.norm(H[qs], axis=1)
    rand = []
    for _ in range(n_null):
        G = rng.standard_normal((len(qs), H.shape[1]))
        V = G / np.linalg.norm(G, axis=1, keepdims=True) * norms[:, None]
        rand.append(float((_pack_forward(model, q_ids, q_pos, layer, V)[0] == target).mean()))
    return acc, rand


def pack_stand_in_test(model: Any, tokenizer: Any, pack: Any, template: str | None = None,
                       layer: int = 0, answers: dict[int, int] | None = None,
                       answer_prefix: str = " ", n_null: int = 100, seed: int = 0
                       ) -> dict[str, Any]:
    """The stand-in test on a pretrained checkpoint with a probe pack whose prompt has a
    checkable answer, e.g. ``pack_stand_in_test(model, tok, get_pack("months"),
    "The month after {} is", layer=4)`` (``template`` defaults to the pack's
    ``answer_prompt``).

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
    template = pack.answer_prompt if template is None else template
    if template is None:
        raise ValueError(f"pack {pack.name!r} has no answer_prompt: pass a template")
    _check_pack_test(tokenizer, template, n_null, model, layer)
    ents = list(pack.entities)
    n_ent = len(ents)
    answers = pack_answers(pack) if answers is None else dict(answers)
    bad = [i for i in list(answers) + list(answers.values()) if not 0 <= int(i) < n_ent]
    if bad:
        raise ValueError(f"answers name entity index {bad[0]} outside 0..{n_ent - 1}")
    if not answers:
        raise ValueError(f"pack {pack.name!r} gives no entity with an answer")
    ids, pos = _prompts(tokenizer, ents, template)
    ans_tok, forced = _answer_tokens(tokenizer, {int(i): ents[j] for i, j in answers.items()},
                                     answer_prefix)
    ids = [x + forced.get(i, []) for i, x in enumerate(ids)]
    with model_mode(model):
        acc, rand = _pack_accuracies(model, ids, pos, layer, ans_tok, pack.graph(), n_null,
                                     seed)
    n = len(ans_tok)
    out: dict[str, Any] = {"layer": int(layer), "n": n, "n_null": int(n_null),
                           "chance": 1.0 / n_ent, **{f"{k}_acc": v for k, v in acc.items()}}
    centroid = null_score("centroid_acc", out["centroid_acc"], rand, tol=1e-12)
    out["random_acc_mean"], out["random_acc_q975"] = centroid.null_mean, centroid.null_high
    out["p_centroid_vs_random"] = centroid.p
    out["p_centroid_vs_chance"] = accuracy_p(out["centroid_acc"], n, out["chance"])
    out["significant_centroid"] = significant(max(centroid.p, out["p_centroid_vs_chance"]))
    out["p_entity_vs_chance"] = accuracy_p(out["entity_acc"], n, out["chance"])
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

