"""Sparse autoencoders on OthelloGPT: train with sae-lens, load, and score against the board."""
