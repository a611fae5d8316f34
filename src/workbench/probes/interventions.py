"""Edit what the model believes about the board along probe directions, and check it.

Nanda's probe-direction editing applied to Li et al.'s intervention experiment:

1. Pick a (game, position, square) whose stone we flip in the model's mind (mine <->
   theirs), chosen so that the flip changes the set of legal moves.
2. At each edited site (one layer, or every layer from one on), at that position only,
   move the residual along ``W[:, square, target] - W[:, square, other]`` until the probe's
   logit for the target class leads every other class by ``scale`` (a no-op where it
   already does). Hooks are temporary: removed even if the forward pass raises.
3. Score the predictions against the legal moves of the *edited* board: the number of
   errors among the top-N moves, N = the number of legal moves there (Li et al.'s metric),
   for the unedited and the edited model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from workbench.activations import resid_sites, validate_hooks
from workbench.evaluation import in_top_n
from workbench.models.config import require_othello_model
from workbench.othello.engine import GameRecord, legal_moves, pack, unpack
from workbench.othello.squares import EMPTY, MINE, THEIRS
from workbench.othello.tokens import N_CTX, TOKEN_TO_SQUARE, model_inputs
from workbench.probes.probe import LinearProbe, ProbeSuite

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer


@dataclass(frozen=True)
class Edit:
    """Set ``square`` to ``to_class`` (EMPTY / MINE / THEIRS) at ``position`` of ``game``."""

    game: int
    position: int
    square: int
    to_class: int


def push_to_class(
    x: Float[Tensor, "n d_model"],
    probe: LinearProbe,
    squares: Int[Tensor, " n"],
    to_class: Int[Tensor, " n"],
    scale: float,
    iterations: int = 3,
) -> Float[Tensor, "n d_model"]:
    """Smallest moves along probe directions so each row's square reads as ``to_class``.

    For each row, while another class's logit is within ``scale`` of the target's, step
    along the difference of their weight vectors just far enough to open the margin.
    """
    x = x.clone().float()
    W = probe.W[:, squares, :].permute(1, 0, 2)  # (n, d_model, classes)
    b = probe.b[squares]  # (n, classes)
    rows = torch.arange(len(x))
    for _ in range(iterations):
        logits = torch.einsum("nd,ndc->nc", x, W) + b
        target = logits[rows, to_class]
        others = logits.clone()
        others[rows, to_class] = -torch.inf
        rival = others.argmax(-1)
        gap = target - others[rows, rival]
        need = (scale - gap).clamp(min=0)
        direction = W[rows, :, to_class] - W[rows, :, rival]
        x = x + (need / direction.pow(2).sum(-1).clamp(min=1e-8))[:, None] * direction
    return x


def edited_legal_moves(
    relative_board: Int[np.ndarray, "n 64"], squares: np.ndarray, to_class: np.ndarray
) -> Bool[np.ndarray, "n 64"]:
    """Legal moves of the player to move on boards with one square changed."""
    board = relative_board.copy()
    board[np.arange(len(board)), squares] = to_class
    return unpack(legal_moves(pack(board == MINE), pack(board == THEIRS)))


def sample_flip_edits(
    games: GameRecord, n_edits: int, *, seed: int = 0, max_tries: int = 20
) -> tuple[list[Edit], Bool[np.ndarray, "n 64"]]:
    """Random mine<->theirs flips that change the legal set, with the edited legal sets."""
    rng = np.random.default_rng(seed)
    boards = games.boards("relative")[:, 1 : N_CTX + 1]  # position p -> state p + 1
    legal = games.legal_mask()[:, 1 : N_CTX + 1]
    edits: list[Edit] = []
    new_legal: list[np.ndarray] = []
    for _ in range(max_tries):
        g = rng.integers(0, games.n_games, size=4 * n_edits)
        p = rng.integers(0, N_CTX, size=4 * n_edits)
        board = boards[g, p]
        ok = legal[g, p].any(-1)  # the game goes on
        occupied = board != EMPTY
        weights = occupied / np.maximum(occupied.sum(-1, keepdims=True), 1)
        s = np.array([rng.choice(64, p=w) if w.sum() > 0 else 0 for w in weights])
        to = np.where(board[np.arange(len(s)), s] == MINE, THEIRS, MINE)
        after = edited_legal_moves(board, s, to)
        changed = ok & occupied.any(-1) & (after != legal[g, p]).any(-1) & after.any(-1)
        for i in np.flatnonzero(changed):
            edits.append(Edit(int(g[i]), int(p[i]), int(s[i]), int(to[i])))
            new_legal.append(after[i])
            if len(edits) == n_edits:
                return edits, np.stack(new_legal)
    raise RuntimeError(f"Found only {len(edits)} of {n_edits} edits that change the legal set.")


@torch.inference_mode()
def predict_with_edits(
    model: HookedTransformer,
    games: GameRecord,
    edits: list[Edit],
    probes: dict[str, LinearProbe],
    *,
    scale: float,
    chunk_size: int = 100,
) -> Float[Tensor, "n 64"]:
    """Next-move logits over squares at each edit's position, with the edits applied.

    ``probes`` maps hook site -> relative-frame probe; every given site is edited.
    """
    require_othello_model(model)
    validate_hooks(model, list(probes))
    check_probe_widths(model, probes.values())
    out = torch.full((len(edits), 64), -torch.inf)
    # Causal attention: tokens after an edit's position cannot change its prediction, so
    # run edits sorted by position, each chunk only up to the last position it needs.
    order = sorted(range(len(edits)), key=lambda i: edits[i].position)
    for chunk in (order[i : i + chunk_size] for i in range(0, len(order), chunk_size)):
        logits = _edited_logits(model, games, [edits[i] for i in chunk], probes, scale)
        out[chunk] = logits
    return out


class ProbeMismatchError(ValueError):
    """Probes that read another width than the model's residual stream."""


def check_probe_widths(model: HookedTransformer, probes) -> None:
    """Fail unless every probe reads ``d_model``-wide activations: probes trained on
    another model would otherwise fail deep inside an einsum, or not at all."""
    for probe in probes:
        if probe.W.shape[0] != model.cfg.d_model:
            raise ProbeMismatchError(
                f"The {probe.property!r} probe at {probe.hook} reads d_model={probe.W.shape[0]}, "
                f"but this model's residual stream has d_model={model.cfg.d_model}: the probes "
                "were trained on another model. Use that model's suite (load_probes(NAME) for "
                "the model NAME they belong to)."
            )


def _edited_logits(model, games, edits, probes, scale) -> Float[Tensor, "n 64"]:
    idx = torch.tensor([[e.game, e.position, e.square, e.to_class] for e in edits])
    length = int(idx[:, 1].max()) + 1
    tokens = torch.from_numpy(model_inputs(games[idx[:, 0].numpy()])[:, :length])
    rows = torch.arange(len(edits))

    def make_hook(probe: LinearProbe):
        def hook(resid: Tensor, hook) -> Tensor:
            here = resid[rows, idx[:, 1]]
            pushed = push_to_class(here, probe, idx[:, 2], idx[:, 3], scale)
            resid[rows, idx[:, 1]] = pushed.to(resid.dtype)
            return resid

        return hook

    fwd_hooks = [(site, make_hook(p)) for site, p in probes.items()] if scale > 0 else []
    with model.hooks(fwd_hooks=fwd_hooks):  # removed even if the forward pass raises
        logits = model(tokens.to(model.cfg.device))[rows, idx[:, 1]]
    out = torch.full((len(edits), 64), -torch.inf)
    out[:, TOKEN_TO_SQUARE[1:]] = logits[:, 1:].float().cpu()
    return out


def top_n_errors(logits: Float[Tensor, "n 64"], legal: Bool[np.ndarray, "n 64"]) -> np.ndarray:
    """Errors among the top-N predictions, N = number of legal moves (Li et al. 2023)."""
    legal_t = torch.from_numpy(legal)
    return (in_top_n(logits, legal_t.sum(-1)) & ~legal_t).sum(-1).numpy()


@dataclass(frozen=True)
class InterventionResult:
    site: str  # first edited site
    mode: str  # "single" (that site only) or "from" (that site and every later one)
    scale: float
    errors_before: float  # mean top-N errors of the unedited model vs the edited board
    errors_after: float  # the same for the edited model
    errors_original: float  # edited model vs the *original* board's legal moves
    n_edits: int

    def to_dict(self) -> dict:
        return asdict(self)


def intervention_sweep(
    model: HookedTransformer,
    suite: ProbeSuite,
    games: GameRecord,
    *,
    n_edits: int = 500,
    scales: tuple[float, ...] = (1.0, 3.0, 10.0),
    modes: tuple[str, ...] = ("single", "from"),
    seed: int = 0,
    progress: bool = True,
) -> list[InterventionResult]:
    """Li et al.'s experiment over every residual site, mode and scale (a bar per run)."""
    unknown = [mode for mode in modes if mode not in ("single", "from")]
    if unknown:
        raise ValueError(f"Unknown modes {unknown}: valid modes are 'single' and 'from'.")
    sites = [s for s in resid_sites(model) if suite.key("relative", s) in suite.probes]
    check_probe_widths(model, [suite.get("relative", s) for s in sites])
    edits, legal_after = sample_flip_edits(games, n_edits, seed=seed)
    legal_before = np.stack([games.legal_mask()[e.game, e.position + 1] for e in edits])
    base = predict_with_edits(model, games, edits, {}, scale=0.0)
    before = top_n_errors(base, legal_after).mean()
    results = []
    runs = [
        (i, site, mode, scale) for i, site in enumerate(sites) for mode in modes for scale in scales
    ]
    for i, site, mode, scale in tqdm(runs, desc="interventions", unit="run", disable=not progress):
        edited_sites = [site] if mode == "single" else sites[i:]
        probes = {s: suite.get("relative", s) for s in edited_sites}
        logits = predict_with_edits(model, games, edits, probes, scale=scale)
        results.append(
            InterventionResult(
                site=site,
                mode=mode,
                scale=scale,
                errors_before=float(before),
                errors_after=float(top_n_errors(logits, legal_after).mean()),
                errors_original=float(top_n_errors(logits, legal_before).mean()),
                n_edits=len(edits),
            )
        )
    return results


def probes_from(
    model: HookedTransformer, suite: ProbeSuite, first_site: str
) -> dict[str, LinearProbe]:
    """Relative-frame probes for ``first_site`` and every later residual site that has one."""
    sites = [s for s in resid_sites(model) if suite.key("relative", s) in suite.probes]
    if first_site not in sites:
        raise ValueError(f"No relative-frame probe at {first_site!r}; probed sites: {sites}.")
    return {s: suite.get("relative", s) for s in sites[sites.index(first_site) :]}


@dataclass
class FlipScan:
    """Every single-stone flip at one position of one game, and what the model then predicts.

    Row ``i`` flips ``squares[i]`` to ``to_class[i]`` (mine <-> theirs).
    """

    position: int  # the model's position (it has read moves 0..position)
    squares: Int[np.ndarray, " k"]
    to_class: Int[np.ndarray, " k"]
    probs_before: Float[np.ndarray, " 64"]  # the unedited model, over squares
    probs_after: Float[np.ndarray, "k 64"]  # the edited model
    legal_before: Bool[np.ndarray, " 64"]  # true legal moves of the real board
    legal_after: Bool[np.ndarray, "k 64"]  # true legal moves of each edited board
    errors_before: Int[np.ndarray, " k"]  # top-N errors of the unedited model vs edited board
    errors_after: Int[np.ndarray, " k"]  # the same for the edited model


def scan_flips(
    model: HookedTransformer,
    suite: ProbeSuite,
    games: GameRecord,
    position: int,
    *,
    game: int = 0,
    first_site: str,
    scale: float,
) -> FlipScan:
    """Flip each stone of the board at ``position`` in turn, editing from ``first_site`` on."""
    if not 0 <= position < min(int(games.lengths[game]), N_CTX):
        raise ValueError(
            f"position {position} is outside game {game}'s model positions "
            f"0..{min(int(games.lengths[game]), N_CTX) - 1}."
        )
    board = games.boards("relative")[game, position + 1]
    squares = np.flatnonzero(board != EMPTY)
    to_class = np.where(board[squares] == MINE, THEIRS, MINE)
    edits = [Edit(game, position, int(s), int(c)) for s, c in zip(squares, to_class, strict=True)]
    probes = probes_from(model, suite, first_site)
    before = predict_with_edits(model, games, edits[:1], {}, scale=0.0)
    after = predict_with_edits(model, games, edits, probes, scale=scale)
    legal_after = edited_legal_moves(np.repeat(board[None], len(squares), 0), squares, to_class)
    return FlipScan(
        position=position,
        squares=squares,
        to_class=to_class,
        probs_before=before.softmax(-1)[0].numpy(),
        probs_after=after.softmax(-1).numpy(),
        legal_before=games.legal_mask()[game, position + 1],
        legal_after=legal_after,
        errors_before=top_n_errors(before.expand(len(edits), -1), legal_after),
        errors_after=top_n_errors(after, legal_after),
    )
