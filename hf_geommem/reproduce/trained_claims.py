"""The claims about trained sequence models (claims 1-6, the title claim ``geometry`` and
``use``): each :class:`~hf_geommem.reproduce.claim.Claim` with its checks, setting text,
details table and figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..cards import markdown_table
from ..metrics import ALPHA, significant
from ..presets import describe_steps, describe_weight_decay
from .claim import (HIGH_ACCURACY, Check, Claim, Results, above_chance, first_run,
                    geometry_cells, nav, pct, seed_verdicts, spread)
from .execute import USE_RUNS
from .presets import Preset
from .runspec import _resolved

__all__ = ["TRAINED_CLAIMS", "GEOMETRY_CLAIMS"]

FAMILIES = ("gpt2", "llama", "mamba")


# ---------------------------------------------------------------------- shared pieces
def _graph_name(g: dict) -> str:
    return f"G({g['degree']},{g['length']}), {g['pauses']} pause(s)"


def _optimizer_setting(r: dict) -> str:
    """"lr 0.003, wd 3, batch 256, cosine, 2400 steps (at least 300 epochs)" for a run's
    resolved TrainConfig fields ``r`` (:func:`~hf_geommem.reproduce.runspec._resolved`)."""
    batch = "full batch" if r["batch_size"] is None else f"batch {r['batch_size']}"
    decay = describe_weight_decay(r["weight_decay"], r.get("embedding_weight_decay"), short=True)
    return (f"lr {r['learning_rate']:g}, {decay}, {batch}, {r['lr_scheduler']}, "
            f"{describe_steps(r['max_steps'], r.get('min_epochs'))}"
            + (f", stop after {r['stop_after_train_exact']} perfect train eval(s)"
               if r["stop_after_train_exact"] else ""))


def _models_setting(preset: Preset) -> str:
    g = preset.graph
    parts = []
    for c in preset.models.values():
        d, r = c.get("data", g), _resolved(c)
        parts.append(f"{r['model']} on G({d['degree']},{d['length']}), {_optimizer_setting(r)}")
    return f"{g['pauses']} pause(s); " + "; ".join(parts)


def _runs_table(*names: str) -> Callable[[dict[str, Any]], list[str]]:
    """Details: one row per run and seed of ``names`` (accuracies and embedding geometry)."""
    def details(results: dict[str, Any]) -> list[str]:
        R = results["runs"]
        return markdown_table(
            ["run", "seed", "held-out exact", "held-out v1 (teacher-forced)",
             "held-out after v1 (teacher-forced)", "train exact", "navigation (null 97.5%)",
             "geometric level (null 97.5%)", "Dirichlet (null 2.5%)", "memory", "steps",
             "wall s"],
            [(name, r["seed"], *(pct(r["final"].get(k, float("nan"))) for k in
                                 ("eval_exact_path", "eval_first_token", "eval_after_v1",
                                  "train_exact_path")),
              *geometry_cells(r.get("geometry", {}).get("embedding")), r["final"].get("step"),
              f"{r['wall_seconds']:.0f}")
             for name in names for r in R.get(name, [])]) + [""]

    return details


def _leaf_figures(results: dict[str, Any], fdir: Path, names: tuple[str, ...]) -> list[str]:
    """Held-out leaf vs first hop of the first seed of each run in ``names``."""
    from .. import plotting

    made = []
    for name in names:
        for r in results["runs"].get(name, [])[:1]:
            npz = Path(r["folder"]) / "heldout_geometry.npz"
            if not npz.is_file():
                continue
            m = np.load(npz)
            n = nav(r)
            p = plotting.plot_leaf_first_hop(
                m["heatmap"], m["path_matrix"], fdir / f"leaf_first_hop_{name}.png",
                title=f"{name}: navigation {pct(n['value'])} (null 97.5% "
                      f"{pct(n['null_high'])}, chance {pct(n['chance'])})")
            made.append(p.name)
    return made


def _trained_check(runs: list[dict], key: str, what: str) -> Check:
    """A failure claim must show that its model trained: ``key`` >= HIGH_ACCURACY in every
    seed (a run that did not record ``key`` fails the check)."""
    vals = [r["final"].get(key) for r in runs]
    ok = all(v is not None and v >= HIGH_ACCURACY for v in vals)
    shown = ", ".join("not recorded" if v is None else pct(v) for v in vals)
    return Check(f"the model trained: {what} >= {pct(HIGH_ACCURACY)} in every seed ({shown})",
                 ok)


def _at_chance_claim(R: Results, name: str, key: str, what: str, extra: list[Check] = ()
                     ) -> dict:
    runs = R[name]
    vals = [r["final"][key] for r in runs]
    ps = [above_chance(r, key)[1] for r in runs]
    checks = [Check(f"{what} not above chance (binomial p > {ALPHA}) in every seed",
                    all(not significant(p) for p in ps)), *extra]
    train = spread([r['final'].get('train_exact_path', float('nan')) for r in runs])
    return {"measured": f"{what} {spread(vals)}; train exact {train}; binomial p "
                        f"{', '.join(f'{p:.3g}' for p in ps)}",
            "reference": f"chance {pct(runs[0]['final']['chance'])}", "checks": checks}


def _trained_families(R: Results) -> list[tuple[str, list]]:
    """(family, its runs) for every claim-1 family that has runs, in FAMILIES order."""
    return [(fam, R[fam]) for fam in FAMILIES if R.get(fam)]


# ---------------------------------------------------------------------- claim 1
def _claim1(R: Results) -> dict:
    checks, parts = [], []
    for fam, runs in _trained_families(R):
        acc = [r["final"]["eval_exact_path"] for r in runs]
        sig = [above_chance(r)[0] for r in runs]
        checks.append(Check(f"{fam}: every seed's final held-out exact path >= "
                            f"{pct(HIGH_ACCURACY)} and above chance (binomial p <= {ALPHA})",
                            min(acc) >= HIGH_ACCURACY and all(sig)))
        parts.append(f"{fam} {spread(acc)}")
    chances = {f"{fam} {pct(R[fam][0]['final']['chance'])}" for fam in FAMILIES if R.get(fam)}
    return {"measured": "; ".join(parts), "reference": "chance " + ", ".join(sorted(chances)),
            "checks": checks}


def _accuracy_figure(results: dict[str, Any], fdir: Path) -> list[str]:
    from .. import plotting

    curves = {f"{name} s{r['seed']}": r["curve"] for name, runs in results["runs"].items()
              for r in runs if r["kind"] == "train" and r.get("curve")}
    if not curves:
        return []
    return [plotting.plot_accuracy_comparison(curves, fdir / "accuracy_curves.png").name]


# ---------------------------------------------------------------------- claims 2-6
def _claim2(R: Results) -> dict:
    runs = R["in_context"]
    out = _at_chance_claim(R, "in_context", "eval_first_token", "held-out v1 (teacher-forced)",
                           [_trained_check(runs, "eval_after_v1", "held-out teacher-forced "
                                           "accuracy of the tokens after v1")])
    after = [r["final"].get("eval_after_v1", float("nan")) for r in runs]
    out["measured"] += f"; held-out after v1 (teacher-forced) {spread(after)}"
    return out


def _setting2(preset: Preset) -> str:
    d = preset.in_context["data"]
    return f"in-context G({d['degree']},{d['length']}), {preset.in_context['config']['model']}"


def _claim3(R: Results) -> dict:
    return _at_chance_claim(R, "frozen", "eval_exact_path", "held-out exact path",
                            [_trained_check(R["frozen"], "train_exact_path", "train exact path")])


def _claim4(R: Results) -> dict:
    both = [r["final"]["eval_exact_path"] for r in R["gpt2"]]
    out = _at_chance_claim(R, "forward", "eval_exact_path", "forward-only held-out exact path",
                           [_trained_check(R["forward"], "train_exact_path",
                                           "forward-only train exact path"),
                            Check(f"both directions (claim 1's GPT-2): every seed >= "
                                  f"{pct(HIGH_ACCURACY)}", min(both) >= HIGH_ACCURACY)])
    out["measured"] += f"; both directions {spread(both)}"
    return out


def _controls_setting(preset: Preset) -> str:
    return f"{_graph_name(preset.controls_graph)}; {preset.controls['model']}"


def _first_token_setting(preset: Preset) -> str:
    r = _resolved(preset.first_token_config)
    return (f"{_graph_name(preset.controls_graph)}; {r['model']}, first-token-only loss, "
            f"{_optimizer_setting(r)}")


def _claim5(R: Results) -> dict:
    runs = R["first_token"]
    v1 = [r["final"]["eval_first_token"] for r in runs]
    sig = [above_chance(r, "eval_first_token")[0] for r in runs]
    return {"measured": f"held-out v1 (teacher-forced) {spread(v1)}",
            "reference": f"chance {pct(runs[0]['final']['chance'])}",
            "checks": [Check(f"v1 above chance (binomial p <= {ALPHA}) in every seed", all(sig)),
                       Check(f"v1 >= {pct(HIGH_ACCURACY)} in every seed",
                             min(v1) >= HIGH_ACCURACY)]}


def _claim6(R: Results) -> dict:
    runs = R["edges_only"]
    navs = [nav(r) for r in runs]
    verdicts = [r["geometry"]["embedding"]["verdict"] for r in runs]
    ps = ", ".join(f"{n['p']:.3g}" for n in navs)
    return {"measured": f"navigation accuracy (all arms) "
                        f"{spread([n['value'] for n in navs])}, p {ps}; verdict "
                        f"{', '.join(verdicts)}",
            "reference": f"null 97.5% {pct(navs[0]['null_high'])}, chance "
                         f"{pct(navs[0]['chance'])}",
            "checks": [Check("navigation accuracy significant vs the shuffled-node null",
                             all(n["significant"] for n in navs)),
                       Check("memory verdict geometric", all(v == "geometric"
                                                            for v in verdicts))]}


def _setting6(preset: Preset) -> str:
    e = preset.edges_only
    return f"{_graph_name(preset.controls_graph)}; {e['model']}, edges only, {e['max_steps']} steps"


# ---------------------------------------------------------------------- geometry
def _claim_geometry(R: Results) -> dict:
    checks, parts = [], []
    for fam, runs in _trained_families(R):
        navs = [nav(r) for r in runs]
        verdicts = [r["geometry"]["embedding"]["verdict"] for r in runs]
        checks.append(Check(f"{fam}: held-out navigation significant and verdict geometric "
                            f"in every seed", all(n["significant"] for n in navs)
                            and all(v == "geometric" for v in verdicts)))
        parts.append(f"{fam} nav {spread([n['value'] for n in navs])} "
                     f"({seed_verdicts(verdicts)})")
    frozen = R.get("frozen", [])
    if frozen:
        navs = [nav(r) for r in frozen]
        verdicts = [r["geometry"]["embedding"]["verdict"] for r in frozen]
        checks.append(Check("frozen control: held-out navigation not significant and verdict "
                            "associative in every seed", not any(n["significant"] for n in navs)
                            and all(v == "associative" for v in verdicts)))
        parts.append(f"frozen nav {spread([n['value'] for n in navs])} "
                     f"({seed_verdicts(verdicts)})")
    ref = nav(first_run(R, "gpt2"))
    return {"measured": "; ".join(parts),
            "reference": f"null 97.5% {pct(ref['null_high'])}, chance {pct(ref['chance'])}",
            "checks": checks}


def _geometry_figures(results: dict[str, Any], fdir: Path) -> list[str]:
    from .. import plotting

    made = _leaf_figures(results, fdir, (*FAMILIES, "frozen"))
    for name in FAMILIES:
        for r in results["runs"].get(name, [])[:1]:
            if r.get("geometry_curve"):
                p = plotting.plot_geometry_curves(r["geometry_curve"],
                                                  fdir / f"geometry_curve_{name}.png",
                                                  title=f"{name}: geometry over training")
                made.append(p.name)
    return made


# ---------------------------------------------------------------------- use
def _claim_use(R: Results) -> dict:
    checks, parts = [], []
    for fam in USE_RUNS:
        runs = [r for r in R.get(fam, []) if "use" in r]
        if not runs:
            continue
        ab = [r["use"]["ablate_significant_v1"] for r in runs]
        si = [r["use"]["stand_in_significant_centroid"] for r in runs]
        want = fam != "frozen"  # the frozen control must show no use
        checks.append(Check(
            f"{fam}: ablating the geometric subspace drops held-out v1 beyond the random-"
            f"direction null, and the arm-centroid stand-in recovers v1 beyond random stand-ins"
            + (" (every seed)" if want else ": neither (it has no geometry to use)"),
            all(ab) and all(si) if want else not any(ab) and not any(si)))
        drop = spread([r["use"]["ablate_drop_v1"] for r in runs])
        cen = spread([r["use"]["stand_in_centroid_v1"] for r in runs])
        parts.append(f"{fam}: ablation drop {drop} (null 97.5% "
                     f"{pct(runs[0]['use']['ablate_null_drop_v1_q975'])}), centroid stand-in "
                     f"{cen}")
    return {"measured": "; ".join(parts), "reference": "random-direction / random-vector nulls",
            "checks": checks}


_USE_NOTE = ("Ablation: the k directions of the token embeddings that carry the arms' "
             "geometry (top principal directions of the arm means) are projected out at the "
             "leaf; the null ablates k random directions holding the same share of variance. "
             "Stand-in: the held-out leaf's embedding is replaced by the centroid of its arm's "
             "middle nodes (or one middle node, another arm's leaf, random vectors of the same "
             "norm); v1 teacher-forced after the root.")


def _use_details(results: dict[str, Any]) -> list[str]:
    R = results["runs"]
    L = markdown_table(
        ["run", "seed", "base v1", "ablated v1 (k)", "drop", "null drop 97.5%", "p", "leaf",
         "centroid", "middle node", "other arm's leaf", "random (97.5%)", "chance"],
        [(name, r["seed"], pct(u["ablate_base_v1"]),
          f"{pct(u['ablate_ablated_v1'])} ({u['ablate_k']})", pct(u["ablate_drop_v1"]),
          pct(u["ablate_null_drop_v1_q975"]), f"{u['ablate_p_v1']:.3g}",
          pct(u["stand_in_leaf_v1"]), pct(u["stand_in_centroid_v1"]),
          pct(u["stand_in_middle_v1"]), pct(u["stand_in_other_leaf_v1"]),
          f"{pct(u['stand_in_random_v1_mean'])} ({pct(u['stand_in_random_v1_q975'])})",
          pct(u["chance"]))
         for name in USE_RUNS for r in R.get(name, []) for u in [r.get("use")] if u])
    return L + ["", _USE_NOTE, ""]


TRAINED_CLAIMS: list[Claim] = [
    Claim("1", "In-weights path-star: held-out accuracy far above 1/d (Transformer and Mamba)",
          "up to 100% held-out on graphs of 5x10^4 nodes", FAMILIES, _claim1, _models_setting,
          optional=("llama", "mamba"), details=_runs_table(*FAMILIES),
          figures=_accuracy_figure),
    Claim("2", "In-context path-star stays at chance", "~1/d on G(2,5), G(10,5), G(20,5)",
          ("in_context",), _claim2, _setting2, details=_runs_table("in_context")),
    Claim("3", "Frozen token embeddings: the in-weights task fails", "held-out ~chance",
          ("frozen",), _claim3, _controls_setting, details=_runs_table("frozen")),
    Claim("4", "Forward-only edges fail the forward task; both directions succeed",
          "forward-only ~chance", ("forward", "gpt2"), _claim4, _controls_setting,
          details=_runs_table("forward", "gpt2")),
    Claim("5", "First-token-only supervision still learns v1", "v1 learned",
          ("first_token",), _claim5, _first_token_setting, details=_runs_table("first_token")),
    Claim("6", "Edge-only training already yields geometry", "navigation above chance",
          ("edges_only",), _claim6, _setting6,
          figures=lambda results, fdir: _leaf_figures(results, fdir, ("edges_only",))),
]

GEOMETRY_CLAIMS: list[Claim] = [
    Claim("geometry", "Title claim: trained sequence models store the graph geometrically "
          "(held-out leaf vs first hop)", "leaf and v1 align; arms cluster",
          (*FAMILIES, "frozen"), _claim_geometry, _models_setting, optional=("llama", "mamba"),
          details=_runs_table(*FAMILIES, "frozen"), figures=_geometry_figures),
    Claim("use", "Beyond the paper: is the geometry used? (subspace ablation and stand-in "
          "leaf on held-out arms)", "(the paper does not ask this)", USE_RUNS, _claim_use,
          lambda preset: "the claim-1 models and the frozen control, layer 0 (token "
                         "embeddings)", optional=("llama", "mamba"), details=_use_details),
]
