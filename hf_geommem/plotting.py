"""Figures (matplotlib, Agg backend, PNG). Every function takes data, writes one PNG and
returns its path, so the same figures are available from Python and from the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot_training_curves"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_training_curves(history: list[dict[str, Any]], path: str | Path,
                         title: str = "") -> Path:
    """Accuracy curves over training steps from ``metrics.jsonl`` rows (with chance)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    steps = [r["step"] for r in history]
    for key, label in (("eval_exact_path", "held-out exact path"),
                       ("eval_first_token", "held-out first token"),
                       ("train_exact_path", "train exact path"),
                       ("edge_topk_recovery", "top-k edge recovery")):
        if any(key in r for r in history):
            ax.plot(steps, [r.get(key, float("nan")) for r in history], marker="o", ms=3,
                    label=label)
    if any("chance" in r for r in history):
        ax.axhline(history[-1]["chance"], color="grey", ls="--", lw=1, label="chance 1/d")
    ax.set_xlabel("step")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_probe_layers(rows: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Probe scores across layers, each with its shuffled-node null band (2.5-97.5%)."""
    plt = _pyplot()
    names = list(rows[0])
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0), squeeze=False)
    layers = list(range(len(rows)))
    for ax, name in zip(axes[0], names):
        vals = [r[name].value for r in rows]
        ax.fill_between(layers, [r[name].null_low for r in rows],
                        [r[name].null_high for r in rows], color="grey", alpha=0.3,
                        label="null 95%")
        ax.plot(layers, [r[name].null_mean for r in rows], color="grey", lw=1)
        ax.plot(layers, vals, marker="o", ms=3, label=name)
        ax.set_title(name.replace("_", " "), fontsize=9)
        ax.set_xlabel("layer")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
