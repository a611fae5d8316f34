"""Induction heads: the repeated-random-tokens test, per-head scores and ablations.

Olsson et al. (2022): on a sequence of random tokens repeated once, a model with induction
heads predicts the second repeat far better than the first, which it cannot predict at all.

1. ``repeated_tokens``: ``[BOS, r_1..r_L, r_1..r_L]`` with ``r`` uniform over the
   vocabulary (EOT/BOS excluded).
2. ``induction_test``: per-position loss; mean over each repeat; from the attention
   patterns, each head's *induction score* (mean attention from a token in the second
   repeat to the token after its earlier occurrence, ``i - L + 1``) and *previous-token
   score* (mean attention to ``i - 1``).
3. ``ablation_effects``: the rise in second-repeat loss when each head's output is
   replaced by its mean over positions (or zero), one head at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from workbench.attribution.patching import TokenPair

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer


def repeated_tokens(
    model: HookedTransformer, *, half_len: int = 50, n_seqs: int = 32, seed: int = 0
) -> Int[Tensor, "batch pos"]:
    """``n_seqs`` sequences ``[BOS, r, r]`` of ``1 + 2 * half_len`` tokens."""
    if 1 + 2 * half_len > model.cfg.n_ctx:
        raise ValueError(
            f"1 + 2 * half_len = {1 + 2 * half_len} exceeds the model's n_ctx {model.cfg.n_ctx}."
        )
    bos = _bos(model)
    gen = torch.Generator().manual_seed(seed)
    high = model.cfg.d_vocab
    rand = torch.randint(0, high - 1, (n_seqs, half_len), generator=gen)
    rand = rand + (rand >= bos).long()  # skip the BOS id
    first = torch.full((n_seqs, 1), bos, dtype=torch.long)
    return torch.cat([first, rand, rand], dim=1).to(model.cfg.device)


@dataclass
class InductionResult:
    half_len: int
    loss_per_position: Float[Tensor, " pos"]  # predicting token pos+1, mean over sequences
    induction_scores: Float[Tensor, "layer head"]
    prev_token_scores: Float[Tensor, "layer head"]

    @property
    def loss_first(self) -> float:
        """Mean loss predicting the first repeat (tokens 2..L; token 1 follows only BOS)."""
        return self.loss_per_position[1 : self.half_len].mean().item()

    @property
    def loss_second(self) -> float:
        """Mean loss predicting the second repeat (tokens L+2..2L: the first of it is new)."""
        return self.loss_per_position[self.half_len + 1 :].mean().item()

    @property
    def loss_drop(self) -> float:
        return self.loss_first - self.loss_second

    def top_heads(self, n: int = 5) -> list[tuple[str, float]]:
        flat = self.induction_scores.flatten()
        n_heads = self.induction_scores.shape[1]
        order = flat.argsort(descending=True)[:n]
        return [(f"L{i // n_heads}H{i % n_heads}", flat[i].item()) for i in order.tolist()]

    def to_dict(self) -> dict:
        return {
            "half_len": self.half_len,
            "loss_first_repeat": round(self.loss_first, 4),
            "loss_second_repeat": round(self.loss_second, 4),
            "loss_drop": round(self.loss_drop, 4),
            "max_induction_score": round(self.induction_scores.max().item(), 4),
            "top_induction_heads": [(h, round(s, 4)) for h, s in self.top_heads(3)],
        }


@torch.no_grad()
def induction_test(
    model: HookedTransformer, *, half_len: int = 50, n_seqs: int = 32, seed: int = 0
) -> InductionResult:
    tokens = repeated_tokens(model, half_len=half_len, n_seqs=n_seqs, seed=seed)
    names = {f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)}
    logits, cache = model.run_with_cache(tokens, names_filter=lambda n: n in names)
    loss = per_token_loss(logits, tokens)
    pos = tokens.shape[1]
    dest = torch.arange(half_len + 1, pos)
    induction, prev = [], []
    for layer in range(model.cfg.n_layers):
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"]  # batch head dest src
        induction.append(pattern[:, :, dest, dest - half_len + 1].mean(dim=(0, 2)))
        later = torch.arange(2, pos)
        prev.append(pattern[:, :, later, later - 1].mean(dim=(0, 2)))
    return InductionResult(
        half_len, loss.mean(0).cpu(), torch.stack(induction).cpu(), torch.stack(prev).cpu()
    )


@torch.no_grad()
def ablation_effects(
    model: HookedTransformer,
    *,
    half_len: int = 50,
    n_seqs: int = 32,
    seed: int = 0,
    method: Literal["mean", "zero"] = "mean",
    progress: bool = True,
) -> Float[Tensor, "layer head"]:
    """Rise in second-repeat loss when one head's output (``hook_z``) is ablated (one
    forward pass per head, counted by a progress bar)."""
    tokens = repeated_tokens(model, half_len=half_len, n_seqs=n_seqs, seed=seed)
    second = slice(half_len + 1, None)
    base = per_token_loss(model(tokens), tokens)[:, second].mean()
    effects = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    heads = [
        (layer, head) for layer in range(model.cfg.n_layers) for head in range(model.cfg.n_heads)
    ]
    desc = f"ablating {model.cfg.model_name} heads"
    for layer, head in tqdm(heads, desc=desc, unit="head", disable=not progress):

        def ablate(z, hook, head=head):
            if method == "mean":
                z[:, :, head] = z[:, :, head].mean(dim=1, keepdim=True)
            else:
                z[:, :, head] = 0.0
            return z

        logits = model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.attn.hook_z", ablate)])
        loss = per_token_loss(logits, tokens)[:, second].mean()
        effects[layer, head] = (loss - base).item()
    return effects


@torch.no_grad()
def attention_patterns(
    model: HookedTransformer, tokens: Int[Tensor, " pos"]
) -> Float[Tensor, "layer head dest src"]:
    """Every head's attention pattern on one sequence."""
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(tokens[None], names_filter=lambda n: n in names)
    return torch.stack([cache[n][0] for n in names]).cpu()


def induction_pair(model: HookedTransformer, *, half_len: int = 20, seed: int = 0) -> TokenPair:
    """A pair that breaks only the *key* side of induction.

    Clean: ``[BOS, r_1..r_L, r_1..r_{L-1}]``; after ``r_{L-1}`` comes ``r_L`` by
    induction (an induction head at the last position attends to the earlier ``r_L``,
    whose previous token, written there by a previous-token head, matches the query).
    Corrupted: the first copy's ``r_{L-1}`` replaced by another token, so nothing earlier
    is preceded by the query token, while ``r_L`` is still there to be copied.
    Metric: logit of ``r_L`` minus logit of ``r_1``.
    """
    clean = repeated_tokens(model, half_len=half_len, n_seqs=1, seed=seed)[:, :-1]
    other = repeated_tokens(model, half_len=half_len, n_seqs=1, seed=seed + 10_000)
    corrupted = clean.clone()
    corrupted[0, half_len - 1] = other[0, 1]
    answer, wrong = int(clean[0, half_len]), int(clean[0, 1])
    return TokenPair(clean, corrupted, clean.shape[1] - 1, answer, wrong)


@torch.no_grad()
def composition_scores(
    model: HookedTransformer, kind: Literal["q", "k", "v"] = "k"
) -> Float[Tensor, "head_0 head_1"]:
    """Elhage et al.'s composition scores of each layer-0 head into each layer-1 head:
    ||W_OV^0 composed into the layer-1 head's Q, K or V side||_F over the product of norms."""
    ov = model.W_V[0] @ model.W_O[0]  # head_0 d_model d_model
    qk = model.W_Q[1] @ model.W_K[1].transpose(-1, -2)  # head_1 d_model d_model
    ov_next = model.W_V[1] @ model.W_O[1]
    scores = torch.zeros(model.cfg.n_heads, model.cfg.n_heads)
    for a in range(model.cfg.n_heads):
        for b in range(model.cfg.n_heads):
            if kind == "q":
                product = ov[a] @ qk[b]
            elif kind == "k":
                product = qk[b] @ ov[a].T
            else:
                product = ov[a] @ ov_next[b]
            right = qk[b] if kind in ("q", "k") else ov_next[b]
            scores[a, b] = product.norm() / (ov[a].norm() * right.norm())
    return scores


def per_token_loss(
    logits: Float[Tensor, "batch pos d_vocab"], tokens: Int[Tensor, "batch pos"]
) -> Float[Tensor, "batch pos_minus_1"]:
    """Cross-entropy of each next token (position i predicts token i + 1)."""
    log_probs = logits[:, :-1].float().log_softmax(-1)
    return -log_probs.gather(-1, tokens[:, 1:, None])[..., 0]


def _bos(model: HookedTransformer) -> int:
    if model.tokenizer is not None and model.tokenizer.bos_token_id is not None:
        return model.tokenizer.bos_token_id
    return 0
