"""Train sparse autoencoders on an OthelloGPT with sae-lens's own trainer.

1. Stream activations: fresh random games from the engine (seeded by ``seed`` and the
   chunk number, so a run is reproducible), run through the model with a hook at the one
   site (``activations.harvest``: no full cache), shuffled across ``buffer_games`` games;
   the stream ends with the run, its last chunk harvesting only the games it needs;
   with ``prefetch=n``, a background thread makes the next batches while the trainer
   steps (``Prefetched``: the same batches in the same order).
2. Build the sae-lens training SAE for the chosen architecture, with sae-lens metadata
   (model, hook, context 59, no BOS) so the saved SAE describes where it belongs.
3. Fit with ``sae_lens.SAETrainer`` (it owns the loss, the optimiser, the schedules and the
   dead-feature bookkeeping); return the inference SAE, which ``save_sae`` writes in
   sae-lens's format.
4. Optionally checkpoint as it goes (``workbench.checkpoints``) and on SIGINT / SIGTERM: the same
   call with the same folder resumes, with the trainer's state and the stream at the batch
   it had reached, and ends with the SAE an uninterrupted run would have.

Steps 2 and 3 are ``workbench.saes.trainer``'s, imported when training starts: importing
this module (its config, the stream) imports neither sae-lens nor TransformerLens. The
config and what both halves share live in ``workbench.saes.config``; import them from here.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, nullcontext
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from workbench.activations import chunked_batches, harvest, validate_hooks
from workbench.checkpoints import CheckpointFolder
from workbench.models.registry import canonical_name
from workbench.othello.engine import play_games
from workbench.othello.tokens import N_CTX
from workbench.saes.cache import ActivationCache
from workbench.saes.config import (  # noqa: F401 (the run's config, imported from here)
    ARCHITECTURES,
    NORM_BATCHES,
    Architecture,
    Progress,
    SAETrainConfig,
    input_scale,
    matryoshka_widths,
)
from workbench.saes.loading import RANDOM_INIT, hook_width
from workbench.signals import StopSignals

if TYPE_CHECKING:
    from sae_lens import SAE
    from transformer_lens import HookedTransformer


#: Makes the stream of training batches from batch ``start`` (a resume's position) to
#: ``end`` (the run's length: it may stop there and harvest no more than that needs).
StreamFactory = Callable[..., Iterator[Float[Tensor, "batch d_in"]]]


def activation_stream(
    model: HookedTransformer,
    hook: str,
    *,
    batch_size: int,
    buffer_games: int = 2048,
    seed: int = 0,
    cache: ActivationCache | None = None,
    start: int = 0,
    end: int | None = None,
    n_games: int | None = None,
) -> Iterator[Float[Tensor, "batch d_in"]]:
    """Shuffled batches of ``hook`` activations on fresh random games, endless without ``end``.

    ``n_games``: instead, cycle over the activations of the first ``n_games`` games (a
    multiple of ``buffer_games``), harvested once and kept in memory, in a new order on
    every pass: a short run pays for fewer forward passes (its first pass is the fresh
    stream's).

    ``cache``: read the model's activations from it where an earlier run harvested them
    (the same batches either way; ``saes.cache``). ``start``: the first batch to yield; the
    chunks of games before it are skipped unplayed, so a resumed run sees what an
    uninterrupted one would have. ``end``: the batch to stop before (a run's length, as
    ``train_sae`` passes it). The chunk that holds the last batch plays its ``buffer_games``
    games as every chunk does but harvests only the first ones, as many as its remaining
    batches need (less than one game's positions over), and shuffles their positions
    alone: its batches differ from an endless stream's (a shuffle of the whole chunk draws
    from nearly every game), the chunks before it are the same.
    """
    validate_hooks(model, [hook])
    per_chunk = buffer_games * N_CTX // batch_size
    if per_chunk == 0:
        raise ValueError(
            f"buffer_games={buffer_games} x {N_CTX} positions cannot fill one batch of "
            f"{batch_size}: use buffer_games >= {-(-batch_size // N_CTX)}."
        )
    distinct = None
    if n_games is not None:
        if n_games < buffer_games or n_games % buffer_games:
            raise ValueError(
                f"n_games={n_games} must be a multiple of buffer_games={buffer_games}."
            )
        distinct = n_games // buffer_games  # chunks of games, cycled over
    where = None if cache is None else cache.stream_dir(model, seed=seed, buffer_games=buffer_games)
    kept: dict[int, Tensor] = {}  # n_games: each distinct chunk's activations

    def harvested(chunk: int, rng: np.random.Generator, used: int) -> Float[Tensor, "n d_in"]:
        games = play_games(n_games=buffer_games, rng=rng)  # all: the rng goes on to shuffle
        if where is None:
            acts = harvest(model, games[:used], [hook], progress=False).acts[hook]
        else:  # the cache keeps whole chunks, for runs of any length
            acts = cache.chunk(model, games, hook, where / f"chunk-{chunk:06d}")[:used]
        return acts.reshape(-1, acts.shape[-1])

    def shuffled(chunk: int, n_batches: int) -> Float[Tensor, "n d_in"]:
        base = chunk if distinct is None else chunk % distinct
        if chunk == base:  # the games' generator goes on to shuffle them
            rng = np.random.default_rng([seed, chunk])
            # every chunk's buffer_games games (the rows after its last whole batch unused,
            # as ever) but the run's last chunk's: only as many games as its batches need
            used = buffer_games if n_batches == per_chunk else -(-n_batches * batch_size // N_CTX)
            acts = harvested(chunk, rng, used)
        else:  # a later pass (or a resume past the first): a new order of the same games
            acts = kept.get(base)
            if acts is None:
                acts = harvested(base, np.random.default_rng([seed, base]), buffer_games)
            rng = np.random.default_rng([seed, chunk])
        if distinct is not None:
            kept[base] = acts
        return acts[torch.from_numpy(rng.permutation(len(acts)))]

    yield from chunked_batches(
        shuffled, per_chunk=per_chunk, batch_size=batch_size, start=start, end=end
    )


def recorded_model_name(cfg: SAETrainConfig, model: HookedTransformer) -> str:
    """The model name an SAE records: ``cfg.model_name`` with an alias resolved
    (``othello-random-init`` -> ``othello-gpt-cpu-6l-random-init``), else the model's own."""
    name = cfg.model_name or model.cfg.model_name
    base = name.removesuffix(RANDOM_INIT)
    return canonical_name(base) + name[len(base) :]


@dataclass
class TrainedSAE:
    """A trained inference SAE and how its training went."""

    sae: SAE
    config: SAETrainConfig
    seconds: float
    tokens_per_s: float
    final_l0: float | None
    dead_features: int | None
    resumed_at: tuple[int, ...] = ()  # activations seen at each resume from a checkpoint

    def summary(self) -> dict:
        return {
            "config": asdict(self.config),
            "seconds": round(self.seconds, 1),
            "tokens_per_s": round(self.tokens_per_s),
            "final_l0": self.final_l0,
            "dead_features": self.dead_features,
            **({"resumed_at": list(self.resumed_at)} if self.resumed_at else {}),
        }


class TrainingStopped(RuntimeError):
    """A checkpointed run was stopped by a signal; its checkpoint resumes it."""


class _StopRequested(Exception):
    """Raised from the activation stream, between two steps, when a stop was asked for."""


class Prefetched:
    """The items of ``stream``, in order, made by a background thread up to ``depth``
    ahead (a bounded queue), so that making the next batches (games, forward pass) overlaps
    with training on this one; torch releases the GIL inside its kernels. An exception in
    the stream is raised here at the item where it happened, as a serial stream would.
    ``close()`` (or leaving the ``with`` block) stops the thread."""

    _END = object()

    def __init__(self, stream: Iterator, depth: int = 2):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=self._produce, args=(stream,), name="activation-stream", daemon=True
        )
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, stream: Iterator) -> None:
        try:
            for item in stream:
                if not self._put((item, None)):
                    return
        except BaseException as error:  # handed to the consumer at this position
            self._put((None, error))
            return
        self._put((self._END, None))

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        item, error = self._queue.get()
        if error is not None:
            self._done = True
            raise error
        if item is self._END:
            self._done = True
            raise StopIteration
        return item

    def close(self) -> None:
        self._stop.set()
        self._done = True
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _until_stopped(stream: Iterator[Tensor], signals: StopSignals) -> Iterator[Tensor]:
    for batch in stream:
        if signals.requested:
            raise _StopRequested
        yield batch


def train_sae(
    model: HookedTransformer,
    cfg: SAETrainConfig,
    *,
    activations: StreamFactory | None = None,
    checkpoints: str | Path | None = None,
    n_checkpoints: int = 10,
    prefetch: int = 0,
) -> TrainedSAE:
    """Train one SAE on ``cfg.hook`` of ``model`` with sae-lens's trainer (see module doc).

    ``activations``: makes the batches of ``cfg.batch_size`` activations to train on, called
    as ``activations(start=n, end=m)`` for batches ``n`` to ``m - 1`` (``m``: every batch the
    run draws, the scale estimate's and a step's each); default: the OthelloGPT stream of
    fresh random games (``activation_stream``). Language models pass
    ``workbench.text.saes.text_activation_stream`` with its settings bound.
    ``checkpoints``: a folder to checkpoint into, ``n_checkpoints`` times evenly over the
    run, after its last step and on SIGINT / SIGTERM (then ``TrainingStopped`` is raised);
    a run already there resumes (``workbench.checkpoints``). The caller deletes the folder
    once the SAE is stored. ``prefetch``: batches made ahead by a background thread while
    the trainer steps (``Prefetched``; the same batches in the same order); 0: made in
    the trainer's thread, one at a time (the default for now). With ``prefetch`` a stop
    signal ends the run up to ``prefetch`` batches after the one it arrived at.
    """
    from workbench.saes import trainer as sl  # sae-lens (seconds on first use)

    d_in = hook_width(model, cfg.hook)
    sae = sl.training_sae(cfg, d_in, recorded_model_name(cfg, model))
    # what must match to resume: everything but where it runs (a GPU run may end on a CPU)
    settings = {**asdict(cfg), "extra": {k: v for k, v in cfg.extra.items() if k != "device"}}
    if cfg.n_games is None:  # as before the option existed: older checkpoints still resume
        del settings["n_games"]
    store = None if checkpoints is None else CheckpointFolder(checkpoints, settings)
    trainer_cfg = sl.trainer_config(cfg, store, n_checkpoints)
    total = trainer_cfg.total_training_samples  # whole batches
    make_stream = activations or partial(
        activation_stream, model, cfg.hook, batch_size=cfg.batch_size,
        buffer_games=cfg.buffer_games, seed=cfg.seed, n_games=cfg.n_games,
    )  # fmt: skip
    found = None
    if store is not None:
        store.claim()  # the folder's lock: held until the run ends
    try:
        if store is not None:
            found = store.latest(load=sl.readable_checkpoint)
        done = Progress() if found is None else Progress.from_dict(found[1])
        # The stream resumes after the batches already drawn: the scale estimate's, then
        # a step's each.
        drawn = 0 if found is None else done.steps + (NORM_BATCHES if _scale_estimated(cfg) else 0)
        start = time.perf_counter()

        def committed(checkpoint_path: Path | None) -> None:
            samples = trainer.n_training_samples
            seconds = done.seconds + time.perf_counter() - start
            progress = Progress(samples, samples // cfg.batch_size, seconds, done.resumed_at)
            store.commit(checkpoint_path, asdict(progress))

        with (
            nullcontext() if store is None else StopSignals() as signals,
            ExitStack() as background,
        ):
            stream = make_stream(start=drawn, end=_batches_drawn(cfg, total))
            if signals is not None:  # checked where each batch is made, as without prefetch
                stream = _until_stopped(stream, signals)
            if prefetch > 0:
                stream = background.enter_context(Prefetched(stream, prefetch))
            trainer = sl.SAELensTrainer(
                trainer_cfg, sae, stream, save_checkpoint_fn=None if store is None else committed
            )
            if found is not None:
                sl.restore(trainer, found[0], done)
                done = replace(done, resumed_at=(*done.resumed_at, done.samples))
            if store is not None:  # also after the last step, before sae-lens folds in the scale
                final = [total - 1] if done.samples < total else []
                trainer.checkpoint_thresholds = [
                    t for t in trainer.checkpoint_thresholds if t >= done.samples
                ] + final
            try:
                trained = trainer.fit()
            except _StopRequested:
                samples = trainer.n_training_samples
                if samples > done.samples:  # something new to keep
                    trainer.save_checkpoint(checkpoint_name=str(samples))
                raise TrainingStopped(
                    f"Stopped at {samples:,} of {total:,} activations; "
                    + (
                        f"the checkpoint in {store.folder} resumes it: run the same command again."
                        if store.latest() is not None
                        else "nothing was trained yet, so nothing was kept."
                    )
                ) from None
    finally:
        if store is not None:
            store.release()
    seconds = done.seconds + time.perf_counter() - start
    inference = sl.to_inference(trained)
    meta = trained.cfg.metadata
    return TrainedSAE(
        sae=inference,
        config=cfg,
        seconds=seconds,
        tokens_per_s=total / seconds,
        final_l0=meta.l0,
        dead_features=meta.num_dead_features,
        resumed_at=done.resumed_at,
    )


def _batches_drawn(cfg: SAETrainConfig, total: int) -> int:
    """Batches a whole run draws from its stream: the scale estimate's, then a step's each
    until ``total`` activations are trained on."""
    return (NORM_BATCHES if _scale_estimated(cfg) else 0) + total // cfg.batch_size


def _scale_estimated(cfg: SAETrainConfig) -> bool:
    """Whether sae-lens draws ``NORM_BATCHES`` batches to estimate the input scale first."""
    return cfg.normalize in ("expected_average_only_in", "covariance_whitening")
