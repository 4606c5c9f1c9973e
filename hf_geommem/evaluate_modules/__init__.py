"""``evaluate`` modules (thin wrappers over :mod:`hf_geommem.metrics`), loadable offline with
``evaluate.load(hf_geommem.evaluation.module_path("geometric_memory"))``."""
