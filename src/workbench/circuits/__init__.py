"""Feature-level circuits on OthelloGPT. So far: per-layer transcoders (``transcoders``)."""
