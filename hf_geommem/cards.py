"""Model cards and run reports for trained models (``model_cards/`` templates filled through
``huggingface_hub.ModelCard``, with ``model-index`` results)."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from .presets import PRESETS, describe_weight_decay

__all__ = ["markdown_table", "model_card", "write_model_card", "write_report"]

_METRIC_NAMES = {
    "eval_exact_path": "held-out exact-path accuracy",
    "eval_first_token": "held-out first-token accuracy (v1, teacher-forced after the root)",
    "train_exact_path": "train exact-path accuracy",
    "edge_topk_recovery": "top-k edge recovery",
    "chance": "chance (1/d)",
}


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """The lines of a markdown table: ``header``, the separator, then one line per row (cells
    formatted with ``str``). A row whose length differs from the header's raises ``ValueError``."""
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"row {i} has {len(row)} cells, expected {len(header)} (the "
                             f"header's {list(header)})")
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return lines


def _fmt(v: Any) -> str:
    return f"{100 * v:.2f}%" if isinstance(v, float) else str(v)


_GEOMETRY_NAMES = {
    "navigation_accuracy": "navigation accuracy (leaf -> own v1 by cosine, held-out arms)",
    "geometric_level": "geometric level (mean edge cosine)",
    "dirichlet_energy": "normalized Dirichlet energy (lower = smoother)",
}


def geometry_section(geometry: dict[str, dict[str, Any]] | None) -> str:
    """Markdown table of :func:`hf_geommem.geometry.geometry_summary` output: each score with
    its shuffled-node null and significance, and the memory verdict."""
    if not geometry:
        return "Not measured for this run."
    from .metrics import ALPHA, VERDICT_RULE

    lines = markdown_table(
        ["matrix", "score", "value", "null mean", "null 2.5-97.5%", "p", "significant"],
        [(part, name, f"{s['value']:.3f}", f"{s['null_mean']:.3f}",
          f"{s['null_low']:.3f}-{s['null_high']:.3f}", f"{s['p']:.3g}",
          "yes" if s["significant"] else "no")
         for part, scores in geometry.items()
         for key, name in _GEOMETRY_NAMES.items() if key in scores
         for s in [scores[key]]])
    verdicts = ", ".join(f"{part}: **{scores['verdict']}**" for part, scores in geometry.items())
    return "\n".join(lines) + (f"\n\nMemory verdict ({verdicts}): {VERDICT_RULE} (ALPHA = "
                               f"{ALPHA}; the column \"significant\" is each score alone).")


def model_card(final: dict[str, Any], run: dict[str, Any], task_meta: dict[str, Any],
               dataset_name: str, num_parameters: int, train_seconds: float,
               example_prompt: str = "[PATH] 0 [PAUSE]", path_length: int = 5,
               geometry: dict[str, dict[str, Any]] | None = None):
    """A filled ``huggingface_hub.ModelCard``; ``model-index`` lists the held-out exact-path
    and first-token accuracies and chance, and the card shows the geometry of the trained
    embeddings (``geometry``: :func:`hf_geommem.geometry.geometry_summary` output)."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    cfg = run["config"]
    preset = PRESETS[cfg["model"]]
    task_name = task_meta.get("task", "graph")
    # Hub metric ids; chance is stated in the text, it is not a result of the model
    hub_id = task_meta.get("hub_id")
    dataset_type = hub_id or dataset_name
    common = dict(task_type="text-generation", task_name="path finding",
                  dataset_type=dataset_type, dataset_name=dataset_name,
                  dataset_config="paths", dataset_split="test")
    results = [EvalResult(**common, metric_type=metric, metric_name=_METRIC_NAMES[key],
                          metric_value=round(float(final[key]), 6))
               for key, metric in (("eval_exact_path", "exact_match"),
                                   ("eval_first_token", "accuracy")) if key in final]
    for part, scores in (geometry or {}).items():
        for key in _GEOMETRY_NAMES:
            if key in scores:
                sc = scores[key]
                results.append(EvalResult(
                    **common, metric_type=key, metric_value=round(float(sc["value"]), 6),
                    metric_name=f"{_GEOMETRY_NAMES[key]}, {part} (null 97.5%: "
                                f"{sc['null_high']:.3f}, p {sc['p']:.3g})"))
    name = f"{cfg['model']}-{task_name}-{cfg['recipe']}"
    data = ModelCardData(library_name="transformers", license="mit", model_name=name,
                         tags=["hf_geommem", "graph-memorization", "synthetic", preset.arch],
                         datasets=[hub_id] if hub_id else None,
                         pipeline_tag="text-generation",
                         eval_results=results or None)
    table = "\n".join(f"| {_METRIC_NAMES[k]} | {_fmt(final[k])} |" for k in _METRIC_NAMES
                      if k in final)
    emb = ("frozen (associative control)" if cfg["freeze_embeddings"] else "trained") + (
        ", tied" if cfg["tie_embeddings"] else ", untied")
    if cfg.get("embedding_init_std"):
        emb += f", N(0, {cfg['embedding_init_std']}) init"
    template = importlib.resources.files("hf_geommem.model_cards") / "model_card.md"
    fam = run.get("family_recipe")
    if fam is None:  # a run written before family recipes
        recipe_note = "not recorded (run written before family recipes)"
    else:
        over = ", ".join(f"`{k}` = {v!r}" for k, v in fam["overridden"].items())
        recipe_note = (f"the `{fam['family']}` family recipe"
                       + (f", overridden: {over}" if over else " (no overrides)"))
    return ModelCard.from_template(
        data, template_str=template.read_text(), model_name=name, architecture=preset.arch,
        preset=cfg["model"], num_parameters=f"{num_parameters:,}", dataset_name=dataset_name,
        results_table=table or "| (no evaluation) | |",
        dataset_note=(f"the Hub dataset [`{hub_id}`](https://huggingface.co/datasets/{hub_id})"
                      if hub_id else f"the local dataset folder `{dataset_name}` (not pushed "
                                     f"to the Hub)"),
        chance=_fmt(final.get("chance", float("nan"))), recipe=cfg["recipe"],
        path_loss=cfg["path_loss"], recipe_note=recipe_note, learning_rate=cfg["learning_rate"],
        weight_decay=describe_weight_decay(cfg["weight_decay"],
                                           cfg.get("embedding_weight_decay")),
        lr_scheduler=cfg["lr_scheduler"],
        max_steps=cfg["max_steps"], batch_size=cfg["batch_size"] or "full",
        embedding_note=emb, seed=cfg["seed"], train_seconds=f"{train_seconds:.0f}",
        repo_hint=f"<user>/{name}", example_prompt=example_prompt, path_length=path_length,
        geometry_section=geometry_section(geometry))


def write_model_card(output_dir: str | Path, final: dict[str, Any], task: Any,
                     dataset_name: str, model: Any, train_seconds: float,
                     geometry: dict[str, dict[str, Any]] | None = None) -> Path:
    """Fill the template for a finished run and write ``<output_dir>/README.md``."""
    output_dir = Path(output_dir)
    run = json.loads((output_dir / "geommem_run.json").read_text())
    example, length = "[PATH] 0 [PAUSE]", 5
    if "paths" in task:
        row = task["paths"]["test"][0]
        example, length = row["prompt"], len(row["target"])
    card = model_card(final, run, task.metadata, dataset_name,
                      sum(p.numel() for p in model.parameters()), train_seconds, example, length,
                      geometry)
    path = output_dir / "README.md"
    card.save(path)
    return path


def write_report(output_dir: str | Path, history: list[dict[str, Any]], title: str,
                 extra_lines: list[str] | None = None) -> Path:
    """``report.md``: the evaluation table over training and a curve plot (``curves.png``)."""
    from .plotting import plot_training_curves

    output_dir = Path(output_dir)
    keys = [k for k in ("eval_exact_path", "eval_first_token", "train_exact_path",
                        "edge_topk_recovery") if history and k in history[-1]]
    lines = [f"# {title}", "", *(extra_lines or []), "", *markdown_table(
        ["step", *(_METRIC_NAMES[k] for k in keys)],
        [(row["step"], *(_fmt(row.get(k, float("nan"))) for k in keys)) for row in history])]
    if history:
        plot_training_curves(history, output_dir / "curves.png", title=title)
        lines += ["", "![curves](curves.png)"]
    path = output_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
