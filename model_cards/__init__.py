"""Card templates (installed as ``hf_geommem.model_cards``)."""
