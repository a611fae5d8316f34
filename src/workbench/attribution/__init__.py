"""What causes a move's logit: ``logit`` (direct logit attribution, gradient x activation,
integrated gradients), ``patching`` (exact activation and path patching, attribution
patching), ``batched_patching`` (the exact sweeps, many interventions per forward pass)."""
