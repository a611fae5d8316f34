"""The corpus as token streams, its train/held-out split, and windows drawn from them.

1. ``corpus_streams``: the corpus, tokenized with a model's tokenizer, as one stream cut
   into blocks of ``BLOCK`` tokens; every ``VAL_EVERY``-th block is held out.
2. ``windows``: random windows of a stream, each after a BOS; ``text_windows`` draws them
   for a loaded language model from either split with a fixed seed (evaluation).
3. ``next_token_loss``: mean next-token cross-entropy.

Training (``workbench.training.lm``) and the text analyses (``workbench.text.saes``) both
read these, so they live here, below both.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from tokenizers import Tokenizer

from workbench.text.corpus import DEFAULT_CORPUS, load_corpus
from workbench.text.induction import per_token_loss
from workbench.text.tokenizer import encode_documents

BLOCK = 4096  # tokens per train/validation block
VAL_EVERY = 20  # every 20th block is held out


def corpus_streams(corpus: str, tokenizer: Tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """The corpus as training and held-out token streams."""
    documents = [d.text for d in load_corpus(corpus).documents]
    return split_stream(torch.from_numpy(encode_documents(tokenizer, documents).astype(np.int64)))


def split_stream(stream: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and held-out token streams: every ``VAL_EVERY``-th block of ``BLOCK`` held out."""
    blocks = stream.split(BLOCK)
    val = [b for i, b in enumerate(blocks) if i % VAL_EVERY == VAL_EVERY - 1]
    train = [b for i, b in enumerate(blocks) if i % VAL_EVERY != VAL_EVERY - 1]
    return torch.cat(train), torch.cat(val)


def windows(stream: torch.Tensor, n: int, n_ctx: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` random windows of ``n_ctx - 1`` tokens, each after a BOS (token 0)."""
    starts = torch.randint(0, len(stream) - n_ctx, (n,), generator=gen)
    body = stream[starts[:, None] + torch.arange(n_ctx - 1)]
    return torch.cat([torch.zeros(n, 1, dtype=body.dtype), body], dim=1)


def next_token_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over every position."""
    return per_token_loss(logits, tokens).mean()


TEXT_EVAL_SEED = 20261124  # held-out windows for evaluation


def text_windows(
    model,
    n_seqs: int,
    *,
    seq_len: int = 128,
    split: str = "val",
    seed: int = TEXT_EVAL_SEED,
    corpus: str = DEFAULT_CORPUS,
) -> torch.Tensor:
    """``n_seqs`` corpus windows of ``seq_len`` tokens (BOS first) from one split."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}.")
    if model.tokenizer is None:
        raise ValueError("The model has no tokenizer: is it a language model?")
    train, val = _streams(model.tokenizer.backend_tokenizer.to_str(), corpus)
    stream = train if split == "train" else val
    return windows(stream, n_seqs, seq_len, torch.Generator().manual_seed(seed))


@functools.lru_cache(maxsize=4)
def _streams(tokenizer_json: str, corpus: str) -> tuple[torch.Tensor, torch.Tensor]:
    return corpus_streams(corpus, Tokenizer.from_str(tokenizer_json))
