"""A reproduction run's key: :class:`RunSpec` (its settings, hashed into its folder name).

A run lives in ``DIR/runs/<name>-s<seed>-<key>/``; the key hashes everything that changes its
meaning, so changed settings give a new run and unchanged ones reuse a finished one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["RunSpec", "train_spec"]

_VERSION = 1  # bump when a run's meaning changes, so cached runs are redone

# TrainConfig fields added after runs were keyed, with the value that means what those runs
# did: a train run's field at that value stays out of its key, so finished runs keep their
# folders
_KEYED_SINCE = {"embedding_weight_decay": None}



@dataclass(frozen=True)
class RunSpec:
    """One run of the reproduction.

    Attributes:
        name: role of the run (``gpt2``, ``llama``, ``frozen``, ``node2vec``, ...).
        kind: ``train`` (a path-star or in-context task, :func:`hf_geommem.training.train`),
            ``node2vec`` (the four tiny graphs), ``knobs`` (the knob table) or ``probe``.
        data: dataset parameters (``train``): ``degree``, ``length``, ``pauses``, ``edges``,
            ``in_context`` (+ ``num_train``, ``num_test``).
        config: :class:`~hf_geommem.training.TrainConfig` fields (``train``) or the study's
            parameters.
        seed: node-id permutation, split and init seed.
    """

    name: str
    kind: str
    data: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    seed: int = 0

    def key(self) -> str:
        config = self.config if self.kind != "train" else {
            k: v for k, v in self.config.items()
            if not (k in _KEYED_SINCE and v == _KEYED_SINCE[k])}
        blob = json.dumps({"v": _VERSION, "kind": self.kind, "data": self.data,
                           "config": config, "seed": self.seed}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:10]

    @property
    def folder(self) -> str:
        return f"{self.name}-s{self.seed}-{self.key()}"


def _resolved(config: dict[str, Any]) -> dict[str, Any]:
    """Every TrainConfig field of a run (its family recipe filled in where ``config`` is silent;
    ``data`` and ``seed`` left out), so a run's key changes when its recipe does."""
    from ..training.config import TrainConfig

    fields = {k: v for k, v in config.items() if k not in ("data", "seed")}
    out = asdict(TrainConfig(**fields))
    out.pop("seed")
    return out



def train_spec(name: str, data: dict, seed: int, **config: Any) -> RunSpec:
    """A ``train`` run: ``config`` is resolved against the family recipe (:func:`_resolved`)."""
    return RunSpec(name, "train", dict(data), _resolved(config), seed)


_train = train_spec  # the name benchmarks and older scripts use
