"""`hf-geommem reproduce`: every claim of the paper (science.md section 9) from one command.

A reproduction is a list of :class:`Claim` objects over a set of :class:`RunSpec` runs.

* A run is keyed by its settings (:meth:`RunSpec.key`): it lives in ``DIR/runs/<name>-<key>/``,
  finished runs (a ``result.json`` written atomically last) are reused, interrupted training runs
  resume from their last complete checkpoint, and changed settings give a new key, hence a new
  run. ``force`` redoes them.
* A claim knows the runs it needs and turns their numbers into *checks* (each a boolean with the
  numbers it was computed from). Its verdict follows one rule, :func:`claim_verdict`: all checks
  pass -> ``reproduced``, some -> ``partly``, none -> ``not reproduced``. Every check uses the
  library's one significance rule (:data:`hf_geommem.metrics.ALPHA`, one-sided: binomial against
  chance for accuracies, the shuffled-node permutation null for geometry scores) and its one
  memory verdict (:func:`hf_geommem.metrics.memory_verdict` of the scores
  :func:`hf_geommem.metrics.verdict_scores` computes, Holm-corrected: :data:`VERDICT_RULE`);
  "high accuracy" means at least
  :data:`HIGH_ACCURACY`.
* :func:`evaluate_claims` is a pure function of the results (feed other numbers, get other
  verdicts); :func:`write_report` renders ``REPORT.md`` and the figures from ``results.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .cards import markdown_table
from .files import write_text_atomic
from .metrics import ALPHA, binomial_p, significant
from .metrics import VERDICT_RULE as _METRIC_RULE

__all__ = ["HIGH_ACCURACY", "RunSpec", "Claim", "PRESETS", "CLAIM_IDS", "plan",
           "run_reproduction", "evaluate_claims", "claim_verdict", "write_report",
           "readme_section", "update_readme"]

SEED_RULE = ("a check passes only when it passes in every seed (the all-seeds rule, the same "
             "for every claim); per-seed verdicts are listed, and seeds that disagree are "
             "flagged")
"""How several seeds reach a claim verdict."""

VERDICT_RULE = f"`metrics.memory_verdict` of `metrics.VERDICT_SCORES`: {_METRIC_RULE}"
"""How the report states the memory verdict (``docs/calibration.md`` measures it)."""

HIGH_ACCURACY = 0.8
""""High" held-out accuracy (the paper reports up to 100%): the bar of claims 1, 4 and 5."""

CLAIM_IDS = ("1", "2", "3", "4", "5", "6", "7", "8", "geometry", "use", "probe")
USE_RUNS = ("gpt2", "llama", "mamba", "frozen")  # runs that get the causal tests
DDP_TIMEOUT_S = 4 * 3600
_VERSION = 1  # bump when a run's meaning changes, so cached runs are redone


# ---------------------------------------------------------------------- runs
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
        blob = json.dumps({"v": _VERSION, "kind": self.kind, "data": self.data,
                           "config": self.config, "seed": self.seed}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:10]

    @property
    def folder(self) -> str:
        return f"{self.name}-s{self.seed}-{self.key()}"


def _resolved(config: dict[str, Any]) -> dict[str, Any]:
    """Every TrainConfig field of a run (its family recipe filled in where ``config`` is silent;
    ``data`` and ``seed`` left out), so a run's key changes when its recipe does."""
    from .training.config import TrainConfig

    fields = {k: v for k, v in config.items() if k not in ("data", "seed")}
    out = asdict(TrainConfig(**fields))
    out.pop("seed")
    return out


def _train(name: str, data: dict, seed: int, **config: Any) -> RunSpec:
    return RunSpec(name, "train", dict(data), _resolved(config), seed)


# ---------------------------------------------------------------------- presets
@dataclass
class Preset:
    """Sizes and settings of a reproduction (science.md sections 3 and 9).

    ``runs(seeds)`` returns the run list. Seeds per kind of run (``--seeds N`` sets them all):
    ``gpt2_seeds`` for claim 1's GPT-2; ``model_seeds`` for the other claim-1 families (the
    "use" tests run inside every claim-1 model); ``control_seeds`` for the controls (frozen,
    forward, first-token, in-context, edges-only: claims 2-6, and the frozen "use" control);
    ``knob_seeds`` for the knob table. Verdicts over seeds follow :data:`SEED_RULE`."""

    name: str
    description: str
    graph: dict
    models: dict  # family -> TrainConfig fields for claim 1 (+ "data": its own graph)
    controls: dict  # TrainConfig fields shared by the GPT-2 controls (claims 3-5)
    in_context: dict
    edges_only: dict
    node2vec: dict
    knobs: dict
    probe: dict | None
    gpt2_seeds: int = 1
    geometry_null: int = 200
    model_seeds: int = 1
    control_seeds: int = 1
    knob_seeds: int = 1

    def __post_init__(self):
        for name in ("gpt2_seeds", "model_seeds", "control_seeds", "knob_seeds"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Preset {self.name!r}: {name} must be an integer >= 1, got "
                                 f"{value!r}")

    def runs(self, seeds: int | None = None) -> list[RunSpec]:
        g = self.graph
        out = []
        for family, cfg in self.models.items():
            cfg = dict(cfg)
            data = cfg.pop("data", g)
            n = seeds or (self.gpt2_seeds if family == "gpt2" else self.model_seeds)
            for s in range(n):
                out.append(_train(family, data, s, **cfg))
        ctl = self.controls
        for s in range(seeds or self.control_seeds):
            out.append(_train("frozen", g, s, **ctl, freeze_embeddings=True))
            out.append(_train("forward", {**g, "edges": "forward"}, s, **ctl))
            out.append(_train("first_token", g, s, **ctl, path_loss="first_token"))
            out.append(_train("in_context", self.in_context["data"], s,
                              **self.in_context["config"]))
            out.append(_train("edges_only", g, s, **self.edges_only))
        for s in range(seeds or self.knob_seeds):
            out.append(RunSpec("knobs", "knobs", config=dict(self.knobs), seed=s))
        out.append(RunSpec("node2vec", "node2vec", config=dict(self.node2vec)))
        if self.probe is not None:
            out.append(RunSpec("probe", "probe", config=dict(self.probe)))
        return out


def _gpt2(steps: int, eval_steps: int, **kw: Any) -> dict:
    """TrainConfig fields (plus an optional ``data`` override of the preset's graph), every
    optimizer setting explicit (the controls' and the smoke preset's, whatever the model's
    family recipe says)."""
    fixed = dict(model="gpt2-small", learning_rate=1e-3, lr_scheduler="constant",
                 weight_decay=0.01, batch_size=None, warmup_ratio=0.0,
                 stop_after_train_exact=None, path_repeats=1)
    return {**fixed, **kw, "max_steps": steps, "eval_steps": eval_steps}


PRESETS: dict[str, Preset] = {
    "smoke": Preset(
        "smoke", "the same pipeline at toy sizes (tests; about a minute on one core)",
        graph=dict(degree=12, length=4, pauses=1),
        models={"gpt2": _gpt2(40, 20, model="gpt2-tiny", learning_rate=1e-2),
                "llama": _gpt2(20, 10, model="llama-tiny", learning_rate=1e-2),
                "mamba": _gpt2(10, 5, model="mamba-tiny", learning_rate=1e-2)},
        controls=_gpt2(20, 10, model="gpt2-tiny", learning_rate=1e-2),
        in_context=dict(data=dict(in_context=True, degree=3, length=4, num_train=200,
                                  num_test=40),
                        config=_gpt2(10, 5, model="gpt2-tiny", learning_rate=1e-2,
                                     batch_size=64)),
        edges_only=dict(model="gpt2-tiny", recipe="edges", learning_rate=1e-2, max_steps=20,
                        eval_steps=20),
        node2vec=dict(epochs=300, dim=16), knobs=dict(steps=100, dim=32), probe=None,
        gpt2_seeds=2, geometry_null=160, control_seeds=2, knob_seeds=2),
    "cpu": Preset(
        "cpu", "CPU scale: 2-layer width-128 models with 2 pause tokens on G(300,5), each "
               "family with its recipe",
        graph=dict(degree=300, length=5, pauses=2),
        # every family with its recipe (hf_geommem.presets.RECIPES; robustness on graphs
        # nobody tuned on: docs/robustness.md)
        models={family: dict(model=f"{family}-small", geometry_points=12)
                for family in ("gpt2", "llama", "mamba")},
        controls=_gpt2(120, 20),
        in_context=dict(data=dict(in_context=True, degree=10, length=5, num_train=20_000,
                                  num_test=500),
                        config=_gpt2(200, 50, batch_size=128)),
        edges_only=dict(model="gpt2-small", recipe="edges", learning_rate=1e-3, max_steps=50,
                        eval_steps=50),
        node2vec=dict(epochs=10_000, dim=100), knobs=dict(steps=10_000, dim=512),
        # Holm over 31 layers needs n_null >= 2 * 31 / ALPHA - 1 = 2,479 draws before a layer
        # can count (probing.layer_verdicts)
        probe=dict(model="smollm2", pack="months", n_null=3000),
        # issue 16: one seed per knob, control and "use" test let float noise flip verdicts
        gpt2_seeds=3, model_seeds=3, control_seeds=3, knob_seeds=3),
    "paper": Preset(
        "paper", "the paper's settings (science.md 3): GPT-mid 12 x 384 and Mamba-mid on "
                 "G(5000,5), AdamW lr 5e-5, warmup + cosine, weight decay 0.01, batch 1024; "
                 "GPU scale",
        graph=dict(degree=5000, length=5, pauses=5),
        models={"gpt2": dict(model="gpt2-mid", learning_rate=5e-5, weight_decay=0.01,
                             warmup_ratio=0.01, lr_scheduler="cosine", batch_size=1024,
                             max_steps=86_000, eval_steps=2000, eval_max_test_arms=1024,
                             save_steps=2000, geometry_points=20),
                "mamba": dict(model="mamba-mid", learning_rate=5e-5, weight_decay=0.01,
                              warmup_ratio=0.01, lr_scheduler="cosine", batch_size=1024,
                              max_steps=86_000, eval_steps=2000, eval_max_test_arms=1024,
                              save_steps=2000, geometry_points=20)},
        controls=dict(model="gpt2-mid", learning_rate=5e-5, weight_decay=0.01,
                      warmup_ratio=0.01, lr_scheduler="cosine", batch_size=1024,
                      max_steps=86_000, eval_steps=2000, eval_max_test_arms=1024,
                      save_steps=2000),
        in_context=dict(data=dict(in_context=True, degree=10, length=5, num_train=200_000,
                                  num_test=2000),
                        config=dict(model="gpt2-mid", learning_rate=1e-4, weight_decay=0.01,
                                    warmup_ratio=0.01, lr_scheduler="cosine", batch_size=256,
                                    max_steps=50_000, eval_steps=2000, save_steps=2000)),
        edges_only=dict(model="gpt2-mid", recipe="edges", learning_rate=5e-5,
                        lr_scheduler="cosine", batch_size=1024, max_steps=20_000,
                        eval_steps=2000, save_steps=2000),
        node2vec=dict(epochs=10_000, dim=100), knobs=dict(steps=10_000, dim=512),
        probe=dict(model="smollm2", pack="months", n_null=3000),
        gpt2_seeds=3, geometry_null=200),
}
# the paper's other two graphs, for --dry-run's plan (science.md 3)
PAPER_EXTRA = [
    _train("gpt2_g10k6", dict(degree=10_000, length=6, pauses=6), 0,
           **{**PRESETS["paper"].models["gpt2"], "max_steps": 200_000}),
    _train("gpt2_784_g10k10", dict(degree=10_000, length=10, pauses=10), 0,
           **{**PRESETS["paper"].models["gpt2"], "model": "gpt2-mid-784", "max_steps": 200_000}),
]


# ---------------------------------------------------------------------- executing runs
def _write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=1, default=_json_default))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def _task_for(spec: RunSpec, data_root: Path):
    """Build (once) and load the run's dataset; datasets are shared between runs by key."""
    from .builder import build_in_context_task, build_task, load_task
    from .tasks import EdgeTaskConfig, PathTaskConfig

    d = dict(spec.data)
    key = hashlib.sha256(json.dumps({**d, "seed": spec.seed}, sort_keys=True).encode()
                         ).hexdigest()[:10]
    folder = data_root / key
    if not folder.is_dir():  # written atomically: a folder that exists is complete
        if d.get("in_context"):
            task = build_in_context_task(degree=d["degree"], length=d["length"],
                                         num_train=d["num_train"], num_test=d["num_test"],
                                         seed=spec.seed)
        else:
            task = build_task("path_star", degree=d["degree"], length=d["length"],
                              seed=spec.seed, edges=EdgeTaskConfig(d.get("edges", "both")),
                              paths=PathTaskConfig(num_pauses=d["pauses"], seed=spec.seed))
        try:
            task.save_to_folder(folder)
        except FileExistsError:
            pass  # another rank of the same launch saved the same (seeded) data first
    return load_task(folder)


def _per_device(config: dict[str, Any], world: int) -> dict[str, Any]:
    """A preset's batch size is global (the paper's 1024); ``TrainConfig.batch_size`` is per
    device. Full batch (``None``) needs no split."""
    b = config.get("batch_size")
    if world == 1 or b is None:
        return config
    if b % world:
        raise ValueError(f"batch_size {b} does not split over {world} processes: launch a "
                         f"number of processes that divides it")
    return {**config, "batch_size": b // world}


def _train_run(spec: RunSpec, run_dir: Path, data_root: Path, progress: bool,
               resume: bool = True):
    """Train one run, from its last complete checkpoint when ``resume``; every rank of a
    launch calls this (DDP). Returns ``(task, TrainResult, checkpoint resumed from, seconds)``."""
    from .training import TrainConfig, last_complete_checkpoint, rank_and_world, train

    task = _task_for(spec, data_root)
    cfg = _per_device(dict(spec.config), rank_and_world()[1])
    if cfg.get("save_steps") is None:
        cfg["save_steps"] = max(cfg["eval_steps"], cfg["max_steps"] // 4)
    config = TrainConfig(seed=spec.seed, **cfg)
    ckpt = last_complete_checkpoint(run_dir) if resume and run_dir.exists() else None
    t0 = time.perf_counter()
    # under several processes the other ranks wait in the next run's first collective while
    # rank 0 scores this one (geometry, interventions): a generous timeout
    res = train(task, run_dir, config, resume_from_checkpoint=ckpt, overwrite=True,
                progress=progress, ddp_timeout=DDP_TIMEOUT_S)
    return task, res, ckpt, time.perf_counter() - t0


def _execute_train(spec: RunSpec, run_dir: Path, data_root: Path, n_null: int,
                   progress: bool) -> dict[str, Any]:
    from .geometry import geometry_summary, read_geometry, trained_geometry
    from .training import finish_run

    task, res, resume, seconds = _train_run(spec, run_dir, data_root, progress)
    final = res.final
    scalars = {k: v for k, v in final.items() if not isinstance(v, (list, dict))}
    if len(final.get("eval_teacher_forced") or []) > 2:
        # target = root, v1, ...: the tokens after v1 are those the in-context "Clever Hans"
        # cheat predicts (each the unique successor of the previous one in the edge list)
        scalars["eval_after_v1"] = float(np.mean(final["eval_teacher_forced"][2:]))
    out: dict[str, Any] = {
        "final": scalars, "teacher_forced": final.get("eval_teacher_forced"),
        "curve": [{k: r[k] for k in ("step", "eval_exact_path", "eval_first_token",
                                     "train_exact_path", "edge_topk_recovery") if k in r}
                  for r in res.history],
        "num_test_arms": int(final.get("eval_num_arms", 0)),
        "stopped_by_rule": final.get("stopped_by_rule"),
        "resumed_from": resume,
    }
    if task.graph is not None and task.graph.arms is not None:
        arms = "all" if spec.config.get("recipe") == "edges" else "held-out"
        geo = trained_geometry(res.model, task, arms=arms, n_null=n_null, seed=spec.seed)
        out["geometry"] = geometry_summary(geo)
        out["geometry_arms"] = arms
        if spec.name in USE_RUNS:
            from .interventions import geometry_use

            out["use"] = geometry_use(res.model, task, n_null=n_null, seed=spec.seed)
        np.savez_compressed(run_dir / "heldout_geometry.npz",
                            heatmap=geo["embedding"]["heatmap"],
                            path_matrix=geo["embedding"]["path_matrix"])
        if spec.config.get("geometry_points"):
            out["geometry_curve"] = [
                {k: r[k] for k in ("step", "geometric_level", "dirichlet_energy",
                                   "navigation_accuracy", "spectral_top_mass",
                                   "topk_edge_recovery") if k in r}
                for r in read_geometry(run_dir)]
        finish_run(res, task, f"G({spec.data['degree']},{spec.data['length']})",
                   geometry=out["geometry"])
    out["train_seconds"] = seconds
    return out


def _execute_node2vec(spec: RunSpec) -> dict[str, Any]:
    from .graphs import tiny_graphs
    from .metrics import memory_verdict, spectral_energy_fraction, spectral_profile, \
        verdict_scores
    from .node2vec import Node2VecConfig, train_node2vec

    rows = {}
    for name, g in tiny_graphs(0).items():
        res = train_node2vec(g, Node2VecConfig(epochs=spec.config["epochs"],
                                               dim=spec.config["dim"], seed=spec.seed,
                                               keep_embeddings=False))
        sp = spectral_profile(res.V, g, n_null=200, seed=spec.seed)
        scores = verdict_scores(res.V, g, 200, spec.seed)
        sk = spectral_energy_fraction(res.V, g, k=2, n_null=200, seed=spec.seed)
        rows[name] = {"top_mass": {**sp.as_dict(), "significant": sp.significant},
                      "geometric_level": scores["geometric_level"].value,
                      "dirichlet_energy": scores["dirichlet_energy"].value,
                      "spectral_fraction": sk.value, "verdict": memory_verdict(**scores),
                      "spectrum": sp.details["spectrum"].tolist(),
                      "profile": sp.details["profile"].tolist()}
    return {"graphs": rows}


def _execute_knobs(spec: RunSpec) -> dict[str, Any]:
    from .studies import knob_study

    return {"rows": knob_study(dim=spec.config["dim"], steps=spec.config["steps"],
                               seed=spec.seed)}


def _execute_probe(spec: RunSpec) -> dict[str, Any]:
    from .probing import extract_representations, get_pack, layer_verdicts, load_model, probe

    pack = get_pack(spec.config["pack"])
    model, tok, precision = load_model(spec.config["model"])
    reps = extract_representations(model, tok, pack.entities, pack.templates, "last", 16,
                                   precision)
    rows = probe(reps, pack, n_null=spec.config["n_null"], seed=spec.seed)
    lv = layer_verdicts(rows)
    layers = []
    for i, (row, v) in enumerate(zip(rows, lv["layers"])):
        layers.append({"layer": i, **{n: {**s.as_dict(), "significant": s.significant}
                                      for n, s in row.items()}, **v})
    return {"model": spec.config["model"], "pack": pack.name, "precision": precision,
            "layers": layers, "geometric": lv["geometric"],
            "geometric_holm": lv["geometric_holm"]}


def execute(spec: RunSpec, root: Path, force: bool = False, n_null: int = 200,
            progress: bool = True) -> dict[str, Any]:
    """Run ``spec`` under ``root/runs`` unless a finished result with the same key exists
    (``force`` redoes it); returns its result record (also ``<run>/result.json``). Under
    several processes only rank 0 calls this (the others train with it: :func:`_train_run`)."""
    run_dir = root / "runs" / spec.folder
    done = run_dir / "result.json"
    if done.is_file() and not force:
        from .training.run_folder import read_run_json

        return {**read_run_json(done), "reused": True}
    if force and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if spec.kind == "train":
        body = _execute_train(spec, run_dir, root / "data", n_null, progress)
    elif spec.kind == "node2vec":
        body = _execute_node2vec(spec)
    elif spec.kind == "knobs":
        body = _execute_knobs(spec)
    elif spec.kind == "probe":
        body = _execute_probe(spec)
    else:
        raise ValueError(f"unknown run kind {spec.kind!r}")
    record = {"name": spec.name, "kind": spec.kind, "seed": spec.seed, "key": spec.key(),
              "settings": asdict(spec), "folder": str(run_dir), **body,
              "wall_seconds": time.perf_counter() - t0}
    _write_json_atomic(done, record)
    return {**record, "reused": False}


# ---------------------------------------------------------------------- claims
@dataclass
class Check:
    """One test inside a claim: ``passed`` and the numbers it came from."""

    what: str
    passed: bool


@dataclass
class Claim:
    """A claim of the paper: its statement, the paper's number, the runs it needs and the
    function from their results to checks and a "measured" line."""

    id: str
    statement: str
    paper: str
    needs: tuple[str, ...]
    evaluate: Callable[[dict[str, list[dict]]], dict[str, Any]]
    optional: tuple[str, ...] = ()  # runs a preset may lack (the paper preset has no Llama)


def claim_verdict(checks: list[Check]) -> str:
    """The one rule from checks to a claim verdict: all pass -> ``reproduced``, some ->
    ``partly``, none (or no checks) -> ``not reproduced``."""
    passed = sum(c.passed for c in checks)
    if checks and passed == len(checks):
        return "reproduced"
    return "partly" if passed else "not reproduced"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _spread(values: list[float]) -> str:
    """mean (min-max, n) in percent."""
    v = np.asarray(values, dtype=float)
    if len(v) == 1:
        return f"{_pct(v[0])} (n=1)"
    return f"{_pct(v.mean())} ({_pct(v.min())}-{_pct(v.max())}, n={len(v)})"


def _above_chance(run: dict, key: str = "eval_exact_path") -> tuple[bool, float]:
    f = run["final"]
    n = run.get("num_test_arms") or 0
    if not n or f.get("chance") is None:
        return False, float("nan")
    p = binomial_p(int(round(f[key] * n)), n, f["chance"])
    return significant(p), p


def _claim1(R: dict) -> dict:
    checks, parts = [], []
    for fam in ("gpt2", "llama", "mamba"):
        runs = R.get(fam, [])
        if not runs:
            continue
        acc = [r["final"]["eval_exact_path"] for r in runs]
        sig = [_above_chance(r)[0] for r in runs]
        checks.append(Check(f"{fam}: every seed's final held-out exact path >= "
                            f"{_pct(HIGH_ACCURACY)} and above chance (binomial p <= {ALPHA})",
                            min(acc) >= HIGH_ACCURACY and all(sig)))
        parts.append(f"{fam} {_spread(acc)}")
    chances = {f"{fam} {_pct(R[fam][0]['final']['chance'])}" for fam in ("gpt2", "llama", "mamba")
               if R.get(fam)}
    return {"measured": "; ".join(parts), "reference": "chance " + ", ".join(sorted(chances)),
            "checks": checks}


def _first(R: dict, name: str) -> dict:
    if not R.get(name):
        raise KeyError(f"results lack the {name!r} run")
    return R[name][0]


def _trained_check(runs: list[dict], key: str, what: str) -> Check:
    """A failure claim must show that its model trained: ``key`` >= HIGH_ACCURACY in every
    seed (a run that did not record ``key`` fails the check)."""
    vals = [r["final"].get(key) for r in runs]
    ok = all(v is not None and v >= HIGH_ACCURACY for v in vals)
    shown = ", ".join("not recorded" if v is None else _pct(v) for v in vals)
    return Check(f"the model trained: {what} >= {_pct(HIGH_ACCURACY)} in every seed ({shown})",
                 ok)


def _at_chance_claim(R: dict, name: str, key: str, what: str, extra: list[Check] = ()) -> dict:
    runs = R[name]
    vals = [r["final"][key] for r in runs]
    ps = [_above_chance(r, key)[1] for r in runs]
    checks = [Check(f"{what} not above chance (binomial p > {ALPHA}) in every seed",
                    all(not significant(p) for p in ps)), *extra]
    return {"measured": f"{what} {_spread(vals)}; train exact "
                        f"{_spread([r['final'].get('train_exact_path', float('nan')) for r in runs])};"
                        f" binomial p {', '.join(f'{p:.3g}' for p in ps)}",
            "reference": f"chance {_pct(runs[0]['final']['chance'])}", "checks": checks}


def _claim2(R: dict) -> dict:
    runs = R["in_context"]
    out = _at_chance_claim(R, "in_context", "eval_first_token", "held-out v1 (teacher-forced)",
                           [_trained_check(runs, "eval_after_v1", "held-out teacher-forced "
                                           "accuracy of the tokens after v1")])
    after = [r["final"].get("eval_after_v1", float("nan")) for r in runs]
    out["measured"] += f"; held-out after v1 (teacher-forced) {_spread(after)}"
    return out


def _claim3(R: dict) -> dict:
    return _at_chance_claim(R, "frozen", "eval_exact_path", "held-out exact path",
                            [_trained_check(R["frozen"], "train_exact_path", "train exact path")])


def _claim4(R: dict) -> dict:
    both = [r["final"]["eval_exact_path"] for r in R["gpt2"]]
    out = _at_chance_claim(R, "forward", "eval_exact_path", "forward-only held-out exact path",
                           [_trained_check(R["forward"], "train_exact_path",
                                           "forward-only train exact path"),
                            Check(f"both directions (claim 1's GPT-2): every seed >= "
                                  f"{_pct(HIGH_ACCURACY)}", min(both) >= HIGH_ACCURACY)])
    out["measured"] += f"; both directions {_spread(both)}"
    return out


def _claim5(R: dict) -> dict:
    runs = R["first_token"]
    v1 = [r["final"]["eval_first_token"] for r in runs]
    sig = [_above_chance(r, "eval_first_token")[0] for r in runs]
    return {"measured": f"held-out v1 (teacher-forced) {_spread(v1)}",
            "reference": f"chance {_pct(runs[0]['final']['chance'])}",
            "checks": [Check(f"v1 above chance (binomial p <= {ALPHA}) in every seed", all(sig)),
                       Check(f"v1 >= {_pct(HIGH_ACCURACY)} in every seed",
                             min(v1) >= HIGH_ACCURACY)]}


def _nav(run: dict, part: str = "embedding") -> dict:
    return run["geometry"][part]["navigation_accuracy"]


def _claim6(R: dict) -> dict:
    runs = R["edges_only"]
    navs = [_nav(r) for r in runs]
    verdicts = [r["geometry"]["embedding"]["verdict"] for r in runs]
    ps = ", ".join(f"{n['p']:.3g}" for n in navs)
    return {"measured": f"navigation accuracy (all arms) "
                        f"{_spread([n['value'] for n in navs])}, p {ps}; verdict "
                        f"{', '.join(verdicts)}",
            "reference": f"null 97.5% {_pct(navs[0]['null_high'])}, chance "
                         f"{_pct(navs[0]['chance'])}",
            "checks": [Check("navigation accuracy significant vs the shuffled-node null",
                             all(n["significant"] for n in navs)),
                       Check("memory verdict geometric", all(v == "geometric"
                                                            for v in verdicts))]}


def _claim7(R: dict) -> dict:
    graphs = _first(R, "node2vec")["graphs"]
    checks = [Check(f"{g}: top-eigenspace mass significant", v["top_mass"]["significant"])
              for g, v in graphs.items()]
    return {"measured": "; ".join(f"{g} top mass {v['top_mass']['value']:.3f}"
                                  for g, v in graphs.items()),
            "reference": "null 97.5%: " + "; ".join(f"{g} {v['top_mass']['null_high']:.3f}"
                                                    for g, v in graphs.items()),
            "checks": checks}


def knob_seed_table(R: dict) -> list[dict[str, Any]]:
    """One row per knob over the seeds of the knob runs: ``knob``, ``paper``, per-seed
    ``verdicts``, ``agrees`` (every seed agrees with the paper: :data:`SEED_RULE`),
    ``seeds_disagree`` (the seeds' verdicts differ) and the per-seed ``rows``."""
    runs = sorted(R.get("knobs", []), key=lambda r: r["seed"])
    if not runs:
        raise KeyError("results lack the 'knobs' run")
    table = []
    for i, row in enumerate(runs[0]["rows"]):
        per_seed = [r["rows"][i] for r in runs]
        verdicts = [x["verdict"] for x in per_seed]
        table.append({"knob": row["knob"], "paper": row["paper"], "seeds":
                      [r["seed"] for r in runs], "verdicts": verdicts, "rows": per_seed,
                      "agrees": all(bool(x["agrees"]) for x in per_seed),
                      "seeds_disagree": len(set(verdicts)) > 1})
    return table


def _seed_verdicts(verdicts: list[str]) -> str:
    return ", ".join(verdicts) + (" (seeds disagree)" if len(set(verdicts)) > 1 else "")


def _claim8(R: dict) -> dict:
    table = knob_seed_table(R)
    checks = [Check(f"{k['knob']}: ours {_seed_verdicts(k['verdicts'])}, paper {k['paper']}"
                    f" (every seed)", k["agrees"]) for k in table]
    split = sum(k["seeds_disagree"] for k in table)
    return {"measured": f"{sum(c.passed for c in checks)}/{len(checks)} knobs agree in every "
                        f"seed (n={len(table[0]['seeds'])})"
                        + (f"; seeds disagree on {split} knob(s)" if split else ""),
            "reference": "the paper's verdict per knob", "checks": checks}


def _claim_geometry(R: dict) -> dict:
    checks, parts = [], []
    for fam in ("gpt2", "llama", "mamba"):
        runs = R.get(fam, [])
        if not runs:
            continue
        navs = [_nav(r) for r in runs]
        verdicts = [r["geometry"]["embedding"]["verdict"] for r in runs]
        checks.append(Check(f"{fam}: held-out navigation significant and verdict geometric "
                            f"in every seed", all(n["significant"] for n in navs)
                            and all(v == "geometric" for v in verdicts)))
        parts.append(f"{fam} nav {_spread([n['value'] for n in navs])} "
                     f"({_seed_verdicts(verdicts)})")
    frozen = R.get("frozen", [])
    if frozen:
        navs = [_nav(r) for r in frozen]
        verdicts = [r["geometry"]["embedding"]["verdict"] for r in frozen]
        checks.append(Check("frozen control: held-out navigation not significant and verdict "
                            "associative in every seed", not any(n["significant"] for n in navs)
                            and all(v == "associative" for v in verdicts)))
        parts.append(f"frozen nav {_spread([n['value'] for n in navs])} "
                     f"({_seed_verdicts(verdicts)})")
    ref = _nav(_first(R, "gpt2"))
    return {"measured": "; ".join(parts),
            "reference": f"null 97.5% {_pct(ref['null_high'])}, chance {_pct(ref['chance'])}",
            "checks": checks}


def _claim_use(R: dict) -> dict:
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
        drop = _spread([r["use"]["ablate_drop_v1"] for r in runs])
        cen = _spread([r["use"]["stand_in_centroid_v1"] for r in runs])
        parts.append(f"{fam}: ablation drop {drop} (null 97.5% "
                     f"{_pct(runs[0]['use']['ablate_null_drop_v1_q975'])}), centroid stand-in "
                     f"{cen}")
    return {"measured": "; ".join(parts), "reference": "random-direction / random-vector nulls",
            "checks": checks}


def _claim_probe(R: dict) -> dict:
    run = _first(R, "probe")
    layers = run["layers"]
    geo = [row["layer"] for row in layers if row["verdict"] == "geometric"]
    holm = [row["layer"] for row in layers if row.get("geometric_holm")]
    n_null = layers[0]["geometric_level"]["n_null"]
    return {"measured": f"geometric in {len(geo)}/{len(layers)} layers per layer; "
                        f"{len(holm)}/{len(layers)} after Holm over layers",
            "reference": f"shuffled-node null per layer ({n_null} draws)",
            "checks": [Check(f"layer {row['layer']}: verdict geometric (per layer, "
                             f"ALPHA {ALPHA})", row["verdict"] == "geometric")
                       for row in layers]
            + [Check(f"at least one layer geometric after Holm's correction over the "
                     f"{len(layers)} layers (family-wise error <= {ALPHA})", bool(holm))]}


CLAIMS: list[Claim] = [
    Claim("1", "In-weights path-star: held-out accuracy far above 1/d (Transformer and Mamba)",
          "up to 100% held-out on graphs of 5x10^4 nodes", ("gpt2", "llama", "mamba"),
          _claim1, optional=("llama", "mamba")),
    Claim("2", "In-context path-star stays at chance", "~1/d on G(2,5), G(10,5), G(20,5)",
          ("in_context",), _claim2),
    Claim("3", "Frozen token embeddings: the in-weights task fails", "held-out ~chance",
          ("frozen",), _claim3),
    Claim("4", "Forward-only edges fail the forward task; both directions succeed",
          "forward-only ~chance", ("forward", "gpt2"), _claim4),
    Claim("5", "First-token-only supervision still learns v1", "v1 learned",
          ("first_token",), _claim5),
    Claim("6", "Edge-only training already yields geometry", "navigation above chance",
          ("edges_only",), _claim6),
    Claim("7", "Node2Vec concentrates on the top eigenvectors of -L",
          "mass on the top (Fiedler-like) eigenvectors", ("node2vec",), _claim7),
    Claim("8", "Knob table (init, lr, weight decay, dropout, self-edges)", "section 8 table",
          ("knobs",), _claim8),
    Claim("geometry", "Title claim: trained sequence models store the graph geometrically "
          "(held-out leaf vs first hop)", "leaf and v1 align; arms cluster",
          ("gpt2", "llama", "mamba", "frozen"), _claim_geometry, optional=("llama", "mamba")),
    Claim("use", "Beyond the paper: is the geometry used? (subspace ablation and stand-in "
          "leaf on held-out arms)", "(the paper does not ask this)", USE_RUNS, _claim_use,
          optional=("llama", "mamba")),
    Claim("probe", "Beyond the paper: SmolLM2-135M's months form a cycle in its hidden states",
          "(not in the paper)", ("probe",), _claim_probe),
]


def evaluate_claims(results: dict[str, Any], claims: list[str] | None = None
                    ) -> list[dict[str, Any]]:
    """Pure: from ``results["runs"]`` (name -> list of run records) to one row per claim with
    ``measured``, ``reference``, ``checks`` and ``verdict`` (:func:`claim_verdict`). A claim
    whose runs are missing gets the verdict ``not run``."""
    R = results["runs"]
    rows = []
    for c in CLAIMS:
        if claims is not None and c.id not in claims:
            continue
        row = {"id": c.id, "statement": c.statement, "paper": c.paper}
        if not all(R.get(n) for n in c.needs if n not in c.optional):
            row.update(measured="not run", reference="", checks=[], verdict="not run")
        else:
            out = c.evaluate(R)
            row.update(measured=out["measured"], reference=out["reference"],
                       checks=[asdict(ch) for ch in out["checks"]],
                       verdict=claim_verdict(out["checks"]))
        rows.append(row)
    return rows


# ---------------------------------------------------------------------- the command
def parse_claims(text: str | None) -> list[str]:
    if text is None:  # an empty --claims "" is refused below, not read as "all"
        return list(CLAIM_IDS)
    ids = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in ids if t not in CLAIM_IDS]
    if bad or not ids:
        raise ValueError(f"--claims: unknown claim(s) {bad or text!r}; expected a comma list of "
                         f"{', '.join(CLAIM_IDS)}")
    return ids


def plan(preset: str, claims: list[str], seeds: int | None) -> list[RunSpec]:
    """The runs the chosen claims need, in execution order."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
    if seeds is not None and seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    needed = {n for c in CLAIMS if c.id in claims for n in c.needs}
    return [r for r in PRESETS[preset].runs(seeds) if r.name in needed]


def _environment(device: str) -> dict[str, Any]:
    import importlib.metadata as md

    import torch

    versions = {}
    for pkg in ("hf-geommem", "torch", "transformers", "tokenizers", "datasets", "evaluate",
                "accelerate", "numpy", "scipy"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = "not installed"
    from .machine import cpu_environment

    return {"python": platform.python_version(), "platform": platform.platform(),
            "device": device, "torch_threads": torch.get_num_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "packages": versions,
            **cpu_environment()}


def _step_probe(spec: RunSpec, steps: int = 2) -> dict[str, Any]:
    """Size of a training run and seconds per optimizer step, measured on this device over
    ``steps`` real steps after one warm-up step (for ``--dry-run``)."""
    import math
    import tempfile

    from transformers import TrainerCallback

    from .training import TrainConfig, rank_and_world, train

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []

        def on_step_begin(self, args, state, control, **kwargs):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter() - self.t0)

    timer = StepTimer()
    n_examples = None
    if spec.data.get("in_context"):
        # a step costs the same on fewer examples: time it on a few batches' worth (building
        # and tokenizing 200,000 in-context examples takes more memory than this probe needs)
        n_examples = spec.data["num_train"]
        spec = RunSpec(spec.name, spec.kind, {**spec.data, "num_train": min(
            spec.data["num_train"], 8 * (spec.config.get("batch_size") or 1024)),
            "num_test": 16}, spec.config, spec.seed)
    with tempfile.TemporaryDirectory() as tmp:
        task = _task_for(spec, Path(tmp) / "data")
        recipe = spec.config.get("recipe", "mixed")
        n_examples = n_examples or sum(task[c]["train"].num_rows for c in ("edges", "paths")
                                       if c in task and (recipe != "edges" or c == "edges"))
        cfg = {k: v for k, v in _per_device(spec.config, rank_and_world()[1]).items()
               if k not in ("geometry_points", "save_steps", "stop_after_train_exact")}
        # evaluation capped: the probe times training steps, not the step-0 evaluation
        cfg.update(max_steps=steps + 1, eval_steps=10 ** 9, eval_max_test_arms=8,
                   eval_max_train_arms=8, eval_max_edge_nodes=8)
        train(task, Path(tmp) / "run", TrainConfig(**cfg), overwrite=True, progress=False,
              callbacks=[timer])
    per_step = float(np.mean(timer.times[1:]))  # the first step warms up
    batch = spec.config.get("batch_size") or n_examples
    return {"nodes": task.graph.num_nodes if task.graph is not None else None,
            "examples": n_examples, "steps": spec.config["max_steps"],
            "epochs": spec.config["max_steps"] * batch / n_examples,
            "steps_per_epoch": math.ceil(n_examples / batch),
            "seconds_per_step": per_step,
            "estimate_hours": per_step * spec.config["max_steps"] / 3600}


def _hours(h: float) -> str:
    return f"{h:.2f} h" if h >= 1 else f"{60 * h:.1f} min" if h * 60 >= 1 else f"{3600 * h:.0f} s"


def _check_results_preset(root: Path, preset: str) -> None:
    """Refuse an ``--out`` whose ``results.json`` belongs to another preset: the new report
    would replace it without a word."""
    from .training.run_folder import read_run_json

    path = root / "results.json"
    if path.is_file():
        held = read_run_json(path).get("preset")
        if held != preset:
            raise FileExistsError(f"--out {str(root)!r} holds the results of preset {held!r} "
                                  f"(results.json), not {preset!r}: use another --out, or "
                                  f"delete that results.json to replace them")


def run_reproduction(preset: str, out: str | os.PathLike, claims: list[str] | None = None,
                     seeds: int | None = None, force: bool = False, dry_run: bool = False,
                     progress: bool = True, log: Callable[[str], None] = print
                     ) -> dict[str, Any]:
    """Run (or, with ``dry_run``, plan and time) the reproduction and write ``results.json``,
    ``REPORT.md`` and ``figures/`` under ``out``. Returns the results dict."""
    import torch
    from tqdm.auto import tqdm

    from .training import rank_and_world

    from .files import check_output_path

    claims = list(CLAIM_IDS) if claims is None else claims
    runs = plan(preset, claims, seeds)
    root = check_output_path(out, "--out")
    _check_results_preset(root, preset)
    device = "cuda: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    rank, world = rank_and_world()
    if rank != 0:  # under accelerate launch: rank 0 reports; the others only train with it
        progress = False

        def log(_msg: str) -> None:
            pass
    if world > 1:
        device += f" x {world} processes"
    if dry_run:
        extra = PAPER_EXTRA if preset == "paper" else []
        rows, probed = [], {}
        for spec in tqdm([r for r in runs + extra if r.kind == "train"], desc="probing steps",
                         unit="run", disable=not progress):
            # seeds change ids and init, not the cost of a step: probe each setting once
            same = json.dumps([spec.data, spec.config], sort_keys=True)
            est = probed[same] if same in probed else probed.setdefault(same, _step_probe(spec))
            rows.append({"run": spec.folder, "model": spec.config["model"],
                         "data": spec.data, **est})
            log(f"{spec.name + '-s' + str(spec.seed):16s} {spec.config['model']:14s} nodes "
                f"{est['nodes']} examples "
                f"{est['examples']:,} steps {est['steps']:,} ({est['epochs']:.0f} epochs) "
                f"{est['seconds_per_step']:.3f} s/step on {device} -> "
                f"{_hours(est['estimate_hours'])}")
        for spec in runs:
            if spec.kind != "train":
                log(f"{spec.name:16s} {spec.kind} {spec.config}")
        log(f"total estimate for the training runs: "
            f"{_hours(sum(r['estimate_hours'] for r in rows))} on {device}")
        return {"preset": preset, "dry_run": True, "plan": rows, "device": device}
    if rank != 0:  # train each run with rank 0 (DDP); rank 0 alone scores, studies, writes
        for spec in runs:
            run_dir = root / "runs" / spec.folder
            if spec.kind == "train" and (force or not (run_dir / "result.json").is_file()):
                # with --force rank 0 removes the folder: never resume from what it removes
                _train_run(spec, run_dir, root / "data", progress=False, resume=not force)
        return {"preset": preset, "rank": rank, "world_size": world}
    root.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"preset": preset, "description": PRESETS[preset].description,
                               "claims": claims, "runs": {}, "environment":
                               _environment(device), "alpha": ALPHA,
                               "high_accuracy": HIGH_ACCURACY}
    t0 = time.perf_counter()
    bar = tqdm(runs, desc="reproduce", unit="run", disable=not progress)
    for spec in bar:
        bar.set_postfix_str(spec.folder)
        try:
            rec = execute(spec, root, force, PRESETS[preset].geometry_null, progress)
        except FileNotFoundError as exc:
            if spec.kind != "probe":
                raise
            log(f"probe not run: {exc}")
            continue
        results["runs"].setdefault(spec.name, []).append(rec)
    results["wall_seconds"] = time.perf_counter() - t0
    results["gpu_run"] = "not measured" if device == "cpu" else "see the runs"
    results["verdicts"] = evaluate_claims(results, claims)
    _write_json_atomic(root / "results.json", results)
    write_report(results, root)
    return results


# ---------------------------------------------------------------------- report
def _figures(results: dict[str, Any], root: Path) -> dict[str, list[str]]:
    from . import plotting

    figs: dict[str, list[str]] = {}
    fdir = root / "figures"
    fdir.mkdir(exist_ok=True)
    R = results["runs"]
    curves = {f"{name} s{r['seed']}": r["curve"] for name, runs in R.items() for r in runs
              if r["kind"] == "train" and r.get("curve")}
    if curves:
        p = plotting.plot_accuracy_comparison(curves, fdir / "accuracy_curves.png")
        figs.setdefault("1", []).append(p.name)
    for name in ("gpt2", "llama", "mamba", "frozen", "edges_only"):
        for r in R.get(name, [])[:1]:
            npz = Path(r["folder"]) / "heldout_geometry.npz"
            if not npz.is_file():
                continue
            m = np.load(npz)
            nav = _nav(r)
            p = plotting.plot_leaf_first_hop(
                m["heatmap"], m["path_matrix"], fdir / f"leaf_first_hop_{name}.png",
                title=f"{name}: navigation {_pct(nav['value'])} (null 97.5% "
                      f"{_pct(nav['null_high'])}, chance {_pct(nav['chance'])})")
            figs.setdefault("6" if name == "edges_only" else "geometry", []).append(p.name)
    for name in ("gpt2", "llama", "mamba"):
        for r in R.get(name, [])[:1]:
            if r.get("geometry_curve"):
                p = plotting.plot_geometry_curves(r["geometry_curve"],
                                                  fdir / f"geometry_curve_{name}.png",
                                                  title=f"{name}: geometry over training")
                figs.setdefault("geometry", []).append(p.name)
    for r in R.get("node2vec", [])[:1]:
        for g, v in r["graphs"].items():
            p = plotting.plot_spectral_bars(np.array(v["spectrum"]), np.array(v["profile"]),
                                            fdir / f"node2vec_spectrum_{g}.png",
                                            f"Node2Vec on {g}")
            figs.setdefault("7", []).append(p.name)
    for r in R.get("probe", [])[:1]:
        rows = [{k: v for k, v in layer.items() if isinstance(v, dict)}
                for layer in r["layers"]]
        p = plotting.plot_probe_layers(rows, fdir / "probe_layers.png",
                                                  title=f"{r['model']} {r['pack']}")
        figs.setdefault("probe", []).append(p.name)
    return figs


def write_report(results: dict[str, Any], root: str | os.PathLike) -> Path:
    """``REPORT.md`` (and ``figures/``) from a results dict."""
    root = Path(root)
    figs = _figures(results, root)
    rows = results["verdicts"]
    L = [f"# hf_geommem reproduction ({results['preset']} preset)", "",
         f"{results['description']}.", "",
         f"Verdict rule: a claim is **reproduced** when all its checks pass, **partly** when "
         f"some do, **not reproduced** when none do. Checks use one significance rule "
         f"(one-sided p <= {results['alpha']}: binomial against chance for accuracies, the "
         f"shuffled-node permutation null for geometry scores), one memory verdict "
         f"({VERDICT_RULE}) and \"high accuracy\" = >= {_pct(results['high_accuracy'])}. Values "
         f"are final (never best-of); several seeds are given as mean (min-max, n); "
         f"over seeds {SEED_RULE}.", "",
         *markdown_table(["claim", "paper", "ours (setting)", "measured", "chance / null",
                          "verdict"],
                         [(f"{r['id']}. {r['statement']}", r["paper"], _setting(results, r["id"]),
                           r["measured"], r["reference"], f"**{r['verdict']}**") for r in rows])]
    L += ["", f"GPU run of the paper preset: {results.get('gpu_run', 'not measured')}.", ""]
    for r in rows:
        L += [f"## Claim {r['id']}: {r['statement']}", "", f"Verdict: **{r['verdict']}**.", ""]
        for ch in r["checks"]:
            L.append(f"- [{'x' if ch['passed'] else ' '}] {ch['what']}")
        L.append("")
        L += _claim_details(results, r["id"])
        for f in figs.get(r["id"], []):
            L += [f"![{f}](figures/{f})", ""]
    env = results["environment"]
    L += ["## Environment", "", f"- device: {env['device']}; torch threads "
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
    return write_text_atomic(root / "REPORT.md", "\n".join(L) + "\n")


def _setting(results: dict, cid: str) -> str:
    preset = PRESETS[results["preset"]]
    g = preset.graph
    gname = f"G({g['degree']},{g['length']}), {g['pauses']} pause(s)"
    if cid in ("1", "geometry"):
        parts = []
        for c in preset.models.values():
            d, r = c.get("data", g), _resolved(c)
            batch = "full batch" if r["batch_size"] is None else f"batch {r['batch_size']}"
            parts.append(f"{r['model']} on G({d['degree']},{d['length']}), lr "
                         f"{r['learning_rate']:g}, wd {r['weight_decay']:g}, {batch}, "
                         f"{r['lr_scheduler']}, {r['max_steps']} steps"
                         + (f", stop after {r['stop_after_train_exact']} perfect train eval(s)"
                            if r["stop_after_train_exact"] else ""))
        return f"{g['pauses']} pause(s); " + "; ".join(parts)
    if cid == "2":
        d = preset.in_context["data"]
        return f"in-context G({d['degree']},{d['length']}), {preset.in_context['config']['model']}"
    if cid in ("3", "4", "5"):
        return f"{gname}; {preset.controls['model']}"
    if cid == "6":
        return f"{gname}; {preset.edges_only['model']}, edges only, " \
               f"{preset.edges_only['max_steps']} steps"
    if cid == "7":
        return f"4 tiny graphs, {preset.node2vec['epochs']} epochs, m={preset.node2vec['dim']}"
    if cid == "8":
        return f"15-cycle linear net, D{preset.knobs['dim']}, {preset.knobs['steps']} steps"
    if cid == "use":
        return "the claim-1 models and the frozen control, layer 0 (token embeddings)"
    if cid == "probe" and preset.probe:
        return f"{preset.probe['model']}, {preset.probe['pack']}, last token"
    return ""


def _claim_details(results: dict, cid: str) -> list[str]:
    R = results["runs"]
    L: list[str] = []
    if cid in ("1", "2", "3", "4", "5", "geometry"):
        names = {"1": ("gpt2", "llama", "mamba"), "2": ("in_context",), "3": ("frozen",),
                 "4": ("forward", "gpt2"), "5": ("first_token",),
                 "geometry": ("gpt2", "llama", "mamba", "frozen")}[cid]
        L += markdown_table(
            ["run", "seed", "held-out exact", "held-out v1 (teacher-forced)",
             "held-out after v1 (teacher-forced)", "train exact", "navigation (null 97.5%)",
             "geometric level (null 97.5%)", "Dirichlet (null 2.5%)", "memory", "steps",
             "wall s"],
            [(name, r["seed"], *(_pct(r["final"].get(k, float("nan"))) for k in
                                 ("eval_exact_path", "eval_first_token", "eval_after_v1",
                                  "train_exact_path")),
              *_geometry_cells(r.get("geometry", {}).get("embedding")), r["final"].get("step"),
              f"{r['wall_seconds']:.0f}")
             for name in names for r in R.get(name, [])]) + [""]
    if cid == "use":
        L += markdown_table(
            ["run", "seed", "base v1", "ablated v1 (k)", "drop", "null drop 97.5%", "p", "leaf",
             "centroid", "middle node", "other arm's leaf", "random (97.5%)", "chance"],
            [(name, r["seed"], _pct(u["ablate_base_v1"]),
              f"{_pct(u['ablate_ablated_v1'])} ({u['ablate_k']})", _pct(u["ablate_drop_v1"]),
              _pct(u["ablate_null_drop_v1_q975"]), f"{u['ablate_p_v1']:.3g}",
              _pct(u["stand_in_leaf_v1"]), _pct(u["stand_in_centroid_v1"]),
              _pct(u["stand_in_middle_v1"]), _pct(u["stand_in_other_leaf_v1"]),
              f"{_pct(u['stand_in_random_v1_mean'])} ({_pct(u['stand_in_random_v1_q975'])})",
              _pct(u["chance"]))
             for name in USE_RUNS for r in R.get(name, []) for u in [r.get("use")] if u])
        L += ["", "Ablation: the k directions of the token embeddings that carry the arms' "
              "geometry (top principal directions of the arm means) are projected out at the "
              "leaf; the null ablates k random directions holding the same share of variance. "
              "Stand-in: the held-out leaf's embedding is replaced by the centroid of its arm's "
              "middle nodes (or one middle node, another arm's leaf, random vectors of the same "
              "norm); v1 teacher-forced after the root.", ""]
    if cid == "8" and R.get("knobs"):
        def per_seed(k: dict, key: str, fmt: str) -> str:
            return " / ".join(format(x.get(key, float("nan")), fmt) for x in k["rows"])

        table = knob_seed_table(R)
        L += [f"Seeds {', '.join(str(s) for s in table[0]['seeds'])}; values per seed, "
              f"separated by /.", ""]
        L += markdown_table(
            ["knob", "geometric level", "Dirichlet", "skewed margin", "top-1", "S_2",
             "ours (per seed)", "paper", "agrees (every seed)", "basis-dependent margin"],
            [(k["knob"], per_seed(k, "geometric_level", ".3f"),
              per_seed(k, "dirichlet_energy", ".3f"), per_seed(k, "skewed_margin", ".3f"),
              per_seed(k, "top1", ".2f"), per_seed(k, "spectral_fraction", ".3f"),
              _seed_verdicts(k["verdicts"]), k["paper"], k["agrees"],
              " / ".join(str(x["basis_dependent"]) for x in k["rows"])) for k in table])
        L += ["", "Agreement (`studies.knob_agrees`): the paper's \"geometric\" admits our "
              "geometric and zig-zag verdicts (it counts the zig-zag code, neighbours "
              "anti-aligned, as a geometry that self-edges remove); \"geometric (no "
              "zig-zag)\" only geometric; \"weaker\" is our weakly geometric.", ""]
    if cid == "7":
        for r in R.get("node2vec", [])[:1]:
            L += markdown_table(
                ["graph", "top-eigenspace mass (null 97.5%)", "geometric level", "Dirichlet",
                 "S_2", "memory"],
                [(g, f"{v['top_mass']['value']:.3f} ({v['top_mass']['null_high']:.3f})",
                  f"{v['geometric_level']:.3f}", f"{v.get('dirichlet_energy', float('nan')):.3f}",
                  f"{v['spectral_fraction']:.3f}", v["verdict"])
                 for g, v in r["graphs"].items()]) + [""]
    if cid == "probe":
        for r in R.get("probe", [])[:1]:
            L += [f"{r['model']} ({r['precision']}), pack {r['pack']}.", ""]
            L += markdown_table(
                ["layer", "geometric level (p)", "Dirichlet (p)", "memory (per layer)",
                 "p geometric (Holm over layers)", "geometric after Holm"],
                [(row["layer"], _value_p(row["geometric_level"]),
                  _value_p(row["dirichlet_energy"]), row["verdict"],
                  f"{row.get('p_geometric', float('nan')):.3g} "
                  f"({row.get('p_geometric_holm', float('nan')):.3g})",
                  row.get("geometric_holm", "n/a"))
                 for row in r["layers"]]) + [""]
            L += ["Each layer's verdict is a per-layer call (false-positive rate <= ALPHA per "
                  "layer); the last column corrects the layers' p-values for \"geometric\" by "
                  "Holm's method over all layers (family-wise error <= ALPHA).", ""]
    return L


def _geometry_cells(geo: dict | None) -> tuple[str, str, str, str]:
    """Navigation, geometric level, Dirichlet energy (each with the null's bound in the
    direction that counts) and the memory verdict of one run's embedding geometry."""
    if geo is None:
        return ("n/a",) * 4
    nav, level, energy = (geo[k] for k in ("navigation_accuracy", "geometric_level",
                                          "dirichlet_energy"))
    return (f"{_pct(nav['value'])} ({_pct(nav['null_high'])})",
            f"{level['value']:.3f} ({level['null_high']:.3f})",
            f"{energy['value']:.3f} ({energy['null_low']:.3f})", geo["verdict"])


def _value_p(score: dict) -> str:
    return f"{score['value']:.3f} ({score['p']:.3g})"


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
    path = Path(readme)
    text = path.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f"{str(path)!r} lacks the {README_BEGIN} ... {README_END} markers")
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    return write_text_atomic(path, f"{head}{README_BEGIN}\n{readme_section(results)}\n"
                                   f"{README_END}{tail}")
