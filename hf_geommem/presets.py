"""Named model architectures (presets), as plain data: importing this loads no torch or
transformers, so configs and the CLI can validate preset names cheaply."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ModelPreset", "PRESETS"]


@dataclass(frozen=True)
class ModelPreset:
    """A named architecture: ``arch`` in {"gpt2", "llama", "mamba", "linear"}."""

    name: str
    arch: str
    num_layers: int
    width: int
    num_heads: int = 1
    description: str = ""


def _preset_table() -> dict[str, ModelPreset]:
    presets = {}
    for arch in ("gpt2", "llama", "mamba"):
        for size, (layers, width, heads) in {
            "mid": (12, 384, 8), "mid-784": (12, 784, 8), "small": (2, 128, 4),
            "tiny": (1, 32, 1),
        }.items():
            name = f"{arch}-{size}"
            presets[name] = ModelPreset(name, arch, layers, width, heads)
    presets["linear-tiny"] = ModelPreset("linear-tiny", "linear", 0, 32, 0)
    presets["linear-512"] = ModelPreset("linear-512", "linear", 0, 512, 0)
    return presets


PRESETS: dict[str, ModelPreset] = _preset_table()
