"""The claims of a reproduction: :data:`CLAIMS` (in report order), the ids and the
claim-to-runs map derived from it, and :func:`evaluate_claims`, a pure function of the
results (feed other numbers, get other verdicts)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .claim import Claim, claim_verdict
from .study_claims import STUDY_CLAIMS
from .trained_claims import GEOMETRY_CLAIMS, TRAINED_CLAIMS

__all__ = ["CLAIMS", "CLAIM_IDS", "CLAIM_RUNS", "evaluate_claims", "parse_claims"]

_BY_ID = {c.id: c for c in TRAINED_CLAIMS + STUDY_CLAIMS + GEOMETRY_CLAIMS}
CLAIMS: list[Claim] = [_BY_ID[i] for i in ("1", "2", "3", "4", "5", "6", "7", "8", "geometry",
                                           "use", "probe")]
"""Every claim, in the report's order."""
CLAIM_IDS: tuple[str, ...] = tuple(c.id for c in CLAIMS)
CLAIM_RUNS: dict[str, tuple[str, ...]] = {c.id: c.needs for c in CLAIMS}
"""Claim id -> the run names it needs."""


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


