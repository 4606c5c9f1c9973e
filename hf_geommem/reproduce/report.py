"""The reproduction's texts, rendered from ``results.json`` (never typed in): ``REPORT.md``
with each claim's figures (:func:`write_reproduction_report`) and the README's section
(:func:`readme_section`, :func:`update_readme`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..cards import markdown_table
from ..files import replace_between_markers, write_text_atomic
from .claim import SEED_RULE, VERDICT_RULE, pct
from .claims import CLAIMS
from .presets import REPRODUCTION_PRESETS

__all__ = ["write_reproduction_report", "readme_section", "update_readme", "README_BEGIN",
           "README_END"]


def _figures(results: dict[str, Any], root: Path) -> dict[str, list[str]]:
    """Every claim draws its figures into ``root/figures`` (claim id -> file names)."""
    fdir = root / "figures"
    fdir.mkdir(exist_ok=True)
    return {c.id: c.figures(results, fdir) for c in CLAIMS}


def _summary(results: dict[str, Any], figs: dict[str, list[str]]) -> list[str]:
    """The verdict rule, the claims table and every claim's section."""
    rows = results["verdicts"]
    preset = REPRODUCTION_PRESETS[results["preset"]]
    by_id = {c.id: c for c in CLAIMS}
    L = [f"# hf_geommem reproduction ({results['preset']} preset)", "",
         f"{results['description']}.", "",
         f"Verdict rule: a claim is **reproduced** when all its checks pass, **partly** when "
         f"some do, **not reproduced** when none do. Checks use one significance rule "
         f"(one-sided p <= {results['alpha']}: binomial against chance for accuracies, the "
         f"shuffled-node permutation null for geometry scores), one memory verdict "
         f"({VERDICT_RULE}) and \"high accuracy\" = >= {pct(results['high_accuracy'])}. Values "
         f"are final (never best-of); several seeds are given as mean (min-max, n); "
         f"over seeds {SEED_RULE}.", "",
         *markdown_table(["claim", "paper", "ours (setting)", "measured", "chance / null",
                          "verdict"],
                         [(f"{r['id']}. {r['statement']}", r["paper"],
                           by_id[r["id"]].setting(preset), r["measured"], r["reference"],
                           f"**{r['verdict']}**") for r in rows])]
    L += ["", f"GPU run of the paper preset: {results.get('gpu_run', 'not measured')}.", ""]
    for r in rows:
        L += [f"## Claim {r['id']}: {r['statement']}", "", f"Verdict: **{r['verdict']}**.", ""]
        for ch in r["checks"]:
            L.append(f"- [{'x' if ch['passed'] else ' '}] {ch['what']}")
        L.append("")
        L += by_id[r["id"]].details(results)
        for f in figs.get(r["id"], []):
            L += [f"![{f}](figures/{f})", ""]
    return L


def _environment_section(results: dict[str, Any]) -> list[str]:
    env = results["environment"]
    L = ["## Environment", "", f"- device: {env['device']}; torch threads "
         f"{env['torch_threads']} (OMP_NUM_THREADS={env['OMP_NUM_THREADS']}); Python "
         f"{env['python']} on {env['platform']}",
         # same seed, same curve holds on one machine; another CPU type rounds differently
         f"- CPU: {env.get('cpu', 'not recorded')}; torch CPU kernels "
         f"{env.get('cpu_capability', 'not recorded')} (curves are bit-identical on one "
         f"machine, not across CPU types)",
         "- packages: " + ", ".join(f"{k} {v}" for k, v in env["packages"].items()),
         f"- wall time of this invocation: {results['wall_seconds']:.0f} s (reused runs cost "
         f"nothing; their own wall time is listed below)", "",
         *markdown_table(["run", "seed", "wall s", "reused"],
                         [(r["folder"].split("/")[-1], r["seed"], f"{r['wall_seconds']:.1f}",
                           r.get("reused", False))
                          for runs in results["runs"].values() for r in runs])]
    L.append(f"\nSum of run wall times: "
             f"{sum(r['wall_seconds'] for rs in results['runs'].values() for r in rs):.0f} s.")
    return L


def write_reproduction_report(results: dict[str, Any], root: str | os.PathLike) -> Path:
    """``REPORT.md`` (and ``figures/``) of a reproduction from its results dict.
    (:func:`hf_geommem.cards.write_report` is a training run's report.)"""
    root = Path(root)
    figs = _figures(results, root)
    L = _summary(results, figs) + _environment_section(results)
    return write_text_atomic(root / "REPORT.md", "\n".join(L) + "\n")


# ---------------------------------------------------------------------- README
README_BEGIN, README_END = "<!-- reproduce:begin -->", "<!-- reproduce:end -->"


def readme_section(results: dict[str, Any]) -> str:
    """The README's reproduction table, generated from a ``results.json`` (never typed in)."""
    env = results["environment"]
    total = sum(r["wall_seconds"] for rs in results["runs"].values() for r in rs)
    L = [f"Generated from `results.json` of `hf-geommem reproduce --preset {results['preset']}`"
         f" ({env['device']}, {env['torch_threads']} torch thread(s), torch "
         f"{env['packages'].get('torch')}, transformers {env['packages'].get('transformers')}): "
         f"the runs took {total / 60:.1f} min of wall time in all.", "",
         *markdown_table(["claim", "paper", "measured", "chance / null", "verdict"],
                         [(f"{r['id']}. {r['statement']}", r["paper"], r["measured"],
                           r["reference"], f"**{r['verdict']}**") for r in results["verdicts"]])]
    return "\n".join(L)


def update_readme(results_path: str | os.PathLike, readme: str | os.PathLike = "README.md"
                  ) -> Path:
    """Replace the README's text between ``README_BEGIN`` and ``README_END`` by
    :func:`readme_section` of ``results_path`` (written atomically)."""
    results = json.loads(Path(results_path).read_text())
    return replace_between_markers(readme, README_BEGIN, README_END, readme_section(results))
