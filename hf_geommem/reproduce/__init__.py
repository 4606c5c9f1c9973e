"""`hf-geommem reproduce`: every claim of the paper (science.md section 9) from one command.

A reproduction is a list of claims (:mod:`.claims`) over a set of runs (:mod:`.runspec`):

* A run is keyed by its settings (:meth:`RunSpec.key`): it lives in ``DIR/runs/<name>-<key>/``,
  finished runs (a ``result.json`` written atomically last) are reused, interrupted training runs
  resume from their last complete checkpoint, and changed settings give a new key, hence a new
  run. ``force`` redoes them (:mod:`.execute`, one function per run kind).
* A :class:`Claim` (:mod:`.claim`) owns its checks (each a boolean with the numbers it was
  computed from), its setting text, its details table and its figures. Its verdict follows one
  rule, :func:`claim_verdict`: all checks pass -> ``reproduced``, some -> ``partly``, none ->
  ``not reproduced``, with the library's one significance rule and memory verdict
  (:data:`VERDICT_RULE`); "high accuracy" means at least :data:`HIGH_ACCURACY`.
* :func:`evaluate_claims` is a pure function of the results (feed other numbers, get other
  verdicts); :func:`write_reproduction_report` renders ``REPORT.md`` and the figures from
  ``results.json`` (:mod:`.report`); :func:`run_reproduction` (:mod:`.pipeline`) runs it all,
  :mod:`.dry_run` times it; the presets are plain data (:mod:`.presets`).

Every name importable from ``hf_geommem.reproduce`` before it became a package still is.
"""

from __future__ import annotations

from .claim import HIGH_ACCURACY, SEED_RULE, VERDICT_RULE, Check, Claim, claim_verdict
from .claims import CLAIM_IDS, CLAIM_RUNS, CLAIMS, evaluate_claims, parse_claims
from .dry_run import step_probe
from .execute import (DDP_TIMEOUT_S, USE_RUNS, execute, per_device, task_for, train_run,
                      write_json_atomic)
from .execute import _execute_knobs, _execute_node2vec, _execute_probe  # noqa: F401
from .pipeline import plan, run_reproduction
from .presets import PAPER_EXTRA, REPRODUCTION_PRESETS, Preset
from .report import README_BEGIN, README_END, readme_section, update_readme, \
    write_reproduction_report
from .runspec import RunSpec, train_spec
from .study_claims import knob_seed_table

# the names these had when this was one module (benchmarks, scripts and tests use them)
PRESETS = REPRODUCTION_PRESETS
write_report = write_reproduction_report
_train, _task_for, _per_device, _train_run, _step_probe = (train_spec, task_for, per_device,
                                                           train_run, step_probe)

__all__ = ["HIGH_ACCURACY", "SEED_RULE", "VERDICT_RULE", "RunSpec", "Claim", "Check", "Preset",
           "REPRODUCTION_PRESETS", "PRESETS", "PAPER_EXTRA", "CLAIMS", "CLAIM_IDS", "CLAIM_RUNS",
           "DDP_TIMEOUT_S", "USE_RUNS", "plan", "run_reproduction", "execute",
           "evaluate_claims", "claim_verdict", "parse_claims", "knob_seed_table",
           "write_reproduction_report", "write_report", "readme_section", "update_readme",
           "README_BEGIN", "README_END", "train_spec", "step_probe", "task_for", "per_device",
           "train_run", "write_json_atomic"]
